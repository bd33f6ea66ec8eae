#include "tools/load/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace quiver::load {

namespace {

using clock_type = std::chrono::steady_clock;

http_result get(const endpoint& e, const std::string& path, std::chrono::milliseconds timeout) {
  boost::asio::io_context ioc;
  http_connection c(ioc, e, timeout);
  http_result out;
  c.request(method::get, path, {}, [&](http_result r) { out = std::move(r); });
  ioc.run_for(timeout + std::chrono::milliseconds(100));
  return out;
}

int get_status(const endpoint& e, const std::string& path, std::chrono::milliseconds timeout) {
  return get(e, path, timeout).status;
}

// Nodes /v1/cluster lists as up (each node entry carries "status"; shards and
// replicas do not).
std::size_t nodes_up(const std::string& body) {
  std::size_t n = 0;
  for (auto at = body.find("\"status\":\"up\""); at != std::string::npos;
       at = body.find("\"status\":\"up\"", at + 1))
    ++n;
  return n;
}

bool port_open(std::uint16_t port) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

}  // namespace

daemon_spec parse_daemon_spec(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument("--daemon wants NAME=COMMAND, got '" + spec + "'");
  daemon_spec d;
  d.name = spec.substr(0, eq);
  std::istringstream words(spec.substr(eq + 1));
  for (std::string w; words >> w;) d.argv.push_back(w);
  if (d.argv.empty()) throw std::invalid_argument("--daemon " + d.name + " has no command");
  for (std::size_t i = 0; i + 1 < d.argv.size(); ++i) {
    if (d.argv[i] == "--port") d.port = static_cast<std::uint16_t>(std::stoul(d.argv[i + 1]));
    // etcd: --listen-client-urls http://127.0.0.1:PORT (one URL).
    if (d.argv[i] == "--listen" || d.argv[i] == "--listen-client-urls") {
      auto& hp = d.argv[i + 1];
      d.port = static_cast<std::uint16_t>(std::stoul(hp.substr(hp.rfind(':') + 1)));
    }
  }
  if (d.port == 0)
    throw std::invalid_argument("--daemon " + d.name +
                                ": give it a fixed --port or --listen (restarts reuse it)");
  return d;
}

supervisor::supervisor(std::vector<daemon_spec> specs, std::string log_dir,
                       std::vector<endpoint> ready_targets, std::size_t cluster_nodes)
    : specs_(std::move(specs)),
      log_dir_(std::move(log_dir)),
      ready_targets_(std::move(ready_targets)),
      cluster_nodes_(cluster_nodes),
      pids_(specs_.size()) {
  for (auto& p : pids_) p = -1;
}

supervisor::~supervisor() {
  for (std::size_t i = 0; i < pids_.size(); ++i) kill(i);
}

void supervisor::start_all(std::chrono::seconds timeout) {
  for (std::size_t i = 0; i < specs_.size(); ++i) start(i, timeout);
  if (!wait_ready(timeout)) throw std::runtime_error("the system did not become ready");
}

