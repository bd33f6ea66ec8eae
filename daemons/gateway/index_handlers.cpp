#include "daemons/gateway/detail/handlers.hpp"

#include "common/response_codec.hpp"
#include "matrix/embedder.hpp"

namespace quiver::gateway {

void list_indexes(services& s, const context_ptr& ctx, const route_args&) {
  s.router.list_indexes({ctx->tenant, false}, [ctx](expected<std::vector<index_description>> r) {
    ctx->answer(r, [&](auto& v) { return render_index_list(ctx->out, v); });
  });
}

void create_index(services& s, const context_ptr& ctx, const route_args&) {
  auto params = parse_create_index(ctx->in, ctx->req.body);
  if (!params) return ctx->fail(params.error());
  // The embedder must be one this gateway has, making vectors of the index's size.
  if (!params->embedder.empty())
    if (auto st = s.embedders.check(params->embedder, params->dimension); !st.ok())
      return ctx->fail(st);
  s.router.create_index({ctx->tenant, std::move(*params)}, [ctx](expected<create_index_reply> r) {
    if (!r) return ctx->fail(r.error());
    ctx->reply(r->created ? 201 : 200, render_index(ctx->out, r->description));
  });
}

void describe_index(services& s, const context_ptr& ctx, const route_args& a) {
  s.router.describe_index({ctx->tenant, a.params[0]}, [ctx](expected<index_description> r) {
    ctx->answer(r, [&](auto& d) { return render_index(ctx->out, d); });
  });
}

void drop_index(services& s, const context_ptr& ctx, const route_args& a) {
  s.router.drop_index({ctx->tenant, a.params[0]}, [ctx](expected<bool> r) {
    ctx->answer(r, [&](bool) { return render_flag(ctx->out, "deleted", true); });
  });
}

void merge(services& s, const context_ptr& ctx, const route_args& a) {
  auto body = parse_merge(ctx->in, ctx->req.body);
  if (!body) return ctx->fail(body.error());
  if (!index_name_ok(ctx, body->source)) return;
  s.router.merge({ctx->tenant, a.params[0], body->source, body->delete_source},
                 [ctx](expected<merge_reply> r) {
                   ctx->answer(r,
                               [&](auto& m) { return render_count(ctx->out, "merged", m.merged); });
                 });
}

}  // namespace quiver::gateway
