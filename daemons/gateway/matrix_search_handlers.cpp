// POST /v1/matrix/search and the playbooks (/v1/matrix/playbooks/{name},
// .../record). The plain parts are matrix/: the request, the merge, the cache,
// the playbook's boosts; here the router calls that feed them.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>

#include "common/job_pool.hpp"
#include "common/vector_validation.hpp"
#include "daemons/gateway/detail/handlers.hpp"
#include "matrix/embedder.hpp"
#include "matrix/matrix_search.hpp"
#include "matrix/playbook.hpp"
#include "matrix/result_cache.hpp"

namespace quiver::gateway {

namespace {

// Starts n calls at once, call(i, done_i), and runs all(replies) once every
// reply is in (on the thread of the last one).
template <class R, class Call, class All>
void gather(std::size_t n, Call call, All all) {
  struct pending {
    pending(std::size_t n, All a)
        : replies(n, make_status(errc::internal, "no reply")), remaining(n), all(std::move(a)) {}
    std::mutex mutex;
    std::vector<expected<R>> replies;
    std::size_t remaining;
    All all;
  };
  if (n == 0) return all(std::vector<expected<R>>{});
  auto p = std::make_shared<pending>(n, std::move(all));
  for (std::size_t i = 0; i < n; ++i)
    call(i, [p, i](expected<R> r) {
      std::unique_lock lock(p->mutex);
      p->replies[i] = std::move(r);
      if (--p->remaining > 0) return;
      lock.unlock();
      p->all(std::move(p->replies));
    });
}

// One matrix search between its version check and its reply.
struct matrix_call {
  matrix::matrix_search_request request;
  std::string key;
  std::string version;
  std::vector<index_version> indexes;
  std::optional<index_version> playbook;  // none: the tenant has no such playbook
  // The playbook could not be read (a shard recovering, e.g. just recreated):
  // the answer goes without its boosts, says so, and is not cached.
  bool playbook_skipped = false;
};

// A playbook read that fails so is skipped rather than failing the search.
bool skippable(const status& st) {
  return st.code == errc::index_not_found || st.code == errc::unavailable;
}

// A text's vector for an index, by the embedder its params name.
expected<std::vector<float>> embed(services& s, const std::string& text, const index_params& p) {
  auto v = s.embedders.embed(p.embedder, p.dimension, {text});
  if (!v) return std::move(v).error();
  return std::move(v->front());
}

// The searches of a cache miss: every index, and the playbook when asked.
void run_matrix_search(services& s, const context_ptr& ctx, std::shared_ptr<matrix_call> m) {
  const auto& r = m->request;
  std::size_t n = m->indexes.size();
  std::vector<search_request> work;
  // Indexes naming the same embedder and dimension share one embedding.
  std::map<std::pair<std::string, std::uint32_t>, std::vector<float>> embedded;
  for (std::size_t i = 0; i < n; ++i) {
    search_request q{ctx->tenant, r.indexes[i], r.vector, r.options};
    if (!r.text.empty()) {
      const auto& p = m->indexes[i].params;
      auto& v = embedded[{p.embedder, p.dimension}];
      if (v.empty()) {
        auto made = embed(s, r.text, p);
        if (!made) return ctx->fail(made.error());
        v = std::move(*made);
      }
      q.query = v;
    }
    if (r.use_playbook)
      q.options.k = std::min<std::uint32_t>(q.options.k + matrix::matrix_limits::playbook_extra,
                                            request_limits::max_k);
    work.push_back(std::move(q));
  }
  if (m->playbook) {
    search_request q{ctx->tenant, matrix::playbook_index(r.playbook), {}, {}};
    auto v = embed(s, r.text, matrix::playbook_index_params(r.playbook));
    if (!v) return ctx->fail(v.error());
    q.query = std::move(*v);
    q.options.k = matrix::playbook_limits::neighbours;
    q.options.eventual = r.options.eventual;
    work.push_back(std::move(q));
  }
  auto shared = std::make_shared<std::vector<search_request>>(std::move(work));
  gather<search_reply>(
      shared->size(),
      [&s, shared](std::size_t i, auto done) { s.router.search((*shared)[i], std::move(done)); },
      [&s, ctx, m, n](std::vector<expected<search_reply>> replies) {
        std::vector<matrix::index_hits> hits;
        for (std::size_t i = 0; i < n; ++i) {
          if (!replies[i]) return ctx->fail(replies[i].error());
          hits.push_back({m->request.indexes[i], std::move(replies[i]->hits)});
        }
        // A playbook dropped since its version was read boosts nothing (and the
        // answer's version, which names it, will not be asked for again).
        std::map<std::string, double> boosts;
        if (m->playbook) {
          auto& past = replies.back();
          if (past) {
            boosts = matrix::playbook_boosts(past->hits);
          } else if (skippable(past.error())) {
            m->playbook_skipped = true;
          } else {
            return ctx->fail(past.error());
          }
        }
        auto results = matrix::render_results(
            matrix::merge_hits(std::move(hits), m->request.options.k, boosts),
            m->request.options.include_metadata);
        auto answer = matrix::render_answer(results, false, m->playbook_skipped);
        if (!m->playbook_skipped) s.cache.put(m->key, std::move(m->version), std::move(results));
        ctx->reply(200, std::move(answer), "application/json");
      });
}

// Makes the playbook's index if it has none (an existing one is kept), then
// writes the record. A playbook dropped or remade between the two is made
// again, a bounded number of times.
void record_attempt(services& s, const context_ptr& ctx, std::shared_ptr<upsert_request> up,
                    index_params params, int attempts) {
  s.router.create_index(
      {ctx->tenant, params}, [&s, ctx, up, params, attempts](expected<create_index_reply> c) {
        if (!c && c.error().code == errc::index_exists)
          return ctx->fail(make_status(
              errc::index_exists,
              "index '" + params.name +
                  "' exists and is not a playbook (256 dimensions, cosine, embedder hash-v1)"));
        if (!c) return ctx->fail(c.error());
        s.router.upsert(*up, [&s, ctx, up, params, attempts](expected<upsert_reply> r) {
          if (!r && attempts > 1 &&
              (r.error().code == errc::index_not_found || r.error().code == errc::unavailable))
            return record_attempt(s, ctx, up, params, attempts - 1);
          if (!r) return ctx->fail(r.error());
          ctx->reply(201, "{\"id\":\"" + up->items.front().id + "\"}", "application/json");
        });
      });
}

// Embeds a record's query and writes it (on an embedding thread).
void record_playbook(services& s, const context_ptr& ctx, const matrix::playbook_record& rec,
                     const std::string& name) {
  auto vector = embed(s, rec.query, matrix::playbook_index_params(name));
  if (!vector) return ctx->fail(vector.error());
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  // Unique without coordination between gateways: the time and 64 random bits.
  thread_local std::mt19937_64 random{std::random_device{}()};
  char id[40];
  std::snprintf(id, sizeof id, "%013lld-%016llx", static_cast<long long>(ms),
                static_cast<unsigned long long>(random()));
  auto up = std::make_shared<upsert_request>(
      upsert_request{ctx->tenant,
                     matrix::playbook_index(name),
                     {{id, std::move(*vector), matrix::playbook_metadata(rec, ms)}}});
  record_attempt(s, ctx, std::move(up), matrix::playbook_index_params(name), 3);
}

}  // namespace

void matrix_search(services& s, const context_ptr& ctx, const route_args&) {
  auto json = json_body(ctx);
  if (!json) return ctx->fail(json.error());
  auto req = matrix::parse_matrix_search(*json);
  if (!req) return ctx->fail(req.error());
  auto m = std::make_shared<matrix_call>();
  m->request = std::move(*req);
  // What each index (and the playbook) has applied: the cache's version.
  std::vector<std::string> names = m->request.indexes;
  if (m->request.use_playbook) names.push_back(matrix::playbook_index(m->request.playbook));
  gather<index_version>(
      names.size(),
      [&s, ctx, names](std::size_t i, auto done) {
        s.router.index_version({ctx->tenant, names[i]}, std::move(done));
      },
      [&s, ctx, m](std::vector<expected<index_version>> versions) {
        auto& r = m->request;
        for (std::size_t i = 0; i < versions.size(); ++i) {
          if (versions[i]) {
            if (i < r.indexes.size()) {
              m->indexes.push_back(std::move(*versions[i]));
            } else {
              m->playbook = std::move(*versions[i]);
            }
          } else if (i < r.indexes.size() || !skippable(versions[i].error())) {
            return ctx->fail(versions[i].error());
          } else {
            m->playbook_skipped = versions[i].error().code == errc::unavailable;
          }
        }
        if (!r.text.empty())
          for (const auto& v : m->indexes)
            if (v.params.embedder.empty())
              return ctx->fail(make_status(
                  errc::invalid_argument,
                  "index '" + v.params.name + "' names no embedder: search it with a 'vector'"));
        for (const auto& v : m->indexes)
          if (v.params.distance != m->indexes.front().params.distance)
            return ctx->fail(
                make_status(errc::invalid_argument,
                            "indexes '" + m->indexes.front().params.name + "' and '" +
                                v.params.name + "' measure distance differently (" +
                                std::string(distance_name(m->indexes.front().params.distance)) +
                                ", " + std::string(distance_name(v.params.distance)) +
                                "): their hits cannot be merged"));
        m->key = matrix::cache_key(ctx->tenant, r);
        m->version = matrix::data_version(m->indexes, m->playbook ? &*m->playbook : nullptr);
        if (!m->playbook_skipped)
          if (auto hit = s.cache.get(m->key, m->version))
            return ctx->reply(200, matrix::render_answer(*hit, true), "application/json");
        // This runs on an actor thread (the last reply's): a text is embedded
        // on the embedding threads instead.
        if (r.text.empty()) return run_matrix_search(s, ctx, m);
        if (!s.embedding.post([&s, ctx, m] { run_matrix_search(s, ctx, m); }))
          ctx->fail(make_status(errc::unavailable, "the server is shutting down"));
      });
}

void playbook_record(services& s, const context_ptr& ctx, const route_args& a) {
  auto json = json_body(ctx);
  if (!json) return ctx->fail(json.error());
  auto parsed = matrix::parse_playbook_record(*json);
  if (!parsed) return ctx->fail(parsed.error());
  auto rec = std::make_shared<matrix::playbook_record>(std::move(*parsed));
  auto name = a.params[0];
  if (!s.embedding.post([&s, ctx, rec, name] { record_playbook(s, ctx, *rec, name); }))
    ctx->fail(make_status(errc::unavailable, "the server is shutting down"));
}

void get_playbook(services& s, const context_ptr& ctx, const route_args& a) {
  auto name = a.params[0];
  s.router.describe_index(
      {ctx->tenant, matrix::playbook_index(name)}, [ctx, name](expected<index_description> d) {
        if (!d) {
          if (d.error().code == errc::index_not_found)
            return ctx->fail(make_status(errc::index_not_found, "no playbook '" + name + "'"));
          return ctx->fail(d.error());
        }
        ctx->reply(200,
                   "{\"name\":\"" + name + "\",\"index\":\"" + matrix::playbook_index(name) +
                       "\",\"records\":" + std::to_string(d->count) + "}",
                   "application/json");
      });
}

void drop_playbook(services& s, const context_ptr& ctx, const route_args& a) {
  auto name = a.params[0];
  s.router.drop_index({ctx->tenant, matrix::playbook_index(name)}, [ctx, name](expected<bool> r) {
    if (!r) {
      if (r.error().code == errc::index_not_found)
        return ctx->fail(make_status(errc::index_not_found, "no playbook '" + name + "'"));
      return ctx->fail(r.error());
    }
    ctx->reply(200, "{\"deleted\":true}", "application/json");
  });
}

}  // namespace quiver::gateway
