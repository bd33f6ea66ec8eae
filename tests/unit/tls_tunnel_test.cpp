// The TLS tunnel between daemons, over real sockets and certificates made with
// the openssl tool: bytes cross in both directions between two holders of the
// cluster's credentials; a stranger's tunnel never reaches the local socket;
// a silent connection is dropped at the handshake deadline; the number of
// carried connections is bounded; bad files are named.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "net/tls_tunnel.hpp"

namespace quiver {
namespace {

namespace fs = std::filesystem;

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

struct credentials {
  fs::path dir;
  peer_tls_config node, stranger;
};

// A cluster CA with a node certificate, and a stranger's CA with its own.
const credentials& certs() {
  static const credentials c = [] {
    credentials out;
    out.dir = fs::temp_directory_path() / ("quiver-tunnel-" + std::to_string(::getpid()));
    fs::create_directories(out.dir);
    auto d = out.dir.string();
    auto ca = [&](const std::string& name) {
      return run(
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
          "-subj /CN=" +
          name + " -keyout " + d + "/" + name + ".key -out " + d + "/" + name + ".pem");
    };
    auto signed_by = [&](const std::string& name, const std::string& by) {
      return run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" +
                 name + " -keyout " + d + "/" + name + ".key -out " + d + "/" + name + ".csr") &&
             run("openssl x509 -req -days 2 -in " + d + "/" + name + ".csr -CA " + d + "/" + by +
                 ".pem -CAkey " + d + "/" + by + ".key -CAcreateserial -out " + d + "/" + name +
                 ".pem");
    };
    if (ca("cluster-ca") && signed_by("node", "cluster-ca") && ca("other-ca") &&
        signed_by("stranger", "other-ca")) {
      out.node = {d + "/node.pem", d + "/node.key", d + "/cluster-ca.pem"};
      // Trusts the cluster's CA, so only its own certificate can fail it.
      out.stranger = {d + "/stranger.pem", d + "/stranger.key", d + "/cluster-ca.pem"};
    }
    return out;
  }();
  static const struct cleanup {
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(certs().dir, ec);
    }
  } at_exit;
  return c;
}

// A Unix listener standing in for CAF's.
class local_listener {
 public:
  explicit local_listener(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
  }
  ~local_listener() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // The next connection within `ms`, or -1.
  int accept_within(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return -1;
    return ::accept(fd_, nullptr, nullptr);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Reads exactly n bytes (or fewer at end of file) within a few seconds.
std::string read_n(int fd, std::size_t n) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    char buf[65536];
    auto got = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (got <= 0) break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

void write_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::write(fd, data.data() + off, data.size() - off);
    ASSERT_GT(n, 0);
    off += static_cast<std::size_t>(n);
  }
}

// Whether the peer closes `fd` within `ms` (reads return end of file or an error).
bool closed_within(int fd, int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) != 1) continue;
    char c;
    if (::read(fd, &c, 1) <= 0) return true;
  }
  return false;
}

int tcp_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

class TlsTunnel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (certs().node.cert.empty()) GTEST_SKIP() << "needs the openssl tool";
  }
  std::unique_ptr<tls_tunnel> start(const peer_tls_config& c, tls_tunnel_options o = {}) {
    auto t = tls_tunnel::start(c, o);
    EXPECT_TRUE(t) << (t ? "" : t.error().message);
    return t ? std::move(*t) : nullptr;
  }

  // A tunnel serving 127.0.0.1 in front of a stand-in for CAF's listener.
  struct served {
    std::unique_ptr<tls_tunnel> tunnel;
    std::unique_ptr<local_listener> caf;
    std::uint16_t port = 0;
  };
  served serve(const peer_tls_config& c, tls_tunnel_options o = {}) {
    served out;
    out.tunnel = start(c, o);
    if (!out.tunnel) return out;
    auto path = out.tunnel->socket_dir() + "/caf.sock";
    out.caf = std::make_unique<local_listener>(path);
    auto port = out.tunnel->serve("127.0.0.1", 0, path);
    EXPECT_TRUE(port) << (port ? "" : port.error().message);
    out.port = port ? *port : 0;
    return out;
  }
};

