#include "actors/runtime/link_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "actors/runtime/actor_messages.hpp"
#include "actors/runtime/caf_error.hpp"

namespace quiver {

namespace {

using retry_atom = caf::atom_constant<caf::atom("retry")>;

struct link_state {
  caf::actor target;
  std::function<caf::actor()> reconnect;
  static inline const char* name = "quiver.link";
};

using link_self = caf::stateful_actor<link_state>;

void watch(link_self* self, caf::actor target) {
  self->state.target = std::move(target);
  if (self->state.target) self->monitor(self->state.target);
}

template <class Reply, class Request>
caf::result<Reply> forward(link_self* self, Request& r) {
  if (!self->state.target)
    return to_caf_error(make_status(errc::unavailable, "upstream daemon is unreachable"));
  auto rp = self->make_response_promise<Reply>();
  rp.delegate(self->state.target, std::move(r));
  return rp;
}

caf::behavior link_actor(link_self* self, caf::actor target,
                         std::function<caf::actor()> reconnect) {
  self->state.reconnect = std::move(reconnect);
  watch(self, std::move(target));
  self->set_down_handler([self](caf::down_msg& msg) {
    if (msg.source != self->state.target.address()) return;
    spdlog::error("upstream daemon went away ({}); its requests fail until it is back",
                  caf::to_string(msg.reason));
    self->state.target = nullptr;
    if (self->state.reconnect) self->delayed_send(self, std::chrono::seconds(1), retry_atom::value);
  });
  return {
      [self](retry_atom) {
        if (self->state.target || !self->state.reconnect) return;
        if (auto h = self->state.reconnect()) {
          spdlog::info("upstream daemon is reachable again");
          watch(self, std::move(h));
        } else {
          self->delayed_send(self, std::chrono::seconds(1), retry_atom::value);
        }
      },
      // storage
      [self](catalog_list_request& r) { return forward<std::vector<catalog_entry>>(self, r); },
      [self](catalog_create_request& r) { return forward<catalog_create_reply>(self, r); },
      [self](catalog_drop_request& r) { return forward<bool>(self, r); },
      [self](shard_open_request& r) { return forward<shard_lease>(self, r); },
      [self](log_append_request& r) { return forward<log_append_reply>(self, r); },
      [self](log_read_request& r) { return forward<log_chunk>(self, r); },
      [self](log_release_request& r) { return forward<bool>(self, r); },
      [self](storage_stats_request& r) { return forward<storage_stats>(self, r); },
      // registry
      [self](create_index_request& r) { return forward<create_index_reply>(self, r); },
      [self](list_indexes_request& r) { return forward<std::vector<index_description>>(self, r); },
      [self](describe_index_request& r) { return forward<index_description>(self, r); },
      [self](drop_index_request& r) { return forward<bool>(self, r); },
      [self](readiness_request& r) { return forward<readiness_reply>(self, r); },
      [self](lookup_index_request& r) { return forward<index_route>(self, r); },
  };
}

}  // namespace

caf::actor spawn_link_actor(caf::actor_system& system, caf::actor target,
                            std::function<caf::actor()> reconnect) {
  return system.spawn<caf::detached>(link_actor, std::move(target), std::move(reconnect));
}

}  // namespace quiver
