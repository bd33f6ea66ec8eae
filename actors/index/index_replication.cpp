// A clustered shard's roles: forwarding a primary's writes, applying them on a
// replica in order, catching up from the log, and taking the primary role.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>

#include "actors/index/detail/index_state.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver::index_detail {

// Applies records that follow everything handed to apply so far (replication and
// catch-up), in order; `then` runs once they are in the graph.
void apply_in_order(index_self* self, std::vector<log_record> records,
                    std::function<void(index_self*)> then) {
  auto& s = self->state;
  s.next_seq = records.back().seq.value + 1;
  auto kept = std::make_shared<std::vector<log_record>>(std::move(records));
  auto generation = s.generation;
  when_applicable(self, [self, kept, generation, then] {
    if (generation != self->state.generation) return;
    apply(self, kept, [self, then](expected<shard_index::logged_result> applied, bool stale) {
      if (stale) return;
      if (!applied) {
        spdlog::error("shard {}: applying replicated records failed: {}; recovering",
                      describe(self->state), applied.error().message);
        start_recovery(self);
        return;
      }
      report_progress(self);
      if (then) then(self);
    });
  });
}

void finish_catch_up(index_self* self);

// Reads the records after everything handed to apply from the shard log, chunk by
// chunk, until its end. A log already truncated past this replica (a snapshot
// covers what it lacks) means a full recovery instead.
void catch_up_step(index_self* self) {
  auto& s = self->state;
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout,
                log_read_request{s.ref, seq_no{s.next_seq - 1}, 4u << 20})
      .then(
          [self, generation](log_chunk& chunk) {
            auto& s = self->state;
            if (generation != s.generation) return;
            if (chunk.records.empty()) return finish_catch_up(self);
            if (chunk.records.front().seq.value != s.next_seq) {
              spdlog::info("shard {}: the log no longer holds seq {}; reloading", describe(s),
                           s.next_seq);
              return start_recovery(self);
            }
            auto more = chunk.more;
            apply_in_order(self, std::move(chunk.records), [more](index_self* self) {
              if (more) return catch_up_step(self);
              finish_catch_up(self);
            });
          },
          [self, generation](caf::error& e) {
            auto& s = self->state;
            if (generation != s.generation) return;
            spdlog::warn("shard {}: catching up from the log failed: {}; recovering", describe(s),
                         from_caf_error(e).message);
            start_recovery(self);
          });
}

void catch_up(index_self* self) {
  auto& s = self->state;
  if (s.catching_up || s.ph != phase::serving) return;
  s.catching_up = true;
  catch_up_step(self);
}

void finish_catch_up(index_self* self) {
  auto& s = self->state;
  s.catching_up = false;
  // Only a catch-up that ended after the epoch was confirmed has seen the log's
  // final end (reads and the open are answered in order).
  if (!s.promoting || !s.epoch_taken) return;
  // The log's end is stable (this primary holds the only valid epoch): writing may start.
  s.promoting = false;
  spdlog::info("shard {}: primary under epoch {} from seq {}", describe(s), s.held_epoch,
               s.next_seq);
  report(self);
  schedule_tick(self);
}

// A serving replica (or a primary handed a new epoch) becomes the writer: it takes
// the epoch at storage, then reads the log to its end before accepting writes.
void promote(index_self* self) {
  auto& s = self->state;
  s.promoting = true;
  s.epoch_taken = false;
  s.fenced = false;
  report(self);
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout,
                shard_open_request{s.ref, open_mode::hold, s.held_epoch})
      .then(
          [self, generation](shard_lease&) {
            auto& s = self->state;
            if (generation != s.generation || !s.promoting) return;
            s.epoch = s.held_epoch;
            s.write_failure = status::success();
            s.epoch_taken = true;
            // A catch-up still running (a replica's) carries on and completes this.
            if (!s.catching_up) catch_up(self);
          },
          [self, generation](caf::error& e) {
            auto& s = self->state;
            if (generation != s.generation || !s.promoting) return;
            auto st = from_caf_error(e);
            s.promoting = false;
            if (st.code == errc::stale_epoch) {
              s.fenced = true;
              report(self);
              return;
            }
            spdlog::warn("shard {}: taking the primary role failed: {}; recovering", describe(s),
                         st.message);
            start_recovery(self);
          });
}

void change_role(index_self* self, shard_role_msg& m) {
  auto& s = self->state;
  s.forward_to = std::move(m.forward_to);
  bool same = m.primary == s.primary && (!m.primary || m.epoch == s.held_epoch);
  if (same) {
    // A replica behind its primary with nothing arriving (it missed the last
    // forwards) reads the rest from the log.
    if (!s.primary && s.ph == phase::serving && !s.catching_up && !s.applying &&
        s.deferred.empty() && s.next_seq <= m.primary_applied.value)
      catch_up(self);
    return;
  }
  s.primary = m.primary;
  s.held_epoch = m.epoch;
  s.fenced = false;
  spdlog::info("shard {}: now {}{}", describe(s), m.primary ? "primary, epoch " : "replica",
               m.primary ? std::to_string(m.epoch) : std::string());
  // Demoted, or with its own writes in flight: rebuild in the new role (a write
  // numbered but refused by storage must not shadow the new primary's records).
  if (s.ph != phase::serving || !m.primary || !s.in_flight.empty()) return start_recovery(self);
  promote(self);
}

void on_replicated(index_self* self, replicate_msg& m) {
  auto& s = self->state;
  if (!s.env->clustered || s.primary || s.ph != phase::serving || s.catching_up ||
      m.records.empty())
    return;
  if (s.next_seq < m.records.front().seq.value) return catch_up(self);  // a gap
  auto& r = m.records;
  r.erase(r.begin(), std::find_if(r.begin(), r.end(),
                                  [&](const log_record& x) { return s.next_seq <= x.seq.value; }));
  if (!r.empty()) apply_in_order(self, std::move(r), nullptr);
}

}  // namespace quiver::index_detail
