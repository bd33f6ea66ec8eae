#include "tools/load/wire.hpp"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <set>

namespace quiver::load {

void append_floats(std::string& out, const float* v, std::size_t n) {
  char buf[32];
  out += '[';
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    auto res = std::to_chars(buf, buf + sizeof buf, v[i]);
    out.append(buf, res.ptr);
  }
  out += ']';
}

void append_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

std::string search_body(const float* q, std::size_t dim, std::size_t k, int ef,
                        const std::vector<std::string>& exclude, bool metadata) {
  std::string v;
  v.reserve(dim * 11 + 2);
  append_floats(v, q, dim);
  return search_body(v, k, ef, exclude, metadata);
}

std::string search_body(std::string_view vector_json, std::size_t k, int ef,
                        const std::vector<std::string>& exclude, bool metadata) {
  std::string b = "{\"vector\":";
  b.reserve(vector_json.size() + 128);
  b += vector_json;
  b += ",\"k\":" + std::to_string(k);
  if (ef > 0) b += ",\"ef\":" + std::to_string(ef);
  b += metadata ? ",\"include_metadata\":true" : ",\"include_metadata\":false";
  if (!exclude.empty()) {
    b += ",\"exclude_ids\":[";
    for (std::size_t i = 0; i < exclude.size(); ++i) {
      if (i) b += ',';
      append_string(b, exclude[i]);
    }
    b += ']';
  }
  return b + "}";
}

std::string put_body(const std::vector<float>& v, const std::string& metadata) {
  std::string b = "{\"vector\":";
  append_floats(b, v.data(), v.size());
  return b + ",\"metadata\":" + metadata + "}";
}

double cosine_distance(const float* a, const float* b, std::size_t dim) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return 1.0 - dot / std::sqrt(na * nb);
}

bool same_vector(const float* got, const float* want, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (std::abs(got[i] - want[i]) > 1e-7f + 4e-7f * std::abs(want[i])) return false;
  return true;
}

std::string excerpt(const std::string& s) { return s.size() > 160 ? s.substr(0, 160) + "..." : s; }

std::string parse_hits(simdjson::dom::parser& p, const std::string& body, std::size_t k,
                       std::vector<hit>& out) {
  out.clear();
  try {
    auto doc = p.parse(body);
    for (auto r : doc["results"].get_array()) {
      hit h;
      h.id = std::string(std::string_view(r["id"]));
      h.distance = double(r["distance"]);
      auto meta = r["metadata"];
      if (!meta.error() && meta.is_object()) {
        auto mid = meta["id"];
        if (!mid.error() && mid.is_string()) h.meta_id = std::string(std::string_view(mid));
      }
      out.push_back(std::move(h));
    }
  } catch (const simdjson::simdjson_error& e) {
    return std::string("malformed search answer (") + e.what() + "): " + excerpt(body);
  }
  if (out.size() > k) return "more than k results";
  std::set<std::string> seen;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i && out[i].distance < out[i - 1].distance - 1e-7) return "distances not ascending";
    if (!seen.insert(out[i].id).second) return "duplicate id " + out[i].id + " in results";
  }
  return {};
}

}  // namespace quiver::load
