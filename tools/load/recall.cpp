// Recall under churn: writers keep upserting, replacing and deleting while a
// sampler compares search results with brute force over the harness's own copy
// of the live data.

#include <simdjson.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "tools/load/corpus.hpp"
#include "tools/load/engine.hpp"
#include "tools/load/wire.hpp"

namespace quiver::load {

namespace {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t kRecallK = 10;
// Searches ask for more than k so that ids with a write in flight (left out of
// both sides) still leave k to compare.
constexpr std::size_t kSearchK = 40;

class churn {
 public:
  explicit churn(const recall_options& opt)
      : opt_(opt),
        info_(read_corpus_info(opt.corpus_dir)),
        model_(info_.recipe),
        base_(opt.corpus_dir + "/vectors.f32"),
        queries_(opt.corpus_dir + "/queries.f32"),
        rng_(opt.seed) {
    if (opt_.live > base_.size()) throw std::invalid_argument("--live exceeds the corpus size");
  }

  run_report run() {
    load();
    t0_ = clock_type::now();
    report_.mode = "recall";
    report_.seed = opt_.seed;
    report_.concurrency = opt_.writers;
    report_.duration_s = opt_.duration_s;
    for (auto& t : opt_.targets) report_.targets.push_back(t.str());
    report_.scenarios["churn_write"];
    report_.scenarios["recall_query"];
    for (std::size_t i = 0; i < opt_.writers; ++i) {
      writers_.push_back(std::make_unique<http_connection>(
          ioc_, opt_.targets[i % opt_.targets.size()], opt_.timeout));
      net::post(ioc_, [this, c = writers_.back().get()] { write_next(c); });
    }
    sampler_ = std::make_unique<http_connection>(ioc_, opt_.targets[0], opt_.timeout);
    timer_ = std::make_unique<net::steady_timer>(ioc_);
    net::post(ioc_, [this] { start_sample(); });
    ioc_.run();
    report_.elapsed_s = now_s();
    if (opt_.progress) std::fprintf(stderr, "\n");
    if (!failure_.empty()) throw std::runtime_error(failure_);
    return report_;
  }

 private:
  double now_s() const { return std::chrono::duration<double>(clock_type::now() - t0_).count(); }
  bool over() const { return now_s() >= opt_.duration_s || !failure_.empty(); }
  second_stats& second() {
    auto i = static_cast<std::size_t>(now_s());
    if (report_.seconds.size() <= i) report_.seconds.resize(i + 1);
    return report_.seconds[i];
  }

  void load() {
    net::io_context ioc;
    http_connection c(ioc, opt_.targets[0], opt_.timeout);
    c.request(method::del, "/v1/indexes/" + opt_.index, {}, [](http_result) {});
    ioc.run();
    ingest(opt_.targets, opt_.corpus_dir, opt_.index, 1000, 1, opt_.progress, opt_.live);
    for (std::size_t i = 0; i < opt_.live; ++i) add(corpus_id(i), i);
  }

  const float* vec(std::uint64_t key) {
    if (key < base_.size()) return base_.row(key);
    auto it = extra_.find(key);
    if (it == extra_.end()) it = extra_.emplace(key, model_.vector_for(key)).first;
    return it->second.data();
  }
  void add(const std::string& id, std::uint64_t key) {
    auto [it, fresh] = live_.try_emplace(id, key);
    if (!fresh) {
      extra_.erase(it->second);
      it->second = key;
      return;
    }
    slot_[id] = ids_.size();
    ids_.push_back(id);
  }
  void remove(const std::string& id) {
    auto it = live_.find(id);
    if (it == live_.end()) return;
    extra_.erase(it->second);
    live_.erase(it);
    auto at = slot_[id];
    slot_[ids_.back()] = at;
    std::swap(ids_[at], ids_.back());
    ids_.pop_back();
    slot_.erase(id);
  }

  // One write per writer at a time: grow back to `live`, else replace, delete or add.
  void write_next(http_connection* c) {
    if (over()) return;
    std::string id;
    int op = 0;  // 0 add, 1 replace, 2 delete
    if (live_.size() >= opt_.live) op = std::uniform_int_distribution<int>(0, 2)(rng_);
    if (op == 0) {
      id = "c" + std::to_string(serial_++);
    } else {
      for (int tries = 0; tries < 8 && (id.empty() || inflight_.count(id)); ++tries)
        id = ids_[std::uniform_int_distribution<std::size_t>(0, ids_.size() - 1)(rng_)];
      if (inflight_.count(id)) return net::post(ioc_, [this, c] { write_next(c); });
    }
    inflight_.insert(id);
    auto path = "/v1/indexes/" + opt_.index + "/vectors/" + id;
    auto start = now_s();
    auto finish = [this, c, id, start](http_result r, std::function<void()> apply) {
      inflight_.erase(id);
      auto& st = report_.scenarios["churn_write"];
      ++st.count;
      if (r.status != 200) {
        ++st.failed;
        failure_ = "churn write of " + id + " failed: HTTP " + std::to_string(r.status) + " " +
                   r.body + r.error;
        return;
      }
      st.latencies_ms.push_back((now_s() - start) * 1000);
      auto& sec = second();
      ++sec.scenarios;
      ++sec.requests;
      sec.latencies_ms.push_back(st.latencies_ms.back());
      apply();
      for (auto& s : watching_) s->insert(id);
      write_next(c);
    };
    if (op == 2) {
      c->request(method::del, path, {}, [this, id, finish](http_result r) {
        finish(std::move(r), [this, id] { remove(id); });
      });
      return;
    }
    auto key = next_key_++;
    auto v = model_.vector_for(key);
    c->request(method::put, path, put_body(v, "{\"churn\":true}"),
               [this, id, key, finish](http_result r) {
                 finish(std::move(r), [this, id, key] { add(id, key); });
               });
  }

