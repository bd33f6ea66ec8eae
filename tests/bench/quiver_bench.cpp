// Benchmark: raw in-process hnswlib vs Quiver over HTTP, on the same data, in one run.
// Prints the command, the machine, the dataset recipe and medians as markdown.
// Usage: quiver_bench --quiver build/bin/quiver [--n 100000] [--queries 500]
//          [--duration 10] [--connections 50] [--rounds 3] [--raw-only]
//          [--server-arg ARG]... (passed to quiver, e.g. --server-arg --scheduler-policy
//          --server-arg stealing)

#include <hnswlib/hnswlib.h>

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <msgpack.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/bench_util.hpp"
#include "tests/bench/dataset.hpp"

using namespace quiver::bench;
using namespace bench;

namespace {

using truth_t = std::vector<std::vector<std::size_t>>;

truth_t ground_truth(const dataset& ds, const dataset_recipe& r, std::size_t k) {
  truth_t truth(r.queries);
  parallel_for(r.queries, 2, [&](std::size_t q) { truth[q] = exact_top_k(ds, r, q, k, {}); });
  return truth;
}

double recall(const truth_t& truth, const std::vector<std::vector<std::size_t>>& got) {
  std::size_t hit = 0, total = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    for (auto id : got[q]) hit += std::count(truth[q].begin(), truth[q].end(), id);
    total += truth[q].size();
  }
  return double(hit) / double(total);
}

// -- raw hnswlib -----------------------------------------------------------------

struct raw_result {
  double build_s = 0, qps = 0, p50_ms = 0, p99_ms = 0;
  std::map<int, double> recall_by_ef;
  std::size_t graph_bytes = 0;
};

