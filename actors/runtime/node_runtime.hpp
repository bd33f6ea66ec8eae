#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "actors/index/shard_index.hpp"
#include "actors/runtime/router_client.hpp"
#include "common/config.hpp"
#include "common/status.hpp"

namespace quiver {

// Which actors a process hosts.
//  standalone: storage, persistence, registry + index actors, router (one process)
//  storaged:   storage actor, published over CAF's middleman
//  vectord:    persistence (to a remote storaged), registry + index actors, published
//  gatewayd:   router, talking to a remote vectord's registry
enum class node_role { standalone, storaged, vectord, gatewayd };

struct endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

// A multi-node cluster (all roles but standalone): storaged also hosts the
// coordinator, vectord hosts a node actor whose shards the coordinator places, and
// gatewayd routes through the coordinator's shard map.
struct cluster_options {
  bool enabled = false;
  endpoint coordinator;  // storaged: where to serve it; vectord, gatewayd: where it is
  // vectord, gatewayd on etcd: no fixed coordinator; the one the controller key
  // names is followed wherever it is elected.
  bool locate_coordinator = false;
  // vectord with etcd and replica logs: also host a coordinator, served here,
  // that campaigns for the controller key (storaged then is not needed).
  bool host_coordinator = false;
  endpoint coordinator_listen;
  std::string node_name;  // vectord: unique in the cluster (default: its address)
  std::uint32_t heartbeat_ms = 250;
  std::uint32_t node_timeout_ms = 2000;  // a node silent this long is down
  // Each vectord keeps its replicas' logs and snapshots in its own data dir
  // (storage.data_dir); storaged keeps none and its coordinator promotes only
  // in-sync replicas. Every daemon of a cluster must agree on it.
  bool replica_logs = false;
  // storaged, replica logs: copies each write must reach (coordinator_options).
  std::uint32_t write_quorum = 1;
  // Fault injection for tests: primaries forward committed records this late.
  std::uint32_t forward_delay_ms = 0;
  // Fault injection for tests: primaries send log appends this late.
  std::uint32_t append_delay_ms = 0;
  // The metadata store (endpoints set): storaged's coordinator places shards only
  // while it holds the controller key, and fences in etcd first; vectords register
  // under leases; gateways follow the map by watching it.
  etcd_config etcd;
};

struct runtime_options {
  node_role role = node_role::standalone;
  actor_config actors;
  std::uint32_t request_timeout_ms = 30000;
  shard_index_options index;
  storage_config storage;  // standalone, storaged: the data dir; all: policies
  endpoint publish;        // storaged, vectord: where to serve (port 0: any free one)
  endpoint upstream;       // vectord: storaged; gatewayd: vectord (unused in a cluster)
  cluster_options cluster;
  // Mutual TLS on every CAF connection, in and out (all roles but standalone).
  peer_tls_config peer_tls;
  // Where shards read and write their snapshots (null: the file system); tests
  // put one here that holds or fails file operations.
  env* snapshot_files = nullptr;
};

// The actor system of one process and the actors of its role. Destroying it stops
// every actor (index shards write a final snapshot) and waits for them.
class node_runtime {
 public:
  // Fails if storage cannot be opened or (vectord, gatewayd) the upstream daemon
  // is not reachable within a few seconds.
  static expected<std::unique_ptr<node_runtime>> start(const runtime_options& options);
  ~node_runtime();
  node_runtime(const node_runtime&) = delete;
  node_runtime& operator=(const node_runtime&) = delete;

  // Stops every actor, storage last, and waits for them (shards write their final
  // snapshots; every acknowledged write is already durable). Idempotent; the
  // destructor calls it, then tears the actor system down.
  void stop();

  // standalone and gatewayd only.
  router_client& client();
  // storaged and vectord: the port actually published.
  std::uint16_t published_port() const;
  // storaged of a cluster: the coordinator's port.
  std::uint16_t coordinator_port() const;
  // CAF worker threads actually running (checks the scheduler settings took).
  std::size_t scheduler_workers() const;
  // standalone: searches answered on the caller's thread, skipping the actors.
  std::uint64_t direct_searches() const;

 private:
  node_runtime();
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace quiver
