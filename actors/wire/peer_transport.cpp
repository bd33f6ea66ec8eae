#include "actors/wire/peer_transport.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <caf/actor_system.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/doorman.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/scribe_impl.hpp>
#include <caf/io/scribe.hpp>
#include <caf/scoped_actor.hpp>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "net/tls_tunnel.hpp"

namespace quiver {
namespace {

std::mutex tunnels_mutex;
std::map<const caf::actor_system*, std::shared_ptr<tls_tunnel>> tunnels;

std::shared_ptr<tls_tunnel> tunnel_of(caf::actor_system& sys) {
  std::lock_guard<std::mutex> lock(tunnels_mutex);
  auto it = tunnels.find(&sys);
  return it == tunnels.end() ? nullptr : it->second;
}

using native_socket = caf::io::network::native_socket;
using caf::io::network::default_multiplexer;

// CAF 0.17 aborts the process when it asks a socket that is not IP for its
// address; its connections over the tunnel's Unix sockets answer with the
// loopback instead.
class local_scribe final : public caf::io::network::scribe_impl {
 public:
  local_scribe(default_multiplexer& mpx, native_socket fd, std::uint16_t port)
      : scribe_impl(mpx, fd), port_(port) {}
  std::string addr() const override { return "127.0.0.1"; }
  std::uint16_t port() const override { return port_; }

 private:
  std::uint16_t port_;
};

class local_doorman final : public caf::io::network::doorman_impl {
 public:
  local_doorman(default_multiplexer& mpx, native_socket fd, std::uint16_t port)
      : doorman_impl(mpx, fd), port_(port) {}
  bool new_connection() override {
    if (detached()) return false;
    auto& mpx = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    caf::io::network::nonblocking(fd, true);
    auto scribe = caf::make_counted<local_scribe>(mpx, fd, 0);
    auto hdl = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mpx, hdl);
  }
  std::string addr() const override { return "127.0.0.1"; }
  std::uint16_t port() const override { return port_; }

 private:
  std::uint16_t port_;
};

default_multiplexer& multiplexer(caf::actor_system& sys) {
  return static_cast<default_multiplexer&>(sys.middleman().backend());
}

caf::actor basp_broker(caf::actor_system& sys) {
  return sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

// A listening Unix socket at `path`, non-blocking, for a CAF doorman.
expected<int> unix_listener(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return make_status(errc::internal, "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return make_status(errc::unavailable, "cannot make a Unix socket");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    auto err = std::string(std::strerror(errno));
    ::close(fd);
    return make_status(errc::unavailable, "cannot listen on " + path + ": " + err);
  }
  return fd;
}

}  // namespace

void attach_peer_tunnel(caf::actor_system& sys, std::shared_ptr<tls_tunnel> tunnel) {
  std::lock_guard<std::mutex> lock(tunnels_mutex);
  tunnels[&sys] = std::move(tunnel);
}

void detach_peer_tunnel(const caf::actor_system* sys) {
  std::lock_guard<std::mutex> lock(tunnels_mutex);
  tunnels.erase(sys);
}

bool peer_tls_enabled(caf::actor_system& sys) { return tunnel_of(sys) != nullptr; }

expected<std::uint16_t> publish_to_peers(caf::actor_system& sys, const caf::actor& a,
                                         const std::string& host, std::uint16_t port) {
  auto tunnel = tunnel_of(sys);
  if (!tunnel) {
    auto bound = sys.middleman().publish(a, port, host.c_str(), true);
    if (!bound) return make_status(errc::unavailable, sys.render(bound.error()));
    return *bound;
  }
  // CAF listens on a Unix socket only this user can reach; the tunnel serves
  // the address and lets through only peers it authenticated.
  static std::atomic<int> next{0};
  auto path = tunnel->socket_dir() + "/caf-" + std::to_string(next++) + ".sock";
  auto fd = unix_listener(path);
  if (!fd) return fd.error();
  auto bound = tunnel->serve(host, port, path);
  if (!bound) {
    ::close(*fd);
    return bound.error();
  }
  caf::io::doorman_ptr doorman = caf::make_counted<local_doorman>(multiplexer(sys), *fd, *bound);
  // What the middleman actor sends the broker for a publish of its own.
  caf::anon_send(basp_broker(sys), caf::publish_atom::value, std::move(doorman), *bound,
                 caf::actor_cast<caf::strong_actor_ptr>(a), sys.message_types(a));
  return *bound;
}

expected<caf::actor> connect_to_peer(caf::actor_system& sys, const std::string& host,
                                     std::uint16_t port) {
  if (!peer_tls_enabled(sys)) {
    auto h = sys.middleman().remote_actor(host, port);
    if (!h) return make_status(errc::unavailable, sys.render(h.error()));
    return *h;
  }
  auto scribe = new_peer_scribe(sys, host, port);
  if (!scribe) return scribe.error();
  expected<caf::actor> out = make_status(errc::unavailable, "no answer");
  caf::scoped_actor self{sys};
  self->request(basp_broker(sys), std::chrono::seconds(10), caf::connect_atom::value,
                std::move(*scribe), port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (ptr)
              out = caf::actor_cast<caf::actor>(std::move(ptr));
            else
              out = make_status(errc::unavailable, "no actor is published there");
          },
          [&](caf::error& e) {
            out = make_status(errc::unavailable, "no TLS peer: " + sys.render(e));
          });
  return out;
}

expected<caf::io::scribe_ptr> new_peer_scribe(caf::actor_system& sys, const std::string& host,
                                              std::uint16_t port) {
  auto& mpx = multiplexer(sys);
  auto tunnel = tunnel_of(sys);
  if (!tunnel) {
    auto s = mpx.new_tcp_scribe(host, port);
    if (!s) return make_status(errc::unavailable, sys.render(s.error()));
    return *s;
  }
  auto fd = tunnel->dial(host, port);
  if (!fd) return fd.error();
  caf::io::network::nonblocking(*fd, true);
  return caf::io::scribe_ptr{caf::make_counted<local_scribe>(mpx, *fd, port)};
}

}  // namespace quiver
