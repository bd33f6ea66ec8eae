#include "actors/registry/index_registry.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <map>
#include <optional>

#include "actors/registry/detail/registry_state.hpp"
#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"
#include "actors/wire/protocol.hpp"

namespace quiver::registry_detail {

caf::error not_found(const std::string& name) {
  return to_caf_error(make_status(errc::index_not_found, "no index '" + name + "'"));
}

caf::error loading() {
  return to_caf_error(make_status(errc::unavailable, "the catalog is still loading"));
}

// The index's status: its worst shard's.
std::string index_status(const index_entry& e) {
  auto rank = [](const std::string& s) {
    return s == "quarantined" ? 3 : s == "unavailable" ? 2 : s == "recovering" ? 1 : 0;
  };
  std::string worst = "ready";
  for (auto& s : e.shards)
    if (rank(s.state) > rank(worst)) worst = s.state;
  return worst;
}

bool settled(const index_entry& e) {
  return std::none_of(e.shards.begin(), e.shards.end(),
                      [](const shard_slot& s) { return s.state == "recovering"; });
}

// Asks every ready shard of the given indexes for its stats and delivers their
// descriptions, in the order given.
void describe(registry_actor* self, std::vector<const index_entry*> entries,
              std::function<void(expected<std::vector<index_description>>)> done) {
  struct pending {
    std::vector<index_description> out;
    std::size_t remaining = 0;
    bool failed = false;
  };
  auto p = std::make_shared<pending>();
  p->out.resize(entries.size());
  std::vector<std::pair<std::size_t, caf::actor>> asks;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& d = p->out[i];
    d.tenant = entries[i]->catalog.tenant;
    d.params = entries[i]->catalog.params;
    d.status = index_status(*entries[i]);
    for (auto& s : entries[i]->shards) {
      d.replayed_records += s.replayed;
      d.recovery_seconds = std::max(d.recovery_seconds, s.seconds);
      if (s.state == "ready") asks.emplace_back(i, s.actor);
    }
  }
  p->remaining = asks.size();
  if (p->remaining == 0) {
    done(std::move(p->out));
    return;
  }
  for (auto& [i, shard] : asks) {
    self->request(shard, self->state.env->timeout, shard_stats_request{p->out[i].tenant})
        .then(
            [p, i = i, done](shard_stats& st) {
              if (p->failed) return;
              p->out[i].count += st.count;
              p->out[i].memory_bytes += st.memory_bytes;
              if (--p->remaining == 0) done(std::move(p->out));
            },
            [p, done](caf::error& e) {
              if (p->failed) return;
              p->failed = true;
              done(from_caf_error(e));
            });
  }
}

void answer_waiting(registry_actor* self, index_entry& entry) {
  if (entry.waiting.empty() || !settled(entry)) return;
  auto waiting = std::move(entry.waiting);
  entry.waiting.clear();
  describe(self, {&entry}, [waiting](auto result) mutable {
    for (auto& rp : waiting) {
      if (result) {
        rp.deliver(create_index_reply{result->front(), true});
      } else {
        rp.deliver(to_caf_error(result.error()));
      }
    }
  });
}

tenant_info info_of(registry_actor* self, const tenant_record& t) {
  tenant_info out;
  out.name = t.name;
  out.quotas = t.quotas;
  for (auto& [key, entry] : self->state.indexes) out.usage.indexes += key.first == t.name ? 1 : 0;
  auto used = self->state.env->usage->usage(t.name);
  if (self->state.cluster) {  // the coordinator: what every node's primaries hold
    auto u = self->state.cluster->usage_of(t.name);
    used = {u.vectors, u.bytes};
  }
  out.usage.vectors = static_cast<std::uint64_t>(std::max<std::int64_t>(used.vectors, 0));
  out.usage.bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(used.bytes, 0));
  return out;
}

caf::error no_tenant(const std::string& name) {
  return to_caf_error(make_status(errc::not_found, "no tenant '" + name + "'"));
}

// A tenant change as the etcd catalog makes it.
status change_in(catalog_store& c, const tenant_create_request& r) {
  return c.create_tenant(r.tenant);
}
status change_in(catalog_store& c, const tenant_rotate_request& r) {
  return c.set_tenant_key(r.name, r.key_hash);
}
status change_in(catalog_store& c, const tenant_drop_request& r) { return c.drop_tenant(r.name); }

