#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/index_params.hpp"
#include "common/records.hpp"
#include "common/status.hpp"

namespace quiver {

// Limits on request content; each bounds the work one request can ask for.
struct request_limits {
  static constexpr std::size_t max_id_bytes = 256;
  static constexpr std::uint32_t max_k = 10000;           // a k beyond this is a scan, not a search
  static constexpr std::size_t max_exclude_ids = 100000;  // over-fetch grows with it
  static constexpr std::size_t max_text_bytes = 64 * 1024;  // a "text" to embed
};

// `index` is the item's position in its batch (0 for a single item); it is
// reported in details so a client can find the bad item.
status validate_id(std::string_view id, std::size_t index);
status validate_vector(const std::vector<float>& v, std::uint32_t dimension, distance_kind d,
                       std::size_t index);
status validate_item(const upsert_item& item, std::uint32_t dimension, distance_kind d,
                     std::size_t index);
// Validates a whole batch; the first bad item decides the answer.
status validate_batch(const std::vector<upsert_item>& items, std::uint32_t dimension,
                      distance_kind d);
status validate_search(const std::vector<float>& query, const search_options& opts,
                       std::uint32_t dimension, distance_kind d, std::size_t index);

bool is_valid_utf8(std::string_view s);

// Keeps the last occurrence of each id, in the order of those last occurrences.
void dedup_last_wins(std::vector<upsert_item>& items);

}  // namespace quiver
