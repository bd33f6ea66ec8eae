#pragma once

#include <caf/fwd.hpp>

#include <memory>

#include "actors/index/index_actor.hpp"

namespace quiver {

// Spawns the registry: the indexes of this process, per tenant, as the durable
// catalog in storage lists them. On start it loads the catalog and spawns an
// index actor per shard, each of which recovers on its own (one large or broken
// index never holds the others back). It creates, describes, lists and drops
// indexes (through the catalog first), tells routers where shards are, and
// reports readiness per shard. It monitors its index actors: a shard that dies is
// reported missing, never silently replaced by an empty one.
caf::actor spawn_index_registry(caf::actor_system& system,
                                std::shared_ptr<const index_actor_env> env);

}  // namespace quiver
