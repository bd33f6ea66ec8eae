#pragma once

#include <caf/fwd.hpp>

#include <chrono>

namespace quiver {

// Spawns the router: the gateway's only contact. It caches where each index's
// shards are (asking the registry on a miss, forgetting an index whose shard
// actor goes down), validates writes against the index's parameters, sends each
// id to its shard (hash64(id) % shards), fans searches and id listings out to all
// shards and merges their answers. Index administration is passed to the registry.
// Clustered, the registry is the coordinator: routes name each shard's serving
// primary and replicas and are dropped whenever the coordinator's map version
// moves (polled every 200 ms, or with `watched` asked only when told the
// cluster's metadata changed: notify_map_changed); a shard request that fails for routing reasons
// is retried on a fresh route (with a backoff, for up to about 3 s: a primary's
// move); searches may read replicas ("eventual") and answer without
// missing shards when the request allows partial results.
caf::actor spawn_router(caf::actor_system& system, caf::actor registry,
                        std::chrono::milliseconds timeout, bool clustered = false,
                        bool watched = false);
// The cluster's metadata changed (an etcd watch event): the router asks the
// coordinator for the map again.
void notify_map_changed(const caf::actor& router);

}  // namespace quiver
