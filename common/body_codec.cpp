#include "common/body_codec.hpp"

#include <simdjson.h>
#include <msgpack.hpp>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/detail/body_nodes.hpp"
#include "common/detail/json_writer.hpp"
#include "common/detail/msgpack_limits.hpp"
#include "common/vector_validation.hpp"

namespace quiver {

namespace {

using detail::bad;
using detail::json_node;
using detail::kind;
using detail::msgpack_node;

// Writes a MessagePack value as JSON; fails on what JSON cannot hold.
status write_json(const msgpack::object& o, detail::json_writer& w) {
  switch (o.type) {
    case msgpack::type::NIL:
      w.null();
      return status::success();
    case msgpack::type::BOOLEAN:
      w.boolean(o.via.boolean);
      return status::success();
    case msgpack::type::POSITIVE_INTEGER:
      w.uinteger(o.via.u64);
      return status::success();
    case msgpack::type::NEGATIVE_INTEGER:
      w.integer(o.via.i64);
      return status::success();
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      if (!std::isfinite(o.via.f64)) return bad("metadata numbers must be finite");
      w.number(o.via.f64);
      return status::success();
    case msgpack::type::STR:
      w.string({o.via.str.ptr, o.via.str.size});
      return status::success();
    case msgpack::type::ARRAY:
      w.begin_array();
      for (std::uint32_t i = 0; i < o.via.array.size; ++i)
        if (auto st = write_json(o.via.array.ptr[i], w); !st.ok()) return st;
      w.end_array();
      return status::success();
    case msgpack::type::MAP:
      w.begin_object();
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) return bad("metadata keys must be strings");
        w.key({kv.key.via.str.ptr, kv.key.via.str.size});
        if (auto st = write_json(kv.val, w); !st.ok()) return st;
      }
      w.end_object();
      return status::success();
    default:
      return bad("metadata holds a value JSON cannot represent (bin or ext)");
  }
}

}  // namespace

expected<std::string> detail::msgpack_node::object_text() const {
  detail::json_writer w;
  if (auto st = write_json(*o, w); !st.ok()) return st;
  return w.take();
}

namespace {

// -- shared field readers ------------------------------------------------------------

template <class N>
status expect_object(const N& n, std::string_view what) {
  if (n.type() != kind::object) return bad(std::string(what) + " must be an object");
  return status::success();
}

template <class N>
status read_string(const N& n, std::string_view field, std::string& out) {
  if (n.type() != kind::string) return bad("'" + std::string(field) + "' must be a string");
  out = std::string(n.as_string());
  return status::success();
}

template <class N>
status read_bool(const N& n, std::string_view field, bool& out) {
  if (n.type() != kind::boolean) return bad("'" + std::string(field) + "' must be a boolean");
  out = n.as_bool();
  return status::success();
}

template <class N>
status read_uint(const N& n, std::string_view field, std::int64_t lo, std::int64_t hi,
                 std::uint32_t& out) {
  if (n.type() != kind::integer || n.as_int() < lo || n.as_int() > hi)
    return bad("'" + std::string(field) + "' must be an integer between " + std::to_string(lo) +
               " and " + std::to_string(hi));
  out = static_cast<std::uint32_t>(n.as_int());
  return status::success();
}

// Reads a vector; a component past float's range becomes +inf, which the
// validator then reports as non-finite with its position.
template <class N>
status read_vector(const N& n, std::string_view field, std::vector<float>& out) {
  if (n.type() == kind::binary) {
    auto bytes = n.binary();
    if (bytes.size() % sizeof(float) != 0)
      return bad("'" + std::string(field) + "' bin length must be a multiple of 4");
    out.resize(bytes.size() / sizeof(float));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());  // little-endian hosts
    return status::success();
  }
  if (n.type() != kind::array)
    return bad("'" + std::string(field) + "' must be an array of numbers");
  out.clear();
  out.reserve(n.size());
  bool numeric = true;
  n.each_element([&](const N& x) {
    auto t = x.type();
    if (t != kind::integer && t != kind::floating) {
      numeric = false;
      return;
    }
    double d = x.as_double();
    out.push_back(std::fabs(d) > FLT_MAX ? std::numeric_limits<float>::infinity()
                                         : static_cast<float>(d));
  });
  if (!numeric) return bad("'" + std::string(field) + "' must be an array of numbers");
  return status::success();
}

