#include "actors/controller/metadata_follower.hpp"

#include <spdlog/spdlog.h>

namespace quiver {

metadata_follower::metadata_follower(etcd::client& etcd, std::string prefix,
                                     std::function<void()> changed)
    : etcd_(etcd), prefix_(std::move(prefix)), changed_(std::move(changed)) {
  thread_ = std::thread([this] { run(); });
}

metadata_follower::~metadata_follower() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void metadata_follower::run() {
  bool warned = false;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    auto listing = etcd_.range(prefix_, etcd::prefix_end(prefix_), 1);
    std::unique_ptr<etcd::watch_stream> watch;
    if (listing) {
      if (warned) spdlog::info("following the cluster's metadata in etcd again");
      warned = false;
      changed_();
      watch = etcd_.watch(prefix_, etcd::prefix_end(prefix_), listing->revision + 1,
                          [this](const etcd::watch_update& u) {
                            if (!u.ended.ok()) {
                              std::lock_guard<std::mutex> l(mutex_);
                              ended_ = true;
                              wake_.notify_all();
                              return;
                            }
                            changed_();
                          });
    } else if (!warned) {
      spdlog::warn("cannot follow the cluster's metadata in etcd ({}); serving the map as it was",
                   listing.error().message);
      warned = true;
    }
    lock.lock();
    if (watch) {
      wake_.wait(lock, [this] { return stopping_ || ended_; });
      ended_ = false;
      lock.unlock();
      watch.reset();  // joins its thread; never under the lock its callback takes
      lock.lock();
    }
    if (!stopping_) wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

}  // namespace quiver
