#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "actors/storage/shard_log.hpp"
#include "common/env.hpp"
#include "common/status.hpp"
#include "common/wire/storage.hpp"
#include "common/wire/tenants.hpp"

namespace quiver {

struct storage_options {
  std::string data_dir;
  shard_log_options log;
};

// The durable state of one node: the catalog (which indexes exist) and one
// shard_log per shard, under one data directory:
//
//   <data>/catalog/                         catalog log (create/drop index records)
//   <data>/indexes/<tenant>/<index>@<incarnation>/<shard>/
//       log/      the shard log
//       EPOCH     the epoch of the shard's current writer
//       snapshots/  written by the index actor that owns the shard
//
// The incarnation is the catalog seq of the create record, so a dropped and
// re-created index never sees its predecessor's files. Not thread-safe: owned by
// one storage actor. Appends are not durable until sync(), which the actor calls
// once per group of appends (group commit).
class storage_engine {
 public:
  static expected<std::unique_ptr<storage_engine>> open(env& e, storage_options options);

  std::vector<catalog_entry> catalog() const;
  std::vector<tenant_record> tenants() const;

  // Tenants (durable on return). The tenant `default` (auth off) needs no record;
  // every other tenant must exist before it can own an index. Creating `default`
  // gives the indexes made with auth off a key (and quotas) once auth is on.
  status create_tenant(const tenant_record& t);
  status set_tenant_key(const std::string& name, const std::string& key_hash);
  // Drops the tenant and every index it owns, with their logs and snapshots.
  status drop_tenant(const std::string& name);
  // Durable on return. An existing index with the same params is returned as is
  // (created = false); with other params it is `index_exists`. A tenant at its
  // max_indexes gets `quota_exceeded`. A nonzero `incarnation` mirrors an index
  // of the cluster's catalog, which checked tenants and quotas: it replaces (drops)
  // an older incarnation under that name.
  expected<std::pair<catalog_entry, bool>> create_index(const tenant_id& tenant,
                                                        const index_params& params,
                                                        std::uint64_t incarnation = 0);
  // Durable on return; deletes the index's logs and snapshots. A nonzero
  // `incarnation` drops only that one: another (or none) under the name is left
  // as it is, successfully.
  status drop_index(const tenant_id& tenant, const std::string& name,
                    std::uint64_t incarnation = 0);

  // The shards of the catalog's indexes this node holds files of.
  std::vector<shard_ref> stored_shards() const;
  // Deletes one shard's files (log, epochs, snapshots) while its index lives on
  // (replica logs: the shard moved to other nodes). The directory is renamed
  // aside first, so a crash leaves the shard whole or gone, never part of a
  // log; the next open removes what is left. No error when there is none.
  status drop_shard(const shard_ref& ref);

  // claim: makes the caller the shard's writer under a new epoch (persisted),
  // fencing every earlier writer. hold: the caller writes under `epoch`, which a
  // fence() or the metadata store gave it (a newer one is adopted); fails with a
  // stale-epoch error if a newer one exists. follow:
  // the shard's position for a reader; epochs untouched.
  expected<shard_lease> open_shard(const shard_ref& ref, open_mode mode = open_mode::claim,
                                   std::uint64_t epoch = 0);
  // A new epoch (persisted) for the coordinator to hand to the next primary: the
  // current one + 1, or `at_least` if that is higher (an epoch the cluster's
  // metadata store assigned).
  expected<std::uint64_t> fence(const shard_ref& ref, std::uint64_t at_least = 0);
  // Writes records (not yet durable). Fails with `stale_epoch` on a stale epoch.
  // REQUIRES: the records follow the log's last seq without a gap.
  status append(const shard_ref& ref, std::uint64_t epoch, const std::vector<log_record>& records);
  // Makes every append so far durable. A shard whose fsync fails keeps the failure
  // (see failure()) and acknowledges nothing more until its writer reopens it with
  // open_shard(), which reads its log anew from the disk.
  status sync();
  // Why the shard's last append or sync failed, until its writer reopened it.
  status failure(const shard_ref& ref) const;
  expected<log_chunk> read(const shard_ref& ref, seq_no after, std::size_t max_bytes);
  // A snapshot covers everything below `keep_from`: older log segments may go.
  status release_before(const shard_ref& ref, seq_no keep_from);
  // Cuts the records after `after` off the log (durable on return).
  expected<shard_lease> truncate_after(const shard_ref& ref, seq_no after);
  // How far this log agrees with one whose newest record has `epoch` (see
  // epoch_end in common/wire/storage.hpp).
  expected<epoch_end> end_of_epoch(const shard_ref& ref, std::uint64_t epoch);
  // The epoch record `seq` was written under (0: unknown).
  expected<std::uint64_t> epoch_at(const shard_ref& ref, seq_no seq);
  // Drops every record; the log goes on after `seq`, whose record had `epoch`
  // (durable on return).
  expected<shard_lease> restart_at(const shard_ref& ref, seq_no seq, std::uint64_t epoch);

  const storage_stats& counters() const { return counters_; }
  std::string shard_dir(const shard_ref& ref) const;

 private:
  // Where each epoch's records start in the log (the file EPOCHS): a replica
  // following a new primary learns from it which of its records no primary
  // after their epoch wrote.
  struct epoch_start {
    std::uint64_t epoch = 0;
    seq_no first;
  };
  struct shard_state {
    std::unique_ptr<shard_log> log;
    std::uint64_t epoch = 0;
    bool dirty = false;
    status failure;  // of the last append or sync, until the writer reopens
    std::vector<epoch_start> epochs;
    // False for a log written before EPOCHS existed: read from the log when needed.
    bool epochs_known = true;
  };
  using index_key = std::pair<std::string, std::string>;  // (tenant, index)
  using shard_key = std::tuple<std::string, std::string, std::uint64_t, std::uint32_t>;

  storage_engine(env& e, storage_options options);
  status append_catalog(log_record r);
  std::string index_dir(const tenant_id& tenant, const std::string& name,
                        std::uint64_t incarnation) const;
  // The open shard, opening its log on first use; fails for shards of indexes the
  // catalog does not hold.
  expected<shard_state*> shard(const shard_ref& ref);
  expected<std::unique_ptr<shard_log>> open_log(const shard_ref& ref);
  // Forgets the open shards of an index (all of the tenant's when name is empty).
  void close_shards(const std::string& tenant, const std::string& name);
  status apply_tenant_record(log_record& r);
  status remove_stale_dirs();
  status bump_epoch(const shard_ref& ref, shard_state& state, std::uint64_t at_least = 0);
  status load_epochs(const shard_ref& ref, shard_state& state);
  status save_epochs(const shard_ref& ref, const shard_state& state);
  shard_lease lease_of(const shard_ref& ref, const shard_state& state) const;

  env& env_;
  storage_options options_;
  std::unique_ptr<shard_log> catalog_log_;
  std::map<index_key, catalog_entry> catalog_;
  std::map<std::string, tenant_record> tenants_;
  std::map<shard_key, shard_state> shards_;
  storage_stats counters_;
};

}  // namespace quiver
