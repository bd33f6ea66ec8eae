#include "daemons/gateway/http_api.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>
#include <charconv>
#include <cmath>
#include <fstream>

#include "common/api_keys.hpp"
#include "common/body_codec.hpp"
#include "common/response_codec.hpp"
#include "common/vector_validation.hpp"

namespace quiver {

namespace {

// Largest page of ids one request may ask for; bounds one reply's size.
constexpr std::uint32_t max_ids_page = 10000;
constexpr std::uint32_t default_ids_page = 1000;

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    auto slash = path.find('/', start);
    out.emplace_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
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

// The media type of a Content-Type value, without parameters.
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

// What rendering a search reply needs of its options: not the exclude list, which
// may be long and is not copied per request for it.
search_options response_shape(const search_options& o) {
  search_options shape;
  shape.include_metadata = o.include_metadata;
  shape.include_vectors = o.include_vectors;
  return shape;
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

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

struct http_api::context {
  http_request req;
  std::function<void(http_reply)> done;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  body_format in = body_format::json;
  body_format out = body_format::json;
  std::string route = "unmatched";
  http_metrics* metrics = nullptr;
  tenant_gate* gate = nullptr;
  tenant_id tenant = default_tenant();
  bool admin = false;         // holds the admin key
  bool tenant_route = false;  // counted per tenant
  std::uint64_t rate = 0;     // the tenant's max_requests_per_s (0: unlimited)
  errc error = errc::ok;      // of the reply, when it is an error

  double elapsed_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  }

  std::chrono::milliseconds delay{0};  // of the reply

  void reply(int code, std::string body, std::string type = {},
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    http_reply r;
    r.delay = delay;
    r.status = code;
    r.content_type = type.empty() ? std::string(content_type(out)) : std::move(type);
    r.body = std::move(body);
    r.headers = std::move(headers);
    auto ms = elapsed_ms();
    metrics->observe(req.method + " " + route, code, ms / 1000.0);
    if (tenant_route)
      gate->count(tenant.value, error == errc::rate_limited, error == errc::quota_exceeded);
    spdlog::debug("req={} {} {} -> {} ({:.3f} ms)", req.request_id, req.method, req.target, code,
                  ms);
    done(std::move(r));
  }

  void fail(const status& st, int retry_after_s = 1) {
    error = st.code;
    std::vector<std::pair<std::string, std::string>> headers;
    if (st.code == errc::unavailable || st.code == errc::rate_limited)
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

  void not_allowed(const char* allow) {
    reply(http_status(errc::method_not_allowed),
          render_error(out, make_status(errc::method_not_allowed,
                                        "method " + req.method + " not allowed here")),
          {}, {{"Allow", allow}});
  }

  // Replies with the result's value rendered by `render`, or with its error.
  template <class T, class Render>
  void answer(expected<T>& result, Render&& render, int code = 200) {
    if (!result) return fail(result.error());
    reply(code, render(*result));
  }
};

namespace {

void gauge(std::string& out, const char* name, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
}

}  // namespace

std::string http_api::render_metrics(const tenant_id& tenant,
                                     const expected<std::vector<index_description>>& indexes,
                                     const expected<readiness_reply>& ready,
                                     const expected<std::vector<tenant_info>>& tenants,
                                     const expected<cluster_status>& cluster) const {
  auto text = metrics_.render();
  auto per_tenant = [&](const char* name, const char* help, auto value) {
    gauge(text, name, help);
    if (!tenants) return;
    for (const auto& t : *tenants)
      text += std::string(name) + "{tenant=\"" + t.name + "\"} " + std::to_string(value(t)) + "\n";
  };
  per_tenant("quiver_tenant_indexes", "Indexes per tenant.",
             [](const tenant_info& t) { return t.usage.indexes; });
  per_tenant("quiver_tenant_vectors", "Stored vectors per tenant.",
             [](const tenant_info& t) { return t.usage.vectors; });
  per_tenant("quiver_tenant_bytes", "Stored bytes (vectors + metadata) per tenant.",
             [](const tenant_info& t) { return t.usage.bytes; });
  auto counts = gate_.snapshot();
  auto per_tenant_counter = [&](const char* name, const char* help, auto value) {
    text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [t, c] : counts)
      text += std::string(name) + "{tenant=\"" + t + "\"} " + std::to_string(value(c)) + "\n";
  };
  per_tenant_counter("quiver_tenant_requests_total", "Index requests per tenant.",
                     [](const tenant_gate::counters& c) { return c.requests; });
  per_tenant_counter("quiver_tenant_rate_limited_total", "Requests refused by the rate limit.",
                     [](const tenant_gate::counters& c) { return c.rate_limited; });
  per_tenant_counter("quiver_tenant_quota_exceeded_total", "Writes refused by a quota.",
                     [](const tenant_gate::counters& c) { return c.quota_exceeded; });
  auto per_index = [&](const char* name, const char* help, auto value) {
    gauge(text, name, help);
    if (!indexes) return;
    for (const auto& d : *indexes)
      text += std::string(name) + "{tenant=\"" + tenant.value + "\",index=\"" + d.params.name +
              "\"} " + value(d) + "\n";
  };
  per_index("quiver_index_vectors", "Live vectors per index.",
            [](const index_description& d) { return std::to_string(d.count); });
  per_index("quiver_index_memory_bytes", "Estimated memory per index.",
            [](const index_description& d) { return std::to_string(d.memory_bytes); });
  per_index(
      "quiver_index_ready", "1 when every shard of the index serves, else 0.",
      [](const index_description& d) { return std::string(d.status == "ready" ? "1" : "0"); });
  per_index("quiver_index_recovery_seconds",
            "Duration of the index's last recovery (its slowest shard).",
            [](const index_description& d) { return std::to_string(d.recovery_seconds); });
  per_index("quiver_index_replayed_records", "Log records replayed by the index's last recovery.",
            [](const index_description& d) { return std::to_string(d.replayed_records); });
  if (ready) {
    const auto& st = ready->storage;
    auto counter = [&](const char* name, const char* help, std::uint64_t v) {
      text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
              name + " " + std::to_string(v) + "\n";
    };
    counter("quiver_storage_appended_records_total", "Log records appended.", st.appended_records);
    counter("quiver_storage_fsyncs_total", "Log fsyncs (group commit shares one).", st.syncs);
    counter("quiver_storage_stale_epoch_rejections_total", "Appends fenced off by epoch.",
            st.stale_epoch_rejections);
    counter("quiver_storage_torn_tails_repaired_total",
            "Damaged log tails cut back to the last good record on open.", st.torn_tails_repaired);
    counter("quiver_storage_torn_bytes_truncated_total", "Bytes cut from damaged log tails.",
            st.torn_bytes_truncated);
  }
  if (cluster && cluster->mode == "cluster") {
    std::uint64_t up = 0, no_primary = 0, max_lag = 0, under = 0;
    for (const auto& n : cluster->nodes) up += n.up ? 1 : 0;
    for (const auto& sh : cluster->shards) {
      no_primary += sh.primary.empty() ? 1 : 0;
      std::uint64_t ready = 0;
      for (const auto& r : sh.replicas) {
        max_lag = std::max(max_lag, r.lag);
        ready += r.state == "ready" ? 1 : 0;
      }
      under += ready < sh.replicas.size() || sh.replicas.empty() ? 1 : 0;
    }
    auto value = [&](const char* name, const char* help, std::uint64_t v) {
      gauge(text, name, help);
      text += std::string(name) + " " + std::to_string(v) + "\n";
    };
    value("quiver_cluster_nodes_up", "vectord nodes heartbeating.", up);
    value("quiver_cluster_nodes_down", "vectord nodes marked down.", cluster->nodes.size() - up);
    value("quiver_cluster_shards", "Shards in the shard map.", cluster->shards.size());
    value("quiver_cluster_shards_without_primary", "Shards with no serving primary.", no_primary);
    value("quiver_cluster_shards_under_replicated",
          "Shards with a replica not serving (loading, catching up or lost).", under);
    value("quiver_cluster_replica_lag_max", "Largest replica lag behind its primary, in records.",
          max_lag);
    value("quiver_cluster_map_version", "Shard-map version (bumps on every routing change).",
          cluster->version);
  }
  gauge(text, "quiver_process_resident_bytes", "Resident set size.");
  text += "quiver_process_resident_bytes " + std::to_string(resident_bytes()) + "\n";
  return text;
}

http_api::http_api(router_client& router, http_metrics& metrics, const server_config& config,
                   const auth_config& auth)
    : router_(router),
      metrics_(metrics),
      config_(config),
      admin_key_hash_(auth.admin_key.empty() ? std::string() : hash_api_key(auth.admin_key)),
      gate_(std::chrono::milliseconds(auth.key_cache_ms)) {}

void http_api::handle(http_request request, std::function<void(http_reply)> done) {
  auto ctx = std::make_shared<context>();
  ctx->req = std::move(request);
  ctx->done = std::move(done);
  ctx->metrics = &metrics_;
  ctx->gate = &gate_;
  // The reply's format: Accept when it names one of ours, else the request's own.
  auto ct = media_type(ctx->req.content_type);
  ctx->in = is_msgpack(ct) ? body_format::msgpack : body_format::json;
  auto accept = lower(ctx->req.accept);
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
  if (path == "/healthz" || path == "/readyz") return dispatch(ctx);
  auto unauthenticated = [ctx](const char* why) {
    ctx->fail(make_status(errc::unauthenticated, why));
  };
  std::string_view header(ctx->req.authorization);
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size() || lower(header.substr(0, scheme.size())) != scheme)
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

void http_api::dispatch(const std::shared_ptr<context>& ctx) {
  auto& req = ctx->req;
  auto qpos = req.target.find('?');
  std::string_view path(req.target.data(), qpos == std::string::npos ? req.target.size() : qpos);
  std::string_view query = qpos == std::string::npos
                               ? std::string_view{}
                               : std::string_view(req.target).substr(qpos + 1);
  auto raw_segments = split_path(path);
  std::vector<std::string> seg(raw_segments.size());
  for (std::size_t i = 0; i < raw_segments.size(); ++i)
    if (!percent_decode(raw_segments[i], seg[i]))
      return ctx->fail(make_status(errc::invalid_argument, "malformed percent-encoding in path"));

  const auto& method = req.method;
  auto not_allowed = [&](const char* allow) { ctx->not_allowed(allow); };
  // Bodies are read only by routes that take one; their type must be ours.
  auto body_ok = [&]() {
    auto ct = media_type(req.content_type);
    if (ct.empty() || ct == "application/json" || is_msgpack(ct)) return true;
    ctx->fail(make_status(errc::unsupported_media_type,
                          "Content-Type '" + ct +
                              "' is not supported; send application/json or application/msgpack"));
    return false;
  };
  // An index name that cannot exist names no index.
  auto name_ok = [&](const std::string& name) {
    if (validate_index_name(name).ok()) return true;
    ctx->fail(make_status(errc::index_not_found, "no index '" + name + "'"));
    return false;
  };
  auto n = seg.size();

  if (n == 1 && seg[0] == "healthz") {
    ctx->route = "/healthz";
    if (method != "GET") return not_allowed("GET");
    return ctx->reply(200, render_word(ctx->out, "status", "ok"));
  }
  if (n == 1 && seg[0] == "readyz") {
    ctx->route = "/readyz";
    if (method != "GET") return not_allowed("GET");
    // Index names are the tenants' business: with auth on only the admin sees them.
    bool names = admin_key_hash_.empty() || ctx->admin;
    return router_.readiness({}, [ctx, names](expected<readiness_reply> r) {
      if (!r) return ctx->fail(r.error());
      auto ready = r->missing.empty();
      ctx->reply(ready ? 200 : 503,
                 names ? render_readiness(ctx->out, *r)
                       : render_word(ctx->out, "status", ready ? "ready" : "not_ready"),
                 {},
                 r->missing.empty()
                     ? std::vector<std::pair<std::string, std::string>>{}
                     : std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}});
    });
  }
  if (n == 2 && seg[0] == "v1" && seg[1] == "cluster") {
    ctx->route = "/v1/cluster";
    if (method != "GET") return not_allowed("GET");
    // Node addresses and every tenant's index names: the operator's view.
    if (!admin_key_hash_.empty() && !ctx->admin)
      return ctx->fail(make_status(errc::forbidden, "/v1/cluster needs the admin key"));
    return router_.cluster({}, [ctx](expected<cluster_status> r) {
      if (!r) return ctx->fail(r.error());
      ctx->reply(200, render_cluster(ctx->out, *r));
    });
  }
  if (n == 1 && seg[0] == "metrics") {
    ctx->route = "/metrics";
    if (method != "GET") return not_allowed("GET");
    if (!admin_key_hash_.empty() && !ctx->admin)
      return ctx->fail(make_status(errc::forbidden, "/metrics needs the admin key"));
    return router_.list_indexes(
        {ctx->tenant}, [this, ctx](expected<std::vector<index_description>> r) {
          router_.readiness({}, [this, ctx, r = std::move(r)](expected<readiness_reply> ready) {
            router_.list_tenants({}, [this, ctx, r = std::move(r), ready = std::move(ready)](
                                         expected<std::vector<tenant_info>> tenants) {
              router_.cluster({}, [this, ctx, r, ready,
                                   tenants = std::move(tenants)](expected<cluster_status> cluster) {
                ctx->reply(200, render_metrics(ctx->tenant, r, ready, tenants, cluster),
                           "text/plain; version=0.0.4");
              });
            });
          });
        });
  }
  if (n >= 2 && seg[0] == "v1" && seg[1] == "admin") {
    ctx->route = "/v1/admin";
    if (admin_key_hash_.empty())
      return ctx->fail(
          make_status(errc::forbidden, "auth is off: configure auth.admin_key to manage tenants"));
    if (!ctx->admin)
      return ctx->fail(make_status(errc::forbidden, "admin routes need the admin key"));
    return dispatch_admin(ctx, seg);
  }
  if (n < 2 || seg[0] != "v1" || seg[1] != "indexes") {
    ctx->route = "unmatched";
    return ctx->fail(make_status(errc::not_found, "no route for " + std::string(path)));
  }

