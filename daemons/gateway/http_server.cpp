#include "daemons/gateway/http_server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

#include "common/response_codec.hpp"

namespace quiver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

std::atomic<std::uint64_t> next_request_id{1};

// How long a connection that sent a bad request may keep sending before it is cut.
constexpr auto drain_timeout = std::chrono::seconds(5);
// How long a client may take over the TLS handshake and the closing alert.
constexpr auto tls_timeout = std::chrono::seconds(10);
// How long the acceptor waits after a failed accept (no descriptors left).
constexpr auto accept_backoff = std::chrono::milliseconds(100);
// A connection's read buffer follows its last request's size up to this much (the
// memory an idle connection can hold), plus room for the request's headers.
constexpr std::size_t kMaxReadBuffer = 64 * 1024;
constexpr std::size_t kHeaderAllowance = 1024;

// One io_context per I/O thread, each connection on one of them: a connection's
// handlers never run concurrently without a strand's locking and queueing, and a
// request's handlers never wake another thread. The stream names the executor's
// concrete type: beast::tcp_stream's type-erased one is copied, reference-counted
// and queried on every async operation.
using executor_type = net::io_context::executor_type;
using plain_stream = beast::basic_stream<tcp, executor_type>;
using tls_stream = beast::ssl_stream<plain_stream>;

// A JSON error reply the session layer makes itself, with the API's status and shape.
http_reply error_reply(const status& st) {
  http_reply r;
  r.status = http_status(st.code);
  r.content_type = "application/json";
  r.body = render_error(body_format::json, st);
  return r;
}

