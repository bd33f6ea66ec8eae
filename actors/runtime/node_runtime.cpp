#include "actors/runtime/node_runtime.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "actors/controller/controller_locator.hpp"
#include "actors/controller/controller_metadata.hpp"
#include "actors/controller/metadata_follower.hpp"
#include "actors/controller/node_registration.hpp"
#include "actors/index/index_actor.hpp"
#include "actors/node/node_actor.hpp"
#include "actors/registry/index_registry.hpp"
#include "actors/router/router_actor.hpp"
#include "actors/runtime/actor_router_client.hpp"
#include "actors/storage/storage_actor.hpp"
#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"
#include "actors/wire/link_actor.hpp"
#include "actors/wire/peer_transport.hpp"
#include "actors/wire/protocol.hpp"
#include "common/job_pool.hpp"
#include "common/parse.hpp"
#include "net/tls_tunnel.hpp"

namespace quiver {

namespace {

using beat_atom = caf::atom_constant<caf::atom("gwbeat")>;

// A cluster's gateway beats the coordinator every second and keeps the count of
// gateways it answers, which divides each tenant's request rate among them.
caf::behavior gateway_beater(caf::event_based_actor* self, caf::actor coordinator, std::string name,
                             std::shared_ptr<std::atomic<std::uint32_t>> count) {
  self->send(self, beat_atom::value);
  return {[=](beat_atom) {
    self->request(coordinator, std::chrono::seconds(2), gateway_beat{name})
        .then([count](std::uint32_t n) { count->store(std::max<std::uint32_t>(1, n)); },
              [](caf::error&) {});  // keeps the last count until the coordinator answers
    self->delayed_send(self, std::chrono::seconds(1), beat_atom::value);
  }};
}

void configure(caf::actor_system_config& cfg, const runtime_options& o) {
  register_message_types(cfg);
  const auto& c = o.actors;
  cfg.set("scheduler.policy",
          c.scheduler_policy == "stealing" ? caf::atom("stealing") : caf::atom("sharing"));
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(c.max_threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  if (o.role != node_role::standalone) {
    cfg.load<caf::io::middleman>();
    // Off by default in CAF: without heartbeats a hung peer (or a handshake that
    // never completes) holds a connection, and every request through it, forever.
    cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(250)});
    cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(2)});
  }
}

