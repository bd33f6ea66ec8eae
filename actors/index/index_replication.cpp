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
  s.control.following(records.back().seq);
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
                log_read_request{s.ref, seq_no{s.control.next_seq() - 1}, 4u << 20})
      .then(
          [self, generation](log_chunk& chunk) {
            auto& s = self->state;
            if (generation != s.generation) return;
            if (chunk.records.empty()) return finish_catch_up(self);
            if (chunk.records.front().seq.value != s.control.next_seq()) {
              spdlog::info("shard {}: the log no longer holds seq {}; reloading", describe(s),
                           s.control.next_seq());
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
  // With replica logs a replica reads its primary's log, not its own.
  if (self->state.env->replica_logs && !self->state.control.primary()) return follow(self);
  if (self->state.control.begin_catch_up()) catch_up_step(self);
}

void finish_catch_up(index_self* self) {
  auto& s = self->state;
  // The log's end is stable (this primary holds the only valid epoch): writing may start.
  if (!s.control.finish_catch_up()) return;
  spdlog::info("shard {}: primary under epoch {} from seq {}", describe(s), s.control.held_epoch(),
               s.control.next_seq());
  report(self);
  schedule_tick(self);
}

// A serving replica (or a primary handed a new epoch) becomes the writer: it takes
// the epoch at storage, then reads the log to its end before accepting writes.
void promote(index_self* self) {
  auto& s = self->state;
  s.control.begin_promotion();
  report(self);
  auto generation = s.generation;
  self->request(s.env->persistence, s.env->timeout,
                shard_open_request{s.ref, open_mode::hold, s.control.held_epoch()})
      .then(
          [self, generation](shard_lease&) {
            auto& s = self->state;
            if (generation != s.generation || !s.control.promoting()) return;
            if (s.control.epoch_confirmed()) catch_up(self);
          },
          [self, generation](caf::error& e) {
            auto& s = self->state;
            if (generation != s.generation || !s.control.promoting()) return;
            auto st = from_caf_error(e);
            if (s.control.promotion_refused(st)) return report(self);
            spdlog::warn("shard {}: taking the primary role failed: {}; recovering", describe(s),
                         st.message);
            start_recovery(self);
          });
}

void change_role(index_self* self, shard_role_msg& m) {
  auto& s = self->state;
  s.forward_to = m.forward_to;
  auto step = s.control.assign_role(m.primary, m.epoch, m.primary_applied,
                                    s.admission.writes_in_flight(), s.busy());
  if (s.control.primary() != s.admission.counting()) {
    // A primary counts what it holds now (a replica's count was not kept).
    stored_usage holds;
    if (s.index)
      holds = {static_cast<std::int64_t>(s.index->count()),
               static_cast<std::int64_t>(s.index->stored_bytes())};
    s.admission.set_counting(s.control.primary(), holds);
  }
  assign_peers(self, m);
  switch (step) {
    case shard_control::role_step::none:
      return;
    case shard_control::role_step::catch_up:
      return catch_up(self);
    case shard_control::role_step::recover:
    case shard_control::role_step::promote:
      break;
  }
  spdlog::info("shard {}: now {}{}", describe(s), m.primary ? "primary, epoch " : "replica",
               m.primary ? std::to_string(m.epoch) : std::string());
  if (step == shard_control::role_step::recover) return start_recovery(self);
  promote(self);
}

void on_replicated(index_self* self, replicate_msg& m) {
  auto& s = self->state;
  switch (s.control.on_forwarded(m.records)) {
    case shard_control::replica_step::ignore:
      return;
    case shard_control::replica_step::catch_up:
      return catch_up(self);
    case shard_control::replica_step::apply:
      break;
  }
  s.control.drop_known(m.records);
  if (!m.records.empty()) apply_in_order(self, std::move(m.records), nullptr);
}

}  // namespace quiver::index_detail