// Makes a tenant change durable (in etcd's catalog or storage's), then runs
// `apply` and answers true.
template <class Request, class Apply>
caf::result<bool> change_tenant(registry_actor* self, Request r, Apply apply) {
  if (!self->state.loaded) return loading();
  auto rp = self->make_response_promise<bool>();
  if (catalog_in_etcd(self)) {
    change_catalog(
        self, [r](catalog_store& c) { return change_in(c, r); },
        [self, rp, r, apply](status st) mutable {
          if (!st.ok()) {
            rp.deliver(to_caf_error(st));
            return;
          }
          apply(self, r);
          rp.deliver(true);
        });
    return rp;
  }
  self->request(self->state.env->persistence, self->state.env->timeout, r)
      .then(
          [self, rp, r, apply](bool) mutable {
            apply(self, r);
            rp.deliver(true);
          },
          [rp](caf::error& e) mutable { rp.deliver(e); });
  return rp;
}

caf::behavior registry(registry_actor* self, std::shared_ptr<const index_actor_env> env,
                       std::optional<coordinator_options> coordination) {
  self->state.env = std::move(env);
  if (coordination) {
    self->state.cluster = std::make_unique<cluster_state>();
    self->state.coordination = *coordination;
    if (self->state.coordination.replica_logs) self->state.cluster->use_replica_logs();
    self->send(self, coordinate_atom::value);
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& s = self->state;
    for (auto& [name, node] : s.node_actors)
      if (node.address() == msg.source) {
        spdlog::warn("node {} is gone ({})", name, caf::to_string(msg.reason));
        node = nullptr;
        s.cluster->node_lost(name);
        forget_node(self, name);
        coordinate(self);
        return;
      }
    if (self->state.stopping) {
      bool all_down = true;
      for (auto& [key, entry] : self->state.indexes)
        for (auto& shard : entry.shards) {
          if (shard.actor.address() == msg.source) shard.actor = nullptr;
          all_down &= !shard.actor;
        }
      if (all_down) self->quit(caf::exit_reason::user_shutdown);
      return;
    }
    for (auto& [key, entry] : self->state.indexes)
      for (std::size_t s = 0; s < entry.shards.size(); ++s)
        if (entry.shards[s].actor.address() == msg.source) {
          entry.shards[s].state = "unavailable";
          entry.shards[s].reason = caf::to_string(msg.reason);
          spdlog::error("index {}/{} shard {} stopped: {}", key.first, key.second, s,
                        caf::to_string(msg.reason));
          answer_waiting(self, entry);
        }
  });
  // Stops once every shard has (clean shutdown: they write final snapshots). A
  // coordinator's slots are the nodes' actors, which stop with their nodes.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (self->state.cluster) return self->quit(msg.reason);
    self->state.stopping = true;
    bool any = false;
    for (auto& [key, entry] : self->state.indexes)
      for (auto& shard : entry.shards) {
        if (!shard.actor || shard.state == "unavailable") {
          shard.actor = nullptr;
          continue;
        }
        any = true;
        self->send_exit(shard.actor, msg.reason);
      }
    if (!any) self->quit(msg.reason);
  });
  load_catalog(self);
  return {
      [self](reload_atom) { load_catalog(self); },
      [](protocol_hello& peer) -> caf::result<protocol_hello> {
        auto out = answer_hello(peer);
        if (!out) {
          spdlog::warn("refused a peer: {}", out.error().message);
          return to_caf_error(out.error());
        }
        return *out;
      },
      [self](campaign_atom) {
        self->state.campaign_due = false;
        campaign(self);
      },
      // The key is free (its holder's lease lapsed or was revoked): no need to
      // wait for the next campaign.
      [self](vacant_atom) {
        if (self->state.cluster) campaign(self);
      },
      [self](announce_atom, std::string& name, std::string& address) {
        self->state.me = controller_record{std::move(name), std::move(address)};
        campaign(self);
      },
      [](coordinator_call& call) { call.run(); },
      [self](coordinate_atom) {
        auto& s = self->state;
        // Unelected, heartbeats are refused: silence then says nothing of a node.
        if (placing(self))
          for (auto& name :
               s.cluster->expire(cluster_state::clock::now(), s.coordination.node_timeout)) {
            spdlog::warn("node {} missed its heartbeats for {} ms: down", name,
                         s.coordination.node_timeout.count());
            forget_node(self, name);
          }
        if (s.loaded) coordinate(self);
        self->delayed_send(self, s.coordination.heartbeat, coordinate_atom::value);
      },
      [self](gateway_beat& b) -> std::uint32_t {
        if (!self->state.cluster) return 1;
        auto now = cluster_state::clock::now();
        self->state.cluster->gateway_beat(b.name, now);
        // Three missed beats and a gateway no longer takes a share.
        return self->state.cluster->gateways(now, std::chrono::seconds(3));
      },
      [self](in_sync_update_request& r) -> caf::result<bool> {
        if (!self->state.cluster)
          return to_caf_error(make_status(errc::internal, "not a coordinator"));
        return on_in_sync_update(self, r);
      },
      [self](node_heartbeat& hb) -> caf::result<heartbeat_reply> {
        if (!self->state.cluster)
          return to_caf_error(make_status(errc::internal, "not a coordinator"));
        if (!self->state.loaded) return loading();
        return on_heartbeat(self, hb);
      },
      [self](cluster_version_request&) -> std::uint64_t {
        return self->state.cluster ? self->state.cluster->version() : 0;
      },
      [self](cluster_status_request&) -> cluster_status {
        if (self->state.cluster) return cluster_view(self);
        cluster_status out;
        out.mode = "single-node";
        return out;
      },
      [self](shard_status_report& r) {
        auto sender = self->current_sender();
        for (auto& [key, entry] : self->state.indexes) {
          if (r.shard.value >= entry.shards.size()) continue;
          auto& slot = entry.shards[r.shard.value];
          if (slot.actor != caf::actor_cast<caf::actor>(sender)) continue;
          slot.state = r.state;
          slot.reason = r.reason;
          if (r.state == "ready") {
            slot.replayed = r.replayed_records;
            slot.seconds = r.recovery_seconds;
          }
          answer_waiting(self, entry);
          return;
        }
      },
      [self](create_index_request& r) -> caf::result<create_index_reply> {
        if (!self->state.loaded) return loading();
        if (auto st = validate_params(r.params); !st.ok()) return to_caf_error(st);
        if (!self->state.cluster && r.params.replicas > 1)
          return to_caf_error(
              make_status(errc::invalid_argument,
                          "'replicas' above 1 needs a cluster; this server is one node"));
        auto key = index_key{r.tenant.value, r.params.name};
        auto& indexes = self->state.indexes;
        auto it = indexes.find(key);
        if (it != indexes.end() && it->second.catalog.params != r.params)
          return to_caf_error(make_status(
              errc::index_exists, "index '" + r.params.name + "' exists with other parameters"));
        // From here on the promise answers: a value returned would be dropped.
        auto rp = self->make_response_promise<create_index_reply>();
        if (it != indexes.end()) {
          if (!settled(it->second)) {
            it->second.waiting.push_back(rp);
            return rp;
          }
          describe(self, {&it->second}, [rp](auto result) mutable {
            if (result) {
              rp.deliver(create_index_reply{std::move(result->front()), false});
            } else {
              rp.deliver(to_caf_error(result.error()));
            }
          });
          return rp;
        }
        auto created = [self, rp, key](expected<catalog_create_reply> out) mutable {
          if (!out) {
            rp.deliver(to_caf_error(out.error()));
            return;
          }
          auto& reply = *out;
          auto& indexes = self->state.indexes;
          auto it = indexes.find(key);
          if (it == indexes.end()) {
            auto& entry = spawn_shards(self, reply.entry);
            spdlog::info("created index {}/{} (dimension {}, {} shard(s))", key.first, key.second,
                         reply.entry.params.dimension, reply.entry.params.shards);
            entry.waiting.push_back(rp);
            answer_waiting(self, entry);
            return;
          }
          // A concurrent create of the same index got there first.
          it->second.waiting.push_back(rp);
          answer_waiting(self, it->second);
        };
        if (catalog_in_etcd(self)) {
          create_in_catalog(self, r.tenant, r.params, created);
          return rp;
        }
        self->request(self->state.env->persistence, self->state.env->timeout,
                      catalog_create_request{r.tenant, r.params})
            .then([created](catalog_create_reply& reply) mutable { created(reply); },
                  [created](caf::error& e) mutable { created(from_caf_error(e)); });
        return rp;
      },
      [self](lookup_index_request& r) -> caf::result<index_route> {
        if (!self->state.loaded) return loading();
        auto it = self->state.indexes.find({r.tenant.value, r.name});
        if (it == self->state.indexes.end()) return not_found(r.name);
        index_route route{it->second.catalog.params, {}, {}, {}, {}};
        if (self->state.cluster) {
          // Holes (no serving primary) are the router's to report, shard by shard.
          auto& c = *self->state.cluster;
          for (std::uint32_t i = 0; i < it->second.shards.size(); ++i) {
            route.shards.push_back(it->second.shards[i].actor);
            route.replicas.emplace_back();
            route.shard_nodes.emplace_back();
            route.replica_nodes.emplace_back();
            auto view =
                c.shards().find({r.tenant.value, r.name, it->second.catalog.incarnation, i});
            if (view == c.shards().end()) continue;
            if (route.shards.back()) route.shard_nodes.back() = view->second.primary;
            for (auto& node : view->second.assigned)
              if (node != view->second.primary && c.replica_serving(view->second, node))
                if (auto a = replica_actor(self, view->first, node)) {
                  route.replicas.back().push_back(a);
                  route.replica_nodes.back().push_back(node);
                }
          }
          return route;
        }
        for (auto& s : it->second.shards) {
          if (s.state == "unavailable")
            return to_caf_error(
                make_status(errc::unavailable, "index '" + r.name + "' has a shard that is down"));
          route.shards.push_back(s.actor);
        }
        return route;
      },
      [self](list_indexes_request& r) -> caf::result<std::vector<index_description>> {
        if (!self->state.loaded) return loading();
        auto rp = self->make_response_promise<std::vector<index_description>>();
        std::vector<const index_entry*> entries;
        for (auto& [key, entry] : self->state.indexes)
          if (r.all_tenants || key.first == r.tenant.value) entries.push_back(&entry);
        describe(self, std::move(entries), [rp](auto result) mutable {
          if (result) {
            rp.deliver(std::move(*result));
          } else {
            rp.deliver(to_caf_error(result.error()));
          }
        });
        return rp;
      },
      [self](describe_index_request& r) -> caf::result<index_description> {
        if (!self->state.loaded) return loading();
        auto it = self->state.indexes.find({r.tenant.value, r.name});
        if (it == self->state.indexes.end()) return not_found(r.name);
        auto rp = self->make_response_promise<index_description>();
        describe(self, {&it->second}, [rp](auto result) mutable {
          if (result) {
            rp.deliver(std::move(result->front()));
          } else {
            rp.deliver(to_caf_error(result.error()));
          }
        });
        return rp;
      },
      [self](drop_index_request& r) -> caf::result<bool> {
        if (!self->state.loaded) return loading();
        auto key = index_key{r.tenant.value, r.name};
        if (!self->state.indexes.count(key)) return not_found(r.name);
        auto rp = self->make_response_promise<bool>();
        // The catalog first: once the drop is durable the index is gone for good.
        auto dropped = [self, rp, key](status st) mutable {
          if (!st.ok()) {
            rp.deliver(to_caf_error(st));
            return;
          }
          auto it = self->state.indexes.find(key);
          if (it != self->state.indexes.end()) forget_index(self, it);
          spdlog::info("dropped index {}/{}", key.first, key.second);
          rp.deliver(true);
        };
        if (catalog_in_etcd(self)) {
          drop_from_catalog(self, r.tenant, r.name, dropped);
          return rp;
        }
        self->request(self->state.env->persistence, self->state.env->timeout,
                      catalog_drop_request{r.tenant, r.name})
            .then([dropped](bool) mutable { dropped(status::success()); },
                  [dropped](caf::error& e) mutable { dropped(from_caf_error(e)); });
        return rp;
      },
      [self](tenant_create_request& r) -> caf::result<bool> {
        return change_tenant(self, std::move(r),
                             [](registry_actor* self, const tenant_create_request& r) {
                               add_tenant(self, r.tenant);
                               spdlog::info("created tenant {}", r.tenant.name);
                             });
      },
      [self](tenant_rotate_request& r) -> caf::result<bool> {
        return change_tenant(self, std::move(r),
                             [](registry_actor* self, const tenant_rotate_request& r) {
                               auto it = self->state.tenants.find(r.name);
                               if (it == self->state.tenants.end()) return;
                               auto t = it->second;
                               t.key_hash = r.key_hash;
                               add_tenant(self, t);
                               spdlog::info("rotated the key of tenant {}", r.name);
                             });
      },
      [self](tenant_drop_request& r) -> caf::result<bool> {
        return change_tenant(
            self, std::move(r), [](registry_actor* self, const tenant_drop_request& r) {
              auto& s = self->state;
              if (auto it = s.tenants.find(r.name); it != s.tenants.end()) {
                s.tenant_of_key.erase(it->second.key_hash);
                s.tenants.erase(it);
              }
              s.env->usage->forget_limits(r.name);
              std::size_t dropped = 0;
              for (auto it = s.indexes.begin(); it != s.indexes.end();) {
                auto next = std::next(it);
                if (it->first.first == r.name) {
                  // etcd dropped them with the tenant; storage's files follow.
                  if (catalog_in_etcd(self) && s.env->persistence)
                    self->request(s.env->persistence, s.env->timeout,
                                  catalog_drop_request{tenant_id{r.name}, it->first.second})
                        .then([](bool) {}, [](caf::error&) {});
                  forget_index(self, it);
                  ++dropped;
                }
                it = next;
              }
              if (s.cluster) s.cluster->drop_tenant(r.name);
              spdlog::info("dropped tenant {} and its {} index(es)", r.name, dropped);
            });
      },
      [self](tenant_list_request&) -> caf::result<std::vector<tenant_info>> {
        if (!self->state.loaded) return loading();
        std::vector<tenant_info> out;
        for (auto& [name, t] : self->state.tenants) out.push_back(info_of(self, t));
        return out;
      },
      [self](tenant_get_request& r) -> caf::result<tenant_info> {
        if (!self->state.loaded) return loading();
        auto it = self->state.tenants.find(r.name);
        if (it == self->state.tenants.end()) return no_tenant(r.name);
        return info_of(self, it->second);
      },
      [self](tenant_auth_request& r) -> caf::result<tenant_auth_reply> {
        if (!self->state.loaded) return loading();
        auto& s = self->state;
        auto it = s.tenant_of_key.find(r.key_hash);
        if (it == s.tenant_of_key.end())
          return to_caf_error(make_status(errc::unauthenticated, "unknown API key"));
        return tenant_auth_reply{tenant_id{it->second}, s.tenants[it->second].quotas};
      },
      [self](readiness_request&) -> caf::result<readiness_reply> {
        auto out = std::make_shared<readiness_reply>();
        if (!self->state.loaded) out->missing.push_back("catalog");
        for (auto& [key, entry] : self->state.indexes) {
          auto name = key.first + "/" + key.second;
          for (std::size_t s = 0; s < entry.shards.size(); ++s)
            if (entry.shards[s].state != "ready")
              out->missing.push_back(name + "/" + std::to_string(s));
          auto st = index_status(entry);
          if (st != "ready") {
            out->index_names.push_back(name);
            out->index_states.push_back(st);
          }
        }
        // A coordinator hosted by a vectord has no storage of its own.
        if (!self->state.env->persistence) return std::move(*out);
        auto rp = self->make_response_promise<readiness_reply>();
        self->request(self->state.env->persistence, self->state.env->timeout,
                      storage_stats_request{})
            .then(
                [rp, out](storage_stats& st) mutable {
                  out->storage = st;
                  rp.deliver(std::move(*out));
                },
                [rp, out](caf::error&) mutable {
                  out->missing.push_back("storage");
                  rp.deliver(std::move(*out));
                });
        return rp;
      },
  };
}

}  // namespace quiver::registry_detail

namespace quiver {

using registry_detail::registry;

caf::actor spawn_index_registry(caf::actor_system& system,
                                std::shared_ptr<const index_actor_env> env) {
  return system.spawn(registry, std::move(env), std::optional<coordinator_options>{});
}

caf::actor spawn_coordinator(caf::actor_system& system, std::shared_ptr<const index_actor_env> env,
                             coordinator_options options) {
  return system.spawn(registry, std::move(env), std::optional<coordinator_options>{options});
}

void controller_vacant(const caf::actor& coordinator) {
  caf::anon_send(coordinator, registry_detail::vacant_atom::value);
}

void announce_controller(const caf::actor& coordinator, std::string name, std::string address) {
  caf::anon_send(coordinator, registry_detail::announce_atom::value, std::move(name),
                 std::move(address));
}

}  // namespace quiver
