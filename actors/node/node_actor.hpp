#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "actors/index/index_actor.hpp"

namespace quiver {

struct node_actor_options {
  std::string name;     // unique in the cluster; placement hashes it
  std::string address;  // host:port where this vectord's node actor is published
  std::chrono::milliseconds heartbeat{250};
};

// Spawns the node actor of a clustered vectord. Every heartbeat interval (and at
// once when a hosted replica changes state) it tells the coordinator that it is
// alive and what it hosts; the reply is the full list of replicas the coordinator
// wants here, which it carries out: spawns index actors for new assignments (they
// load snapshot + log tail before reporting ready), hands each its role (primary
// under an epoch, or replica) and its replicas to forward to, and stops the ones
// moved away. Full lists make every heartbeat a resynchronisation: a lost message
// or a coordinator restart heals on the next beat.
// The node starts heartbeating once it knows the address it is published at.
caf::actor spawn_node_actor(caf::actor_system& system, caf::actor coordinator,
                            std::shared_ptr<const index_actor_env> env, node_actor_options options);
void set_node_address(const caf::actor& node, std::string address);

}  // namespace quiver
