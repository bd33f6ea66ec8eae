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

#include "cluster/metadata_records.hpp"
#include "etcd/session.hpp"

namespace quiver {

// A vectord's registration in etcd: its node record under a lease it keeps
// alive (etcd::session). When the lease is lost (etcd unreachable for a whole
// TTL, or the lease expired during a pause) the node is no longer a member:
// `on_change(false)` runs and the node must stop acting as primary; the
// registration then tries again every second and calls `on_change(true)` once
// it is back. Plain, with a thread of its own.
class node_registration {
 public:
  using clock = std::chrono::steady_clock;
  // The lease's deadline, as steady_clock ticks (0: not registered), for writers
  // that check their ownership on every request without a lock.
  using deadline = std::atomic<clock::rep>;

  // Registers within `wait` (a key of the same name from another address is
  // waited out: a predecessor whose lease has not expired yet); fails after.
  // `deadline`: where to keep the lease deadline (null: a new one).
  static expected<std::unique_ptr<node_registration>> open(
      etcd::client& etcd, metadata_keys keys, node_record me, std::chrono::seconds ttl,
      std::chrono::milliseconds wait, std::function<void(bool)> on_change,
      std::shared_ptr<deadline> deadline = nullptr);
  ~node_registration();  // deregisters (revokes the lease)
  node_registration(const node_registration&) = delete;
  node_registration& operator=(const node_registration&) = delete;

  bool registered() const;
  std::shared_ptr<const deadline> lease_deadline() const { return deadline_; }
  std::int64_t lease() const;

 private:
  node_registration(etcd::client& etcd, metadata_keys keys, node_record me,
                    std::chrono::seconds ttl, std::function<void(bool)> on_change,
                    std::shared_ptr<deadline> deadline);
  // One attempt: a session and the key under it.
  status try_register();
  void run();

  etcd::client& etcd_;
  metadata_keys keys_;
  node_record me_;
  std::chrono::seconds ttl_;
  std::function<void(bool)> on_change_;
  std::shared_ptr<deadline> deadline_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unique_ptr<etcd::session> session_;
  std::thread thread_;
};

}  // namespace quiver
