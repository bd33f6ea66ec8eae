#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "actors/controller/controller_metadata.hpp"
#include "actors/registry/detail/on_worker.hpp"
#include "actors/registry/detail/registry_state.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver::registry_detail {

// -- coordinator mode --

caf::actor replica_actor(registry_actor* self, const cluster_state::shard_key& key,
                         const std::string& node) {
  auto it = self->state.replica_actors.find({key, node});
  return it == self->state.replica_actors.end() ? caf::actor{} : it->second;
}

void lose_lead(registry_actor* self, const std::string& why) {
  auto& s = self->state;
  if (!s.leading) return;
  s.leading = false;
  s.writing.clear();
  spdlog::warn("no longer the cluster's controller ({}); placing nothing until elected again", why);
  campaign_later(self);
}

// Points every shard slot at its serving primary, so that lookups, descriptions
// and readiness read the cluster like local shards.
void sync_slots(registry_actor* self) {
  auto& c = *self->state.cluster;
  for (auto& [key, entry] : self->state.indexes) {
    for (std::uint32_t i = 0; i < entry.shards.size(); ++i) {
      auto& slot = entry.shards[i];
      auto it = c.shards().find(
          {key.first, key.second, entry.catalog.incarnation, static_cast<std::uint32_t>(i)});
      if (it == c.shards().end()) continue;
      auto& view = it->second;
      if (c.primary_serving(view)) {
        slot.actor = replica_actor(self, it->first, view.primary);
        slot.state = slot.actor ? "ready" : "recovering";
      } else {
        slot.actor = nullptr;
        slot.state = view.assigned.empty() ? "unavailable" : "recovering";
        slot.reason = view.assigned.empty() ? "no live node hosts it" : "";
      }
    }
    answer_waiting(self, entry);
  }
}

