#pragma once

#include <caf/fwd.hpp>

#include <chrono>

namespace quiver {

// Spawns the router: the gateway's only contact. It caches where each index's
// shards are (asking the registry on a miss, forgetting an index whose shard
// actor goes down), validates writes against the index's parameters, sends each
// id to its shard (hash64(id) % shards), fans searches and id listings out to all
// shards and merges their answers. Index administration is passed to the registry.
caf::actor spawn_router(caf::actor_system& system, caf::actor registry,
                        std::chrono::milliseconds timeout);

}  // namespace quiver
