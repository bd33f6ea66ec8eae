#pragma once

// The state of one index actor and the functions over it, shared by the actor's
// translation units: index_actor.cpp (messages, writes, snapshots, searches),
// index_recovery.cpp (rebuilding from snapshot + log; storage refusing writes)
// and index_replication.cpp (roles, forwarding, catch-up). Only those include it.

// The CAF pieces the state names (not caf/all.hpp: the three TUs add that).
#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/index/index_actor.hpp"
#include "actors/index/replica_set.hpp"
#include "actors/index/shard_control.hpp"
#include "actors/index/write_admission.hpp"
#include "actors/wire/actor_messages.hpp"

namespace quiver::index_detail {

using clock_type = std::chrono::steady_clock;

// Job pool -> index actor. Local only: they carry the rebuilt shard.
struct recovered_msg {
  std::uint64_t generation = 0;
  std::shared_ptr<shard_index> index;  // null: failed
  std::string error;
  bool transient = false;  // storage unreachable: worth retrying
  std::uint64_t replayed = 0;
  double seconds = 0;
  double replay_seconds = 0;  // of `seconds`, applying the log's records
  seq_no snapshot_seq;        // of the snapshot it started from
};
// Reader -> itself: a search whose shard a write held, tried again.
struct retry_search {
  search_job job;
  caf::response_promise rp;
  std::chrono::steady_clock::time_point since;  // the first try
};
// Write pool -> index actor: an acknowledged write has been applied to the graph.
struct applied_msg {
  std::uint64_t generation = 0;
  std::uint64_t ticket = 0;
  expected<shard_index::logged_result> result = shard_index::logged_result{};
  double seconds = 0;  // CPU time applying took
};
// Index actor -> itself: work to run later (test fault injection).
struct deferred_call {
  std::function<void()> run;
};
// Job pool -> index actor: the running snapshot no longer reads the shard.
struct snapshot_captured_msg {
  std::uint64_t generation = 0;
};
struct snapshot_done_msg {
  std::uint64_t generation = 0;
  status result;
  seq_no seq;
  seq_no release_before;
};

}  // namespace quiver::index_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::index_detail::recovered_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::index_detail::snapshot_done_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::index_detail::snapshot_captured_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::index_detail::applied_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::index_detail::retry_search)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::index_detail::deferred_call)

namespace quiver::index_detail {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using reopen_atom = caf::atom_constant<caf::atom("reopen")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using reclaim_atom = caf::atom_constant<caf::atom("reclaim")>;

// How often a shard whose writes failed for want of storage tries to write again.
constexpr auto reclaim_interval = std::chrono::seconds(1);

struct index_state {
  shard_ref ref;
  index_params params;
  std::shared_ptr<const index_actor_env> env;
  caf::actor registry;
  // Phase, role, epoch, numbering and snapshot schedule: the decisions.
  shard_control control;
  // The shard's part in its tenant's usage and its writes' quota admission.
  // After `env`, whose usage book it names: it leaves the book first.
  write_admission admission;
  std::shared_ptr<shard_index> index;
  std::string dir;  // the shard's directory (snapshots under it)
  // Bumped on every (re)recovery: acks and job results of an earlier one are stale.
  std::uint64_t generation = 0;
  bool snapshotting = false;
  // The running snapshot still reads the shard: applies wait (after that, only
  // its copy and fsync run, and writes go on).
  bool capturing = false;
  // An acknowledged write is being applied on the write pool; later ones wait.
  bool applying = false;
  // What to do once each posted apply is done (stale: a recovery took over).
  using apply_done = std::function<void(expected<shard_index::logged_result>, bool stale)>;
  std::map<std::uint64_t, apply_done> apply_jobs;
  std::uint64_t next_ticket = 0;
  bool exiting = false;  // clean shutdown waits for the running snapshot
  // Acknowledged writes waiting for a running snapshot's capture, in seq order.
  std::deque<std::function<void()>> deferred;
  bool tick_pending = false;
  // Storage refused a write (control.write_failure()): a retry is scheduled.
  bool reclaim_pending = false;
  bool progress_pending = false;  // a progress report is scheduled
  // Backups waiting for a snapshot that covers what was applied when they asked.
  struct backup_waiter {
    seq_no applied;
    caf::response_promise rp;
  };
  std::vector<backup_waiter> backup_waiters;
  // Clustered primary: the other replicas, which get its committed records.
  std::vector<caf::actor> forward_to;
  // Where the shard is shown while it serves (single-shard standalone indexes).
  std::shared_ptr<read_slot> reads;

