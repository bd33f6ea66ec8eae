// Rebuilding a shard from its newest usable snapshot and the log after it, and
// what a shard does while storage refuses its writes.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "actors/index/detail/index_state.hpp"
#include "actors/index/snapshot_files.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver::index_detail {

// Rebuilds the shard from its newest usable snapshot and the log after it. Runs on
// the job pool; reads the log through the persistence actor.
recovered_msg recover(caf::actor_system& system, std::shared_ptr<const index_actor_env> env,
                      shard_ref ref, index_params params, shard_lease lease,
                      std::uint64_t generation) {
  recovered_msg out;
  out.generation = generation;
  auto started = clock_type::now();
  auto dir = lease.dir + "/snapshots";
  if (auto st = env->files->create_dirs(dir); !st.ok()) {
    out.error = st.message;
    return out;
  }
  auto start = load_recovery_start(*env->files, dir, params, env->index, lease.first_seq);
  if (!start) {
    out.error = start.error().message;
    return out;
  }
  for (auto& why : start->skipped)
    spdlog::warn("shard {}/{}: skipped {}", ref.index, ref.shard.value, why);
  std::shared_ptr<shard_index> index(std::move(start->index));
  out.snapshot_seq = start->snapshot_seq;
  caf::scoped_actor self{system};
  seq_no after = index->applied_seq();
  for (bool more = true; more;) {
    if (env->jobs->stopping()) {
      out.error = "shutting down";
      return out;
    }
    std::string failure;
    self->request(env->persistence, env->timeout, log_read_request{ref, after, 16u << 20})
        .receive(
            [&](log_chunk& chunk) {
              more = chunk.more;
              if (chunk.records.empty()) {
                more = false;
                return;
              }
              out.replayed += chunk.records.size();
              after = chunk.records.back().seq;
              auto applied = index->apply_logged(std::move(chunk.records));
              if (!applied) failure = applied.error().message;
            },
            [&](caf::error& e) {
              auto st = from_caf_error(e);
              failure = st.message;
              out.transient = st.code == errc::unavailable || st.code == errc::insufficient_storage;
            });
    if (!failure.empty()) {
      out.error = "log replay: " + failure;
      return out;
    }
  }
  if (index->applied_seq() < lease.last_seq) {
    out.error = "replay stopped at seq " + std::to_string(index->applied_seq().value) +
                " but the log holds up to " + std::to_string(lease.last_seq.value);
    return out;
  }
  out.index = std::move(index);
  out.seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  return out;
}

void open_for_recovery(index_self* self, shard_open_request open);

// Takes a new lease (epoch) and rebuilds on the job pool. Storage errors that may
// pass (it is restarting) are retried; others quarantine the shard.
void start_recovery(index_self* self) {
  auto& s = self->state;
  ++s.generation;
  s.ph = phase::recovering;
  s.index.reset();
  // The rebuilt shard reports what it holds; writes in flight settle as not applied.
  s.env->usage->add(s.ref.tenant.value, {-s.contribution.vectors, -s.contribution.bytes});
  s.contribution = {};
  if (!s.uncounted) {
    s.uncounted = true;
    s.env->usage->uncounted_shards(s.ref.tenant.value, 1);
  }
  s.in_flight.clear();
  // A running snapshot job's result is now stale (ignored by generation); waiting
  // for it would hold every later write.
  s.snapshotting = false;
  s.applying = false;
  s.promoting = false;
  s.catching_up = false;
  // Writes acknowledged by storage but not yet applied are durable: the recovery
  // replays them, so they are answered now (their closures see the new generation).
  auto deferred = std::move(s.deferred);
  s.deferred.clear();
  for (auto& apply : deferred) apply();
  report(self);
  shard_open_request open{s.ref};
  if (s.env->clustered) {
    open.mode = s.primary ? open_mode::hold : open_mode::follow;
    open.epoch = s.held_epoch;
  }
  open_for_recovery(self, open);
}