// One connection. Stream is plain_stream (HTTP) or tls_stream (HTTPS).
template <class Stream>
class session : public std::enable_shared_from_this<session<Stream>> {
 public:
  session(Stream&& stream, http_api& api, const server_config& config,
          std::atomic<std::size_t>& open)
      : stream_(std::move(stream)), api_(api), config_(config), open_(open) {
    open_.fetch_add(1, std::memory_order_relaxed);
    api_.metrics().connection_opened();
  }
  ~session() {
    finish_upload();
    open_.fetch_sub(1, std::memory_order_relaxed);
    api_.metrics().connection_closed();
  }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (std::is_same_v<Stream, tls_stream>) {
        beast::get_lowest_layer(self->stream_).expires_after(tls_timeout);
        self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) {
            spdlog::debug("TLS handshake failed: {}", ec.message());
            return self->drop();
          }
          self->read();
        });
      } else {
        self->read();
      }
    });
  }

 private:
  auto& tcp() { return beast::get_lowest_layer(stream_); }

  void read() {
    parser_.emplace();
    parser_->body_limit(config_.max_body_bytes);
    tcp().expires_after(std::chrono::seconds(config_.idle_timeout_s));
    // The head first: a restore's body goes to a file, not to memory.
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    const auto& head = parser_->get();
    auto sv = [](beast::string_view v) { return std::string_view(v.data(), v.size()); };
    upload_ = api_.plan_upload(sv(head.method_string()), sv(head.target()),
                               sv(head[http::field::authorization]));
    if (upload_.refuse) {
      auto r = std::move(*upload_.refuse);
      upload_ = {};
      keep_alive_ = false;
      drain_after_reply_ = true;
      return write(std::move(r), head.version());
    }
    if (!upload_.to_file) {
      return http::async_read(stream_, buffer_, *parser_,
                              [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                                self->on_read(ec);
                              });
    }
    file_parser_.emplace(std::move(*parser_));
    file_parser_->body_limit(upload_.max_bytes);
    beast::error_code fec;
    file_parser_->get().body().open(upload_.path.c_str(), beast::file_mode::write, fec);
    if (fec) {
      spdlog::error("cannot stage an upload at {}: {}", upload_.path, fec.message());
      auto r = error_reply(make_status(errc::insufficient_storage,
                                       "cannot stage the upload in the scratch directory"));
      keep_alive_ = false;
      drain_after_reply_ = true;
      return write(std::move(r), head.version());
    }
    if (file_parser_->is_done()) return on_file_read({});  // an empty body
    read_file_body();
  }

  // A file body, a piece at a time: each piece must arrive within the idle
  // timeout, however long the whole upload takes.
  void read_file_body() {
    tcp().expires_after(std::chrono::seconds(config_.idle_timeout_s));
    http::async_read_some(stream_, buffer_, *file_parser_,
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                            if (!ec && !self->file_parser_->is_done())
                              return self->read_file_body();
                            self->on_file_read(ec);
                          });
  }

  void on_file_read(beast::error_code ec) {
    if (ec) {
      file_parser_.reset();
      finish_upload();
      return on_read(ec);
    }
    auto req = file_parser_->release();
    file_parser_.reset();
    req.body().close();
    keep_alive_ = req.keep_alive();
    http_request request = head_of(req);
    request.body_file = upload_.path;
    dispatch(std::move(request), req.version());
  }

  template <class Message>
  http_request head_of(const Message& req) {
    http_request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.content_type = std::string(req[http::field::content_type]);
    request.authorization = std::string(req[http::field::authorization]);
    request.accept = std::string(req[http::field::accept]);
    request.request_id = next_request_id++;
    request_id_ = request.request_id;
    return request;
  }

  // The uploaded file goes, and its transfer slot with it.
  void finish_upload() {
    if (!upload_.to_file) return;
    std::remove(upload_.path.c_str());
    api_.end_upload(upload_);
    upload_ = {};
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof || ec == ssl::error::stream_truncated) {
      return close();
    }
    if (ec) {
      // The client sent something we cannot read as HTTP, or too much of it: answer
      // once, then close (the stream position is unknown).
      http_reply r;
      r.content_type = "application/json";
      if (ec == http::error::body_limit) {
        r.status = 413;
        r.body =
            R"json({"error":{"code":"payload_too_large","message":"body over max_body_bytes (a restore's: max_restore_bytes)","details":{}}})json";
      } else {
        r.status = 400;
        r.body = R"({"error":{"code":"invalid_argument","message":"malformed HTTP request: )" +
                 ec.message() + R"(","details":{}}})";
      }
      keep_alive_ = false;
      // Read what the client is still sending before closing: closing with unread
      // data makes the kernel reset the connection, and the client never sees the reply.
      drain_after_reply_ = true;
      return write(std::move(r), 11);
    }
    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    int version = req.version();
    http_request request = head_of(req);
    // Beast reads at most the buffer's free capacity per call, and a flat_buffer
    // that is consumed as it fills never grows past its first 512 bytes: a 15 KB
    // search body took ~16 reads. Size the buffer to the last request (bounded),
    // so the next one like it arrives in one or two reads.
    auto want = std::min(kMaxReadBuffer, req.body().size() + kHeaderAllowance);
    if (buffer_.capacity() < want) buffer_.reserve(want);
    request.body = std::move(req.body());
    dispatch(std::move(request), version);
  }

  void dispatch(http_request request, int version) {
    tcp().expires_never();
    api_.handle(std::move(request), [self = this->shared_from_this(), version](http_reply r) {
      // Called on an actor thread (onto this connection's thread), or on this very
      // thread (a search answered here: write now).
      net::dispatch(self->stream_.get_executor(), [self, version, r = std::move(r)]() mutable {
        if (r.delay.count() <= 0) return self->write(std::move(r), version);
        auto timer = std::make_shared<net::steady_timer>(self->stream_.get_executor(), r.delay);
        timer->async_wait([self, version, timer, r = std::move(r)](beast::error_code) mutable {
          self->write(std::move(r), version);
        });
      });
    });
  }

  void write(http_reply r, int version) {
    if (!r.body_file.empty()) return write_file(std::move(r), version);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version);
    set_head(*res, r);
    res->body() = std::move(r.body);
    res->prepare_payload();
    tcp().expires_after(std::chrono::seconds(config_.idle_timeout_s));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, hold = std::move(r.hold)](
                          beast::error_code ec, std::size_t) { self->on_written(ec); });
  }

  // A reply whose body is a file (a backup): sent from the disk, the file
  // unlinked as soon as it is open (the descriptor keeps it until sent).
  void write_file(http_reply r, int version) {
    auto res = std::make_shared<http::response<http::file_body>>(
        static_cast<http::status>(r.status), version);
    beast::error_code ec;
    res->body().open(r.body_file.c_str(), beast::file_mode::scan, ec);
    std::remove(r.body_file.c_str());
    if (ec) {
      spdlog::error("cannot send {}: {}", r.body_file, ec.message());
      return write(error_reply(make_status(errc::internal, "the reply's file cannot be read")),
                   version);
    }
    set_head(*res, r);
    res->prepare_payload();
    // Slow clients get time in proportion to the size (at least 1 MiB/s).
    auto seconds = config_.idle_timeout_s + res->body().size() / (1u << 20);
    tcp().expires_after(std::chrono::seconds(seconds));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, hold = std::move(r.hold)](
                          beast::error_code ec, std::size_t) { self->on_written(ec); });
  }

  template <class Response>
  void set_head(Response& res, const http_reply& r) {
    res.set(http::field::server, "quiver");
    res.set(http::field::content_type, r.content_type);
    res.set("X-Request-Id", std::to_string(request_id_));
    for (auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive_);
  }

  void on_written(beast::error_code ec) {
    finish_upload();
    if (ec) return close();
    if (drain_after_reply_) return drain();
    if (!keep_alive_) return close();
    read();
  }

  void drain() {
    beast::error_code ec;
    if constexpr (!std::is_same_v<Stream, tls_stream>)
      tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp().expires_after(drain_timeout);
    drain_buffer_.resize(64 * 1024);
    stream_.async_read_some(net::buffer(drain_buffer_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return;  // EOF, timeout or reset: the session ends
                              self->drain();
                            });
  }

  void close() {
    if constexpr (std::is_same_v<Stream, tls_stream>) {
      // The TLS closing alert, then the socket closes with the session.
      tcp().expires_after(tls_timeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->drop(); });
    } else {
      beast::error_code ec;
      tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  void drop() {
    beast::error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::file_body>> file_parser_;
  upload_plan upload_;  // of the request being read or answered
  http_api& api_;
  const server_config& config_;
  bool keep_alive_ = true;
  bool drain_after_reply_ = false;
  std::vector<char> drain_buffer_;
  std::uint64_t request_id_ = 0;
  std::atomic<std::size_t>& open_;
};

}  // namespace

