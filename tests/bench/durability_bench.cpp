// Benchmark: durability costs, in one run (docs/BENCHMARKS.md, "Durability").
//  1. write throughput with fsync none / group / always: `--writers` keep-alive
//     connections each PUT single 768-d vectors back to back for `--duration` s;
//  2. restart-to-ready of an index of `--n` vectors from its shutdown snapshot,
//     against hnswlib's own loadIndex of the same graph bytes;
//  3. restart-to-ready from log replay alone (snapshots off, SIGKILL);
//  4. bytes on disk per vector (log + snapshots).
// Usage: durability_bench --quiver build/bin/quiver [--n 100000] [--writers 50]
//          [--duration 10] [--rounds 3] [--skip-writes] [--skip-restart] [--skip-replay]

#include <hnswlib/hnswlib.h>

#include <fmt/format.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>

#include "tests/bench/bench_util.hpp"
#include "tests/bench/dataset.hpp"

using namespace bench;
using namespace quiver::bench;
namespace fs = std::filesystem;

namespace {

std::string json_vector(const float* v, std::size_t dim) {
  std::string s = "{\"vector\":[";
  for (std::size_t d = 0; d < dim; ++d) {
    if (d) s += ',';
    fmt::format_to(std::back_inserter(s), "{}", v[d]);
  }
  return s + "]}";
}

struct write_result {
  double per_s = 0, p50_ms = 0, p99_ms = 0;
  std::size_t errors = 0;
};

write_result run_writes(const std::string& bin, const std::string& fsync,
                        const std::vector<std::string>& bodies, std::size_t dim, unsigned writers,
                        double duration) {
  auto port = free_port();
  auto dir = fmt::format("/tmp/quiver-dbench-{}-{}", getpid(), fsync);
  fs::remove_all(dir);
  server_process server(bin, {"--port", std::to_string(port), "--data-dir", dir, "--log-level",
                              "warn", "--fsync", fsync});
  auto c = connect_when_up(port);
  auto res = c->call(http::verb::post, "/v1/indexes",
                     fmt::format(R"({{"name":"w","dimension":{}}})", dim));
  if (res.result_int() != 201) throw std::runtime_error("create failed: " + res.body());
  net::io_context ioc;
  write_result out;
  std::vector<double> latencies;
  auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                          std::chrono::duration<double>(duration));
  for (unsigned i = 0; i < writers; ++i)
    std::make_shared<load_connection>(
        ioc, port,
        [&bodies, first = std::size_t(i) * 1000000](load_connection::request& req, std::size_t n) {
          req.method(http::verb::put);
          req.target("/v1/indexes/w/vectors/" + std::to_string(first + n));
          req.body() = bodies[(first + n) % bodies.size()];
        },
        deadline, latencies, out.errors)
        ->start();
  auto t0 = clock_type::now();
  ioc.run();
  out.per_s = double(latencies.size()) / seconds_since(t0);
  out.p50_ms = percentile(latencies, 0.5);
  out.p99_ms = percentile(latencies, 0.99);
  server.stop();
  fs::remove_all(dir);
  return out;
}

std::uint64_t dir_bytes(const std::string& dir, const std::string& must_contain = {}) {
  std::uint64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().string().find(must_contain) != std::string::npos)
      total += e.file_size();
  return total;
}

