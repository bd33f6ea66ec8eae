#pragma once

#include <caf/fwd.hpp>

#include "actors/index/shard_index.hpp"
#include "common/ids.hpp"
#include "common/index_params.hpp"

namespace quiver {

// Spawns, monitored by `parent`, the actor that owns one shard replica's shard_index. Its mailbox
// serializes every mutation; searches are handed to `readers` (a pool shared by
// all shards of the process) and run there in parallel with each other and with
// the next mutation, as shard_index allows.
caf::actor spawn_index_actor(caf::event_based_actor* parent, tenant_id tenant, index_params params,
                             shard_id shard, caf::actor readers, shard_index_options options);

// Spawns `workers` reader actors behind one round-robin handle.
caf::actor spawn_reader_pool(caf::actor_system& system, unsigned workers);

}  // namespace quiver
