#include "net/tls_tunnel.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <thread>
#include <vector>

namespace quiver {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using unix_stream = net::local::stream_protocol;
using error_code = boost::system::error_code;

// One carried connection: a TLS stream to the peer and a local socket to CAF,
// with a buffer each way (a TLS record is at most 16 KiB).
struct pipe : std::enable_shared_from_this<pipe> {
  pipe(net::io_context& ioc, ssl::context& ctx, std::atomic<std::size_t>& live)
      : tls(ioc, ctx), local(ioc), deadline(ioc), live(live) {
    ++live;
  }
  ~pipe() { --live; }

  void arm(std::chrono::milliseconds timeout) {
    deadline.expires_after(timeout);
    deadline.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->close();
    });
  }

  void close() {
    error_code ignored;
    deadline.cancel(ignored);
    tls.lowest_layer().close(ignored);
    local.close(ignored);
  }

  void start_pumping() {
    error_code ignored;
    deadline.cancel(ignored);
    pump(tls, local, in);   // peer -> CAF
    pump(local, tls, out);  // CAF -> peer
  }

  // Reads from `from` and writes all of it to `to`, until either fails. The
  // streams and the buffer are members: `self` keeps them alive.
  template <class From, class To>
  void pump(From& from, To& to, std::array<char, 16384>& buf) {
    from.async_read_some(net::buffer(buf), [self = shared_from_this(), &from, &to, &buf](
                                               const error_code& ec, std::size_t n) {
      if (ec) return self->close();
      net::async_write(to, net::buffer(buf, n),
                       [self, &from, &to, &buf](const error_code& ec, std::size_t) {
                         if (ec) return self->close();
                         self->pump(from, to, buf);
                       });
    });
  }

  ssl::stream<tcp::socket> tls;
  unix_stream::socket local;
  net::steady_timer deadline;
  std::atomic<std::size_t>& live;
  std::array<char, 16384> in{}, out{};
};

std::string endpoint_text(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string openssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

// A daemon killed with SIGKILL leaves its directory behind; the next start
// removes the ones whose process is gone.
void sweep_stale_dirs(const std::filesystem::path& tmp) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(tmp, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    const std::string prefix = "quiver-peers-";
    if (name.rfind(prefix, 0) != 0) continue;
    auto dash = name.find('-', prefix.size());
    if (dash == std::string::npos) continue;
    auto pid = name.substr(prefix.size(), dash - prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::filesystem::exists("/proc/" + pid)) continue;
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
}

}  // namespace

// Handlers capture `this`: they run only on `thread`, which is joined before
// any member goes, and the io_context (declared after what its pending handlers
// use) destroys them first.
struct tls_tunnel::impl {
  tls_tunnel_options options;
  std::string dir;
  std::atomic<std::size_t> live{0};
  ssl::context server_ctx{ssl::context::tls_server};
  ssl::context client_ctx{ssl::context::tls_client};
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::map<net::ip::address, std::size_t> handshaking;  // inbound, by the peer's address
  std::chrono::steady_clock::time_point last_refusal_log;
  std::thread thread;

  status load(ssl::context& ctx, const peer_tls_config& tls) {
    error_code ec;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    auto failed = [&](const std::string& what, const std::string& path) {
      return make_status(errc::invalid_argument,
                         "peer_tls." + what + " '" + path + "': " + ec.message());
    };
    ctx.use_certificate_chain_file(tls.cert, ec);
    if (ec) return failed("cert", tls.cert);
    ctx.use_private_key_file(tls.key, ssl::context::pem, ec);
    if (ec) return failed("key", tls.key);
    ctx.load_verify_file(tls.ca, ec);
    if (ec) return failed("ca", tls.ca);
    // Either side accepts only a peer whose certificate the cluster's CA signed.
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return failed("ca", tls.ca);
    return status::success();
  }