  // -- replica logs (env->replica_logs) --
  // Primary: who each write waits for, the replicas' actors by node, and the
  // answers that wait for replicas (by ticket).
  replica_set replicas;
  std::map<std::string, caf::actor> peer_actors;
  struct pending_answer {
    std::function<void()> deliver;
    std::function<void(const status&)> fail;
  };
  std::map<replica_set::ticket, pending_answer> answers;
  // Replica: the primary's index actor, whose log it reads.
  caf::actor source;
  seq_no log_end;                   // the own log's newest record (appends sent)
  std::uint64_t log_epoch = 0;      // the epoch that record was written under
  std::uint64_t storage_epoch = 0;  // the epoch the own log takes appends under
  // The primary epoch whose log this replica's agrees with: appends under it
  // that follow the log are taken; others start a follow.
  std::uint64_t follow_epoch = 0;
  bool following = false;               // agreeing with and reading the primary's log
  int appends_in_flight = 0;            // replica: the primary's records not yet durable here
  bool probe_pending = false;           // primary: a probe of the replicas outside the set is due
  std::uint64_t follow_generation = 0;  // bumped when a follow's answers go stale
  static inline const char* name = "quiver.index";

  index_state() = default;
  index_state(const index_state&) = delete;
  index_state& operator=(const index_state&) = delete;

  // Records are applied, or wait to be.
  bool busy() const { return applying || !deferred.empty(); }
};

using index_self = caf::stateful_actor<index_state>;

// index_actor.cpp
std::string describe(const index_state& s);
// Tells the registry (and so the node) the shard's state.
void report(index_self* self, std::uint64_t replayed = 0, double seconds = 0);
void report_progress(index_self* self);
void when_applicable(index_self* self, std::function<void()> apply);
void maybe_snapshot(index_self* self, bool force = false);
void schedule_tick(index_self* self);
void apply(index_self* self, std::shared_ptr<std::vector<log_record>> records,
           index_state::apply_done done);

// index_recovery.cpp
void start_recovery(index_self* self);
// Serves nothing from here on, with `reason` in every 503; its files stay.
void quarantine(index_self* self, std::string reason);
void storage_refused(index_self* self, status why);
void schedule_reclaim(index_self* self);
void reclaim(index_self* self);

// index_replica_logs.cpp
// Primary: the write's records are in the own log; sends them to every replica
// and returns the ticket its answer waits on.
// `prev_epoch`: the epoch of the log's record before them.
replica_set::ticket replicate_to_peers(index_self* self,
                                       const std::shared_ptr<std::vector<log_record>>& records,
                                       std::uint64_t prev_epoch);
// Primary: answers the write once nothing but `ticket` held it (no ticket: now).
void answer_when_replicated(index_self* self, std::optional<replica_set::ticket> ticket,
                            std::function<void()> deliver, std::function<void(const status&)> fail);
// Every write still waiting for replicas fails with `why` (the role ended).
void abandon_replication(index_self* self, const status& why);
void assign_peers(index_self* self, const shard_role_msg& m);
caf::result<log_append_reply> on_replica_append(index_self* self, replica_append_request& r);
caf::result<follow_reply> on_follow_request(index_self* self, follow_request& r);
caf::result<log_chunk> on_primary_log_read(index_self* self, log_read_request& r);
caf::result<bool> on_in_step(index_self* self, const replica_in_step& m);
caf::result<snapshot_chunk> on_snapshot_fetch(index_self* self, const snapshot_fetch_request& r);

// index_backup.cpp: a primary's snapshots for a backup.
caf::result<backup_prepare_reply> on_backup_prepare(index_self* self,
                                                    const backup_prepare_request& r);
caf::result<snapshot_chunk> on_backup_chunk(index_self* self, const backup_chunk_request& r);
// After a snapshot ended (`failure`: why it failed): answers the backups it covers,
// and takes another for those it does not.
void serve_backup_waiters(index_self* self, const status& failure);
// Replica: agrees with the primary's log, then reads what it lacks.
void follow(index_self* self);

// index_replication.cpp
// Applies records that follow everything handed to apply so far, in order;
// `then` runs once they are in the graph.
void apply_in_order(index_self* self, std::vector<log_record> records,
                    std::function<void(index_self*)> then);
void catch_up(index_self* self);
void change_role(index_self* self, shard_role_msg& m);
void on_replicated(index_self* self, replicate_msg& m);

}  // namespace quiver::index_detail
