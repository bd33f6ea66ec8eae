// A stranger at a daemon's CAF port: connects the way a daemon would (plain
// TCP, or mutual TLS with the certificate it is given), and if a handle comes
// back, asks for the catalog (storaged) and the cluster's status (coordinator,
// vectord) and says hello. Prints what it got;
// exits 0 when it got an answer, 3 when it got no actor. The peer-TLS test runs
// it with and without the cluster's credentials.

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <iostream>
#include <string>

#include "actors/wire/actor_messages.hpp"
#include "actors/wire/peer_transport.hpp"
#include "actors/wire/protocol.hpp"
#include "net/tls_tunnel.hpp"

namespace {

struct probe_config : caf::actor_system_config {
  probe_config() {
    quiver::register_message_types(*this);
    load<caf::io::middleman>();
    set("logger.verbosity", caf::atom("quiet"));
    set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(2)});
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: peer_probe HOST PORT plain | tls CERT KEY CA\n";
    return 2;
  }
  std::string host = argv[1];
  auto port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  std::string mode = argv[3];
  probe_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<quiver::tls_tunnel> tunnel;
  if (mode == "tls") {
    if (argc < 7) return 2;
    auto t = quiver::tls_tunnel::start({argv[4], argv[5], argv[6]});
    if (!t) {
      std::cerr << t.error().message << "\n";
      return 2;
    }
    tunnel = std::move(*t);
    quiver::attach_peer_tunnel(sys, tunnel);
  }
  // The tunnel's thread ends before exit() (OpenSSL cleans up at exit and would
  // leave a running thread's state behind).
  struct detach {
    caf::actor_system* sys;
    ~detach() { quiver::detach_peer_tunnel(sys); }
  } detached{&sys};
  auto h = quiver::connect_to_peer(sys, host, port);
  if (!h) {
    std::cout << "no actor: " << h.error().message << "\n";
    return 3;
  }
  caf::scoped_actor self{sys};
  int answers = 0;
  self->request(*h, std::chrono::seconds(5), quiver::catalog_list_request{})
      .receive(
          [&](const std::vector<quiver::catalog_entry>& entries) {
            std::cout << "catalog: " << entries.size() << " indexes\n";
            ++answers;
          },
          [&](caf::error& e) { std::cout << "catalog: " << sys.render(e) << "\n"; });
  self->request(*h, std::chrono::seconds(5), quiver::cluster_status_request{})
      .receive(
          [&](const quiver::cluster_status& st) {
            std::cout << "cluster status: " << st.mode << ", " << st.nodes.size() << " nodes\n";
            ++answers;
          },
          [&](caf::error& e) { std::cout << "cluster status: " << sys.render(e) << "\n"; });
  auto hello = quiver::check_peer_protocol(sys, *h, host + ":" + std::to_string(port));
  std::cout << "hello: " << (hello.ok() ? "ok" : hello.message) << "\n";
  answers += hello.ok();
  return answers > 0 ? 0 : 3;
}
