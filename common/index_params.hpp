#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace quiver {

enum class distance_kind : std::uint8_t { cosine, euclidean, dot };

std::string_view distance_name(distance_kind d);
// Accepts "cosine", "euclidean", "dot"; an error names the accepted values.
expected<distance_kind> parse_distance(std::string_view name);

// The fixed parameters of an index, chosen at creation (API.md, POST /v1/indexes).
struct index_params {
  std::string name;
  std::uint32_t dimension = 0;
  distance_kind distance = distance_kind::cosine;
  std::uint32_t m = 16;
  std::uint32_t ef_construction = 200;
  std::uint32_t ef_search = 64;
  std::uint32_t shards = 1;
  std::uint32_t replicas = 1;
  // The embedder that turns "text" into this index's vectors ("hash-v1"), or
  // empty: the index takes vectors only.
  std::string embedder;

  friend bool operator==(const index_params& a, const index_params& b) {
    return a.name == b.name && a.dimension == b.dimension && a.distance == b.distance &&
           a.m == b.m && a.ef_construction == b.ef_construction && a.ef_search == b.ef_search &&
           a.shards == b.shards && a.replicas == b.replicas && a.embedder == b.embedder;
  }
  friend bool operator!=(const index_params& a, const index_params& b) { return !(a == b); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_params& x) {
  return f(x.name, x.dimension, x.distance, x.m, x.ef_construction, x.ef_search, x.shards,
           x.replicas, x.embedder);
}

// Limits on index parameters; each bounds memory or time a single request can claim.
struct index_limits {
  static constexpr std::uint32_t max_dimension = 65536;  // one vector ≤ 256 KiB
  static constexpr std::uint32_t min_m = 2;
  static constexpr std::uint32_t max_m = 128;     // links cost 8·M bytes per vector
  static constexpr std::uint32_t max_ef = 10000;  // search cost grows linearly in ef
  static constexpr std::uint32_t max_shards = 256;
  static constexpr std::uint32_t max_replicas = 5;
  static constexpr std::size_t max_name_bytes = 128;
};

// Name must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$.
status validate_index_name(std::string_view name);
// The embedders an index may name, and the dimensions each makes.
struct embedder_limits {
  static constexpr const char* hash_v1 = "hash-v1";
  static constexpr std::uint32_t min_dimension = 8;
  static constexpr std::uint32_t max_dimension = 4096;
};

// An embedder's name: 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or
// digit ("hash-v1" or one of the gateway's [embedders.NAME]).
bool embedder_name_ok(std::string_view name);

// Validates every field of p (name included).
status validate_params(const index_params& p);

}  // namespace quiver
