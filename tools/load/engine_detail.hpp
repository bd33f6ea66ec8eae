#pragma once
// The run's virtual users and the engine that drives them, shared by the files
// that implement scenarios (engine.cpp, seed_scenarios.cpp). Internal to
// quiver-load.

#include <simdjson.h>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "matrix/hash_embedder.hpp"
#include "tools/load/corpus.hpp"
#include "tools/load/engine.hpp"
#include "tools/load/ledger.hpp"
#include "tools/load/supervisor.hpp"
#include "tools/load/wire.hpp"

namespace quiver::load::run_detail {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

constexpr double kDistanceTolerance = 2e-3;  // server-side float SIMD vs our double dot
constexpr std::size_t kMaxFailureReasons = 8;
constexpr std::size_t kMaxFailureExamples = 3;
constexpr std::size_t kVerifyConnections = 16;
constexpr int kWideEf = 1000;  // the retry of a search that missed a record's own vector
constexpr std::size_t kVectorCacheEntries = 8192;  // 24 MiB of 768-d vectors
constexpr std::uint64_t kMaxNonce = 1000000;       // < 2^20: keys stay below 2^48
constexpr int kVerifyAttempts = 50;                // per id, 100 ms apart, while the system settles
// After this, an id that cannot be read counts as unreadable at once (a dead system
// must not make verification take attempts x timeout per id).
constexpr auto kVerifyRetryWindow = std::chrono::seconds(60);

// ---- scenario outcomes ----------------------------------------------------

struct outcome {
  enum kind_t { ok, wrong, unavailable, error } kind = ok;
  std::string why;
  std::string note;  // something worth counting on a pass
  static outcome pass() { return {}; }
  static outcome bad(std::string why) { return {wrong, std::move(why), {}}; }
};

inline std::vector<float> read_vector(simdjson::dom::element e) {
  std::vector<float> v;
  for (auto x : e.get_array()) v.push_back(float(double(x)));
  return v;
}

inline bool is_unavailable(int status) {
  return status == 0 || status == 502 || status == 503 || status == 504;
}

inline outcome from_status(const http_result& r, const char* what) {
  if (r.status == 0) return {outcome::unavailable, std::string(what) + ": " + r.error, {}};
  auto why = std::string(what) + ": HTTP " + std::to_string(r.status) + " " + excerpt(r.body);
  return {is_unavailable(r.status) ? outcome::unavailable : outcome::error, why, {}};
}

// ---- the engine -----------------------------------------------------------

class engine;

class vuser {
 public:
  vuser(engine& e, std::size_t idx);
  void next();
  void stop_timer() { timer_.cancel(); }

 private:
  using done_fn = std::function<void(outcome)>;
  void run(const std::string& scenario, done_fn done);
  void call(method m, const std::string& path, std::string body,
            std::function<void(http_result)> cb);

  void cold_search(done_fn done);
  void profile_swap(done_fn done);
  void repeat_query(done_fn done);
  void repeat_step(std::shared_ptr<std::vector<hit>> first, std::size_t q, int left, done_fn done);
  void upsert_then_read(done_fn done);
  void find_own(const std::string& index, const std::string& id, const std::vector<float>& vec,
                int ef, done_fn done);
  void batch_ingest(done_fn done);

  // The seed's six workflows over the text index (seed_scenarios.cpp).
  void seed_outreach(done_fn done);
  void seed_fill(done_fn done);
  void seed_swap(done_fn done);
  void seed_repeat(done_fn done);
  void seed_repeat_step(std::shared_ptr<const std::string> body, std::shared_ptr<std::string> first,
                        int left, int cached, done_fn done);
  void seed_sms(done_fn done);
  void seed_playbook(done_fn done);
  // A staffing query made from a random corpus profile: its role and city (and,
  // sometimes, one of its skills). Returns the profile's key.
  std::uint64_t seed_query(std::string& text);
  std::string playbook_name() const;
  void small_index_churn(done_fn done);
  void tiny_index(done_fn done);
  void small_search(done_fn done);
  void trim_small(done_fn done);
  void drop_leftovers(done_fn done);
  void resolve_small(std::vector<std::string> ids, done_fn done);

  // Checks corpus-index hits: known ids, metadata of the same record, distances.
  std::string check_corpus_hits(const std::vector<hit>& hits, const float* q) const;
  // GET id and compare with `want`.
  void read_back(const std::string& index, const std::string& id, const id_state& want,
                 done_fn done);
  void write(method m, const std::string& index, const std::string& id, const id_state& next,
             std::string body, std::function<void(outcome)> done);
  std::string vector_path(const std::string& index, const std::string& id) const;
  std::string small_prefix() const;
  bool json_bool(const std::string& body, const char* field);
  std::uint64_t json_uint(const std::string& body, const char* field);

