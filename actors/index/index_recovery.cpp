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
              auto applying = clock_type::now();
              auto applied = index->apply_logged(std::move(chunk.records));
              out.replay_seconds +=
                  std::chrono::duration<double>(clock_type::now() - applying).count();
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
  s.control.begin_recovery();
  if (s.reads) s.reads->withdraw();
  s.index.reset();
  // The rebuilt shard reports what it holds; writes in flight settle as not applied.
  s.admission.recovering();
  // A running snapshot job's result is now stale (ignored by generation); waiting
  // for it would hold every later write.
  s.snapshotting = s.capturing = false;
  s.applying = false;
  // With replica logs, writes still waiting for replicas fail: this role's
  // replication ends here.
  if (s.env->replica_logs) {
    abandon_replication(self, make_status(errc::unavailable, "the shard is recovering"));
    s.following = false;
    ++s.follow_generation;
  }
  // Writes acknowledged by storage but not yet applied are durable: the recovery
  // replays them, so they are answered now (their closures see the new generation).
  auto deferred = std::move(s.deferred);
  s.deferred.clear();
  for (auto& apply : deferred) apply();
  report(self);
  if (!s.env->replica_logs) return open_for_recovery(self, s.control.open_request(s.ref));
  // The node's own storage learns of the index first (under the cluster's
  // incarnation; idempotent), then opens the shard's log.
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout,
                catalog_create_request{s.ref.tenant, s.params, s.ref.incarnation})
      .then(
          [self, generation](catalog_create_reply&) {
            auto& s = self->state;
            if (generation == s.generation) open_for_recovery(self, s.control.open_request(s.ref));
          },
          [self, generation](caf::error& e) {
            auto& s = self->state;
            if (generation != s.generation) return;
            auto st = from_caf_error(e);
            if (st.code == errc::unavailable || st.code == errc::insufficient_storage) {
              spdlog::warn("shard {}: cannot record its index yet ({}); retrying", describe(s),
                           st.message);
              self->delayed_send(self, std::chrono::seconds(1), reopen_atom::value);
              return;
            }
            quarantine(self, st.message);
          });
}

void open_for_recovery(index_self* self, shard_open_request open) {
  auto& s = self->state;
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout, open)
      .then(
          [self, generation, mode = open.mode](shard_lease& lease) {
            auto& s = self->state;
            if (generation != s.generation) return;
            s.control.opened(mode, lease);
            s.dir = lease.dir;
            s.log_end = lease.last_seq;
            s.log_epoch = lease.last_epoch;
            s.storage_epoch = lease.epoch;
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
              s.control.claim_refused(st);
              auto follow = open;
              follow.mode = open_mode::follow;
              return open_for_recovery(self, follow);
            }
            if (s.env->clustered && st.code == errc::stale_epoch) {
              // A newer primary was fenced in: wait for the node's next word.
              s.control.fence();
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
  s.admission.quarantined();
  spdlog::error("shard {} quarantined: {}", describe(s), reason);
  s.control.quarantine(std::move(reason));
  if (s.reads) s.reads->withdraw();
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
  if (s.control.storage_refused(why))
    spdlog::error("shard {}: writes refused until storage takes them again: {}", describe(s),
                  why.message);
  schedule_reclaim(self);
}

// Opens the shard again as its writer, which makes storage read its log anew; if
// the log ends where the graph does, writes resume from there, else (records the
// graph lacks reached the disk) the shard is rebuilt from the log.
void reclaim(index_self* self) {
  auto& s = self->state;
  s.reclaim_pending = false;
  // A replica, a fenced or a promoting primary: the role's own rules decide now.
  if (s.control.reclaim() != shard_control::reclaim_step::reopen) return;
  // Writes still out would race the reopen: wait for their answers.
  if (s.admission.writes_in_flight() || s.busy()) return schedule_reclaim(self);
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout, s.control.reopen_request(s.ref))
      .then(
          [self, generation](shard_lease& lease) {
            auto& s = self->state;
            if (generation != s.generation || !s.control.reclaiming()) return;
            if (!s.control.reclaimed(lease, s.index->applied_seq())) {
              spdlog::warn("shard {}: the log ends at seq {}, the graph at {}; rebuilding",
                           describe(s), lease.last_seq.value, s.index->applied_seq().value);
              return start_recovery(self);
            }
            spdlog::info("shard {}: storage takes writes again, from seq {}", describe(s),
                         s.control.next_seq());
          },
          [self, generation](caf::error& e) {
            auto& s = self->state;
            if (generation != s.generation || !s.control.reclaiming()) return;
            switch (s.control.reclaim_failed(from_caf_error(e))) {
              case shard_control::reclaim_failure::recover:
                return start_recovery(self);
              case shard_control::reclaim_failure::fenced:
                return report(self);
              case shard_control::reclaim_failure::retry:
                return schedule_reclaim(self);
            }
          });
}

}  // namespace quiver::index_detail
