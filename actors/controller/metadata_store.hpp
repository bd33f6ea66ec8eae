#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/metadata_records.hpp"
#include "common/status.hpp"
#include "etcd/etcd_client.hpp"
#include "etcd/session.hpp"

namespace quiver {

// The cluster's ownership metadata in etcd, as the controller reads and writes
// it. Plain and blocking; one thread uses it (the controller's metadata worker).
//
// Every write is one transaction that holds only if (1) this process still holds
// the controller key it won (its create_revision is unchanged: a controller that
// lost its lease while paused can write nothing) and (2) the shard record is
// still at the revision this store last read or wrote (no other writer came in
// between). A primary change also bumps the record's epoch in that transaction,
// so epochs are handed out once each, in order.
class metadata_store {
 public:
  struct shard_entry {
    shard_record record;
    std::int64_t revision = 0;  // mod_revision in etcd; 0: no record yet
  };
  struct node_listing {
    std::vector<node_record> nodes;
    std::int64_t revision = 0;  // watch from revision + 1
  };

  metadata_store(etcd::client& etcd, metadata_keys keys);

  // Campaigns for the controller key under `lease` (an etcd::session's). True
  // when this process holds it (it may already have). A key held by a record
  // with our name and address is our killed predecessor's (the caller holds
  // what makes that identity unique: storaged's data dir lock and port; not for
  // a wildcard host or port 0) and is taken over at once instead of waiting out
  // its lease.
  expected<bool> campaign(const controller_record& me, std::int64_t lease);
  bool leading() const { return leader_revision_ != 0; }
  // Who holds the controller key, if anyone.
  expected<std::optional<controller_record>> controller();

  // Every shard record, by its ref's key text (metadata_keys::shard). Records
  // this build cannot read are an error, not skipped: ownership must be known.
  expected<std::map<std::string, shard_entry>> load_shards();
  // Writes `record`; errc::stale_epoch when the record changed since this store
  // saw it (the cache is refreshed: read shard() and decide again) or when this
  // process no longer leads (leading() turns false).
  expected<shard_entry> write_shard(const shard_ref& ref, shard_record record);
  // A primary change: `primary` under the record's epoch + 1 (at least `floor`,
  // an epoch storage already gave out).
  expected<shard_entry> fence(const shard_ref& ref, const std::string& primary,
                              std::vector<std::string> replicas, std::uint64_t floor);
  status erase_shard(const shard_ref& ref);
  // The record as this store last saw it.
  const shard_entry* shard(const shard_ref& ref) const;

  expected<node_listing> list_nodes();

  const metadata_keys& keys() const { return keys_; }

  // The condition every write of this controller carries: it still holds the
  // controller key it won.
  etcd::compare leadership() const;
  // After a fenced transaction failed: whether the controller key as that
  // transaction read it is still ours. When not, leading() turns false.
  bool still_leading(const etcd::range_result& controller_key);

 private:
  expected<shard_entry> write(const std::string& key, shard_record record);

  etcd::client& etcd_;
  metadata_keys keys_;
  std::int64_t leader_revision_ = 0;  // create_revision of the controller key we hold
  std::map<std::string, shard_entry> shards_;
};

}  // namespace quiver
