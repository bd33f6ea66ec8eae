#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace quiver {

// A few threads for work that blocks for long (loading and writing snapshots,
// replaying logs), so it never occupies an actor scheduler thread. Jobs report
// back by sending a message to the actor that posted them.
class job_pool {
 public:
  // nice > 0: the threads run at that lower CPU priority (Linux, per thread).
  explicit job_pool(unsigned threads, int nice = 0);
  ~job_pool();  // stop()s
  job_pool(const job_pool&) = delete;
  job_pool& operator=(const job_pool&) = delete;

  // Returns false (and drops the job) once the pool is stopping.
  bool post(std::function<void()> job);
  // Drops queued jobs, lets running ones finish, joins the threads.
  void stop();
  // Running jobs poll this to give up early on shutdown.
  bool stopping() const;

 private:
  void work(int nice);

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace quiver
