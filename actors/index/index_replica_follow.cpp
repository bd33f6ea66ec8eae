// A clustered shard whose replicas each keep their own log, the replica's side:
// it takes its primary's records when they follow its log, else it follows:
// agrees with the primary's log (cutting a tail no later primary wrote), reads
// what it lacks from it, or takes the primary's snapshot when that log no
// longer holds it.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>

#include "actors/index/detail/index_state.hpp"
#include "actors/index/snapshot_files.hpp"
#include "actors/wire/caf_error.hpp"
#include "common/crc32c.hpp"
#include "common/parse.hpp"

namespace quiver::index_detail {

namespace {

// A follow that failed (the primary is not ready, or unreachable) is tried again.
constexpr auto follow_retry = std::chrono::seconds(1);
// How long a replica waits for its primary's answer: a link cut while a
// request was out must not hold the follow for the internal deadline.
constexpr auto follow_timeout = std::chrono::seconds(10);
// Rounds of agreeing with the primary before giving up: each cuts the own log.
constexpr int max_agree_rounds = 64;

// Removes the snapshots that cover records past `cut`: they hold a tail no
// primary after it wrote.
void drop_snapshots_after(index_state& s, seq_no cut) {
  auto dir = s.dir + "/snapshots";
  for (auto seq : list_snapshots(*s.env->files, dir))
    if (cut < seq) s.env->files->remove(snapshot_path(dir, seq));
}

void follow_step(index_self* self, int round);
void read_step(index_self* self, std::uint64_t primary_epoch);
void bootstrap(index_self* self);

// Tells the primary this replica is in step; again shortly while the primary
// does not know it yet (its role names this replica only after a heartbeat).
void tell_in_step(index_self* self, std::uint64_t primary_epoch, int attempt) {
  constexpr int attempts = 50;
  auto& s = self->state;
  auto generation = s.generation;
  auto fg = s.follow_generation;
  self->request(s.source, follow_timeout,
                replica_in_step{s.ref, s.env->node_name, primary_epoch, s.log_end})
      .then([](bool) {},
            [self, generation, fg, primary_epoch, attempt](caf::error& e) {
              auto& s = self->state;
              if (generation != s.generation || fg != s.follow_generation) return;
              if (from_caf_error(e).code != errc::unavailable || attempt + 1 >= attempts) return;
              self->delayed_send(
                  self, std::chrono::milliseconds(300),
                  deferred_call{[self, generation, fg, primary_epoch, attempt] {
                    auto& s = self->state;
                    if (generation != s.generation || fg != s.follow_generation || s.following)
                      return;
                    tell_in_step(self, primary_epoch, attempt + 1);
                  }});
            });
}

// Ends a follow that cannot go on now; another starts a second later.
void follow_later(index_self* self, const std::string& why) {
  auto& s = self->state;
  s.following = false;
  ++s.follow_generation;
  spdlog::debug("shard {}: following the primary: {}; again shortly", describe(s), why);
  auto generation = s.generation;
  self->delayed_send(self, follow_retry, deferred_call{[self, generation] {
                       if (generation == self->state.generation) follow(self);
                     }});
}

// Holds the own log at the primary's epoch before appending under it.
void hold_epoch(index_self* self, std::uint64_t epoch) {
  auto& s = self->state;
  if (s.storage_epoch == epoch) return;
  s.storage_epoch = epoch;
  self->request(s.env->persistence, s.env->timeout,
                shard_open_request{s.ref, open_mode::hold, epoch})
      .then([](shard_lease&) {},
            [self](caf::error& e) {
              spdlog::warn("shard {}: holding its log at the primary's epoch failed: {}",
                           describe(self->state), from_caf_error(e).message);
            });
}

}  // namespace

caf::result<log_append_reply> on_replica_append(index_self* self, replica_append_request& r) {
  auto& s = self->state;
  if (!s.env->replica_logs || s.control.primary() || !s.control.serving())
    return to_caf_error(make_status(errc::unavailable, "not a serving replica"));
  if (r.epoch < s.follow_epoch)
    return to_caf_error(make_status(errc::stale_epoch, "epoch " + std::to_string(r.epoch) +
                                                           " is stale (following " +
                                                           std::to_string(s.follow_epoch) + ")"));
  if (r.records.empty()) {
    // A probe: this log ends at the primary's, under the same epoch, durably.
    if (s.following || r.prev_seq.value != s.log_end.value || r.prev_epoch != s.log_epoch) {
      follow(self);
      return to_caf_error(make_status(errc::unavailable, "replica not in step; catching up"));
    }
    if (s.appends_in_flight > 0)
      return to_caf_error(make_status(errc::unavailable, "records still on their way to disk"));
    s.follow_epoch = r.epoch;
    return log_append_reply{s.log_end};
  }
  auto first = r.records.front().seq;
  // Records that follow this log's last one, which the primary's log holds
  // under the same epoch: the logs agree up to here ((epoch, seq) names one
  // record), whatever primary wrote them.
  if (s.following || first.value != s.log_end.value + 1 || r.prev_epoch != s.log_epoch) {
    follow(self);
    return to_caf_error(
        make_status(errc::unavailable, "replica not in step (its log ends at " +
                                           std::to_string(s.log_end.value) + " under epoch " +
                                           std::to_string(s.log_epoch) + ", the records start at " +
                                           std::to_string(first.value) + " after epoch " +
                                           std::to_string(r.prev_epoch) + "); catching up"));
  }
  s.follow_epoch = r.epoch;
  hold_epoch(self, r.epoch);
  s.log_end = r.records.back().seq;
  s.log_epoch = r.records.back().epoch;
  auto rp = self->make_response_promise<log_append_reply>();
  auto generation = s.generation;
  auto kept = std::make_shared<std::vector<log_record>>(std::move(r.records));
  ++s.appends_in_flight;
  self->request(s.env->persistence, s.env->timeout, log_append_request{s.ref, r.epoch, *kept})
      .then(
          [self, rp, kept, generation](log_append_reply& ack) mutable {
            --self->state.appends_in_flight;
            rp.deliver(ack);
            if (generation != self->state.generation) return;
            apply_in_order(self, std::move(*kept), nullptr);
          },
          [self, rp, generation](caf::error& e) mutable {
            --self->state.appends_in_flight;
            rp.deliver(e);
            auto& s = self->state;
            if (generation != s.generation) return;
            spdlog::error("shard {}: appending the primary's records failed: {}; recovering",
                          describe(s), from_caf_error(e).message);
            start_recovery(self);
          });
  return rp;
}

void follow(index_self* self) {
  auto& s = self->state;
  if (!s.env->replica_logs || s.control.primary() || !s.control.serving() || s.following) return;
  if (!s.source) return;  // no primary yet: its role brings one
  s.following = true;
  ++s.follow_generation;
  follow_step(self, 0);
}

namespace {

// One round of agreeing: the primary says how far its log agrees with this one's
// newest epoch; this log cuts what lies past both that and its own end of the
// epoch the primary named, and asks again until they agree.
void follow_step(index_self* self, int round) {
  auto& s = self->state;
  if (round >= max_agree_rounds)
    return quarantine(self, "its log does not come to agree with the primary's");
  auto generation = s.generation;
  auto fg = s.follow_generation;
  auto current = [self, generation, fg] {
    return generation == self->state.generation && fg == self->state.follow_generation;
  };
  self->request(s.source, follow_timeout, follow_request{s.ref, s.log_epoch})
      .then(
          [self, current, round](follow_reply& answer) {
            auto& s = self->state;
            if (!current()) return;
            // What this log lacks is only in the primary's snapshot: take it whole.
            if (s.log_end.value + 1 < answer.agreed.first.value) return bootstrap(self);
            if (answer.agreed.epoch == s.log_epoch && !(answer.agreed.end < s.log_end))
              return read_step(self, answer.epoch);
            // This log's tail past the agreement: what does it hold of the
            // epoch the primary named?
            auto primary_end = answer.agreed.end;
            self->request(s.env->persistence, s.env->timeout,
                          epoch_end_request{s.ref, answer.agreed.epoch})
                .then(
                    [self, current, round, primary_end](epoch_end& mine) {
                      auto& s = self->state;
                      if (!current()) return;
                      auto cut = std::min({primary_end, mine.end, s.log_end});
                      spdlog::info(
                          "shard {}: cutting its log after seq {} (it ended at {}, "
                          "epoch {}): no later primary wrote that tail",
                          describe(s), cut.value, s.log_end.value, s.log_epoch);
                      self->request(s.env->persistence, s.env->timeout,
                                    log_truncate_request{s.ref, cut})
                          .then(
                              [self, current, round, cut](shard_lease& lease) {
                                auto& s = self->state;
                                if (!current()) return;
                                s.log_end = lease.last_seq;
                                s.log_epoch = lease.last_epoch;
                                if (cut.value + 1 < s.control.next_seq()) {
                                  // The graph holds the cut records: rebuild from
                                  // what is left (snapshots past the cut go too).
                                  drop_snapshots_after(s, cut);
                                  s.following = false;
                                  return start_recovery(self);
                                }
                                follow_step(self, round + 1);
                              },
                              [self, current](caf::error& e) {
                                if (current()) follow_later(self, from_caf_error(e).message);
                              });
                    },
                    [self, current](caf::error& e) {
                      if (current()) follow_later(self, from_caf_error(e).message);
                    });
          },
          [self, current](caf::error& e) {
            if (current()) follow_later(self, from_caf_error(e).message);
          });
}

// Reads the primary's log after this one's end, chunk by chunk, appending and
// applying each, until nothing is left: then appends under `primary_epoch` that
// follow the log are taken directly.
void read_step(index_self* self, std::uint64_t primary_epoch) {
  auto& s = self->state;
  auto generation = s.generation;
  auto fg = s.follow_generation;
  auto current = [self, generation, fg] {
    return generation == self->state.generation && fg == self->state.follow_generation;
  };
  self->request(s.source, follow_timeout, log_read_request{s.ref, s.log_end, 4u << 20})
      .then(
          [self, current, primary_epoch](log_chunk& chunk) {
            auto& s = self->state;
            if (!current()) return;
            if (chunk.records.empty()) {
              s.following = false;
              s.follow_epoch = primary_epoch;
              spdlog::info("shard {}: in step with its primary (epoch {}) at seq {}", describe(s),
                           primary_epoch, s.log_end.value);
              tell_in_step(self, primary_epoch, 0);
              return report(self);
            }
            // The primary's log no longer holds what this one lacks: its snapshot.
            if (chunk.records.front().seq.value != s.log_end.value + 1) return bootstrap(self);
            hold_epoch(self, primary_epoch);
            s.log_end = chunk.records.back().seq;
            s.log_epoch = chunk.records.back().epoch;
            auto records = std::move(chunk.records);
            auto copy = records;
            self->request(s.env->persistence, s.env->timeout,
                          log_append_request{s.ref, primary_epoch, std::move(copy)})
                .then(
                    [self, current, primary_epoch, records](log_append_reply&) mutable {
                      if (!current()) return;
                      apply_in_order(self, std::move(records),
                                     [current, primary_epoch](index_self* self) {
                                       if (current()) read_step(self, primary_epoch);
                                     });
                    },
                    [self, current](caf::error& e) {
                      auto& s = self->state;
                      if (!current()) return;
                      spdlog::error(
                          "shard {}: appending the primary's records failed: {}; "
                          "recovering",
                          describe(s), from_caf_error(e).message);
                      s.following = false;
                      start_recovery(self);
                    });
          },
          [self, current](caf::error& e) {
            if (current()) follow_later(self, from_caf_error(e).message);
          });
}

// -- bootstrap: the primary's snapshot over the wire --

std::string incoming_dir(const index_state& s) { return s.dir + "/incoming"; }

void fetch_step(index_self* self, seq_no seq, std::uint64_t offset, int restarts);

// Takes the primary's newest snapshot in checksummed chunks into
// <shard>/incoming/<seq>.part (a transfer cut short resumes where the part
// ends), then makes it this replica's newest snapshot, restarts the log after
// its seq and rebuilds from it; following goes on from there.
void bootstrap(index_self* self) {
  auto& s = self->state;
  auto& files = *s.env->files;
  auto dir = incoming_dir(s);
  if (auto st = files.create_dirs(dir); !st.ok()) return follow_later(self, st.message);
  seq_no seq;
  std::uint64_t offset = 0;
  if (auto names = files.list(dir))
    for (auto& n : *names) {
      auto dot = n.find(".part");
      auto value = dot == std::string::npos ? std::nullopt : parse_u64(n.substr(0, dot));
      if (value && seq.value == 0) {
        if (auto size = files.file_size(dir + "/" + n)) {
          seq = seq_no{*value};
          offset = *size;
          continue;
        }
      }
      files.remove(dir + "/" + n);
    }
  spdlog::info("shard {}: the primary's log no longer holds seq {}; taking its snapshot{}",
               describe(s), s.log_end.value + 1,
               offset > 0 ? " (resuming at byte " + std::to_string(offset) + ")" : "");
  fetch_step(self, seq, offset, 0);
}

void fetch_step(index_self* self, seq_no seq, std::uint64_t offset, int restarts) {
  constexpr int max_restarts = 8;
  auto& s = self->state;
  auto generation = s.generation;
  auto fg = s.follow_generation;
  auto current = [self, generation, fg] {
    return generation == self->state.generation && fg == self->state.follow_generation;
  };
  self->request(s.source, follow_timeout, snapshot_fetch_request{s.ref, seq, offset, 4u << 20})
      .then(
          [self, current, seq, offset, restarts](snapshot_chunk& chunk) {
            auto& s = self->state;
            if (!current()) return;
            auto& files = *s.env->files;
            auto part = incoming_dir(s) + "/" + std::to_string(chunk.seq.value) + ".part";
            if ((seq.value != 0 && chunk.seq.value != seq.value) || chunk.offset != offset ||
                crc32c(chunk.bytes.data(), chunk.bytes.size()) != chunk.crc ||
                chunk.offset + chunk.bytes.size() > chunk.total)
              return follow_later(self, "a damaged or unexpected snapshot chunk");
            if (!chunk.bytes.empty()) {
              auto file = files.open_append(part);
              if (!file) return follow_later(self, file.error().message);
              if (auto st = (*file)->append(chunk.bytes); !st.ok())
                return follow_later(self, st.message);
            }
            auto next = offset + chunk.bytes.size();
            if (next < chunk.total) return fetch_step(self, chunk.seq, next, restarts);
            // Whole: durable, in place, and the log goes on after its seq.
            auto done = [&]() -> status {
              auto file = files.open_append(part);
              if (!file) return std::move(file).error();
              if (auto st = (*file)->sync(); !st.ok()) return st;
              auto dir = s.dir + "/snapshots";
              if (auto st = files.create_dirs(dir); !st.ok()) return st;
              if (auto st = files.rename(part, snapshot_path(dir, chunk.seq)); !st.ok()) return st;
              return files.sync_dir(dir);
            }();
            if (!done.ok()) return follow_later(self, done.message);
            spdlog::info("shard {}: took the primary's snapshot at seq {} ({} bytes)", describe(s),
                         chunk.seq.value, chunk.total);
            self->request(s.env->persistence, s.env->timeout,
                          log_restart_request{s.ref, chunk.seq, chunk.epoch})
                .then(
                    [self, current](shard_lease&) {
                      if (!current()) return;
                      self->state.following = false;
                      start_recovery(self);
                    },
                    [self, current](caf::error& e) {
                      if (current()) follow_later(self, from_caf_error(e).message);
                    });
          },
          [self, current, restarts](caf::error& e) {
            auto& s = self->state;
            if (!current()) return;
            auto st = from_caf_error(e);
            if (st.code == errc::not_found && restarts < max_restarts) {
              // The primary pruned that snapshot: start over with its newest.
              s.env->files->remove_all(incoming_dir(s));
              s.env->files->create_dirs(incoming_dir(s));
              return fetch_step(self, seq_no{}, 0, restarts + 1);
            }
            follow_later(self, st.message);
          });
}

}  // namespace

}  // namespace quiver::index_detail
