// Benchmark: filtered search on one shard, in process, against exact filtered
// ground truth and against unfiltered search on the same shard, in one run.
// Prints the command, the dataset recipe and a markdown table.
// Usage: filter_bench [--n 100000] [--dim 768] [--queries 200] [--k 10] [--threads 2]
//          [--seconds 5] [--only NAME] [--indexed-only 1]
// (--only: measure just the filter of that name besides "none", e.g. --only 10%)
//
// Metadata: {"s": h(i) % 1000, "c": bool}. Selectivities 50/10/1/0.1% are ranges
// on "s" (h is a fixed hash, so matches are spread evenly over the space); "c"
// holds for the 1% of points least similar to the queries' mean direction:
// matches that sit far from every query.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "actors/index/shard_index.hpp"
#include "common/body_codec.hpp"
#include "tests/bench/dataset.hpp"

using namespace quiver;
using namespace quiver::bench;

namespace {

metadata_filter parse_filter(const std::string& json) {
  auto q = parse_search(body_format::json, R"({"vector":[1],"filter":)" + json + "}");
  if (!q) throw std::runtime_error(q.error().message);
  return q->options.filter;
}

struct filter_case {
  std::string name;
  std::string json;  // empty: no filter
};

}  // namespace

int main(int argc, char** argv) {
  dataset_recipe r;
  r.queries = 200;
  std::size_t k = 10, threads = 2;
  double seconds = 5;
  std::string only;
  bool indexed_only = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--only") {
      only = argv[i + 1];
      continue;
    }
    auto v = std::stoul(argv[i + 1]);
    if (a == "--indexed-only")
      indexed_only = v != 0;
    else if (a == "--n")
      r.n = v;
    else if (a == "--dim")
      r.dim = v;
    else if (a == "--queries")
      r.queries = v;
    else if (a == "--k")
      k = v;
    else if (a == "--threads")
      threads = v;
    else if (a == "--seconds")
      seconds = double(v);
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  std::string command;
  for (int i = 0; i < argc; ++i) command += std::string(i ? " " : "") + argv[i];
  std::cout << "`" << command << "`\n\n";
  std::cout << fmt::format(
      "dataset: n={} dim={} queries={} (tests/bench/dataset.hpp), k={}, "
      "M=16, ef_construction=200, default ef_search=64, {} search threads\n\n",
      r.n, r.dim, r.queries, k, threads);
  auto ds = make_dataset(r);

  auto far = far_from_queries(ds, r);

  index_params p;
  p.name = "bench";
  p.dimension = static_cast<std::uint32_t>(r.dim);
  p.distance = distance_kind::cosine;
  shard_index_options opts;
  opts.insert_threads = static_cast<unsigned>(threads);
  shard_index idx(p, opts);
  std::vector<std::string> meta(r.n);
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t at = 0; at < r.n; at += 1000) {
    std::vector<upsert_item> items;
    for (std::size_t i = at; i < std::min(r.n, at + 1000); ++i) {
      meta[i] = fmt::format(R"({{"s":{},"c":{}}})", mix64(i) % 1000, far[i] ? "true" : "false");
      items.push_back({"v" + std::to_string(i),
                       std::vector<float>(&ds.base[i * r.dim], &ds.base[(i + 1) * r.dim]),
                       meta[i]});
    }
    if (!idx.upsert_batch(std::move(items))) return 1;
  }
  std::cout << fmt::format(
      "build: {:.1f} s\n\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  std::vector<filter_case> cases = {
      {"none", ""},
      {"100%", R"({"must":[{"key":"s","range":{"gte":0}}]})"},
      {"50%", R"({"must":[{"key":"s","range":{"lt":500}}]})"},
      {"10%", R"({"must":[{"key":"s","range":{"lt":100}}]})"},
      {"1%", R"({"must":[{"key":"s","range":{"lt":10}}]})"},
      {"0.1%", R"({"must":[{"key":"s","match":7}]})"},
      {"1% far from the queries", R"({"must":[{"key":"c","match":true}]})"},
  };

  // Exact filtered truth: brute force over the matching points.
  auto truth = [&](const metadata_filter& f) {
    filter_matcher m(f);
    std::vector<std::size_t> matching;
    for (std::size_t i = 0; i < r.n; ++i)
      if (m.matches(meta[i])) matching.push_back(i);
    std::vector<std::vector<std::string>> out(r.queries);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        for (std::size_t q = t; q < r.queries; q += threads) {
          std::vector<std::pair<float, std::size_t>> d;
          for (auto i : matching) {
            float s = 0;
            for (std::size_t j = 0; j < r.dim; ++j)
              s += ds.base[i * r.dim + j] * ds.queries[q * r.dim + j];
            d.emplace_back(-s, i);
          }
          auto kk = std::min(k, d.size());
          std::partial_sort(d.begin(), d.begin() + kk, d.end());
          for (std::size_t j = 0; j < kk; ++j) out[q].push_back("v" + std::to_string(d[j].second));
        }
      });
    for (auto& t : pool) t.join();
    return std::make_pair(out, matching.size());
  };

  auto run = [&](const search_options& o, const std::vector<std::vector<std::string>>& want,
                 double& recall, double& all_k) {
    std::size_t found = 0, total = 0, full = 0;
    for (std::size_t q = 0; q < r.queries; ++q) {
      std::vector<float> query(&ds.queries[q * r.dim], &ds.queries[(q + 1) * r.dim]);
      auto hits = idx.search(query, o);
      if (!hits) throw std::runtime_error(hits.error().message);
      std::vector<std::string> got;
      for (auto& h : *hits) got.push_back(h.id);
      for (auto& id : want[q]) found += std::count(got.begin(), got.end(), id);
      total += want[q].size();
      full += got.size() == want[q].size();
    }
    recall = total ? double(found) / double(total) : 1;
    all_k = double(full) / double(r.queries);
    // QPS: `threads` threads searching the queries round-robin for `seconds`.
    std::vector<double> rounds;
    for (int round = 0; round < 3; ++round) {
      std::atomic<bool> stop{false};
      std::atomic<std::size_t> done{0};
      std::vector<std::thread> pool;
      auto start = std::chrono::steady_clock::now();
      for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          for (std::size_t q = t; !stop; q = (q + threads) % r.queries) {
            std::vector<float> query(&ds.queries[q * r.dim], &ds.queries[(q + 1) * r.dim]);
            idx.search(query, o);
            ++done;
          }
        });
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 3));
      stop = true;
      for (auto& t : pool) t.join();
      rounds.push_back(
          double(done) /
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return median(rounds);
  };

  std::cout << "| filter | matches | payload index | recall@" << k
            << " | queries with all k | QPS | vs unfiltered |\n|---|---|---|---|---|---|---|\n";
  double unfiltered_qps = 0;
  std::size_t plain_bytes = idx.memory_bytes();
  for (int indexed = 0; indexed < 2; ++indexed) {
    if (indexed_only && !indexed) {
      // Unfiltered search still sets the baseline.
      search_options o;
      o.k = static_cast<std::uint32_t>(k);
      o.include_metadata = false;
      double recall = 0, all_k = 0;
      unfiltered_qps = run(o, truth(o.filter).first, recall, all_k);
      std::cout << fmt::format("| none | {} | none | {:.3f} | {:.1f}% | {:.0f} | 100% |\n", r.n,
                               recall, 100 * all_k, unfiltered_qps)
                << std::flush;
      continue;
    }
    if (indexed) {
      idx.set_field_index({"s", field_type::integer});
      idx.set_field_index({"c", field_type::boolean});
    }
    for (const auto& c : cases) {
      if (indexed && c.json.empty()) continue;
      if (!only.empty() && !c.json.empty() && c.name != only) continue;
      search_options o;
      o.k = static_cast<std::uint32_t>(k);
      o.include_metadata = false;
      if (!c.json.empty()) o.filter = parse_filter(c.json);
      auto [want, matches] = truth(o.filter);
      double recall = 0, all_k = 0;
      auto qps = run(o, want, recall, all_k);
      if (c.json.empty()) unfiltered_qps = qps;
      std::cout << fmt::format("| {} | {} | {} | {:.3f} | {:.1f}% | {:.0f} | {:.0f}% |\n", c.name,
                               matches, indexed ? "s, c" : "none", recall, 100 * all_k, qps,
                               100 * qps / unfiltered_qps)
                << std::flush;
    }
  }
  std::cout << fmt::format("\npayload indexes (integer s, bool c): {:.1f} bytes per vector\n",
                           double(idx.memory_bytes() - plain_bytes) / double(r.n));
  return 0;
}
