#pragma once

// How daemons reach each other over CAF's middleman: plain TCP, or mutual TLS
// with the cluster's certificates ([peer_tls]) through a tls_tunnel. With TLS
// every connection, in and out, presents a certificate the cluster's CA signed
// and accepts only such a peer; a process without one gets no byte to CAF.

#include <caf/fwd.hpp>
#include <caf/io/fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "common/status.hpp"

namespace quiver {

class tls_tunnel;

// With `tunnel` set, `sys` talks to its peers through it until detached (before
// `sys` goes).
void attach_peer_tunnel(caf::actor_system& sys, std::shared_ptr<tls_tunnel> tunnel);
void detach_peer_tunnel(const caf::actor_system* sys);
bool peer_tls_enabled(caf::actor_system& sys);

// publish / remote_actor over the system's transport.
expected<std::uint16_t> publish_to_peers(caf::actor_system& sys, const caf::actor& a,
                                         const std::string& host, std::uint16_t port);
expected<caf::actor> connect_to_peer(caf::actor_system& sys, const std::string& host,
                                     std::uint16_t port);

// A connected scribe for the BASP broker's connect (the link actor's own
// reconnects), over the system's transport.
expected<caf::io::scribe_ptr> new_peer_scribe(caf::actor_system& sys, const std::string& host,
                                              std::uint16_t port);

}  // namespace quiver