void open_for_recovery(index_self* self, shard_open_request open) {
  auto& s = self->state;
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout, open)
      .then(
          [self, generation, mode = open.mode](shard_lease& lease) {
            auto& s = self->state;
            if (generation != s.generation) return;
            if (mode != open_mode::follow) {
              s.write_failure = status::success();
              s.claimed = true;
            }
            s.epoch = s.env->clustered ? s.held_epoch : lease.epoch;
            s.dir = lease.dir;
            s.next_seq = lease.last_seq.value + 1;
            auto me = caf::actor_cast<caf::actor>(self);
            auto* system = &self->system();
            auto posted = s.env->jobs->post(
                [system, env = s.env, ref = s.ref, params = s.params, lease, generation, me] {
                  caf::anon_send(me, recover(*system, env, ref, params, lease, generation));
                });
            if (!posted) self->quit(caf::exit_reason::user_shutdown);
          },
          [self, generation, open](caf::error& e) {
            auto& s = self->state;
            if (generation != s.generation) return;
            auto st = from_caf_error(e);
            if (st.code == errc::insufficient_storage && open.mode == open_mode::claim) {
              // Claiming writes the epoch file: on a full disk, serve reads without
              // one and claim once the disk takes writes again.
              spdlog::warn("shard {}: {}; serving reads only", describe(s), st.message);
              s.write_failure = st;
              s.claimed = false;
              auto follow = open;
              follow.mode = open_mode::follow;
              return open_for_recovery(self, follow);
            }
            if (s.env->clustered && st.code == errc::stale_epoch) {
              // A newer primary was fenced in: wait for the node's next word.
              s.fenced = true;
              spdlog::warn("shard {}: {}; waiting for a new role", describe(s), st.message);
              report(self);
              return;
            }
            if (st.code == errc::unavailable || st.code == errc::insufficient_storage) {
              spdlog::warn("shard {}: cannot open its log yet ({}); retrying", describe(s),
                           st.message);
              self->delayed_send(self, std::chrono::seconds(1), reopen_atom::value);
              return;
            }
            quarantine(self, st.message);
          });
}

void quarantine(index_self* self, std::string reason) {
  auto& s = self->state;
  s.ph = phase::quarantined;
  counted(s);
  spdlog::error("shard {} quarantined: {}", describe(s), reason);
  s.reason = std::move(reason);
  report(self);
}

void schedule_reclaim(index_self* self) {
  auto& s = self->state;
  if (s.reclaim_pending) return;
  s.reclaim_pending = true;
  self->delayed_send(self, reclaim_interval, reclaim_atom::value);
}

// Storage refused a write for want of space (or a writable file system).
void storage_refused(index_self* self, status why) {
  auto& s = self->state;
  if (s.write_failure.ok())
    spdlog::error("shard {}: writes refused until storage takes them again: {}", describe(s),
                  why.message);
  s.write_failure = std::move(why);
  schedule_reclaim(self);
}

// Opens the shard again as its writer, which makes storage read its log anew; if
// the log ends where the graph does, writes resume from there, else (records the
// graph lacks reached the disk) the shard is rebuilt from the log.
void reclaim(index_self* self) {
  auto& s = self->state;
  s.reclaim_pending = false;
  if (s.write_failure.ok() || s.ph != phase::serving) return;
  if (s.env->clustered && (!s.primary || s.fenced || s.promoting)) {
    s.write_failure = status::success();  // the role's own rules decide now
    return;
  }
  // Writes still out would race the reopen: wait for their answers.
  if (!s.in_flight.empty() || s.applying || !s.deferred.empty()) return schedule_reclaim(self);
  shard_open_request open{s.ref};
  if (s.env->clustered) {
    open.mode = open_mode::hold;
    open.epoch = s.held_epoch;
  } else if (s.claimed) {
    open.mode = open_mode::hold;
    open.epoch = s.epoch;
  }
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout, open)
      .then(
          [self, generation](shard_lease& lease) {
            auto& s = self->state;
            if (generation != s.generation || s.write_failure.ok()) return;
            s.write_failure = status::success();
            s.claimed = true;
            if (!s.env->clustered) s.epoch = lease.epoch;
            if (lease.last_seq.value != s.index->applied_seq().value) {
              spdlog::warn("shard {}: the log ends at seq {}, the graph at {}; rebuilding",
                           describe(s), lease.last_seq.value, s.index->applied_seq().value);
              return start_recovery(self);
            }
            s.next_seq = lease.last_seq.value + 1;
            spdlog::info("shard {}: storage takes writes again, from seq {}", describe(s),
                         s.next_seq);
          },
          [self, generation](caf::error& e) {
            auto& s = self->state;
            if (generation != s.generation || s.write_failure.ok()) return;
            auto st = from_caf_error(e);
            if (st.code == errc::stale_epoch) {
              if (!s.env->clustered) return start_recovery(self);
              s.fenced = true;
              s.write_failure = status::success();
              report(self);
              return;
            }
            if (st.code == errc::insufficient_storage) s.write_failure = st;  // fresh details
            schedule_reclaim(self);
          });
}

}  // namespace quiver::index_detail
