#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "common/wire/cluster.hpp"

namespace quiver {

// What a tenant stores on this node, and the limits on it (0: unlimited).
struct stored_usage {
  std::int64_t vectors = 0;
  std::int64_t bytes = 0;  // vectors (4 bytes a component) + metadata text
};

// The vector and byte usage of every tenant on this node, shared by its index
// actors. Each shard adds what it holds once recovered and the exact change of
// every write: a write that grows usage first reserves its growth, so concurrent
// writes to a tenant's shards cannot overshoot together. Thread-safe: index
// actors call it from their own threads; one short critical section per write.
class usage_book {
 public:
  void set_limits(const std::string& tenant, std::uint64_t max_vectors, std::uint64_t max_bytes);
  // The tenant is gone: its limits go (its shards remove their own usage).
  void forget_limits(const std::string& tenant);

  // A shard of the tenant stops (+1) or starts again (-1) counting in its usage:
  // while one is recovering, the tenant's usage is not known.
  void uncounted_shards(const std::string& tenant, int change);

  // Reserves a write's growth (the positive parts of `change`), or fails with
  // quota_exceeded when usage plus reservations plus it would pass a limit, or
  // unavailable while a shard of a tenant with limits is being recounted.
  status reserve(const std::string& tenant, stored_usage change);
  // The reserved write was applied: usage changes by `change`, its reservation goes.
  void commit(const std::string& tenant, stored_usage change);
  // The reserved write was not applied here (failed, or left to a recovery).
  void release(const std::string& tenant, stored_usage change);
  // Usage that needs no reservation: a recovered shard's contents (or their
  // removal), and shrinking writes.
  void add(const std::string& tenant, stored_usage change);

  stored_usage usage(const std::string& tenant) const;

  // Cluster: what each tenant's primaries on the other nodes hold (a tenant not
  // named: nothing). reserve() counts it against the limits too, so a quota
  // holds for the cluster, give or take the writes other nodes take between two
  // heartbeats.
  void set_elsewhere(const std::vector<tenant_stored>& elsewhere);
  // Cluster: the limits of every tenant with a quota (any other: none).
  void set_all_limits(const std::vector<tenant_limits>& limits);
  // Every tenant's usage here (tenants with none left out).
  std::vector<tenant_stored> all_usage() const;

 private:
  struct account {
    stored_usage used;
    stored_usage reserved;
    stored_usage elsewhere;  // on other nodes (cluster)
    std::uint64_t max_vectors = 0;
    std::uint64_t max_bytes = 0;
    int uncounted = 0;  // shards whose contents are not in `used` yet
  };
  mutable std::mutex mutex_;
  std::map<std::string, account> accounts_;
};

}  // namespace quiver
