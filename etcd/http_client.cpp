// The etcd client over the v3 JSON gateway: Beast over one keep-alive TCP (or
// TLS) connection for the unary calls, and a connection and thread of its own
// per watch. Every wait is bounded by a timeout of client_options.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <mutex>
#include <optional>
#include <thread>

#include "etcd/detail/etcd_json.hpp"
#include "etcd/etcd_client.hpp"

namespace quiver::etcd {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// Largest answer accepted: etcd's own request limit is ~1.5 MiB, a range of many
// keys can be larger, but nothing Quiver asks for comes near this.
constexpr std::size_t max_response_bytes = 64u << 20;
// A watch line longer than this is not one etcd would send.
constexpr std::size_t max_watch_line = 8u << 20;

status transport_failure(const endpoint& ep, const std::string& what, const beast::error_code& ec) {
  status st = make_status(errc::unavailable, "etcd at " + ep.host + ":" + std::to_string(ep.port) +
                                                 ": " + what + ": " + ec.message());
  st.text_details = {{"etcd_endpoint", ep.host + ":" + std::to_string(ep.port)}};
  return st;
}

// Runs `ioc` until `done` or the stop flag; on a stop, cancels `stream`'s
// operation and drains it. Returns false when stopped.
bool run_until(net::io_context& ioc, const bool& done, beast::tcp_stream& stream,
               const std::atomic<bool>* stop) {
  while (!done) {
    if (stop != nullptr && stop->load()) {
      stream.cancel();
      ioc.run();
      return false;
    }
    ioc.run_one_for(std::chrono::milliseconds(100));
  }
  return true;
}

// One connection to a member: plain TCP, or TLS over it when the client has a CA.
class connection {
 public:
  connection(net::io_context& ioc, ssl::context* tls) {
    if (tls != nullptr)
      secure_.emplace(ioc, *tls);
    else
      plain_.emplace(ioc);
  }
  beast::tcp_stream& tcp() { return secure_ ? beast::get_lowest_layer(*secure_) : *plain_; }
  beast::ssl_stream<beast::tcp_stream>* secure() { return secure_ ? &*secure_ : nullptr; }
  // Runs `f` on the stream HTTP goes through.
  template <class F>
  void with(F&& f) {
    if (secure_)
      f(*secure_);
    else
      f(*plain_);
  }