struct http_server::impl {
  server_config config;
  tls_config tls;
  std::optional<ssl::context> tls_context;
  http_api& api;
  // Sessions alive; declared before the contexts, whose destruction ends the last ones.
  std::atomic<std::size_t> open_sessions{0};
  std::uint64_t refused_connections = 0;  // acceptor thread only
  // One per I/O thread; the first also runs the acceptor and the signals.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  // Keep each context's run() going while it has no connection.
  std::vector<net::executor_work_guard<executor_type>> busy;
  std::size_t next_context = 0;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::signal_set> signals;
  std::uint16_t port = 0;

  impl(const server_config& c, http_api& a, const tls_config& t) : config(c), tls(t), api(a) {
    for (unsigned i = 0; i < std::max(1u, c.io_threads); ++i) {
      contexts.push_back(std::make_unique<net::io_context>(1));
      busy.push_back(net::make_work_guard(*contexts.back()));
    }
    acceptor.emplace(*contexts.front());
    signals.emplace(*contexts.front(), SIGINT, SIGTERM);
  }

  // Loads the certificate, key and client CA; an unreadable or mismatched file
  // stops the start with a message that names it.
  status load_tls() {
    if (!tls.enabled()) return status::success();
    tls_context.emplace(ssl::context::tls_server);
    auto& ctx = *tls_context;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::single_dh_use);
    beast::error_code ec;
    auto failed = [&](const std::string& what, const std::string& path) {
      return make_status(errc::invalid_argument,
                         "tls." + what + " '" + path + "': " + ec.message());
    };
    ctx.use_certificate_chain_file(tls.cert, ec);
    if (ec) return failed("cert", tls.cert);
    ctx.use_private_key_file(tls.key, ssl::context::pem, ec);
    if (ec) return failed("key", tls.key);
    if (!tls.client_ca.empty()) {
      ctx.load_verify_file(tls.client_ca, ec);
      if (ec) return failed("client_ca", tls.client_ca);
      ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
    return status::success();
  }

  // Connections go to the threads in turn.
  void accept() {
    auto& context = *contexts[next_context++ % contexts.size()];
    acceptor->async_accept(context, [this](beast::error_code ec, plain_stream::socket_type socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (ec) {
        // Out of descriptors (or memory): accepting again at once would spin.
        spdlog::warn("accepting a connection failed: {}; retrying in 100 ms", ec.message());
        auto timer = std::make_shared<net::steady_timer>(*contexts.front(), accept_backoff);
        return timer->async_wait([this, timer](beast::error_code) { accept(); });
      }
      if (open_sessions.load(std::memory_order_relaxed) >= config.max_connections) {
        // Every 1,000th refusal is logged, so a flood does not flood the log too.
        if (refused_connections++ % 1000 == 0)
          spdlog::warn("{} open connections (server.max_connections): closing new ones ({} so far)",
                       config.max_connections, refused_connections);
        api.metrics().connection_refused();
        socket.close(ec);
        return accept();
      }
      socket.set_option(tcp::no_delay(true), ec);
      if (tls_context) {
        std::make_shared<session<tls_stream>>(tls_stream(std::move(socket), *tls_context), api,
                                              config, open_sessions)
            ->start();
      } else {
        std::make_shared<session<plain_stream>>(plain_stream(std::move(socket)), api, config,
                                                open_sessions)
            ->start();
      }
      accept();
    });
  }
};

http_server::http_server(const server_config& config, http_api& api, const tls_config& tls)
    : impl_(std::make_unique<impl>(config, api, tls)) {}

http_server::~http_server() = default;

status http_server::listen() {
  if (auto st = impl_->load_tls(); !st.ok()) return st;
  beast::error_code ec;
  auto address = net::ip::make_address(
      impl_->config.host == "localhost" ? "127.0.0.1" : impl_->config.host, ec);
  if (ec) return make_status(errc::invalid_argument, "invalid host '" + impl_->config.host + "'");
  tcp::endpoint endpoint{address, impl_->config.port};
  auto& a = *impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return make_status(errc::unavailable, "cannot listen on " + impl_->config.host + ":" +
                                              std::to_string(impl_->config.port) + ": " +
                                              ec.message());
  impl_->port = a.local_endpoint().port();
  return status::success();
}

std::uint16_t http_server::port() const { return impl_->port; }

void http_server::run() {
  impl_->signals->async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    stop();
  });
  impl_->accept();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl_->contexts.size(); ++i)
    threads.emplace_back([this, i] { impl_->contexts[i]->run(); });
  impl_->contexts.front()->run();
  for (auto& t : threads) t.join();
}

void http_server::stop() {
  net::post(*impl_->contexts.front(), [this] {
    beast::error_code ec;
    impl_->acceptor->close(ec);
    impl_->signals->cancel(ec);
    for (auto& c : impl_->contexts) c->stop();
  });
}

}  // namespace quiver