namespace {

std::string describe(const shard_ref& ref) {
  return ref.tenant.value + "/" + ref.index + "/" + std::to_string(ref.shard.value);
}

shard_ref ref_of(const cluster_state::shard_key& k) {
  return shard_ref{tenant_id{std::get<0>(k)}, std::get<1>(k), std::get<2>(k),
                   shard_id{std::get<3>(k)}};
}

// A storage fence at (at least) the epoch etcd gave the new primary.
void fence_storage(registry_actor* self, const fence_order& order, std::uint64_t epoch) {
  if (!self->state.env->persistence) {
    // No shared log to fence: each replica's log checks epochs itself.
    spdlog::info("shard {}: primary {} under epoch {}", describe(order.ref), order.node, epoch);
    self->state.cluster->fenced(order.ref, order.node, epoch);
    return coordinate(self);
  }
  self->request(self->state.env->persistence, self->state.env->timeout,
                shard_fence_request{order.ref, epoch})
      .then(
          [self, order](std::uint64_t fenced) {
            spdlog::info("shard {}: primary {} under epoch {}", describe(order.ref), order.node,
                         fenced);
            self->state.cluster->fenced(order.ref, order.node, fenced);
            coordinate(self);
          },
          [self, order](caf::error& e) {
            spdlog::warn("cannot fence shard {} at storage: {}", describe(order.ref),
                         from_caf_error(e).message);
            self->state.cluster->fence_failed(order.ref);
          });
}

// etcd mode: the primary change is decided in etcd first (one compare-and-swap
// that bumps the epoch and holds only while this process leads), then fenced at
// storage, then handed to the node.
void fence_in_etcd(registry_actor* self, const fence_order& order) {
  auto& view = self->state.cluster->shards().at(cluster_state::key_of(order.ref));
  struct outcome {
    expected<metadata_store::shard_entry> entry = status{};
    bool leading = true;
  };
  on_worker<outcome>(
      self,
      [order, replicas = view.assigned, floor = view.epoch](controller_metadata& m) {
        outcome o;
        o.entry = m.store->fence(order.ref, order.node, replicas, floor);
        o.leading = m.store->leading();
        return o;
      },
      [self, order](outcome& o) {
        auto& s = self->state;
        if (!o.entry) {
          spdlog::warn("cannot fence shard {} in etcd: {}", describe(order.ref),
                       o.entry.error().message);
          s.cluster->fence_failed(order.ref);
          if (!o.leading) lose_lead(self, o.entry.error().message);
          return;
        }
        s.written[cluster_state::key_of(order.ref)] = o.entry->record;
        fence_storage(self, order, o.entry->record.epoch);
      });
}

bool holds(const shard_record& r, const in_sync_update_request& u) {
  bool in = std::find(r.in_sync.begin(), r.in_sync.end(), u.node) != r.in_sync.end();
  return in == u.in_sync && r.epoch == u.epoch;
}

// Answers the in-sync changes etcd now holds for the shard (those it cannot hold
// any more fail: the epoch moved on).
void answer_in_sync(registry_actor* self, const cluster_state::shard_key& key) {
  auto& s = self->state;
  auto waiting = s.in_sync_waiting.find(key);
  if (waiting == s.in_sync_waiting.end()) return;
  auto written = s.written.find(key);
  auto& list = waiting->second;
  for (auto it = list.begin(); it != list.end();) {
    if (written != s.written.end() && holds(written->second, it->second)) {
      it->first.deliver(true);
    } else if (written == s.written.end() || written->second.epoch > it->second.epoch) {
      it->first.deliver(to_caf_error(make_status(errc::stale_epoch, "the shard's epoch moved on")));
    } else {
      ++it;
      continue;
    }
    it = list.erase(it);
  }
  if (list.empty()) s.in_sync_waiting.erase(waiting);
}

// etcd mode: writes every shard record that differs from what etcd holds (one
// write per shard at a time; a failed one is tried again on the next round).
void write_records(registry_actor* self) {
  auto& s = self->state;
  auto& c = *s.cluster;
  auto write = [self](const cluster_state::shard_key& key, std::optional<shard_record> record) {
    self->state.writing.insert(key);
    struct outcome {
      status result;
      bool leading = true;
    };
    on_worker<outcome>(
        self,
        [ref = ref_of(key), record](controller_metadata& m) {
          outcome o;
          if (record) {
            auto r = m.store->write_shard(ref, *record);
            if (!r) o.result = r.error();
          } else {
            o.result = m.store->erase_shard(ref);
          }
          o.leading = m.store->leading();
          return o;
        },
        [self, key, record](outcome& o) {
          auto& s = self->state;
          s.writing.erase(key);
          if (!o.result.ok()) {
            spdlog::debug("shard {}: cannot write its record: {}", describe(ref_of(key)),
                          o.result.message);
            if (!o.leading) lose_lead(self, o.result.message);
            return;
          }
          if (record) {
            s.written[key] = *record;
          } else {
            s.written.erase(key);
          }
          answer_in_sync(self, key);
        });
  };
  for (auto& [key, view] : c.shards()) {
    if (view.fencing || s.writing.count(key)) continue;
    auto record = c.record_of(view);
    auto it = s.written.find(key);
    if (it != s.written.end() && it->second == record) continue;
    write(key, record);
  }
  std::vector<cluster_state::shard_key> gone;
  for (auto& [key, record] : s.written)
    if (!c.shards().count(key) && !s.writing.count(key)) gone.push_back(key);
  for (auto& key : gone) write(key, std::nullopt);  // a dropped index
}

void watch_nodes(registry_actor* self, std::int64_t from);

// Membership from a listing of the registered nodes.
void apply_listing(registry_actor* self, const metadata_store::node_listing& listing) {
  auto& c = *self->state.cluster;
  std::set<std::string> listed;
  auto now = cluster_state::clock::now();
  for (auto& n : listing.nodes) {
    listed.insert(n.name);
    if (!c.is_registered(n.name)) {
      c.registered(n.name, true);
      // Up until its heartbeats say otherwise (they are due within the timeout).
      c.heartbeat(n.name, n.address, now, {});
    }
  }
  std::vector<std::string> gone;
  for (auto& [name, node] : c.nodes())
    if (!listed.count(name) && c.is_registered(name)) gone.push_back(name);
  for (auto& name : gone) {
    spdlog::warn("node {} is no longer registered in etcd: down", name);
    c.registered(name, false);
    forget_node(self, name);
  }
}

void relist_nodes(registry_actor* self) {
  on_worker<expected<metadata_store::node_listing>>(
      self, [](controller_metadata& m) { return m.store->list_nodes(); },
      [self](expected<metadata_store::node_listing>& listing) {
        if (!listing) {
          spdlog::warn("cannot list the nodes in etcd: {}; trying again", listing.error().message);
          self->delayed_send(self, std::chrono::seconds(1),
                             coordinator_call{[self] { relist_nodes(self); }});
          return;
        }
        apply_listing(self, *listing);
        watch_nodes(self, listing->revision + 1);
        coordinate(self);
      });
}

void on_nodes_update(registry_actor* self, const etcd::watch_update& u) {
  auto& s = self->state;
  if (!u.ended.ok()) {
    // Compacted, or the member went away: list again, watch from there.
    spdlog::info("etcd node watch ended ({}); listing again", u.ended.message);
    relist_nodes(self);
    return;
  }
  auto prefix = s.coordination.metadata->store->keys().nodes();
  auto& c = *s.cluster;
  for (auto& ev : u.events) {
    auto name = ev.kv.key.substr(prefix.size());
    if (ev.what == etcd::watch_event::type::put) {
      if (!c.is_registered(name)) spdlog::info("node {} registered in etcd", name);
      c.registered(name, true);
    } else if (c.is_registered(name)) {
      spdlog::warn("node {}'s etcd registration is gone (its lease lapsed): down", name);
      c.registered(name, false);
      forget_node(self, name);
    }
  }
  coordinate(self);
}

void watch_nodes(registry_actor* self, std::int64_t from) {
  auto* meta = self->state.coordination.metadata.get();
  auto me = caf::actor_cast<caf::actor>(self);
  meta->worker.post([meta, me, self, from] {
    auto prefix = meta->store->keys().nodes();
    meta->nodes_watch = meta->etcd->watch(
        prefix, etcd::prefix_end(prefix), from, [me, self](const etcd::watch_update& u) {
          caf::anon_send(me, coordinator_call{[self, u] { on_nodes_update(self, u); }});
        });
  });
}

struct campaign_outcome {
  status failure;
  bool won = false;
  catalog_store::contents catalog;
  std::map<std::string, metadata_store::shard_entry> shards;
  metadata_store::node_listing nodes;
};

void take_lead(registry_actor* self, campaign_outcome& o) {
  auto& s = self->state;
  auto& c = *s.cluster;
  const auto& keys = s.coordination.metadata->store->keys();
  apply_listing(self, o.nodes);
  // Every registered node gets a full heartbeat timeout from now to beat in.
  for (auto& n : o.nodes.nodes) c.heartbeat(n.name, n.address, cluster_state::clock::now(), {});
  s.written.clear();
  std::vector<cluster_state::shard_key> known;
  for (auto& [key, view] : c.shards()) known.push_back(key);
  for (auto& key : known) {
    auto ref = ref_of(key);
    auto it = o.shards.find(keys.shard(ref));
    if (it == o.shards.end()) continue;
    c.restore(ref, it->second.record);
    s.written[key] = it->second.record;
    o.shards.erase(it);
  }
  // Records of shards the catalog no longer has (an index dropped while no
  // controller ran) are erased by the next write round.
  for (auto& [text, entry] : o.shards)
    spdlog::info("etcd holds a record of a shard the catalog does not have: {}", text);
  s.leading = true;
  spdlog::info("elected the cluster's controller: {} node(s), {} shard record(s) restored",
               o.nodes.nodes.size(), s.written.size());
  watch_nodes(self, o.nodes.revision + 1);
  coordinate(self);
}

}  // namespace

