#pragma once

#include <cstddef>
#include <vector>

#include "common/records.hpp"

namespace quiver {

// Merges per-shard top-k lists into one top-k, ascending by distance, ties by id.
std::vector<search_hit> merge_hits(std::vector<std::vector<search_hit>> per_shard, std::size_t k);

// Merges per-shard pages (each ascending, each starting after the same id) into the
// first `limit` ids overall; `more` when any id beyond them exists on any shard.
id_page merge_id_pages(std::vector<id_page> per_shard, std::size_t limit);

}  // namespace quiver
