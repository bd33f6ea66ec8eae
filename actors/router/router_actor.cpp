#include "actors/router/router_actor.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>

#include "actors/router/router_calls.hpp"
#include "actors/router/search_merge.hpp"
#include "actors/wire/link_actor.hpp"
#include "common/parse.hpp"

namespace quiver {

namespace {

using namespace routing;

using poll_atom = caf::atom_constant<caf::atom("poll")>;
using changed_atom = caf::atom_constant<caf::atom("changed")>;

// Passes an administrative request to the registry, which answers the client.
template <class Request>
caf::response_promise forward(router_actor* self, Request r) {
  auto rp = self->make_response_promise();
  rp.delegate(self->state.registry, std::move(r));
  return rp;
}

// Sends a request for one shard (its `shard` field) to that shard's primary.
template <class Reply, class Request>
caf::response_promise to_primary(router_actor* self, Request r) {
  auto rp = self->make_response_promise();
  auto tenant = r.tenant;
  auto index = r.index;
  auto shard = r.shard;
  shard_call<Reply>(self, tenant, index, shard, std::move(r), false,
                    [rp](expected<Reply> x) mutable {
                      if (x) {
                        rp.deliver(std::move(*x));
                      } else {
                        fail(rp, x.error());
                      }
                    });
  return rp;
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
      [](retry_call& c) { c.run(); },
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
        route_get(self, std::move(r), rp);
        return rp;
      },
      [self](delete_vectors_request& r) -> caf::result<delete_vectors_reply> {
        auto rp = self->make_response_promise<delete_vectors_reply>();
        route_delete(self, std::move(r), rp);
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
      [self](index_version_request& r) -> caf::result<index_version> {
        auto rp = self->make_response_promise<index_version>();
        to_every_shard<index_version>(self, std::move(r), rp, [](auto replies) {
          index_version out;
          if (!replies.empty()) out = replies.front();
          out.applied.clear();
          for (auto& x : replies)
            out.applied.insert(out.applied.end(), x.applied.begin(), x.applied.end());
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
        route_merge(self, std::move(r), rp);
        return rp;
      },
      [self](backup_prepare_request& r) -> caf::result<backup_prepare_reply> {
        return to_primary<backup_prepare_reply>(self, std::move(r));
      },
      [self](backup_chunk_request& r) -> caf::result<snapshot_chunk> {
        return to_primary<snapshot_chunk>(self, std::move(r));
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