  void start_sample() {
    if (over()) return;
    sample_ = recall_sample{};
    sample_.at_s = now_s();
    sample_.live = live_.size();
    sample_recalls_.clear();
    query(0);
  }

  void query(std::size_t n) {
    if (n == opt_.sample_queries) {
      double sum = 0;
      for (auto r : sample_recalls_) sum += r;
      sample_.queries = sample_recalls_.size();
      sample_.recall = sample_recalls_.empty() ? 0 : sum / double(sample_recalls_.size());
      report_.recall.push_back(sample_);
      if (opt_.progress)
        std::fprintf(stderr, "\r[%6.1fs / %.0fs] live %zu  recall@10 %.4f  writes %zu   ", now_s(),
                     opt_.duration_s, live_.size(), sample_.recall,
                     report_.scenarios["churn_write"].count);
      timer_->expires_after(std::chrono::duration_cast<clock_type::duration>(
          std::chrono::duration<double>(opt_.sample_every_s)));
      timer_->async_wait([this](boost::system::error_code ec) {
        if (!ec) start_sample();
      });
      return;
    }
    auto qi = std::uniform_int_distribution<std::size_t>(0, queries_.size() - 1)(rng_);
    const float* q = queries_.row(qi);
    auto excluded = std::make_shared<std::set<std::string>>(inflight_);
    watching_.push_back(excluded);
    auto start = now_s();
    sampler_->request(method::post, "/v1/indexes/" + opt_.index + "/search",
                      search_body(q, queries_.dim(), kSearchK, 0, {}, false),
                      [this, q, n, excluded, start](http_result r) {
                        watching_.erase(std::find(watching_.begin(), watching_.end(), excluded));
                        excluded->insert(inflight_.begin(), inflight_.end());
                        auto& st = report_.scenarios["recall_query"];
                        ++st.count;
                        std::vector<hit> hits;
                        auto err = r.status == 200 ? parse_hits(parser_, r.body, kSearchK, hits)
                                                   : "HTTP " + std::to_string(r.status) + " " +
                                                         r.body + r.error;
                        if (!err.empty()) {
                          ++st.failed;
                          failure_ = "recall query failed: " + err;
                          return;
                        }
                        st.latencies_ms.push_back((now_s() - start) * 1000);
                        sample_recalls_.push_back(recall_of(q, hits, *excluded));
                        query(n + 1);
                      });
  }

  double recall_of(const float* q, const std::vector<hit>& hits,
                   const std::set<std::string>& excluded) {
    std::vector<std::pair<double, const std::string*>> best;
    for (auto& [id, key] : live_) {
      if (excluded.count(id)) continue;
      best.emplace_back(cosine_distance(q, vec(key), base_.dim()), &id);
    }
    auto k = std::min(kRecallK, best.size());
    std::partial_sort(best.begin(), best.begin() + std::ptrdiff_t(k), best.end());
    std::set<std::string> truth;
    for (std::size_t i = 0; i < k; ++i) truth.insert(*best[i].second);
    std::size_t found = 0, taken = 0;
    for (auto& h : hits) {
      if (excluded.count(h.id)) continue;
      if (taken++ == k) break;
      found += truth.count(h.id);
    }
    return k ? double(found) / double(k) : 1.0;
  }

  recall_options opt_;
  corpus_info info_;
  corpus_model model_;
  vector_file base_;
  vector_file queries_;
  std::mt19937_64 rng_;
  net::io_context ioc_;
  clock_type::time_point t0_;
  run_report report_;
  std::string failure_;
  std::unordered_map<std::string, std::uint64_t> live_;
  std::unordered_map<std::string, std::size_t> slot_;
  std::vector<std::string> ids_;
  std::unordered_map<std::uint64_t, std::vector<float>> extra_;
  std::set<std::string> inflight_;
  std::vector<std::shared_ptr<std::set<std::string>>> watching_;
  std::vector<std::unique_ptr<http_connection>> writers_;
  std::unique_ptr<http_connection> sampler_;
  std::unique_ptr<net::steady_timer> timer_;
  simdjson::dom::parser parser_;
  recall_sample sample_;
  std::vector<double> sample_recalls_;
  std::uint64_t serial_ = 0;
  std::uint64_t next_key_ = 1ull << 41;
};

}  // namespace

run_report run_recall(const recall_options& opt) {
  churn c(opt);
  return c.run();
}

}  // namespace quiver::load