template <class N>
status read_metadata(const N& n, metadata_json& out) {
  if (n.type() == kind::null) {
    out.clear();  // null: same as absent
    return status::success();
  }
  if (n.type() != kind::object) return bad("'metadata' must be an object");
  auto text = n.object_text();
  if (!text) return text.error();
  out = std::move(*text);
  return status::success();
}

template <class N>
status read_string_list(const N& n, std::string_view field, std::size_t max_items,
                        std::vector<std::string>& out) {
  if (n.type() != kind::array)
    return bad("'" + std::string(field) + "' must be an array of strings");
  if (n.size() > max_items)
    return make_status(errc::payload_too_large, "'" + std::string(field) + "' holds more than " +
                                                    std::to_string(max_items) + " items");
  bool strings = true;
  out.reserve(n.size());
  n.each_element([&](const N& x) {
    if (x.type() != kind::string) {
      strings = false;
      return;
    }
    out.emplace_back(x.as_string());
  });
  if (!strings) return bad("'" + std::string(field) + "' must be an array of strings");
  return status::success();
}

status unknown_field(std::string_view key) {
  return bad("unknown field '" + std::string(key) + "'");
}

status missing_field(std::string_view key) {
  return bad("missing field '" + std::string(key) + "'");
}

// -- the parsers, once for both formats ----------------------------------------------

template <class N>
expected<index_params> create_index_from(const N& root) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  index_params p;
  bool has_name = false, has_dimension = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key == "name") {
      has_name = true;
      return read_string(v, key, p.name);
    }
    if (key == "dimension") {
      has_dimension = true;
      return read_uint(v, key, 1, index_limits::max_dimension, p.dimension);
    }
    if (key == "distance") {
      std::string name;
      if (auto s = read_string(v, key, name); !s.ok()) return s;
      auto d = parse_distance(name);
      if (!d) return d.error();
      p.distance = *d;
      return status::success();
    }
    if (key == "m") return read_uint(v, key, index_limits::min_m, index_limits::max_m, p.m);
    if (key == "ef_construction")
      return read_uint(v, key, 1, index_limits::max_ef, p.ef_construction);
    if (key == "ef_search") return read_uint(v, key, 1, index_limits::max_ef, p.ef_search);
    if (key == "shards") return read_uint(v, key, 1, index_limits::max_shards, p.shards);
    if (key == "replicas") return read_uint(v, key, 1, index_limits::max_replicas, p.replicas);
    if (key == "embedder") return read_string(v, key, p.embedder);
    return unknown_field(key);
  });
  if (!st.ok()) return st;
  if (!has_name) return missing_field("name");
  if (!has_dimension) return missing_field("dimension");
  if (auto v = validate_params(p); !v.ok()) return v;
  return p;
}

// A "vector", or (where `text` is given) a "text" for the index's embedder.
template <class N>
status vector_or_text(std::string_view key, const N& v, std::vector<float>& vec, std::string* text,
                      bool& has_vector, bool& has_text) {
  if (key == "vector") {
    has_vector = true;
    return read_vector(v, key, vec);
  }
  has_text = true;
  if (auto st = read_string(v, key, *text); !st.ok()) return st;
  if (text->empty()) return bad("'text' is empty");
  if (text->size() > request_limits::max_text_bytes)
    return make_status(errc::payload_too_large, "'text' is longer than 64 KiB");
  return status::success();
}

status vector_or_text_given(bool has_vector, bool has_text, bool text_allowed) {
  if (has_vector && has_text) return bad("give 'vector' or 'text', not both");
  if (!has_vector && !has_text) return missing_field(text_allowed ? "vector' or 'text" : "vector");
  return status::success();
}