  if (ctx->admin)
    return ctx->fail(make_status(
        errc::forbidden, "the admin key manages tenants; index routes take a tenant's key"));
  ctx->tenant_route = true;
  if (auto wait = gate_.admit(ctx->tenant.value, ctx->rate, tenant_gate::clock::now()); wait > 0) {
    // Answered once a token would be there (at most 1 s): a client that retries
    // at once sends no faster than its limit, and a flood of rejections does not
    // become load that other tenants feel.
    ctx->delay = std::chrono::milliseconds(static_cast<long>(std::min(wait, 1.0) * 1000));
    return ctx->fail(
        make_status(errc::rate_limited, "tenant '" + ctx->tenant.value + "' is over its " +
                                            std::to_string(ctx->rate) + " requests per second"),
        static_cast<int>(std::ceil(wait)));
  }

  // /v1/indexes
  if (n == 2) {
    ctx->route = "/v1/indexes";
    if (method == "GET")
      return router_.list_indexes({ctx->tenant}, [ctx](expected<std::vector<index_description>> r) {
        ctx->answer(r, [&](auto& v) { return render_index_list(ctx->out, v); });
      });
    if (method != "POST") return not_allowed("GET, POST");
    if (!body_ok()) return;
    auto params = parse_create_index(ctx->in, req.body);
    if (!params) return ctx->fail(params.error());
    return router_.create_index(
        {ctx->tenant, std::move(*params)}, [ctx](expected<create_index_reply> r) {
          if (!r) return ctx->fail(r.error());
          ctx->reply(r->created ? 201 : 200, render_index(ctx->out, r->description));
        });
  }

