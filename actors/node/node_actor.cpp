#include "actors/node/node_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"
#include "actors/wire/link_actor.hpp"
#include "common/parse.hpp"

namespace quiver {

namespace {

using beat_atom = caf::atom_constant<caf::atom("beat")>;
using address_atom = caf::atom_constant<caf::atom("address")>;

using shard_key = std::tuple<std::string, std::string, std::uint64_t, std::uint32_t>;

shard_key key_of(const catalog_entry& e, shard_id shard) {
  return {e.tenant.value, e.params.name, e.incarnation, shard.value};
}

struct hosted_replica {
  caf::actor actor;
  shard_ref ref;
  shard_status_report last;  // its latest report
  bool role_sent = false;
  bool primary = false;
  std::uint64_t epoch = 0;
  std::vector<caf::actor> forward_to;
  std::vector<std::string> in_sync;
  caf::actor source;
  std::uint32_t write_quorum = 1;
};

struct node_state {
  caf::actor coordinator;
  std::shared_ptr<const index_actor_env> env;
  node_actor_options options;
  std::map<shard_key, hosted_replica> hosted;
  bool beating = false;  // a heartbeat is out
  bool again = false;    // something changed while it was out
  bool stopping = false;
  bool mismatch_said = false;  // the replica-logs mismatch was logged
  // Replica logs: a direct connection to every other node, by address (CAF
  // would otherwise route a primary's records through the coordinator's node,
  // or try the loopback address a tunnelled peer reports, and not get through).
  std::map<std::string, caf::actor> peer_links;
  // Replica logs: the indexes this node's storage holds (refreshed every
  // catalog_every beats), and beats since the last refresh.
  std::vector<catalog_entry> stored;
  std::vector<shard_ref> stored_shards;  // the shards it holds files of
  unsigned since_catalog = 0;
  bool stored_fresh = false;  // read since the last beat: report what is unhosted
  // Shards whose files are being deleted: not hosted again until that is done.
  std::set<shard_key> dropping;
  static inline const char* name = "quiver.node";
};

using node_self = caf::stateful_actor<node_state>;

// Handles name the same proxy object. After a lost connection to a peer, CAF
// kills that peer's proxies; a handle the coordinator sends again names the same
// actor (it compares equal) through a new proxy, which the shard must get.
bool same_proxy(const caf::actor& a, const caf::actor& b) {
  // actor_cast dereferences the handle's control block: never on a null one.
  if (!a || !b) return !a && !b;
  return caf::actor_cast<caf::abstract_actor*>(a) == caf::actor_cast<caf::abstract_actor*>(b);
}

bool same_proxies(const std::vector<caf::actor>& a, const std::vector<caf::actor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_proxy(a[i], b[i])) return false;
  return true;
}

void apply_assignments(node_self* self, std::vector<node_assignment>& wanted) {
  auto& s = self->state;
  std::map<shard_key, node_assignment*> by_key;
  for (auto& a : wanted) by_key[key_of(a.entry, a.shard)] = &a;
  for (auto it = s.hosted.begin(); it != s.hosted.end();) {
    if (by_key.count(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("node {}: letting go of {}/{}/{}", s.options.name, it->second.ref.tenant.value,
                 it->second.ref.index, it->second.ref.shard.value);
    self->demonitor(it->second.actor);
    // The log and snapshots stay with storage; this copy is simply dropped.
    self->send_exit(it->second.actor, caf::exit_reason::kill);
    it = s.hosted.erase(it);
  }
  for (auto& [key, a] : by_key) {
    auto it = s.hosted.find(key);
    if (it == s.hosted.end()) {
      if (s.dropping.count(key)) continue;  // the next beat after the deletion
      hosted_replica h;
      h.ref = shard_ref{a->entry.tenant, a->entry.params.name, a->entry.incarnation, a->shard};
      h.last.shard = a->shard;
      h.last.state = "recovering";
      h.actor = spawn_index_actor(self, a->entry, a->shard, s.env);
      spdlog::info("node {}: hosting {}/{}/{} as {}", s.options.name, h.ref.tenant.value,
                   h.ref.index, h.ref.shard.value, a->primary ? "primary" : "replica");
      it = s.hosted.emplace(key, std::move(h)).first;
    }
    auto& h = it->second;
    bool changed = !h.role_sent || h.primary != a->primary || h.epoch != a->epoch ||
                   !same_proxies(h.forward_to, a->forward_to) || h.in_sync != a->in_sync ||
                   !same_proxy(h.source, a->source) || h.write_quorum != a->write_quorum;
    bool behind = !a->primary && h.last.applied < a->primary_applied;
    if (!changed && !behind) continue;
    h.role_sent = true;
    h.primary = a->primary;
    h.epoch = a->epoch;
    h.forward_to = a->forward_to;
    h.in_sync = a->in_sync;
    h.source = a->source;
    h.write_quorum = a->write_quorum;
    self->send(h.actor, shard_role_msg{a->primary, a->epoch, a->forward_to, a->primary_applied,
                                       a->forward_nodes, a->in_sync, a->source, a->write_quorum});
  }
}

// How often (in beats) a node with replica logs re-reads its storage's catalog
// to report the indexes it holds files of but hosts nothing of.
constexpr unsigned catalog_every = 20;

bool hosts_any(const node_state& s, const catalog_entry& e) {
  for (auto& [key, h] : s.hosted)
    if (h.ref.tenant == e.tenant && h.ref.index == e.params.name &&
        h.ref.incarnation == e.incarnation)
      return true;
  return false;
}

// Deletes the files of indexes the coordinator says the catalog no longer has
// (the storage drops only that incarnation), unless a shard of one is hosted
// again meanwhile.
void forget(node_self* self, std::vector<catalog_entry>& gone) {
  auto& s = self->state;
  for (auto& e : gone) {
    if (hosts_any(s, e)) continue;
    s.stored.erase(std::remove_if(s.stored.begin(), s.stored.end(),
                                  [&](const catalog_entry& x) {
                                    return x.tenant == e.tenant && x.params.name == e.params.name &&
                                           x.incarnation == e.incarnation;
                                  }),
                   s.stored.end());
    auto what = e.tenant.value + "/" + e.params.name + "@" + std::to_string(e.incarnation);
    self->request(s.env->persistence, s.env->timeout,
                  catalog_drop_request{e.tenant, e.params.name, e.incarnation})
        .then(
            [self, what](bool) {
              spdlog::info(
                  "node {}: deleted the files of index {}, which the cluster no "
                  "longer has",
                  self->state.options.name, what);
            },
            [self, what](caf::error& err) {
              spdlog::warn("node {}: deleting the files of index {} failed: {}",
                           self->state.options.name, what, from_caf_error(err).message);
            });
  }
}

// Deletes the files of shards the coordinator says moved off this node for good,
// unless one is hosted again meanwhile; none of them is hosted until its
// deletion is done.
void forget_shards(node_self* self, std::vector<shard_ref>& gone) {
  auto& s = self->state;
  for (auto& ref : gone) {
    shard_key key{ref.tenant.value, ref.index, ref.incarnation, ref.shard.value};
    if (s.hosted.count(key) || !s.dropping.insert(key).second) continue;
    auto what = ref.tenant.value + "/" + ref.index + "@" + std::to_string(ref.incarnation) + "/" +
                std::to_string(ref.shard.value);
    auto done = [self, key] { self->state.dropping.erase(key); };
    self->request(s.env->persistence, s.env->timeout, shard_drop_request{ref})
        .then(
            [self, what, done](bool) {
              done();
              spdlog::info("node {}: deleted the files of shard {}, which moved to other nodes",
                           self->state.options.name, what);
            },
            [self, what, done](caf::error& err) {
              done();
              spdlog::warn("node {}: deleting the files of shard {} failed: {}",
                           self->state.options.name, what, from_caf_error(err).message);
            });
  }
}

void read_catalog(node_self* self) {
  auto& s = self->state;
  if (!s.env->replica_logs || s.stopping) return;
  if (s.since_catalog++ % catalog_every != 0) return;
  self->request(s.env->persistence, s.env->timeout, catalog_list_request{})
      .then(
          [self](std::vector<catalog_entry>& entries) {
            self->state.stored = std::move(entries);
            self->request(self->state.env->persistence, self->state.env->timeout,
                          shard_list_request{})
                .then(
                    [self](std::vector<shard_ref>& shards) {
                      self->state.stored_shards = std::move(shards);
                      self->state.stored_fresh = true;
                    },
                    [](caf::error&) {});  // read again later
          },
          [](caf::error&) {});
}

void beat(node_self* self) {
  auto& s = self->state;
  if (s.stopping) return;
  // On etcd, only while registered: until then the name may still be held by
  // this node's predecessor (a restart within its lease), whose expiry would
  // take the node down again right after it joined.
  if (s.env->lease_deadline && s.env->lease_deadline->load() == 0) return;
  if (s.beating) {
    s.again = true;
    return;
  }
  s.beating = true;
  s.again = false;
  node_heartbeat hb;
  hb.name = s.options.name;
  hb.address = s.options.address;
  hb.node = caf::actor_cast<caf::actor>(self);
  for (auto& [key, h] : s.hosted) {
    replica_report r;
    r.ref = h.ref;
    r.primary = h.last.primary;
    r.epoch = h.last.epoch;
    r.state = h.last.state;
    r.reason = h.last.reason;
    r.applied = h.last.applied;
    hb.reports.push_back(std::move(r));
    hb.actors.push_back(h.actor);
  }
  hb.usage = s.env->usage->all_usage();  // only primaries count in a cluster node's book
  // Once per catalog read: the list changes only then (a lost beat's waits
  // for the next read).
  if (s.stored_fresh) {
    for (auto& e : s.stored)
      if (!hosts_any(s, e)) hb.unhosted.push_back(e);
    for (auto& ref : s.stored_shards) {
      shard_key key{ref.tenant.value, ref.index, ref.incarnation, ref.shard.value};
      if (!s.hosted.count(key) && !s.dropping.count(key)) hb.unhosted_shards.push_back(ref);
    }
  }
  s.stored_fresh = false;
  auto done = [self] {
    self->state.beating = false;
    if (self->state.again) beat(self);
  };
  self->request(s.coordinator, std::chrono::seconds(2), std::move(hb))
      .then(
          [self, done](heartbeat_reply& reply) {
            if (reply.replica_logs != self->state.env->replica_logs) {
              // Placing for shared logs on replica logs (or back) would acknowledge
              // writes some log never got: host nothing until the configs agree.
              if (!self->state.mismatch_said)
                spdlog::error(
                    "node {}: the coordinator {} replica logs and this node {}; give "
                    "--replica-logs to every storaged and vectord of the cluster, or "
                    "to none; hosting nothing until then",
                    self->state.options.name, reply.replica_logs ? "uses" : "does not use",
                    self->state.env->replica_logs ? "does" : "does not");
              self->state.mismatch_said = true;
              reply.assignments.clear();
            }
            for (auto& address : reply.peers) {
              auto& link = self->state.peer_links[address];
              if (link) continue;
              auto at = parse_host_port(address);
              if (!at) continue;
              link = spawn_link_actor(self->system(), caf::actor{}, at->first, at->second);
            }
            apply_assignments(self, reply.assignments);
            forget(self, reply.forget);
            forget_shards(self, reply.forget_shards);
            read_catalog(self);
            self->state.env->usage->set_all_limits(reply.limits);
            self->state.env->usage->set_elsewhere(reply.elsewhere);
            done();
          },
          [self, done](caf::error& e) {
            spdlog::debug("node {}: heartbeat failed: {}", self->state.options.name,
                          from_caf_error(e).message);
            done();
          });
}

caf::behavior node_actor(node_self* self, caf::actor coordinator,
                         std::shared_ptr<const index_actor_env> env, node_actor_options options) {
  auto& s = self->state;
  s.coordinator = std::move(coordinator);
  s.env = std::move(env);
  s.options = std::move(options);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& s = self->state;
    for (auto it = s.hosted.begin(); it != s.hosted.end(); ++it)
      if (it->second.actor.address() == msg.source) {
        if (!s.stopping)
          spdlog::error("node {}: replica {}/{}/{} stopped: {}; the next beat restarts it",
                        s.options.name, it->second.ref.tenant.value, it->second.ref.index,
                        it->second.ref.shard.value, caf::to_string(msg.reason));
        s.hosted.erase(it);
        break;
      }
    if (s.stopping && s.hosted.empty()) self->quit(caf::exit_reason::user_shutdown);
  });
  // Clean shutdown: primaries write their final snapshots first.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& s = self->state;
    s.stopping = true;
    for (auto& [address, link] : s.peer_links) self->send_exit(link, msg.reason);
    s.peer_links.clear();
    if (s.hosted.empty()) return self->quit(msg.reason);
    for (auto& [key, h] : s.hosted) self->send_exit(h.actor, msg.reason);
  });
  return {
      [self](address_atom, std::string& address) {
        auto& s = self->state;
        bool first = s.options.address.empty();
        s.options.address = address;
        if (s.options.name.empty()) s.options.name = "vectord@" + address;
        if (first) self->send(self, beat_atom::value);
      },
      [self](beat_atom) {
        beat(self);
        self->delayed_send(self, self->state.options.heartbeat, beat_atom::value);
      },
      [self](shard_status_report& r) {
        auto sender = self->current_sender();
        for (auto& [key, h] : self->state.hosted) {
          if (h.actor != caf::actor_cast<caf::actor>(sender)) continue;
          bool changed =
              h.last.state != r.state || h.last.primary != r.primary || h.last.epoch != r.epoch;
          h.last = std::move(r);
          if (changed) beat(self);  // routers learn of a new primary at once
          return;
        }
      },
      [self](cluster_status_request&) -> cluster_status {
        cluster_status out;
        out.mode = "cluster";
        out.nodes.push_back({self->state.options.name, self->state.options.address, "vectord", true,
                             static_cast<std::uint32_t>(self->state.hosted.size())});
        return out;
      },
  };
}

}  // namespace

void set_node_address(const caf::actor& node, std::string address) {
  caf::anon_send(node, address_atom::value, std::move(address));
}

caf::actor spawn_node_actor(caf::actor_system& system, caf::actor coordinator,
                            std::shared_ptr<const index_actor_env> env,
                            node_actor_options options) {
  return system.spawn(node_actor, std::move(coordinator), std::move(env), std::move(options));
}

}  // namespace quiver
