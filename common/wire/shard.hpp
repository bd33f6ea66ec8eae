#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/records.hpp"

namespace quiver {

// Router and registry <-> one index (shard) actor.

struct shard_stats_request {
  tenant_id tenant;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats_request& x) {
  return f(x.tenant);
}

struct shard_stats {
  std::uint64_t count = 0;
  std::uint64_t memory_bytes = 0;
  seq_no applied;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats& x) {
  return f(x.count, x.memory_bytes, x.applied);
}

// Router -> every shard primary of an index: what it has applied, so that a
// cached answer can tell whether any write landed since (the matrix cache).
struct index_version_request {
  tenant_id tenant;
  std::string index;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_version_request& x) {
  return f(x.tenant, x.index);
}

// One shard's reply has one `applied`; the router's has one per shard, in order.
struct index_version {
  std::uint64_t incarnation = 0;
  index_params params;
  std::vector<seq_no> applied;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_version& x) {
  return f(x.incarnation, x.params, x.applied);
}

// Router -> a shard's primary, for a backup: the newest snapshot, once it covers
// every write the primary had applied when asked (one is taken now if it does
// not). A shard that never took a write has none: seq 0, 0 bytes.
struct backup_prepare_request {
  tenant_id tenant;
  std::string index;
  std::uint32_t shard = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_prepare_request& x) {
  return f(x.tenant, x.index, x.shard);
}

struct backup_prepare_reply {
  seq_no seq;
  std::uint64_t bytes = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_prepare_reply& x) {
  return f(x.seq, x.bytes);
}

// Router -> a shard's primary: up to max_bytes of its snapshot at `seq` from
// `offset`, as a snapshot_chunk (not_found once a newer one replaced it).
struct backup_chunk_request {
  tenant_id tenant;
  std::string index;
  std::uint32_t shard = 0;
  seq_no seq;
  std::uint64_t offset = 0;
  std::uint64_t max_bytes = 4u << 20;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_chunk_request& x) {
  return f(x.tenant, x.index, x.shard, x.seq, x.offset, x.max_bytes);
}

// One page of a shard's vectors in id order, after `after` (a merge reads the
// source index page by page).
struct shard_export_request {
  tenant_id tenant;
  std::string after;
  std::uint32_t limit = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_export_request& x) {
  return f(x.tenant, x.after, x.limit);
}

struct shard_export {
  std::vector<upsert_item> items;
  bool more = false;
  std::string last_id;  // where the next page starts
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_export& x) {
  return f(x.items, x.more, x.last_id);
}

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
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_status_report& x) {
  return f(x.shard, x.state, x.reason, x.replayed_records, x.recovery_seconds, x.primary, x.epoch,
           x.applied);
}

}  // namespace quiver
