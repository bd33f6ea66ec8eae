#pragma once

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "actors/index/read_board.hpp"
#include "actors/index/shard_control.hpp"
#include "actors/index/shard_index.hpp"
#include "actors/index/usage_book.hpp"
#include "common/env.hpp"
#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/job_pool.hpp"
#include "common/wire/cluster.hpp"
#include "common/wire/shard.hpp"
#include "common/wire/storage.hpp"

namespace quiver {

// What every index actor of a process shares.
struct index_actor_env {
  caf::actor readers;              // reader pool running searches
  caf::actor persistence;          // the way to storage: log appends, reads, leases
  std::shared_ptr<job_pool> jobs;  // snapshot writes and recovery
  // Applying acknowledged writes to graphs, off the scheduler threads (null: inline).
  std::shared_ptr<job_pool> writers;
  env* files = nullptr;  // where snapshots are read and written
  shard_index_options index;
  snapshot_policy snapshots;
  std::shared_ptr<usage_book> usage;         // per-tenant vectors and bytes, and their quotas
  std::chrono::milliseconds timeout{60000};  // for storage and internal requests
  // Placed by a coordinator: shards start as read-only replicas and write only
  // once told they are primary under a fenced epoch (shard_role_msg).
  bool clustered = false;
  // Clustered, each replica keeps its own log (persistence is this node's own
  // storage): a primary sends its records to its replicas and answers a write
  // once every in-sync replica has it durably; a replica reads what it lacks
  // from its primary's log, after cutting a tail no later primary wrote.
  bool replica_logs = false;
  std::string node_name;   // replica logs: this node, as the coordinator knows it
  caf::actor coordinator;  // replica logs: where in-sync changes go
  // Replica logs: how long a primary waits for a replica's ack before it
  // takes the replica out of the in-sync set.
  std::chrono::milliseconds replica_timeout{5000};
  // etcd: the node's lease deadline (steady_clock ticks; 0: not registered). A
  // primary takes no writes past it: a node whose lease lapsed (a pause, or
  // etcd unreachable) stops acting as primary by itself, whatever it believes.
  std::shared_ptr<const std::atomic<std::chrono::steady_clock::rep>> lease_deadline;
  // Fault injection for tests: a primary forwards committed records this much
  // later (the window between a log ack and replication).
  std::chrono::milliseconds forward_delay{0};
  // Fault injection for tests: a primary sends each log append this much later
  // (a write caught in flight by a partition).
  std::chrono::milliseconds append_delay{0};
  // One process serving HTTP too (the standalone): where single-shard indexes
  // show their serving shards to the gateway's searches (null: nowhere).
  std::shared_ptr<read_board> board;
};

// Spawns, monitored by `parent` (the registry, which also gets its
// shard_status_report messages), the actor that owns one shard replica.
//
// It starts by recovering: it takes the shard's lease (a new epoch) from storage,
// loads the newest usable snapshot and replays the log after it, on the job pool;
// meanwhile every request is answered `unavailable`. A shard that cannot be
// recovered is quarantined with the reason, never served empty.
//
// Serving, its mailbox serializes mutations: a batch is validated, numbered,
// appended to the shard log, and applied and acknowledged once storage says it is
// durable (appends are pipelined; acks arrive in order). Searches go to the reader
// pool and run in parallel with the next mutation. Snapshots are written on the
// job pool while searches go on; acknowledged writes that arrive meanwhile are
// applied right after. Exiting with user_shutdown writes a final snapshot.
//
// Clustered (env.clustered), a shard is a replica until its node says it is the
// primary under an epoch the coordinator fenced in. A primary forwards every
// committed batch to the other replicas (replicate_msg) in seq order; a replica
// applies them in order and, seeing a gap, reads what it missed from the shard
// log. Promoted, a replica takes the epoch and reads the log to its end before it
// accepts a write, so nothing acknowledged by an earlier primary is missing. A
// primary whose epoch is fenced stops writing (its appends fail at storage) and
// waits for its node. Replicas serve reads but take no snapshots.
//
// Every write's exact change to the tenant's stored vectors and bytes is known
// when it is admitted (the actor tracks what the writes still in flight will
// leave behind); growth is reserved in the usage book first, and a write that
// would pass the tenant's quota is rejected whole before it is logged.
//
// With a read slot, the actor shows its shard there while it serves (recovered,
// not quarantined, not stopped), for searches that skip the actors.
caf::actor spawn_index_actor(caf::event_based_actor* parent, catalog_entry entry, shard_id shard,
                             std::shared_ptr<const index_actor_env> shared,
                             std::shared_ptr<read_slot> reads = nullptr);

// Spawns `workers` reader actors behind one round-robin handle.
caf::actor spawn_reader_pool(caf::actor_system& system, unsigned workers);

}  // namespace quiver
