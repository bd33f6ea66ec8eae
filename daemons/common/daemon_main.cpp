#include "daemons/common/daemon_main.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>
#include <boost/program_options.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common/config.hpp"
#include "common/index_params.hpp"
#include "common/logging.hpp"
#include "common/metrics.hpp"
#include "common/parse.hpp"
#include "daemons/gateway/http_api.hpp"
#include "daemons/gateway/http_server.hpp"
#include "etcd/etcd_client.hpp"
#include "matrix/embedder.hpp"
#include "net/tls_tunnel.hpp"

namespace po = boost::program_options;

namespace quiver {

namespace {

const char* role_name(node_role role) {
  switch (role) {
    case node_role::standalone:
      return "quiver";
    case node_role::storaged:
      return "storaged";
    case node_role::vectord:
      return "vectord";
    case node_role::gatewayd:
      return "gatewayd";
  }
  return "quiver";
}

const char* role_summary(node_role role) {
  switch (role) {
    case node_role::standalone:
      return "standalone Quiver server (all actors and the HTTP gateway in one process)";
    case node_role::storaged:
      return "Quiver storage daemon (shard logs, catalog; serves vectord over CAF)";
    case node_role::vectord:
      return "Quiver index daemon (index actors; storage from storaged, serves gatewayd)";
    case node_role::gatewayd:
      return "Quiver HTTP gateway (router; talks to vectord over CAF)";
  }
  return "";
}

// Parses "host:port".
bool parse_endpoint(const std::string& text, endpoint& out, bool any_port = false) {
  auto parsed = parse_host_port(text, any_port);
  if (!parsed) return false;
  out.host = parsed->first;
  out.port = parsed->second;
  return true;
}

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

int daemon_main(node_role role, int argc, char** argv) {
  // Blocks of 256 KB and more (request bodies, batches, log buffers) go back to
  // the system when freed. glibc's default threshold rises to the largest block
  // freed so far, after which a bulk load's megabyte bodies stay in the free
  // lists: about 70 MB of RSS no index holds after loading 100k x 768.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  const bool http = role == node_role::standalone || role == node_role::gatewayd;
  const bool storage = role == node_role::standalone || role == node_role::storaged;
  const bool index = role == node_role::standalone || role == node_role::vectord;
  const std::string name = role_name(role);

  po::options_description desc(name + ": " + role_summary(role));
  auto add = desc.add_options();
  add("help,h", "show this help");
  add("config,c", po::value<std::string>(), "TOML config file (configs/standalone.toml)");
  add("log-level", po::value<std::string>(), "trace|debug|info|warn|error|off");
  add("scheduler-policy", po::value<std::string>(), "CAF scheduler: sharing|stealing");
  add("max-threads", po::value<unsigned>(), "CAF worker threads");
  if (http) {
    add("host", po::value<std::string>(), "HTTP listen address (default 127.0.0.1)");
    add("port,p", po::value<unsigned>(), "HTTP listen port (default 4210; 0 picks a free one)");
    add("io-threads", po::value<unsigned>(), "HTTP I/O threads");
    add("max-body-bytes", po::value<std::size_t>(), "largest accepted request body");
    add("max-batch", po::value<std::size_t>(), "most items per batch request");
    add("request-timeout-ms", po::value<std::uint32_t>(), "actor reply timeout, then 503");
  }
  add("allow-insecure",
      "allow a non-loopback address without auth (HTTP) or without peer TLS (daemons)");
  if (storage || role == node_role::vectord) {
    add("data-dir", po::value<std::string>(),
        role == node_role::vectord ? "with --replica-logs: this node's data directory"
                                   : "data directory (default ./quiver-data)");
    add("fsync", po::value<std::string>(), "always|group|none");
  }
  if (role == node_role::storaged || role == node_role::vectord)
    add("replica-logs",
        "cluster: each vectord keeps its replicas' logs and snapshots in its own data dir "
        "(every daemon of the cluster alike)");
  if (role == node_role::storaged || role == node_role::vectord)
    add("write-quorum", po::value<std::uint32_t>(),
        "the coordinator (storaged, or a vectord with --coordinator-listen), with "
        "--replica-logs: copies (the primary's included) each write must reach besides every "
        "in-sync replica, at most an index's replicas (default 1)");
  if (index) {
    add("search-workers", po::value<unsigned>(), "reader actors running searches");
    add("insert-threads", po::value<unsigned>(), "threads inserting one large batch");
    add("write-nice", po::value<int>(), "CPU niceness of graph inserts, 0-19");
    add("no-direct-reads", "every search through the actors (standalone)");
    add("snapshot-every-records", po::value<std::uint64_t>(), "records between shard snapshots");
    add("snapshot-interval-s", po::value<std::uint32_t>(), "seconds between shard snapshots");
    add("snapshot-replay-budget-ms", po::value<std::uint32_t>(),
        "snapshot once replaying the log tail would take this long (0: off)");
  }
  if (role == node_role::storaged || role == node_role::vectord)
    add("listen", po::value<std::string>(), "CAF endpoint to serve, host:port (port 0: any free)");
  if (role == node_role::vectord) add("storaged", po::value<std::string>(), "storaged's host:port");
  if (role == node_role::gatewayd)
    add("vectord", po::value<std::string>(), "vectord's host:port (three-process mode)");
  if (role == node_role::storaged) {
    add("coordinator-listen", po::value<std::string>(),
        "cluster mode: serve the coordinator at host:port");
  }
  if (role == node_role::storaged || role == node_role::vectord)
    add("node-timeout-ms", po::value<std::uint32_t>(),
        "the coordinator: a vectord silent this long is down (default 2000)");
  if (role == node_role::vectord || role == node_role::gatewayd)
    add("coordinator", po::value<std::string>(),
        "cluster mode: the coordinator's host:port (with --etcd and without this: the elected "
        "one, wherever it runs)");
  if (role == node_role::vectord)
    add("coordinator-listen", po::value<std::string>(),
        "with --etcd and --replica-logs: also host a coordinator, served at host:port, that "
        "campaigns to lead the cluster (no storaged needed)");
  if (role != node_role::standalone) {
    add("etcd", po::value<std::string>(),
        "cluster mode: the metadata store, host:port[,host:port...] (or [etcd] endpoints)");
    add("peer-cert", po::value<std::string>(),
        "mutual TLS between daemons: this daemon's certificate (PEM; or [peer_tls] cert)");
    add("peer-key", po::value<std::string>(), "mutual TLS between daemons: its private key");
    add("peer-ca", po::value<std::string>(), "mutual TLS between daemons: the cluster's CA");
    add("etcd-ca", po::value<std::string>(), "HTTPS to etcd: the members' CA (or [etcd] ca)");
    add("etcd-cert", po::value<std::string>(), "HTTPS to etcd: this daemon's client certificate");
    add("etcd-key", po::value<std::string>(), "HTTPS to etcd: its private key");
  }
  if (role == node_role::vectord) {
    add("node-name", po::value<std::string>(), "cluster: this node's unique name");
    add("debug-forward-delay-ms", po::value<std::uint32_t>(),
        "fault injection for tests: replicate committed records this late");
    add("debug-append-delay-ms", po::value<std::uint32_t>(),
        "fault injection for tests: send log appends this late");
  }

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  auto usage_error = [&](const std::string& what) {
    std::cerr << name << ": " << what << "\n";
    return 2;
  };

  quiver_config config;
  if (vm.count("config")) {
    auto loaded = load_config(vm["config"].as<std::string>());
    if (!loaded) return usage_error(loaded.error().message);
    config = std::move(*loaded);
  } else {
    apply_environment(config);
  }
  auto& s = config.server;
  auto& a = config.actors;
  if (vm.count("host")) s.host = vm["host"].as<std::string>();
  if (vm.count("port")) {
    auto port = vm["port"].as<unsigned>();
    if (port > 65535) return usage_error("--port must be at most 65535");
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
  if (vm.count("write-nice")) a.write_nice = vm["write-nice"].as<int>();
  if (vm.count("allow-insecure")) s.allow_insecure = true;
  if (vm.count("no-direct-reads")) a.direct_reads = false;
  if (vm.count("fsync")) config.storage.fsync = vm["fsync"].as<std::string>();
  if (vm.count("snapshot-every-records"))
    config.storage.snapshot_every_records = vm["snapshot-every-records"].as<std::uint64_t>();
  if (vm.count("snapshot-interval-s"))
    config.storage.snapshot_interval_s = vm["snapshot-interval-s"].as<std::uint32_t>();
  if (vm.count("snapshot-replay-budget-ms"))
    config.storage.snapshot_replay_budget_ms = vm["snapshot-replay-budget-ms"].as<std::uint32_t>();
  if (vm.count("peer-cert")) config.peer_tls.cert = vm["peer-cert"].as<std::string>();
  if (vm.count("peer-key")) config.peer_tls.key = vm["peer-key"].as<std::string>();
  if (vm.count("peer-ca")) config.peer_tls.ca = vm["peer-ca"].as<std::string>();
  if (vm.count("etcd-ca")) config.etcd.ca = vm["etcd-ca"].as<std::string>();
  if (vm.count("etcd-cert")) config.etcd.cert = vm["etcd-cert"].as<std::string>();
  if (vm.count("etcd-key")) config.etcd.key = vm["etcd-key"].as<std::string>();
  if (auto st = validate_config(config); !st.ok()) return usage_error(st.message);
  if (auto st = check_peer_tls(config.peer_tls); !st.ok()) return usage_error(st.message);
  const bool peer_tls = config.peer_tls.enabled();

  runtime_options ro;
  ro.role = role;
  ro.actors = config.actors;
  ro.request_timeout_ms = s.request_timeout_ms;
  ro.index.insert_threads = a.insert_threads;
  ro.storage = config.storage;
  ro.peer_tls = config.peer_tls;
  if (vm.count("listen") && !parse_endpoint(vm["listen"].as<std::string>(), ro.publish, true))
    return usage_error("--listen takes host:port");
  auto insecure_caf = [&](const std::string& host) {
    return usage_error("refusing to serve CAF on " + host +
                       " (not loopback) without mutual TLS: set [peer_tls] cert, key and ca "
                       "(or --peer-cert, --peer-key, --peer-ca), or --allow-insecure");
  };
  if (!is_loopback_host(ro.publish.host) && !peer_tls && !s.allow_insecure)
    return insecure_caf(ro.publish.host);
  auto& cl = ro.cluster;
  const char* coordinator = role == node_role::storaged ? "coordinator-listen" : "coordinator";
  if (vm.count(coordinator)) {
    cl.enabled = true;
    if (!parse_endpoint(vm[coordinator].as<std::string>(), cl.coordinator,
                        role == node_role::storaged))
      return usage_error(std::string("--") + coordinator + " takes host:port");
    if (!is_loopback_host(cl.coordinator.host) && !peer_tls && !s.allow_insecure)
      return insecure_caf(cl.coordinator.host);
  }
  // On etcd a vectord or gateway may find the coordinator by the controller key.
  if (role != node_role::storaged && !vm.count(coordinator) &&
      (vm.count("etcd") || !config.etcd.endpoints.empty())) {
    cl.enabled = true;
    cl.locate_coordinator = true;
  }
  if (role == node_role::vectord && vm.count("coordinator-listen")) {
    if (!parse_endpoint(vm["coordinator-listen"].as<std::string>(), cl.coordinator_listen, true))
      return usage_error("--coordinator-listen takes host:port");
    if (!is_loopback_host(cl.coordinator_listen.host) && !peer_tls && !s.allow_insecure)
      return insecure_caf(cl.coordinator_listen.host);
    if (vm.count(coordinator))
      return usage_error(
          "--coordinator-listen makes this vectord one of the cluster's coordinators: the elected "
          "one is found in etcd, so leave --coordinator out");
    cl.host_coordinator = true;
  }
  if (vm.count("node-timeout-ms"))
    cl.node_timeout_ms = std::max(500u, vm["node-timeout-ms"].as<std::uint32_t>());
  if (vm.count("node-name")) cl.node_name = vm["node-name"].as<std::string>();
  cl.replica_logs = vm.count("replica-logs") > 0;
  if (cl.host_coordinator && (!cl.replica_logs || !cl.locate_coordinator))
    return usage_error(
        "--coordinator-listen needs --etcd and --replica-logs: a coordinator on a vectord keeps "
        "no shard logs, so every replica keeps its own, and the cluster elects it in etcd");
  if (cl.replica_logs && !cl.enabled)
    return usage_error("--replica-logs is for cluster mode: give --" + std::string(coordinator) +
                       " too");
  if (role == node_role::vectord && !cl.host_coordinator &&
      (vm.count("write-quorum") || vm.count("node-timeout-ms")))
    return usage_error(
        "--write-quorum and --node-timeout-ms are the coordinator's: give --coordinator-listen "
        "too, or set them where the coordinator runs");
  if (vm.count("write-quorum")) {
    if (!cl.replica_logs)
      return usage_error("--write-quorum is for a log on every replica: give --replica-logs too");
    cl.write_quorum = vm["write-quorum"].as<std::uint32_t>();
    if (cl.write_quorum < 1 || cl.write_quorum > index_limits::max_replicas)
      return usage_error("--write-quorum takes 1 to " + std::to_string(index_limits::max_replicas));
  }
  if (role == node_role::vectord && cl.replica_logs && !vm.count("data-dir"))
    return usage_error("--replica-logs needs --data-dir: the node keeps its replicas' logs");
  const bool owns_data = storage || (role == node_role::vectord && cl.replica_logs);
  if (vm.count("debug-forward-delay-ms"))
    cl.forward_delay_ms = vm["debug-forward-delay-ms"].as<std::uint32_t>();
  if (vm.count("debug-append-delay-ms"))
    cl.append_delay_ms = vm["debug-append-delay-ms"].as<std::uint32_t>();
  cl.etcd = config.etcd;
  if (vm.count("etcd")) cl.etcd.endpoints = vm["etcd"].as<std::string>();
  if (!cl.etcd.endpoints.empty() && cl.etcd.ca.empty() && !s.allow_insecure) {
    auto endpoints = etcd::parse_endpoints(cl.etcd.endpoints);
    for (auto& ep : endpoints ? *endpoints : std::vector<etcd::endpoint>{})
      if (!is_loopback_host(ep.host))
        return usage_error("refusing to talk to etcd at " + ep.host +
                           " (not loopback) without TLS: set [etcd] ca, cert and key (or "
                           "--etcd-ca, --etcd-cert, --etcd-key), or --allow-insecure");
  }
  if (!cl.etcd.endpoints.empty() && !cl.enabled)
    return usage_error(std::string("etcd is for cluster mode: give --") + coordinator + " too");
  const char* upstream = role == node_role::vectord ? "storaged" : "vectord";
  if ((role == node_role::vectord && !cl.replica_logs) ||
      (role == node_role::gatewayd && !cl.enabled)) {
    if (!vm.count(upstream)) return usage_error(std::string("--") + upstream + " is required");
    if (!parse_endpoint(vm[upstream].as<std::string>(), ro.upstream))
      return usage_error(std::string("--") + upstream + " takes host:port");
  }

  init_logging(config.log.level);
  int lock_fd = -1;
  if (owns_data) {
    // Absolute: vectord writes snapshots under paths storaged hands out.
    std::error_code ec;
    auto abs = std::filesystem::absolute(config.storage.data_dir, ec);
    if (!ec) ro.storage.data_dir = abs.lexically_normal().string();
    lock_fd = lock_data_dir(ro.storage.data_dir);
    if (lock_fd < 0) return 1;
  }

  // Daemons without HTTP wait for a signal here; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (!http) pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Embedders load first: a fastText model that cannot be read stops the start.
  std::shared_ptr<const matrix::embedder_set> embedders;
  if (http) {
    auto loaded = matrix::embedder_set::load(s.embedders);
    if (!loaded) {
      spdlog::critical("{}", loaded.error().message);
      return 1;
    }
    embedders = std::move(*loaded);
  }

  // The runtime outlives the server's I/O: late actor replies may still post to it.
  auto started = node_runtime::start(ro);
  if (!started) {
    spdlog::critical("{}", started.error().message);
    return 1;
  }
  // The server is declared before the runtime so that it is destroyed after it: a
  // reply callback the actors still hold keeps its HTTP session alive, and the
  // session must close its socket while the server's io_context exists.
  std::unique_ptr<http_metrics> metrics;
  std::unique_ptr<http_api> api;
  std::unique_ptr<http_server> server;
  auto runtime = std::move(*started);
  if (http) {
    metrics = std::make_unique<http_metrics>();
    api = std::make_unique<http_api>(runtime->client(), *metrics, s, config.auth,
                                     std::move(embedders));
    server = std::make_unique<http_server>(s, *api, config.tls);
    if (auto st = server->listen(); !st.ok()) {
      spdlog::critical("{}", st.message);
      return 1;
    }
    if (!is_loopback_host(s.host) && !config.tls.enabled())
      spdlog::warn(
          "SERVING {} WITHOUT TLS: API keys and data cross the network in the clear; set "
          "[tls] cert and key",
          s.host);
    spdlog::info("{} listening on {}://{}:{} ({}scheduler {} x{}, {} I/O threads, auth {}{})", name,
                 config.tls.enabled() ? "https" : "http", s.host, server->port(),
                 owns_data
                     ? "data dir " + ro.storage.data_dir + ", fsync " + ro.storage.fsync + ", "
                     : std::string(),
                 a.scheduler_policy, runtime->scheduler_workers(), s.io_threads,
                 config.auth.admin_key.empty() ? "off" : "on",
                 config.tls.client_ca.empty() ? "" : ", client certificates required");
    server->run();
    api->shutdown();  // backups and restores wait on actors: end them while those run
  } else {
    if (runtime->coordinator_port() != 0)
      spdlog::info("coordinator serving on caf://{}:{}",
                   cl.host_coordinator ? cl.coordinator_listen.host : cl.coordinator.host,
                   runtime->coordinator_port());
    spdlog::info(
        "{} listening on caf://{}:{}{}{}", name, ro.publish.host, runtime->published_port(),
        owns_data ? " (data dir " + ro.storage.data_dir + ", fsync " + ro.storage.fsync + ")"
                  : std::string(),
        peer_tls ? ", peers with mutual TLS only" : "");
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {}: shutting down", sig);
  }
  runtime->stop();  // every actor; no reply can reach the server after this
  spdlog::info("{} stopped", name);
  if (lock_fd >= 0) ::close(lock_fd);
  if (role == node_role::storaged) {
    // CAF 0.17 can wait forever in the actor system's destructor for a detached
    // actor (storage) the middleman saw; everything is durable and stopped by now.
    spdlog::shutdown();
    std::_Exit(0);
  }
  runtime.reset();
  return 0;
}

}  // namespace quiver