raw_result run_raw(const dataset& ds, const dataset_recipe& r, const truth_t& truth,
                   const std::vector<int>& efs, double duration) {
  raw_result out;
  hnswlib::InnerProductSpace space(r.dim);
  hnswlib::HierarchicalNSW<float> index(&space, r.n, 16, 200);
  auto t0 = clock_type::now();
  parallel_for(r.n, 2, [&](std::size_t i) { index.addPoint(&ds.base[i * r.dim], i); });
  out.build_s = seconds_since(t0);
  // Links of every level; vectors counted separately.
  out.graph_bytes = r.n * index.size_links_level0_;
  for (std::size_t i = 0; i < r.n; ++i)
    out.graph_bytes += std::size_t(index.element_levels_[i]) * index.size_links_per_element_;
  for (int ef : efs) {
    index.setEf(ef);
    std::vector<std::vector<std::size_t>> got(r.queries);
    for (std::size_t q = 0; q < r.queries; ++q) {
      auto res = index.searchKnn(&ds.queries[q * r.dim], 10);
      while (!res.empty()) {
        got[q].push_back(res.top().second);
        res.pop();
      }
    }
    out.recall_by_ef[ef] = recall(truth, got);
  }
  index.setEf(64);
  std::vector<std::vector<double>> lat(2);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      std::size_t q = t;
      while (!stop) {
        auto s = clock_type::now();
        index.searchKnn(&ds.queries[(q++ % r.queries) * r.dim], 10);
        lat[t].push_back(seconds_since(s) * 1000);
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  stop = true;
  for (auto& t : threads) t.join();
  std::vector<double> all(lat[0]);
  all.insert(all.end(), lat[1].begin(), lat[1].end());
  out.qps = double(all.size()) / duration;
  out.p50_ms = percentile(all, 0.5);
  out.p99_ms = percentile(all, 0.99);
  return out;
}

// -- Quiver over HTTP ------------------------------------------------------------

struct quiver_result {
  double upsert_s = 0, qps = 0, p50_ms = 0, p99_ms = 0;
  std::size_t errors = 0, rss = 0;
  std::map<int, double> recall_by_ef;
};

quiver_result run_quiver(const std::string& bin, const std::vector<std::string>& server_args,
                         const dataset& ds, const dataset_recipe& r, const truth_t& truth,
                         const std::vector<int>& efs, double duration, unsigned connections) {
  quiver_result out;
  auto port = free_port();
  auto dir = "/tmp/quiver-bench-" + std::to_string(getpid());
  std::vector<std::string> args{"--port", std::to_string(port), "--data-dir",
                                dir,      "--log-level",        "warn"};
  args.insert(args.end(), server_args.begin(), server_args.end());
  server_process server(bin, args);
  auto c = connect_when_up(port);
  auto res = c->call(
      http::verb::post, "/v1/indexes",
      fmt::format(R"({{"name":"bench","dimension":{},"m":16,"ef_construction":200}})", r.dim),
      "application/json");
  if (res.result_int() != 201) throw std::runtime_error("create failed: " + res.body());

  auto t0 = clock_type::now();
  bulk_upsert(*c, "bench", ds.base.data(), r.dim, r.n);
  out.upsert_s = seconds_since(t0);

  for (int ef : efs) {
    std::vector<std::vector<std::size_t>> got(r.queries);
    for (std::size_t q = 0; q < r.queries; ++q) {
      res = c->call(http::verb::post, "/v1/indexes/bench/search",
                    search_body(&ds.queries[q * r.dim], r.dim, ef), "application/json");
      got[q] = parse_ids(res.body());
    }
    out.recall_by_ef[ef] = recall(truth, got);
  }

  std::vector<std::string> bodies;
  for (std::size_t q = 0; q < r.queries; ++q)
    bodies.push_back(search_body(&ds.queries[q * r.dim], r.dim, 64));
  net::io_context ioc;
  std::vector<double> latencies;
  auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                          std::chrono::duration<double>(duration));
  for (unsigned i = 0; i < connections; ++i)
    std::make_shared<load_connection>(
        ioc, port,
        [&bodies, offset = std::size_t(i) * 7](load_connection::request& req, std::size_t n) {
          req.method(http::verb::post);
          req.target("/v1/indexes/bench/search");
          req.body() = bodies[(offset + n) % bodies.size()];
        },
        deadline, latencies, out.errors)
        ->start();
  auto t1 = clock_type::now();
  ioc.run();
  auto elapsed = seconds_since(t1);
  out.qps = double(latencies.size()) / elapsed;
  out.p50_ms = percentile(latencies, 0.5);
  out.p99_ms = percentile(latencies, 0.99);
  out.rss = rss_of(server.pid());
  server.stop();
  std::system(("rm -rf " + dir).c_str());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  dataset_recipe r;
  std::string bin;
  double duration = 10;
  unsigned connections = 50, rounds = 3;
  bool raw_only = false;
  std::vector<std::string> server_args;
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(argv[++i]); };
    if (a == "--quiver")
      bin = next();
    else if (a == "--n")
      r.n = std::stoull(next());
    else if (a == "--queries")
      r.queries = std::stoull(next());
    else if (a == "--duration")
      duration = std::stod(next());
    else if (a == "--connections")
      connections = std::stoul(next());
    else if (a == "--rounds")
      rounds = std::stoul(next());
    else if (a == "--spread")
      r.spread = std::stof(next());
    else if (a == "--ambient")
      r.ambient = std::stof(next());
    else if (a == "--clusters")
      r.clusters = std::stoull(next());
    else if (a == "--latent")
      r.latent = std::stoull(next());
    else if (a == "--raw-only")
      raw_only = true;
    else if (a == "--server-arg")
      server_args.push_back(next());
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (bin.empty() && !raw_only) {
    std::cerr << "usage: quiver_bench --quiver PATH [--n N] [--queries Q] [--duration S] "
                 "[--connections C] [--rounds R] [--raw-only]\n";
    return 2;
  }
  std::cout << "command: `" << command << "`\n";
  std::cout << "machine: " << std::thread::hardware_concurrency() << " cores\n";
  std::cout << fmt::format(
      "dataset: n={} queries={} dim={} latent={} clusters={} spread={} ambient={} seed={} "
      "(normalized, cosine)\n\n",
      r.n, r.queries, r.dim, r.latent, r.clusters, r.spread, r.ambient, r.seed);
  auto t0 = clock_type::now();
  auto ds = make_dataset(r);
  auto truth = ground_truth(ds, r, 10);
  std::cerr << fmt::format("dataset + ground truth: {:.1f} s\n", seconds_since(t0));
  std::vector<int> efs{10, 20, 40, 64, 100, 200};

  std::vector<raw_result> raws;
  std::vector<quiver_result> qs;
  for (unsigned round = 0; round < rounds; ++round) {
    raws.push_back(run_raw(ds, r, truth, efs, duration));
    std::cerr << fmt::format("round {} raw: build {:.1f} s, {:.0f} QPS, recall@10(ef=20) {:.3f}\n",
                             round, raws.back().build_s, raws.back().qps,
                             raws.back().recall_by_ef[20]);
    if (!raw_only) {
      qs.push_back(run_quiver(bin, server_args, ds, r, truth, efs, duration, connections));
      std::cerr << fmt::format(
          "round {} quiver: upsert {:.1f} s, {:.0f} QPS, {} errors, RSS {:.0f} MB\n", round,
          qs.back().upsert_s, qs.back().qps, qs.back().errors, qs.back().rss / 1e6);
    }
  }
  auto med = [](auto& v, auto f) {
    std::vector<double> xs;
    for (auto& x : v) xs.push_back(f(x));
    return median(xs);
  };
  double vector_bytes = double(r.n * r.dim * sizeof(float));
  double graph_bytes = double(raws[0].graph_bytes);
  std::cout << fmt::format("medians of {} rounds\n\n", rounds);
  std::cout << "| metric | raw hnswlib (in-process, 2 threads) | Quiver over HTTP | ratio "
               "|\n|---|---|---|---|\n";
  auto raw_build = med(raws, [](auto& x) { return x.build_s; });
  auto raw_qps = med(raws, [](auto& x) { return x.qps; });
  std::cout << fmt::format(
      "| build / batch upsert (s) | {:.1f} | {} | {} |\n", raw_build,
      qs.empty() ? "-" : fmt::format("{:.1f}", med(qs, [](auto& x) { return x.upsert_s; })),
      qs.empty() ? "-"
                 : fmt::format("{:.2f}x", med(qs, [](auto& x) { return x.upsert_s; }) / raw_build));
  std::cout << fmt::format(
      "| search QPS, ef=64, k=10 | {:.0f} | {} | {} |\n", raw_qps,
      qs.empty() ? "-"
                 : fmt::format("{:.0f} ({} connections)", med(qs, [](auto& x) { return x.qps; }),
                               connections),
      qs.empty() ? "-"
                 : fmt::format("{:.0f}%", 100 * med(qs, [](auto& x) { return x.qps; }) / raw_qps));
  std::cout << fmt::format(
      "| search p50 / p99 (ms) | {:.2f} / {:.2f} | {} | |\n",
      med(raws, [](auto& x) { return x.p50_ms; }), med(raws, [](auto& x) { return x.p99_ms; }),
      qs.empty() ? "-"
                 : fmt::format("{:.2f} / {:.2f}", med(qs, [](auto& x) { return x.p50_ms; }),
                               med(qs, [](auto& x) { return x.p99_ms; })));
  if (!qs.empty()) {
    auto rss = med(qs, [](auto& x) { return double(x.rss); });
    std::cout << fmt::format(
        "| RSS after load (MB) | vectors {:.0f} + graph {:.0f} = {:.0f} | {:.0f} | {:.2f}x |\n",
        vector_bytes / 1e6, graph_bytes / 1e6, (vector_bytes + graph_bytes) / 1e6, rss / 1e6,
        rss / (vector_bytes + graph_bytes));
    std::cout << fmt::format("| HTTP errors during load | - | {:.0f} | |\n",
                             med(qs, [](auto& x) { return double(x.errors); }));
  }
  std::cout << "\n| ef | recall@10 raw | recall@10 Quiver |\n|---|---|---|\n";
  for (int ef : efs)
    std::cout << fmt::format(
        "| {} | {:.3f} | {} |\n", ef, med(raws, [&](auto& x) { return x.recall_by_ef[ef]; }),
        qs.empty() ? "-"
                   : fmt::format("{:.3f}", med(qs, [&](auto& x) { return x.recall_by_ef[ef]; })));
  return 0;
}
