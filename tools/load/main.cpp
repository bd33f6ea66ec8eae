// quiver-load: corpus generator, bulk loader, load/chaos harness and recall-under-
// churn sampler for Quiver. `quiver-load --help` and tools/README.md say how.

#include <toml++/toml.h>
#include <boost/program_options.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "tools/load/corpus.hpp"
#include "tools/load/engine.hpp"
#include "tools/load/supervisor.hpp"

namespace po = boost::program_options;
using namespace quiver::load;

namespace {

constexpr int kExitUsage = 2;

// Weights and knobs from a TOML file; every key is checked (a typo is an error).
void read_scenario_file(const std::string& path, load_options& opt) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument(path + ": " + std::string(e.description()));
  }
  for (auto& [section, node] : root) {
    auto* table = node.as_table();
    if (!table)
      throw std::invalid_argument(path + ": [" + std::string(section.str()) + "] must be a table");
    for (auto& [key, value] : *table) {
      auto name = std::string(section.str()) + "." + std::string(key.str());
      auto number = value.value<double>();
      if (!number || *number < 0)
        throw std::invalid_argument(path + ": " + name + " must be a number >= 0");
      if (section == "weights") {
        if (std::find(kScenarios.begin(), kScenarios.end(), key.str()) == kScenarios.end())
          throw std::invalid_argument(path + ": unknown scenario " + name);
        opt.weights[std::string(key.str())] = *number;
      } else if (name == "batch_ingest.min") {
        opt.batch_min = std::size_t(*number);
      } else if (name == "batch_ingest.max") {
        opt.batch_max = std::size_t(*number);
      } else if (name == "upsert_then_read.delete_probability") {
        opt.delete_after_read = *number;
      } else if (name == "write_index.preload") {
        if (*number > 1)
          throw std::invalid_argument(path + ": " + name + " is a share of the corpus, at most 1");
        opt.write_preload = *number;
      } else if (name == "small_index_churn.live_per_user") {
        opt.small_live_per_user = std::size_t(*number);
      } else if (name == "small_index_churn.tiny_index_probability") {
        opt.tiny_index_probability = *number;
      } else if (name == "seed.text_dimension") {
        if (*number < 8 || *number > 4096)
          throw std::invalid_argument(path + ": " + name + " must be from 8 to 4096");
        opt.text_dim = std::size_t(*number);
      } else if (name == "seed.playbook_drop_probability") {
        opt.playbook_drop_probability = *number;
      } else if (name == "search.k") {
        opt.k = std::size_t(*number);
      } else {
        throw std::invalid_argument(path + ": unknown key " + name);
      }
    }
  }
  if (opt.batch_min == 0 || opt.batch_min > opt.batch_max)
    throw std::invalid_argument(path + ": need 0 < batch_ingest.min <= batch_ingest.max");
  if (opt.k == 0) throw std::invalid_argument(path + ": search.k must be > 0");
}

void corpus_progress(std::size_t done, std::size_t n) {
  std::fprintf(stderr, "\rvectors %zu/%zu   ", done, n);
  if (done == n) std::fprintf(stderr, "\n");
}

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

