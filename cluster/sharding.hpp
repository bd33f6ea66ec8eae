#pragma once

#include <cstdint>
#include <string_view>

#include "common/ids.hpp"

namespace quiver {

// The stable 64-bit hash that places ids on shards: FNV-1a 64 over the id's bytes
// (offset basis 0xcbf29ce484222325, prime 0x100000001b3). Changing it moves every
// id of every existing index, so it is part of the persisted format.
std::uint64_t hash64(std::string_view bytes);

// shard of an id = hash64(id) % shards.  REQUIRES: shards > 0.
inline shard_id shard_of(std::string_view id, std::uint32_t shards) {
  return shard_id{static_cast<std::uint32_t>(hash64(id) % shards)};
}

}  // namespace quiver
