// The routes that split a request over an index's shards and combine the replies.
#include <caf/all.hpp>

#include "actors/router/router_calls.hpp"
#include "actors/router/search_merge.hpp"
#include "cluster/sharding.hpp"
#include "common/vector_validation.hpp"

namespace quiver::routing {

void route_upsert(router_actor* self, upsert_request r, caf::response_promise rp) {
  auto tenant = r.tenant;
  auto index = r.index;
  with_route(
      self, tenant, index, rp, [self, r = std::move(r), rp](const index_route& route) mutable {
        // Checked here, at the edge, even for one shard: the shard may be in another
        // process, and non-finite floats do not survive CAF's serialization. Across
        // shards this also keeps any shard from applying part of a bad batch.
        if (auto st = validate_batch(r.items, route.params.dimension, route.params.distance);
            !st.ok())
          return fail(rp, st);
        if (r.items.empty()) return rp.deliver(upsert_reply{0, seq_no{}});  // nothing to log
        if (route.shards.size() == 1 && !self->state.clustered) {
          rp.delegate(route.shards[0], std::move(r));
          return;
        }
        dedup_last_wins(r.items);
        auto n = r.items.size();
        std::vector<upsert_request> parts(route.shards.size());
        for (auto& item : r.items) {
          auto s = shard_of(item.id, route.params.shards).value;
          parts[s].items.push_back(std::move(item));
        }
        std::vector<std::pair<std::uint32_t, upsert_request>> work;
        for (std::uint32_t s = 0; s < parts.size(); ++s) {
          if (parts[s].items.empty()) continue;
          parts[s].tenant = r.tenant;
          parts[s].index = r.index;
          work.emplace_back(s, std::move(parts[s]));
        }
        fan_out<upsert_reply>(self, r.tenant, r.index, std::move(work), rp,
                              [n](std::vector<upsert_reply> replies,
                                  const std::vector<std::uint32_t>&, caf::response_promise& rp) {
                                upsert_reply out{n, seq_no{}};
                                for (auto& x : replies)
                                  if (out.seq < x.seq) out.seq = x.seq;
                                rp.deliver(out);
                              });
      });
}

void route_search(router_actor* self, search_request r, caf::response_promise rp) {
  auto tenant = r.tenant;
  auto index = r.index;
  with_route(
      self, tenant, index, rp, [self, r = std::move(r), rp](const index_route& route) mutable {
        // Checked at the edge (see route_upsert), once for every shard.
        if (auto st = validate_search(r.query, r.options, route.params.dimension,
                                      route.params.distance, 0);
            !st.ok())
          return fail(rp, st);
        if (route.shards.size() == 1 && !self->state.clustered) {
          rp.delegate(route.shards[0], std::move(r));
          return;
        }
        std::vector<std::pair<std::uint32_t, search_request>> work;
        for (std::uint32_t s = 0; s < route.shards.size(); ++s) work.emplace_back(s, r);
        auto k = r.options.k;
        auto index = r.index;
        auto partial = r.options.allow_partial;
        fan_out<search_reply>(
            self, r.tenant, r.index, std::move(work), rp,
            [k, index, partial](std::vector<search_reply> replies,
                                const std::vector<std::uint32_t>& missing,
                                caf::response_promise& rp) {
              // Partial results need at least one shard that answered.
              if (!missing.empty() && (!partial || missing.size() == replies.size())) {
                std::string list;
                for (auto m : missing) list += (list.empty() ? "" : ", ") + std::to_string(m);
                return fail(rp, make_status(errc::unavailable,
                                            "index '" + index + "': shard(s) " + list +
                                                " have no serving replica",
                                            {{"missing_shards", std::int64_t(missing.size())}}));
              }
              std::vector<std::vector<search_hit>> per_shard;
              for (auto& x : replies) per_shard.push_back(std::move(x.hits));
              auto out = search_reply{merge_hits(std::move(per_shard), k), missing};
              std::sort(out.missing_shards.begin(), out.missing_shards.end());
              rp.deliver(std::move(out));
            },
            r.options.eventual, true, !partial);
      });
}

void route_search_batch(router_actor* self, search_batch_request r, caf::response_promise rp) {
  auto tenant = r.tenant;
  auto index = r.index;
  with_route(
      self, tenant, index, rp, [self, r = std::move(r), rp](const index_route& route) mutable {
        // Every query is checked first so that details.index names the first bad one.
        for (std::size_t i = 0; i < r.queries.size(); ++i)
          if (auto st = validate_search(r.queries[i], r.options[i], route.params.dimension,
                                        route.params.distance, i);
              !st.ok())
            return fail(rp, st);
        // Each query then takes the router's own search path; they run in parallel.
        std::vector<std::pair<caf::actor, search_request>> work;
        for (std::size_t i = 0; i < r.queries.size(); ++i)
          work.emplace_back(
              caf::actor_cast<caf::actor>(self),
              search_request{r.tenant, r.index, std::move(r.queries[i]), r.options[i]});
        fan_out_to<search_reply>(self, std::move(work), rp,
                                 [](std::vector<search_reply> replies, caf::response_promise& rp) {
                                   search_batch_reply out;
                                   for (auto& x : replies) out.results.push_back(std::move(x.hits));
                                   rp.deliver(out);
                                 });
      });
}

void route_get(router_actor* self, get_vector_request r, caf::response_promise rp) {
  auto tenant = r.tenant;
  auto index = r.index;
  with_route(self, tenant, index, rp,
             [self, r = std::move(r), rp](const index_route& route) mutable {
               auto s = shard_of(r.id, route.params.shards).value;
               if (!self->state.clustered) {
                 rp.delegate(route.shards[s], std::move(r));
                 return;
               }
               auto tenant = r.tenant;
               auto index = r.index;
               shard_call<vector_record>(self, tenant, index, s, std::move(r), false,
                                         [rp](expected<vector_record> v) mutable {
                                           if (!v) return fail(rp, v.error());
                                           rp.deliver(std::move(*v));
                                         });
             });
}

void route_delete(router_actor* self, delete_vectors_request r, caf::response_promise rp) {
  if (!r.filter.empty()) {
    // Every shard deletes what the filter matches there.
    to_every_shard<delete_vectors_reply>(self, std::move(r), rp, [](auto replies) {
      delete_vectors_reply out;
      for (auto& x : replies) out.deleted += x.deleted;
      return out;
    });
    return;
  }
  auto tenant = r.tenant;
  auto index = r.index;
  with_route(self, tenant, index, rp,
             [self, r = std::move(r), rp](const index_route& route) mutable {
               auto sum = [](std::vector<delete_vectors_reply> replies,
                             const std::vector<std::uint32_t>&, caf::response_promise& rp) {
                 delete_vectors_reply out;
                 for (auto& x : replies) out.deleted += x.deleted;
                 rp.deliver(out);
               };
               std::vector<delete_vectors_request> parts(route.shards.size());
               for (auto& id : r.ids)
                 parts[shard_of(id, route.params.shards).value].ids.push_back(std::move(id));
               std::vector<std::pair<std::uint32_t, delete_vectors_request>> work;
               for (std::uint32_t s = 0; s < parts.size(); ++s) {
                 if (parts[s].ids.empty()) continue;
                 parts[s].tenant = r.tenant;
                 parts[s].index = r.index;
                 work.emplace_back(s, std::move(parts[s]));
               }
               if (work.empty()) {
                 rp.deliver(delete_vectors_reply{0});
                 return;
               }
               fan_out<delete_vectors_reply>(self, r.tenant, r.index, std::move(work), rp, sum);
             });
}

namespace {

// Vectors a merge reads and upserts at a time: bounds the memory a merge holds
// (768-d: ~3 MiB a page) and the time any one of its requests takes.
constexpr std::uint32_t merge_page = 1000;

// A merge in progress: the source is read shard by shard, page by page, each page
// upserted into the target before the next is read.
struct merge_job {
  merge_request request;
  std::uint32_t shards = 0;  // of the source
  std::uint32_t shard = 0;
  std::string after;  // in the shard, the last id copied
  std::uint64_t merged = 0;
  caf::response_promise rp;
};

void merge_failed(merge_job& job, status st) {
  st.message = "merge stopped after " + std::to_string(job.merged) +
               " vectors (merge is an upsert: running it again is safe): " + st.message;
  st.details.emplace_back("merged", static_cast<std::int64_t>(job.merged));
  job.rp.deliver(to_caf_error(st));
}

void merge_step(router_actor* self, std::shared_ptr<merge_job> job) {
  const auto& r = job->request;
  if (job->shard == job->shards) {
    if (!r.delete_source || r.source == r.index) return job->rp.deliver(merge_reply{job->merged});
    self->request(caf::actor_cast<caf::actor>(self), self->state.timeout,
                  drop_index_request{r.tenant, r.source})
        .then([job](bool) { job->rp.deliver(merge_reply{job->merged}); },
              [job](caf::error& e) { merge_failed(*job, from_caf_error(e)); });
    return;
  }
  shard_call<shard_export>(
      self, r.tenant, r.source, job->shard, shard_export_request{r.tenant, job->after, merge_page},
      false, [self, job](expected<shard_export> page) {
        if (!page) return merge_failed(*job, page.error());
        auto next = [job, more = page->more, last = page->last_id] {
          if (more) {
            job->after = last;
          } else {
            ++job->shard;
            job->after.clear();
          }
        };
        if (page->items.empty()) {
          next();
          return merge_step(self, job);
        }
        auto n = page->items.size();
        const auto& r = job->request;
        self->request(caf::actor_cast<caf::actor>(self), self->state.timeout,
                      upsert_request{r.tenant, r.index, std::move(page->items)})
            .then(
                [self, job, n, next](upsert_reply&) {
                  job->merged += n;
                  next();
                  merge_step(self, job);
                },
                [job](caf::error& e) { merge_failed(*job, from_caf_error(e)); });
      });
}

}  // namespace

void route_merge(router_actor* self, merge_request r, caf::response_promise rp) {
  auto tenant = r.tenant;
  with_route(self, tenant, r.index, rp, [self, r, rp](const index_route& target) mutable {
    auto target_params = target.params;
    with_route(self, r.tenant, r.source, rp,
               [self, r, rp, target_params](const index_route& source) mutable {
                 if (source.params.dimension != target_params.dimension ||
                     source.params.distance != target_params.distance)
                   return fail(rp,
                               make_status(errc::invalid_argument,
                                           "source and target differ in dimension or distance"));
                 auto job = std::make_shared<merge_job>();
                 job->request = std::move(r);
                 job->shards = source.params.shards;
                 job->rp = rp;
                 merge_step(self, std::move(job));
               });
  });
}

}  // namespace quiver::routing
