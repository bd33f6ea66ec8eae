#pragma once

#include <cstddef>
#include <vector>

#include "common/records.hpp"
#include "common/wire/vectors.hpp"

namespace quiver {

// Merges per-shard top-k lists into one top-k, ascending by distance, ties by id.
std::vector<search_hit> merge_hits(std::vector<std::vector<search_hit>> per_shard, std::size_t k);

// Merges per-shard pages (each ascending, each starting after the same id) into the
// first `limit` ids overall; `more` when any id beyond them exists on any shard.
id_page merge_id_pages(std::vector<id_page> per_shard, std::size_t limit);

// Merges per-shard lists of payload indexes: each (field, type) once, by name,
// with how many shards have it; `shards` sums the shards that answered.
list_fields_reply merge_field_lists(std::vector<list_fields_reply> per_shard);

}  // namespace quiver
