#pragma once

#include <caf/fwd.hpp>

#include <chrono>

#include "actors/index/shard_index.hpp"

namespace quiver {

// Spawns the registry: the catalog of indexes of this process, per tenant. It
// creates, describes, lists and drops indexes, spawns and stops their index
// actors (one per shard), and tells routers where shards are. It monitors its
// index actors: a shard that dies is reported missing by readiness, never
// silently replaced by an empty one.
caf::actor spawn_index_registry(caf::actor_system& system, caf::actor readers,
                                shard_index_options options, std::chrono::milliseconds timeout);

}  // namespace quiver
