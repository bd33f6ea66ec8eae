#include "tools/load/engine.hpp"

#include <simdjson.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <unordered_map>

#include "tools/load/engine_detail.hpp"

namespace quiver::load {

const std::vector<std::string> kScenarios = {"cold_search",   "upsert_then_read",  "profile_swap",
                                             "repeat_query",  "small_index_churn", "batch_ingest",
                                             "seed_outreach", "seed_fill",         "seed_swap",
                                             "seed_repeat",   "seed_sms",          "seed_playbook"};

std::string write_index_name(const load_options& opt) { return opt.index + "_live"; }

std::string text_index_name(const load_options& opt) { return opt.index + "_text"; }

bool uses_text_index(const load_options& opt) {
  for (const auto& [name, weight] : opt.weights)
    if (weight > 0 && name.rfind("seed_", 0) == 0) return true;
  return false;
}

std::string replicas_field(std::size_t replicas) {
  return replicas ? ",\"replicas\":" + std::to_string(replicas) : std::string();
}

namespace run_detail {

// ---- virtual user -----------------------------------------------------------

bool vuser::json_bool(const std::string& body, const char* field) {
  bool v = false;
  auto doc = parser_.parse(body);
  return !doc.error() && !doc[field].get(v) && v;
}

std::uint64_t vuser::json_uint(const std::string& body, const char* field) {
  std::uint64_t v = ~0ull;
  auto doc = parser_.parse(body);
  if (doc.error() || doc[field].get(v)) return ~0ull;
  return v;
}

std::string vuser::small_prefix() const {
  return "s" + e_.nonce() + "-" + std::to_string(idx_) + "-";
}

vuser::vuser(engine& e, std::size_t idx)
    : e_(e),
      idx_(idx),
      conn_(e.ioc(), e.opt().targets[idx % e.opt().targets.size()], e.opt().timeout),
      rng_(e.opt().seed * 1000003 + idx),
      timer_(e.ioc()) {}

void vuser::next() {
  if (e_.stopping()) return e_.user_done();
  auto& name = e_.pick(rng_);
  double start = e_.now_s();
  run(name, [this, &name, start](outcome o) {
    e_.record(name, start, o);
    if (o.kind == outcome::unavailable) {
      // Back off a little while the system is down instead of spinning.
      timer_.expires_after(std::chrono::milliseconds(100));
      timer_.async_wait([this](boost::system::error_code) { next(); });
      return;
    }
    next();
  });
}

void vuser::run(const std::string& s, done_fn done) {
  if (s == "cold_search") return cold_search(std::move(done));
  if (s == "upsert_then_read") return upsert_then_read(std::move(done));
  if (s == "profile_swap") return profile_swap(std::move(done));
  if (s == "repeat_query") return repeat_query(std::move(done));
  if (s == "small_index_churn") return small_index_churn(std::move(done));
  if (s == "batch_ingest") return batch_ingest(std::move(done));
  if (s == "seed_outreach") return seed_outreach(std::move(done));
  if (s == "seed_fill") return seed_fill(std::move(done));
  if (s == "seed_swap") return seed_swap(std::move(done));
  if (s == "seed_repeat") return seed_repeat(std::move(done));
  if (s == "seed_sms") return seed_sms(std::move(done));
  return seed_playbook(std::move(done));
}

void vuser::call(method m, const std::string& path, std::string body,
                 std::function<void(http_result)> cb) {
  conn_.request(m, path, std::move(body), [this, cb = std::move(cb)](http_result r) {
    e_.on_request(r);
    cb(std::move(r));
  });
}

// ---- engine -----------------------------------------------------------------

void run_blocking(net::io_context& ioc, http_connection& c, method m, const std::string& path,
                  const std::string& body, http_result& out) {
  c.request(m, path, body, [&](http_result r) { out = std::move(r); });
  ioc.restart();
  ioc.run();
}

void engine::setup() {
  http_connection c(ioc_, opt_.targets[0], opt_.timeout);
  http_result r;
  auto dim = std::to_string(model_.recipe().dim);
  run_blocking(ioc_, c, method::get, "/v1/indexes/" + opt_.index, {}, r);
  if (r.status != 200)
    throw std::runtime_error("the corpus index '" + opt_.index +
                             "' is not there (run ingest first): HTTP " + std::to_string(r.status) +
                             " " + r.body);
  if (uses_text_index(opt_)) {
    run_blocking(ioc_, c, method::get, "/v1/indexes/" + text_index_name(opt_), {}, r);
    if (r.status != 200 ||
        r.body.find("\"dimension\":" + std::to_string(opt_.text_dim) + ",") == std::string::npos ||
        r.body.find("\"embedder\":\"hash-v1\"") == std::string::npos)
      throw std::runtime_error("the text index '" + text_index_name(opt_) + "' of dimension " +
                               std::to_string(opt_.text_dim) +
                               " with embedder hash-v1 is not there (run with --ingest): HTTP " +
                               std::to_string(r.status) + " " + r.body);
  }
  for (auto& name : {write_index_, small_index_}) {
    run_blocking(
        ioc_, c, method::post, "/v1/indexes",
        "{\"name\":\"" + name + "\",\"dimension\":" + dim + replicas_field(opt_.replicas) + "}", r);
    if (r.status != 200 && r.status != 201)
      throw std::runtime_error("cannot create " + name + ": HTTP " + std::to_string(r.status) +
                               " " + r.body);
  }
}

void engine::tick() {
  if (opt_.progress) {
    auto total = report_.total_scenarios();
    std::size_t failed = report_.total_failed(), interrupted = 0;
    for (auto& [_, s] : report_.scenarios) interrupted += s.interrupted;
    std::fprintf(stderr,
                 "\r[%6.1fs / %.0fs] %8zu scenarios  %7.0f/s  failed %zu  interrupted %zu   ",
                 now_s() - start_s_, opt_.duration_s, total, double(total - last_count_), failed,
                 interrupted);
    last_count_ = total;
  }
  if (now_s() - start_s_ >= opt_.duration_s) {
    stopping_ = true;
    for (auto& u : users_) u->stop_timer();
    return;
  }
  ticker_->expires_after(std::chrono::seconds(1));
  ticker_->async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

run_report engine::run() {
  setup();
  report_.concurrency = opt_.concurrency;
  report_.duration_s = opt_.duration_s;
  report_.seed = opt_.seed;
  for (auto& t : opt_.targets) report_.targets.push_back(t.str());
  start_s_ = now_s();
  for (std::size_t i = 0; i < opt_.concurrency; ++i)
    users_.push_back(std::make_unique<vuser>(*this, i));
  running_ = users_.size();
  ticker_ = std::make_unique<net::steady_timer>(ioc_);
  ioc_.restart();
  for (auto& u : users_) net::post(ioc_, [u = u.get()] { u->next(); });
  ticker_->expires_after(std::chrono::seconds(1));
  ticker_->async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
  ioc_.run();  // returns once every user has finished its last scenario
  report_.elapsed_s = now_s() - start_s_;
  ticker_.reset();
  if (opt_.progress) std::fprintf(stderr, "\n");
  users_.clear();
  report_.verify = verify();
  // The small index lives for one run; the corpus and write indexes stay.
  http_connection c(ioc_, opt_.targets[0], opt_.timeout);
  http_result r;
  run_blocking(ioc_, c, method::del, "/v1/indexes/" + small_index_, {}, r);
  return report_;
}

verification engine::verify() {
  verification v;
  v.acknowledged_writes = ledger_.acknowledged_writes();
  v.uncertain_writes = ledger_.uncertain_writes();
  std::vector<const std::pair<const ledger::key, std::vector<id_state>>*> todo;
  for (auto& e : ledger_.entries()) todo.push_back(&e);
  std::size_t next = 0;
  auto deadline = clock_type::now() + kVerifyRetryWindow;
  simdjson::dom::parser parser;
  std::vector<std::unique_ptr<http_connection>> conns;
  std::function<void(http_connection*, int)> check_next;
  std::function<void(http_connection*, std::size_t, int)> check;
  check = [&](http_connection* c, std::size_t i, int attempt) {
    auto& k = todo[i]->first;
    auto path = "/v1/indexes/" + k.first + "/vectors/" + encode_path_segment(k.second);
    c->request(method::get, path, {}, [&, c, i, attempt](http_result r) {
      auto& [k, states] = *todo[i];
      if ((r.status == 0 || r.status == 503) && attempt < kVerifyAttempts &&
          clock_type::now() < deadline) {
        auto t = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(100));
        return t->async_wait(
            [&, t, c, i, attempt](boost::system::error_code) { check(c, i, attempt + 1); });
      }
      ++v.ids_checked;
      bool ok = false;
      std::string seen;
      if (r.status == 404 && r.body.find("vector_not_found") != std::string::npos) {
        ok = std::any_of(states.begin(), states.end(), [](auto& s) { return !s.present; });
        seen = "absent";
      } else if (r.status == 200) {
        try {
          auto doc = parser.parse(r.body);
          auto got = read_vector(doc["vector"]);
          auto meta = std::string(simdjson::minify(doc["metadata"]));
          seen = "present with metadata " + excerpt(meta);
          for (auto& s : states)
            if (s.present && s.metadata == meta && got.size() == model_.recipe().dim &&
                same_vector(got.data(), model_.vector_for(s.vector_key).data(), got.size()))
              ok = true;
        } catch (const simdjson::simdjson_error&) {
          seen = "malformed: " + excerpt(r.body);
        }
      } else {
        ++v.unreadable;
        if (v.examples.size() < 10)
          v.examples.push_back(k.first + "/" + k.second + ": unreadable (HTTP " +
                               std::to_string(r.status) + " " + excerpt(r.body + r.error) + ")");
        return check_next(c, 0);
      }
      if (!ok) {
        ++v.lost;
        if (v.examples.size() < 10)
          v.examples.push_back(k.first + "/" + k.second + ": " + seen + ", expected one of " +
                               std::to_string(states.size()) + " states (first: " +
                               (states[0].present ? "present" : "absent") + ")");
      }
      check_next(c, 0);
    });
  };
  check_next = [&](http_connection* c, int) {
    if (next < todo.size()) check(c, next++, 0);
  };
  for (std::size_t i = 0; i < kVerifyConnections; ++i) {
    conns.push_back(std::make_unique<http_connection>(ioc_, opt_.targets[i % opt_.targets.size()],
                                                      opt_.timeout));
    check_next(conns.back().get(), 0);
  }
  ioc_.restart();
  ioc_.run();
  return v;
}

}  // namespace run_detail

run_report run_load(const load_options& opt, chaos_monkey* chaos,
                    std::chrono::steady_clock::time_point t0) {
  run_detail::engine e(opt, chaos, t0);
  return e.run();
}

}  // namespace quiver::load
