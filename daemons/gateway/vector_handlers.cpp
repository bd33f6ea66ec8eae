#include "daemons/gateway/detail/handlers.hpp"

#include <charconv>

#include "common/response_codec.hpp"
#include "common/vector_validation.hpp"
#include "daemons/gateway/detail/text_embedding.hpp"

namespace quiver::gateway {

namespace {

// Largest page of ids one request may ask for; bounds one reply's size.
constexpr std::uint32_t max_ids_page = 10000;
constexpr std::uint32_t default_ids_page = 1000;
constexpr std::size_t max_field_name = 256;

// The id of a /vectors/{id} route, or a 400 (details would name a batch item).
bool id_ok(const context_ptr& ctx, const std::string& id) {
  auto st = validate_id(id, 0);
  if (st.ok()) return true;
  st.details.clear();
  ctx->fail(st);
  return false;
}

}  // namespace

void upsert_batch(services& s, const context_ptr& ctx, const route_args& a) {
  item_texts texts;
  auto items = parse_upsert_batch(ctx->in, ctx->req.body, s.config.max_batch, &texts);
  if (!items) return ctx->fail(items.error());
  auto req =
      std::make_shared<upsert_request>(upsert_request{ctx->tenant, a.params[0], std::move(*items)});
  auto go = [&s, ctx, req] {
    s.router.upsert(std::move(*req), [ctx](expected<upsert_reply> r) {
      ctx->answer(r, [&](auto& u) { return render_count(ctx->out, "upserted", u.upserted); });
    });
  };
  if (texts.empty()) return go();
  embed_for_index(
      s, ctx, a.params[0], std::move(texts),
      [req](std::size_t at, std::vector<float> v) { req->items[at].vector = std::move(v); }, go);
}

void delete_batch(services& s, const context_ptr& ctx, const route_args& a) {
  auto body = parse_delete(ctx->in, ctx->req.body, s.config.max_batch);
  if (!body) return ctx->fail(body.error());
  s.router.delete_vectors(
      {ctx->tenant, a.params[0], std::move(body->ids), std::move(body->filter)},
      [ctx](expected<delete_vectors_reply> r) {
        ctx->answer(r, [&](auto& d) { return render_count(ctx->out, "deleted", d.deleted); });
      });
}

// A field's name: a top-level key of metadata objects.
static bool field_ok(const context_ptr& ctx, const std::string& field) {
  if (!field.empty() && field.size() <= max_field_name && is_valid_utf8(field)) return true;
  ctx->fail(make_status(errc::invalid_argument,
                        "a field name is 1-" + std::to_string(max_field_name) + " bytes of UTF-8"));
  return false;
}

void put_field(services& s, const context_ptr& ctx, const route_args& a) {
  if (!field_ok(ctx, a.params[1])) return;
  auto type = parse_field_index(ctx->in, ctx->req.body);
  if (!type) return ctx->fail(type.error());
  field_def def{a.params[1], *type};
  s.router.field_index({ctx->tenant, a.params[0], def, false},
                       [ctx, def](expected<field_index_reply> r) {
                         ctx->answer(r, [&](auto&) { return render_field(ctx->out, def); });
                       });
}

void drop_field(services& s, const context_ptr& ctx, const route_args& a) {
  if (!field_ok(ctx, a.params[1])) return;
  s.router.field_index(
      {ctx->tenant, a.params[0], {a.params[1], field_type::keyword}, true},
      [ctx](expected<field_index_reply> r) {
        ctx->answer(r, [&](auto& d) { return render_flag(ctx->out, "deleted", d.changed); });
      });
}

void list_fields(services& s, const context_ptr& ctx, const route_args& a) {
  s.router.list_fields({ctx->tenant, a.params[0]}, [ctx](expected<list_fields_reply> r) {
    ctx->answer(r, [&](auto& l) { return render_fields(ctx->out, l); });
  });
}

void count_vectors(services& s, const context_ptr& ctx, const route_args& a) {
  auto filter = parse_count(ctx->in, ctx->req.body);
  if (!filter) return ctx->fail(filter.error());
  s.router.count({ctx->tenant, a.params[0], std::move(*filter)}, [ctx](expected<count_reply> r) {
    ctx->answer(r, [&](auto& c) { return render_count(ctx->out, "count", c.count); });
  });
}

void get_vector(services& s, const context_ptr& ctx, const route_args& a) {
  if (!id_ok(ctx, a.params[1])) return;
  s.router.get_vector({ctx->tenant, a.params[0], a.params[1]}, [ctx](expected<vector_record> r) {
    ctx->answer(r, [&](auto& v) { return render_vector(ctx->out, v); });
  });
}

void put_vector(services& s, const context_ptr& ctx, const route_args& a) {
  const auto& id = a.params[1];
  if (!id_ok(ctx, id)) return;
  auto body = parse_upsert_one(ctx->in, ctx->req.body);
  if (!body) return ctx->fail(body.error());
  auto req = std::make_shared<upsert_request>(upsert_request{
      ctx->tenant, a.params[0], {{id, std::move(body->vector), std::move(body->metadata)}}});
  auto go = [&s, ctx, id, req] {
    s.router.upsert(std::move(*req), [ctx, id](expected<upsert_reply> r) {
      ctx->answer(r, [&](auto& u) { return render_upserted_one(ctx->out, id, u.seq); });
    });
  };
  if (body->text.empty()) return go();
  embed_for_index(
      s, ctx, a.params[0], {{0, std::move(body->text)}},
      [req](std::size_t, std::vector<float> v) { req->items.front().vector = std::move(v); }, go);
}

void delete_vector(services& s, const context_ptr& ctx, const route_args& a) {
  if (!id_ok(ctx, a.params[1])) return;
  s.router.delete_vectors(
      {ctx->tenant, a.params[0], {a.params[1]}, {}}, [ctx](expected<delete_vectors_reply> r) {
        ctx->answer(r, [&](auto& d) { return render_flag(ctx->out, "deleted", d.deleted > 0); });
      });
}

void list_ids(services& s, const context_ptr& ctx, const route_args& a) {
  list_ids_request r{ctx->tenant, a.params[0], {}, default_ids_page};
  auto query = parse_query(a.query);
  if (!query) return ctx->fail(query.error());
  for (auto& [key, value] : *query) {
    if (key == "limit") {
      std::uint32_t limit = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || ptr != value.data() + value.size() || limit < 1 ||
          limit > max_ids_page)
        return ctx->fail(make_status(
            errc::invalid_argument, "limit must be between 1 and " + std::to_string(max_ids_page)));
      r.limit = limit;
    } else if (key == "cursor") {
      auto after = decode_cursor(value);
      if (!after) return ctx->fail(after.error());
      r.after = std::move(*after);
    } else {
      return ctx->fail(
          make_status(errc::invalid_argument, "unknown query parameter '" + key + "'"));
    }
  }
  s.router.list_ids(std::move(r), [ctx](expected<id_page> page) {
    ctx->answer(page, [&](auto& p) {
      auto cursor = p.more && !p.ids.empty() ? encode_cursor(p.ids.back()) : std::string();
      return render_ids(ctx->out, p.ids, cursor);
    });
  });
}

}  // namespace quiver::gateway
