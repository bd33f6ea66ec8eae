#include "matrix/http_embedder.hpp"

#include <simdjson.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>
#include <thread>

#include "common/detail/json_writer.hpp"
#include "matrix/text_checks.hpp"

namespace quiver::matrix {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Bounds what one answer can make the gateway hold: 4,096 texts of 4,096
// dimensions printed as JSON numbers stay well under it.
constexpr std::size_t max_answer_bytes = 256u << 20;
// The longest backoff between tries.
constexpr long max_backoff_ms = 2000;

status failed(const std::string& why) { return make_status(errc::embedder_failed, why); }

// The start of what a server answered, fit to quote in an error message: its
// bytes are not ours to trust (any encoding, any length).
std::string printable_start(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

struct attempt {
  status result;       // ok: `body` holds a 200 answer
  bool retry = false;  // the failure may pass on another try
  std::string body;
};

// One POST of `body`, bounded as a whole (resolve, connect, send, read) by
// `timeout`. Runs a private io_context on the calling thread.
attempt post_once(const http_target& t, const std::string& body, const std::string& bearer,
                  std::chrono::milliseconds timeout, const std::atomic<bool>& stopping) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  net::steady_timer deadline(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{http::verb::post, t.path, 11};
  bool v6 = t.host.find(':') != std::string::npos;
  req.set(http::field::host, (v6 ? "[" + t.host + "]" : t.host) + ":" + t.port);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "quiver");
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  req.body() = body;
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_answer_bytes);

  bool timed_out = false;
  bool stopped = false;
  beast::error_code failure;
  const char* stage = "resolving the host";
  deadline.expires_after(timeout);
  deadline.async_wait([&](beast::error_code ec) {
    if (ec) return;  // the exchange ended first
    timed_out = true;
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().close(ignored);
  });
  auto finish = [&](beast::error_code ec) {
    failure = ec;
    deadline.cancel();
  };
  resolver.async_resolve(
      t.host, t.port, [&](beast::error_code ec, const tcp::resolver::results_type& results) {
        if (ec) return finish(ec);
        stage = "connecting";
        stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return finish(ec);
          stage = "sending the texts";
          http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
            if (ec) return finish(ec);
            stage = "reading the answer";
            http::async_read(stream, buffer, parser,
                             [&](beast::error_code ec, std::size_t) { finish(ec); });
          });
        });
      });
  // In slices, to notice a shutdown (an exchange that already ended keeps its answer).
  while (!ioc.stopped()) {
    ioc.run_for(std::chrono::milliseconds(50));
    if (!ioc.stopped() && stopping.load() && !stopped) {
      stopped = true;
      deadline.cancel();
      resolver.cancel();
      beast::error_code ignored;
      stream.socket().close(ignored);
    }
  }

  attempt a;
  if (stopped) {
    a.result = make_status(errc::unavailable, "the server is shutting down");
    return a;
  }
  auto where = "the embedding server at " + t.host + ":" + t.port;
  if (timed_out) {
    a.result = make_status(errc::embedder_timeout, where + " did not answer within " +
                                                       std::to_string(timeout.count()) + " ms (" +
                                                       stage + ")");
    a.retry = true;
    return a;
  }
  if (failure) {
    a.retry = failure != http::error::body_limit;
    a.result = failed(where + ": " + stage + ": " + failure.message());
    return a;
  }
  auto& res = parser.get();
  unsigned code = res.result_int();
  if (code != 200) {
    a.retry = code == 429 || code >= 500;
    auto snippet = printable_start(res.body());
    a.result = failed(where + " answered " + std::to_string(code) +
                      (snippet.empty() ? std::string() : ": " + snippet));
    return a;
  }
  a.body = std::move(res.body());
  return a;
}

expected<std::vector<float>> read_vector(simdjson::dom::element e, std::uint32_t dimension,
                                         std::size_t i) {
  simdjson::dom::array a;
  if (e.get(a)) return failed("answer vector " + std::to_string(i) + " is not an array");
  if (a.size() != dimension)
    return failed("answer vector " + std::to_string(i) + " has " + std::to_string(a.size()) +
                  " numbers; the embedder's dimension is " + std::to_string(dimension));
  std::vector<float> v;
  v.reserve(dimension);
  for (auto x : a) {
    double d = 0;
    if (x.get(d) || !std::isfinite(static_cast<float>(d)))
      return failed("answer vector " + std::to_string(i) + " holds something not a finite number");
    v.push_back(static_cast<float>(d));
  }
  return v;
}

}  // namespace

expected<http_target> parse_http_url(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return make_status(errc::invalid_argument, "url '" + std::string(url) + "': " + why);
  };
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) return bad("must start with http://");
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  http_target t;
  t.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty()) return bad("names no host");
  if (authority.find('@') != std::string_view::npos)
    return bad("must not carry credentials (use api_key_env)");
  auto colon = authority.rfind(':');
  if (authority.front() == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed '['");
    t.host = std::string(authority.substr(1, close - 1));
    colon = close + 1 < authority.size() && authority[close + 1] == ':' ? close + 1
                                                                        : std::string_view::npos;
  } else {
    t.host = std::string(authority.substr(0, colon));
  }
  t.port = "80";
  if (colon != std::string_view::npos) {
    auto p = authority.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || end != p.data() + p.size() || port < 1 || port > 65535)
      return bad("has a port that is not 1-65535");
    t.port = std::to_string(port);
  }
  if (t.host.empty()) return bad("names no host");
  return t;
}

