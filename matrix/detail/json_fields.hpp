#pragma once
// Field readers shared by the matrix tier's body parsers (JSON only: the
// gateway translates a MessagePack body first).

#include <simdjson.h>

#include <string>
#include <vector>

#include "common/status.hpp"

namespace quiver::matrix::json_fields {

using simdjson::dom::element;

inline status bad(const std::string& why) { return make_status(errc::invalid_argument, why); }

inline status unknown(const std::string& key) { return bad("unknown field '" + key + "'"); }

// Parses `json` as an object and hands each field to `f` (which returns a
// status); unknown fields are f's to refuse.
template <class F>
status each_field(const std::string& json, F&& f) {
  simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(json).get(doc); err)
    return make_status(errc::invalid_json,
                       std::string("body is not valid JSON: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (doc.get(obj)) return bad("the body must be a JSON object");
  for (auto [key, value] : obj)
    if (auto st = f(std::string(key), value); !st.ok()) return st;
  return status::success();
}

inline status read_string(element v, const std::string& key, std::string& out) {
  std::string_view s;
  if (v.get(s)) return bad("'" + key + "' must be a string");
  out = std::string(s);
  return status::success();
}

inline status read_strings(element v, const std::string& key, std::vector<std::string>& out,
                           std::size_t max) {
  simdjson::dom::array a;
  if (v.get(a)) return bad("'" + key + "' must be an array of strings");
  if (a.size() > max)
    return make_status(errc::payload_too_large,
                       "'" + key + "' holds more than " + std::to_string(max) + " items");
  for (auto x : a) {
    std::string_view s;
    if (x.get(s)) return bad("'" + key + "' must be an array of strings");
    out.emplace_back(s);
  }
  return status::success();
}

inline status read_count(element v, const std::string& key, std::size_t lo, std::size_t hi,
                         std::size_t& out) {
  std::uint64_t n = 0;
  if (v.get(n) || n < lo || n > hi)
    return bad("'" + key + "' must be an integer from " + std::to_string(lo) + " to " +
               std::to_string(hi));
  out = static_cast<std::size_t>(n);
  return status::success();
}

inline status read_bool(element v, const std::string& key, bool& out) {
  if (v.get(out)) return bad("'" + key + "' must be true or false");
  return status::success();
}

}  // namespace quiver::matrix::json_fields
