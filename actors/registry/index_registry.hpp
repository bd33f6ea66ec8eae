#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <string>

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

struct controller_metadata;

struct coordinator_options {
  std::chrono::milliseconds heartbeat{250};      // how often placement is re-checked
  std::chrono::milliseconds node_timeout{2000};  // silent this long: the node is down
  // Each replica keeps its own log: promotion only from the in-sync set
  // (cluster_state), which primaries change through in_sync_update_request.
  bool replica_logs = false;
  // Replica logs: how many copies (the primary's included) each write must reach
  // besides every in-sync replica; capped at an index's replicas. 1: whatever
  // the in-sync set holds.
  std::uint32_t write_quorum = 1;
  // etcd: membership by registration, ownership decided and fenced in etcd, and
  // placing only while this process holds the controller key. Null: in memory.
  std::shared_ptr<controller_metadata> metadata;
};

// Spawns the coordinator of a cluster: the same catalog, tenant and
// administration service as the registry, but shards are placed on vectord
// nodes instead of spawned here. Hosted by storaged (env.persistence = its
// storage actor) or, with a log on every replica, by a vectord
// (env.persistence null: no storage to mirror the catalog into or fence).
// Nodes register by heartbeat (node_heartbeat) and are answered with their
// assignments; a node silent for node_timeout, or whose connection drops, is
// down. Placement, epochs and failover follow cluster_state's rules; every
// primary change is fenced (in etcd, and at storage when there is one) before
// the node hears of it. Routers look up the serving primary and replicas of
// each shard and poll cluster_version_request to learn that the map changed.
caf::actor spawn_coordinator(caf::actor_system& system, std::shared_ptr<const index_actor_env> env,
                             coordinator_options options);

// etcd mode: the name and CAF address (host:port) the coordinator campaigns
// under, sent once it is published there. It campaigns only after this.
void announce_controller(const caf::actor& coordinator, std::string name, std::string address);

// etcd mode: no one holds the controller key now; the coordinator campaigns at
// once instead of at its next retry.
void controller_vacant(const caf::actor& coordinator);

}  // namespace quiver