// Samples the peak RSS of every supervised daemon once a second.
class rss_monitor {
 public:
  explicit rss_monitor(supervisor* sup) : sup_(sup) {
    if (sup_) thread_ = std::thread([this] { loop(); });
  }
  ~rss_monitor() { finish(); }
  std::map<std::string, std::size_t> finish() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  void loop() {
    while (!done_) {
      for (std::size_t i = 0; i < sup_->daemons().size(); ++i) {
        auto& p = peak_[sup_->daemons()[i].name];
        p = std::max(p, sup_->rss(i));
      }
      for (int i = 0; i < 10 && !done_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  supervisor* sup_;
  std::atomic<bool> done_{false};
  std::map<std::string, std::size_t> peak_;
  std::thread thread_;
};

int cmd_corpus(int argc, char** argv) {
  po::options_description d("quiver-load corpus: writes a reproducible corpus");
  std::string out;
  std::size_t n = 100000, queries = 1000;
  corpus_recipe r;
  d.add_options()("help", "this text")("out", po::value(&out)->required(), "output directory")(
      "n", po::value(&n)->default_value(n), "records")(
      "queries", po::value(&queries)->default_value(queries), "query vectors")(
      "seed", po::value(&r.seed)->default_value(r.seed), "seed")(
      "dim", po::value(&r.dim)->default_value(r.dim), "vector dimension");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, d), vm);
  if (vm.count("help")) return std::cout << d, 0;
  po::notify(vm);
  write_corpus(out, r, n, queries, std::max(1u, std::thread::hardware_concurrency()),
               corpus_progress);
  std::fprintf(stderr, "corpus of %zu records (%zu-d) and %zu queries in %s\n", n, r.dim, queries,
               out.c_str());
  return 0;
}

int cmd_ingest(int argc, char** argv) {
  po::options_description d("quiver-load ingest: loads the corpus into an index");
  std::string targets, corpus, index = "workers";
  std::size_t batch = 500, shards = 1;
  d.add_options()("help", "this text")("target", po::value(&targets)->required(),
                                       "host:port[,host:port]")(
      "corpus", po::value(&corpus)->required(), "corpus directory")(
      "index", po::value(&index)->default_value(index), "index name")(
      "batch", po::value(&batch)->default_value(batch), "records per request")(
      "shards", po::value(&shards)->default_value(shards), "shards when creating the index");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, d), vm);
  if (vm.count("help")) return std::cout << d, 0;
  po::notify(vm);
  ingest(parse_targets(targets), corpus, index, batch, shards, true);
  return 0;
}

struct common_run {
  std::string targets, out, scenarios;
  std::vector<std::string> daemons;
  std::size_t cluster_nodes = 0;
  chaos_options chaos;
  std::string chaos_targets;
};

