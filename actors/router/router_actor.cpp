#include "actors/router/router_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <functional>
#include <map>

#include "actors/router/search_merge.hpp"
#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"
#include "actors/wire/link_actor.hpp"
#include "cluster/sharding.hpp"
#include "common/parse.hpp"
#include "common/vector_validation.hpp"

namespace quiver {

namespace {

using index_key = std::pair<std::string, std::string>;  // (tenant, index name)

using poll_atom = caf::atom_constant<caf::atom("poll")>;
using changed_atom = caf::atom_constant<caf::atom("changed")>;

struct router_state {
  caf::actor registry;
  std::chrono::milliseconds timeout{};
  std::map<index_key, index_route> routes;
  // Cluster: the coordinator's map version the cached routes belong to, and a
  // direct CAF connection to every node (messages to a node's index actors then
  // go straight to it, not relayed through the coordinator's daemon).
  bool clustered = false;
  bool watched = false;  // told of map changes instead of polling
  std::uint64_t version = 0;
  std::map<std::string, caf::actor> node_links;  // by address
  std::size_t rotation = 0;                      // eventual reads spread over replicas
  // Shard requests out, by id: the node that has them and how to fail them. A
  // node's death does not always reach a gateway as a CAF down message (with an
  // indirect route through storaged, CAF 0.17 keeps the proxies), so the router
  // fails them itself once the coordinator's map says the node is down.
  std::map<std::uint64_t, std::pair<std::string, std::function<void()>>> in_flight;
  std::uint64_t next_request = 0;
  static inline const char* name = "quiver.router";
};

using router_actor = caf::stateful_actor<router_state>;

void fail(caf::response_promise& rp, const status& st) { rp.deliver(to_caf_error(st)); }

status no_replica(const std::string& index, std::uint32_t shard) {
  return make_status(errc::unavailable, "index '" + index + "' shard " + std::to_string(shard) +
                                            " has no serving replica");
}

// Runs `then(route)` once the route of (tenant, index) is known, else `fail(error)`.
template <class F, class G>
void lookup(router_actor* self, const tenant_id& tenant, const std::string& index, F then, G fail) {
  auto key = index_key{tenant.value, index};
  if (auto it = self->state.routes.find(key); it != self->state.routes.end()) {
    then(it->second);
    return;
  }
  self->request(self->state.registry, self->state.timeout, lookup_index_request{tenant, index})
      .then(
          [self, key, then](index_route& route) mutable {
            for (auto& shard : route.shards)
              if (shard) self->monitor(shard);
            auto& cached = self->state.routes[key] = std::move(route);
            then(cached);
          },
          [fail](caf::error& e) mutable { fail(e); });
}

// Runs `then(route)` once the route of (tenant, index) is known, or delivers the
// lookup's error to rp.
template <class F>
void with_route(router_actor* self, const tenant_id& tenant, const std::string& index,
                caf::response_promise rp, F then) {
  lookup(self, tenant, index, std::move(then), [rp](caf::error& e) mutable { rp.deliver(e); });
}

// The replica of `shard` to ask and its node: the primary, or (eventual reads)
// any serving replica in turn; the other one on a retry. Null: none serves.
std::pair<caf::actor, std::string> pick(router_actor* self, const index_route& route,
                                        std::uint32_t shard, bool eventual, bool retry) {
  std::vector<std::pair<caf::actor, std::string>> candidates;
  auto node_of = [](const std::vector<std::string>& nodes, std::size_t i) {
    return i < nodes.size() ? nodes[i] : std::string();
  };
  if (shard < route.shards.size() && route.shards[shard])
    candidates.emplace_back(route.shards[shard], node_of(route.shard_nodes, shard));
  if (eventual && shard < route.replicas.size())
    for (std::size_t i = 0; i < route.replicas[shard].size(); ++i)
      candidates.emplace_back(route.replicas[shard][i], shard < route.replica_nodes.size()
                                                            ? node_of(route.replica_nodes[shard], i)
                                                            : std::string());
  if (candidates.empty()) return {};
  auto i = eventual ? self->state.rotation++ : 0;
  return candidates[(i + (retry ? 1 : 0)) % candidates.size()];
}

// Sends `r` to shard `shard` of the index and hands the outcome to `done`. A
// failure that routing explains (the replica is gone, no longer primary, or
// unreachable) is retried once on a fresh route: on another replica for eventual
// reads, on the (possibly new) primary otherwise. Writes are idempotent (upsert
// replaces, delete deletes), so repeating one is safe.
template <class Reply, class Request, class Done>
void shard_call(router_actor* self, tenant_id tenant, std::string index, std::uint32_t shard,
                Request r, bool eventual, bool retried, Done done) {
  auto again = [self, tenant, index, shard, r, eventual, done]() mutable {
    self->state.routes.erase({tenant.value, index});
    shard_call<Reply>(self, tenant, index, shard, std::move(r), eventual, true, std::move(done));
  };
  lookup(
      self, tenant, index,
      [self, index, shard, r, eventual, retried, done, again](const index_route& route) mutable {
        auto [target, node] = pick(self, route, shard, eventual, retried);
        if (!target) {
          if (!retried && self->state.clustered) return again();
          return done(expected<Reply>(no_replica(index, shard)));
        }
        // Exactly one of: the reply, the error, or the node declared down.
        auto failed = [retried, done, again](status st) mutable {
          if (!retried && (st.code == errc::unavailable || st.code == errc::stale_epoch))
            return again();
          done(expected<Reply>(std::move(st)));
        };
        auto id = self->state.next_request++;
        self->state.in_flight.emplace(
            id, std::make_pair(node, [failed, node = node]() mutable {
              failed(make_status(errc::unavailable, "node " + node + " went down"));
            }));
        self->request(target, self->state.timeout, std::move(r))
            .then(
                [self, id, done](Reply& x) mutable {
                  if (self->state.in_flight.erase(id)) done(expected<Reply>(std::move(x)));
                },
                [self, id, failed](caf::error& e) mutable {
                  if (self->state.in_flight.erase(id)) failed(from_caf_error(e));
                });
      },
      [done](caf::error& e) mutable { done(expected<Reply>(from_caf_error(e))); });
}

// Sends work[i] = (shard, request) to its shard (shard_call) and, once every reply
// is in, delivers combine(replies, missing shards). Without `partial` the first
// failure is delivered instead; with it, failed shards are listed as missing.
template <class Reply, class Request, class Combine>
void fan_out(router_actor* self, const tenant_id& tenant, const std::string& index,
             std::vector<std::pair<std::uint32_t, Request>> work, caf::response_promise rp,
             Combine combine, bool eventual = false, bool partial = false) {
  struct pending {
    std::vector<Reply> replies;
    std::vector<std::uint32_t> missing;
    std::size_t remaining;
    bool failed = false;
  };
  auto p = std::make_shared<pending>();
  p->replies.resize(work.size());
  p->remaining = work.size();
  for (std::size_t i = 0; i < work.size(); ++i) {
    auto shard = work[i].first;
    shard_call<Reply>(self, tenant, index, shard, std::move(work[i].second), eventual, false,
                      [p, i, shard, rp, combine, partial](expected<Reply> r) mutable {
                        if (p->failed) return;
                        if (r) {
                          p->replies[i] = std::move(*r);
                        } else if (partial && r.error().code == errc::unavailable) {
                          p->missing.push_back(shard);
                        } else {
                          p->failed = true;
                          return rp.deliver(to_caf_error(r.error()));
                        }
                        if (--p->remaining == 0) combine(std::move(p->replies), p->missing, rp);
                      });
  }
}

// Sends requests[i] to targets[i] (actors, not shards) and, once every reply is
// in, delivers combine(replies); the first failure is delivered instead.
template <class Reply, class Request, class Combine>
void fan_out_to(router_actor* self, std::vector<std::pair<caf::actor, Request>> work,
                caf::response_promise rp, Combine combine) {
  struct pending {
    std::vector<Reply> replies;
    std::size_t remaining;
    bool failed = false;
  };
  auto p = std::make_shared<pending>();
  p->replies.resize(work.size());
  p->remaining = work.size();
  for (std::size_t i = 0; i < work.size(); ++i) {
    self->request(work[i].first, self->state.timeout, std::move(work[i].second))
        .then(
            [p, i, rp, combine](Reply& r) mutable {
              if (p->failed) return;
              p->replies[i] = std::move(r);
              if (--p->remaining == 0) combine(std::move(p->replies), rp);
            },
            [p, rp](caf::error& e) mutable {
              if (p->failed) return;
              p->failed = true;
              rp.deliver(e);
            });
  }
}

// Sends `r` to every shard of its index (each its primary) and delivers
// combine(replies); the first failure is delivered instead.
template <class Reply, class Request, class Combine>
void to_every_shard(router_actor* self, Request r, caf::response_promise rp, Combine combine) {
  auto tenant = r.tenant;
  auto index = r.index;
  with_route(
      self, tenant, index, rp,
      [self, r = std::move(r), rp, combine](const index_route& route) mutable {
        std::vector<std::pair<std::uint32_t, Request>> work;
        for (std::uint32_t s = 0; s < route.shards.size(); ++s) work.emplace_back(s, r);
        fan_out<Reply>(
            self, r.tenant, r.index, std::move(work), rp,
            [combine](std::vector<Reply> replies, const std::vector<std::uint32_t>&,
                      caf::response_promise& rp) { rp.deliver(combine(std::move(replies))); });
      });
}

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
            r.options.eventual, true);
      });
}

