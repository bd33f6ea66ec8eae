// Benchmark: search as a user measures it, with a standard load generator (wrk, one
// thread, keep-alive, pre-rendered bodies) against the release `quiver`, and raw
// hnswlib in-process on the same data and cores, in one run. Also filtered search over
// HTTP against unfiltered search and exact filtered ground truth, and serving after a
// restart against serving right after the bulk load.
// Exits 1 when a request failed or a filtered search returned fewer than k while k
// points matched.
// Usage: http_bench --quiver build/bin/quiver [--n 100000] [--queries 500] [--seconds 10]
//          [--crash: only the write-heavy run cut by SIGKILL, and the recoveries]
//          [--rounds 3] [--connections 50] [--batch-connections 4] [--skip-filters]
//          [--skip-restart] [--wrk PATH] [--perf FILE] [--perf-row N] [--server-arg ARG]...
// (--perf FILE: `perf record -g` of the server while wrk runs the first row once;
//  --perf-row N: the Nth row instead, counting from 0)
//
// Metadata of point i: {"s": mix64(i) % 1000, "c": bool}; the filters are ranges on
// "s" (matches spread evenly) and "c" (the 1% of points farthest from the queries).

#include <hnswlib/hnswlib.h>

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <map>

#include "tests/bench/bench_util.hpp"
#include "tests/bench/dataset.hpp"
#include "tests/bench/wrk.hpp"

using namespace bench;
using namespace quiver::bench;

namespace {

constexpr std::size_t k = 10;
using ids_t = std::vector<std::vector<std::size_t>>;

struct options {
  dataset_recipe r;
  std::string bin, wrk = "wrk";
  double seconds = 10;
  unsigned rounds = 3, connections = 50, batch_connections = 4;
  bool filters = true, restart = true;
  bool crash = false;        // only the write-heavy crash run
  std::string perf_out;      // perf record of the server during one row's first round
  std::size_t perf_row = 0;  // which row (0: the first)
  std::vector<std::string> server_args;
};

struct filter_case {
  std::string name, json;
  std::function<bool(std::size_t)> accept;
};

// Recall of `got` against `want`, and the share of queries that got min(k, |want|)
// results.
std::pair<double, double> score(const ids_t& want, const ids_t& got) {
  std::size_t hit = 0, total = 0, full = 0;
  for (std::size_t q = 0; q < want.size(); ++q) {
    for (auto id : got[q]) hit += std::count(want[q].begin(), want[q].end(), id);
    total += want[q].size();
    full += got[q].size() == want[q].size();
  }
  return {total ? double(hit) / double(total) : 1, double(full) / double(want.size())};
}

// -- raw hnswlib -----------------------------------------------------------------

struct raw_side {
  double build_s = 0, load_s = 0;
  std::map<int, double> recall_by_ef;
};

// `threads` threads calling searchKnn back to back for `seconds`; returns QPS and
// fills `lat_ms`.
double raw_qps(hnswlib::HierarchicalNSW<float>& index, const dataset& ds, const dataset_recipe& r,
               int ef, unsigned threads, double seconds, std::vector<double>& lat_ms) {
  index.setEf(ef);
  std::vector<std::vector<double>> lat(threads);
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  auto t0 = clock_type::now();
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t q = t; !stop; q += threads) {
        auto s = clock_type::now();
        index.searchKnn(&ds.queries[(q % r.queries) * r.dim], k);
        lat[t].push_back(seconds_since(s) * 1000);
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  auto elapsed = seconds_since(t0);
  lat_ms.clear();
  for (auto& l : lat) lat_ms.insert(lat_ms.end(), l.begin(), l.end());
  return double(lat_ms.size()) / elapsed;
}

// -- Quiver ------------------------------------------------------------------------

std::string msgpack_search_body(const float* v, std::size_t dim, int ef) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pk.pack(std::string("k"));
  pk.pack(k);
  pk.pack(std::string("ef"));
  pk.pack(ef);
  pk.pack(std::string("include_metadata"));
  pk.pack(false);
  pk.pack(std::string("vector"));
  pk.pack_bin(static_cast<std::uint32_t>(dim * 4));
  pk.pack_bin_body(reinterpret_cast<const char*>(v), static_cast<std::uint32_t>(dim * 4));
  return std::string(buf.data(), buf.size());
}

