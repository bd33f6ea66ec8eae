#include "actors/wire/link_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>

#include <functional>
#include <map>
#include <set>

#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"
#include "actors/wire/peer_transport.hpp"

namespace quiver {

namespace {

using retry_atom = caf::atom_constant<caf::atom("retry")>;
using retarget_atom = caf::atom_constant<caf::atom("retarget")>;

struct link_state {
  caf::actor target;
  std::string host;  // empty: no reconnecting
  std::uint16_t port = 0;
  bool connecting = false;
  // Bumped when the link is pointed elsewhere: a connect begun before answers
  // for the old address and is ignored.
  std::uint64_t generation = 0;
  // Requests forwarded and not yet answered: failed at once if the target dies,
  // since CAF drops messages in flight to a lost peer without an error.
  std::map<std::uint64_t, std::function<void(const caf::error&)>> in_flight;
  std::uint64_t next_id = 0;
  // A shard link stops with its target (the router then forgets the route); a
  // daemon link reconnects instead.
  bool quit_on_down = false;
  // Registry link: one shard link per remote shard actor, reused across lookups.
  std::map<caf::actor_addr, caf::actor> shard_links;
  static inline const char* name = "quiver.link";
};

using link_self = caf::stateful_actor<link_state>;

void watch(link_self* self, caf::actor target) {
  self->state.target = std::move(target);
  if (self->state.target) self->monitor(self->state.target);
}

caf::error unreachable() {
  return to_caf_error(make_status(errc::unavailable, "upstream daemon is unreachable"));
}

template <class Reply, class Request>
caf::result<Reply> forward(link_self* self, Request& r) {
  auto& s = self->state;
  if (!s.target) return unreachable();
  auto rp = self->make_response_promise<Reply>();
  auto id = s.next_id++;
  s.in_flight.emplace(id, [rp](const caf::error& e) mutable { rp.deliver(e); });
  // Bounded: a reply lost in a way the down handler does not see still ends.
  self->request(s.target, std::chrono::minutes(2), std::move(r))
      .then(
          [self, id, rp](Reply& x) mutable {
            if (self->state.in_flight.erase(id)) rp.deliver(std::move(x));
          },
          [self, id, rp](caf::error& e) mutable {
            if (self->state.in_flight.erase(id)) rp.deliver(e);
          });
  return rp;
}

// Answers every forwarded request not yet answered: CAF drops messages in flight
// to a lost peer without an error, and an actor that quits leaves its promises.
void fail_in_flight(link_self* self) {
  auto failed = std::move(self->state.in_flight);
  self->state.in_flight.clear();
  for (auto& [id, fail] : failed) fail(unreachable());
}

void retry_later(link_self* self) {
  self->delayed_send(self, std::chrono::milliseconds(250), retry_atom::value);
}

caf::behavior link_actor(link_self* self, caf::actor target, std::string host, std::uint16_t port,
                         bool quit_on_down) {
  self->state.quit_on_down = quit_on_down;
  self->state.host = std::move(host);
  self->state.port = port;
  watch(self, std::move(target));
  // Started without a target (a node known only by address): connect now.
  if (!self->state.target && !self->state.host.empty()) self->send(self, retry_atom::value);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [addr, link] : self->state.shard_links) self->send_exit(link, msg.reason);
    fail_in_flight(self);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& links = self->state.shard_links;
    for (auto it = links.begin(); it != links.end(); ++it)
      if (it->second.address() == msg.source) {
        links.erase(it);
        return;
      }
    if (msg.source != self->state.target.address()) return;
    if (!self->state.quit_on_down)
      spdlog::error("upstream daemon went away ({}); its requests fail until it is back",
                    caf::to_string(msg.reason));
    self->state.target = nullptr;
    // The shards of the daemon that went away go with it, even where a shard's own
    // down has not arrived (a route read just before the daemon died).
    for (auto it = links.begin(); it != links.end();) {
      if (it->first.node() != msg.source.node()) {
        ++it;
        continue;
      }
      self->send_exit(it->second, msg.reason);
      it = links.erase(it);
    }
    fail_in_flight(self);
    if (self->state.quit_on_down) return self->quit(msg.reason);
    if (!self->state.host.empty()) retry_later(self);
  });
  return {
      [self](retry_atom) {
        auto& s = self->state;
        if (s.target || s.host.empty() || s.connecting) return;
        s.connecting = true;
        auto generation = s.generation;
        // Straight to the BASP broker with a deadline, not through the middleman
        // actor: that one caches the dead peer's proxy by host:port and parks new
        // connects behind a pending one that can take 30 s to give up.
        auto& mm = self->system().middleman();
        auto scribe = new_peer_scribe(self->system(), s.host, s.port);
        if (!scribe) {
          s.connecting = false;
          return retry_later(self);
        }
        self->request(mm.named_broker<caf::io::basp_broker>(caf::atom("BASP")),
                      std::chrono::seconds(3), caf::connect_atom::value, std::move(*scribe), s.port)
            .then(
                [self, generation](const caf::node_id&, caf::strong_actor_ptr& ptr,
                                   const std::set<std::string>&) {
                  if (generation != self->state.generation) return;
                  self->state.connecting = false;
                  if (!ptr) return retry_later(self);
                  spdlog::info("upstream daemon is reachable again");
                  watch(self, caf::actor_cast<caf::actor>(std::move(ptr)));
                },
                [self, generation](caf::error&) {
                  if (generation != self->state.generation) return;
                  self->state.connecting = false;
                  retry_later(self);
                });
      },
      [self](retarget_atom, caf::actor& local, std::string& host, std::uint16_t port) {
        auto& s = self->state;
        if (host == s.host && port == s.port && (s.target || s.connecting)) return;
        spdlog::info("upstream daemon is now at {}:{}", host, port);
        s.host = std::move(host);
        s.port = port;
        ++s.generation;
        s.connecting = false;
        if (s.target) {
          self->demonitor(s.target);
          s.target = nullptr;
        }
        // Sent to the old address: answered there or never, so failed now.
        fail_in_flight(self);
        if (local)
          watch(self, std::move(local));
        else
          self->send(self, retry_atom::value);
      },
      // storage
      [self](catalog_list_request& r) { return forward<std::vector<catalog_entry>>(self, r); },
      [self](catalog_create_request& r) { return forward<catalog_create_reply>(self, r); },
      [self](catalog_drop_request& r) { return forward<bool>(self, r); },
      [self](shard_list_request& r) { return forward<std::vector<shard_ref>>(self, r); },
      [self](shard_drop_request& r) { return forward<bool>(self, r); },
      [self](shard_open_request& r) { return forward<shard_lease>(self, r); },
      [self](log_append_request& r) { return forward<log_append_reply>(self, r); },
      [self](log_read_request& r) { return forward<log_chunk>(self, r); },
      [self](log_release_request& r) { return forward<bool>(self, r); },
      [self](log_truncate_request& r) { return forward<shard_lease>(self, r); },
      [self](epoch_end_request& r) { return forward<epoch_end>(self, r); },
      [self](epoch_at_request& r) { return forward<std::uint64_t>(self, r); },
      [self](log_restart_request& r) { return forward<shard_lease>(self, r); },
      [self](storage_stats_request& r) { return forward<storage_stats>(self, r); },
      [self](catalog_tenants_request& r) { return forward<std::vector<tenant_record>>(self, r); },
      // storage and registry alike
      [self](tenant_create_request& r) { return forward<bool>(self, r); },
      [self](tenant_rotate_request& r) { return forward<bool>(self, r); },
      [self](tenant_drop_request& r) { return forward<bool>(self, r); },
      // registry
      [self](tenant_list_request& r) { return forward<std::vector<tenant_info>>(self, r); },
      [self](tenant_get_request& r) { return forward<tenant_info>(self, r); },
      [self](tenant_auth_request& r) { return forward<tenant_auth_reply>(self, r); },
      [self](create_index_request& r) { return forward<create_index_reply>(self, r); },
      [self](list_indexes_request& r) { return forward<std::vector<index_description>>(self, r); },
      [self](describe_index_request& r) { return forward<index_description>(self, r); },
      [self](drop_index_request& r) { return forward<bool>(self, r); },
      [self](readiness_request& r) { return forward<readiness_reply>(self, r); },
      // coordinator
      [self](node_heartbeat& r) { return forward<heartbeat_reply>(self, r); },
      [self](gateway_beat& r) { return forward<std::uint32_t>(self, r); },
      [self](in_sync_update_request& r) { return forward<bool>(self, r); },
      [self](cluster_status_request& r) { return forward<cluster_status>(self, r); },
      [self](cluster_version_request& r) { return forward<std::uint64_t>(self, r); },
      // The route's shards are remote: each is put behind a shard link, so a request
      // in flight to a shard whose daemon dies fails at once instead of timing out.
      [self](lookup_index_request& r) -> caf::result<index_route> {
        auto& s = self->state;
        if (!s.target) return unreachable();
        auto rp = self->make_response_promise<index_route>();
        // In flight like any forwarded request: failed at once if the target dies.
        auto id = s.next_id++;
        s.in_flight.emplace(id, [rp](const caf::error& e) mutable { rp.deliver(e); });
        self->request(s.target, std::chrono::minutes(2), std::move(r))
            .then(
                [self, id, rp](index_route& route) mutable {
                  if (!self->state.in_flight.erase(id)) return;
                  auto wrap = [self](caf::actor& shard) {
                    if (!shard) return;
                    auto& link = self->state.shard_links[shard.address()];
                    if (!link) {
                      link = self->system().spawn(link_actor, shard, std::string{},
                                                  std::uint16_t{0}, true);
                      self->monitor(link);
                    }
                    shard = link;
                  };
                  for (auto& shard : route.shards) wrap(shard);
                  for (auto& replicas : route.replicas)
                    for (auto& replica : replicas) wrap(replica);
                  rp.deliver(std::move(route));
                },
                [self, id, rp](caf::error& e) mutable {
                  if (self->state.in_flight.erase(id)) rp.deliver(e);
                });
        return rp;
      },
      // shards
      [self](upsert_request& r) { return forward<upsert_reply>(self, r); },
      [self](delete_vectors_request& r) { return forward<delete_vectors_reply>(self, r); },
      [self](get_vector_request& r) { return forward<vector_record>(self, r); },
      [self](list_ids_request& r) { return forward<id_page>(self, r); },
      [self](count_request& r) { return forward<count_reply>(self, r); },
      [self](field_index_request& r) { return forward<field_index_reply>(self, r); },
      [self](list_fields_request& r) { return forward<list_fields_reply>(self, r); },
      [self](search_request& r) { return forward<search_reply>(self, r); },
      [self](shard_stats_request& r) { return forward<shard_stats>(self, r); },
      [self](index_version_request& r) { return forward<index_version>(self, r); },
      [self](shard_export_request& r) { return forward<shard_export>(self, r); },
      [self](backup_prepare_request& r) { return forward<backup_prepare_reply>(self, r); },
      [self](backup_chunk_request& r) { return forward<snapshot_chunk>(self, r); },
  };
}

}  // namespace

caf::actor spawn_link_actor(caf::actor_system& system, caf::actor target, std::string host,
                            std::uint16_t port) {
  return system.spawn(link_actor, std::move(target), std::move(host), port, false);
}

void retarget_link(const caf::actor& link, const caf::actor& local, std::string host,
                   std::uint16_t port) {
  caf::anon_send(link, retarget_atom::value, local, std::move(host), port);
}

}  // namespace quiver
