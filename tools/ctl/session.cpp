#include "tools/ctl/session.hpp"

#include <simdjson.h>
#include <boost/asio/ip/tcp.hpp>

#include <thread>

namespace quiver::ctl {

namespace {

std::string error_code_of(const std::string& body, std::string& message) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(body).get(doc) != simdjson::SUCCESS) return {};
  std::string_view code, msg;
  if (doc["error"]["code"].get(code) != simdjson::SUCCESS) return {};
  if (doc["error"]["message"].get(msg) == simdjson::SUCCESS) message = std::string(msg);
  return std::string(code);
}

std::string hint_for(const std::string& code, int status) {
  if (code == "unauthenticated") return "the server has auth on: pass --key KEY or set QUIVER_KEY";
  if (code == "forbidden")
    return "admin routes (tenants, cluster) need the admin key; index routes need a tenant's key";
  if (code == "index_not_found") return "see `quiverctl indexes list`";
  if (code == "payload_too_large") return "send smaller batches (--batch)";
  if (code == "quota_exceeded") return "the tenant is at a quota: see `quiverctl tenants get NAME`";
  if (code == "rate_limited") return "the tenant's request rate is exhausted; try again later";
  if (code == "unavailable" || code == "stale_epoch")
    return "a shard is recovering or has no serving replica (`quiverctl cluster status`); "
           "try again later";
  if (code == "insufficient_storage") return "the server's disk is full or read-only";
  if (code == "index_exists")
    return "drop it first (quiverctl indexes drop NAME --yes), or use another name";
  if (status >= 500) return "see the server's log";
  return {};
}

}  // namespace

load::endpoint parse_url(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0)
    throw ctl_error(exit_usage,
                    "quiverctl speaks plain HTTP; reach a TLS gateway through a "
                    "local tunnel (--url http://127.0.0.1:PORT)");
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos)
    throw ctl_error(exit_usage, "--url '" + url + "' is not http://HOST[:PORT]");
  std::string host = rest, port = "4210";
  if (rest.front() == '[') {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string::npos) throw ctl_error(exit_usage, "--url '" + url + "': bad host");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') throw ctl_error(exit_usage, "--url '" + url + "': bad port");
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  unsigned long p = 0;
  try {
    std::size_t used = 0;
    p = std::stoul(port, &used);
    if (used != port.size()) p = 0;
  } catch (const std::exception&) {
    p = 0;
  }
  if (p == 0 || p > 65535) throw ctl_error(exit_usage, "--url '" + url + "': bad port");
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto found = resolver.resolve(host, port, ec);
  if (ec || found.empty())
    throw ctl_error(exit_unreachable, "cannot resolve '" + host + "': " + ec.message());
  load::endpoint out;
  out.host = found.begin()->endpoint().address().to_string();
  out.port = static_cast<std::uint16_t>(p);
  return out;
}

session::session(connection_options opt) : opt_(std::move(opt)), target_(parse_url(opt_.url)) {
  conn_ = connect(opt_.timeout);
}

session::~session() = default;

std::unique_ptr<load::http_connection> session::connect(std::chrono::milliseconds timeout) {
  auto c = std::make_unique<load::http_connection>(ioc_, target_, timeout);
  if (!opt_.key.empty()) c->set_header("Authorization", "Bearer " + opt_.key);
  c->set_header("Accept", "application/json");
  return c;
}

http_result session::call(method m, const std::string& path, std::string body,
                          const std::string& content_type) {
  auto give_up = std::chrono::steady_clock::now() + opt_.retry_for;
  for (;;) {
    http_result out;
    conn_->request(
        m, path, body, [&](http_result r) { out = std::move(r); }, content_type);
    ioc_.restart();
    ioc_.run();
    if (out.status == 0)
      throw ctl_error(exit_unreachable, describe_failure(out, "reaching the server", opt_.url));
    if (transient(out) && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(retry_delay(out, std::chrono::milliseconds(500)));
      continue;
    }
    return out;
  }
}

std::string session::expect(method m, const std::string& path, const std::string& what,
                            std::string body, const std::string& content_type) {
  auto r = call(m, path, std::move(body), content_type);
  if (r.status < 200 || r.status >= 300)
    throw ctl_error(exit_code_for(r), describe_failure(r, what, opt_.url));
  return std::move(r.body);
}

std::string describe_failure(const http_result& r, const std::string& what,
                             const std::string& url) {
  if (r.status == 0)
    return what + ": nothing answers at " + url + " (" + r.error +
           "); is the server running? Set --url or QUIVER_URL";
  std::string message;
  auto code = error_code_of(r.body, message);
  std::string out = what + ": HTTP " + std::to_string(r.status);
  if (!code.empty()) {
    out += " " + code + ": " + message;
  } else if (!r.body.empty()) {
    out += ": " + r.body.substr(0, 300);
  }
  if (auto hint = hint_for(code, r.status); !hint.empty()) out += "\n  hint: " + hint;
  return out;
}

int exit_code_for(const http_result& r) {
  if (r.status == 0) return exit_unreachable;
  if (r.status == 404) return exit_not_found;
  if (r.status == 401 || r.status == 403) return exit_denied;
  return exit_failed;
}

bool transient(const http_result& r) {
  if (r.status == 0) return true;
  if (r.status != 429 && r.status != 503) return false;
  std::string message;
  auto code = error_code_of(r.body, message);
  return code == "rate_limited" || code == "unavailable" || code == "stale_epoch";
}

std::chrono::milliseconds retry_delay(const http_result& r, std::chrono::milliseconds fallback) {
  if (r.retry_after.empty()) return fallback;
  try {
    auto s = std::stod(r.retry_after);
    if (!(s >= 0)) return fallback;
    return std::chrono::milliseconds(static_cast<long>(std::min(s, 10.0) * 1000));
  } catch (const std::exception&) {
    return fallback;
  }
}

}  // namespace quiver::ctl
