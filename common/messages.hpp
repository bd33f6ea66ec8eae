#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/log_record.hpp"
#include "common/records.hpp"

namespace quiver {

// The wire vocabulary between the gateway, the router, the registry and the index
// actors. Plain structs with inspect() overloads, so they cross processes unchanged.
// Every request names its tenant.

// What a node's storage has done since it opened; exported as metrics.
struct storage_stats {
  std::uint64_t appended_records = 0;
  std::uint64_t syncs = 0;
  std::uint64_t stale_epoch_rejections = 0;
  std::uint64_t torn_tails_repaired = 0;
  std::uint64_t torn_bytes_truncated = 0;
};

struct index_description {
  tenant_id tenant;  // the owner (listed for every tenant only to the operator)
  index_params params;
  std::uint64_t count = 0;
  std::uint64_t memory_bytes = 0;
  std::string status = "ready";  // "ready", "recovering", "quarantined" or "unavailable"
  // Of the last recovery, over all shards: records replayed, and the slowest shard.
  std::uint64_t replayed_records = 0;
  double recovery_seconds = 0;
  // Clustered shards: role, epoch, and how far the replica has applied.
  bool primary = false;
  std::uint64_t epoch = 0;
  seq_no applied;
};

// -- index administration (router -> registry) --
struct create_index_request {
  tenant_id tenant;
  index_params params;
};
struct create_index_reply {
  index_description description;
  bool created = false;  // false: it existed with the same params
};
struct list_indexes_request {
  tenant_id tenant;
  bool all_tenants = false;  // every tenant's indexes (the operator's /metrics)
};
struct describe_index_request {
  tenant_id tenant;
  std::string name;
};
struct drop_index_request {
  tenant_id tenant;
  std::string name;
};
struct readiness_request {
  bool detailed = true;  // list the missing shards, not only whether any are
};
struct readiness_reply {
  std::vector<std::string> missing;  // "tenant/index/shard" without a serving replica
  // Per index ("tenant/index") that is not ready: its status, e.g. "recovering".
  std::vector<std::string> index_names;
  std::vector<std::string> index_states;
  storage_stats storage;
};

// -- tenants (gateway -> router -> registry -> storage) --
// 0 means unlimited.
struct tenant_quotas {
  std::uint64_t max_indexes = 0;
  std::uint64_t max_vectors = 0;
  std::uint64_t max_bytes = 0;  // vectors (4 bytes a component) + metadata text
  std::uint64_t max_requests_per_s = 0;
  friend bool operator==(const tenant_quotas& a, const tenant_quotas& b) {
    return a.max_indexes == b.max_indexes && a.max_vectors == b.max_vectors &&
           a.max_bytes == b.max_bytes && a.max_requests_per_s == b.max_requests_per_s;
  }
};
// A tenant as the catalog keeps it: the key only as its SHA-256 (hex).
struct tenant_record {
  std::string name;
  tenant_quotas quotas;
  std::string key_hash;
};
struct tenant_usage {
  std::uint64_t indexes = 0;
  std::uint64_t vectors = 0;
  std::uint64_t bytes = 0;
};
struct tenant_info {
  std::string name;
  tenant_quotas quotas;
  tenant_usage usage;
};
struct tenant_create_request {
  tenant_record tenant;
};
struct tenant_list_request {
  bool with_usage = true;
};
struct tenant_get_request {
  std::string name;
};
struct tenant_drop_request {
  std::string name;
};
// Replaces the tenant's key: the old one stops working.
struct tenant_rotate_request {
  std::string name;
  std::string key_hash;
};
// Who holds this key; `unauthenticated` when nobody does.
struct tenant_auth_request {
  std::string key_hash;
};
struct tenant_auth_reply {
  tenant_id tenant;
  tenant_quotas quotas;
};

// -- vector operations (gateway -> router) --
struct upsert_request {
  tenant_id tenant;
  std::string index;
  std::vector<upsert_item> items;
};
struct upsert_reply {
  std::uint64_t upserted = 0;
  seq_no seq;  // of the last record applied (single-shard writes)
};
struct get_vector_request {
  tenant_id tenant;
  std::string index;
  std::string id;
};
struct delete_vectors_request {
  tenant_id tenant;
  std::string index;
  std::vector<std::string> ids;
};
struct delete_vectors_reply {
  std::uint64_t deleted = 0;
};
struct list_ids_request {
  tenant_id tenant;
  std::string index;
  std::string after;  // exclusive; empty: from the start
  std::uint32_t limit = 1000;
};
struct search_request {
  tenant_id tenant;
  std::string index;
  std::vector<float> query;
  search_options options;
};
struct search_reply {
  std::vector<search_hit> hits;
  // Shards that could not answer (allow_partial only); non-empty means partial.
  std::vector<std::uint32_t> missing_shards;
};
struct search_batch_request {
  tenant_id tenant;
  std::string index;
  std::vector<std::vector<float>> queries;
  std::vector<search_options> options;
};
struct search_batch_reply {
  std::vector<std::vector<search_hit>> results;
};
struct merge_request {
  tenant_id tenant;
  std::string index;
  std::string source;
  bool delete_source = false;
};
struct merge_reply {
  std::uint64_t merged = 0;
};

// -- shard operations (router -> index actor) --
struct shard_stats_request {
  tenant_id tenant;
};
struct shard_stats {
  std::uint64_t count = 0;
  std::uint64_t memory_bytes = 0;
  seq_no applied;
};
// One page of a shard's vectors in id order, after `after` (a merge reads the
// source index page by page).
struct shard_export_request {
  tenant_id tenant;
  std::string after;
  std::uint32_t limit = 0;
};
struct shard_export {
  std::vector<upsert_item> items;
  bool more = false;
  std::string last_id;  // where the next page starts
};

// -- storage (registry, index actors -> storage actor) --
// Names one shard's files: the incarnation is the catalog seq of the index's
// create record, so a re-created index never reads its predecessor's log.
struct shard_ref {
  tenant_id tenant;
  std::string index;
  std::uint64_t incarnation = 0;
  shard_id shard;
};
struct catalog_entry {
  tenant_id tenant;
  index_params params;
  std::uint64_t incarnation = 0;
};
struct catalog_list_request {
  bool all = true;
};
// Storage -> registry: every tenant of the catalog.
struct catalog_tenants_request {
  bool all = true;
};
struct catalog_create_request {
  tenant_id tenant;
  index_params params;
  // Assigned by the cluster's catalog (etcd): storage mirrors that index. 0:
  // storage's own catalog decides (and names the incarnation).
  std::uint64_t incarnation = 0;
};
struct catalog_create_reply {
  catalog_entry entry;
  bool created = false;
};
struct catalog_drop_request {
  tenant_id tenant;
  std::string name;
};
// How the caller opens a shard.
enum class open_mode : std::uint8_t {
  claim,   // become the writer under a new epoch (standalone, three-process)
  hold,    // be the writer under `epoch`, which the coordinator fenced in for it
  follow,  // read only (a replica): no epoch changes
};
struct shard_open_request {
  shard_ref ref;
  open_mode mode = open_mode::claim;
  std::uint64_t epoch = 0;  // hold
};
// Coordinator -> storage: a new epoch for the shard, at least `at_least` (the
// epoch the cluster's metadata store assigned); appends under every earlier one
// fail from now on. Replied with the new epoch.
struct shard_fence_request {
  shard_ref ref;
  std::uint64_t at_least = 0;
};
struct shard_lease {
  std::uint64_t epoch = 0;
  seq_no last_seq;   // the newest record in the log
  seq_no first_seq;  // the oldest record still in the log (last_seq + 1 if none)
  std::string dir;   // the shard's directory; snapshots go to <dir>/snapshots
};
// Replied to once the records are durable (per the fsync policy).
struct log_append_request {
  shard_ref ref;
  std::uint64_t epoch = 0;
  std::vector<log_record> records;
};
struct log_append_reply {
  seq_no last_seq;
};
struct log_read_request {
  shard_ref ref;
  seq_no after;
  std::uint64_t max_bytes = 16u << 20;
};
struct log_chunk {
  std::vector<log_record> records;
  bool more = false;
};
// A durable snapshot covers every record below keep_from.
struct log_release_request {
  shard_ref ref;
  seq_no keep_from;
};
struct storage_stats_request {
  bool all = true;
};

// Index actor -> registry: the shard's state changed.
struct shard_status_report {
  shard_id shard;
  std::string state;   // "recovering", "ready", "quarantined" or (clustered) "fenced"
  std::string reason;  // quarantined: why
  std::uint64_t replayed_records = 0;
  double recovery_seconds = 0;
  // Clustered shards: role, epoch, and how far the replica has applied.
  bool primary = false;
  std::uint64_t epoch = 0;
  seq_no applied;
};

// -- cluster --
// Node -> coordinator (in its heartbeat): one replica the node hosts.
struct replica_report {
  shard_ref ref;
  bool primary = false;
  std::uint64_t epoch = 0;
  std::string state;  // as shard_status_report, or "fenced" (a primary whose epoch passed)
  std::string reason;
  seq_no applied;
};
// Primary -> replica: committed records, in seq order.
struct replicate_msg {
  std::vector<log_record> records;
};
// GET /v1/cluster.
struct cluster_status_request {
  bool all = true;
};
struct cluster_version_request {
  bool all = true;
};
struct cluster_node_info {
  std::string name;
  std::string address;
  std::string role;
  bool up = false;
  std::uint32_t replicas = 0;
};
struct cluster_replica_info {
  std::string node;
  bool primary = false;
  std::string state;
  std::uint64_t applied_seq = 0;
  std::uint64_t lag = 0;  // records behind the primary
};
struct cluster_shard_info {
  std::string tenant;
  std::string index;
  std::uint32_t shard = 0;
  std::uint64_t epoch = 0;
  std::string primary;  // node; empty: none serving
  std::vector<cluster_replica_info> replicas;
};
struct cluster_status {
  std::string mode;  // "standalone", "three-process" or "cluster"
  std::uint64_t version = 0;
  std::vector<cluster_node_info> nodes;
  std::vector<cluster_shard_info> shards;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_report& x) {
  return f(x.ref, x.primary, x.epoch, x.state, x.reason, x.applied);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replicate_msg& x) {
  return f(x.records);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status_request& x) {
  return f(x.all);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_version_request& x) {
  return f(x.all);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_node_info& x) {
  return f(x.name, x.address, x.role, x.up, x.replicas);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_replica_info& x) {
  return f(x.node, x.primary, x.state, x.applied_seq, x.lag);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_shard_info& x) {
  return f(x.tenant, x.index, x.shard, x.epoch, x.primary, x.replicas);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(x.mode, x.version, x.nodes, x.shards);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_status_report& x) {
  return f(x.shard, x.state, x.reason, x.replayed_records, x.recovery_seconds, x.primary, x.epoch,
           x.applied);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_record& x) {
  return f(x.type, x.shard, x.seq, x.epoch, x.id, x.vector, x.metadata, x.tenant, x.params);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_ref& x) {
  return f(x.tenant, x.index, x.incarnation, x.shard);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_entry& x) {
  return f(x.tenant, x.params, x.incarnation);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_list_request& x) {
  return f(x.all);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_tenants_request& x) {
  return f(x.all);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_create_request& x) {
  return f(x.tenant, x.params, x.incarnation);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_create_reply& x) {
  return f(x.entry, x.created);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_drop_request& x) {
  return f(x.tenant, x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_open_request& x) {
  return f(x.ref, x.mode, x.epoch);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_fence_request& x) {
  return f(x.ref, x.at_least);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_lease& x) {
  return f(x.epoch, x.last_seq, x.first_seq, x.dir);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_append_request& x) {
  return f(x.ref, x.epoch, x.records);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_append_reply& x) {
  return f(x.last_seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_read_request& x) {
  return f(x.ref, x.after, x.max_bytes);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_chunk& x) {
  return f(x.records, x.more);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_release_request& x) {
  return f(x.ref, x.keep_from);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, storage_stats_request& x) {
  return f(x.all);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, storage_stats& x) {
  return f(x.appended_records, x.syncs, x.stale_epoch_rejections, x.torn_tails_repaired,
           x.torn_bytes_truncated);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_description& x) {
  return f(x.tenant, x.params, x.count, x.memory_bytes, x.status, x.replayed_records,
           x.recovery_seconds);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_index_request& x) {
  return f(x.tenant, x.params);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_index_reply& x) {
  return f(x.description, x.created);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_indexes_request& x) {
  return f(x.tenant, x.all_tenants);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, describe_index_request& x) {
  return f(x.tenant, x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, drop_index_request& x) {
  return f(x.tenant, x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_request& x) {
  return f(x.detailed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_reply& x) {
  return f(x.missing, x.index_names, x.index_states, x.storage);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upsert_request& x) {
  return f(x.tenant, x.index, x.items);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upsert_reply& x) {
  return f(x.upserted, x.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_vector_request& x) {
  return f(x.tenant, x.index, x.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_vectors_request& x) {
  return f(x.tenant, x.index, x.ids);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_vectors_reply& x) {
  return f(x.deleted);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_ids_request& x) {
  return f(x.tenant, x.index, x.after, x.limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_request& x) {
  return f(x.tenant, x.index, x.query, x.options);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_reply& x) {
  return f(x.hits, x.missing_shards);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_batch_request& x) {
  return f(x.tenant, x.index, x.queries, x.options);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_batch_reply& x) {
  return f(x.results);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, merge_request& x) {
  return f(x.tenant, x.index, x.source, x.delete_source);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, merge_reply& x) {
  return f(x.merged);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats_request& x) {
  return f(x.tenant);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats& x) {
  return f(x.count, x.memory_bytes, x.applied);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_export_request& x) {
  return f(x.tenant, x.after, x.limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_export& x) {
  return f(x.items, x.more, x.last_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_quotas& x) {
  return f(x.max_indexes, x.max_vectors, x.max_bytes, x.max_requests_per_s);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_record& x) {
  return f(x.name, x.quotas, x.key_hash);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_usage& x) {
  return f(x.indexes, x.vectors, x.bytes);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_info& x) {
  return f(x.name, x.quotas, x.usage);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_create_request& x) {
  return f(x.tenant);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_list_request& x) {
  return f(x.with_usage);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_get_request& x) {
  return f(x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_drop_request& x) {
  return f(x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_rotate_request& x) {
  return f(x.name, x.key_hash);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_auth_request& x) {
  return f(x.key_hash);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_auth_reply& x) {
  return f(x.tenant, x.quotas);
}

}  // namespace quiver
