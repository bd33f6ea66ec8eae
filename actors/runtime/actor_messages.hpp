#pragma once

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/messages.hpp"

namespace caf {
class actor_system_config;
class event_based_actor;
}  // namespace caf

namespace quiver {

class shard_index;

// Messages that hold actor handles, so they live above common/.

// Router -> registry: where the shards of an index are.
struct lookup_index_request {
  tenant_id tenant;
  std::string name;
};
struct index_route {
  index_params params;
  std::vector<caf::actor> shards;  // indexed by shard number
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lookup_index_request& x) {
  return f(x.tenant, x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_route& x) {
  return f(x.params, x.shards);
}

// Index actor -> reader pool: a search to run against a shard that lives in this
// process. Local only (it carries a pointer), never serialized.
struct search_job {
  std::shared_ptr<const shard_index> shard;
  search_request request;
};

// Gateway thread -> bridge actor: runs `run` inside the actor, which may issue
// requests and handle their replies. Local only.
struct bridge_job {
  std::function<void(caf::event_based_actor*)> run;
};

// Registers every message type that may cross a process boundary. Call on every
// actor_system_config before the system starts.
void register_message_types(caf::actor_system_config& cfg);

}  // namespace quiver

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::search_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::bridge_job)
