#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/runtime/router_client.hpp"
#include "common/config.hpp"
#include "common/metrics.hpp"

namespace quiver {

// One HTTP request as the gateway's session layer hands it over.
struct http_request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, still percent-encoded
  std::string content_type;
  std::string accept;
  std::string body;
  std::uint64_t request_id = 0;
};

struct http_reply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Translates REST requests (API.md) into router messages and replies into HTTP.
// Free of Beast and CAF: the session layer feeds it, the router_client answers it.
// handle() never blocks; `done` runs exactly once, on an I/O or actor thread.
class http_api {
 public:
  http_api(router_client& router, http_metrics& metrics, const server_config& config);

  void handle(http_request request, std::function<void(http_reply)> done);

 private:
  struct context;
  void dispatch(const std::shared_ptr<context>& ctx);
  std::string render_metrics(const tenant_id& tenant,
                             const expected<std::vector<index_description>>& indexes,
                             const expected<readiness_reply>& ready) const;

  router_client& router_;
  http_metrics& metrics_;
  server_config config_;
};

// Percent-decodes one path segment or query value; fails on malformed escapes.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace quiver
