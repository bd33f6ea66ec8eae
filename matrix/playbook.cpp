#include "matrix/playbook.hpp"

#include <algorithm>
#include <cmath>

#include "common/detail/json_writer.hpp"
#include "matrix/detail/json_fields.hpp"

namespace quiver::matrix {

using json_fields::bad;

const std::map<std::string, double>& playbook_outcomes() {
  static const std::map<std::string, double> weights{
      {"filled", 1.0}, {"accepted", 0.5}, {"pending", 0.0}, {"declined", -0.5}, {"no_show", -1.0}};
  return weights;
}

expected<playbook_record> parse_playbook_record(const std::string& json) {
  playbook_record r;
  bool query = false, chosen = false, outcome = false;
  auto st = json_fields::each_field(json, [&](const std::string& key, json_fields::element v) {
    if (key == "query") {
      query = true;
      return json_fields::read_string(v, key, r.query);
    }
    if (key == "chosen_ids") {
      chosen = true;
      return json_fields::read_strings(v, key, r.chosen_ids, playbook_limits::max_chosen);
    }
    if (key == "outcome") {
      outcome = true;
      return json_fields::read_string(v, key, r.outcome);
    }
    return json_fields::unknown(key);
  });
  if (!st.ok()) return st;
  if (!query) return bad("missing field 'query'");
  if (!chosen) return bad("missing field 'chosen_ids'");
  if (!outcome) return bad("missing field 'outcome'");
  if (r.query.size() > playbook_limits::max_query_bytes)
    return make_status(errc::payload_too_large, "'query' is longer than 4096 bytes");
  if (r.chosen_ids.empty()) return bad("'chosen_ids' must name at least one id");
  for (const auto& id : r.chosen_ids)
    if (id.empty()) return bad("'chosen_ids' holds an empty id");
  if (!playbook_outcomes().count(r.outcome)) {
    std::string names;
    for (const auto& [name, w] : playbook_outcomes()) names += (names.empty() ? "" : ", ") + name;
    return bad("'outcome' must be one of: " + names);
  }
  return r;
}

std::string playbook_index(const std::string& name) { return "playbook." + name; }

index_params playbook_index_params(const std::string& name) {
  index_params p;
  p.name = playbook_index(name);
  p.dimension = playbook_limits::dimension;
  p.distance = distance_kind::cosine;
  p.embedder = embedder_limits::hash_v1;
  return p;
}

std::string playbook_metadata(const playbook_record& r, std::int64_t unix_ms) {
  detail::json_writer w;
  w.begin_object();
  w.key("query");
  w.string(r.query);
  w.key("chosen_ids");
  w.begin_array();
  for (const auto& id : r.chosen_ids) w.string(id);
  w.end_array();
  w.key("outcome");
  w.string(r.outcome);
  w.key("recorded_at");
  w.integer(unix_ms);
  w.end_object();
  return w.take();
}

std::map<std::string, double> playbook_boosts(const std::vector<search_hit>& past_queries) {
  std::map<std::string, double> boosts;
  simdjson::dom::parser parser;
  for (const auto& h : past_queries) {
    double similarity = 1.0 - h.distance;
    if (similarity < playbook_limits::min_similarity) continue;
    simdjson::dom::element doc;
    std::string_view outcome;
    simdjson::dom::array chosen;
    if (parser.parse(h.metadata).get(doc) || doc["outcome"].get(outcome) ||
        doc["chosen_ids"].get(chosen))
      continue;
    auto weight = playbook_outcomes().find(std::string(outcome));
    if (weight == playbook_outcomes().end() || weight->second == 0) continue;
    for (auto x : chosen) {
      std::string_view id;
      if (!x.get(id)) boosts[std::string(id)] += similarity * weight->second;
    }
  }
  // Four decimals: float rounding of a distance does not make 1 read 0.99999994.
  for (auto& [id, b] : boosts) b = std::round(std::clamp(b, -1.0, 1.0) * 1e4) / 1e4;
  return boosts;
}

}  // namespace quiver::matrix
