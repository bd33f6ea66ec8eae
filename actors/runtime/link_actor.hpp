#pragma once

#include <caf/fwd.hpp>

#include <functional>

namespace quiver {

// Spawns an actor that stands for `target` (usually a remote actor reached through
// CAF's middleman): it forwards the storage messages and the registry messages of
// messages.hpp to it, and the target answers the original sender directly. While
// the target is down it answers `unavailable`; `reconnect`, when set, is asked for
// a new handle every second until it yields one. Runs on its own thread: a
// reconnect may block.
//
// Used as the persistence actor of a vectord (index actors -> storage) and as a
// gatewayd's link to its vectord's registry.
caf::actor spawn_link_actor(caf::actor_system& system, caf::actor target,
                            std::function<caf::actor()> reconnect = nullptr);

}  // namespace quiver
