#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/log_record.hpp"
#include "common/status.hpp"
#include "common/wire/storage.hpp"

namespace quiver {

// When an index actor snapshots its shard (besides on clean shutdown).
struct snapshot_policy {
  std::uint64_t every_records = 100000;  // 0: not by count
  std::chrono::seconds interval{300};    // 0: not by time
  // Once replaying what the last snapshot does not cover would take this long (as
  // long as applying it took), a snapshot is due: it bounds the recovery after a
  // crash, whatever the vectors' size. Paced: the next one waits at least as
  // long as the last one took, so snapshots take at most half of a shard's time.
  // 0: not by replay cost.
  std::chrono::milliseconds replay_budget{5000};
};

// The decisions of one shard replica, as plain state: its phase (recovering,
// serving, quarantined), its role in a cluster (primary under an epoch, or
// replica; fenced; promoting), whether it may take a write now, how its writes
// are numbered, what it asks storage for when it opens its log, and when it
// snapshots. The index actor carries them out (messages, timers, jobs) and
// tells this class what happened; nothing here waits or sends.
//
// Standalone, a shard is always its own primary and takes the epoch storage's
// lease gives it. Clustered, it starts as a replica and writes only under the
// epoch its node handed it, once storage confirmed that epoch and it has read
// the log to its end (promotion).
class shard_control {
 public:
  enum class phase { recovering, serving, quarantined };
  using clock = std::chrono::steady_clock;

  shard_control() = default;
  // `name` goes into error messages ("index 'docs' shard 3").
  shard_control(std::string name, bool clustered, snapshot_policy snapshots);

  // -- phase --
  phase current() const { return phase_; }
  bool serving() const { return phase_ == phase::serving; }
  const std::string& reason() const { return reason_; }
  // Why the shard cannot answer reads; success while it serves.
  status not_serving() const;
  // What the registry is told: "ready", "recovering", "quarantined" or "fenced".
  const char* state_name() const;
  // The role reported with it: a clustered primary and its epoch (0 otherwise).
  bool reports_primary() const { return clustered_ && primary_; }
  std::uint64_t reported_epoch() const { return reports_primary() ? held_epoch_ : 0; }

  // -- recovery --
  // A (re)recovery starts: reads stop and a promotion or catch-up under way ends.
  void begin_recovery();
  // The log open that recovery asks of storage.
  shard_open_request open_request(shard_ref ref) const;
  // Storage opened the log (lease.epoch: the epoch it gave a standalone claim).
  void opened(open_mode mode, const shard_lease& lease);
  // A claim failed for want of space: the shard serves reads without one and
  // writes are refused with `why` until storage takes them again.
  void claim_refused(status why);
  // The graph is rebuilt up to `applied`.
  void recovered(seq_no applied);
  // Serves nothing from here on, for `reason`.
  void quarantine(std::string reason);

  // -- writes --
  // Why a write is refused now; success for a primary that may write.
  // `lease_lapsed`: the node's etcd lease has run out.
  status not_writable(bool lease_lapsed) const;
  // Numbers `records` as the next ones of this shard under its epoch.
  void stamp(std::vector<log_record>& records, shard_id shard);
  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t next_seq() const { return next_seq_; }
  // A newer epoch exists (storage answered stale_epoch): no writes here.
  void fence() { fenced_ = true; }
  // Storage refused an append of `write_epoch` as stale. True when that fences
  // the shard now (and so is worth reporting).
  bool append_fenced(std::uint64_t write_epoch);
  // Storage refused a write for want of space. True when writes were taken
  // until now (worth logging).
  bool storage_refused(status why);
  const status& write_failure() const { return write_failure_; }

  // -- taking writes again after storage refused them --
  enum class reclaim_step {
    none,    // nothing refused (or not serving): nothing to do
    done,    // the role's rules decide now (a replica, fenced, promoting)
    reopen,  // ask storage to open the log as its writer again
  };
  reclaim_step reclaim();
  shard_open_request reopen_request(shard_ref ref) const;
  // Whether a reopen's answer still matters (writes are still refused).
  bool reclaiming() const { return !write_failure_.ok(); }
  // Storage took the reopen; the log ends at `lease.last_seq`. False when the
  // graph (at `applied`) lacks records that reached the disk: rebuild.
  bool reclaimed(const shard_lease& lease, seq_no applied);
  enum class reclaim_failure { retry, fenced, recover };
  // Storage answered the reopen with an error.
  reclaim_failure reclaim_failed(const status& why);