// Connects to a published actor, retrying for a few seconds (the daemon may be
// starting).
expected<caf::actor> connect(caf::actor_system& sys, const endpoint& to, int attempts) {
  std::string last;
  for (int i = 0; i < attempts; ++i) {
    auto h = connect_to_peer(sys, to.host, to.port);
    if (h) {
      auto where = to.host + ":" + std::to_string(to.port);
      auto st = check_peer_protocol(sys, *h, where);
      if (st.ok()) return *h;
      if (st.code == errc::invalid_argument) return st;  // another build: retrying cannot help
      last = st.message;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      continue;
    }
    last = h.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return make_status(errc::unavailable,
                     "cannot reach " + to.host + ":" + std::to_string(to.port) + ": " + last);
}

// The client of the cluster's etcd, after checking that it answers: a daemon
// pointed at an etcd it cannot reach says so and does not start.
expected<std::unique_ptr<etcd::client>> open_etcd(const etcd_config& c) {
  auto endpoints = etcd::parse_endpoints(c.endpoints);
  if (!endpoints) return endpoints.error();
  etcd::client_options o;
  o.endpoints = std::move(*endpoints);
  o.dial_timeout = std::chrono::milliseconds(c.dial_timeout_ms);
  o.request_timeout = std::chrono::milliseconds(c.request_timeout_ms);
  o.retries = c.retries;
  o.watch_idle_timeout = std::chrono::milliseconds(c.watch_idle_timeout_ms);
  o.ca = c.ca;
  o.cert = c.cert;
  o.key = c.key;
  auto client = etcd::make_http_client(std::move(o));
  if (auto probe = client->range(c.prefix + "v1/controller"); !probe)
    return make_status(
        probe.error().code == errc::invalid_argument ? errc::invalid_argument : errc::unavailable,
        "cannot reach etcd at " + c.endpoints + ": " + probe.error().message);
  return client;
}

// Waits until the registry has read the catalog, so the first request after start
// cannot see "no such index" for an index that exists. Indexes recover afterwards.
status await_catalog(caf::actor_system& sys, const caf::actor& registry,
                     std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  for (int attempt = 0; attempt < 600; ++attempt) {
    bool loaded = false;
    self->request(registry, timeout, readiness_request{})
        .receive(
            [&](readiness_reply& r) {
              loaded = std::find(r.missing.begin(), r.missing.end(), "catalog") == r.missing.end();
            },
            [](caf::error&) {});
    if (loaded) return status::success();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return make_status(errc::unavailable, "the catalog could not be read within 30 s");
}

}  // namespace

struct node_runtime::impl {
  // Mutual TLS to peers: outlives the actor system, whose connections it carries.
  std::shared_ptr<tls_tunnel> tunnel;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::shared_ptr<job_pool> jobs, writers;
  caf::actor storage, persistence, readers, registry, router;
  std::vector<caf::actor> bridges;
  std::shared_ptr<read_board> board;  // standalone with direct reads
  std::unique_ptr<router_client> client;
  std::uint16_t published = 0;
  caf::actor published_actor;
  std::uint16_t coordinator_port = 0;
  caf::actor coordinator;       // hosted here (storaged, or a vectord that campaigns too)
  std::string coordinator_at;   // where it is served, host:port
  caf::actor coordinator_link;  // vectord: to the cluster's (elected) coordinator
  caf::actor beater;            // a cluster's gateway: its beats to the coordinator
  // etcd (cluster with etcd endpoints): the controller's store and worker
  // (storaged), the node's client and registration (vectord), the gateway's
  // client and map follower (gatewayd).
  std::shared_ptr<controller_metadata> controller;
  std::unique_ptr<etcd::client> etcd;
  std::unique_ptr<node_registration> registration;
  std::unique_ptr<metadata_follower> follower;
  std::unique_ptr<controller_locator> locator;  // points `link` at the elected coordinator
  bool stopped = false;

  // Spawns the cluster's coordinator over `persistence` (storaged's storage;
  // null on a vectord: nothing to mirror or fence) and serves it at `at`. On
  // etcd it campaigns under the address it is served at, once served.
  status start_coordinator(const runtime_options& options, caf::actor persistence,
                           const endpoint& at, const std::string& kind) {
    auto& sys = *system;
    auto timeout = std::chrono::milliseconds(options.request_timeout_ms);
    auto env = std::make_shared<index_actor_env>();
    env->persistence = std::move(persistence);
    env->usage = std::make_shared<usage_book>();
    env->timeout = std::max(timeout, std::chrono::milliseconds(60000));
    coordinator_options co;
    co.heartbeat = std::chrono::milliseconds(options.cluster.heartbeat_ms);
    co.node_timeout = std::chrono::milliseconds(options.cluster.node_timeout_ms);
    co.replica_logs = options.cluster.replica_logs;
    co.write_quorum = options.cluster.write_quorum;
    if (!options.cluster.etcd.endpoints.empty()) {
      auto client = open_etcd(options.cluster.etcd);
      if (!client) return client.error();
      auto meta = std::make_shared<controller_metadata>();
      meta->etcd = std::move(*client);
      meta->store =
          std::make_unique<metadata_store>(*meta->etcd, metadata_keys(options.cluster.etcd.prefix));
      meta->catalog = std::make_unique<catalog_store>(*meta->etcd, *meta->store);
      meta->lease_ttl = std::chrono::seconds(options.cluster.etcd.controller_lease_s);
      co.metadata = meta;
      controller = std::move(meta);
    }
    coordinator = spawn_coordinator(sys, env, co);
    // On etcd the catalog is read once elected, which may mean waiting out
    // an earlier controller's lease; until then requests are answered 503.
    if (!co.metadata)
      if (auto st = await_catalog(sys, coordinator, timeout); !st.ok()) return st;
    auto port = publish_to_peers(sys, coordinator, at.host, at.port);
    if (!port)
      return make_status(errc::unavailable,
                         "cannot publish the coordinator: " + port.error().message);
    coordinator_port = *port;
    coordinator_at = at.host + ":" + std::to_string(*port);
    if (co.metadata) announce_controller(coordinator, kind + "@" + coordinator_at, coordinator_at);
    return status::success();
  }

  // The link to the cluster's coordinator: a fixed address, or (located) the
  // one the controller key names, followed as it moves.
  expected<caf::actor> link_to_coordinator(const runtime_options& options) {
    auto& sys = *system;
    if (!options.cluster.locate_coordinator) {
      auto& at = options.cluster.coordinator;
      auto h = connect(sys, at, 40);
      if (!h) return std::move(h).error();
      return spawn_link_actor(sys, *h, at.host, at.port);
    }
    auto link = spawn_link_actor(sys, caf::actor{});
    locator = std::make_unique<controller_locator>(
        *etcd, metadata_keys(options.cluster.etcd.prefix),
        [link, local = coordinator, own = coordinator_at](const controller_record& c) {
          auto at = parse_host_port(c.address);
          if (!at) return spdlog::warn("the controller key names a bad address: {}", c.address);
          retarget_link(link, c.address == own ? local : caf::actor{}, at->first, at->second);
        },
        [local = coordinator] {
          if (local) controller_vacant(local);
        });
    return link;
  }
};

node_runtime::node_runtime() : impl_(std::make_unique<impl>()) {}

expected<std::unique_ptr<node_runtime>> node_runtime::start(const runtime_options& options) {
  std::unique_ptr<node_runtime> rt(new node_runtime());
  auto& d = *rt->impl_;
  configure(d.cfg, options);
  d.system = std::make_unique<caf::actor_system>(d.cfg);
  auto& sys = *d.system;
  if (options.role != node_role::standalone && options.peer_tls.enabled()) {
    auto tunnel = tls_tunnel::start(options.peer_tls);
    if (!tunnel) return std::move(tunnel).error();
    d.tunnel = std::move(*tunnel);
    attach_peer_tunnel(sys, d.tunnel);
  }
  auto timeout = std::chrono::milliseconds(options.request_timeout_ms);
  auto role = options.role;
  // Serves `a` to other daemons over CAF's middleman at options.publish.
  auto publish = [&](const caf::actor& a) -> status {
    auto port = publish_to_peers(sys, a, options.publish.host, options.publish.port);
    if (!port) return make_status(errc::unavailable, "cannot publish: " + port.error().message);
    d.published = *port;
    d.published_actor = a;
    return status::success();
  };

  const bool own_storage = role == node_role::standalone || role == node_role::storaged ||
                           (role == node_role::vectord && options.cluster.replica_logs);
  if (own_storage) {
    storage_options so;
    so.data_dir = options.storage.data_dir;
    so.log.segment_bytes = options.storage.segment_bytes;
    auto engine = storage_engine::open(env::posix(), so);
    if (!engine) return std::move(engine).error();
    auto policy = parse_fsync_policy(options.storage.fsync);
    if (!policy) return std::move(policy).error();
    storage_actor_options sa;
    sa.fsync = *policy;
    sa.group_window = std::chrono::microseconds(options.storage.group_window_us);
    d.storage = spawn_storage_actor(sys, std::move(*engine), sa);
    if (role == node_role::storaged) {
      if (auto st = publish(d.storage); !st.ok()) return st;
      if (options.cluster.enabled)
        if (auto st =
                d.start_coordinator(options, d.storage, options.cluster.coordinator, "storaged");
            !st.ok())
          return st;
      return rt;
    }
  }

  if (role == node_role::standalone || role == node_role::vectord) {
    if (role == node_role::vectord && !options.cluster.replica_logs) {
      auto h = connect(sys, options.upstream, 40);
      if (!h) return std::move(h).error();
      d.persistence = spawn_link_actor(sys, *h, options.upstream.host, options.upstream.port);
    } else {
      d.persistence = spawn_link_actor(sys, d.storage);
    }
    d.jobs = std::make_shared<job_pool>(std::max(1u, options.actors.max_threads));
    d.writers = std::make_shared<job_pool>(std::max(1u, options.actors.max_threads),
                                           options.actors.write_nice);
    d.readers = spawn_reader_pool(sys, options.actors.search_workers);
    auto env = std::make_shared<index_actor_env>();
    env->readers = d.readers;
    env->persistence = d.persistence;
    env->jobs = d.jobs;
    env->writers = d.writers;
    env->files = options.snapshot_files ? options.snapshot_files : &env::posix();
    env->index = options.index;
    env->usage = std::make_shared<usage_book>();
    env->clustered = options.cluster.enabled;
    env->replica_logs = options.cluster.enabled && options.cluster.replica_logs;
    env->forward_delay = std::chrono::milliseconds(options.cluster.forward_delay_ms);
    env->append_delay = std::chrono::milliseconds(options.cluster.append_delay_ms);
    if (role == node_role::standalone && options.actors.direct_reads) {
      d.board = std::make_shared<read_board>();
      env->board = d.board;
    }
    std::shared_ptr<node_registration::deadline> lease_deadline;
    if (options.cluster.enabled && !options.cluster.etcd.endpoints.empty()) {
      auto client = open_etcd(options.cluster.etcd);
      if (!client) return std::move(client).error();
      d.etcd = std::move(*client);
      lease_deadline = std::make_shared<node_registration::deadline>(0);
      env->lease_deadline = lease_deadline;
    }
    env->snapshots.every_records = options.storage.snapshot_every_records;
    env->snapshots.interval = std::chrono::seconds(options.storage.snapshot_interval_s);
    env->snapshots.replay_budget =
        std::chrono::milliseconds(options.storage.snapshot_replay_budget_ms);
    // Internal work (log appends, replay, catalog) is bounded by its own deadline,
    // not the client's: a short client deadline must not fail a write that storage
    // is about to make durable and so force a needless recovery.
    env->timeout = std::max(timeout, std::chrono::milliseconds(60000));
    if (options.cluster.enabled) {
      // The coordinator places shards here; the node actor carries that out. It is
      // published so that gateways and peers reach this node directly.
      if (options.cluster.host_coordinator)
        if (auto st = d.start_coordinator(options, caf::actor{}, options.cluster.coordinator_listen,
                                          "coordinator");
            !st.ok())
          return st;
      auto link = d.link_to_coordinator(options);
      if (!link) return std::move(link).error();
      d.coordinator_link = *link;
      env->coordinator = d.coordinator_link;
      node_actor_options no;
      no.name = options.cluster.node_name;
      no.heartbeat = std::chrono::milliseconds(options.cluster.heartbeat_ms);
      d.registry = spawn_node_actor(sys, d.coordinator_link, env, no);
      if (auto st = publish(d.registry); !st.ok()) return st;
      auto address = options.publish.host + ":" + std::to_string(d.published);
      // Before the node learns its address (and so before any index actor exists).
      env->node_name = no.name.empty() ? "vectord@" + address : no.name;
      set_node_address(d.registry, address);
      if (d.etcd) {
        const auto& e = options.cluster.etcd;
        node_record me{no.name.empty() ? "vectord@" + address : no.name, address, QUIVER_VERSION,
                       wire_protocol_version};
        auto ttl = std::chrono::seconds(e.node_lease_s);
        // A namesake's registration (this node before a crash) is waited out
        // for up to two leases.
        auto reg = node_registration::open(*d.etcd, metadata_keys(e.prefix), me, ttl, 2 * ttl,
                                           nullptr, lease_deadline);
        if (!reg) return std::move(reg).error();
        d.registration = std::move(*reg);
        spdlog::info("registered in etcd as {} (lease {} s)", me.name, e.node_lease_s);
      }
      return rt;
    }
    d.registry = spawn_index_registry(sys, env);
    if (auto st = await_catalog(sys, d.registry, timeout); !st.ok()) return st;
    if (role == node_role::vectord) {
      if (auto st = publish(d.registry); !st.ok()) return st;
      return rt;
    }
  }

  caf::actor registry = d.registry;
  bool watched = options.cluster.enabled && !options.cluster.etcd.endpoints.empty();
  if (watched) {
    auto client = open_etcd(options.cluster.etcd);
    if (!client) return std::move(client).error();
    d.etcd = std::move(*client);
  }
  if (role == node_role::gatewayd) {
    // A cluster's gateway asks the coordinator; otherwise its one vectord.
    if (options.cluster.enabled) {
      auto link = d.link_to_coordinator(options);
      if (!link) return std::move(link).error();
      registry = *link;
    } else {
      auto& at = options.upstream;
      auto h = connect(sys, at, 40);
      if (!h) return std::move(h).error();
      registry = spawn_link_actor(sys, *h, at.host, at.port);
    }
    d.registry = registry;
  }
  d.router = spawn_router(sys, registry, timeout, options.cluster.enabled, watched);
  if (watched)
    d.follower =
        std::make_unique<metadata_follower>(*d.etcd, options.cluster.etcd.prefix + "v1/",
                                            [router = d.router] { notify_map_changed(router); });
  // One bridge per CAF worker: requests from many I/O threads do not queue behind one mailbox.
  d.bridges = spawn_bridges(sys, std::max(1u, options.actors.max_threads));
  std::shared_ptr<std::atomic<std::uint32_t>> gateways;
  if (role == node_role::gatewayd && options.cluster.enabled) {
    gateways = std::make_shared<std::atomic<std::uint32_t>>(1);
    std::random_device rd;
    auto name = "gatewayd-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
    d.beater = sys.spawn(gateway_beater, registry, std::move(name), gateways);
  }
  d.client = make_actor_router_client(d.router, d.bridges, timeout, d.board, gateways);
  return rt;
}

node_runtime::~node_runtime() {
  stop();
  const caf::actor_system* sys = impl_->system.get();
  impl_->system.reset();  // waits for every actor to finish
  detach_peer_tunnel(sys);
}

void node_runtime::stop() {
  auto& d = *impl_;
  if (d.stopped) return;
  d.stopped = true;
  d.client.reset();
  if (d.published_actor) {
    d.system->middleman().unpublish(d.published_actor, d.published);
    d.published_actor = nullptr;
  }
  if (d.coordinator_port != 0 && d.coordinator)
    d.system->middleman().unpublish(d.coordinator, d.coordinator_port);
  auto stop = [](caf::actor& a) {
    if (a) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    a = nullptr;
  };
  // Stops `a` and waits until it has (bounded).
  auto stop_and_wait = [&](caf::actor& a, const char* what) {
    if (!a) return;
    caf::scoped_actor self{*d.system};
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {},
                  caf::after(std::chrono::minutes(5)) >>
                      [what] { spdlog::error("{} did not stop within 5 minutes", what); });
    a = nullptr;
  };
  d.follower.reset();
  d.locator.reset();
  stop(d.beater);
  for (auto& b : d.bridges) stop(b);
  d.bridges.clear();
  stop(d.router);
  // First, so that its lease is revoked and another is elected while this
  // process (a vectord) still stops its shards.
  stop_and_wait(d.coordinator, "the coordinator");
  if (d.controller) d.controller->shutdown();
  // The registry stops once its shards have (they write their final snapshots).
  stop_and_wait(d.registry, "the index shards");
  // Deregistered (the lease revoked): the controller moves this node's shards
  // at once instead of a lease later.
  d.registration.reset();
  // Running jobs finish (a replay in progress gives up); queued ones are dropped.
  if (d.jobs) d.jobs->stop();
  if (d.writers) d.writers->stop();
  stop(d.readers);
  stop(d.persistence);
  stop(d.coordinator_link);
  stop_and_wait(d.storage, "storage");
}

router_client& node_runtime::client() { return *impl_->client; }

std::uint16_t node_runtime::published_port() const { return impl_->published; }

std::uint16_t node_runtime::coordinator_port() const { return impl_->coordinator_port; }

std::uint64_t node_runtime::direct_searches() const {
  return impl_->board ? impl_->board->answered() : 0;
}

std::size_t node_runtime::scheduler_workers() const {
  return impl_->system->scheduler().num_workers();
}

}  // namespace quiver