// Starts quiver on `dir` and returns the seconds until /readyz answers 200.
double time_to_ready(const std::string& bin, const std::string& dir, std::uint16_t port,
                     std::unique_ptr<server_process>& server,
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"--port", std::to_string(port), "--data-dir",
                                dir,      "--log-level",        "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto t0 = clock_type::now();
  server = std::make_unique<server_process>(bin, args);
  for (;;) {
    try {
      sync_client c(port);
      for (;;) {
        if (c.call(http::verb::get, "/readyz").result_int() == 200) return seconds_since(t0);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (seconds_since(t0) > 600) throw std::runtime_error("not ready in 10 minutes");
      }
    } catch (const beast::system_error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

// Seconds hnswlib's loadIndex takes for the graph inside a Quiver snapshot.
double hnswlib_load_seconds(const std::string& snapshot, std::size_t dim) {
  std::ifstream in(snapshot, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto le = [&](std::size_t pos) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= std::uint64_t(static_cast<unsigned char>(data[pos + i])) << (8 * i);
    return v;
  };
  // magic (8) + version (4) + envelope length (8) + envelope + graph length (8) + graph
  auto envelope = le(12);
  auto graph_at = 12 + 8 + envelope + 8;
  auto graph_len = le(12 + 8 + envelope);
  auto path = snapshot + ".raw-graph";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(data.data() + graph_at, static_cast<std::streamsize>(graph_len));
  }
  data.clear();
  data.shrink_to_fit();
  hnswlib::InnerProductSpace space(dim);
  auto t0 = clock_type::now();
  hnswlib::HierarchicalNSW<float> index(&space, path);
  auto s = seconds_since(t0);
  fs::remove(path);
  return s;
}

std::string newest_snapshot(const std::string& dir) {
  std::string best;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".qsnap" && e.path().string() > best) best = e.path().string();
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  dataset_recipe r;
  std::string bin;
  double duration = 10;
  unsigned writers = 50, rounds = 3;
  bool skip_writes = false, skip_restart = false, skip_replay = false;
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(argv[++i]); };
    if (a == "--quiver")
      bin = next();
    else if (a == "--n")
      r.n = std::stoull(next());
    else if (a == "--writers")
      writers = std::stoul(next());
    else if (a == "--duration")
      duration = std::stod(next());
    else if (a == "--rounds")
      rounds = std::stoul(next());
    else if (a == "--skip-writes")
      skip_writes = true;
    else if (a == "--skip-restart")
      skip_restart = true;
    else if (a == "--skip-replay")
      skip_replay = true;
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (bin.empty()) {
    std::cerr << "usage: durability_bench --quiver PATH [--n N] [--writers W] [--duration S] "
                 "[--rounds R] [--skip-writes] [--skip-restart]\n";
    return 2;
  }
  r.queries = 1;
  auto ds = make_dataset(r);
  std::cout << "command: `" << command << "`\n\n";

  if (!skip_writes) {
    std::vector<std::string> bodies;
    for (std::size_t i = 0; i < 2000; ++i)
      bodies.push_back(json_vector(&ds.base[i * r.dim], r.dim));
    std::map<std::string, std::vector<write_result>> results;
    for (unsigned round = 0; round < rounds; ++round)
      for (const char* policy : {"none", "group", "always"}) {
        auto w = run_writes(bin, policy, bodies, r.dim, writers, duration);
        std::cerr << fmt::format(
            "round {} fsync={}: {:.0f} writes/s, p50 {:.2f} ms, p99 {:.2f} ms, "
            "{} errors\n",
            round, policy, w.per_s, w.p50_ms, w.p99_ms, w.errors);
        results[policy].push_back(w);
      }
    auto med = [&](const std::string& p, auto f) {
      std::vector<double> v;
      for (auto& x : results[p]) v.push_back(f(x));
      return median(v);
    };
    auto none = med("none", [](auto& x) { return x.per_s; });
    std::cout << fmt::format("### Single-vector PUTs, {} writers, {} s, medians of {} rounds\n\n",
                             writers, duration, rounds);
    std::cout << "| fsync | writes/s | vs none | p50 (ms) | p99 (ms) | errors "
                 "|\n|---|---|---|---|---|---|\n";
    for (const char* p : {"none", "group", "always"}) {
      auto per_s = med(p, [](auto& x) { return x.per_s; });
      std::size_t errors = 0;
      for (auto& x : results[p]) errors += x.errors;
      std::cout << fmt::format("| {} | {:.0f} | {:.0f}% | {:.2f} | {:.2f} | {} |\n", p, per_s,
                               100 * per_s / none, med(p, [](auto& x) { return x.p50_ms; }),
                               med(p, [](auto& x) { return x.p99_ms; }), errors);
    }
    std::cout << "\n";
  }

  if (!skip_restart) {
    auto port = free_port();
    // From the shutdown snapshot.
    auto dir = fmt::format("/tmp/quiver-dbench-{}-restart", getpid());
    fs::remove_all(dir);
    std::unique_ptr<server_process> server;
    time_to_ready(bin, dir, port, server);
    {
      auto c = connect_when_up(port);
      auto res = c->call(http::verb::post, "/v1/indexes",
                         fmt::format(R"({{"name":"bench","dimension":{}}})", r.dim));
      if (res.result_int() != 201) throw std::runtime_error("create failed: " + res.body());
      auto t0 = clock_type::now();
      bulk_upsert(*c, "bench", ds.base.data(), r.dim, r.n);
      std::cerr << fmt::format("loaded {} vectors in {:.1f} s\n", r.n, seconds_since(t0));
    }
    auto log_bytes = dir_bytes(dir, "/log/");
    auto t_stop = clock_type::now();
    server->stop();
    auto stop_s = seconds_since(t_stop);
    auto snap_bytes = dir_bytes(dir, ".qsnap");
    auto snapshot = newest_snapshot(dir);
    std::vector<double> ready_s, load_s;
    for (unsigned round = 0; round < rounds; ++round) {
      // Drop the page cache's advantage evenly: both sides read warm files.
      ready_s.push_back(time_to_ready(bin, dir, port, server));
      server->stop(SIGKILL);
      load_s.push_back(hnswlib_load_seconds(snapshot, r.dim));
      std::cerr << fmt::format(
          "round {}: ready from snapshot {:.2f} s, hnswlib loadIndex {:.2f} s\n", round,
          ready_s.back(), load_s.back());
    }
    fs::remove_all(dir);

    // From log replay alone: snapshots off, killed.
    auto dir2 = fmt::format("/tmp/quiver-dbench-{}-replay", getpid());
    fs::remove_all(dir2);
    std::vector<double> replay_s;
    if (!skip_replay) {
      std::vector<std::string> no_snap{"--snapshot-every-records", "0", "--snapshot-interval-s",
                                       "0"};
      time_to_ready(bin, dir2, port, server, no_snap);
      {
        auto c = connect_when_up(port);
        c->call(http::verb::post, "/v1/indexes",
                fmt::format(R"({{"name":"bench","dimension":{}}})", r.dim));
        bulk_upsert(*c, "bench", ds.base.data(), r.dim, r.n);
      }
      server->stop(SIGKILL);
      replay_s.push_back(time_to_ready(bin, dir2, port, server, no_snap));
      server->stop(SIGKILL);
      std::cerr << fmt::format("replay restart: {:.2f} s\n", replay_s.back());
      fs::remove_all(dir2);
    }

    std::cout << fmt::format("### Restart of {} x {} (cosine, M=16, ef_construction=200)\n\n", r.n,
                             r.dim);
    std::cout << "| metric | value |\n|---|---|\n";
    std::cout << fmt::format("| clean shutdown (final snapshot) | {:.2f} s |\n", stop_s);
    std::cout << fmt::format("| restart to ready, from snapshot (median of {}) | {:.2f} s |\n",
                             rounds, median(ready_s));
    std::cout << fmt::format("| hnswlib loadIndex of the same graph (median of {}) | {:.2f} s |\n",
                             rounds, median(load_s));
    std::cout << fmt::format("| ratio | {:.2f}x |\n", median(ready_s) / median(load_s));
    std::cout << fmt::format("| restart to ready, log replay only ({} records) | {:.2f} s |\n", r.n,
                             median(replay_s));
    std::cout << fmt::format("| log bytes per vector | {:.0f} (raw vector: {}) |\n",
                             double(log_bytes) / double(r.n), r.dim * 4);
    std::cout << fmt::format("| snapshot bytes per vector (newest two kept) | {:.0f} |\n",
                             double(snap_bytes) / double(r.n));
  }
  return 0;
}