  engine& e_;
  std::size_t idx_;
  http_connection conn_;
  std::mt19937_64 rng_;
  simdjson::dom::parser parser_;
  net::steady_timer timer_;
  std::size_t serial_ = 0;
  std::map<std::string, id_state> small_live_;  // this user's ids in the shared small index
  std::vector<std::string> small_uncertain_;
  std::vector<std::string> leftover_indexes_;  // tiny indexes an interruption left behind
};

class engine {
 public:
  engine(const load_options& opt, chaos_monkey* chaos, clock_type::time_point t0)
      : opt_(opt),
        chaos_(chaos),
        t0_(t0),
        info_(read_corpus_info(opt.corpus_dir)),
        model_(info_.recipe),
        base_(opt.corpus_dir + "/vectors.f32"),
        queries_(opt.corpus_dir + "/queries.f32"),
        nonce_value_(std::random_device{}() % kMaxNonce),
        nonce_(std::to_string(nonce_value_)),
        next_key_((1ull << 40) + (nonce_value_ << 28)) {
    if (base_.dim() != model_.recipe().dim || queries_.size() == 0)
      throw std::runtime_error("corpus files do not match recipe.json");
    for (std::size_t i = 0; i < queries_.size(); ++i) {
      query_json_.emplace_back();
      append_floats(query_json_.back(), queries_.row(i), queries_.dim());
    }
    double sum = 0;
    for (auto& s : kScenarios) {
      auto it = opt_.weights.find(s);
      double w = it == opt_.weights.end() ? 0 : it->second;
      cumulative_.push_back(sum += w);
      if (w > 0) report_.scenarios[s];  // the report lists the scenarios in the mix
    }
    if (sum <= 0) throw std::invalid_argument("every scenario weight is 0");
    write_index_ = write_index_name(opt_);
    text_index_ = text_index_name(opt_);
    small_index_ = opt_.index + "_small_" + nonce_;
  }

  run_report run();

  // Shared state for the virtual users (all on the io thread).
  const load_options& opt() const { return opt_; }
  net::io_context& ioc() { return ioc_; }
  const corpus_model& model() const { return model_; }
  // vector_for(key) through a small cache: a record's vector is needed when it is
  // written, read back and searched for. The reference is valid until the next call.
  const std::vector<float>& vector(std::uint64_t key) {
    if (auto it = vectors_.find(key); it != vectors_.end()) return it->second;
    if (vectors_.size() >= kVectorCacheEntries) vectors_.clear();
    return vectors_.emplace(key, model_.vector_for(key)).first->second;
  }
  const vector_file& base() const { return base_; }
  const vector_file& queries() const { return queries_; }
  // Query vectors rendered as JSON once: the harness should spend its CPU on checks.
  const std::string& query_json(std::size_t i) const { return query_json_[i]; }
  ledger& led() { return ledger_; }
  const std::string& write_index() const { return write_index_; }
  const std::string& small_index() const { return small_index_; }
  const std::string& text_index() const { return text_index_; }
  const matrix::hash_embedder& embedder() const { return embedder_; }
  const corpus_info& info() const { return info_; }
  const std::string& nonce() const { return nonce_; }
  std::uint64_t fresh_key() { return next_key_++; }
  bool stopping() const { return stopping_; }
  double now_s() const { return std::chrono::duration<double>(clock_type::now() - t0_).count(); }

  const std::string& pick(std::mt19937_64& rng) const {
    std::uniform_real_distribution<double> u(0, cumulative_.back());
    auto x = u(rng);
    for (std::size_t i = 0; i < cumulative_.size(); ++i)
      if (x < cumulative_[i]) return kScenarios[i];
    return kScenarios.back();
  }

  void on_request(const http_result& r) {
    auto& s = second();
    ++s.requests;
    s.latencies_ms.push_back(r.ms);
    bool bad = r.status == 0 || (r.status >= 400 && r.status != 404);
    if (bad) {
      ++s.request_errors;
      if (chaos_) chaos_->count_error(now_s(), r.status);
    }
  }

  // One finished scenario: passed, failed, or interrupted by a fault.
  void record(const std::string& scenario, double start_s, const outcome& o) {
    auto& st = report_.scenarios[scenario];
    auto& sec = second();
    ++st.count;
    ++sec.scenarios;
    if (o.kind == outcome::ok) {
      if (!o.note.empty()) ++st.notes[o.note];
      st.latencies_ms.push_back((now_s() - start_s) * 1000);
      return;
    }
    if (o.kind == outcome::unavailable && chaos_ &&
        chaos_->in_recovery_window(now_s(), opt_.grace_s)) {
      ++st.interrupted;
      ++sec.interrupted;
      return;
    }
    ++st.failed;
    ++sec.failed;
    // Group by the reason without the ids and numbers in it; keep a few examples.
    std::string reason;
    for (char c : o.why) {
      bool digit = c >= '0' && c <= '9';
      if (!digit || reason.empty() || reason.back() != '#') reason += digit ? '#' : c;
    }
    auto& f = st.failures;
    if (f.count(reason) || f.size() < kMaxFailureReasons)
      ++f[reason];
    else
      ++f["(other reasons)"];
    if (st.examples.size() < kMaxFailureExamples) st.examples.push_back(o.why);
  }

  void user_done() { --running_; }

 private:
  second_stats& second() {
    auto i = static_cast<std::size_t>(std::max(0.0, now_s() - start_s_));
    if (report_.seconds.size() <= i) report_.seconds.resize(i + 1);
    return report_.seconds[i];
  }
  void setup();
  void tick();
  verification verify();

  load_options opt_;
  chaos_monkey* chaos_;
  clock_type::time_point t0_;
  double start_s_ = 0;
  corpus_info info_;
  corpus_model model_;
  vector_file base_;
  vector_file queries_;
  std::vector<std::string> query_json_;
  std::unordered_map<std::uint64_t, std::vector<float>> vectors_;
  // Ids and vector keys of a run carry a random nonce, so runs against the same
  // indexes never collide.
  std::uint64_t nonce_value_;
  std::string nonce_;
  std::string write_index_;
  std::string small_index_;
  std::string text_index_;
  matrix::hash_embedder embedder_{static_cast<std::uint32_t>(opt_.text_dim)};
  std::vector<double> cumulative_;
  net::io_context ioc_;
  ledger ledger_;
  run_report report_;
  std::vector<std::unique_ptr<vuser>> users_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::uint64_t next_key_;
  std::unique_ptr<net::steady_timer> ticker_;
  std::size_t last_count_ = 0;
};

}  // namespace quiver::load::run_detail
