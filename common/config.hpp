#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace quiver {

// A text embedder an index may name besides the built-in "hash-v1"
// ([embedders.NAME] in the config; the gateway embeds with it).
struct embedder_config {
  std::string name;  // [a-z0-9][a-z0-9_.-]{0,63}, not "hash-v1"
  std::string kind;  // "fasttext" or "http"
  // fasttext: the model file (.bin). http: the model name sent with each request.
  std::string model;
  // http: the embedding endpoint, e.g. http://127.0.0.1:11434/api/embed (Ollama)
  // or http://host:port/v1/embeddings (OpenAI-compatible).
  std::string url;
  std::string api = "ollama";  // http: "ollama" or "openai", the request and answer shapes
  // The vectors' dimension. http: required (answers of another size are refused);
  // fasttext: the model's own, checked when set.
  std::uint32_t dimension = 0;
  std::uint32_t batch_size = 64;     // http: most texts in one request
  std::uint32_t timeout_ms = 10000;  // http: one request's whole exchange
  std::uint32_t retries = 2;         // http: further tries after a failure that may pass
  // http: the environment variable holding a bearer token (empty: none sent).
  std::string api_key_env;
};

// HTTP gateway settings.
struct server_config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 4210;
  // I/O threads running Beast sessions; they never block on actors.
  unsigned io_threads = 2;
  // Largest accepted body: bounds the memory one request can pin (API.md: 64 MiB).
  std::size_t max_body_bytes = 64u << 20;
  // Most items in one batch (upsert, delete, search) (API.md: 10,000).
  std::size_t max_batch = 10000;
  // A request whose actors do not answer in time gets 503; bounds waiting clients.
  std::uint32_t request_timeout_ms = 30000;
  // An idle keep-alive connection is closed after this long; frees sockets.
  std::uint32_t idle_timeout_s = 60;
  // Most open client connections; past it a new one is closed as it is accepted.
  // Bounds the memory idle connections hold (each keeps up to 64 KB of read buffer).
  std::size_t max_connections = 10000;
  // Serving a non-loopback address with auth off needs this explicit opt-in.
  bool allow_insecure = false;
  // Where backups are assembled and uploaded restores wait (empty: the system's
  // temporary directory). Each running backup or restore holds one file of its size.
  std::string scratch_dir;
  // Largest backup file a restore accepts (bounds the scratch space one upload takes).
  std::uint64_t max_restore_bytes = 64ull << 30;
  // Backups and restores at once; more are answered 503.
  unsigned max_transfers = 2;
  // Bytes of matrix search answers the gateway keeps (0: no cache).
  std::size_t matrix_cache_bytes = 64u << 20;
  // Embedders configured besides hash-v1, in the order the config names them.
  std::vector<embedder_config> embedders;
};

// CAF runtime settings. "sharing" cuts the latency of messages entering from HTTP
// (50-200 us -> 4-40 us on 2 cores) at the cost of actor-to-actor throughput.
struct actor_config {
  std::string scheduler_policy = "sharing";  // "sharing" or "stealing"
  unsigned max_threads = 2;                  // CAF worker threads
  unsigned search_workers = 2;               // reader pool: searches run here in parallel
  unsigned insert_threads = 2;               // threads inserting one large batch
  // CPU niceness of the threads applying writes to graphs: under contention one
  // tenant's inserts yield to other tenants' searches and to request handling.
  int write_nice = 10;
  // Standalone: a single-shard index's searches run on the HTTP I/O thread that
  // read them, skipping the actors (they still take the actors when a write holds
  // the shard). Off: every search goes through the router and a reader actor.
  bool direct_reads = true;
};

