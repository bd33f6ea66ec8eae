// The workflow tier: POST /v1/embed, /v1/validate/sms, /email, /fill and
// /v1/matrix/outreach. The checks are matrix/validators; a fill proposal and
// an outreach draft read the stored metadata through the router first.

#include <map>
#include <memory>
#include <mutex>

#include "common/body_codec.hpp"
#include "common/job_pool.hpp"
#include "daemons/gateway/detail/handlers.hpp"
#include "matrix/embed_api.hpp"
#include "matrix/validators.hpp"

namespace quiver::gateway {

namespace {

template <class Parse, class Check>
void validate(const context_ptr& ctx, Parse parse, Check check) {
  auto json = json_body(ctx);
  if (!json) return ctx->fail(json.error());
  auto req = parse(*json);
  if (!req) return ctx->fail(req.error());
  ctx->reply(200, matrix::render_report(check(*req)), "application/json");
}

}  // namespace

void validate_sms(services&, const context_ptr& ctx, const route_args&) {
  validate(ctx, matrix::parse_sms_request, matrix::validate_sms);
}

void validate_email(services&, const context_ptr& ctx, const route_args&) {
  validate(ctx, matrix::parse_email_request, matrix::validate_email);
}

void validate_fill(services& s, const context_ptr& ctx, const route_args&) {
  auto json = json_body(ctx);
  if (!json) return ctx->fail(json.error());
  auto req = matrix::parse_fill_request(*json);
  if (!req) return ctx->fail(req.error());
  if (!index_name_ok(ctx, req->index)) return;
  // Every distinct id's metadata, read at once; the answer once all are in.
  struct pending {
    matrix::fill_request request;
    std::map<std::string, std::string> stored;
    std::size_t remaining = 0;
    status failure;
    std::mutex mutex;
  };
  auto p = std::make_shared<pending>();
  p->request = std::move(*req);
  std::vector<std::string> ids(p->request.ids.begin(), p->request.ids.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty())
    return ctx->reply(200, matrix::render_report(matrix::validate_fill(p->request, {})),
                      "application/json");
  p->remaining = ids.size();
  for (const auto& id : ids) {
    s.router.get_vector(
        {ctx->tenant, p->request.index, id}, [p, ctx, id](expected<vector_record> r) {
          std::unique_lock lock(p->mutex);
          if (r) {
            p->stored[id] = std::move(r->metadata);
          } else if (r.error().code != errc::vector_not_found && p->failure.ok()) {
            p->failure = r.error();
          }
          if (--p->remaining > 0) return;
          lock.unlock();
          if (!p->failure.ok()) return ctx->fail(p->failure);
          ctx->reply(200, matrix::render_report(matrix::validate_fill(p->request, p->stored)),
                     "application/json");
        });
  }
}

void embed(services& s, const context_ptr& ctx, const route_args&) {
  auto json = json_body(ctx);
  if (!json) return ctx->fail(json.error());
  auto req = matrix::parse_embed_request(*json, s.config.max_batch);
  if (!req) return ctx->fail(req.error());
  // A batch of texts takes milliseconds: not on an I/O or actor thread.
  auto r = std::make_shared<matrix::embed_request>(std::move(*req));
  if (!s.embedding.post([&s, ctx, r] {
        auto out = matrix::embed_texts(*r, s.embedders);
        if (!out) return ctx->fail(out.error());
        ctx->reply(200, std::move(*out), "application/json");
      }))
    ctx->fail(make_status(errc::unavailable, "the server is shutting down"));
}

void outreach(services& s, const context_ptr& ctx, const route_args&) {
  auto json = json_body(ctx);
  if (!json) return ctx->fail(json.error());
  auto req = matrix::parse_outreach_request(*json);
  if (!req) return ctx->fail(req.error());
  if (!index_name_ok(ctx, req->index)) return;
  auto r = std::make_shared<matrix::outreach_request>(std::move(*req));
  s.router.get_vector({ctx->tenant, r->index, r->id}, [ctx, r](expected<vector_record> rec) {
    if (!rec) return ctx->fail(rec.error());
    ctx->reply(200, matrix::render_report(matrix::draft_outreach(*r, rec->metadata)),
               "application/json");
  });
}

}  // namespace quiver::gateway