struct row {
  std::string name, path, type;
  std::vector<std::string> bodies;
  unsigned connections = 0, queries_per_request = 1;
  std::vector<wrk_result> runs;

  template <class F>
  double median_of(F f) const {
    std::vector<double> v;
    for (auto& r : runs) v.push_back(f(r));
    return median(v);
  }
  double qps() const {
    return median_of([&](const wrk_result& r) { return r.rps * queries_per_request; });
  }
  double p50() const {
    return median_of([](const wrk_result& r) { return r.p50_ms; });
  }
  double p99() const {
    return median_of([](const wrk_result& r) { return r.p99_ms; });
  }
  std::size_t errors() const {
    std::size_t e = 0;
    for (auto& r : runs) e += r.socket_errors + r.status_errors;
    return e;
  }
};

class quiver_side {
 public:
  quiver_side(const options& o, const std::string& dir) : o_(o), dir_(dir) { start(); }

  double start() {
    port_ = free_port();
    std::vector<std::string> args{"--port", std::to_string(port_), "--data-dir",
                                  dir_,     "--log-level",         "warn"};
    args.insert(args.end(), o_.server_args.begin(), o_.server_args.end());
    auto t0 = clock_type::now();
    server_ = std::make_unique<server_process>(o_.bin, args);
    client_ = connect_when_up(port_);
    while (client_->call(http::verb::get, "/readyz").result_int() != 200) {
      if (seconds_since(t0) > 600) throw std::runtime_error("not ready in 10 minutes");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return seconds_since(t0);
  }
  void stop() { server_->stop(SIGTERM); }
  void kill() { server_->stop(SIGKILL); }

  http::response<http::string_body> call(http::verb verb, const std::string& target,
                                         std::string body = {},
                                         const std::string& type = "application/json") {
    http::response<http::string_body> res;
    try {
      res = client_->call(verb, target, body, type);
    } catch (const boost::system::system_error&) {
      // The server closed this connection while it sat idle (wrk's runs are
      // longer than its idle timeout): once more on a new one.
      client_ = connect_when_up(port_);
      res = client_->call(verb, target, std::move(body), type);
    }
    if (res.result_int() >= 300)
      throw std::runtime_error(target + " answered " + std::to_string(res.result_int()) + ": " +
                               res.body());
    return res;
  }

  // Top-k ids of every query, searched one at a time.
  ids_t search_all(const dataset& ds, const dataset_recipe& r, int ef,
                   const std::string& extra = {}) {
    ids_t got(r.queries);
    for (std::size_t q = 0; q < r.queries; ++q)
      got[q] = parse_ids(call(http::verb::post, "/v1/indexes/bench/search",
                              search_body(&ds.queries[q * r.dim], r.dim, ef, extra))
                             .body());
    return got;
  }

  void measure(std::vector<row>& rows) {
    for (unsigned round = 0; round < o_.rounds; ++round)
      for (auto& x : rows) {
        wrk_job job;
        job.port = port_;
        job.path = x.path;
        job.content_type = x.type;
        job.bodies = &x.bodies;
        job.connections = x.connections;
        job.seconds = o_.seconds;
        job.workdir = dir_ + "-wrk";
        job.wrk = o_.wrk;
        std::FILE* perf = nullptr;
        if (!o_.perf_out.empty() && round == 0 &&
            &x == &rows[std::min(o_.perf_row, rows.size() - 1)] && !profiled_) {
          profiled_ = true;
          auto cmd = fmt::format("perf record -e cpu-clock -F 1999 -g -p {} -o {} -- sleep {} 2>&1",
                                 pid(), o_.perf_out, std::max(1.0, o_.seconds - 1));
          perf = popen(cmd.c_str(), "r");
        }
        x.runs.push_back(run_wrk(job));
        if (perf) pclose(perf);
        std::filesystem::remove_all(job.workdir);
        std::cerr << fmt::format("round {} {}: {:.0f} QPS, p50 {:.2f} ms, p99 {:.2f} ms\n", round,
                                 x.name, x.runs.back().rps * x.queries_per_request,
                                 x.runs.back().p50_ms, x.runs.back().p99_ms);
      }
  }

  pid_t pid() const { return server_->pid(); }
  sync_client& client() { return *client_; }

 private:
  const options& o_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<server_process> server_;
  std::unique_ptr<sync_client> client_;
  bool profiled_ = false;
};

std::size_t json_number(const std::string& body, const std::string& field) {
  auto at = body.find("\"" + field + "\":");
  if (at == std::string::npos) throw std::runtime_error("no " + field + " in " + body);
  return std::stoull(body.substr(at + field.size() + 3));
}

// A write-heavy run cut by SIGKILL: half the points bulk-loaded, SIGKILL right after
// the last acknowledgement, restart; the other half, SIGKILL, restart. Each restart
// replays what the last snapshot does not cover; every acknowledged point must be back.
int crash_run(const options& o, const dataset& ds, const dataset_recipe& r) {
  auto dir = fmt::format("/tmp/http-bench-{}", getpid());
  std::filesystem::remove_all(dir);
  quiver_side qv(o, dir);
  qv.call(http::verb::post, "/v1/indexes",
          fmt::format(R"({{"name":"bench","dimension":{},"m":16,"ef_construction":200}})", r.dim));
  auto snapshots = [&] {
    std::size_t n = 0;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir))
      n += e.path().extension() == ".qsnap" ? 1 : 0;
    return n;
  };
  int failures = 0;
  double load_s = 0;
  for (std::size_t first : {std::size_t{0}, r.n / 2}) {
    auto end = first == 0 ? r.n / 2 : r.n;
    auto t0 = clock_type::now();
    bulk_upsert(qv.client(), "bench", ds.base.data(), r.dim, end, {}, first);
    load_s += seconds_since(t0);
    auto on_disk = snapshots();
    qv.kill();
    auto ready_s = qv.start();
    auto count = json_number(qv.call(http::verb::get, "/v1/indexes/bench").body(), "count");
    std::cout << fmt::format(
        "SIGKILL after {} points acknowledged ({} snapshot file(s) on disk): ready again in "
        "{:.2f} s, {} points back{}\n",
        end, on_disk, ready_s, count, count == end ? "" : " (LOST WRITES)");
    failures += count == end ? 0 : 1;
  }
  std::cout << fmt::format("bulk load of {} points in the two halves: {:.1f} s\n", r.n, load_s);
  qv.stop();
  std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 1;
}