  const auto& name = seg[2];
  // /v1/indexes/{name}
  if (n == 3) {
    ctx->route = "/v1/indexes/{name}";
    if (method != "GET" && method != "DELETE") return not_allowed("GET, DELETE");
    if (!name_ok(name)) return;
    if (method == "GET")
      return router_.describe_index({ctx->tenant, name}, [ctx](expected<index_description> r) {
        ctx->answer(r, [&](auto& d) { return render_index(ctx->out, d); });
      });
    return router_.drop_index({ctx->tenant, name}, [ctx](expected<bool> r) {
      ctx->answer(r, [&](bool) { return render_flag(ctx->out, "deleted", true); });
    });
  }

  const auto& sub = seg[3];
  if (sub == "vectors" && n == 4) {
    ctx->route = "/v1/indexes/{name}/vectors";
    if (method != "POST") return not_allowed("POST");
    if (!name_ok(name) || !body_ok()) return;
    auto items = parse_upsert_batch(ctx->in, req.body, config_.max_batch);
    if (!items) return ctx->fail(items.error());
    return router_.upsert({ctx->tenant, name, std::move(*items)}, [ctx](expected<upsert_reply> r) {
      ctx->answer(r, [&](auto& u) { return render_count(ctx->out, "upserted", u.upserted); });
    });
  }
  if (sub == "vectors" && n == 5 && seg[4] == "delete" && method == "POST") {
    ctx->route = "/v1/indexes/{name}/vectors/delete";
    if (!name_ok(name) || !body_ok()) return;
    auto ids = parse_delete_ids(ctx->in, req.body, config_.max_batch);
    if (!ids) return ctx->fail(ids.error());
    return router_.delete_vectors(
        {ctx->tenant, name, std::move(*ids)}, [ctx](expected<delete_vectors_reply> r) {
          ctx->answer(r, [&](auto& d) { return render_count(ctx->out, "deleted", d.deleted); });
        });
  }
  if (sub == "vectors" && n == 5) {
    ctx->route = "/v1/indexes/{name}/vectors/{id}";
    const auto& id = seg[4];
    if (method != "GET" && method != "PUT" && method != "DELETE")
      return not_allowed("GET, PUT, DELETE");
    if (!name_ok(name)) return;
    if (auto st = validate_id(id, 0); !st.ok()) {
      st.details.clear();
      return ctx->fail(st);
    }
    if (method == "GET")
      return router_.get_vector({ctx->tenant, name, id}, [ctx](expected<vector_record> r) {
        ctx->answer(r, [&](auto& v) { return render_vector(ctx->out, v); });
      });
    if (method == "DELETE")
      return router_.delete_vectors(
          {ctx->tenant, name, {id}}, [ctx](expected<delete_vectors_reply> r) {
            ctx->answer(r,
                        [&](auto& d) { return render_flag(ctx->out, "deleted", d.deleted > 0); });
          });
    if (!body_ok()) return;
    auto body = parse_upsert_one(ctx->in, req.body);
    if (!body) return ctx->fail(body.error());
    std::vector<upsert_item> items;
    items.push_back({id, std::move(body->vector), std::move(body->metadata)});
    return router_.upsert(
        {ctx->tenant, name, std::move(items)}, [ctx, id](expected<upsert_reply> r) {
          ctx->answer(r, [&](auto& u) { return render_upserted_one(ctx->out, id, u.seq); });
        });
  }
  if (sub == "ids" && n == 4) {
    ctx->route = "/v1/indexes/{name}/ids";
    if (method != "GET") return not_allowed("GET");
    if (!name_ok(name)) return;
    list_ids_request r{ctx->tenant, name, {}, default_ids_page};
    for (std::size_t start = 0; start < query.size();) {
      auto amp = query.find('&', start);
      auto pair = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
      start = amp == std::string_view::npos ? query.size() : amp + 1;
      auto eq = pair.find('=');
      auto key = pair.substr(0, eq);
      std::string value;
      if (!percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), value))
        return ctx->fail(make_status(errc::invalid_argument, "malformed query string"));
      if (key == "limit") {
        std::uint32_t limit = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
        if (ec != std::errc() || ptr != value.data() + value.size() || limit < 1 ||
            limit > max_ids_page)
          return ctx->fail(make_status(errc::invalid_argument, "limit must be between 1 and " +
                                                                   std::to_string(max_ids_page)));
        r.limit = limit;
      } else if (key == "cursor") {
        auto after = decode_cursor(value);
        if (!after) return ctx->fail(after.error());
        r.after = std::move(*after);
      } else if (!key.empty()) {
        return ctx->fail(make_status(errc::invalid_argument,
                                     "unknown query parameter '" + std::string(key) + "'"));
      }
    }
    return router_.list_ids(std::move(r), [ctx](expected<id_page> page) {
      ctx->answer(page, [&](auto& p) {
        auto cursor = p.more && !p.ids.empty() ? encode_cursor(p.ids.back()) : std::string();
        return render_ids(ctx->out, p.ids, cursor);
      });
    });
  }
  if (sub == "merge" && n == 4) {
    ctx->route = "/v1/indexes/{name}/merge";
    if (method != "POST") return not_allowed("POST");
    if (!name_ok(name) || !body_ok()) return;
    auto body = parse_merge(ctx->in, req.body);
    if (!body) return ctx->fail(body.error());
    if (!name_ok(body->source)) return;
    return router_.merge(
        {ctx->tenant, name, body->source, body->delete_source}, [ctx](expected<merge_reply> r) {
          ctx->answer(r, [&](auto& m) { return render_count(ctx->out, "merged", m.merged); });
        });
  }
  if (sub == "search" && n == 4) {
    ctx->route = "/v1/indexes/{name}/search";
    if (method != "POST") return not_allowed("POST");
    if (!name_ok(name) || !body_ok()) return;
    auto body = parse_search(ctx->in, req.body);
    if (!body) return ctx->fail(body.error());
    auto shape = response_shape(body->options);
    return router_.search({ctx->tenant, name, std::move(body->vector), std::move(body->options)},
                          [ctx, shape](expected<search_reply> r) {
                            ctx->answer(r, [&](auto& s) {
                              return render_search(ctx->out, s.hits, shape, ctx->elapsed_ms(),
                                                   s.missing_shards);
                            });
                          });
  }
  if (sub == "search" && n == 5 && seg[4] == "batch") {
    ctx->route = "/v1/indexes/{name}/search/batch";
    if (method != "POST") return not_allowed("POST");
    if (!name_ok(name) || !body_ok()) return;
    auto body = parse_search_batch(ctx->in, req.body, config_.max_batch);
    if (!body) return ctx->fail(body.error());
    search_batch_request r{ctx->tenant, name, {}, {}};
    std::vector<search_options> shapes;
    for (auto& q : *body) {
      r.queries.push_back(std::move(q.vector));
      shapes.push_back(response_shape(q.options));
      r.options.push_back(std::move(q.options));
    }
    return router_.search_batch(
        std::move(r), [ctx, shapes = std::move(shapes)](expected<search_batch_reply> res) {
          ctx->answer(res, [&](auto& b) {
            return render_search_batch(ctx->out, b.results, shapes, ctx->elapsed_ms());
          });
        });
  }
  ctx->fail(make_status(errc::not_found, "no route for " + std::string(path)));
}

