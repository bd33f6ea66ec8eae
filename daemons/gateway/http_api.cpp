#include "daemons/gateway/http_api.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>

#include "common/api_keys.hpp"
#include "common/job_pool.hpp"
#include "common/response_codec.hpp"
#include "common/vector_validation.hpp"
#include "daemons/gateway/detail/handlers.hpp"
#include "daemons/gateway/detail/transfers.hpp"
#include "daemons/gateway/openapi.hpp"
#include "matrix/embedder.hpp"
#include "matrix/result_cache.hpp"

namespace quiver {

namespace {

// Embedding a matrix search's text (hash-v1: tens of microseconds) runs here.
constexpr unsigned kEmbeddingThreads = 2;

}  // namespace

namespace gateway {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The method as a metrics label: one of the methods HTTP defines, else "other".
std::string_view method_label(std::string_view method) {
  static constexpr std::string_view known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                               "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (auto m : known)
    if (m == method) return m;
  return "other";
}

}  // namespace

// Who may call a route.
enum class access : int {
  open,        // anyone, also without a key
  operations,  // the admin key when auth is on (node addresses, every tenant's names)
  admin,       // the admin key; auth must be on
  tenant,      // a tenant's key, whose tenant it selects; rate-limited and counted
};

namespace {

struct route_method {
  std::string_view method;
  route_handler handler;
  bool takes_body = false;  // its Content-Type must be JSON or MessagePack
  bool takes_file = false;  // its body (any size up to max_restore_bytes) goes to a file
};

// A path pattern ("/v1/indexes/{name}/vectors/{id}": literal segments and
// parameters) with the methods it answers. The pattern is the route's metrics label.
struct route {
  std::string_view pattern;
  access who;
  std::vector<route_method> methods;
  std::vector<std::string_view> segments = split_path(pattern);
};

// Every route the gateway has (docs/API.md). A path matching several patterns
// (".../vectors/delete" is also ".../vectors/{id}") takes the first that answers
// the method.
const std::vector<route>& routes() {
  static const std::vector<route> table = {
      {"/healthz", access::open, {{"GET", healthz}}},
      {"/readyz", access::open, {{"GET", readyz}}},
      {"/openapi.json", access::open, {{"GET", openapi}}},
      {"/ui", access::open, {{"GET", ui}}},
      {"/metrics", access::operations, {{"GET", metrics}}},
      {"/v1/cluster", access::operations, {{"GET", cluster}}},
      {"/v1/indexes", access::tenant, {{"GET", list_indexes}, {"POST", create_index, true}}},
      {"/v1/indexes/{name}", access::tenant, {{"GET", describe_index}, {"DELETE", drop_index}}},
      {"/v1/indexes/{name}/vectors", access::tenant, {{"POST", upsert_batch, true}}},
      {"/v1/indexes/{name}/vectors/delete", access::tenant, {{"POST", delete_batch, true}}},
      {"/v1/indexes/{name}/vectors/{id}",
       access::tenant,
       {{"GET", get_vector}, {"PUT", put_vector, true}, {"DELETE", delete_vector}}},
      {"/v1/indexes/{name}/ids", access::tenant, {{"GET", list_ids}}},
      {"/v1/indexes/{name}/count", access::tenant, {{"POST", count_vectors, true}}},
      {"/v1/indexes/{name}/fields", access::tenant, {{"GET", list_fields}}},
      {"/v1/indexes/{name}/fields/{field}",
       access::tenant,
       {{"PUT", put_field, true}, {"DELETE", drop_field}}},
      {"/v1/indexes/{name}/merge", access::tenant, {{"POST", merge, true}}},
      {"/v1/indexes/{name}/search", access::tenant, {{"POST", search, true}}},
      {"/v1/indexes/{name}/search/batch", access::tenant, {{"POST", search_batch, true}}},
      {"/v1/indexes/{name}/snapshot", access::tenant, {{"GET", backup_index}}},
      {"/v1/indexes/{name}/restore", access::tenant, {{"POST", restore_index, false, true}}},
      {"/v1/embed", access::tenant, {{"POST", embed, true}}},
      {"/v1/validate/sms", access::tenant, {{"POST", validate_sms, true}}},
      {"/v1/validate/email", access::tenant, {{"POST", validate_email, true}}},
      {"/v1/validate/fill", access::tenant, {{"POST", validate_fill, true}}},
      {"/v1/matrix/outreach", access::tenant, {{"POST", outreach, true}}},
      {"/v1/matrix/search", access::tenant, {{"POST", matrix_search, true}}},
      {"/v1/matrix/playbooks/{name}",
       access::tenant,
       {{"GET", get_playbook}, {"DELETE", drop_playbook}}},
      {"/v1/matrix/playbooks/{name}/record", access::tenant, {{"POST", playbook_record, true}}},
      {"/v1/admin/tenants", access::admin, {{"GET", list_tenants}, {"POST", create_tenant, true}}},
      {"/v1/admin/tenants/{name}", access::admin, {{"GET", get_tenant}, {"DELETE", drop_tenant}}},
      {"/v1/admin/tenants/{name}/keys", access::admin, {{"POST", rotate_tenant_key}}},
  };
  return table;
}

// Whether the path is an open route's (open routes have no parameters): those
// answer without a key even when auth is on.
bool open_path(std::string_view path) {
  for (const auto& r : routes())
    if (r.who == access::open && r.pattern == path) return true;
  return false;
}

// Whether the decoded path segments match the route; collects its parameters.
bool matches(const route& r, const std::vector<std::string>& seg,
             std::vector<std::string>& params) {
  if (r.segments.size() != seg.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < seg.size(); ++i) {
    auto p = r.segments[i];
    if (!p.empty() && p.front() == '{') {
      params.push_back(seg[i]);
    } else if (p != seg[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<std::pair<std::string_view, std::string_view>> route_methods() {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  for (const auto& r : routes())
    for (const auto& m : r.methods) out.emplace_back(r.pattern, m.method);
  return out;
}

double http_context::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

void http_context::reply(int code, std::string body, std::string type,
                         std::vector<std::pair<std::string, std::string>> headers) {
  http_reply r;
  r.status = code;
  r.content_type = type.empty() ? std::string(content_type(out)) : std::move(type);
  r.body = std::move(body);
  r.headers = std::move(headers);
  send(std::move(r));
}

void http_context::reply_file(int code, std::string path, std::string type,
                              std::vector<std::pair<std::string, std::string>> headers,
                              std::shared_ptr<void> hold) {
  http_reply r;
  r.hold = std::move(hold);
  r.status = code;
  r.content_type = std::move(type);
  r.body_file = std::move(path);
  r.headers = std::move(headers);
  send(std::move(r));
}

void http_context::send(http_reply r) {
  r.delay = delay;
  auto code = r.status;
  auto ms = elapsed_ms();
  // Labels from closed sets only: nothing a client sends may create a series.
  metrics->observe(std::string(method_label(req.method)) + " " + route, code, ms / 1000.0);
  if (tenant_route)
    gate->count(tenant.value, error == errc::rate_limited, error == errc::quota_exceeded);
  spdlog::debug("req={} {} {} -> {} ({:.3f} ms)", req.request_id, req.method, req.target, code, ms);
  done(std::move(r));
}

void http_context::fail(const status& st, int retry_after_s) {
  error = st.code;
  std::vector<std::pair<std::string, std::string>> headers;
  if (st.code == errc::unavailable || st.code == errc::rate_limited || st.code == errc::stale_epoch)
    headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  int code = http_status(st.code);
  if (code >= 500) {
    spdlog::warn("req={} {} {} -> {} {}: {}", req.request_id, req.method, req.target, code,
                 code_name(st.code), st.message);
  } else {
    spdlog::debug("req={} {} {} -> {} {}: {}", req.request_id, req.method, req.target, code,
                  code_name(st.code), st.message);
  }
  reply(code, render_error(out, st), {}, std::move(headers));
}

void http_context::not_allowed(const std::string& allow) {
  error = errc::method_not_allowed;
  reply(http_status(errc::method_not_allowed),
        render_error(out, make_status(errc::method_not_allowed,
                                      "method " + req.method + " not allowed here")),
        {}, {{"Allow", allow}});
}

expected<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t start = 0; start < query.size();) {
    auto amp = query.find('&', start);
    auto pair = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
    start = amp == std::string_view::npos ? query.size() : amp + 1;
    auto eq = pair.find('=');
    std::string key, value;
    if (!percent_decode(pair.substr(0, eq), key) ||
        !percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), value))
      return make_status(errc::invalid_argument, "malformed query string");
    if (!key.empty()) out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

std::string media_type(std::string_view header) {
  auto semi = header.find(';');
  auto type = header.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
  return lower(type);
}

bool is_msgpack(std::string_view media) {
  return media == "application/msgpack" || media == "application/x-msgpack" ||
         media == "application/vnd.msgpack";
}

bool body_ok(const context_ptr& ctx) {
  auto ct = media_type(ctx->req.content_type);
  if (ct.empty() || ct == "application/json" || is_msgpack(ct)) return true;
  ctx->fail(make_status(
      errc::unsupported_media_type,
      "Content-Type '" + ct + "' is not supported; send application/json or application/msgpack"));
  return false;
}

expected<std::string> json_body(const context_ptr& ctx) {
  if (ctx->in == body_format::msgpack) return msgpack_to_json(ctx->req.body);
  return ctx->req.body;
}

bool index_name_ok(const context_ptr& ctx, const std::string& name) {
  if (validate_index_name(name).ok()) return true;
  ctx->fail(make_status(errc::index_not_found, "no index '" + name + "'"));
  return false;
}

}  // namespace gateway

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (ec != std::errc() || ptr != in.data() + i + 3) return false;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return true;
}

http_api::http_api(router_client& router, http_metrics& metrics, const server_config& config,
                   const auth_config& auth, std::shared_ptr<const matrix::embedder_set> embedders)
    : router_(router),
      metrics_(metrics),
      config_(config),
      admin_key_hash_(auth.admin_key.empty() ? std::string() : hash_api_key(auth.admin_key)),
      gate_(std::chrono::milliseconds(auth.key_cache_ms)),
      transfers_(std::make_unique<gateway::transfers>(config.max_transfers, config.scratch_dir)),
      cache_(std::make_unique<matrix::result_cache>(config.matrix_cache_bytes)),
      embedders_(embedders ? std::move(embedders) : std::make_shared<matrix::embedder_set>()),
      embedding_(std::make_unique<job_pool>(kEmbeddingThreads)),
      services_(std::make_unique<gateway::services>(
          gateway::services{router_, metrics_, config_, gate_, !admin_key_hash_.empty(),
                            *transfers_, *cache_, *embedding_, *embedders_})) {}

// Running backups, restores and embeddings end first: they use the services and
// the router.
http_api::~http_api() {
  transfers_.reset();
  embedding_.reset();
}

void http_api::shutdown() {
  transfers_->stop();
  embedders_->stop();
  embedding_->stop();
}

void http_api::handle(http_request request, std::function<void(http_reply)> done) {
  auto ctx = std::make_shared<context>();
  ctx->req = std::move(request);
  ctx->done = std::move(done);
  ctx->metrics = &metrics_;
  ctx->gate = &gate_;
  // The reply's format: Accept when it names one of ours, else the request's own.
  auto ct = gateway::media_type(ctx->req.content_type);
  ctx->in = gateway::is_msgpack(ct) ? body_format::msgpack : body_format::json;
  auto accept = gateway::lower(ctx->req.accept);
  if (accept.find("msgpack") != std::string::npos) {
    ctx->out = body_format::msgpack;
  } else if (accept.find("application/json") != std::string::npos) {
    ctx->out = body_format::json;
  } else {
    ctx->out = ctx->in;
  }
  authenticate(ctx);
}

void http_api::authenticate(const std::shared_ptr<context>& ctx) {
  if (admin_key_hash_.empty()) return dispatch(ctx);  // auth off: tenant "default"
  std::string_view path(ctx->req.target);
  path = path.substr(0, path.find('?'));
  if (gateway::open_path(path)) return dispatch(ctx);
  auto unauthenticated = [ctx](const char* why) {
    ctx->fail(make_status(errc::unauthenticated, why));
  };
  std::string_view header(ctx->req.authorization);
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size() || gateway::lower(header.substr(0, scheme.size())) != scheme)
    return unauthenticated("send 'Authorization: Bearer <api-key>'");
  auto key = header.substr(scheme.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
  auto hash = hash_api_key(key);
  if (equal_in_constant_time(hash, admin_key_hash_)) {
    ctx->admin = true;
    return dispatch(ctx);
  }
  auto now = tenant_gate::clock::now();
  if (auto who = gate_.cached(hash, now)) {
    ctx->tenant = who->tenant;
    ctx->rate = who->quotas.max_requests_per_s;
    return dispatch(ctx);
  }
  router_.authenticate({hash}, [this, ctx, hash](expected<tenant_auth_reply> who) {
    if (!who) return ctx->fail(who.error());
    gate_.remember(hash, *who, tenant_gate::clock::now());
    ctx->tenant = who->tenant;
    ctx->rate = who->quotas.max_requests_per_s;
    dispatch(ctx);
  });
}

// Whether the caller may use a route of this kind; fails the request if not.
bool http_api::admit(const std::shared_ptr<context>& ctx, gateway::access who) {
  bool auth_on = !admin_key_hash_.empty();
  switch (who) {
    case gateway::access::open:
      return true;
    case gateway::access::operations:
      if (!auth_on || ctx->admin) return true;
      ctx->fail(make_status(errc::forbidden, ctx->route + " needs the admin key"));
      return false;
    case gateway::access::admin:
      if (!auth_on) {
        ctx->fail(make_status(errc::forbidden,
                              "auth is off: configure auth.admin_key to manage tenants"));
        return false;
      }
      if (ctx->admin) return true;
      ctx->fail(make_status(errc::forbidden, "admin routes need the admin key"));
      return false;
    case gateway::access::tenant:
      break;
  }
  if (ctx->admin) {
    ctx->fail(make_status(errc::forbidden,
                          "the admin key manages tenants; index routes take a tenant's key"));
    return false;
  }
  ctx->tenant_route = true;
  auto wait =
      gate_.admit(ctx->tenant.value, ctx->rate, tenant_gate::clock::now(), router_.gateways());
  if (wait <= 0) return true;
  // Answered once a token would be there (at most 1 s): a client that retries at
  // once sends no faster than its limit, and a flood of rejections does not become
  // load that other tenants feel.
  ctx->delay = std::chrono::milliseconds(static_cast<long>(std::min(wait, 1.0) * 1000));
  ctx->fail(make_status(errc::rate_limited, "tenant '" + ctx->tenant.value + "' is over its " +
                                                std::to_string(ctx->rate) + " requests per second"),
            static_cast<int>(std::ceil(wait)));
  return false;
}

void http_api::dispatch(const std::shared_ptr<context>& ctx) {
  auto& req = ctx->req;
  auto qpos = req.target.find('?');
  std::string_view path(req.target.data(), qpos == std::string::npos ? req.target.size() : qpos);
  gateway::route_args args;
  if (qpos != std::string::npos) args.query = std::string_view(req.target).substr(qpos + 1);
  auto raw = gateway::split_path(path);
  std::vector<std::string> seg(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i)
    if (!percent_decode(raw[i], seg[i]))
      return ctx->fail(make_status(errc::invalid_argument, "malformed percent-encoding in path"));

  const gateway::route* found = nullptr;
  const gateway::route_method* method = nullptr;
  std::vector<std::string> params;
  for (const auto& r : gateway::routes()) {
    if (!gateway::matches(r, seg, params)) continue;
    found = &r;
    args.params = params;
    for (const auto& m : r.methods)
      if (m.method == req.method) method = &m;
    if (method) break;
  }
  if (!found) {
    // Unknown admin paths are the admin's business: others learn nothing of them.
    if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "admin" &&
        !admit(ctx, gateway::access::admin))
      return;
    return ctx->fail(make_status(errc::not_found, "no route for " + std::string(path)));
  }
  ctx->route = std::string(found->pattern);
  if (!admit(ctx, found->who)) return;
  if (!method) {
    std::string allow;
    for (const auto& m : found->methods)
      allow += (allow.empty() ? "" : ", ") + std::string(m.method);
    return ctx->not_allowed(allow);
  }
  if (!args.params.empty()) {
    const auto& name = args.params[0];
    if (found->who == gateway::access::tenant && !gateway::index_name_ok(ctx, name)) return;
    if (found->who == gateway::access::admin && !validate_index_name(name).ok())
      return ctx->fail(make_status(errc::not_found, "no tenant '" + name + "'"));
  }
  if (method->takes_body && !gateway::body_ok(ctx)) return;
  if (method->takes_file) {
    auto media = gateway::media_type(ctx->req.content_type);
    if (!media.empty() && media != "application/octet-stream")
      return ctx->fail(make_status(errc::unsupported_media_type,
                                   "send the backup file as application/octet-stream"));
    if (ctx->req.body_file.empty())
      return ctx->fail(make_status(errc::invalid_argument, "send the backup file as the body"));
  }
  method->handler(*services_, ctx, args);
}

upload_plan http_api::plan_upload(std::string_view method, std::string_view target,
                                  std::string_view authorization) {
  upload_plan plan;
  // Every request's head comes here: most are answered by this first look.
  if (method != "POST" || target.find("/restore") == std::string_view::npos) return plan;
  auto qpos = target.find('?');
  auto raw = gateway::split_path(target.substr(0, qpos));
  std::vector<std::string> seg(raw.size()), params;
  for (std::size_t i = 0; i < raw.size(); ++i)
    if (!percent_decode(raw[i], seg[i])) return plan;  // dispatch answers it
  bool streams = false;
  for (const auto& r : gateway::routes()) {
    if (!gateway::matches(r, seg, params)) continue;
    for (const auto& m : r.methods) streams = streams || (m.method == method && m.takes_file);
    break;
  }
  if (!streams) return plan;
  auto refuse = [&](const status& st, int retry_after_s) {
    http_reply r;
    r.status = http_status(st.code);
    r.content_type = "application/json";
    r.body = render_error(body_format::json, st);
    if (retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
    plan.refuse = std::move(r);
    return plan;
  };
  if (!admin_key_hash_.empty() && authorization.rfind("Bearer ", 0) != 0)
    return refuse(make_status(errc::unauthenticated, "a restore needs a tenant's API key"), 0);
  if (!transfers_->acquire())
    return refuse(make_status(errc::unavailable, "every backup and restore slot is busy (" +
                                                     std::to_string(config_.max_transfers) +
                                                     "); retry later"),
                  5);
  plan.to_file = true;
  plan.path = transfers_->scratch_path("restore");
  plan.max_bytes = config_.max_restore_bytes;
  return plan;
}

void http_api::end_upload(const upload_plan& plan) {
  if (plan.to_file) transfers_->release();
}

}  // namespace quiver