void campaign_later(registry_actor* self) {
  auto& s = self->state;
  if (s.campaign_due) return;
  s.campaign_due = true;
  self->delayed_send(self, std::chrono::seconds(1), campaign_atom::value);
}

void campaign(registry_actor* self) {
  auto& s = self->state;
  if (s.campaigning || s.leading || !s.me || !s.metadata_started) return;
  s.campaigning = true;
  auto me = caf::actor_cast<caf::actor>(self);
  on_worker<campaign_outcome>(
      self,
      [me, self, record = *s.me, stored_tenants = s.stored_tenants,
       stored_catalog = s.stored_catalog](controller_metadata& m) {
        campaign_outcome o;
        if (!m.session || m.session->lost()) {
          m.nodes_watch.reset();
          m.session.reset();
          auto session = etcd::session::open(*m.etcd, m.lease_ttl, [me, self](const status& why) {
            caf::anon_send(me, coordinator_call{[self, why] {
                             lose_lead(self, "its etcd lease lapsed: " + why.message);
                           }});
          });
          if (!session) {
            o.failure = session.error();
            return o;
          }
          m.session = std::move(*session);
        }
        auto won = m.store->campaign(record, m.session->lease());
        if (!won) {
          o.failure = won.error();
          return o;
        }
        if (!*won) return o;
        // The catalog first: etcd's, or (once, for a cluster moving onto etcd)
        // the one this storaged kept.
        if (auto st = m.catalog->import(stored_tenants, stored_catalog); !st.ok()) {
          o.failure = st;
          return o;
        }
        auto catalog = m.catalog->load();
        if (!catalog) {
          o.failure = catalog.error();
          return o;
        }
        o.catalog = std::move(*catalog);
        auto shards = m.store->load_shards();
        auto nodes = m.store->list_nodes();
        if (!shards || !nodes) {
          o.failure = !shards ? shards.error() : nodes.error();
          return o;
        }
        o.won = true;
        o.shards = std::move(*shards);
        o.nodes = std::move(*nodes);
        return o;
      },
      [self](campaign_outcome& o) {
        auto& s = self->state;
        if (o.won) {
          auto won = std::make_shared<campaign_outcome>(std::move(o));
          adopt_catalog(self, won->catalog, [self, won] {
            self->state.campaigning = false;
            take_lead(self, *won);
          });
          return;
        }
        s.campaigning = false;
        if (!o.failure.ok())
          spdlog::warn("cannot campaign for the controller key: {}", o.failure.message);
        campaign_later(self);
      });
}

