#pragma once
// Playbooks: a tenant's record of past queries and what came of their picks,
// kept in an ordinary index of the tenant ("playbook.<name>", cosine, 256
// dimensions, embedder hash-v1: each record is its query's vector, with the
// record as its metadata). A search with use_playbook finds the past queries like its own
// and boosts the ids they picked: a pick that filled the slot rises, one that
// was declined or did not show sinks.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/index_params.hpp"
#include "common/records.hpp"
#include "common/status.hpp"

namespace quiver::matrix {

struct playbook_record {
  std::string query;
  std::vector<std::string> chosen_ids;
  std::string outcome;  // one of playbook_outcomes()
};

struct playbook_limits {
  static constexpr std::uint32_t dimension = 256;
  static constexpr std::size_t max_chosen = 100;
  static constexpr std::size_t max_query_bytes = 4096;
  // Past queries consulted per search, and how alike one must be to count
  // (cosine similarity of the two queries' embeddings).
  static constexpr std::uint32_t neighbours = 10;
  static constexpr double min_similarity = 0.5;
};

// "filled" +1, "accepted" +0.5, "pending" 0, "declined" -0.5, "no_show" -1.
const std::map<std::string, double>& playbook_outcomes();

// {"query", "chosen_ids", "outcome"}: invalid_json or invalid_argument (an
// unknown outcome, no chosen id, an empty query), payload_too_large.
expected<playbook_record> parse_playbook_record(const std::string& json);

// The index that holds playbook `name` and its parameters.
std::string playbook_index(const std::string& name);
index_params playbook_index_params(const std::string& name);

// The stored metadata of a record: {"query", "chosen_ids", "outcome", "recorded_at"}.
std::string playbook_metadata(const playbook_record& r, std::int64_t unix_ms);

// Each picked id's boost from the past queries a search found (their hits in
// the playbook index, with metadata): sum over past queries at least
// min_similarity alike of similarity x outcome weight, clamped to [-1, 1] and
// rounded to four decimals.
// Hits without a readable record are skipped.
std::map<std::string, double> playbook_boosts(const std::vector<search_hit>& past_queries);

}  // namespace quiver::matrix
