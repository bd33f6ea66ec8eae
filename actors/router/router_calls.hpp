#pragma once
// The router actor's state and the calls its routes are made of (look up a
// route, call a shard with retries, fan out and combine). Included only by the
// router's own sources: it brings CAF in.

#include <caf/actor_cast.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver::routing {

using index_key = std::pair<std::string, std::string>;  // (tenant, index name)

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

// Router -> itself: a shard call to try again once its backoff is over.
struct retry_call {
  std::function<void()> run;
};

inline void fail(caf::response_promise& rp, const status& st) { rp.deliver(to_caf_error(st)); }

inline status no_replica(const std::string& index, std::uint32_t shard) {
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
// any serving replica in turn; the next one on each retry. Null: none serves.
inline std::pair<caf::actor, std::string> pick(router_actor* self, const index_route& route,
                                               std::uint32_t shard, bool eventual, int attempt) {
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
  return candidates[(i + static_cast<std::size_t>(attempt)) % candidates.size()];
}

// How long each retry of a shard call waits first. Clustered, a shard's primary
// moves (planned, or a lost node's failover) within about two seconds: the
// fence, the map's change, the new primary's promotion. Calls retried through
// it answer late rather than fail. Without a cluster a route does not move: one
// immediate retry (a shard that restarted).
constexpr std::array<std::chrono::milliseconds, 6> retry_backoff{
    std::chrono::milliseconds(0),    std::chrono::milliseconds(100),
    std::chrono::milliseconds(250),  std::chrono::milliseconds(500),
    std::chrono::milliseconds(1000), std::chrono::milliseconds(1000)};
// No retry starts this long after the first attempt: a call that timed out
// inside the server is not sent again and again.
constexpr auto retry_budget = std::chrono::seconds(3);

// A shard call's retries so far.
struct call_retries {
  // Not patient (a search that may answer without the shard): one immediate retry.
  bool patient = true;
  int attempt = 0;  // 0: the first try
  // An earlier attempt reached a shard and failed in a way that says nothing of
  // whether it was applied (its node went away, it timed out, or it was logged
  // but not confirmed by the in-sync replicas).
  bool unsure = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

// Whether a failed shard call may be tried again.
inline bool may_retry(router_actor* self, const call_retries& rt) {
  auto max = self->state.clustered && rt.patient ? static_cast<int>(retry_backoff.size()) : 1;
  return rt.attempt + 1 <= max && std::chrono::steady_clock::now() - rt.start < retry_budget;
}

// Whether a reply still tells the client what it asks after an unsure attempt.
// A delete's count does not when it is short: the earlier attempt may have
// deleted what this one found gone (and a delete by filter cannot say).
template <class Request>
struct sure_after_retry {
  explicit sure_after_retry(const Request&) {}
  template <class Reply>
  bool operator()(const Reply&) const {
    return true;
  }
};
template <>
struct sure_after_retry<delete_vectors_request> {
  std::size_t ids;
  bool by_filter;
  explicit sure_after_retry(const delete_vectors_request& r)
      : ids(r.ids.size()), by_filter(r.ids.empty()) {}
  bool operator()(const delete_vectors_reply& x) const { return !by_filter && x.deleted >= ids; }
};

// Sends `r` to shard `shard` of the index and hands the outcome to `done`. A
// failure that routing explains (the replica is gone, no longer primary, or
// unreachable; no route while the coordinator is out of reach) is retried on
// a fresh route after a backoff (retry_backoff): on another replica for
// eventual reads, on the (possibly new) primary otherwise. Writes are
// idempotent (upsert replaces, delete deletes), so repeating one is safe; an
// answer that a repeat cannot give for sure (sure_after_retry) is a 503.
template <class Reply, class Request, class Done>
void shard_call(router_actor* self, tenant_id tenant, std::string index, std::uint32_t shard,
                Request r, bool eventual, Done done, call_retries rt = {}) {
  // `unsure`: the failed attempt may have been applied.
  auto again = [self, tenant, index, shard, r, eventual, done, rt](bool unsure) mutable {
    auto next = rt;
    ++next.attempt;
    next.unsure = next.unsure || unsure;
    auto call = [self, tenant, index, shard, r = std::move(r), eventual, done = std::move(done),
                 next]() mutable {
      self->state.routes.erase({tenant.value, index});
      shard_call<Reply>(self, tenant, index, shard, std::move(r), eventual, std::move(done), next);
    };
    auto wait = retry_backoff[static_cast<std::size_t>(rt.attempt) % retry_backoff.size()];
    if (wait.count() == 0) return call();
    self->delayed_send(self, wait, retry_call{std::move(call)});
  };
  lookup(
      self, tenant, index,
      [self, index, shard, r, eventual, rt, done, again](const index_route& route) mutable {
        auto [target, node] = pick(self, route, shard, eventual, rt.attempt);
        if (!target) {
          if (self->state.clustered && may_retry(self, rt)) return again(false);
          return done(expected<Reply>(no_replica(index, shard)));
        }
        // Exactly one of: the reply, the error, or the node declared down.
        auto failed = [self, rt, done, again](status st) mutable {
          if ((st.code == errc::unavailable || st.code == errc::stale_epoch) && may_retry(self, rt))
            // A stale epoch was refused before it was logged: nothing happened.
            return again(st.code != errc::stale_epoch);
          done(expected<Reply>(std::move(st)));
        };
        auto id = self->state.next_request++;
        self->state.in_flight.emplace(
            id, std::make_pair(node, [failed, node = node]() mutable {
              failed(make_status(errc::unavailable, "node " + node + " went down"));
            }));
        sure_after_retry<Request> sure(r);
        self->request(target, self->state.timeout, std::move(r))
            .then(
                [self, id, done, sure, unsure = rt.unsure](Reply& x) mutable {
                  if (!self->state.in_flight.erase(id)) return;
                  if (unsure && !sure(x))
                    return done(expected<Reply>(make_status(
                        errc::unavailable,
                        "a failover cut an earlier try short and a repeat cannot tell what it "
                        "did; the request may or may not have been applied: retry it")));
                  done(expected<Reply>(std::move(x)));
                },
                [self, id, failed](caf::error& e) mutable {
                  if (self->state.in_flight.erase(id)) failed(from_caf_error(e));
                });
      },
      // No route: the coordinator is out of reach (a new one is being elected).
      [self, rt, done, again](caf::error& e) mutable {
        auto st = from_caf_error(e);
        if (self->state.clustered && st.code == errc::unavailable && may_retry(self, rt))
          return again(false);
        done(expected<Reply>(std::move(st)));
      });
}

// Sends work[i] = (shard, request) to its shard (shard_call) and, once every reply
// is in, delivers combine(replies, missing shards). Without `partial` the first
// failure is delivered instead; with it, failed shards are listed as missing.
// Not `patient`: a shard gets one retry, not a primary's move (an answer that
// may leave shards out does not wait for them).
template <class Reply, class Request, class Combine>
void fan_out(router_actor* self, const tenant_id& tenant, const std::string& index,
             std::vector<std::pair<std::uint32_t, Request>> work, caf::response_promise rp,
             Combine combine, bool eventual = false, bool partial = false, bool patient = true) {
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
    shard_call<Reply>(
        self, tenant, index, shard, std::move(work[i].second), eventual,
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
        },
        call_retries{patient});
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

// The routes that split a request over shards (routes.cpp).
void route_upsert(router_actor* self, upsert_request r, caf::response_promise rp);
void route_search(router_actor* self, search_request r, caf::response_promise rp);
void route_search_batch(router_actor* self, search_batch_request r, caf::response_promise rp);
void route_get(router_actor* self, get_vector_request r, caf::response_promise rp);
void route_delete(router_actor* self, delete_vectors_request r, caf::response_promise rp);
void route_merge(router_actor* self, merge_request r, caf::response_promise rp);

}  // namespace quiver::routing

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::routing::retry_call)
