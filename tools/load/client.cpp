#include "tools/load/client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <optional>
#include <stdexcept>
#include <vector>

namespace quiver::load {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::vector<endpoint> parse_targets(const std::string& list) {
  std::vector<endpoint> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    auto item = list.substr(start, end - start);
    auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      throw std::invalid_argument("target '" + item + "' is not host:port");
    endpoint e;
    e.host = item.substr(0, colon);
    auto port = std::stoul(item.substr(colon + 1));
    if (port == 0 || port > 65535) throw std::invalid_argument("bad port in '" + item + "'");
    e.port = static_cast<std::uint16_t>(port);
    out.push_back(e);
    start = end + 1;
  }
  return out;
}

std::string encode_path_segment(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

struct http_connection::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, tcp::endpoint ep, std::chrono::milliseconds timeout)
      : stream(ioc), ep(ep), timeout(timeout) {
    // Beast reads at most the buffer's free capacity per call, and a consumed
    // flat_buffer never grows past its first 512 bytes: without room, a reply of a
    // few KB takes a read per 512 bytes.
    buffer.reserve(kReadBuffer);
  }
  static constexpr std::size_t kReadBuffer = 64 * 1024;

  beast::tcp_stream stream;
  tcp::endpoint ep;
  std::chrono::milliseconds timeout;
  bool connected = false;
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  callback done;
  std::chrono::steady_clock::time_point start;
  bool reused = false;  // sent on a connection that had served a request already
  std::vector<std::pair<std::string, std::string>> headers;

  void fail(const std::string& what, beast::error_code ec) {
    beast::error_code ignored;
    stream.socket().close(ignored);
    connected = false;
    buffer.clear();
    // A kept-alive connection the server closed while idle: reconnect and resend
    // once (every request the harness sends is idempotent).
    if (reused && (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
                   ec == net::error::broken_pipe)) {
      reused = false;
      return connect();
    }
    http_result r;
    r.error = what + ": " + ec.message();
    finish(std::move(r));
  }

  void finish(http_result r) {
    r.ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    auto cb = std::move(done);
    done = nullptr;
    if (cb) cb(std::move(r));
  }

  void connect() {
    stream.expires_after(timeout);
    stream.async_connect(ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail("connect", ec);
      self->stream.socket().set_option(tcp::no_delay(true));
      self->connected = true;
      self->send();
    });
  }

  void send() {
    stream.expires_after(timeout);
    http::async_write(stream, req, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write", ec);
      self->parser.emplace();
      self->parser->body_limit(1ull << 30);
      http::async_read(self->stream, self->buffer, *self->parser,
                       [self](beast::error_code ec, std::size_t) {
                         if (ec) return self->fail("read", ec);
                         auto res = self->parser->release();
                         http_result r;
                         r.status = static_cast<int>(res.result_int());
                         r.body = std::move(res.body());
                         if (auto it = res.find(http::field::retry_after); it != res.end())
                           r.retry_after = std::string(it->value());
                         if (!res.keep_alive()) {
                           beast::error_code ignored;
                           self->stream.socket().close(ignored);
                           self->connected = false;
                         }
                         self->finish(std::move(r));
                       });
    });
  }
};

http_connection::http_connection(net::io_context& ioc, endpoint target,
                                 std::chrono::milliseconds timeout)
    : target_(std::move(target)) {
  tcp::endpoint ep(net::ip::make_address(target_.host), target_.port);
  impl_ = std::make_shared<impl>(ioc, ep, timeout);
}

http_connection::~http_connection() {
  beast::error_code ignored;
  impl_->stream.socket().close(ignored);
}

void http_connection::set_header(const std::string& name, const std::string& value) {
  impl_->headers.emplace_back(name, value);
}

void http_connection::request(method m, const std::string& target, std::string body, callback done,
                              const std::string& content_type) {
  auto& s = *impl_;
  static const http::verb verbs[] = {http::verb::get, http::verb::put, http::verb::post,
                                     http::verb::delete_};
  s.req = {};
  s.req.method(verbs[static_cast<int>(m)]);
  s.req.target(target);
  s.req.version(11);
  s.req.set(http::field::host, target_.host);
  if (!body.empty()) s.req.set(http::field::content_type, content_type);
  for (auto& [name, value] : s.headers) s.req.set(name, value);
  s.req.body() = std::move(body);
  s.req.prepare_payload();
  s.done = std::move(done);
  s.start = std::chrono::steady_clock::now();
  s.reused = s.connected;
  if (s.connected) return s.send();
  s.connect();
}

}  // namespace quiver::load