  void accept(std::shared_ptr<tcp::acceptor> acceptor, std::string path) {
    acceptor->async_accept([self = this, acceptor, path](const error_code& ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors and the like: try again shortly rather than spin.
        auto retry = std::make_shared<net::steady_timer>(self->ioc, std::chrono::milliseconds(100));
        retry->async_wait([self, acceptor, path, retry](const error_code& e) {
          if (!e) self->accept(acceptor, path);
        });
        return;
      }
      error_code ignored;
      auto from = socket.remote_endpoint(ignored).address();
      if (self->live.load() >= self->options.max_connections) {
        self->refused("peer " + endpoint_text(socket) +
                      " refused: " + std::to_string(self->options.max_connections) +
                      " connections are carried already");
      } else if (self->handshaking[from] >= self->options.max_handshakes_per_address) {
        self->refused("peer " + endpoint_text(socket) +
                      " refused: " + std::to_string(self->options.max_handshakes_per_address) +
                      " handshakes from its address are under way");
      } else {
        self->handshake(std::move(socket), from, path);
      }
      self->accept(acceptor, path);
    });
  }

  // At most one line a second: a flood of connections must not flood the log.
  void refused(const std::string& why) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_log < std::chrono::seconds(1)) return;
    last_refusal_log = now;
    spdlog::warn("{}", why);
  }

  void handshake(tcp::socket socket, net::ip::address from, const std::string& path) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto who = endpoint_text(socket);
    auto p = std::make_shared<pipe>(ioc, server_ctx, live);
    p->tls.next_layer() = std::move(socket);
    p->arm(options.handshake_timeout);
    ++handshaking[from];
    // The handler runs once whatever happens (the deadline closes the socket).
    p->tls.async_handshake(
        ssl::stream_base::server, [this, p, path, who, from](const error_code& ec) {
          if (auto it = handshaking.find(from); it != handshaking.end() && --it->second == 0)
            handshaking.erase(it);
          if (ec) {
            // Debug only: a stranger must not be able to fill the log.
            spdlog::debug("peer {} refused: TLS handshake: {}", who, ec.message());
            return p->close();
          }
          p->local.async_connect(unix_stream::endpoint(path), [p](const error_code& ec) {
            if (ec) return p->close();
            p->start_pumping();
          });
        });
  }

  void dial(int local_fd, const std::string& host, std::uint16_t port) {
    auto p = std::make_shared<pipe>(ioc, client_ctx, live);
    error_code ec;
    p->local.assign(unix_stream(), local_fd, ec);
    if (ec) {
      ::close(local_fd);
      return;
    }
    p->arm(options.handshake_timeout);
    auto resolver = std::make_shared<tcp::resolver>(ioc);
    resolver->async_resolve(
        host, std::to_string(port),
        [p, resolver](const error_code& ec, const tcp::resolver::results_type& results) {
          if (ec) return p->close();
          net::async_connect(
              p->tls.lowest_layer(), results, [p](const error_code& ec, const tcp::endpoint&) {
                if (ec) return p->close();
                error_code ignored;
                p->tls.lowest_layer().set_option(tcp::no_delay(true), ignored);
                p->tls.async_handshake(ssl::stream_base::client, [p](const error_code& ec) {
                  if (ec) return p->close();
                  p->start_pumping();
                });
              });
        });
  }
};

status check_peer_tls(const peer_tls_config& tls) {
  if (!tls.enabled()) return status::success();
  using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
  auto failed = [](const std::string& what) {
    return make_status(errc::invalid_argument, "peer_tls." + what + ": " + openssl_errors());
  };
  ctx_ptr ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  ctx_ptr key_only(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (!ctx || !key_only) return failed("context");
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert.c_str()) != 1)
    return failed("cert '" + tls.cert + "'");
  // Read alone first: a file that is no key and a key of another certificate
  // are different mistakes.
  if (SSL_CTX_use_PrivateKey_file(key_only.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return failed("key '" + tls.key + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    return failed("key '" + tls.key + "' does not belong to cert '" + tls.cert + "'");
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca.c_str(), nullptr) != 1)
    return failed("ca '" + tls.ca + "'");
  // An expired certificate fails every handshake later, with no word why.
  if (auto* cert = SSL_CTX_get0_certificate(ctx.get());
      cert != nullptr && X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
    return make_status(errc::invalid_argument, "peer_tls.cert '" + tls.cert + "' has expired");
  return status::success();
}

tls_tunnel::tls_tunnel() : impl_(std::make_unique<impl>()) {}

expected<std::unique_ptr<tls_tunnel>> tls_tunnel::start(const peer_tls_config& tls,
                                                        tls_tunnel_options options) {
  std::unique_ptr<tls_tunnel> t(new tls_tunnel());
  auto& d = *t->impl_;
  d.options = options;
  if (auto st = d.load(d.server_ctx, tls); !st.ok()) return st;
  if (auto st = d.load(d.client_ctx, tls); !st.ok()) return st;
  auto tmp = std::filesystem::temp_directory_path();
  sweep_stale_dirs(tmp);
  std::string pattern = (tmp / ("quiver-peers-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr)
    return make_status(errc::internal, "cannot make a private directory for CAF's listeners");
  d.dir = pattern;
  d.thread = std::thread([&d] { d.ioc.run(); });
  return t;
}

tls_tunnel::~tls_tunnel() {
  auto& d = *impl_;
  d.work.reset();
  d.ioc.stop();
  if (d.thread.joinable()) d.thread.join();
  std::error_code ec;
  std::filesystem::remove_all(d.dir, ec);
}

expected<std::uint16_t> tls_tunnel::serve(const std::string& host, std::uint16_t port,
                                          const std::string& unix_path) {
  auto& d = *impl_;
  auto acceptor = std::make_shared<tcp::acceptor>(d.ioc);
  error_code ec;
  auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec)
    return make_status(errc::invalid_argument, "cannot listen on " + host + ": " + ec.message());
  tcp::endpoint ep(address, port);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return make_status(errc::unavailable, "cannot listen on " + host + ":" + std::to_string(port) +
                                              ": " + ec.message());
  auto bound = acceptor->local_endpoint().port();
  std::promise<void> started;
  net::post(d.ioc, [&d, acceptor, unix_path, &started] {
    d.acceptors.push_back(acceptor);
    d.accept(acceptor, unix_path);
    started.set_value();
  });
  started.get_future().wait();
  return bound;
}

expected<int> tls_tunnel::dial(const std::string& host, std::uint16_t port) {
  auto& d = *impl_;
  if (d.live.load() >= d.options.max_connections)
    return make_status(errc::unavailable, std::to_string(d.options.max_connections) +
                                              " peer connections are carried already");
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return make_status(errc::unavailable, "cannot make a socket pair");
  net::post(d.ioc, [&d, fd = fds[1], host, port] { d.dial(fd, host, port); });
  return fds[0];
}

const std::string& tls_tunnel::socket_dir() const { return impl_->dir; }

std::size_t tls_tunnel::connections() const { return impl_->live.load(); }

}  // namespace quiver
