#pragma once
// POST /v1/matrix/search: one query over several of a tenant's indexes (the
// "matrix" of corpora), merged by distance, optionally re-ranked by a playbook
// of past choices, and cached. The plain parts: the body, the cache key and
// version, the merge and the rendered answer.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/records.hpp"
#include "common/status.hpp"
#include "common/wire/shard.hpp"

namespace quiver::matrix {

struct matrix_search_request {
  std::vector<std::string> indexes;  // distinct, in the order given
  std::string text;                  // embedded per index (hash-v1 at its dimension), or
  std::vector<float> vector;         // used as is when `text` is empty
  search_options options;            // k, ef, exclude_ids, filter, include_metadata, consistency
  bool use_playbook = false;
  std::string playbook = "default";
};

struct matrix_limits {
  static constexpr std::size_t max_indexes = 16;
  static constexpr std::size_t max_text_bytes = 64 * 1024;
  // With a playbook, each index is asked for this many more candidates than k,
  // so that a boosted pick just past the top k can move into it.
  static constexpr std::uint32_t playbook_extra = 20;
};

// {"indexes", "text" | "vector", "k"?, "ef"?, "exclude_ids"?, "filter"?,
//  "include_metadata"?, "consistency"?, "use_playbook"?, "playbook"?}.
// invalid_json, invalid_argument (unknown field, neither or both of text and
// vector, a bad index name, a repeated index), payload_too_large (too many
// indexes, a text over 64 KiB).
expected<matrix_search_request> parse_matrix_search(const std::string& json);

// Every field that changes the answer, for the tenant.
std::string cache_key(const tenant_id& tenant, const matrix_search_request& r);

// The state the answer reads: each index's incarnation and shards' applied seqs,
// and the playbook's (or that it has none).
std::string data_version(const std::vector<index_version>& indexes, const index_version* playbook);

// One index's hits.
struct index_hits {
  std::string index;
  std::vector<search_hit> hits;
};

struct ranked_hit {
  std::string index;
  search_hit hit;
  double boost = 0;  // the playbook's, in [-1, 1]; 0 without one
};

// All hits ranked by distance minus boost x 1.05 x the spread of their distances (the
// playbook's boosts, see playbook.hpp; a full boost puts a hit ahead of every
// unboosted one), ties by index order then id; the first k.
std::vector<ranked_hit> merge_hits(std::vector<index_hits> per_index, std::uint32_t k,
                                   const std::map<std::string, double>& boosts);

// The "results" array: [{"id", "index", "distance", "metadata"?, "boost"?}].
std::string render_results(const std::vector<ranked_hit>& hits, bool include_metadata);

// The reply body around cached or fresh results: byte-identical results either
// way. An answer that could not read its playbook says "playbook_skipped".
std::string render_answer(const std::string& results, bool cached, bool playbook_skipped = false);

}  // namespace quiver::matrix