void start_metadata(registry_actor* self) {
  self->state.cluster->require_registration();
  self->state.metadata_started = true;
  campaign(self);
}

bool placing(registry_actor* self) {
  return !self->state.coordination.metadata || self->state.leading;
}

// Carries out placement decisions: each primary change is fenced (in etcd, then
// at storage; or at storage alone without etcd) before its node hears of it.
void coordinate(registry_actor* self) {
  auto& s = self->state;
  auto& c = *s.cluster;
  if (!placing(self)) {
    sync_slots(self);
    return;
  }
  for (auto& order : c.reconcile()) {
    if (s.coordination.metadata) {
      fence_in_etcd(self, order);
      continue;
    }
    self->request(s.env->persistence, s.env->timeout, shard_fence_request{order.ref})
        .then(
            [self, order](std::uint64_t epoch) {
              spdlog::info("shard {}: primary {} under epoch {}", describe(order.ref), order.node,
                           epoch);
              self->state.cluster->fenced(order.ref, order.node, epoch);
              sync_slots(self);
            },
            [self, order](caf::error& e) {
              spdlog::warn("cannot fence shard {}: {}", describe(order.ref),
                           from_caf_error(e).message);
              self->state.cluster->fence_failed(order.ref);
            });
  }
  sync_slots(self);
  if (s.coordination.metadata) write_records(self);
}

std::vector<node_assignment> assignments_of(registry_actor* self, const std::string& node) {
  std::vector<node_assignment> out;
  for (auto& p : self->state.cluster->plan_for(node)) {
    node_assignment a;
    a.entry = p.entry;
    a.shard = p.shard;
    a.primary = p.primary;
    a.epoch = p.epoch;
    a.primary_applied = p.primary_applied;
    auto key = cluster_state::key_of(
        shard_ref{p.entry.tenant, p.entry.params.name, p.entry.incarnation, p.shard});
    for (auto& peer : p.peers)
      if (auto actor = replica_actor(self, key, peer)) {
        a.forward_to.push_back(actor);
        a.forward_nodes.push_back(peer);
      }
    a.in_sync = p.in_sync;
    if (!p.primary_node.empty()) a.source = replica_actor(self, key, p.primary_node);
    a.write_quorum = std::min(self->state.coordination.write_quorum, p.entry.params.replicas);
    out.push_back(std::move(a));
  }
  return out;
}

// The node's files of `ref` may go (cluster_state::may_forget), and etcd holds
// the shard as it is now: a coordinator taking over could not restore a set
// the node's copy is still part of.
bool may_forget(registry_actor* self, const shard_ref& ref, const std::string& node) {
  auto& s = self->state;
  if (!s.coordination.metadata || !s.cluster->may_forget(ref, node)) return false;
  auto key = cluster_state::key_of(ref);
  auto view = s.cluster->shards().find(key);
  auto written = s.written.find(key);
  return view != s.cluster->shards().end() && written != s.written.end() && !s.writing.count(key) &&
         written->second == s.cluster->record_of(view->second);
}

