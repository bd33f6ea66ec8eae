#pragma once

#include <cstdint>
#include <memory>

#include "common/config.hpp"
#include "common/status.hpp"
#include "daemons/gateway/http_api.hpp"

namespace quiver {

// The Beast HTTP/1.1 server: a fixed pool of I/O threads on one io_context, a
// strand per connection, keep-alive, requests answered in order (pipelining-safe:
// the next request is read only after the previous reply is written). A request
// is handed to http_api and the thread returns to I/O at once; the reply is posted
// back to the connection's strand. Stops on SIGINT/SIGTERM or stop().
class http_server {
 public:
  // With tls.enabled() it serves HTTPS only (mutual TLS with tls.client_ca).
  http_server(const server_config& config, http_api& api, const tls_config& tls = {});
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds and listens; fails when the address is taken or invalid, or a TLS file
  // cannot be used.
  status listen();
  std::uint16_t port() const;
  // Serves until stop() or a signal; returns after the I/O threads have joined.
  void run();
  // Thread-safe.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace quiver
