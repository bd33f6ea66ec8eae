#include "daemons/gateway/detail/handlers.hpp"

#include "common/response_codec.hpp"
#include "daemons/gateway/openapi.hpp"
#include "daemons/gateway/prometheus_text.hpp"
#include "daemons/gateway/ui.hpp"
#include "matrix/embedder.hpp"
#include "matrix/result_cache.hpp"

namespace quiver::gateway {

void healthz(services&, const context_ptr& ctx, const route_args&) {
  ctx->reply(200, render_word(ctx->out, "status", "ok"));
}

void openapi(services&, const context_ptr& ctx, const route_args&) {
  ctx->reply(200, std::string(openapi_json()), "application/json");
}

void ui(services&, const context_ptr& ctx, const route_args&) {
  // Self-contained: it may load nothing from elsewhere, nor be framed.
  ctx->reply(200, std::string(ui_html()), "text/html; charset=utf-8",
             {{"Content-Security-Policy",
               "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "connect-src 'self'; frame-ancestors 'none'"},
              {"X-Content-Type-Options", "nosniff"},
              {"Cache-Control", "no-cache"}});
}

void readyz(services& s, const context_ptr& ctx, const route_args&) {
  // Index names are the tenants' business: with auth on only the admin sees them.
  bool names = !s.auth_on || ctx->admin;
  s.router.readiness({}, [ctx, names](expected<readiness_reply> r) {
    if (!r) return ctx->fail(r.error());
    auto ready = r->missing.empty();
    std::vector<std::pair<std::string, std::string>> headers;
    if (!ready) headers.emplace_back("Retry-After", "1");
    ctx->reply(ready ? 200 : 503,
               names ? render_readiness(ctx->out, *r)
                     : render_word(ctx->out, "status", ready ? "ready" : "not_ready"),
               {}, std::move(headers));
  });
}

void cluster(services& s, const context_ptr& ctx, const route_args&) {
  s.router.cluster({}, [ctx](expected<cluster_status> r) {
    if (!r) return ctx->fail(r.error());
    ctx->reply(200, render_cluster(ctx->out, *r));
  });
}

void metrics(services& s, const context_ptr& ctx, const route_args&) {
  // With auth on the caller is the admin: every tenant's indexes.
  s.router.list_indexes(
      {ctx->tenant, s.auth_on}, [&s, ctx](expected<std::vector<index_description>> r) {
        s.router.readiness({}, [&s, ctx, r = std::move(r)](expected<readiness_reply> ready) {
          s.router.list_tenants({}, [&s, ctx, r = std::move(r), ready = std::move(ready)](
                                        expected<std::vector<tenant_info>> tenants) {
            s.router.cluster(
                {}, [&s, ctx, r, ready, tenants = std::move(tenants)](expected<cluster_status> c) {
                  ctx->reply(200,
                             render_prometheus(s.metrics, s.gate, r, ready, tenants, c) +
                                 s.cache.render_metrics() + s.embedders.render_metrics(),
                             "text/plain; version=0.0.4");
                });
          });
        });
      });
}

}  // namespace quiver::gateway