caf::result<heartbeat_reply> on_heartbeat(registry_actor* self, node_heartbeat& hb) {
  auto& s = self->state;
  if (!placing(self))
    return to_caf_error(make_status(errc::unavailable, "this coordinator is not elected (etcd)"));
  if (s.coordination.metadata && !s.cluster->is_registered(hb.name))
    return to_caf_error(
        make_status(errc::unavailable, "node " + hb.name + " is not registered in etcd"));
  auto& known = s.node_actors[hb.name];
  if (known != hb.node) {
    if (known) self->demonitor(known);
    known = hb.node;
    if (known) self->monitor(known);
    spdlog::info("node {} ({}) joined", hb.name, hb.address);
  }
  for (std::size_t i = 0; i < hb.reports.size() && i < hb.actors.size(); ++i)
    s.replica_actors[{cluster_state::key_of(hb.reports[i].ref), hb.name}] = hb.actors[i];
  if (s.cluster->heartbeat(hb.name, hb.address, cluster_state::clock::now(), hb.reports))
    s.cluster->record_usage(hb.name, std::move(hb.usage));
  coordinate(self);
  heartbeat_reply reply;
  reply.replica_logs = s.cluster->replica_logs();
  reply.assignments = assignments_of(self, hb.name);
  reply.elsewhere = s.cluster->usage_elsewhere(hb.name);
  if (reply.replica_logs)
    for (auto& [name, n] : s.cluster->nodes())
      if (n.up && name != hb.name) reply.peers.push_back(n.address);
  // Only a loaded catalog may say an index is gone.
  if (s.loaded)
    for (auto& e : hb.unhosted) {
      auto it = s.indexes.find(index_key{e.tenant.value, e.params.name});
      if (it == s.indexes.end() || it->second.catalog.incarnation != e.incarnation)
        reply.forget.push_back(std::move(e));
    }
  for (auto& ref : hb.unhosted_shards)
    if (may_forget(self, ref, hb.name)) reply.forget_shards.push_back(std::move(ref));
  for (auto& [name, t] : s.tenants)
    if (t.quotas.max_vectors > 0 || t.quotas.max_bytes > 0)
      reply.limits.push_back({name, t.quotas.max_vectors, t.quotas.max_bytes});
  return reply;
}

caf::result<bool> on_in_sync_update(registry_actor* self, in_sync_update_request& r) {
  auto& s = self->state;
  if (!placing(self))
    return to_caf_error(make_status(errc::unavailable, "this coordinator is not elected (etcd)"));
  auto st = s.cluster->update_in_sync(r.ref, r.epoch, r.primary, r.node, r.in_sync);
  if (!st.ok()) return to_caf_error(st);
  spdlog::info("shard {}: {} {} the in-sync set (primary {}, epoch {})", describe(r.ref), r.node,
               r.in_sync ? "joins" : "leaves", r.primary, r.epoch);
  coordinate(self);
  if (!s.coordination.metadata) return true;
  auto key = cluster_state::key_of(r.ref);
  if (auto w = s.written.find(key); w != s.written.end() && holds(w->second, r)) return true;
  auto rp = self->make_response_promise<bool>();
  // A retry replaces the request it repeats (whose sender gave up on it), so an
  // etcd outage cannot pile them up.
  auto& waiting = s.in_sync_waiting[key];
  for (auto it = waiting.begin(); it != waiting.end();) {
    if (it->second.node != r.node || it->second.in_sync != r.in_sync) {
      ++it;
      continue;
    }
    it->first.deliver(to_caf_error(make_status(errc::unavailable, "asked again")));
    it = waiting.erase(it);
  }
  waiting.emplace_back(rp, r);
  return rp;
}

void forget_node(registry_actor* self, const std::string& node) {
  auto& s = self->state;
  for (auto it = s.replica_actors.begin(); it != s.replica_actors.end();)
    it = it->first.second == node ? s.replica_actors.erase(it) : std::next(it);
}

cluster_status cluster_view(registry_actor* self) {
  cluster_status out;
  out.mode = "cluster";
  auto& c = *self->state.cluster;
  out.version = c.version();
  std::map<std::string, std::uint32_t> hosted;
  for (auto& [key, view] : c.shards()) {
    cluster_shard_info info;
    info.tenant = view.entry.tenant.value;
    info.index = view.entry.params.name;
    info.shard = view.shard.value;
    info.epoch = view.epoch;
    if (c.primary_serving(view)) info.primary = view.primary;
    std::uint64_t head = 0;
    if (auto p = view.replicas.find(view.primary); p != view.replicas.end())
      head = p->second.applied.value;
    auto in_sync = c.record_of(view).in_sync;
    for (auto& node : view.assigned) {
      ++hosted[node];
      cluster_replica_info r;
      r.node = node;
      r.primary = node == view.primary;
      r.in_sync = std::find(in_sync.begin(), in_sync.end(), node) != in_sync.end();
      if (auto it = view.replicas.find(node); it != view.replicas.end()) {
        r.state = it->second.state;
        r.applied_seq = it->second.applied.value;
      } else {
        r.state = "assigned";
      }
      r.lag = head > r.applied_seq ? head - r.applied_seq : 0;
      info.replicas.push_back(std::move(r));
    }
    out.shards.push_back(std::move(info));
  }
  for (auto& [name, n] : c.nodes())
    out.nodes.push_back({name, n.address, "vectord", n.up, hosted[name]});
  return out;
}

}  // namespace quiver::registry_detail
