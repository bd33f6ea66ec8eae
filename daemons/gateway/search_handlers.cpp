#include "daemons/gateway/detail/handlers.hpp"

#include "common/response_codec.hpp"

namespace quiver::gateway {

namespace {

// What rendering a search reply needs of its options: not the exclude list, which
// may be long and is not copied per request for it.
search_options response_shape(const search_options& o) {
  search_options shape;
  shape.include_metadata = o.include_metadata;
  shape.include_vectors = o.include_vectors;
  return shape;
}

}  // namespace

void search(services& s, const context_ptr& ctx, const route_args& a) {
  auto body = parse_search(ctx->in, ctx->req.body);
  if (!body) return ctx->fail(body.error());
  auto shape = response_shape(body->options);
  s.router.search({ctx->tenant, a.params[0], std::move(body->vector), std::move(body->options)},
                  [ctx, shape](expected<search_reply> r) {
                    ctx->answer(r, [&](auto& hits) {
                      return render_search(ctx->out, hits.hits, shape, ctx->elapsed_ms(),
                                           hits.missing_shards);
                    });
                  });
}

void search_batch(services& s, const context_ptr& ctx, const route_args& a) {
  auto body = parse_search_batch(ctx->in, ctx->req.body, s.config.max_batch);
  if (!body) return ctx->fail(body.error());
  search_batch_request r{ctx->tenant, a.params[0], {}, {}};
  std::vector<search_options> shapes;
  for (auto& q : *body) {
    r.queries.push_back(std::move(q.vector));
    shapes.push_back(response_shape(q.options));
    r.options.push_back(std::move(q.options));
  }
  s.router.search_batch(
      std::move(r), [ctx, shapes = std::move(shapes)](expected<search_batch_reply> res) {
        ctx->answer(res, [&](auto& b) {
          return render_search_batch(ctx->out, b.results, shapes, ctx->elapsed_ms());
        });
      });
}

}  // namespace quiver::gateway
