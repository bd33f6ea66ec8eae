#pragma once

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>

namespace quiver {

// Spawns an actor that stands for `target` (usually a remote actor reached through
// CAF's middleman): it forwards the storage messages and the registry messages of
// common/wire/ to it, and the target answers the original sender directly. While
// the target is down it answers `unavailable` at once and, when `host` is set,
// reconnects to the actor published at host:port in the background (the
// middleman's asynchronous connect: no request ever waits on a reconnect).
//
// Used as the persistence actor of a vectord (index actors -> storage) and as a
// gatewayd's link to its vectord's registry.
caf::actor spawn_link_actor(caf::actor_system& system, caf::actor target, std::string host = {},
                            std::uint16_t port = 0);

// Points a link at the actor published at host:port (the cluster's controller
// moved), or at `local` when that actor lives in this process; it reconnects
// there from then on. Requests in flight to the old target fail (unavailable).
// A no-op when the link already stands for host:port.
void retarget_link(const caf::actor& link, const caf::actor& local, std::string host,
                   std::uint16_t port);

}  // namespace quiver