void http_api::dispatch_admin(const std::shared_ptr<context>& ctx,
                              const std::vector<std::string>& seg) {
  const auto& method = ctx->req.method;
  auto n = seg.size();
  auto not_allowed = [&](const char* allow) { ctx->not_allowed(allow); };
  if (n < 3 || seg[2] != "tenants" || n > 5 || (n == 5 && seg[4] != "keys"))
    return ctx->fail(make_status(errc::not_found, "no route for " + ctx->req.target));
  // Issues a fresh key: only its hash leaves the gateway.
  auto with_new_key = [ctx](auto then) {
    auto key = new_api_key();
    if (!key) return ctx->fail(key.error());
    then(*key, hash_api_key(*key));
  };
  if (n == 3) {
    ctx->route = "/v1/admin/tenants";
    if (method == "GET")
      return router_.list_tenants({}, [ctx](expected<std::vector<tenant_info>> r) {
        ctx->answer(r, [&](auto& list) { return render_tenant_list(ctx->out, list); });
      });
    if (method != "POST") return not_allowed("GET, POST");
    auto ct = media_type(ctx->req.content_type);
    if (!ct.empty() && ct != "application/json" && !is_msgpack(ct))
      return ctx->fail(
          make_status(errc::unsupported_media_type, "Content-Type '" + ct + "' is not supported"));
    auto body = parse_create_tenant(ctx->in, ctx->req.body);
    if (!body) return ctx->fail(body.error());
    return with_new_key([&](const std::string& key, const std::string& hash) {
      tenant_record t{body->name, body->quotas, hash};
      router_.create_tenant({t}, [ctx, name = body->name, key](expected<bool> r) {
        ctx->answer(
            r, [&](bool) { return render_tenant_key(ctx->out, name, key); }, 201);
      });
    });
  }
  const auto& name = seg[3];
  if (!validate_index_name(name).ok())
    return ctx->fail(make_status(errc::not_found, "no tenant '" + name + "'"));
  if (n == 4) {
    ctx->route = "/v1/admin/tenants/{name}";
    if (method == "GET")
      return router_.get_tenant({name}, [ctx](expected<tenant_info> r) {
        ctx->answer(r, [&](auto& t) { return render_tenant(ctx->out, t); });
      });
    if (method != "DELETE") return not_allowed("GET, DELETE");
    return router_.drop_tenant({name}, [this, ctx, name](expected<bool> r) {
      if (r) gate_.forget_tenant(name);
      ctx->answer(r, [&](bool) { return render_flag(ctx->out, "deleted", true); });
    });
  }
  ctx->route = "/v1/admin/tenants/{name}/keys";
  if (method != "POST") return not_allowed("POST");
  with_new_key([&](const std::string& key, const std::string& hash) {
    router_.rotate_tenant_key({name, hash}, [this, ctx, name, key](expected<bool> r) {
      if (r) gate_.forget_tenant(name);
      ctx->answer(r, [&](bool) { return render_tenant_key(ctx->out, name, key); });
    });
  });
}

}  // namespace quiver
