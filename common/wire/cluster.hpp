#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/log_record.hpp"
#include "common/wire/storage.hpp"

namespace quiver {

// Between a cluster's nodes and its coordinator, and primary -> replica.

// Node -> coordinator (in its heartbeat): one replica the node hosts.
struct replica_report {
  shard_ref ref;
  bool primary = false;
  std::uint64_t epoch = 0;
  std::string state;  // as shard_status_report, or "fenced" (a primary whose epoch passed)
  std::string reason;
  seq_no applied;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_report& x) {
  return f(x.ref, x.primary, x.epoch, x.state, x.reason, x.applied);
}

// A tenant's stored vectors and bytes (usage_book's measure). Node ->
// coordinator: what the node's primaries hold; coordinator -> node: what the
// tenant's primaries hold on every other node, so that quotas count the cluster.
struct tenant_stored {
  std::string tenant;
  std::int64_t vectors = 0;
  std::int64_t bytes = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_stored& x) {
  return f(x.tenant, x.vectors, x.bytes);
}

// Coordinator -> node: a tenant's limits on stored vectors and bytes (0:
// unlimited), which a cluster node's usage book enforces.
struct tenant_limits {
  std::string tenant;
  std::uint64_t max_vectors = 0;
  std::uint64_t max_bytes = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_limits& x) {
  return f(x.tenant, x.max_vectors, x.max_bytes);
}

// Gateway -> coordinator, every second: the gateway is up (it shares each
// tenant's request rate). Answered with how many gateways are.
struct gateway_beat {
  std::string name;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gateway_beat& x) {
  return f(x.name);
}

// Replica logs: primary -> replica, records its own log holds (in seq order,
// under the primary's epoch), following its record `prev_seq`, which it wrote
// under `prev_epoch`; a replica whose log ends with that record under that
// epoch agrees with the primary's log so far and takes them. Without records
// it is a probe: does the replica's log end there (durably)? Replied with
// log_append_reply once the records are durable in the replica's log.
struct replica_append_request {
  shard_ref ref;
  std::uint64_t epoch = 0;
  seq_no prev_seq;
  std::uint64_t prev_epoch = 0;
  std::vector<log_record> records;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_append_request& x) {
  return f(x.ref, x.epoch, x.prev_seq, x.prev_epoch, x.records);
}

// Replica logs: replica -> primary, before it reads the primary's log: its own
// log's newest record was written under `last_epoch`.
struct follow_request {
  shard_ref ref;
  std::uint64_t last_epoch = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, follow_request& x) {
  return f(x.ref, x.last_epoch);
}
// The primary's epoch, and how far its log agrees with the replica's.
struct follow_reply {
  std::uint64_t epoch = 0;
  epoch_end agreed;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, follow_reply& x) {
  return f(x.epoch, x.agreed);
}

// Replica logs: replica -> primary, once its log agrees with the primary's
// through `last` (durably) and it takes the primary's records directly: the
// primary may count it towards the in-sync set. Replied true once the primary
// knows the replica (its role may name it only later: the replica asks again).
struct replica_in_step {
  shard_ref ref;
  std::string node;  // the replica's
  std::uint64_t epoch = 0;
  seq_no last;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_in_step& x) {
  return f(x.ref, x.node, x.epoch, x.last);
}

// Replica logs: replica -> primary, when the primary's log no longer holds
// what the replica lacks: a piece of the primary's snapshot at `seq` (0: its
// newest). not_found when that snapshot is gone (start again with the newest).
struct snapshot_fetch_request {
  shard_ref ref;
  seq_no seq;
  std::uint64_t offset = 0;
  std::uint64_t max_bytes = 4u << 20;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_fetch_request& x) {
  return f(x.ref, x.seq, x.offset, x.max_bytes);
}
// `bytes` of the snapshot at `seq` (`total` bytes long) from `offset`, with
// their CRC32C; `epoch`: the epoch the primary's record `seq` was written under.
struct snapshot_chunk {
  seq_no seq;
  std::uint64_t epoch = 0;
  std::uint64_t total = 0;
  std::uint64_t offset = 0;
  std::string bytes;
  std::uint32_t crc = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot_chunk& x) {
  return f(x.seq, x.epoch, x.total, x.offset, x.bytes, x.crc);
}

// Replica logs: primary -> coordinator: `node` joins (caught up) or leaves
// (stopped acknowledging) the shard's in-sync set. Replied (true) once the
// change is durable in the cluster's metadata; stale_epoch when the sender is
// no longer the shard's primary under `epoch`.
struct in_sync_update_request {
  shard_ref ref;
  std::uint64_t epoch = 0;
  std::string primary;  // the sender's node
  std::string node;
  bool in_sync = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, in_sync_update_request& x) {
  return f(x.ref, x.epoch, x.primary, x.node, x.in_sync);
}

// Primary -> replica: committed records, in seq order.
struct replicate_msg {
  std::vector<log_record> records;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replicate_msg& x) {
  return f(x.records);
}

// GET /v1/cluster.
struct cluster_status_request {
  bool all = true;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status_request& x) {
  return f(x.all);
}

struct cluster_version_request {
  bool all = true;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_version_request& x) {
  return f(x.all);
}

struct cluster_node_info {
  std::string name;
  std::string address;
  std::string role;
  bool up = false;
  std::uint32_t replicas = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_node_info& x) {
  return f(x.name, x.address, x.role, x.up, x.replicas);
}

struct cluster_replica_info {
  std::string node;
  bool primary = false;
  std::string state;
  std::uint64_t applied_seq = 0;
  std::uint64_t lag = 0;  // records behind the primary
  // In the shard's in-sync set: may become its primary (replica logs: its log
  // holds every acknowledged write; shared logs: it serves).
  bool in_sync = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_replica_info& x) {
  return f(x.node, x.primary, x.state, x.applied_seq, x.lag, x.in_sync);
}

struct cluster_shard_info {
  std::string tenant;
  std::string index;
  std::uint32_t shard = 0;
  std::uint64_t epoch = 0;
  std::string primary;  // node; empty: none serving
  std::vector<cluster_replica_info> replicas;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_shard_info& x) {
  return f(x.tenant, x.index, x.shard, x.epoch, x.primary, x.replicas);
}

struct cluster_status {
  std::string mode;  // "standalone", "three-process" or "cluster"
  std::uint64_t version = 0;
  std::vector<cluster_node_info> nodes;
  std::vector<cluster_shard_info> shards;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(x.mode, x.version, x.nodes, x.shards);
}

}  // namespace quiver
