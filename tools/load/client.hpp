#pragma once
// An asynchronous keep-alive HTTP/1.1 client connection for the load harness:
// one request in flight at a time, reconnects after any error, every request
// bounded by a timeout. All callbacks run on the io_context's thread.

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace quiver::load {

struct endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string str() const { return host + ":" + std::to_string(port); }
};
// "host:port[,host:port...]"; throws std::invalid_argument on a malformed list.
std::vector<endpoint> parse_targets(const std::string& list);

struct http_result {
  int status = 0;     // 0: no response (connect/transport error or timeout)
  std::string error;  // why, when status is 0
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
  double ms = 0;            // request latency
};

enum class method { get, put, post, del };

class http_connection {
 public:
  using callback = std::function<void(http_result)>;
  http_connection(boost::asio::io_context& ioc, endpoint target, std::chrono::milliseconds timeout);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  // `body` is sent with `content_type` when non-empty.
  void request(method m, const std::string& target, std::string body, callback done,
               const std::string& content_type = "application/json");
  const endpoint& target() const { return target_; }
  // Sent with every later request (e.g. Authorization).
  void set_header(const std::string& name, const std::string& value);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
  endpoint target_;
};

// Percent-encodes a path segment (ids may hold any byte).
std::string encode_path_segment(const std::string& s);

}  // namespace quiver::load
