#pragma once
// Helpers shared by the benchmark programs: a blocking HTTP client, starting and
// stopping a server process, timing.

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <msgpack.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * double(v.size())))];
}

inline std::size_t rss_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

inline std::uint16_t free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

class sync_client {
 public:
  explicit sync_client(std::uint16_t port) : stream_(ioc_) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> call(http::verb verb, const std::string& target,
                                         std::string body = {},
                                         const std::string& type = "application/json") {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, type);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(stream_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    http::read(stream_, buffer_, parser);
    return parser.release();
  }

 private:
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// A server process started with fork/exec; stop() sends a signal and reaps it.
class server_process {
 public:
  server_process(const std::string& bin, std::vector<std::string> args) {
    pid_ = fork();
    if (pid_ == 0) {
      args.insert(args.begin(), bin);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~server_process() { stop(SIGKILL); }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  pid_t pid() const { return pid_; }
  void stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// Connects once the server accepts connections (bounded: 60 s).
inline std::unique_ptr<sync_client> connect_when_up(std::uint16_t port) {
  for (int i = 0; i < 6000; ++i) {
    try {
      return std::make_unique<sync_client>(port);
    } catch (...) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  throw std::runtime_error("the server did not start");
}

// One keep-alive connection sending requests back to back until the deadline;
// `make(req, n)` fills the n-th request of this connection. Latencies of 200s are
// recorded (ms); anything else counts as an error and ends the connection.
class load_connection : public std::enable_shared_from_this<load_connection> {
 public:
  using request = http::request<http::string_body>;
  load_connection(net::io_context& ioc, std::uint16_t port,
                  std::function<void(request&, std::size_t)> make, clock_type::time_point deadline,
                  std::vector<double>& latencies, std::size_t& errors)
      : stream_(ioc),
        port_(port),
        make_(std::move(make)),
        deadline_(deadline),
        latencies_(latencies),
        errors_(errors) {
    buffer_.reserve(64 * 1024);  // a consumed flat_buffer never grows past 512 bytes
  }

  void start() {
    stream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                          [self = shared_from_this()](beast::error_code ec) {
                            if (ec) return void(++self->errors_);
                            self->send();
                          });
  }

 private:
  void send() {
    if (clock_type::now() >= deadline_) return;
    req_ = {};
    req_.version(11);
    req_.set(http::field::host, "127.0.0.1");
    req_.set(http::field::content_type, "application/json");
    make_(req_, sent_++);
    req_.prepare_payload();
    start_ = clock_type::now();
    http::async_write(
        stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return void(++self->errors_);
          self->res_ = {};
          http::async_read(self->stream_, self->buffer_, self->res_,
                           [self](beast::error_code ec, std::size_t) {
                             if (ec || self->res_.result_int() != 200) return void(++self->errors_);
                             self->latencies_.push_back(seconds_since(self->start_) * 1000);
                             self->send();
                           });
        });
  }

  beast::tcp_stream stream_;
  std::uint16_t port_;
  std::function<void(request&, std::size_t)> make_;
  clock_type::time_point deadline_;
  std::vector<double>& latencies_;
  std::size_t& errors_;
  std::size_t sent_ = 0;
  beast::flat_buffer buffer_;
  request req_;
  http::response<http::string_body> res_;
  clock_type::time_point start_;
};

// A JSON search body for vector `v` with k=10 and `ef`; `extra` adds fields
// (",\"filter\":{...}").
inline std::string search_body(const float* v, std::size_t dim, int ef,
                               const std::string& extra = {}) {
  std::string s = "{\"k\":10,\"ef\":" + std::to_string(ef) + ",\"include_metadata\":false" + extra +
                  ",\"vector\":[";
  for (std::size_t d = 0; d < dim; ++d) {
    if (d) s += ',';
    fmt::format_to(std::back_inserter(s), "{}", v[d]);
  }
  return s + "]}";
}

// The ids of a search answer's results (ids are decimal numbers), in order.
inline std::vector<std::size_t> parse_ids(const std::string& body) {
  std::vector<std::size_t> out;
  for (auto pos = body.find("\"id\":\""); pos != std::string::npos;
       pos = body.find("\"id\":\"", pos + 1))
    out.push_back(std::stoull(body.substr(pos + 6)));
  return out;
}

// Upserts vectors 0..n-1 (ids "0".."n-1") into `index` in batches of 1,000, as
// MessagePack with bin vectors (the bulk path).
// `metadata(pk, i)`, when given, packs item i's metadata (one MessagePack object).
using metadata_packer = std::function<void(msgpack::packer<msgpack::sbuffer>&, std::size_t)>;
// Points [first, n) of base, as ids "first".."n-1".
inline void bulk_upsert(sync_client& c, const std::string& index, const float* base,
                        std::size_t dim, std::size_t n, const metadata_packer& metadata = {},
                        std::size_t first = 0) {
  constexpr std::size_t batch = 1000;
  for (std::size_t start = first; start < n; start += batch) {
    auto end = std::min(n, start + batch);
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(1);
    pk.pack(std::string("items"));
    pk.pack_array(static_cast<std::uint32_t>(end - start));
    for (auto i = start; i < end; ++i) {
      pk.pack_map(metadata ? 3 : 2);
      pk.pack(std::string("id"));
      pk.pack(std::to_string(i));
      pk.pack(std::string("vector"));
      pk.pack_bin(static_cast<std::uint32_t>(dim * 4));
      pk.pack_bin_body(reinterpret_cast<const char*>(base + i * dim),
                       static_cast<std::uint32_t>(dim * 4));
      if (metadata) {
        pk.pack(std::string("metadata"));
        metadata(pk, i);
      }
    }
    auto res = c.call(http::verb::post, "/v1/indexes/" + index + "/vectors",
                      std::string(buf.data(), buf.size()), "application/msgpack");
    if (res.result_int() != 200) throw std::runtime_error("upsert failed: " + res.body());
  }
}

}  // namespace bench
