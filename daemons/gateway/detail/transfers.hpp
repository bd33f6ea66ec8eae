#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "common/job_pool.hpp"

namespace quiver::gateway {

// Backups and restores: long jobs that block on the router a chunk or a page at
// a time, so they run on threads of their own, never on an I/O or actor thread.
// At most `max` hold a slot at once (each holds a scratch file as large as the
// index's backup); the others are answered 503.
class transfers {
 public:
  transfers(unsigned max, std::string scratch_dir);
  ~transfers();
  transfers(const transfers&) = delete;
  transfers& operator=(const transfers&) = delete;

  bool acquire();  // false: every slot is taken
  void release();
  // Releases a taken slot when the last copy is dropped (a reply that holds it
  // until sent); safe to outlive this object.
  std::shared_ptr<void> hold();
  // Runs `job` on a transfer thread; false when shutting down (the job is dropped).
  bool run(std::function<void()> job);
  // A fresh file name in the scratch directory.
  std::string scratch_path(const std::string& what);
  bool stopping() const { return pool_.stopping(); }
  // Running jobs see stopping() and end at their next chunk or page; joins them.
  void stop() { pool_.stop(); }

 private:
  unsigned max_;
  std::string dir_;
  std::shared_ptr<std::atomic<unsigned>> used_ = std::make_shared<std::atomic<unsigned>>(0);
  std::atomic<std::uint64_t> next_{0};
  job_pool pool_;
};

}  // namespace quiver::gateway
