#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/runtime/router_client.hpp"
#include "common/config.hpp"
#include "common/metrics.hpp"
#include "daemons/gateway/tenant_gate.hpp"

namespace quiver {

namespace gateway {
struct http_context;
struct services;
enum class access : int;
}  // namespace gateway

// One HTTP request as the gateway's session layer hands it over.
struct http_request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, still percent-encoded
  std::string content_type;
  std::string accept;
  std::string body;
  std::string authorization;  // the Authorization header, as sent
  std::uint64_t request_id = 0;
  // A route that takes a file (a restore): the body is streamed here instead of
  // into `body`; the session layer removes it after the reply.
  std::string body_file;
};

struct http_reply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Hold the reply this long before sending it (rate-limited requests).
  std::chrono::milliseconds delay{0};
  // Non-empty: the body is this file's content (a backup); the session layer
  // removes the file once it has opened it.
  std::string body_file;
  // Kept until the reply is sent, then dropped (e.g. what releases a backup's slot).
  std::shared_ptr<void> hold;
};

// What the session layer does with a request's body, decided from its head.
struct upload_plan {
  bool to_file = false;  // stream the body into `path` (a transfer slot is held)
  std::string path;
  std::uint64_t max_bytes = 0;
  std::optional<http_reply> refuse;  // answer this instead of reading the body
};

class job_pool;
namespace gateway {
class transfers;
}
namespace matrix {
class result_cache;
class embedder_set;
}  // namespace matrix

// Translates REST requests (API.md) into router messages and replies into HTTP.
// Free of Beast and CAF: the session layer feeds it, the router_client answers it.
// handle() never blocks; `done` runs exactly once, on an I/O or actor thread.
//
// With auth on (an admin key configured) every route but /healthz and /readyz
// needs a key: the admin key for /v1/admin/* and /metrics, a tenant's key for
// the index routes, whose tenant it selects. Keys are compared as SHA-256 hashes
// and resolved through the registry (cached per auth.key_cache_ms); each
// tenant's request rate is limited here by a token bucket.
class http_api {
 public:
  // `embedders`: hash-v1 and the configured ones (null: hash-v1 only).
  http_api(router_client& router, http_metrics& metrics, const server_config& config,
           const auth_config& auth = {},
           std::shared_ptr<const matrix::embedder_set> embedders = nullptr);
  ~http_api();

  void handle(http_request request, std::function<void(http_reply)> done);

  // Called with a request's head, before its body is read: whether the body goes
  // to a file (a restore), or is refused at once (no transfer slot free, or no
  // key while auth is on: nothing unauthenticated fills the disk). After a
  // to_file plan, end_upload(plan) runs once the request is answered or dropped.
  upload_plan plan_upload(std::string_view method, std::string_view target,
                          std::string_view authorization);
  void end_upload(const upload_plan& plan);
  http_metrics& metrics() { return metrics_; }
  // Ends running backups and restores (each answers 503); call while the actors
  // still run, so that the router calls they wait on complete.
  void shutdown();

 private:
  using context = gateway::http_context;
  // Resolves who sends the request, then dispatches it.
  void authenticate(const std::shared_ptr<context>& ctx);
  // Matches the route table (daemons/gateway/http_api.cpp), checks access, method,
  // name and body type, and hands the request to the route's handler.
  void dispatch(const std::shared_ptr<context>& ctx);
  bool admit(const std::shared_ptr<context>& ctx, gateway::access who);

  router_client& router_;
  http_metrics& metrics_;
  server_config config_;
  std::string admin_key_hash_;  // empty: auth off
  tenant_gate gate_;
  std::unique_ptr<gateway::transfers> transfers_;
  std::unique_ptr<matrix::result_cache> cache_;
  std::shared_ptr<const matrix::embedder_set> embedders_;
  std::unique_ptr<job_pool> embedding_;
  std::unique_ptr<gateway::services> services_;
};

// Percent-decodes one path segment or query value; fails on malformed escapes.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace quiver
