#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/log_record.hpp"

namespace quiver {

// Registry and index actors -> the storage actor: the catalog and the shard logs.

// What a node's storage has done since it opened; exported as metrics.
struct storage_stats {
  std::uint64_t appended_records = 0;
  std::uint64_t syncs = 0;
  std::uint64_t stale_epoch_rejections = 0;
  std::uint64_t torn_tails_repaired = 0;
  std::uint64_t torn_bytes_truncated = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, storage_stats& x) {
  return f(x.appended_records, x.syncs, x.stale_epoch_rejections, x.torn_tails_repaired,
           x.torn_bytes_truncated);
}

// Names one shard's files: the incarnation is the catalog seq of the index's
// create record, so a re-created index never reads its predecessor's log.
struct shard_ref {
  tenant_id tenant;
  std::string index;
  std::uint64_t incarnation = 0;
  shard_id shard;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_ref& x) {
  return f(x.tenant, x.index, x.incarnation, x.shard);
}

struct catalog_entry {
  tenant_id tenant;
  index_params params;
  std::uint64_t incarnation = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_entry& x) {
  return f(x.tenant, x.params, x.incarnation);
}

struct catalog_list_request {
  bool all = true;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_list_request& x) {
  return f(x.all);
}

// Storage -> registry: every tenant of the catalog.
struct catalog_tenants_request {
  bool all = true;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_tenants_request& x) {
  return f(x.all);
}

struct catalog_create_request {
  tenant_id tenant;
  index_params params;
  // Assigned by the cluster's catalog (etcd): storage mirrors that index. 0:
  // storage's own catalog decides (and names the incarnation).
  std::uint64_t incarnation = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_create_request& x) {
  return f(x.tenant, x.params, x.incarnation);
}

struct catalog_create_reply {
  catalog_entry entry;
  bool created = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_create_reply& x) {
  return f(x.entry, x.created);
}

struct catalog_drop_request {
  tenant_id tenant;
  std::string name;
  // Nonzero: only that incarnation (a newer one under the name stays; none left
  // is no error).
  std::uint64_t incarnation = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_drop_request& x) {
  return f(x.tenant, x.name, x.incarnation);
}

// Replica logs, a node -> its own storage: the shards it holds files of
// (std::vector<shard_ref>), and the deletion of one whose index lives on.
struct shard_list_request {
  bool all = true;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_list_request& x) {
  return f(x.all);
}
struct shard_drop_request {
  shard_ref ref;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_drop_request& x) {
  return f(x.ref);
}

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
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_open_request& x) {
  return f(x.ref, x.mode, x.epoch);
}

// Coordinator -> storage: a new epoch for the shard, at least `at_least` (the
// epoch the cluster's metadata store assigned); appends under every earlier one
// fail from now on. Replied with the new epoch.
struct shard_fence_request {
  shard_ref ref;
  std::uint64_t at_least = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_fence_request& x) {
  return f(x.ref, x.at_least);
}

struct shard_lease {
  std::uint64_t epoch = 0;
  seq_no last_seq;   // the newest record in the log
  seq_no first_seq;  // the oldest record still in the log (last_seq + 1 if none)
  std::string dir;   // the shard's directory; snapshots go to <dir>/snapshots
  // The epoch the record at last_seq was written under (0: none, or a log from
  // before epochs were tracked).
  std::uint64_t last_epoch = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_lease& x) {
  return f(x.epoch, x.last_seq, x.first_seq, x.dir, x.last_epoch);
}

// A replica -> its primary (and the primary -> its storage): how far the log
// agrees with a replica whose newest record was written under `epoch`. Replied
// with an epoch_end.
struct epoch_end_request {
  shard_ref ref;
  std::uint64_t epoch = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, epoch_end_request& x) {
  return f(x.ref, x.epoch);
}

// The newest epoch of the log at or below the one asked for, and the last seq
// written under it: a replica keeps its records up to `end` (at most) and cuts
// the rest, which no primary after that epoch wrote. epoch 0: none at or below
// it; `end` is then where the log's oldest epoch starts, less one.
struct epoch_end {
  std::uint64_t epoch = 0;
  seq_no end;
  seq_no first;  // the oldest record the log still holds (a snapshot covers the rest)
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, epoch_end& x) {
  return f(x.epoch, x.end, x.first);
}

// The epoch the log's record `seq` was written under (0: unknown). Replied with
// a std::uint64_t.
struct epoch_at_request {
  shard_ref ref;
  seq_no seq;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, epoch_at_request& x) {
  return f(x.ref, x.seq);
}

// A replica that loaded its primary's snapshot at `seq` (whose record `seq` was
// written under `epoch`): the log drops every record and goes on after `seq`.
// Replied with the shard's lease.
struct log_restart_request {
  shard_ref ref;
  seq_no seq;
  std::uint64_t epoch = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_restart_request& x) {
  return f(x.ref, x.seq, x.epoch);
}

// Cuts the shard log's records after `after` (a replica's divergent tail).
// Replied with the shard's lease as it stands then.
struct log_truncate_request {
  shard_ref ref;
  seq_no after;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_truncate_request& x) {
  return f(x.ref, x.after);
}

// Replied to once the records are durable (per the fsync policy).
struct log_append_request {
  shard_ref ref;
  std::uint64_t epoch = 0;
  std::vector<log_record> records;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_append_request& x) {
  return f(x.ref, x.epoch, x.records);
}

struct log_append_reply {
  seq_no last_seq;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_append_reply& x) {
  return f(x.last_seq);
}

struct log_read_request {
  shard_ref ref;
  seq_no after;
  std::uint64_t max_bytes = 16u << 20;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_read_request& x) {
  return f(x.ref, x.after, x.max_bytes);
}

struct log_chunk {
  std::vector<log_record> records;
  bool more = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_chunk& x) {
  return f(x.records, x.more);
}

// A durable snapshot covers every record below keep_from.
struct log_release_request {
  shard_ref ref;
  seq_no keep_from;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_release_request& x) {
  return f(x.ref, x.keep_from);
}

struct storage_stats_request {
  bool all = true;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, storage_stats_request& x) {
  return f(x.all);
}

}  // namespace quiver
