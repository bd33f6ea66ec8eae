#pragma once

// Mutual TLS for the connections between daemons, terminated in-process.
//
// CAF's middleman speaks its protocol (BASP) over plain sockets; this class
// carries those bytes over TLS between hosts:
//  - inbound: it listens on the public address, completes a TLS handshake in
//    which the peer must present a certificate the cluster's CA signed, and only
//    then connects the peer to CAF's listener, a Unix socket in a directory only
//    this process's user can enter;
//  - outbound: it hands CAF one end of a socket pair and carries the other end
//    over a TLS connection that presents this daemon's certificate and accepts
//    only a server the cluster's CA signed.
// A peer without the credentials never gets a byte to CAF. The handshake has a
// deadline and the number of connections a bound, so strangers cannot hold
// resources. (CAF 0.17's own OpenSSL module hangs its I/O loop once a node
// opens a second connection to a node it already talks to, which this cluster
// does; this keeps CAF's proven plain-socket path.)

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "common/status.hpp"

namespace quiver {

struct tls_tunnel_options {
  std::chrono::milliseconds handshake_timeout{5000};
  std::size_t max_connections = 1024;  // inbound and outbound together
  // Inbound handshakes under way from one address: one host cannot take every
  // connection slot with connections that never finish their handshake.
  std::size_t max_handshakes_per_address = 32;
};

// Checks the files of `tls` the way a handshake will use them (the certificate
// chain and key load and match, the CA file loads, the certificate has not
// expired), so that a bad file fails the start with its name.
status check_peer_tls(const peer_tls_config& tls);

class tls_tunnel {
 public:
  // Loads the credentials (a bad file fails here, with its name) and starts the
  // tunnel's I/O thread.
  static expected<std::unique_ptr<tls_tunnel>> start(const peer_tls_config& tls,
                                                     tls_tunnel_options options = {});
  ~tls_tunnel();
  tls_tunnel(const tls_tunnel&) = delete;
  tls_tunnel& operator=(const tls_tunnel&) = delete;

  // Listens for TLS peers on host:port (0: any free port) and connects each
  // authenticated one to the Unix socket at `unix_path`. Returns the bound port.
  expected<std::uint16_t> serve(const std::string& host, std::uint16_t port,
                                const std::string& unix_path);

  // Opens a TLS connection to host:port in the background and returns the local
  // end of a socket pair whose bytes it carries. The descriptor belongs to the
  // caller; a failed connection shows as that socket's end of file.
  expected<int> dial(const std::string& host, std::uint16_t port);

  // A private directory for CAF's Unix listeners (removed with the tunnel).
  const std::string& socket_dir() const;

  // Connections carried now (a test's and the metrics' view).
  std::size_t connections() const;

 private:
  tls_tunnel();
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace quiver
