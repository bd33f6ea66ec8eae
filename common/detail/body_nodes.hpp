#pragma once

// The two request body formats seen through one interface, so that each parser is
// written once (body_codec.cpp, filter_codec.cpp). Only for those files: it pulls
// in simdjson and msgpack-cxx.

#include <simdjson.h>
#include <msgpack.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/filter.hpp"
#include "common/status.hpp"

namespace quiver::detail {

enum class kind { null, boolean, integer, floating, string, array, object, binary, other };

inline status bad(std::string message) {
  return make_status(errc::invalid_argument, std::move(message));
}

// -- format adapters: the parsers below are written once over these two views -----

struct json_node {
  simdjson::dom::element e;

  kind type() const {
    switch (e.type()) {
      case simdjson::dom::element_type::ARRAY:
        return kind::array;
      case simdjson::dom::element_type::OBJECT:
        return kind::object;
      case simdjson::dom::element_type::INT64:
      case simdjson::dom::element_type::UINT64:
        return kind::integer;
      case simdjson::dom::element_type::DOUBLE:
        return kind::floating;
      case simdjson::dom::element_type::STRING:
        return kind::string;
      case simdjson::dom::element_type::BOOL:
        return kind::boolean;
      case simdjson::dom::element_type::NULL_VALUE:
        return kind::null;
    }
    return kind::other;
  }
  bool as_bool() const { return bool(e.get_bool().value_unsafe()); }
  // REQUIRES: type() == integer. Values past int64 saturate (they fail range checks).
  std::int64_t as_int() const {
    if (e.type() == simdjson::dom::element_type::UINT64)
      return std::numeric_limits<std::int64_t>::max();
    return e.get_int64().value_unsafe();
  }
  double as_double() const { return e.get_double().value_unsafe(); }
  std::string_view as_string() const { return e.get_string().value_unsafe(); }
  // Copies of the array/object views: value_unsafe() refers into a temporary.
  std::size_t size() const {
    simdjson::dom::array a = e.get_array().value_unsafe();
    return a.size();
  }
  template <class F>
  void each_element(F&& f) const {
    simdjson::dom::array a = e.get_array().value_unsafe();
    for (auto child : a) f(json_node{child});
  }
  template <class F>
  status each_field(F&& f) const {
    simdjson::dom::object o = e.get_object().value_unsafe();
    for (auto field : o)
      if (auto st = f(field.key, json_node{field.value}); !st.ok()) return st;
    return status::success();
  }
  std::string_view binary() const { return {}; }
  expected<std::string> object_text() const { return simdjson::minify(e); }
};

struct msgpack_node {
  const msgpack::object* o;

  kind type() const {
    switch (o->type) {
      case msgpack::type::NIL:
        return kind::null;
      case msgpack::type::BOOLEAN:
        return kind::boolean;
      case msgpack::type::POSITIVE_INTEGER:
      case msgpack::type::NEGATIVE_INTEGER:
        return kind::integer;
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64:
        return kind::floating;
      case msgpack::type::STR:
        return kind::string;
      case msgpack::type::ARRAY:
        return kind::array;
      case msgpack::type::MAP:
        return kind::object;
      case msgpack::type::BIN:
        return kind::binary;
      default:
        return kind::other;
    }
  }
  bool as_bool() const { return o->via.boolean; }
  std::int64_t as_int() const {
    if (o->type == msgpack::type::NEGATIVE_INTEGER) return o->via.i64;
    return o->via.u64 > std::uint64_t(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : std::int64_t(o->via.u64);
  }
  double as_double() const {
    if (o->type == msgpack::type::POSITIVE_INTEGER) return double(o->via.u64);
    if (o->type == msgpack::type::NEGATIVE_INTEGER) return double(o->via.i64);
    return o->via.f64;
  }
  std::string_view as_string() const { return {o->via.str.ptr, o->via.str.size}; }
  std::size_t size() const { return o->via.array.size; }
  template <class F>
  void each_element(F&& f) const {
    for (std::uint32_t i = 0; i < o->via.array.size; ++i) f(msgpack_node{&o->via.array.ptr[i]});
  }
  template <class F>
  status each_field(F&& f) const {
    for (std::uint32_t i = 0; i < o->via.map.size; ++i) {
      const auto& kv = o->via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) return bad("map keys must be strings");
      std::string_view key{kv.key.via.str.ptr, kv.key.via.str.size};
      if (auto st = f(key, msgpack_node{&kv.val}); !st.ok()) return st;
    }
    return status::success();
  }
  std::string_view binary() const { return {o->via.bin.ptr, o->via.bin.size}; }
  expected<std::string> object_text() const;  // in body_codec.cpp
};

// A "filter" value (API.md, "Filters"); errors name the offending path, e.g.
// "filter.must[2].range". In filter_codec.cpp.
expected<metadata_filter> read_filter(const json_node& n);
expected<metadata_filter> read_filter(const msgpack_node& n);

}  // namespace quiver::detail