template <class N>
status item_fields(const N& n, std::string* id, std::vector<float>& vec, metadata_json& meta,
                   std::string* text) {
  if (auto st = expect_object(n, "an item"); !st.ok()) return st;
  bool has_id = id == nullptr, has_vector = false, has_text = false;
  auto st = n.each_field([&](std::string_view key, const N& v) -> status {
    if (key == "id" && id) {
      has_id = true;
      return read_string(v, key, *id);
    }
    if (key == "vector" || (key == "text" && text))
      return vector_or_text(key, v, vec, text, has_vector, has_text);
    if (key == "metadata") return read_metadata(v, meta);
    return unknown_field(key);
  });
  if (!st.ok()) return st;
  if (!has_id) return missing_field("id");
  return vector_or_text_given(has_vector, has_text, text != nullptr);
}

template <class N>
expected<upsert_one_body> upsert_one_from(const N& root) {
  upsert_one_body out;
  if (auto st = item_fields(root, nullptr, out.vector, out.metadata, &out.text); !st.ok())
    return st;
  return out;
}

status with_index(status st, std::size_t index) {
  st.details.emplace_back("index", static_cast<std::int64_t>(index));
  return st;
}

template <class N>
expected<std::vector<upsert_item>> upsert_batch_from(const N& root, std::size_t max_items,
                                                     item_texts* texts) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  std::vector<upsert_item> items;
  bool has_items = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key != "items") return unknown_field(key);
    has_items = true;
    if (v.type() != kind::array) return bad("'items' must be an array");
    if (v.size() > max_items)
      return make_status(errc::payload_too_large,
                         "batch holds more than " + std::to_string(max_items) + " items");
    items.reserve(v.size());
    status first;
    v.each_element([&](const N& x) {
      if (!first.ok()) return;
      upsert_item it;
      std::string text;
      auto s = item_fields(x, &it.id, it.vector, it.metadata, texts ? &text : nullptr);
      if (!s.ok()) first = with_index(std::move(s), items.size());
      if (!text.empty()) texts->emplace_back(items.size(), std::move(text));
      items.push_back(std::move(it));
    });
    return first;
  });
  if (!st.ok()) return st;
  if (!has_items) return missing_field("items");
  return items;
}

template <class N>
status read_filter_field(const N& v, metadata_filter& out) {
  auto f = detail::read_filter(v);
  if (!f) return f.error();
  out = std::move(*f);
  return status::success();
}

template <class N>
expected<delete_body> delete_from(const N& root, std::size_t max_items) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  delete_body out;
  bool has_ids = false, has_filter = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key == "ids") {
      has_ids = true;
      return read_string_list(v, key, max_items, out.ids);
    }
    if (key == "filter") {
      has_filter = true;
      return read_filter_field(v, out.filter);
    }
    return unknown_field(key);
  });
  if (!st.ok()) return st;
  if (has_ids && has_filter) return bad("give 'ids' or 'filter', not both");
  if (!has_ids && !has_filter) return missing_field("ids' or 'filter");
  // {} matches everything: a delete of the whole index must say so.
  if (has_filter && out.filter.empty())
    return bad("'filter' matches every vector; drop the index to delete them all");
  out.by_filter = has_filter;
  return out;
}

template <class N>
expected<field_type> field_index_from(const N& root) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  field_type out = field_type::keyword;
  bool has_type = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key != "type") return unknown_field(key);
    has_type = true;
    std::string name;
    if (auto s = read_string(v, key, name); !s.ok()) return s;
    if (!parse_field_type(name, out))
      return bad("'type' must be \"keyword\", \"integer\", \"float\" or \"bool\"");
    return status::success();
  });
  if (!st.ok()) return st;
  if (!has_type) return missing_field("type");
  return out;
}

template <class N>
expected<metadata_filter> count_from(const N& root) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  metadata_filter out;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key == "filter") return read_filter_field(v, out);
    return unknown_field(key);
  });
  if (!st.ok()) return st;
  return out;
}

