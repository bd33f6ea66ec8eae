#pragma once
// A real etcd member for tests: started on free loopback ports in a temporary
// data dir (no fsync: tests only), stopped (SIGKILL) with the fixture.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "etcd/etcd_client.hpp"

namespace quiver::testing {

// A port the kernel hands out now (free unless someone takes it meanwhile).
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// HTTPS for a test member (PEM files): the member serves `cert`, requires a
// client certificate `ca` signed, and the fixture's clients present `client_*`.
struct etcd_tls_files {
  std::string ca, cert, key, client_cert, client_key;
};

class etcd_process {
 public:
  explicit etcd_process(etcd_tls_files tls = {}) : tls_(std::move(tls)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("quiver-etcd-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    client_port_ = free_port();
    peer_port_ = free_port();
    start();
  }
  ~etcd_process() {
    kill(SIGKILL);
    std::filesystem::remove_all(dir_);
  }
  etcd_process(const etcd_process&) = delete;
  etcd_process& operator=(const etcd_process&) = delete;

  etcd::endpoint endpoint() const { return {"127.0.0.1", client_port_}; }
  etcd::client_options options() const {
    etcd::client_options o;
    o.endpoints = {endpoint()};
    o.dial_timeout = std::chrono::milliseconds(500);
    o.request_timeout = std::chrono::milliseconds(1500);
    o.retries = 1;
    o.watch_idle_timeout = std::chrono::milliseconds(3000);
    o.ca = tls_.ca;
    o.cert = tls_.client_cert;
    o.key = tls_.client_key;
    return o;
  }
  // SIGSTOP returns once the process is stopped: kill() only queues the signal,
  // and a member still running could answer one more request.
  void signal(int sig) const {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    if (sig != SIGSTOP) return;
    for (int i = 0; i < 200 && !stopped(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  bool stopped() const {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto end = line.rfind(')');
    return end != std::string::npos && end + 2 < line.size() && line[end + 2] == 'T';
  }
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Starts it again on the same ports and data.
  void start() {
    std::string client = (tls_.ca.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
                         std::to_string(client_port_);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {"etcd",
                                     "--logger=zap",
                                     "--log-level=error",
                                     "--name=t",
                                     "--data-dir=" + (dir_ / "data").string(),
                                     "--listen-client-urls=" + client,
                                     "--advertise-client-urls=" + client,
                                     "--listen-peer-urls=" + peer,
                                     "--initial-advertise-peer-urls=" + peer,
                                     "--initial-cluster=t=" + peer,
                                     "--unsafe-no-fsync",
                                     "--experimental-watch-progress-notify-interval=1s"};
    if (!tls_.ca.empty())
      for (const std::string& a :
           {"--cert-file=" + tls_.cert, "--key-file=" + tls_.key, std::string("--client-cert-auth"),
            "--trusted-ca-file=" + tls_.ca})
        args.push_back(a);
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = (dir_ / "etcd.log").string();
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("etcd", argv.data());
      ::_exit(127);
    }
    auto c = etcd::make_http_client(options());
    for (int i = 0; i < 100; ++i) {  // at most ~10 s
      if (c->range("ready?")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("etcd did not start (is etcd-server installed?)");
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  etcd_tls_files tls_;
  std::filesystem::path dir_;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace quiver::testing