std::string embedding_request_body(std::string_view model,
                                   const std::vector<std::string_view>& texts) {
  detail::json_writer w;
  w.begin_object();
  w.key("model");
  w.string(model);
  w.key("input");
  w.begin_array(texts.size());
  for (auto t : texts) w.string(t);
  w.end_array();
  w.end_object();
  return w.take();
}

expected<std::vector<std::vector<float>>> parse_embedding_answer(std::string_view api,
                                                                 std::string_view body,
                                                                 std::size_t count,
                                                                 std::uint32_t dimension) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc); err)
    return failed(std::string("the embedding server's answer is not JSON (") +
                  simdjson::error_message(err) + "): " + printable_start(body));
  std::vector<std::vector<float>> out;
  simdjson::dom::array list;
  if (api == "ollama") {
    if (doc["embeddings"].get(list))
      return failed("the embedding server's answer has no 'embeddings' array");
    if (list.size() != count)
      return failed("the embedding server answered " + std::to_string(list.size()) +
                    " vectors for " + std::to_string(count) + " texts");
    for (auto e : list) {
      auto v = read_vector(e, dimension, out.size());
      if (!v) return std::move(v).error();
      out.push_back(std::move(*v));
    }
    return out;
  }
  if (doc["data"].get(list)) return failed("the embedding server's answer has no 'data' array");
  if (list.size() != count)
    return failed("the embedding server answered " + std::to_string(list.size()) + " vectors for " +
                  std::to_string(count) + " texts");
  out.resize(count);
  std::size_t at = 0;
  for (auto item : list) {
    // Items carry their input's position; without one they are in order.
    std::uint64_t index = at;
    if (auto pos = item["index"]; pos.error() != simdjson::NO_SUCH_FIELD && pos.get(index))
      return failed("an answer item's 'index' is not a number");
    if (index >= count || !out[index].empty())
      return failed("the embedding server's answer repeats or skips an input index");
    simdjson::dom::element e;
    if (item["embedding"].get(e)) return failed("an answer item has no 'embedding'");
    auto v = read_vector(e, dimension, index);
    if (!v) return std::move(v).error();
    out[index] = std::move(*v);
    ++at;
  }
  return out;
}

http_embedder::http_embedder(embedder_config config, http_target target, std::string bearer,
                             std::shared_ptr<const std::atomic<bool>> stopping)
    : config_(std::move(config)),
      target_(std::move(target)),
      bearer_(std::move(bearer)),
      stopping_(std::move(stopping)) {}

http_embedder::~http_embedder() = default;

expected<std::unique_ptr<http_embedder>> http_embedder::make(
    const embedder_config& config, std::shared_ptr<const std::atomic<bool>> stopping) {
  auto target = parse_http_url(config.url);
  if (!target) return std::move(target).error();
  std::string bearer;
  if (!config.api_key_env.empty()) {
    const char* key = std::getenv(config.api_key_env.c_str());
    if (key == nullptr || *key == '\0')
      return make_status(errc::invalid_argument,
                         "api_key_env names " + config.api_key_env + ", which is not set");
    bearer = key;
  }
  return std::unique_ptr<http_embedder>(
      new http_embedder(config, std::move(*target), std::move(bearer), std::move(stopping)));
}

expected<std::vector<std::vector<float>>> http_embedder::embed_batch(
    const std::vector<std::string_view>& texts) const {
  auto body = embedding_request_body(config_.model, texts);
  thread_local std::minstd_rand rng(std::random_device{}());
  status last;
  for (std::uint32_t i = 0; i <= config_.retries; ++i) {
    if (i > 0) {
      long base = std::min(100L << (i - 1), max_backoff_ms);
      std::uniform_int_distribution<long> jitter(base / 2, base);
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(jitter(rng));
      while (std::chrono::steady_clock::now() < until && !stopping_->load())
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (stopping_->load()) return make_status(errc::unavailable, "the server is shutting down");
    auto a = post_once(target_, body, bearer_, std::chrono::milliseconds(config_.timeout_ms),
                       *stopping_);
    if (a.result.code == errc::unavailable) return std::move(a.result);
    if (a.result.ok()) {
      auto vectors = parse_embedding_answer(config_.api, a.body, texts.size(), config_.dimension);
      ++(vectors ? tries_.ok : tries_.failed);
      return vectors;
    }
    ++(a.result.code == errc::embedder_timeout ? tries_.timeout : tries_.failed);
    last = std::move(a.result);
    if (!a.retry) break;
  }
  return last;
}

expected<std::vector<std::vector<float>>> http_embedder::embed(
    const std::vector<std::string_view>& texts, std::uint32_t) const {
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::size_t points = 0;
    if (!count_code_points(texts[i], points))
      return at_position(make_status(errc::invalid_argument, "a text is not valid UTF-8"), i);
    if (texts[i].find_first_not_of(" \t\r\n") == std::string_view::npos)
      return at_position(make_status(errc::invalid_argument, "a text is empty"), i);
  }
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (std::size_t from = 0; from < texts.size(); from += config_.batch_size) {
    auto to = std::min(texts.size(), from + config_.batch_size);
    std::vector<std::string_view> batch(texts.begin() + static_cast<std::ptrdiff_t>(from),
                                        texts.begin() + static_cast<std::ptrdiff_t>(to));
    auto got = embed_batch(batch);
    if (!got) return std::move(got).error();
    for (auto& v : *got) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace quiver::matrix