template <class N>
expected<search_body> search_from(const N& root) {
  if (auto st = expect_object(root, "a search body"); !st.ok()) return st;
  search_body out;
  bool has_vector = false, has_text = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key == "vector" || key == "text")
      return vector_or_text(key, v, out.vector, &out.text, has_vector, has_text);
    if (key == "k") return read_uint(v, key, 1, request_limits::max_k, out.options.k);
    if (key == "ef") return read_uint(v, key, 1, index_limits::max_ef, out.options.ef);
    if (key == "exclude_ids")
      return read_string_list(v, key, request_limits::max_exclude_ids, out.options.exclude_ids);
    if (key == "filter") return read_filter_field(v, out.options.filter);
    if (key == "include_metadata") return read_bool(v, key, out.options.include_metadata);
    if (key == "include_vectors") return read_bool(v, key, out.options.include_vectors);
    if (key == "consistency") {
      std::string c;
      if (auto s = read_string(v, key, c); !s.ok()) return s;
      if (c != "strong" && c != "eventual")
        return bad("'consistency' must be \"strong\" or \"eventual\"");
      out.options.eventual = c == "eventual";
      return status::success();
    }
    if (key == "allow_partial") return read_bool(v, key, out.options.allow_partial);
    return unknown_field(key);
  });
  if (!st.ok()) return st;
  if (auto s = vector_or_text_given(has_vector, has_text, true); !s.ok()) return s;
  return out;
}

template <class N>
expected<std::vector<search_body>> search_batch_from(const N& root, std::size_t max_items) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  std::vector<search_body> queries;
  bool has_queries = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key != "queries") return unknown_field(key);
    has_queries = true;
    if (v.type() != kind::array) return bad("'queries' must be an array");
    if (v.size() > max_items)
      return make_status(errc::payload_too_large,
                         "batch holds more than " + std::to_string(max_items) + " queries");
    status first;
    v.each_element([&](const N& x) {
      if (!first.ok()) return;
      auto q = search_from(x);
      if (!q) {
        first = with_index(std::move(q).error(), queries.size());
        return;
      }
      queries.push_back(std::move(*q));
    });
    return first;
  });
  if (!st.ok()) return st;
  if (!has_queries) return missing_field("queries");
  return queries;
}

template <class N>
expected<merge_body> merge_from(const N& root) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  merge_body out;
  bool has_source = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key == "source") {
      has_source = true;
      return read_string(v, key, out.source);
    }
    if (key == "delete_source") return read_bool(v, key, out.delete_source);
    return unknown_field(key);
  });
  if (!st.ok()) return st;
  if (!has_source) return missing_field("source");
  return out;
}

template <class N>
status quotas_from(const N& n, tenant_quotas& q) {
  if (auto st = expect_object(n, "'quotas'"); !st.ok()) return st;
  return n.each_field([&](std::string_view key, const N& v) -> status {
    std::uint64_t* field = key == "max_indexes"          ? &q.max_indexes
                           : key == "max_vectors"        ? &q.max_vectors
                           : key == "max_bytes"          ? &q.max_bytes
                           : key == "max_requests_per_s" ? &q.max_requests_per_s
                                                         : nullptr;
    if (!field) return unknown_field(key);
    // 0 (or null) means unlimited.
    if (v.type() == kind::null) {
      *field = 0;
      return status::success();
    }
    if (v.type() != kind::integer || v.as_int() < 0)
      return bad("'" + std::string(key) + "' must be a non-negative integer (0: unlimited)");
    *field = static_cast<std::uint64_t>(v.as_int());
    return status::success();
  });
}

template <class N>
expected<tenant_create_body> create_tenant_from(const N& root) {
  if (auto st = expect_object(root, "body"); !st.ok()) return st;
  tenant_create_body out;
  bool has_name = false;
  auto st = root.each_field([&](std::string_view key, const N& v) -> status {
    if (key == "name") {
      has_name = true;
      return read_string(v, key, out.name);
    }
    if (key == "quotas") return quotas_from(v, out.quotas);
    return unknown_field(key);
  });
  if (!st.ok()) return st;
  if (!has_name) return missing_field("name");
  if (auto v = validate_index_name(out.name); !v.ok()) return bad("tenant name: " + v.message);
  return out;
}