void supervisor::start(std::size_t i, std::chrono::seconds timeout) {
  auto& d = specs_[i];
  auto log = log_dir_ + "/" + d.name + ".log";
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // No PR_SET_PDEATHSIG: it fires when the forking *thread* exits, and restarts
    // fork from the chaos thread. The daemons share the harness's process group,
    // so a Ctrl-C reaches them too; the supervisor's destructor kills the rest.
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : d.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  pids_[i] = pid;
  auto deadline = clock_type::now() + timeout;
  while (!port_open(d.port)) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      pids_[i] = -1;
      throw std::runtime_error(d.name + " exited at start; see " + log);
    }
    if (clock_type::now() > deadline)
      throw std::runtime_error(d.name + " did not listen on port " + std::to_string(d.port));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void supervisor::kill(std::size_t i) {
  pid_t pid = pids_[i].exchange(-1);
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

void supervisor::signal(std::size_t i, int sig) {
  if (pid_t pid = pids_[i]; pid > 0) ::kill(pid, sig);
}

bool supervisor::stop_all(std::chrono::seconds timeout) {
  bool clean = true;
  for (std::size_t k = specs_.size(); k-- > 0;) {
    if (pids_[k] <= 0) continue;
    ::kill(pids_[k], SIGCONT);
    ::kill(pids_[k], SIGTERM);
    auto deadline = clock_type::now() + timeout;
    int st = 0;
    while (::waitpid(pids_[k], &st, WNOHANG) == 0) {
      if (clock_type::now() > deadline) {
        clean = false;
        ::kill(pids_[k], SIGKILL);
        ::waitpid(pids_[k], &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pids_[k] = -1;
  }
  return clean;
}

bool supervisor::ready(std::chrono::milliseconds timeout) const {
  for (auto& t : ready_targets_)
    if (get_status(t, "/readyz", timeout) != 200) return false;
  if (cluster_nodes_ > 0 && !ready_targets_.empty()) {
    auto r = get(ready_targets_.front(), "/v1/cluster", timeout);
    if (r.status != 200 || nodes_up(r.body) < cluster_nodes_) return false;
  }
  return true;
}

bool supervisor::wait_ready(std::chrono::seconds timeout) const {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (ready(std::chrono::milliseconds(1000))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

std::size_t supervisor::rss(std::size_t i) const {
  pid_t pid = pids_[i];
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

chaos_monkey::chaos_monkey(supervisor& sup, chaos_options opt, std::uint64_t seed,
                           clock_type::time_point t0, double duration_s)
    : sup_(sup), opt_(std::move(opt)), rng_(seed ^ 0xc4a05), t0_(t0), duration_s_(duration_s) {}

double chaos_monkey::now_s() const {
  return std::chrono::duration<double>(clock_type::now() - t0_).count();
}

bool chaos_monkey::sleep_until(double t_s) {
  while (!stop_ && now_s() < t_s) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !stop_;
}

void chaos_monkey::run() {
  std::vector<std::size_t> pool;
  for (std::size_t i = 0; i < sup_.daemons().size(); ++i) {
    auto& name = sup_.daemons()[i].name;
    if (opt_.targets.empty() ||
        std::find(opt_.targets.begin(), opt_.targets.end(), name) != opt_.targets.end())
      pool.push_back(i);
  }
  if (pool.empty()) throw std::invalid_argument("--chaos-targets names no daemon");
  std::exponential_distribution<double> gap(1.0 / opt_.interval_s);
  std::uniform_real_distribution<double> coin(0, 1);
  double next = opt_.warmup_s;
  while (true) {
    if (next > duration_s_ - opt_.quiet_tail_s || !sleep_until(next)) return;
    auto i = pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng_)];
    bool stop = coin(rng_) < opt_.stop_probability;
    chaos_event e;
    e.target = sup_.daemons()[i].name;
    e.action = stop ? "stop" : "kill";
    e.at_s = now_s();
    std::size_t slot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
      slot = events_.size() - 1;
    }
    if (stop) {
      sup_.signal(i, SIGSTOP);
      std::this_thread::sleep_for(std::chrono::duration<double>(opt_.stop_s));
      sup_.signal(i, SIGCONT);
    } else {
      sup_.kill(i);
      std::this_thread::sleep_for(std::chrono::duration<double>(opt_.down_s));
      sup_.start(i, opt_.recovery_timeout);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_[slot].back_s = now_s();
    }
    bool ok = sup_.wait_ready(opt_.recovery_timeout);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ok) events_[slot].ready_s = now_s();
    }
    if (!ok) return;  // reported as "never recovered"; no further faults
    next = opt_.random ? now_s() + gap(rng_) : std::max(now_s(), next + opt_.interval_s);
  }
}

bool chaos_monkey::in_recovery_window(double t_s, double grace_s) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : events_)
    if (t_s >= e.at_s && (e.ready_s < 0 || t_s <= e.ready_s + grace_s)) return true;
  return false;
}

void chaos_monkey::count_error(double t_s, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = events_.rbegin(); it != events_.rend(); ++it)
    if (t_s >= it->at_s) {
      if (it->ready_s < 0 || t_s <= it->ready_s + 1.0) ++it->errors_by_status[status];
      return;
    }
}

std::vector<chaos_event> chaos_monkey::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

std::size_t chaos_monkey::faults() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

}  // namespace quiver::load
