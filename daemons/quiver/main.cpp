// quiver: the standalone server. All actors (registry, router, index shards, reader
// pool) and the HTTP gateway in one process, bound to loopback by default.

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>
#include <boost/program_options.hpp>

#include <filesystem>
#include <iostream>

#include "actors/runtime/node_runtime.hpp"
#include "common/config.hpp"
#include "common/logging.hpp"
#include "common/metrics.hpp"
#include "daemons/gateway/http_api.hpp"
#include "daemons/gateway/http_server.hpp"

namespace po = boost::program_options;

namespace {

// Holds an exclusive lock on <data_dir>/LOCK for the process's lifetime, so two
// servers never share a data directory.
int lock_data_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    spdlog::critical("cannot create data dir {}: {}", dir, ec.message());
    return -1;
  }
  auto path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::critical("data dir {} is in use by another process", dir);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("quiver: standalone Quiver server (all actors in one process)");
  desc.add_options()("help,h", "show this help")("config,c", po::value<std::string>(),
                                                 "TOML config file (configs/standalone.toml)")(
      "host", po::value<std::string>(), "listen address (default 127.0.0.1)")(
      "port,p", po::value<unsigned>(), "listen port (default 4210; 0 picks a free one)")(
      "data-dir", po::value<std::string>(), "data directory (default ./quiver-data)")(
      "log-level", po::value<std::string>(), "trace|debug|info|warn|error|off")(
      "io-threads", po::value<unsigned>(), "HTTP I/O threads")(
      "max-body-bytes", po::value<std::size_t>(), "largest accepted request body")(
      "max-batch", po::value<std::size_t>(), "most items per batch request")(
      "request-timeout-ms", po::value<std::uint32_t>(), "actor reply timeout, then 503")(
      "scheduler-policy", po::value<std::string>(), "CAF scheduler: sharing|stealing")(
      "max-threads", po::value<unsigned>(), "CAF worker threads")(
      "search-workers", po::value<unsigned>(), "reader actors running searches")(
      "insert-threads", po::value<unsigned>(), "threads inserting one large batch")(
      "allow-insecure", "allow a non-loopback address without auth")(
      "fsync", po::value<std::string>(), "always|group|none")(
      "snapshot-every-records", po::value<std::uint64_t>(), "records between shard snapshots")(
      "snapshot-interval-s", po::value<std::uint32_t>(), "seconds between shard snapshots");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "quiver: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }

  quiver::quiver_config config;
  if (vm.count("config")) {
    auto loaded = quiver::load_config(vm["config"].as<std::string>());
    if (!loaded) {
      std::cerr << "quiver: " << loaded.error().message << "\n";
      return 2;
    }
    config = std::move(*loaded);
  }
  auto& s = config.server;
  auto& a = config.actors;
  if (vm.count("host")) s.host = vm["host"].as<std::string>();
  if (vm.count("port")) {
    auto port = vm["port"].as<unsigned>();
    if (port > 65535) {
      std::cerr << "quiver: --port must be at most 65535\n";
      return 2;
    }
    s.port = static_cast<std::uint16_t>(port);
  }
  if (vm.count("data-dir")) config.storage.data_dir = vm["data-dir"].as<std::string>();
  if (vm.count("log-level")) config.log.level = vm["log-level"].as<std::string>();
  if (vm.count("io-threads")) s.io_threads = std::max(1u, vm["io-threads"].as<unsigned>());
  if (vm.count("max-body-bytes")) s.max_body_bytes = vm["max-body-bytes"].as<std::size_t>();
  if (vm.count("max-batch")) s.max_batch = vm["max-batch"].as<std::size_t>();
  if (vm.count("request-timeout-ms"))
    s.request_timeout_ms = vm["request-timeout-ms"].as<std::uint32_t>();
  if (vm.count("scheduler-policy")) a.scheduler_policy = vm["scheduler-policy"].as<std::string>();
  if (vm.count("max-threads")) a.max_threads = std::max(1u, vm["max-threads"].as<unsigned>());
  if (vm.count("search-workers"))
    a.search_workers = std::max(1u, vm["search-workers"].as<unsigned>());
  if (vm.count("insert-threads"))
    a.insert_threads = std::max(1u, vm["insert-threads"].as<unsigned>());
  if (vm.count("allow-insecure")) s.allow_insecure = true;
  if (vm.count("fsync")) config.storage.fsync = vm["fsync"].as<std::string>();
  if (vm.count("snapshot-every-records"))
    config.storage.snapshot_every_records = vm["snapshot-every-records"].as<std::uint64_t>();
  if (vm.count("snapshot-interval-s"))
    config.storage.snapshot_interval_s = vm["snapshot-interval-s"].as<std::uint32_t>();
  if (auto st = quiver::validate_config(config); !st.ok()) {
    std::cerr << "quiver: " << st.message << "\n";
    return 2;
  }

  quiver::init_logging(config.log.level);
  int lock_fd = lock_data_dir(config.storage.data_dir);
  if (lock_fd < 0) return 1;

  quiver::runtime_options ro;
  ro.actors = config.actors;
  ro.request_timeout_ms = s.request_timeout_ms;
  ro.index.insert_threads = a.insert_threads;
  ro.storage = config.storage;
  // The runtime outlives the server's I/O: late actor replies may still post to it.
  auto started = quiver::node_runtime::start(ro);
  if (!started) {
    spdlog::critical("{}", started.error().message);
    return 1;
  }
  auto runtime = std::move(*started);
  quiver::http_metrics metrics;
  quiver::http_api api(runtime->client(), metrics, s);
  quiver::http_server server(s, api);
  if (auto st = server.listen(); !st.ok()) {
    spdlog::critical("{}", st.message);
    return 1;
  }
  spdlog::info("quiver listening on http://{}:{} (data dir {}, scheduler {} x{}, {} I/O threads)",
               s.host, server.port(), config.storage.data_dir, a.scheduler_policy,
               runtime->scheduler_workers(), s.io_threads);
  server.run();
  runtime.reset();  // stops every actor; no reply can reach the server after this
  spdlog::info("quiver stopped");
  ::close(lock_fd);
  return 0;
}