// Waits (bounded) until `t` carries `n` connections.
void wait_for_connections(const tls_tunnel& t, std::size_t n) {
  for (int i = 0; i < 100 && t.connections() != n; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

TEST_F(TlsTunnel, BytesCrossBothWaysBetweenHoldersOfTheClustersCredentials) {
  auto server = serve(certs().node);
  auto client = start(certs().node);
  ASSERT_NE(server.port, 0);
  auto fd = client->dial("127.0.0.1", server.port);
  ASSERT_TRUE(fd);
  // Larger than any buffer on the way: every partial write must be carried on.
  std::string up(3u << 20, '\0'), down(2u << 20, '\0');
  for (std::size_t i = 0; i < up.size(); ++i) up[i] = static_cast<char>(i * 7 + 1);
  for (std::size_t i = 0; i < down.size(); ++i) down[i] = static_cast<char>(i * 13 + 5);
  std::thread writer([&] { write_all(*fd, up); });
  int accepted = server.caf->accept_within(10000);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(read_n(accepted, up.size()), up);
  writer.join();
  write_all(accepted, down);
  EXPECT_EQ(read_n(*fd, down.size()), down);
  EXPECT_EQ(server.tunnel->connections(), 1u);
  EXPECT_EQ(client->connections(), 1u);
  // Either end closing ends the other.
  ::close(accepted);
  EXPECT_TRUE(closed_within(*fd, 5000));
  ::close(*fd);
}

TEST_F(TlsTunnel, AStrangersTunnelNeverReachesTheLocalSocket) {
  auto server = serve(certs().node);
  auto stranger = start(certs().stranger);
  ASSERT_NE(server.port, 0);
  auto fd = stranger->dial("127.0.0.1", server.port);
  ASSERT_TRUE(fd);
  write_all(*fd, "hello, any actor there?");
  EXPECT_TRUE(closed_within(*fd, 10000));
  EXPECT_EQ(server.caf->accept_within(500), -1);
  ::close(*fd);
  // And a node does not talk to a server the stranger's CA signed.
  auto stranger_server =
      serve({certs().stranger.cert, certs().stranger.key, (certs().dir / "other-ca.pem").string()});
  ASSERT_NE(stranger_server.port, 0);
  auto node = start(certs().node);
  auto fd2 = node->dial("127.0.0.1", stranger_server.port);
  ASSERT_TRUE(fd2);
  EXPECT_TRUE(closed_within(*fd2, 10000));
  EXPECT_EQ(stranger_server.caf->accept_within(500), -1);
  ::close(*fd2);
}

TEST_F(TlsTunnel, ASilentConnectionIsDroppedAtTheHandshakeDeadline) {
  tls_tunnel_options o;
  o.handshake_timeout = std::chrono::milliseconds(300);
  auto server = serve(certs().node, o);
  ASSERT_NE(server.port, 0);
  int fd = tcp_connect(server.port);
  EXPECT_TRUE(closed_within(fd, 10000));
  ::close(fd);
  wait_for_connections(*server.tunnel, 0);
  EXPECT_EQ(server.tunnel->connections(), 0u);
}

TEST_F(TlsTunnel, CarriedConnectionsAreBounded) {
  tls_tunnel_options o;
  o.max_connections = 2;
  auto server = serve(certs().node, o);
  ASSERT_NE(server.port, 0);
  int a = tcp_connect(server.port), b = tcp_connect(server.port);
  wait_for_connections(*server.tunnel, 2);
  ASSERT_EQ(server.tunnel->connections(), 2u);
  int c = tcp_connect(server.port);
  EXPECT_TRUE(closed_within(c, 5000)) << "a third connection is refused";
  EXPECT_FALSE(closed_within(a, 200)) << "the first two wait out their handshake";
  EXPECT_EQ(server.tunnel->connections(), 2u);
  for (int fd : {a, b, c}) ::close(fd);
  // Outbound dials count too.
  auto client = start(certs().node, o);
  auto d1 = client->dial("127.0.0.1", server.port), d2 = client->dial("127.0.0.1", server.port);
  ASSERT_TRUE(d1 && d2);
  wait_for_connections(*client, 2);
  auto d3 = client->dial("127.0.0.1", server.port);
  EXPECT_FALSE(d3);
  ::close(*d1);
  ::close(*d2);
}

TEST_F(TlsTunnel, OneAddressCannotHoldEveryHandshake) {
  tls_tunnel_options o;
  o.max_handshakes_per_address = 2;
  auto server = serve(certs().node, o);
  ASSERT_NE(server.port, 0);
  int a = tcp_connect(server.port), b = tcp_connect(server.port);
  wait_for_connections(*server.tunnel, 2);
  ASSERT_EQ(server.tunnel->connections(), 2u);
  int c = tcp_connect(server.port);
  EXPECT_TRUE(closed_within(c, 5000)) << "a third silent handshake from one address";
  ::close(c);
  // Once those end, the address may try again.
  ::close(a);
  ::close(b);
  wait_for_connections(*server.tunnel, 0);
  int d = tcp_connect(server.port);
  EXPECT_FALSE(closed_within(d, 300)) << "a new handshake is let in";
  ::close(d);
  // A holder of the credentials completes its handshake from that address too.
  auto client = start(certs().node);
  auto fd = client->dial("127.0.0.1", server.port);
  ASSERT_TRUE(fd);
  write_all(*fd, "ping");
  int accepted = server.caf->accept_within(10000);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(read_n(accepted, 4), "ping");
  ::close(accepted);
  ::close(*fd);
}

TEST_F(TlsTunnel, ADialToNowhereEndsInEndOfFile) {
  auto client = start(certs().node);
  auto server = serve(certs().node);
  ASSERT_NE(server.port, 0);
  server.tunnel.reset();  // the port is closed now
  auto fd = client->dial("127.0.0.1", server.port);
  ASSERT_TRUE(fd);
  EXPECT_TRUE(closed_within(*fd, 10000));
  ::close(*fd);
}

TEST_F(TlsTunnel, TheCredentialsAreCheckedBeforeAnythingStarts) {
  EXPECT_TRUE(check_peer_tls(certs().node).ok());
  EXPECT_TRUE(check_peer_tls({}).ok()) << "no TLS: nothing to check";
  auto mismatched = check_peer_tls({certs().node.cert, certs().stranger.key, certs().node.ca});
  EXPECT_EQ(mismatched.code, errc::invalid_argument);
  EXPECT_NE(mismatched.message.find("does not belong to cert"), std::string::npos)
      << mismatched.message;
  auto not_a_key = check_peer_tls({certs().node.cert, certs().node.ca, certs().node.ca});
  EXPECT_NE(not_a_key.message.find("peer_tls.key '" + certs().node.ca + "'"), std::string::npos)
      << not_a_key.message;
  // A certificate that expired a day ago (self-signed: only the date is wrong).
  auto d = certs().dir.string();
  ASSERT_TRUE(run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=old "
                  "-keyout " +
                  d + "/old.key -out " + d + "/old.csr") &&
              run("openssl x509 -req -in " + d + "/old.csr -signkey " + d + "/old.key " +
                  "-days -1 -out " + d + "/old.pem"));
  auto expired = check_peer_tls({d + "/old.pem", d + "/old.key", d + "/old.pem"});
  EXPECT_EQ(expired.code, errc::invalid_argument);
  EXPECT_NE(expired.message.find("has expired"), std::string::npos) << expired.message;
}

TEST_F(TlsTunnel, BadFilesAreNamed) {
  auto missing = (certs().dir / "missing.key").string();
  auto t = tls_tunnel::start({certs().node.cert, missing, certs().node.ca});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, errc::invalid_argument);
  EXPECT_NE(t.error().message.find("peer_tls.key '" + missing + "'"), std::string::npos)
      << t.error().message;
  t = tls_tunnel::start({certs().node.cert, certs().node.key, missing});
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("peer_tls.ca"), std::string::npos) << t.error().message;
}

}  // namespace
}  // namespace quiver
