#pragma once
// Starts the daemons of the system under test, kills/stops/restarts them, and
// injects faults on a schedule (chaos mode). Blocking; the chaos loop runs on its
// own thread.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "tools/load/client.hpp"
#include "tools/load/report.hpp"

namespace quiver::load {

struct daemon_spec {
  std::string name;
  std::vector<std::string> argv;
  // The TCP port it listens on (from --port, --listen or etcd's --listen-client-urls),
  // waited for after a start.
  std::uint16_t port = 0;
};
// "NAME=COMMAND ARGS..." (split on spaces).
daemon_spec parse_daemon_spec(const std::string& spec);

class supervisor {
 public:
  // cluster_nodes > 0: ready also needs that many nodes up in /v1/cluster (a
  // restarted vectord has rejoined; an index made before every node joined
  // would move once they do).
  supervisor(std::vector<daemon_spec> specs, std::string log_dir,
             std::vector<endpoint> ready_targets, std::size_t cluster_nodes = 0);
  ~supervisor();  // SIGKILLs whatever still runs
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  const std::vector<daemon_spec>& daemons() const { return specs_; }
  // Starts every daemon in order (each once its predecessor listens), then waits
  // until every ready target answers /readyz 200. Throws on failure.
  void start_all(std::chrono::seconds timeout);
  void start(std::size_t i, std::chrono::seconds timeout);
  void kill(std::size_t i);  // SIGKILL, reaped
  void signal(std::size_t i, int sig);
  // SIGTERM in reverse order; returns false when one had to be killed.
  bool stop_all(std::chrono::seconds timeout);
  // Every /readyz says 200 (and the cluster has its nodes up).
  bool ready(std::chrono::milliseconds timeout) const;
  bool wait_ready(std::chrono::seconds timeout) const;
  std::size_t rss(std::size_t i) const;

 private:
  std::vector<daemon_spec> specs_;
  std::string log_dir_;
  std::vector<endpoint> ready_targets_;
  std::size_t cluster_nodes_ = 0;
  // Written by the chaos thread, read by the RSS sampler and the main thread.
  std::vector<std::atomic<pid_t>> pids_;
};

struct chaos_options {
  bool enabled = false;
  bool random = true;  // exponential gaps with mean `interval_s`; else periodic
  double interval_s = 5;
  double warmup_s = 3;          // no fault before this
  double quiet_tail_s = 5;      // no fault in the last seconds of the run
  double down_s = 0.5;          // a killed daemon stays down this long
  double stop_probability = 0;  // a fault is SIGSTOP (for stop_s) instead of SIGKILL
  double stop_s = 2;
  std::vector<std::string> targets;  // daemon names to pick from (empty: all)
  std::chrono::seconds recovery_timeout{120};
};

// The fault schedule, run on its own thread against a supervisor. Events are
// readable (under the lock) while it runs, so the load engine can tell whether a
// failure happened inside a recovery window.
class chaos_monkey {
 public:
  chaos_monkey(supervisor& sup, chaos_options opt, std::uint64_t seed,
               std::chrono::steady_clock::time_point t0, double duration_s);
  // Runs until the schedule ends or stop() is called; the system is ready (or the
  // recovery timed out, which is recorded) when it returns.
  void run();
  void stop() { stop_ = true; }

  // Seconds since t0; grace extends each window past readiness (reconnects).
  bool in_recovery_window(double t_s, double grace_s) const;
  void count_error(double t_s, int status);
  std::vector<chaos_event> events() const;
  std::size_t faults() const;

 private:
  bool sleep_until(double t_s);
  double now_s() const;

  supervisor& sup_;
  chaos_options opt_;
  std::mt19937_64 rng_;
  std::chrono::steady_clock::time_point t0_;
  double duration_s_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<chaos_event> events_;
};

}  // namespace quiver::load
