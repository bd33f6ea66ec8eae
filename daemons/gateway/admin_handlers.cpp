#include "daemons/gateway/detail/handlers.hpp"

#include "common/api_keys.hpp"
#include "common/response_codec.hpp"

namespace quiver::gateway {

namespace {

// Issues a fresh key: only its hash leaves the gateway.
template <class Then>
void with_new_key(const context_ptr& ctx, Then then) {
  auto key = new_api_key();
  if (!key) return ctx->fail(key.error());
  then(*key, hash_api_key(*key));
}

}  // namespace

void list_tenants(services& s, const context_ptr& ctx, const route_args&) {
  s.router.list_tenants({}, [ctx](expected<std::vector<tenant_info>> r) {
    ctx->answer(r, [&](auto& list) { return render_tenant_list(ctx->out, list); });
  });
}

void create_tenant(services& s, const context_ptr& ctx, const route_args&) {
  auto body = parse_create_tenant(ctx->in, ctx->req.body);
  if (!body) return ctx->fail(body.error());
  with_new_key(ctx, [&](const std::string& key, const std::string& hash) {
    tenant_record t{body->name, body->quotas, hash};
    s.router.create_tenant({t}, [ctx, name = body->name, key](expected<bool> r) {
      ctx->answer(
          r, [&](bool) { return render_tenant_key(ctx->out, name, key); }, 201);
    });
  });
}

void get_tenant(services& s, const context_ptr& ctx, const route_args& a) {
  s.router.get_tenant({a.params[0]}, [ctx](expected<tenant_info> r) {
    ctx->answer(r, [&](auto& t) { return render_tenant(ctx->out, t); });
  });
}

void drop_tenant(services& s, const context_ptr& ctx, const route_args& a) {
  auto& gate = s.gate;
  s.router.drop_tenant({a.params[0]}, [&gate, ctx, name = a.params[0]](expected<bool> r) {
    if (r) gate.forget_tenant(name);
    ctx->answer(r, [&](bool) { return render_flag(ctx->out, "deleted", true); });
  });
}

void rotate_tenant_key(services& s, const context_ptr& ctx, const route_args& a) {
  const auto& name = a.params[0];
  with_new_key(ctx, [&](const std::string& key, const std::string& hash) {
    auto& gate = s.gate;
    s.router.rotate_tenant_key({name, hash}, [&gate, ctx, name, key](expected<bool> r) {
      if (r) gate.forget_tenant(name);
      ctx->answer(r, [&](bool) { return render_tenant_key(ctx->out, name, key); });
    });
  });
}

}  // namespace quiver::gateway
