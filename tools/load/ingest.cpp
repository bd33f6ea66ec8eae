// Bulk loading of the corpus: MessagePack batches with binary vectors over two
// pipelined connections, with a progress bar, rate and ETA.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <msgpack.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>

#include "matrix/hash_embedder.hpp"
#include "tools/load/corpus.hpp"
#include "tools/load/engine.hpp"

namespace quiver::load {

namespace {

constexpr std::size_t kIngestConnections = 2;  // one batch parses while the other inserts

void pack_strings(msgpack::packer<msgpack::sbuffer>& pk, const std::vector<std::string>& v) {
  pk.pack_array(static_cast<std::uint32_t>(v.size()));
  for (auto& s : v) pk.pack(s);
}

void pack_profile(msgpack::packer<msgpack::sbuffer>& pk, const profile& p) {
  pk.pack_map(10);
  pk.pack(std::string("id")), pk.pack(p.id);
  pk.pack(std::string("name")), pk.pack(p.name);
  pk.pack(std::string("role")), pk.pack(p.role);
  pk.pack(std::string("skills")), pack_strings(pk, p.skills);
  pk.pack(std::string("city")), pk.pack(p.city);
  pk.pack(std::string("certifications")), pack_strings(pk, p.certifications);
  pk.pack(std::string("availability")), pk.pack(p.availability);
  pk.pack(std::string("phone")), pk.pack(p.phone);
  pk.pack(std::string("email")), pk.pack(p.email);
  pk.pack(std::string("status")), pk.pack(p.status);
}

// Each record's vector: the corpus file's row, or (text) its profile text embedded.
std::string batch_body(const corpus_model& model, const vector_file& base,
                       const matrix::hash_embedder* text, std::size_t from, std::size_t to) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(1);
  pk.pack(std::string("items"));
  pk.pack_array(static_cast<std::uint32_t>(to - from));
  auto dim = text ? text->dimension() : base.dim();
  auto bytes = static_cast<std::uint32_t>(dim * sizeof(float));
  for (auto i = from; i < to; ++i) {
    auto p = model.profile_for(i);
    pk.pack_map(3);
    pk.pack(std::string("id"));
    pk.pack(corpus_id(i));
    pk.pack(std::string("vector"));
    pk.pack_bin(bytes);
    if (text) {
      auto v = text->embed(profile_text(p));
      if (!v) throw std::runtime_error("cannot embed the profile of " + p.id);
      pk.pack_bin_body(reinterpret_cast<const char*>(v->data()), bytes);
    } else {
      pk.pack_bin_body(reinterpret_cast<const char*>(base.row(i)), bytes);
    }
    pk.pack(std::string("metadata"));
    pack_profile(pk, p);
  }
  return std::string(buf.data(), buf.size());
}

void draw_progress(std::size_t done, std::size_t n, double elapsed) {
  constexpr int width = 30;
  auto filled = n ? static_cast<int>(width * done / n) : width;
  double rate = elapsed > 0 ? double(done) / elapsed : 0;
  double eta = rate > 0 ? double(n - done) / rate : 0;
  std::fprintf(stderr, "\r[%.*s%.*s] %zu/%zu %3.0f%%  %.0f rec/s  ETA %.0f s   ", filled,
               "##############################", width - filled, "------------------------------",
               done, n, n ? 100.0 * double(done) / double(n) : 100.0, rate, eta);
}

http_result blocking(boost::asio::io_context& ioc, http_connection& c, method m,
                     const std::string& path, std::string body) {
  http_result out;
  c.request(m, path, std::move(body), [&](http_result r) { out = std::move(r); });
  ioc.restart();
  ioc.run();
  return out;
}

}  // namespace