// Passes an administrative request to the registry, which answers the client.
template <class Request>
caf::response_promise forward(router_actor* self, Request r) {
  auto rp = self->make_response_promise();
  rp.delegate(self->state.registry, std::move(r));
  return rp;
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

// Cluster: asks the coordinator whether the shard map changed; if so, forgets the
// cached routes and makes sure there is a direct connection to every node.
void poll_map(router_actor* self) {
  self->request(self->state.registry, std::chrono::seconds(2), cluster_version_request{})
      .then(
          [self](std::uint64_t version) {
            if (version == self->state.version) return;
            self->state.version = version;
            self->state.routes.clear();
            self->request(self->state.registry, std::chrono::seconds(2), cluster_status_request{})
                .then(
                    [self](cluster_status& map) {
                      std::vector<std::function<void()>> fail;
                      for (auto& node : map.nodes) {
                        if (node.up) continue;
                        auto& pending = self->state.in_flight;
                        for (auto it = pending.begin(); it != pending.end();) {
                          if (it->second.first != node.name) {
                            ++it;
                            continue;
                          }
                          fail.push_back(std::move(it->second.second));
                          it = pending.erase(it);
                        }
                      }
                      for (auto& f : fail) f();
                      for (auto& node : map.nodes) {
                        auto address = parse_host_port(node.address);
                        if (!address) {
                          spdlog::warn("router: node {} has a malformed address '{}'", node.name,
                                       node.address);
                          continue;
                        }
                        auto& link = self->state.node_links[node.address];
                        if (link) continue;
                        link = spawn_link_actor(self->system(), caf::actor{}, address->first,
                                                address->second);
                      }
                    },
                    [](caf::error&) {});
          },
          [](caf::error&) {});
}

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
      false, false, [self, job](expected<shard_export> page) {
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

caf::behavior router(router_actor* self, caf::actor registry, std::chrono::milliseconds timeout,
                     bool clustered, bool watched) {
  self->state.registry = std::move(registry);
  self->state.timeout = timeout;
  self->state.clustered = clustered;
  self->state.watched = watched;
  if (clustered) self->send(self, poll_atom::value);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [address, link] : self->state.node_links) self->send_exit(link, msg.reason);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& routes = self->state.routes;
    for (auto it = routes.begin(); it != routes.end();) {
      bool hit = false;
      for (auto& shard : it->second.shards) hit = hit || shard.address() == msg.source;
      it = hit ? routes.erase(it) : std::next(it);
    }
  });
  return {
      [self](poll_atom) {
        poll_map(self);
        if (!self->state.watched)
          self->delayed_send(self, std::chrono::milliseconds(200), poll_atom::value);
      },
      [self](changed_atom) { poll_map(self); },
      [self](cluster_status_request& r) -> caf::result<cluster_status> {
        return forward(self, std::move(r));
      },
      [self](create_index_request& r) -> caf::result<create_index_reply> {
        return forward(self, std::move(r));
      },
      [self](list_indexes_request& r) -> caf::result<std::vector<index_description>> {
        return forward(self, std::move(r));
      },
      [self](describe_index_request& r) -> caf::result<index_description> {
        return forward(self, std::move(r));
      },
      [self](readiness_request& r) -> caf::result<readiness_reply> {
        return forward(self, std::move(r));
      },
      [self](tenant_create_request& r) -> caf::result<bool> { return forward(self, std::move(r)); },
      [self](tenant_rotate_request& r) -> caf::result<bool> { return forward(self, std::move(r)); },
      [self](tenant_drop_request& r) -> caf::result<bool> { return forward(self, std::move(r)); },
      [self](tenant_list_request& r) -> caf::result<std::vector<tenant_info>> {
        return forward(self, std::move(r));
      },
      [self](tenant_get_request& r) -> caf::result<tenant_info> {
        return forward(self, std::move(r));
      },
      [self](tenant_auth_request& r) -> caf::result<tenant_auth_reply> {
        return forward(self, std::move(r));
      },
      [self](drop_index_request& r) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        auto key = index_key{r.tenant.value, r.name};
        self->request(self->state.registry, self->state.timeout, std::move(r))
            .then(
                [self, key, rp](bool dropped) mutable {
                  self->state.routes.erase(key);
                  rp.deliver(dropped);
                },
                [rp](caf::error& e) mutable { rp.deliver(e); });
        return rp;
      },
      [self](upsert_request& r) -> caf::result<upsert_reply> {
        auto rp = self->make_response_promise<upsert_reply>();
        route_upsert(self, std::move(r), rp);
        return rp;
      },
      [self](get_vector_request& r) -> caf::result<vector_record> {
        auto rp = self->make_response_promise<vector_record>();
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
                     shard_call<vector_record>(self, tenant, index, s, std::move(r), false, false,
                                               [rp](expected<vector_record> v) mutable {
                                                 if (!v) return fail(rp, v.error());
                                                 rp.deliver(std::move(*v));
                                               });
                   });
        return rp;
      },
      [self](delete_vectors_request& r) -> caf::result<delete_vectors_reply> {
        auto rp = self->make_response_promise<delete_vectors_reply>();
        if (!r.filter.empty()) {
          // Every shard deletes what the filter matches there.
          to_every_shard<delete_vectors_reply>(self, std::move(r), rp, [](auto replies) {
            delete_vectors_reply out;
            for (auto& x : replies) out.deleted += x.deleted;
            return out;
          });
          return rp;
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
                     fan_out<delete_vectors_reply>(self, r.tenant, r.index, std::move(work), rp,
                                                   sum);
                   });
        return rp;
      },
      [self](field_index_request& r) -> caf::result<field_index_reply> {
        auto rp = self->make_response_promise<field_index_reply>();
        to_every_shard<field_index_reply>(self, std::move(r), rp, [](auto replies) {
          field_index_reply out;
          for (auto& x : replies) out.changed = out.changed || x.changed;
          return out;
        });
        return rp;
      },
      [self](list_fields_request& r) -> caf::result<list_fields_reply> {
        auto rp = self->make_response_promise<list_fields_reply>();
        to_every_shard<list_fields_reply>(self, std::move(r), rp, [](auto replies) {
          return merge_field_lists(std::move(replies));
        });
        return rp;
      },
      [self](count_request& r) -> caf::result<count_reply> {
        auto rp = self->make_response_promise<count_reply>();
        to_every_shard<count_reply>(self, std::move(r), rp, [](auto replies) {
          count_reply out;
          for (auto& x : replies) out.count += x.count;
          return out;
        });
        return rp;
      },
      [self](list_ids_request& r) -> caf::result<id_page> {
        auto rp = self->make_response_promise<id_page>();
        auto limit = r.limit;
        to_every_shard<id_page>(self, std::move(r), rp, [limit](auto pages) {
          return merge_id_pages(std::move(pages), limit);
        });
        return rp;
      },
      [self](search_request& r) -> caf::result<search_reply> {
        auto rp = self->make_response_promise<search_reply>();
        route_search(self, std::move(r), rp);
        return rp;
      },
      [self](search_batch_request& r) -> caf::result<search_batch_reply> {
        auto rp = self->make_response_promise<search_batch_reply>();
        if (r.queries.size() != r.options.size())
          fail(rp, make_status(errc::invalid_argument, "queries and options differ in length"));
        else if (r.queries.empty())
          rp.deliver(search_batch_reply{});
        else
          route_search_batch(self, std::move(r), rp);
        return rp;
      },
      [self](merge_request& r) -> caf::result<merge_reply> {
        auto rp = self->make_response_promise<merge_reply>();
        auto tenant = r.tenant;
        with_route(self, tenant, r.index, rp, [self, r, rp](const index_route& target) mutable {
          auto target_params = target.params;
          with_route(self, r.tenant, r.source, rp,
                     [self, r, rp, target_params](const index_route& source) mutable {
                       if (source.params.dimension != target_params.dimension ||
                           source.params.distance != target_params.distance)
                         return fail(
                             rp, make_status(errc::invalid_argument,
                                             "source and target differ in dimension or distance"));
                       auto job = std::make_shared<merge_job>();
                       job->request = std::move(r);
                       job->shards = source.params.shards;
                       job->rp = rp;
                       merge_step(self, std::move(job));
                     });
        });
        return rp;
      },
  };
}

}  // namespace

caf::actor spawn_router(caf::actor_system& system, caf::actor registry,
                        std::chrono::milliseconds timeout, bool clustered, bool watched) {
  return system.spawn(router, std::move(registry), timeout, clustered, watched);
}

void notify_map_changed(const caf::actor& router) { caf::anon_send(router, changed_atom::value); }

}  // namespace quiver