// Durability (API.md, "Durability contract").
struct storage_config {
  std::string data_dir = "./quiver-data";
  // "always": one fsync per append; "group": appends arriving together share one;
  // "none": the OS decides (a crash of the machine, not only the process, loses writes).
  std::string fsync = "group";
  // group: how long the first append of a group waits for company (at most 2 ms).
  // 0 still groups the appends that queue up while an fsync runs.
  std::uint32_t group_window_us = 0;
  // Log segments: the unit of space reclaim after a snapshot.
  std::uint64_t segment_bytes = 64u << 20;
  // A shard snapshots after this many records or this many seconds (0: never by
  // that trigger), and on clean shutdown; restart replays only what follows.
  std::uint64_t snapshot_every_records = 100000;
  std::uint32_t snapshot_interval_s = 300;
  // ...and once replaying what the last snapshot misses would take this long (the
  // CPU time applying it took), paced to at most half the time (0: not by replay
  // cost).
  // Bounds the recovery after a crash whatever the vectors' size.
  std::uint32_t snapshot_replay_budget_ms = 5000;
};

// API keys (API.md, "Auth and tenants"). Auth is on when admin_key is set here or
// in QUIVER_ADMIN_KEY.
struct auth_config {
  std::string admin_key;
  // How long a gateway trusts a tenant key it resolved before asking again;
  // bounds how late another gateway sees a revocation (this one sees it at once).
  std::uint32_t key_cache_ms = 1000;
};

// HTTPS on the gateway: both files (PEM) or neither (plain HTTP). With client_ca
// every client must present a certificate that CA signed (mutual TLS).
struct tls_config {
  std::string cert;       // the server's certificate chain
  std::string key;        // its private key
  std::string client_ca;  // optional: CA certificates that sign client certificates

  bool enabled() const { return !cert.empty(); }
};

// Mutual TLS between daemons (CAF's middleman): all three files (PEM) or none.
// Every daemon of a cluster presents `cert` and accepts only peers whose
// certificate `ca` signed. Serving CAF on a non-loopback address needs it (or
// server.allow_insecure).
struct peer_tls_config {
  std::string cert;  // this daemon's certificate chain
  std::string key;   // its private key
  std::string ca;    // the cluster's CA certificate(s)

  bool enabled() const { return !cert.empty(); }
};

// The cluster's metadata store (docs/CLUSTER.md). Used by storaged, vectord and
// gatewayd when endpoints are set (here or by --etcd).
struct etcd_config {
  std::string endpoints;            // "host:port,host:port,..."; empty: no etcd
  std::string prefix = "/quiver/";  // every key of this deployment lives under it
  std::uint32_t dial_timeout_ms = 1000;
  // etcd answers within its election timeout while it has a quorum.
  std::uint32_t request_timeout_ms = 2000;
  std::uint32_t retries = 2;  // further members tried after a transport failure
  std::uint32_t watch_idle_timeout_ms = 15000;
  // Leases: a vectord whose lease lapses stops acting as primary, and its shards
  // fail over; the controller's lets another take over. Above etcd's own
  // failover time (a new etcd leader takes ~1-2 s), renewed every third.
  std::uint32_t node_lease_s = 6;
  std::uint32_t controller_lease_s = 6;
  // HTTPS to etcd (PEM): the CA of the members' certificates, and this daemon's
  // client certificate and key when etcd requires them (--client-cert-auth).
  // Talking to a non-loopback etcd needs ca (or server.allow_insecure).
  std::string ca, cert, key;
};

struct log_config {
  std::string level = "info";  // trace, debug, info, warn, error, off
};

struct quiver_config {
  server_config server;
  actor_config actors;
  storage_config storage;
  auth_config auth;
  tls_config tls;
  peer_tls_config peer_tls;
  etcd_config etcd;
  log_config log;
};

// Reads a TOML file over the defaults; unknown keys are errors (a typo must not
// silently fall back to a default).
expected<quiver_config> load_config(const std::string& path);
// Takes the admin key from QUIVER_ADMIN_KEY when the config sets none.
void apply_environment(quiver_config& c);
// Checks ranges and the insecure-bind rule (a non-loopback gateway needs auth on
// or allow_insecure).
status validate_config(const quiver_config& c);
bool is_loopback_host(const std::string& host);

}  // namespace quiver