void print_row(const row& x, double reference, const std::string& reference_name) {
  std::cout << fmt::format("| {} | {} | {:.0f} | {:.2f} / {:.2f} | {} | {:.0f}% of {} |\n", x.name,
                           x.connections, x.qps(), x.p50(), x.p99(), x.errors(),
                           100 * x.qps() / reference, reference_name);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--quiver")
      o.bin = next();
    else if (a == "--wrk")
      o.wrk = next();
    else if (a == "--n")
      o.r.n = std::stoull(next());
    else if (a == "--queries")
      o.r.queries = std::stoull(next());
    else if (a == "--seconds")
      o.seconds = std::stod(next());
    else if (a == "--rounds")
      o.rounds = std::stoul(next());
    else if (a == "--connections")
      o.connections = std::stoul(next());
    else if (a == "--batch-connections")
      o.batch_connections = std::stoul(next());
    else if (a == "--skip-filters")
      o.filters = false;
    else if (a == "--skip-restart")
      o.restart = false;
    else if (a == "--crash")
      o.crash = true;
    else if (a == "--perf")
      o.perf_out = next();
    else if (a == "--perf-row")
      o.perf_row = std::stoul(next());
    else if (a == "--server-arg")
      o.server_args.push_back(next());
    else
      throw std::invalid_argument("unknown argument " + a);
  }
  if (o.bin.empty()) throw std::invalid_argument("--quiver PATH is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "http_bench: " << e.what() << "\n";
    return 2;
  }
  const auto& r = o.r;
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  std::cout << "command: `" << command << "`\n";
  std::cout << fmt::format(
      "dataset: n={} queries={} dim={} latent={} clusters={} spread={} ambient={} seed={} "
      "(normalized, cosine); M=16, ef_construction=200; {} rounds of {} s\n\n",
      r.n, r.queries, r.dim, r.latent, r.clusters, r.spread, r.ambient, r.seed, o.rounds,
      o.seconds);
  auto ds = make_dataset(r);
  if (o.crash) return crash_run(o, ds, r);
  auto far = far_from_queries(ds, r);
  auto s_of = [](std::size_t i) { return mix64(i) % 1000; };
  ids_t truth(r.queries);
  parallel_for(r.queries, 2, [&](std::size_t q) { truth[q] = exact_top_k(ds, r, q, k, {}); });

  // Raw hnswlib: build on 2 threads, recall over ef, the ef that reaches 0.95.
  raw_side raw;
  hnswlib::InnerProductSpace space(r.dim);
  auto index = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, r.n, 16, 200);
  auto t0 = clock_type::now();
  parallel_for(r.n, 2, [&](std::size_t i) { index->addPoint(&ds.base[i * r.dim], i); });
  raw.build_s = seconds_since(t0);
  const std::vector<int> efs{10, 16, 20, 24, 32, 40, 64, 100};
  int ef_star = 0;
  for (int ef : efs) {
    index->setEf(ef);
    ids_t got(r.queries);
    for (std::size_t q = 0; q < r.queries; ++q) {
      auto res = index->searchKnn(&ds.queries[q * r.dim], k);
      for (; !res.empty(); res.pop()) got[q].push_back(res.top().second);
    }
    raw.recall_by_ef[ef] = score(truth, got).first;
    if (!ef_star && raw.recall_by_ef[ef] >= 0.95) ef_star = ef;
  }
  if (!ef_star) ef_star = 64;
  auto saved = fmt::format("/tmp/http-bench-raw-{}.bin", getpid());
  index->saveIndex(saved);
  std::vector<double> loads;
  for (int i = 0; i < 3; ++i) {
    t0 = clock_type::now();
    index = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, saved, false, r.n);
    loads.push_back(seconds_since(t0));
  }
  std::filesystem::remove(saved);
  raw.load_s = median(loads);
  std::vector<double> qps2, qps64, qps1, p50_1, p99_1, lat;
  for (unsigned round = 0; round < o.rounds; ++round) {
    qps2.push_back(raw_qps(*index, ds, r, ef_star, 2, o.seconds, lat));
    qps64.push_back(raw_qps(*index, ds, r, 64, 2, o.seconds, lat));
    qps1.push_back(raw_qps(*index, ds, r, ef_star, 1, o.seconds, lat));
    p50_1.push_back(percentile(lat, 0.5));
    p99_1.push_back(percentile(lat, 0.99));
    std::cerr << fmt::format("round {} raw: ef={} {:.0f} QPS, ef=64 {:.0f} QPS\n", round, ef_star,
                             qps2.back(), qps64.back());
  }
  // The raw index stays: it is searched again at the end, to tell the machine's drift
  // over the run from a difference between serving after the load and after a restart.

  // Quiver: load (MessagePack batches of 1,000 with metadata), recall over HTTP.
  auto dir = fmt::format("/tmp/http-bench-{}", getpid());
  std::filesystem::remove_all(dir);
  quiver_side qv(o, dir);
  auto rss_empty = rss_of(qv.pid());
  qv.call(http::verb::post, "/v1/indexes",
          fmt::format(R"({{"name":"bench","dimension":{},"m":16,"ef_construction":200}})", r.dim));
  t0 = clock_type::now();
  bulk_upsert(qv.client(), "bench", ds.base.data(), r.dim, r.n,
              [&](msgpack::packer<msgpack::sbuffer>& pk, std::size_t i) {
                pk.pack_map(2);
                pk.pack(std::string("s"));
                pk.pack(s_of(i));
                pk.pack(std::string("c"));
                pk.pack(bool(far[i]));
              });
  double upsert_s = seconds_since(t0);
  auto describe = qv.call(http::verb::get, "/v1/indexes/bench").body();
  auto memory_bytes = json_number(describe, "memory_bytes");
  auto rss = rss_of(qv.pid());
  std::map<int, double> recall_by_ef;
  for (int ef : efs) recall_by_ef[ef] = score(truth, qv.search_all(ds, r, ef)).first;

  // Unfiltered rows, right after the bulk load.
  auto rendered = [&](auto render) {
    std::vector<std::string> v;
    for (std::size_t q = 0; q < r.queries; ++q) v.push_back(render(&ds.queries[q * r.dim]));
    return v;
  };
  const std::string search = "/v1/indexes/bench/search";
  auto json_at = [&](int ef, const std::string& extra = {}) {
    return rendered([&](const float* v) { return search_body(v, r.dim, ef, extra); });
  };
  std::vector<std::string> batches, bin_batches;
  for (std::size_t q = 0; q < r.queries; q += 32) {
    std::string b = "{\"queries\":[";
    auto end = std::min(r.queries, q + 32);
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(1);
    pk.pack(std::string("queries"));
    pk.pack_array(static_cast<std::uint32_t>(end - q));
    for (std::size_t j = q; j < end; ++j) {
      b += (j > q ? "," : "") + search_body(&ds.queries[j * r.dim], r.dim, ef_star);
      auto one = msgpack_search_body(&ds.queries[j * r.dim], r.dim, ef_star);
      buf.write(one.data(), one.size());
    }
    batches.push_back(b + "]}");
    bin_batches.emplace_back(buf.data(), buf.size());
  }
  auto star = fmt::format("ef={}", ef_star);
  std::vector<row> plain = {
      {"JSON, " + star, search, "application/json", json_at(ef_star), o.connections, 1, {}},
      {"JSON, " + star, search, "application/json", json_at(ef_star), 1, 1, {}},
      {"JSON, ef=64", search, "application/json", json_at(64), o.connections, 1, {}},
      {"MessagePack bin, " + star,
       search,
       "application/msgpack",
       rendered([&](const float* v) { return msgpack_search_body(v, r.dim, ef_star); }),
       o.connections,
       1,
       {}},
      {"search/batch of 32, " + star,
       search + "/batch",
       "application/json",
       batches,
       o.batch_connections,
       32,
       {}},
      {"MessagePack bin search/batch of 32, " + star,
       search + "/batch",
       "application/msgpack",
       bin_batches,
       o.batch_connections,
       32,
       {}},
  };
  qv.measure(plain);

  // Filtered rows: recall and k against exact filtered truth, QPS against ef=64
  // unfiltered; without payload indexes first, then with them.
  std::vector<filter_case> cases = {
      {"50%", R"({"must":[{"key":"s","range":{"lt":500}}]})",
       [&](std::size_t i) { return s_of(i) < 500; }},
      {"10%", R"({"must":[{"key":"s","range":{"lt":100}}]})",
       [&](std::size_t i) { return s_of(i) < 100; }},
      {"1%", R"({"must":[{"key":"s","range":{"lt":10}}]})",
       [&](std::size_t i) { return s_of(i) < 10; }},
      {"0.1%", R"({"must":[{"key":"s","match":7}]})", [&](std::size_t i) { return s_of(i) == 7; }},
      {"1% far from the queries", R"({"must":[{"key":"c","match":true}]})",
       [&](std::size_t i) { return bool(far[i]); }},
  };
  struct filtered {
    std::string name, indexed;
    double recall = 0, all_k = 0;
    row x;
  };
  std::vector<filtered> frows;
  for (int indexed = 0; o.filters && indexed < 2; ++indexed) {
    if (indexed) {
      qv.call(http::verb::put, "/v1/indexes/bench/fields/s", R"({"type":"integer"})");
      qv.call(http::verb::put, "/v1/indexes/bench/fields/c", R"({"type":"bool"})");
    }
    std::vector<row> rows;
    for (auto& c : cases) {
      if (!indexed && c.name != "50%" && c.name != "10%") continue;  // slow without columns
      ids_t want(r.queries);
      parallel_for(r.queries, 2,
                   [&](std::size_t q) { want[q] = exact_top_k(ds, r, q, k, c.accept); });
      auto extra = ",\"filter\":" + c.json;
      auto [rec, all_k] = score(want, qv.search_all(ds, r, 64, extra));
      frows.push_back({c.name, indexed ? "s, c" : "none", rec, all_k, {}});
      rows.push_back({"filter " + c.name + (indexed ? ", indexed" : ", no index"),
                      search,
                      "application/json",
                      json_at(64, extra),
                      o.connections,
                      1,
                      {}});
    }
    qv.measure(rows);
    for (std::size_t i = 0; i < rows.size(); ++i)
      frows[frows.size() - rows.size() + i].x = std::move(rows[i]);
  }

  // After a clean restart (shutdown snapshot, then load): the same rows again.
  double ready_s = 0;
  std::uint64_t rss_restart = 0;
  double memory_restart = 0;
  std::vector<row> again;
  if (o.restart) {
    qv.stop();
    ready_s = qv.start();
    rss_restart = rss_of(qv.pid());
    memory_restart =
        json_number(qv.call(http::verb::get, "/v1/indexes/bench").body(), "memory_bytes");
    again = {plain[0], plain[1]};
    for (auto& x : again) x.runs.clear();
    qv.measure(again);
  }
  qv.stop();
  std::filesystem::remove_all(dir);
  std::vector<double> qps2_end;
  if (o.restart)
    for (unsigned round = 0; round < o.rounds; ++round)
      qps2_end.push_back(raw_qps(*index, ds, r, ef_star, 2, o.seconds, lat));

  auto raw_q = median(qps2), raw_q64 = median(qps64);
  std::cout << fmt::format("ef where raw recall@10 first reaches 0.95: {}\n\n", ef_star);
  std::cout << "| row | connections | Quiver QPS | p50 / p99 (ms) | errors | vs raw |\n"
               "|---|---|---|---|---|---|\n";
  auto raw2 = fmt::format("raw {:.0f} (2 threads)", raw_q);
  print_row(plain[0], raw_q, raw2);
  print_row(plain[1], median(qps1), fmt::format("raw {:.0f} (1 thread)", median(qps1)));
  print_row(plain[2], raw_q64, fmt::format("raw {:.0f} at ef=64", raw_q64));
  print_row(plain[3], raw_q, raw2);
  print_row(plain[4], raw_q, raw2);
  print_row(plain[5], raw_q, raw2);
  if (!again.empty()) {
    again[0].name += ", after restart";
    again[1].name += ", after restart";
    print_row(again[0], raw_q, raw2);
    print_row(again[1], median(qps1), fmt::format("raw {:.0f} (1 thread)", median(qps1)));
  }
  std::cout << fmt::format(
      "\nraw hnswlib one thread at {}: p50 {:.3f} ms, p99 {:.3f} ms; Quiver one connection: "
      "p50 {:.3f} ms (+{:.3f}), p99 {:.3f} ms (+{:.3f})\n",
      star, median(p50_1), median(p99_1), plain[1].p50(), plain[1].p50() - median(p50_1),
      plain[1].p99(), plain[1].p99() - median(p99_1));
  if (!again.empty())
    std::cout << fmt::format(
        "after restart vs right after the load ({}, {} connections): {:.0f} vs {:.0f} QPS "
        "({:+.1f}%)\n",
        star, o.connections, again[0].qps(), plain[0].qps(),
        100 * (again[0].qps() / plain[0].qps() - 1));
  if (!qps2_end.empty())
    std::cout << fmt::format(
        "raw hnswlib 2 threads at {}, the same index: {:.0f} QPS at the start of the run, {:.0f} "
        "at its end ({:+.1f}%: the machine's drift)\n",
        star, raw_q, median(qps2_end), 100 * (median(qps2_end) / raw_q - 1));
  std::cout << fmt::format(
      "build: raw {:.1f} s (2 threads), Quiver batch upsert with metadata {:.1f} s ({:.2f}x)\n",
      raw.build_s, upsert_s, upsert_s / raw.build_s);
  if (o.restart)
    std::cout << fmt::format(
        "restart to ready (clean shutdown, snapshot): {:.2f} s; raw loadIndex {:.2f} s "
        "({:.1f}x)\n",
        ready_s, raw.load_s, ready_s / raw.load_s);
  // What the index adds to the process, against what describe says it holds.
  std::cout << fmt::format(
      "memory: empty server RSS {:.0f} MB; after the load RSS +{:.0f} MB, describe's "
      "memory_bytes {:.0f} MB ({:.2f}x)\n",
      double(rss_empty) / 1e6, (double(rss) - double(rss_empty)) / 1e6, double(memory_bytes) / 1e6,
      double(memory_bytes) / std::max(1.0, double(rss) - double(rss_empty)));
  if (o.restart)
    std::cout << fmt::format(
        "memory after the restart: RSS +{:.0f} MB, describe's memory_bytes {:.0f} MB ({:.2f}x)\n",
        (double(rss_restart) - double(rss_empty)) / 1e6, memory_restart / 1e6,
        memory_restart / std::max(1.0, double(rss_restart) - double(rss_empty)));
  std::cout << "\n| ef | recall@10 raw | recall@10 Quiver |\n|---|---|---|\n";
  for (int ef : efs)
    std::cout << fmt::format("| {} | {:.3f} | {:.3f} |\n", ef, raw.recall_by_ef[ef],
                             recall_by_ef[ef]);
  if (!frows.empty()) {
    std::cout << "\n| filter | payload index | recall@10 | queries with all k | QPS | "
                 "p50 / p99 (ms) | errors | vs unfiltered ef=64 |\n"
                 "|---|---|---|---|---|---|---|---|\n";
    for (auto& f : frows)
      std::cout << fmt::format(
          "| {} | {} | {:.3f} | {:.1f}% | {:.0f} | {:.2f} / {:.2f} | {} | "
          "{:.0f}% |\n",
          f.name, f.indexed, f.recall, 100 * f.all_k, f.x.qps(), f.x.p50(), f.x.p99(), f.x.errors(),
          100 * f.x.qps() / plain[2].qps());
  }
  // A run that measured failures, or filtered searches short of k, measured nothing.
  std::size_t errors = 0;
  for (auto* rows : {&plain, &again})
    for (auto& x : *rows) errors += x.errors();
  bool short_of_k = false;
  for (auto& f : frows) {
    errors += f.x.errors();
    short_of_k |= f.all_k < 1;
  }
  if (errors || short_of_k) {
    std::cerr << fmt::format("http_bench: {} failed requests{}\n", errors,
                             short_of_k ? ", and filtered searches with fewer than k results" : "");
    return 1;
  }
  return 0;
}
