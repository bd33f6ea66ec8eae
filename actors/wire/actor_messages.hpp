#pragma once

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/wire/admin.hpp"
#include "common/wire/cluster.hpp"
#include "common/wire/shard.hpp"
#include "common/wire/storage.hpp"
#include "common/wire/tenants.hpp"
#include "common/wire/vectors.hpp"

namespace caf {
class actor_system_config;
class event_based_actor;
}  // namespace caf

namespace quiver {

class shard_index;

// Messages that hold actor handles, so they live above common/.

// Router -> registry: where the shards of an index are.
struct lookup_index_request {
  tenant_id tenant;
  std::string name;
};
struct index_route {
  index_params params;
  // Indexed by shard number: the primary (null in a cluster while the shard has
  // no serving primary) and, in a cluster, the other serving replicas.
  std::vector<caf::actor> shards;
  std::vector<std::vector<caf::actor>> replicas;
  // Cluster: the nodes hosting them (same shape), so that a router can fail the
  // requests it has out to a node the coordinator declares down.
  std::vector<std::string> shard_nodes;
  std::vector<std::vector<std::string>> replica_nodes;
};

// Node (vectord) -> coordinator, every heartbeat interval and on every change of
// a hosted replica: the node is alive and hosts these replicas (actors[i] is the
// index actor of reports[i]). Answered with the node's assignments.
struct node_heartbeat {
  std::string name;
  std::string address;
  caf::actor node;
  std::vector<replica_report> reports;
  std::vector<caf::actor> actors;
  std::vector<tenant_stored> usage;  // what the node's primaries hold, per tenant
  // Replica logs: indexes the node's own storage holds files of and it hosts
  // no shard of (the coordinator names those the catalog no longer has).
  std::vector<catalog_entry> unhosted;
  // Replica logs: shards of live indexes whose files it holds and hosts no
  // replica of (the coordinator names those it may delete).
  std::vector<shard_ref> unhosted_shards;
};
// One replica the coordinator wants on the node.
struct node_assignment {
  catalog_entry entry;
  shard_id shard;
  bool primary = false;
  std::uint64_t epoch = 0;             // primary: fenced in for it
  std::vector<caf::actor> forward_to;  // primary: the serving replicas' index actors
  seq_no primary_applied;              // replica: how far the primary is
  // Replica logs: the nodes of forward_to (same order) and the in-sync set
  // (primary); the primary's index actor, whose log a replica reads (replica).
  std::vector<std::string> forward_nodes;
  std::vector<std::string> in_sync;
  caf::actor source;
  // Replica logs, primary: how many copies (its own included) each write must
  // reach, at most the index's replicas.
  std::uint32_t write_quorum = 1;
};
// Coordinator -> node: the answer to a heartbeat.
struct heartbeat_reply {
  bool replica_logs = false;  // the coordinator places for replica logs
  // Replica logs: the CAF addresses of the other up nodes, which the node
  // connects to directly (a primary's replicas may be on any of them).
  std::vector<std::string> peers;
  std::vector<node_assignment> assignments;
  std::vector<tenant_stored> elsewhere;  // per tenant, what its primaries on other nodes hold
  std::vector<tenant_limits> limits;     // every tenant with a vector or byte quota
  // Of the heartbeat's unhosted: the incarnations the catalog no longer has
  // (dropped, or replaced under the name), whose files the node deletes.
  std::vector<catalog_entry> forget;
  // Of the heartbeat's unhosted shards: those moved off the node for good (see
  // cluster_state::may_forget), whose files it deletes.
  std::vector<shard_ref> forget_shards;
};
// Node -> index actor: its role (clustered shards only).
struct shard_role_msg {
  bool primary = false;
  std::uint64_t epoch = 0;
  std::vector<caf::actor> forward_to;
  seq_no primary_applied;
  std::vector<std::string> forward_nodes;  // replica logs: as node_assignment
  std::vector<std::string> in_sync;
  caf::actor source;
  std::uint32_t write_quorum = 1;  // as node_assignment
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lookup_index_request& x) {
  return f(x.tenant, x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_route& x) {
  return f(x.params, x.shards, x.replicas, x.shard_nodes, x.replica_nodes);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_heartbeat& x) {
  return f(x.name, x.address, x.node, x.reports, x.actors, x.usage, x.unhosted, x.unhosted_shards);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_assignment& x) {
  return f(x.entry, x.shard, x.primary, x.epoch, x.forward_to, x.primary_applied, x.forward_nodes,
           x.in_sync, x.source, x.write_quorum);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat_reply& x) {
  return f(x.replica_logs, x.peers, x.assignments, x.elsewhere, x.limits, x.forget,
           x.forget_shards);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_role_msg& x) {
  return f(x.primary, x.epoch, x.forward_to, x.primary_applied, x.forward_nodes, x.in_sync,
           x.source, x.write_quorum);
}

// Index actor -> reader pool: a search to run against a shard that lives in this
// process. Local only (it carries a pointer), never serialized.
struct search_job {
  std::shared_ptr<const shard_index> shard;
  search_request request;
};

// Gateway thread -> bridge actor: runs `run` inside the actor, which may issue
// requests and handle their replies. Local only.
struct bridge_job {
  std::function<void(caf::event_based_actor*)> run;
};

// Registers every message type that may cross a process boundary. Call on every
// actor_system_config before the system starts.
void register_message_types(caf::actor_system_config& cfg);

}  // namespace quiver

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::search_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::bridge_job)
