#pragma once
// The version handshake between daemons: the first request on every connection
// to a published actor, so that daemons of different builds refuse each other
// with a clear error instead of misreading each other's messages.

#include <caf/fwd.hpp>

#include <cstdint>
#include <string>

#include "common/status.hpp"

namespace quiver {

// The inter-daemon protocol this build speaks. Bump it with any change to a
// message that crosses a process (a field added, removed or reordered).
inline constexpr std::uint32_t wire_protocol_version = 8;

// Peer -> published actor, answered with the answerer's own.
struct protocol_hello {
  std::uint32_t version = 0;
  std::string build;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, protocol_hello& x) {
  return f(x.version, x.build);
}

// This build's hello.
protocol_hello our_hello();
// The published side: the reply to a peer's hello, or `invalid_argument` naming
// both versions when they differ.
expected<protocol_hello> answer_hello(const protocol_hello& peer);
// The connecting side: says hello to `peer` (named `where` in errors) and
// fails with `invalid_argument` if it speaks another protocol or none (a build
// from before the handshake), `unavailable` if it does not answer.
status check_peer_protocol(caf::actor_system& sys, const caf::actor& peer,
                           const std::string& where);

}  // namespace quiver