  // -- clustered roles --
  enum class role_step {
    none,      // same role; nothing to do
    catch_up,  // same role, but a replica behind its primary: read the log
    recover,   // rebuild in the new role
    promote,   // take the epoch at storage, then read the log to its end
  };
  // The node hands a role. `primary_applied`: how far the primary has applied;
  // `writes_in_flight`: this shard's own writes are still out; `busy`: records
  // are being applied or wait to be.
  role_step assign_role(bool primary, std::uint64_t epoch, seq_no primary_applied,
                        bool writes_in_flight, bool busy);
  bool primary() const { return primary_; }
  std::uint64_t held_epoch() const { return held_epoch_; }
  // Each replica keeps its own log: replicas snapshot (and release it) too.
  void set_own_log(bool yes) { own_log_ = yes; }
  bool clustered() const { return clustered_; }

  void begin_promotion();
  bool promoting() const { return promoting_; }
  // Storage confirmed the held epoch. True when a catch-up must start (none runs).
  bool epoch_confirmed();
  // Storage refused the epoch; true when a newer one exists (fenced), false
  // when the shard must recover.
  bool promotion_refused(const status& why);

  // Reading missed records from the log. False when one runs already or the
  // shard does not serve.
  bool begin_catch_up();
  bool catching_up() const { return catching_up_; }
  // The log was read to its end. True when that ends a promotion: the shard
  // writes from here on.
  bool finish_catch_up();

  // Records (in seq order) that follow what is applied; next_seq moves past them.
  void following(seq_no last);
  // What to do with records the primary forwarded.
  enum class replica_step { ignore, catch_up, apply };
  replica_step on_forwarded(const std::vector<log_record>& records) const;
  // Drops the records this shard has already (the front of a forwarded batch).
  void drop_known(std::vector<log_record>& records) const;

  // -- snapshots --
  // Whether this shard writes snapshots (a replica or a fenced primary does not).
  bool snapshots_here() const;
  // Whether a snapshot is due now for a shard applied up to `applied`.
  bool snapshot_due(seq_no applied, clock::time_point now, bool force) const;
  // Whether the interval trigger needs checking (there is something the last
  // snapshot does not cover): idle shards cost no timers.
  bool wants_tick(seq_no applied) const;
  // Recovery started from a snapshot at `seq` and replayed `replayed` records in
  // `replay_seconds`.
  void snapshot_base(seq_no seq, std::uint64_t replayed, clock::time_point now,
                     double replay_seconds = 0);
  void applied(std::uint64_t records) { since_snapshot_ += records; }
  // Applying records took `seconds` of CPU: what replaying them will take.
  void apply_took(double seconds) { replay_cost_ += seconds; }
  // What replaying the records the last snapshot does not cover would take.
  double replay_cost() const { return replay_cost_; }
  void snapshot_started(clock::time_point now) { snapshot_started_ = now; }
  void snapshot_taken(seq_no seq, clock::time_point now);
  // A failed snapshot is retried at the next trigger, not at once.
  void snapshot_failed(clock::time_point now) { last_snapshot_ = now; }

 private:
  bool covered(seq_no applied) const { return !(snapshot_seq_ < applied); }

  std::string name_;
  bool clustered_ = false;
  bool own_log_ = false;
  snapshot_policy snapshots_;
  phase phase_ = phase::recovering;
  std::string reason_;  // quarantined: why
  std::uint64_t epoch_ = 0;
  std::uint64_t next_seq_ = 1;
  // Not ok: storage refused a write (a full or read-only disk); reads go on.
  status write_failure_;
  bool claimed_ = false;          // standalone: the epoch was claimed
  bool primary_ = true;           // standalone shards are always their own primary
  std::uint64_t held_epoch_ = 0;  // a clustered primary's epoch, fenced in for it
  bool fenced_ = false;           // a newer primary exists: no writes
  bool promoting_ = false;        // reading the log to its end before writing
  bool epoch_taken_ = false;      // promoting: storage confirmed the held epoch
  bool catching_up_ = false;
  seq_no snapshot_seq_;
  std::uint64_t since_snapshot_ = 0;
  double replay_cost_ = 0;  // seconds
  clock::time_point last_snapshot_ = clock::now();
  clock::time_point snapshot_started_ = last_snapshot_;
  clock::duration last_snapshot_took_{0};
};

}  // namespace quiver
