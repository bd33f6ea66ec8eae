#include "matrix/matrix_search.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <type_traits>

#include "common/body_codec.hpp"
#include "common/detail/json_writer.hpp"
#include "common/index_params.hpp"
#include "matrix/detail/json_fields.hpp"

namespace quiver::matrix {

namespace {

using json_fields::bad;

// Appends a value's fields to a key, length-prefixed so that no two different
// values write the same bytes. Walks records through their inspect().
struct key_writer {
  using result_type = void;
  std::string out;

  void put(const std::string& s) {
    out += std::to_string(s.size());
    out += ':';
    out += s;
  }
  template <class T>
  void put(const std::vector<T>& v) {
    out += '[' + std::to_string(v.size()) + ']';
    for (const auto& x : v) put(x);
  }
  template <class T>
  void put(const T& x) {
    if constexpr (std::is_enum_v<T>) {
      put(static_cast<std::underlying_type_t<T>>(x));
    } else if constexpr (std::is_arithmetic_v<T>) {
      char bytes[sizeof(T)];
      std::memcpy(bytes, &x, sizeof(T));
      out.append(bytes, sizeof(T));
    } else {
      auto copy = x;  // inspect() takes a mutable reference
      inspect(*this, copy);
    }
  }
  template <class... Ts>
  void operator()(const Ts&... xs) {
    (put(xs), ...);
  }
};

}  // namespace

expected<matrix_search_request> parse_matrix_search(const std::string& json) {
  matrix_search_request r;
  bool has_text = false, has_vector = false, has_indexes = false;
  // The search options are the per-index search's own: its parser reads them
  // from an object of the remaining fields.
  detail::json_writer rest;
  rest.begin_object();
  auto st = json_fields::each_field(json, [&](const std::string& key, json_fields::element v) {
    if (key == "indexes") {
      has_indexes = true;
      return json_fields::read_strings(v, key, r.indexes, matrix_limits::max_indexes);
    }
    if (key == "text") {
      has_text = true;
      return json_fields::read_string(v, key, r.text);
    }
    if (key == "use_playbook") return json_fields::read_bool(v, key, r.use_playbook);
    if (key == "playbook") return json_fields::read_string(v, key, r.playbook);
    if (key == "include_vectors" || key == "allow_partial")
      return bad("'" + key + "' is not supported by a matrix search");
    if (key == "vector") has_vector = true;
    rest.key(key);
    rest.raw(simdjson::minify(v));
    return status::success();
  });
  if (!st.ok()) return st;
  if (!has_indexes) return bad("missing field 'indexes'");
  if (r.indexes.empty()) return bad("'indexes' must name at least one index");
  std::set<std::string> seen;
  for (const auto& name : r.indexes) {
    if (auto v = validate_index_name(name); !v.ok()) return bad("'indexes': " + v.message);
    if (!seen.insert(name).second) return bad("'indexes' names '" + name + "' twice");
  }
  if (has_text == has_vector) return bad("give 'text' or 'vector', not both or neither");
  if (has_text) {
    if (r.text.size() > matrix_limits::max_text_bytes)
      return make_status(errc::payload_too_large, "'text' is longer than 64 KiB");
    rest.key("vector");
    rest.raw("[1]");  // the text's vectors are made per index
  }
  if (auto v = validate_index_name(r.playbook); !v.ok()) return bad("'playbook': " + v.message);
  if (r.use_playbook && !has_text) return bad("'use_playbook' needs a 'text' query");
  rest.end_object();
  auto search = parse_search(body_format::json, rest.take());
  if (!search) return std::move(search).error();
  r.options = std::move(search->options);
  if (has_vector) r.vector = std::move(search->vector);
  return r;
}

std::string cache_key(const tenant_id& tenant, const matrix_search_request& r) {
  key_writer w;
  auto exclude = r.options.exclude_ids;
  std::sort(exclude.begin(), exclude.end());
  exclude.erase(std::unique(exclude.begin(), exclude.end()), exclude.end());
  auto filter = r.options.filter;
  w(tenant.value, r.indexes, r.text, r.vector, r.options.k, r.options.ef, exclude, filter,
    r.options.include_metadata, r.options.eventual, r.use_playbook);
  if (r.use_playbook) w.put(r.playbook);
  return std::move(w.out);
}

std::string data_version(const std::vector<index_version>& indexes, const index_version* playbook) {
  key_writer w;
  for (const auto& v : indexes) w(v.incarnation, v.applied);
  if (playbook) {
    w(playbook->incarnation, playbook->applied);
  } else {
    w.put(std::string("no playbook"));
  }
  return std::move(w.out);
}

std::vector<ranked_hit> merge_hits(std::vector<index_hits> per_index, std::uint32_t k,
                                   const std::map<std::string, double>& boosts) {
  struct candidate {
    double rank;
    std::size_t index;
    ranked_hit hit;
  };
  std::vector<candidate> all;
  double lo = 0, hi = 0;
  for (std::size_t i = 0; i < per_index.size(); ++i)
    for (auto& h : per_index[i].hits) {
      double d = h.distance;
      if (all.empty()) lo = hi = d;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
      all.push_back({d, i, {per_index[i].index, std::move(h), 0}});
    }
  // A full boost moves a hit by a little more than the candidates' whole spread
  // of distances (ahead of every unboosted one), in any metric's units; a
  // partial one, that share.
  double spread = std::max(hi - lo, 1e-6);
  for (auto& c : all) {
    auto b = boosts.find(c.hit.hit.id);
    if (b == boosts.end()) continue;
    c.hit.boost = b->second;
    c.rank -= b->second * 1.05 * spread;
  }
  std::sort(all.begin(), all.end(), [](const candidate& a, const candidate& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.index != b.index) return a.index < b.index;
    return a.hit.hit.id < b.hit.hit.id;
  });
  std::vector<ranked_hit> out;
  for (std::size_t i = 0; i < all.size() && i < k; ++i) out.push_back(std::move(all[i].hit));
  return out;
}

std::string render_results(const std::vector<ranked_hit>& hits, bool include_metadata) {
  detail::json_writer w;
  w.begin_array();
  for (const auto& h : hits) {
    w.begin_object();
    w.key("id");
    w.string(h.hit.id);
    w.key("index");
    w.string(h.index);
    w.key("distance");
    w.number(h.hit.distance);
    if (include_metadata) {
      w.key("metadata");
      if (h.hit.metadata.empty()) {
        w.null();
      } else {
        w.raw(h.hit.metadata);
      }
    }
    if (h.boost != 0) {
      w.key("boost");
      w.number(static_cast<float>(h.boost));
    }
    w.end_object();
  }
  w.end_array();
  return w.take();
}

std::string render_answer(const std::string& results, bool cached, bool playbook_skipped) {
  std::string out = "{\"results\":";
  out += results;
  out += cached ? ",\"cached\":true" : ",\"cached\":false";
  if (playbook_skipped) out += ",\"playbook_skipped\":true";
  out += '}';
  return out;
}

}  // namespace quiver::matrix
