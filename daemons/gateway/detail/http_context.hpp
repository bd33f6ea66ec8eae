#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/runtime/router_client.hpp"
#include "common/body_codec.hpp"
#include "common/config.hpp"
#include "common/metrics.hpp"
#include "daemons/gateway/http_api.hpp"
#include "daemons/gateway/tenant_gate.hpp"

namespace quiver {
class job_pool;
}
namespace quiver::matrix {
class result_cache;
class embedder_set;
}  // namespace quiver::matrix

namespace quiver::gateway {

// One request in flight through the gateway, from authentication to its reply.
// Shared by the handler and the router callbacks that finish it; reply() runs once.
struct http_context {
  http_request req;
  std::function<void(http_reply)> done;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  body_format in = body_format::json;
  body_format out = body_format::json;
  std::string route = "unmatched";  // the matched route's pattern: a metrics label
  http_metrics* metrics = nullptr;
  tenant_gate* gate = nullptr;
  tenant_id tenant = default_tenant();
  bool admin = false;                  // holds the admin key
  bool tenant_route = false;           // counted per tenant
  std::uint64_t rate = 0;              // the tenant's max_requests_per_s (0: unlimited)
  errc error = errc::ok;               // of the reply, when it is an error
  std::chrono::milliseconds delay{0};  // of the reply

  double elapsed_ms() const;
  void reply(int code, std::string body, std::string type = {},
             std::vector<std::pair<std::string, std::string>> headers = {});
  // Replies with a file's content as the body (the session layer removes it).
  void reply_file(int code, std::string path, std::string type,
                  std::vector<std::pair<std::string, std::string>> headers,
                  std::shared_ptr<void> hold);
  void fail(const status& st, int retry_after_s = 1);
  void send(http_reply r);  // metrics, log, done
  void not_allowed(const std::string& allow);

  // Replies with the result's value rendered by `render`, or with its error.
  template <class T, class Render>
  void answer(expected<T>& result, Render&& render, int code = 200) {
    if (!result) return fail(result.error());
    reply(code, render(*result));
  }
};

using context_ptr = std::shared_ptr<http_context>;

class transfers;

// What handlers use besides the request: one per http_api.
struct services {
  router_client& router;
  http_metrics& metrics;
  const server_config& config;
  tenant_gate& gate;
  bool auth_on;
  transfers& jobs;                        // backups and restores
  matrix::result_cache& cache;            // matrix search answers
  job_pool& embedding;                    // texts are embedded here, off the I/O and actor threads
  const matrix::embedder_set& embedders;  // hash-v1 and the configured embedders
};

// A matched route's path parameters (percent-decoded, in pattern order) and the
// raw query string.
struct route_args {
  std::vector<std::string> params;
  std::string_view query;
};

using route_handler = void (*)(services&, const context_ptr&, const route_args&);

// The key=value pairs of a query string, percent-decoded, in order (a key
// without '=' has an empty value); invalid_argument on a malformed escape.
expected<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

// The media type of a Content-Type value, lowercased, without parameters.
std::string media_type(std::string_view header);
bool is_msgpack(std::string_view media);
// Fails the request with 415 unless its body is JSON or MessagePack (or untyped).
bool body_ok(const context_ptr& ctx);
// Fails the request with 404 index_not_found for a name no index can have.
bool index_name_ok(const context_ptr& ctx, const std::string& name);
// The body as JSON text (a MessagePack body is translated).
expected<std::string> json_body(const context_ptr& ctx);

}  // namespace quiver::gateway