// Parses the body in its format and hands the root to `parse`.
template <class R, class Parse>
expected<R> decode(body_format f, const std::string& body, Parse&& parse) {
  if (f == body_format::json) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    bool padded = body.capacity() >= body.size() + simdjson::SIMDJSON_PADDING;
    auto err = parser.parse(body.data(), body.size(), !padded).get(root);
    if (err)
      return make_status(errc::invalid_json,
                         std::string("body is not valid JSON: ") + simdjson::error_message(err));
    return parse(json_node{root});
  }
  msgpack::object_handle handle;
  try {
    std::size_t offset = 0;
    handle = msgpack::unpack(body.data(), body.size(), offset, nullptr, nullptr,
                             detail::msgpack_limits(body.size()));
    if (offset != body.size())
      return make_status(errc::invalid_json, "body has bytes after the MessagePack value");
  } catch (const std::exception& e) {
    return make_status(errc::invalid_json,
                       std::string("body is not valid MessagePack: ") + e.what());
  }
  return parse(msgpack_node{&handle.get()});
}

}  // namespace

expected<index_params> parse_create_index(body_format f, const std::string& body) {
  return decode<index_params>(f, body, [](const auto& root) { return create_index_from(root); });
}

expected<upsert_one_body> parse_upsert_one(body_format f, const std::string& body) {
  return decode<upsert_one_body>(f, body, [](const auto& root) { return upsert_one_from(root); });
}

expected<std::vector<upsert_item>> parse_upsert_batch(body_format f, const std::string& body,
                                                      std::size_t max_items, item_texts* texts) {
  return decode<std::vector<upsert_item>>(
      f, body, [&](const auto& root) { return upsert_batch_from(root, max_items, texts); });
}

expected<delete_body> parse_delete(body_format f, const std::string& body, std::size_t max_items) {
  return decode<delete_body>(f, body,
                             [&](const auto& root) { return delete_from(root, max_items); });
}

expected<field_type> parse_field_index(body_format f, const std::string& body) {
  return decode<field_type>(f, body, [](const auto& root) { return field_index_from(root); });
}

expected<metadata_filter> parse_count(body_format f, const std::string& body) {
  // No body counts everything.
  if (body.empty()) return metadata_filter{};
  return decode<metadata_filter>(f, body, [](const auto& root) { return count_from(root); });
}

expected<search_body> parse_search(body_format f, const std::string& body) {
  return decode<search_body>(f, body, [](const auto& root) { return search_from(root); });
}

expected<std::vector<search_body>> parse_search_batch(body_format f, const std::string& body,
                                                      std::size_t max_items) {
  return decode<std::vector<search_body>>(
      f, body, [&](const auto& root) { return search_batch_from(root, max_items); });
}

expected<merge_body> parse_merge(body_format f, const std::string& body) {
  return decode<merge_body>(f, body, [](const auto& root) { return merge_from(root); });
}

expected<tenant_create_body> parse_create_tenant(body_format f, const std::string& body) {
  return decode<tenant_create_body>(f, body,
                                    [](const auto& root) { return create_tenant_from(root); });
}

expected<tenant_quotas> parse_quotas_json(const std::string& json) {
  return decode<tenant_quotas>(body_format::json, json,
                               [](const auto& root) -> expected<tenant_quotas> {
                                 tenant_quotas q;
                                 if (auto st = quotas_from(root, q); !st.ok()) return st;
                                 return q;
                               });
}

expected<std::string> msgpack_to_json(std::string_view bytes) {
  try {
    std::size_t offset = 0;
    auto handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr,
                                  detail::msgpack_limits(bytes.size()));
    return msgpack_node{&handle.get()}.object_text();
  } catch (const std::exception& e) {
    return make_status(errc::invalid_json, std::string("not valid MessagePack: ") + e.what());
  }
}

}  // namespace quiver