 private:
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure_;
};

// Connects to `ep` within `timeout` (and completes the TLS handshake, checking
// the member's certificate against its host name or address).
beast::error_code connect(net::io_context& ioc, connection& conn, const endpoint& ep,
                          std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
  if (ec) return ec;
  bool done = false;
  auto& stream = conn.tcp();
  stream.expires_after(timeout);
  stream.async_connect(results, [&](beast::error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  ioc.restart();
  if (!run_until(ioc, done, stream, stop)) return net::error::operation_aborted;
  if (!ec) stream.socket().set_option(tcp::no_delay(true), ec);
  if (ec || conn.secure() == nullptr) return ec;
  conn.secure()->set_verify_callback(ssl::host_name_verification(ep.host));
  done = false;
  stream.expires_after(timeout);
  conn.secure()->async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  ioc.restart();
  if (!run_until(ioc, done, stream, stop)) return net::error::operation_aborted;
  return ec;
}

// The TLS context of client_options' files; a file that does not load is named.
expected<std::shared_ptr<ssl::context>> make_tls_context(const client_options& o) {
  if (o.ca.empty()) return std::shared_ptr<ssl::context>();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  auto failed = [&](const std::string& what, const std::string& path) {
    return make_status(errc::invalid_argument, "etcd." + what + " '" + path + "': " + ec.message());
  };
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx->load_verify_file(o.ca, ec);
  if (ec) return failed("ca", o.ca);
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (!o.cert.empty()) {
    ctx->use_certificate_chain_file(o.cert, ec);
    if (ec) return failed("cert", o.cert);
    ctx->use_private_key_file(o.key, ssl::context::pem, ec);
    if (ec) return failed("key", o.key);
  }
  return ctx;
}

http::request<http::string_body> make_request(const endpoint& ep, const std::string& path,
                                              std::string body) {
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, ep.host + ":" + std::to_string(ep.port));
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

class http_watch final : public watch_stream {
 public:
  http_watch(client_options options, std::shared_ptr<ssl::context> tls, status broken,
             std::string body, std::function<void(const watch_update&)> on_update)
      : options_(std::move(options)),
        tls_(std::move(tls)),
        broken_(std::move(broken)),
        body_(std::move(body)),
        on_update_(std::move(on_update)) {
    thread_ = std::thread([this] { run(); });
  }
  ~http_watch() override {
    stop_ = true;
    thread_.join();
  }

 private:
  void run() {
    status ended =
        broken_.ok() ? make_status(errc::unavailable, "no etcd endpoint is configured") : broken_;
    for (const auto& ep : options_.endpoints) {
      if (!broken_.ok()) break;
      if (stop_) return;
      ended = stream_from(ep);
      if (stop_) return;
      if (ended.code != errc::unavailable || streamed_)
        break;  // only an unreachable member moves on
    }
    watch_update last;
    last.ended = std::move(ended);
    last.compact_revision = compact_revision_;
    on_update_(last);
  }

  // Streams from one member; returns why the stream ended.
  status stream_from(const endpoint& ep) {
    net::io_context ioc;
    connection conn(ioc, tls_.get());
    auto& stream = conn.tcp();
    if (auto ec = connect(ioc, conn, ep, options_.dial_timeout, &stop_))
      return transport_failure(ep, "cannot connect", ec);
    auto req = make_request(ep, "/v3/watch", body_);
    beast::error_code ec;
    bool done = false;
    stream.expires_after(options_.request_timeout);
    conn.with([&](auto& s) {
      http::async_write(s, req, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    ioc.restart();
    if (!run_until(ioc, done, stream, &stop_)) return status::success();
    if (ec) return transport_failure(ep, "cannot send the watch", ec);

    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    done = false;
    conn.with([&](auto& s) {
      http::async_read_header(s, buffer, parser, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    ioc.restart();
    if (!run_until(ioc, done, stream, &stop_)) return status::success();
    if (ec) return transport_failure(ep, "no answer to the watch", ec);

    std::string pending;
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      done = false;
      stream.expires_after(options_.watch_idle_timeout);
      conn.with([&](auto& s) {
        http::async_read_some(s, buffer, parser, [&](beast::error_code e, std::size_t) {
          ec = e;
          done = true;
        });
      });
      ioc.restart();
      if (!run_until(ioc, done, stream, &stop_)) return status::success();
      if (ec == http::error::need_buffer) ec = {};
      if (ec == beast::error::timeout)
        return make_status(errc::unavailable,
                           "the etcd watch heard nothing for " +
                               std::to_string(options_.watch_idle_timeout.count()) + " ms");
      if (ec) return transport_failure(ep, "the watch broke", ec);
      pending.append(chunk, sizeof chunk - parser.get().body().size);
      std::size_t start = 0;
      for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(pending.data() + start, nl - start);
        if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
        auto update = detail::parse_watch_line(line);
        if (!update) return update.error();
        if (!update->ended.ok()) {
          compact_revision_ = update->compact_revision;
          return update->ended;
        }
        streamed_ = true;
        if (!update->events.empty()) on_update_(*update);
        if (stop_) return status::success();
      }
      pending.erase(0, start);
      if (pending.size() > max_watch_line)
        return make_status(errc::internal, "an etcd watch message exceeds 8 MiB");
    }
    return make_status(errc::unavailable, "etcd ended the watch stream");
  }

  client_options options_;
  std::shared_ptr<ssl::context> tls_;
  status broken_;
  std::string body_;
  std::function<void(const watch_update&)> on_update_;
  std::atomic<bool> stop_{false};
  bool streamed_ = false;  // the watch was established: do not silently re-send it elsewhere
  std::int64_t compact_revision_ = 0;
  std::thread thread_;
};

class http_client final : public client {
 public:
  explicit http_client(client_options options) : options_(std::move(options)) {
    auto tls = make_tls_context(options_);
    if (tls)
      tls_ = std::move(*tls);
    else
      broken_ = tls.error();
  }

  expected<range_result> range(const std::string& key, const std::string& range_end,
                               std::int64_t limit) override {
    return call("/v3/kv/range", detail::render_range(key, range_end, limit), true,
                detail::parse_range);
  }
  expected<std::int64_t> put(const std::string& key, const std::string& value,
                             std::int64_t lease) override {
    return call("/v3/kv/put", detail::render_put(key, value, lease), false, detail::parse_put);
  }
  expected<std::int64_t> erase(const std::string& key, const std::string& range_end) override {
    return call("/v3/kv/deleterange", detail::render_erase(key, range_end), false,
                detail::parse_erase);
  }
  expected<txn_result> txn(const std::vector<compare>& compares,
                           const std::vector<operation>& success,
                           const std::vector<operation>& failure) override {
    return call("/v3/kv/txn", detail::render_txn(compares, success, failure), false,
                detail::parse_txn);
  }
  expected<lease_grant_result> lease_grant(std::chrono::seconds ttl) override {
    return call("/v3/lease/grant", detail::render_lease_grant(ttl.count()), true,
                detail::parse_lease_grant);
  }
  expected<std::int64_t> lease_keepalive(std::int64_t id) override {
    return call("/v3/lease/keepalive", detail::render_lease_id(id), true, detail::parse_keepalive);
  }
  status lease_revoke(std::int64_t id) override {
    auto r = call("/v3/lease/revoke", detail::render_lease_id(id), true,
                  [](std::string_view body) -> expected<bool> {
                    auto st = detail::parse_revoke(body);
                    if (!st.ok()) return st;
                    return true;
                  });
    return r ? status::success() : r.error();
  }
  std::unique_ptr<watch_stream> watch(const std::string& key, const std::string& range_end,
                                      std::int64_t start_revision,
                                      std::function<void(const watch_update&)> on_update) override {
    client_options rotated = options_;
    {
      std::lock_guard<std::mutex> lock(mutex_);  // start where the unary calls last succeeded
      std::rotate(rotated.endpoints.begin(), rotated.endpoints.begin() + current_,
                  rotated.endpoints.end());
    }
    return std::make_unique<http_watch>(std::move(rotated), tls_, broken_,
                                        detail::render_watch(key, range_end, start_revision),
                                        std::move(on_update));
  }

 private:
  struct exchange_result {
    bool answered = false;  // a whole HTTP response came back
    bool sent = false;      // the request may have reached etcd
    status failure;
    std::string body;
  };

  exchange_result exchange(const std::string& path, const std::string& body) {
    exchange_result r;
    const endpoint& ep = options_.endpoints[current_];
    if (!stream_) {
      stream_.emplace(ioc_, tls_.get());
      if (auto ec = connect(ioc_, *stream_, ep, options_.dial_timeout, nullptr)) {
        r.failure = transport_failure(ep, "cannot connect", ec);
        return r;
      }
    }
    auto& tcp_stream = stream_->tcp();
    auto req = make_request(ep, path, body);
    r.sent = true;
    beast::error_code ec;
    bool done = false;
    tcp_stream.expires_after(options_.request_timeout);
    stream_->with([&](auto& s) {
      http::async_write(s, req, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    ioc_.restart();
    run_until(ioc_, done, tcp_stream, nullptr);
    if (ec) {
      r.failure = transport_failure(ep, "cannot send", ec);
      return r;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_response_bytes);
    done = false;
    stream_->with([&](auto& s) {
      http::async_read(s, buffer, parser, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
      });
    });
    ioc_.restart();
    run_until(ioc_, done, tcp_stream, nullptr);
    if (ec) {
      r.failure = transport_failure(ep, "no answer", ec);
      return r;
    }
    auto response = parser.release();
    r.answered = true;
    r.body = std::move(response.body());
    if (!response.keep_alive()) stream_.reset();
    return r;
  }

  // Sends to the current member, moving on to the next after a transport failure
  // (at most options_.retries times; a write that may have been sent is not resent).
  template <class Parse>
  auto call(const std::string& path, const std::string& body, bool idempotent, Parse parse)
      -> decltype(parse(std::string_view())) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!broken_.ok()) return broken_;
    if (options_.endpoints.empty())
      return make_status(errc::unavailable, "no etcd endpoint is configured");
    status last;
    for (unsigned attempt = 0; attempt <= options_.retries; ++attempt) {
      auto r = exchange(path, body);
      if (r.answered) {
        auto parsed = parse(r.body);
        // "no leader" and the like: another member may have one.
        if (parsed || parsed.error().code != errc::unavailable || !idempotent) return parsed;
        last = parsed.error();
      } else {
        last = r.failure;
        if (r.sent && !idempotent) {
          stream_.reset();
          current_ = (current_ + 1) % options_.endpoints.size();
          last.message += " (the write may or may not have been applied)";
          return last;
        }
      }
      stream_.reset();
      current_ = (current_ + 1) % options_.endpoints.size();
    }
    return last;
  }

  client_options options_;
  std::shared_ptr<ssl::context> tls_;  // null: plain HTTP
  status broken_;                      // a TLS file that did not load
  std::mutex mutex_;
  net::io_context ioc_;
  std::optional<connection> stream_;
  std::size_t current_ = 0;
};

}  // namespace

std::unique_ptr<client> make_http_client(client_options options) {
  return std::make_unique<http_client>(std::move(options));
}

}  // namespace quiver::etcd