void ingest(const std::vector<endpoint>& targets, const std::string& corpus_dir,
            const std::string& index, std::size_t batch, std::size_t shards, bool progress,
            std::size_t limit, std::size_t replicas, std::size_t text_dim) {
  auto info = read_corpus_info(corpus_dir);
  std::optional<matrix::hash_embedder> text;
  if (text_dim) text.emplace(static_cast<std::uint32_t>(text_dim));
  corpus_model model(info.recipe);
  vector_file base(corpus_dir + "/vectors.f32");
  if (base.size() != info.n || base.dim() != info.recipe.dim)
    throw std::runtime_error(corpus_dir + "/vectors.f32 does not match recipe.json");
  if (limit) info.n = std::min(info.n, limit);
  boost::asio::io_context ioc;
  http_connection admin(ioc, targets[0], std::chrono::seconds(60));
  auto r = blocking(ioc, admin, method::get, "/v1/indexes/" + index, {});
  if (r.status == 200) {
    auto at = r.body.find("\"count\":");
    if (at != std::string::npos && std::stoull(r.body.substr(at + 8)) == info.n) {
      std::fprintf(stderr, "index %s already holds the %zu corpus records\n", index.c_str(),
                   info.n);
      return;
    }
  } else if (r.status == 404) {
    r = blocking(ioc, admin, method::post, "/v1/indexes",
                 "{\"name\":\"" + index +
                     "\",\"dimension\":" + std::to_string(text_dim ? text_dim : info.recipe.dim) +
                     ",\"shards\":" + std::to_string(shards) + replicas_field(replicas) +
                     (text_dim ? ",\"embedder\":\"hash-v1\"" : "") + "}");
    if (r.status != 201)
      throw std::runtime_error("creating " + index + ": HTTP " + std::to_string(r.status) + " " +
                               r.body);
  } else {
    throw std::runtime_error("reading " + index + ": HTTP " + std::to_string(r.status) + " " +
                             r.body + r.error);
  }

  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::size_t next = 0, done = 0;
  std::string failure;
  std::vector<std::unique_ptr<http_connection>> conns;
  // A new index's shards may take a moment to serve, and a cluster fails over:
  // a batch answered 503 is sent again shortly, for at most a minute.
  constexpr auto retry_for = std::chrono::seconds(60);
  constexpr auto retry_after = std::chrono::milliseconds(200);
  std::function<void(http_connection*)> send;
  std::function<void(http_connection*, std::size_t, std::size_t,
                     std::chrono::steady_clock::time_point)>
      attempt = [&](http_connection* c, std::size_t from, std::size_t to,
                    std::chrono::steady_clock::time_point give_up) {
        c->request(
            method::post, "/v1/indexes/" + index + "/vectors",
            batch_body(model, base, text ? &*text : nullptr, from, to),
            [&, c, from, to, give_up](http_result r) {
              if (r.status == 503 && std::chrono::steady_clock::now() < give_up &&
                  failure.empty()) {
                auto t = std::make_shared<boost::asio::steady_timer>(ioc, retry_after);
                t->async_wait([&, t, c, from, to, give_up](const boost::system::error_code&) {
                  attempt(c, from, to, give_up);
                });
                return;
              }
              if (r.status != 200) {
                failure = "batch " + std::to_string(from) + ".." + std::to_string(to) + ": HTTP " +
                          std::to_string(r.status) + " " + r.body + r.error;
                return;
              }
              done += to - from;
              if (progress) draw_progress(done, info.n, elapsed());
              send(c);
            },
            "application/msgpack");
      };
  send = [&](http_connection* c) {
    if (next >= info.n || !failure.empty()) return;
    auto from = next, to = std::min(info.n, next + batch);
    next = to;
    attempt(c, from, to, std::chrono::steady_clock::now() + retry_for);
  };
  for (std::size_t i = 0; i < kIngestConnections; ++i) {
    conns.push_back(std::make_unique<http_connection>(ioc, targets[i % targets.size()],
                                                      std::chrono::seconds(600)));
    send(conns.back().get());
  }
  ioc.restart();
  ioc.run();
  if (progress) std::fprintf(stderr, "\n");
  if (!failure.empty()) throw std::runtime_error("ingest failed: " + failure);
  std::fprintf(stderr, "loaded %zu records into %s in %.1f s (%.0f rec/s)\n", done, index.c_str(),
               elapsed(), double(done) / std::max(1e-9, elapsed()));
}

}  // namespace quiver::load
