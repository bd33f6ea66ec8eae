#include "daemons/gateway/detail/handlers.hpp"

#include "common/response_codec.hpp"
#include "daemons/gateway/detail/text_embedding.hpp"

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
  auto req = std::make_shared<search_request>(
      search_request{ctx->tenant, a.params[0], std::move(body->vector), std::move(body->options)});
  auto go = [&s, ctx, shape, req] {
    s.router.search(std::move(*req), [ctx, shape](expected<search_reply> r) {
      ctx->answer(r, [&](auto& hits) {
        return render_search(ctx->out, hits.hits, shape, ctx->elapsed_ms(), hits.missing_shards);
      });
    });
  };
  if (body->text.empty()) return go();
  embed_for_index(
      s, ctx, a.params[0], {{0, std::move(body->text)}},
      [req](std::size_t, std::vector<float> v) { req->query = std::move(v); }, go);
}

void search_batch(services& s, const context_ptr& ctx, const route_args& a) {
  auto body = parse_search_batch(ctx->in, ctx->req.body, s.config.max_batch);
  if (!body) return ctx->fail(body.error());
  auto r = std::make_shared<search_batch_request>(
      search_batch_request{ctx->tenant, a.params[0], {}, {}});
  std::vector<search_options> shapes;
  item_texts texts;
  for (auto& q : *body) {
    if (!q.text.empty()) texts.emplace_back(r->queries.size(), std::move(q.text));
    r->queries.push_back(std::move(q.vector));
    shapes.push_back(response_shape(q.options));
    r->options.push_back(std::move(q.options));
  }
  auto go = [&s, ctx, r, shapes = std::move(shapes)] {
    s.router.search_batch(std::move(*r), [ctx, shapes](expected<search_batch_reply> res) {
      ctx->answer(res, [&](auto& b) {
        return render_search_batch(ctx->out, b.results, shapes, ctx->elapsed_ms());
      });
    });
  };
  if (texts.empty()) return go();
  embed_for_index(
      s, ctx, a.params[0], std::move(texts),
      [r](std::size_t at, std::vector<float> v) { r->queries[at] = std::move(v); }, go);
}

}  // namespace quiver::gateway
