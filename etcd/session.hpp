#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "etcd/etcd_client.hpp"

namespace quiver::etcd {

// A lease kept alive by a thread of its own, renewed every TTL/3. The session is
// lost when a renewal finds the lease expired, or when no renewal succeeded for
// a whole TTL: `on_lost` then runs once, on the session's thread, and renewals
// stop. Whoever holds ownership through the lease must stop acting on it by
// valid_until() on its own clock, whatever etcd says later.
class session {
 public:
  using clock = std::chrono::steady_clock;

  // Grants the lease; fails when etcd cannot be reached.
  static expected<std::unique_ptr<session>> open(client& etcd, std::chrono::seconds ttl,
                                                 std::function<void(const status&)> on_lost);
  ~session();  // stops renewing and revokes the lease (best effort)
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  std::int64_t lease() const { return lease_; }
  bool lost() const;
  // The lease is certainly alive until then: the send time of the last renewal
  // etcd answered, plus the TTL it granted.
  clock::time_point valid_until() const;

 private:
  session(client& etcd, std::int64_t lease, std::chrono::seconds ttl, clock::time_point granted,
          std::function<void(const status&)> on_lost);
  void run();

  client& etcd_;
  const std::int64_t lease_;
  const std::chrono::seconds ttl_;
  std::function<void(const status&)> on_lost_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool lost_ = false;
  // Read without the mutex by writers checking their ownership per request.
  std::atomic<clock::rep> valid_until_;
  std::thread thread_;
};

// The outcome of a campaign for a key held under a lease.
struct campaign_result {
  bool won = false;
  std::string holder;                // the value of whoever holds the key now
  std::int64_t holder_lease = 0;     // and its lease
  std::int64_t create_revision = 0;  // of the key now: increases with every new holder
  std::int64_t revision = 0;         // the store's revision when decided
};

// Creates `key` = `value` under `lease` if nobody holds it, in one transaction
// (the key vanishes with its holder's lease). Otherwise reports the holder.
expected<campaign_result> campaign(client& etcd, const std::string& key, const std::string& value,
                                   std::int64_t lease);
// Deletes `key` if `lease` still holds it.
status resign(client& etcd, const std::string& key, std::int64_t lease);

}  // namespace quiver::etcd