int cmd_run(int argc, char** argv, bool recall) {
  po::options_description d(recall ? "quiver-load recall: recall@10 under churn"
                                   : "quiver-load run: weighted scenarios, optional chaos");
  common_run c;
  load_options opt;
  recall_options ropt;
  bool do_ingest = false;
  std::size_t shards = 1;
  double timeout_s = 10;
  std::string schedule = "random";
  d.add_options()("help", "this text")("target", po::value(&c.targets)->required(),
                                       "host:port[,host:port]: the HTTP gateways")(
      "corpus", po::value(&opt.corpus_dir)->required(), "corpus directory (quiver-load corpus)")(
      "out", po::value(&c.out)->default_value("load-report"), "report directory")(
      "duration", po::value(&opt.duration_s)->default_value(60), "seconds")(
      "seed", po::value(&opt.seed)->default_value(1), "seed")(
      "timeout", po::value(&timeout_s)->default_value(timeout_s), "seconds per request")(
      "daemon", po::value(&c.daemons)->composing(),
      "NAME=COMMAND: start this daemon (in order) and own it; needed for --chaos")(
      "cluster-nodes", po::value(&c.cluster_nodes)->default_value(0),
      "with --daemon: ready (at start, after each fault) also needs this many nodes up in "
      "/v1/cluster")("no-progress", "no live progress line");
  if (recall) {
    d.add_options()("index", po::value(&ropt.index)->default_value(ropt.index),
                    "churned index (recreated)")(
        "live", po::value(&ropt.live)->default_value(ropt.live), "live vectors")(
        "writers", po::value(&ropt.writers)->default_value(ropt.writers), "concurrent writers")(
        "sample-every", po::value(&ropt.sample_every_s)->default_value(ropt.sample_every_s),
        "seconds")("sample-queries",
                   po::value(&ropt.sample_queries)->default_value(ropt.sample_queries),
                   "queries per sample");
  } else {
    d.add_options()("index", po::value(&opt.index)->default_value(opt.index), "corpus index")(
        "concurrency", po::value(&opt.concurrency)->default_value(opt.concurrency),
        "virtual users")("scenarios", po::value(&c.scenarios),
                         "scenario weights (TOML; default configs/load.toml)")(
        "ingest", po::bool_switch(&do_ingest),
        "load the corpus first (skipped when already there)")(
        "shards", po::value(&shards)->default_value(shards),
        "shards of the corpus index (with --ingest)")(
        "replicas", po::value(&opt.replicas)->default_value(opt.replicas),
        "replicas of every index it creates (0: the server's default)")(
        "chaos", po::bool_switch(&c.chaos.enabled), "inject faults into the --daemon processes")(
        "chaos-schedule", po::value(&schedule)->default_value(schedule),
        "random (exponential gaps) | periodic")(
        "chaos-interval", po::value(&c.chaos.interval_s)->default_value(c.chaos.interval_s),
        "mean seconds between faults")(
        "chaos-warmup", po::value(&c.chaos.warmup_s)->default_value(c.chaos.warmup_s),
        "seconds before the first fault")("chaos-down",
                                          po::value(&c.chaos.down_s)->default_value(c.chaos.down_s),
                                          "seconds a killed daemon stays down")(
        "chaos-stop-probability", po::value(&c.chaos.stop_probability)->default_value(0.0),
        "share of faults that SIGSTOP instead of SIGKILL")(
        "chaos-stop", po::value(&c.chaos.stop_s)->default_value(c.chaos.stop_s),
        "seconds a stopped daemon stays stopped")(
        "chaos-targets", po::value(&c.chaos_targets),
        "comma-separated daemon names to fault (default: all)");
  }
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, d), vm);
  if (vm.count("help")) return std::cout << d, 0;
  po::notify(vm);
  auto targets = parse_targets(c.targets);
  bool progress = !vm.count("no-progress");
  if (opt.duration_s <= 0 || timeout_s <= 0)
    throw std::invalid_argument("--duration and --timeout must be > 0");
  if (!recall && opt.concurrency == 0) throw std::invalid_argument("--concurrency must be > 0");
  if (recall &&
      (ropt.live == 0 || ropt.writers == 0 || ropt.sample_queries == 0 || ropt.sample_every_s <= 0))
    throw std::invalid_argument(
        "--live, --writers, --sample-queries and --sample-every must be > 0");
  if (c.chaos.interval_s <= 0 || c.chaos.down_s < 0 || c.chaos.stop_s < 0 ||
      c.chaos.stop_probability < 0 || c.chaos.stop_probability > 1)
    throw std::invalid_argument(
        "--chaos-interval must be > 0, --chaos-down and --chaos-stop >= 0, "
        "--chaos-stop-probability within [0, 1]");

  std::vector<daemon_spec> specs;
  for (auto& s : c.daemons) specs.push_back(parse_daemon_spec(s));
  if (c.chaos.enabled && specs.empty())
    throw std::invalid_argument("--chaos needs the daemons it may kill (--daemon NAME=COMMAND)");
  if (schedule != "random" && schedule != "periodic")
    throw std::invalid_argument("--chaos-schedule is random or periodic");
  c.chaos.random = schedule == "random";
  for (std::size_t at = 0; !c.chaos_targets.empty() && at <= c.chaos_targets.size();) {
    auto end = c.chaos_targets.find(',', at);
    if (end == std::string::npos) end = c.chaos_targets.size();
    c.chaos.targets.push_back(c.chaos_targets.substr(at, end - at));
    at = end + 1;
  }
  std::filesystem::create_directories(c.out);
  std::unique_ptr<supervisor> sup;
  if (!specs.empty()) {
    sup = std::make_unique<supervisor>(specs, c.out, targets, c.cluster_nodes);
    sup->start_all(std::chrono::seconds(120));
  }

  run_report report;
  rss_monitor rss(sup.get());
  auto t0 = std::chrono::steady_clock::now();
  if (recall) {
    ropt.targets = targets;
    ropt.corpus_dir = opt.corpus_dir;
    ropt.duration_s = opt.duration_s;
    ropt.seed = opt.seed;
    ropt.progress = progress;
    ropt.timeout = std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
    report = run_recall(ropt);
  } else {
    opt.targets = targets;
    opt.progress = progress;
    opt.timeout = std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
    if (c.scenarios.empty()) {
      c.scenarios = "configs/load.toml";
      if (!std::filesystem::exists(c.scenarios))
        throw std::invalid_argument(
            "no --scenarios given and configs/load.toml is not here (run from the repository "
            "root or pass --scenarios FILE)");
    }
    read_scenario_file(c.scenarios, opt);
    if (do_ingest) {
      ingest(targets, opt.corpus_dir, opt.index, 500, shards, progress, 0, opt.replicas);
      auto n = read_corpus_info(opt.corpus_dir).n;
      auto preload = static_cast<std::size_t>(opt.write_preload * double(n));
      // One shard, as the run itself creates the write index (--shards is the corpus's).
      if (preload)
        ingest(targets, opt.corpus_dir, write_index_name(opt), 500, 1, progress, preload,
               opt.replicas);
      if (uses_text_index(opt))
        ingest(targets, opt.corpus_dir, text_index_name(opt), 500, shards, progress, 0,
               opt.replicas, opt.text_dim);
    }
    t0 = std::chrono::steady_clock::now();
    std::unique_ptr<chaos_monkey> monkey;
    std::thread chaos_thread;
    if (c.chaos.enabled) {
      monkey = std::make_unique<chaos_monkey>(*sup, c.chaos, opt.seed, t0, opt.duration_s);
      chaos_thread = std::thread([&] {
        try {
          monkey->run();
        } catch (const std::exception& e) {
          // The fault in progress stays unrecovered in the report, which fails the run.
          std::fprintf(stderr, "quiver-load: chaos stopped: %s\n", e.what());
        }
      });
    }
    try {
      report = run_load(opt, monkey.get(), t0);
    } catch (...) {
      if (monkey) monkey->stop(), chaos_thread.join();
      throw;
    }
    report.mode = c.chaos.enabled ? "chaos" : "load";
    if (monkey) {
      monkey->stop();
      chaos_thread.join();
      report.chaos = monkey->events();
    }
  }
  report.command = joined(argc, argv);
  report.rss_bytes = rss.finish();
  bool clean_stop = true;
  if (sup) clean_stop = sup->stop_all(std::chrono::seconds(60));

  std::cout << summary_table(report);
  for (auto& f : write_report(report, c.out)) std::fprintf(stderr, "wrote %s\n", f.c_str());
  bool ok = report.total_failed() == 0 && clean_stop;
  if (report.verify) ok = ok && report.verify->lost == 0 && report.verify->unreadable == 0;
  for (auto& e : report.chaos) ok = ok && e.ready_s >= 0;
  if (!clean_stop) std::fprintf(stderr, "quiver-load: a daemon did not stop on SIGTERM\n");
  return ok ? 0 : 1;
}

void usage() {
  std::cerr << "usage: quiver-load corpus|ingest|run|recall [options]   (each takes --help)\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(), kExitUsage;
  std::string cmd = argv[1];
  try {
    if (cmd == "corpus") return cmd_corpus(argc - 1, argv + 1);
    if (cmd == "ingest") return cmd_ingest(argc - 1, argv + 1);
    if (cmd == "run") return cmd_run(argc - 1, argv + 1, false);
    if (cmd == "recall") return cmd_run(argc - 1, argv + 1, true);
    if (cmd == "--help" || cmd == "-h") return usage(), 0;
    usage();
    return kExitUsage;
  } catch (const po::error& e) {
    std::cerr << "quiver-load " << cmd << ": " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "quiver-load " << cmd << ": " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "quiver-load " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
