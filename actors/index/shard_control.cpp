#include "actors/index/shard_control.hpp"

#include <algorithm>
#include <utility>

namespace quiver {

shard_control::shard_control(std::string name, bool clustered, snapshot_policy snapshots)
    : name_(std::move(name)),
      clustered_(clustered),
      snapshots_(snapshots),
      primary_(!clustered) {}  // clustered shards wait for their role

status shard_control::not_serving() const {
  switch (phase_) {
    case phase::serving:
      return status::success();
    case phase::recovering:
      return make_status(errc::unavailable, name_ + " is recovering");
    case phase::quarantined:
      return make_status(errc::unavailable, name_ + " is quarantined: " + reason_);
  }
  return status::success();
}

const char* shard_control::state_name() const {
  if (fenced_) return "fenced";
  if (promoting_) return "recovering";
  switch (phase_) {
    case phase::serving:
      return "ready";
    case phase::recovering:
      return "recovering";
    case phase::quarantined:
      return "quarantined";
  }
  return "quarantined";
}

void shard_control::begin_recovery() {
  phase_ = phase::recovering;
  promoting_ = false;
  catching_up_ = false;
}

shard_open_request shard_control::open_request(shard_ref ref) const {
  shard_open_request open{std::move(ref)};
  if (clustered_) {
    open.mode = primary_ ? open_mode::hold : open_mode::follow;
    open.epoch = held_epoch_;
  }
  return open;
}

void shard_control::opened(open_mode mode, const shard_lease& lease) {
  if (mode != open_mode::follow) {
    write_failure_ = status::success();
    claimed_ = true;
  }
  epoch_ = clustered_ ? held_epoch_ : lease.epoch;
  next_seq_ = lease.last_seq.value + 1;
}

void shard_control::claim_refused(status why) {
  write_failure_ = std::move(why);
  claimed_ = false;
}

void shard_control::recovered(seq_no applied) {
  next_seq_ = std::max(next_seq_, applied.value + 1);
  phase_ = phase::serving;
}

void shard_control::quarantine(std::string reason) {
  phase_ = phase::quarantined;
  reason_ = std::move(reason);
}

status shard_control::not_writable(bool lease_lapsed) const {
  if (!write_failure_.ok()) return write_failure_;
  if (lease_lapsed && primary_)
    return make_status(errc::unavailable,
                       name_ +
                           ": this node's etcd lease lapsed; it takes no writes until it "
                           "is registered again");
  if (!clustered_ || (primary_ && !fenced_ && !promoting_)) return status::success();
  if (primary_ && promoting_)
    return make_status(errc::unavailable, name_ + ": the new primary is catching up");
  return make_status(errc::unavailable, name_ + ": this replica is not the primary");
}

void shard_control::stamp(std::vector<log_record>& records, shard_id shard) {
  for (auto& r : records) {
    r.shard = shard;
    r.seq = seq_no{next_seq_++};
    r.epoch = epoch_;
  }
}

bool shard_control::append_fenced(std::uint64_t write_epoch) {
  if (!clustered_ || write_epoch != epoch_ || fenced_) return false;
  fenced_ = true;
  return true;
}

bool shard_control::storage_refused(status why) {
  bool news = write_failure_.ok();
  write_failure_ = std::move(why);
  return news;
}

shard_control::reclaim_step shard_control::reclaim() {
  if (write_failure_.ok() || phase_ != phase::serving) return reclaim_step::none;
  if (clustered_ && (!primary_ || fenced_ || promoting_)) {
    write_failure_ = status::success();
    return reclaim_step::done;
  }
  return reclaim_step::reopen;
}

shard_open_request shard_control::reopen_request(shard_ref ref) const {
  shard_open_request open{std::move(ref)};
  if (clustered_) {
    open.mode = open_mode::hold;
    open.epoch = held_epoch_;
  } else if (claimed_) {
    open.mode = open_mode::hold;
    open.epoch = epoch_;
  }
  return open;
}

bool shard_control::reclaimed(const shard_lease& lease, seq_no applied) {
  write_failure_ = status::success();
  claimed_ = true;
  if (!clustered_) epoch_ = lease.epoch;
  if (lease.last_seq.value != applied.value) return false;
  next_seq_ = lease.last_seq.value + 1;
  return true;
}

shard_control::reclaim_failure shard_control::reclaim_failed(const status& why) {
  if (why.code == errc::stale_epoch) {
    if (!clustered_) return reclaim_failure::recover;
    fenced_ = true;
    write_failure_ = status::success();
    return reclaim_failure::fenced;
  }
  if (why.code == errc::insufficient_storage) write_failure_ = why;  // fresh details
  return reclaim_failure::retry;
}

shard_control::role_step shard_control::assign_role(bool primary, std::uint64_t epoch,
                                                    seq_no primary_applied, bool writes_in_flight,
                                                    bool busy) {
  bool same = primary == primary_ && (!primary || epoch == held_epoch_);
  if (same) {
    // A replica behind its primary with nothing arriving (it missed the last
    // forwards) reads the rest from the log.
    if (!primary_ && serving() && !catching_up_ && !busy && next_seq_ <= primary_applied.value)
      return role_step::catch_up;
    return role_step::none;
  }
  primary_ = primary;
  held_epoch_ = epoch;
  fenced_ = false;
  // Demoted, or with its own writes in flight: rebuild in the new role (a write
  // numbered but refused by storage must not shadow the new primary's records).
  if (!serving() || !primary || writes_in_flight) return role_step::recover;
  return role_step::promote;
}

void shard_control::begin_promotion() {
  promoting_ = true;
  epoch_taken_ = false;
  fenced_ = false;
}

bool shard_control::epoch_confirmed() {
  epoch_ = held_epoch_;
  write_failure_ = status::success();
  epoch_taken_ = true;
  // A catch-up still running (a replica's) carries on and completes the promotion.
  return !catching_up_;
}

bool shard_control::promotion_refused(const status& why) {
  promoting_ = false;
  if (why.code != errc::stale_epoch) return false;
  fenced_ = true;
  return true;
}

bool shard_control::begin_catch_up() {
  if (catching_up_ || phase_ != phase::serving) return false;
  catching_up_ = true;
  return true;
}

bool shard_control::finish_catch_up() {
  catching_up_ = false;
  // Only a catch-up that ended after the epoch was confirmed has seen the log's
  // final end (reads and the open are answered in order).
  if (!promoting_ || !epoch_taken_) return false;
  promoting_ = false;
  return true;
}

void shard_control::following(seq_no last) { next_seq_ = last.value + 1; }

shard_control::replica_step shard_control::on_forwarded(
    const std::vector<log_record>& records) const {
  if (!clustered_ || primary_ || phase_ != phase::serving || catching_up_ || records.empty())
    return replica_step::ignore;
  if (next_seq_ < records.front().seq.value) return replica_step::catch_up;  // a gap
  return replica_step::apply;
}

void shard_control::drop_known(std::vector<log_record>& records) const {
  records.erase(records.begin(),
                std::find_if(records.begin(), records.end(),
                             [&](const log_record& r) { return next_seq_ <= r.seq.value; }));
}

bool shard_control::snapshots_here() const {
  return !clustered_ || (primary_ && !fenced_) || (own_log_ && !primary_);
}

bool shard_control::snapshot_due(seq_no applied, clock::time_point now, bool force) const {
  if (phase_ != phase::serving || !snapshots_here() || covered(applied)) return false;
  auto budget = std::chrono::duration<double>(snapshots_.replay_budget).count();
  return force || (snapshots_.every_records > 0 && since_snapshot_ >= snapshots_.every_records) ||
         (snapshots_.interval.count() > 0 && now - last_snapshot_ >= snapshots_.interval) ||
         (budget > 0 && replay_cost_ >= budget && now - last_snapshot_ >= last_snapshot_took_);
}

bool shard_control::wants_tick(seq_no applied) const {
  return snapshots_.interval.count() > 0 && phase_ == phase::serving && snapshots_here() &&
         !covered(applied);
}

void shard_control::snapshot_base(seq_no seq, std::uint64_t replayed, clock::time_point now,
                                  double replay_seconds) {
  snapshot_seq_ = seq;
  since_snapshot_ = replayed;
  replay_cost_ = replay_seconds;
  last_snapshot_ = now;
}

void shard_control::snapshot_taken(seq_no seq, clock::time_point now) {
  snapshot_seq_ = seq;
  since_snapshot_ = 0;
  replay_cost_ = 0;
  last_snapshot_took_ = now - snapshot_started_;
  last_snapshot_ = now;
}

}  // namespace quiver
