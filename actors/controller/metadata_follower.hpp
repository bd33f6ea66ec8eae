#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "etcd/etcd_client.hpp"

namespace quiver {

// Follows every key under a prefix: ranges it, then watches from the next
// revision; on every change (and after every re-listing, since changes may have
// been missed while the watch was down) it calls `changed` on its own thread.
// When etcd cannot be reached it keeps trying every second; the caller keeps
// using what it last learned meanwhile.
class metadata_follower {
 public:
  metadata_follower(etcd::client& etcd, std::string prefix, std::function<void()> changed);
  ~metadata_follower();
  metadata_follower(const metadata_follower&) = delete;
  metadata_follower& operator=(const metadata_follower&) = delete;

 private:
  void run();

  etcd::client& etcd_;
  std::string prefix_;
  std::function<void()> changed_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool ended_ = false;  // the current watch is over
  std::thread thread_;
};

}  // namespace quiver
