// A clustered shard whose replicas each keep their own log: the primary sends
// its records to its replicas and answers a write once every in-sync replica
// has it durably; a replica agrees with its primary's log (cutting a tail no
// later primary wrote) and reads what it lacks from it.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>

#include "common/crc32c.hpp"
#include "common/parse.hpp"

#include "actors/index/detail/index_state.hpp"
#include "actors/index/snapshot_files.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver::index_detail {

namespace {

// How long a primary's in-sync change waits for the coordinator, and how soon a
// failed one is tried again.
constexpr auto in_sync_timeout = std::chrono::seconds(5);
constexpr auto in_sync_retry = std::chrono::milliseconds(500);
// A follow that failed (the primary is not ready, or unreachable) is tried again.
constexpr auto follow_retry = std::chrono::seconds(1);
// How long a replica waits for its primary's answer: a link cut while a
// request was out must not hold the follow for the internal deadline.
constexpr auto follow_timeout = std::chrono::seconds(10);
// Rounds of agreeing with the primary before giving up: each cuts the own log.
constexpr int max_agree_rounds = 64;

status not_replicated(const std::string& why) {
  return make_status(errc::unavailable,
                     "the write is in the primary's log but not confirmed by its in-sync "
                     "replicas (" +
                         why + "); it may or may not persist: retry it");
}

void deliver_done(index_self* self, const std::vector<replica_set::ticket>& done) {
  auto& s = self->state;
  for (auto t : done) {
    auto it = s.answers.find(t);
    if (it == s.answers.end()) continue;
    auto deliver = std::move(it->second.deliver);
    s.answers.erase(it);
    deliver();
  }
}

// Whether answers about the primary role under `epoch` still matter.
bool same_term(index_self* self, std::uint64_t generation, std::uint64_t epoch) {
  auto& s = self->state;
  return generation == s.generation && s.control.primary() && s.control.epoch() == epoch;
}

void change_in_sync(index_self* self, const std::string& node, bool in_sync);

void on_peer_failed(index_self* self, const std::string& node, const status& why) {
  auto& s = self->state;
  if (s.replicas.failed(node) != replica_set::failure::leave) return;
  spdlog::warn("shard {}: in-sync replica on {} failed a write ({}); taking it out of the set",
               describe(s), node, why.message);
  change_in_sync(self, node, false);
}

void change_in_sync(index_self* self, const std::string& node, bool in_sync) {
  auto& s = self->state;
  auto generation = s.generation;
  auto epoch = s.control.epoch();
  if (in_sync) s.replicas.join_requested(node);
  self->request(s.env->coordinator, in_sync_timeout,
                in_sync_update_request{s.ref, epoch, s.env->node_name, node, in_sync})
      .then(
          [self, node, in_sync, generation, epoch](bool) {
            auto& s = self->state;
            if (!same_term(self, generation, epoch)) return;
            if (in_sync) {
              spdlog::info("shard {}: replica on {} joined the in-sync set", describe(s), node);
              s.replicas.joined(node);
              return;
            }
            deliver_done(self, s.replicas.left(node));
          },
          [self, node, in_sync, generation, epoch](caf::error& e) {
            auto& s = self->state;
            if (!same_term(self, generation, epoch)) return;
            auto st = from_caf_error(e);
            if (in_sync) {
              s.replicas.join_failed(node);
              return;
            }
            if (st.code == errc::stale_epoch) {
              // Another primary leads now: nothing waiting here was acknowledged
              // by the set, and nothing may be.
              spdlog::warn("shard {}: {}; no more writes here", describe(s), st.message);
              s.control.fence();
              abandon_replication(self, st);
              report(self);
              return;
            }
            // The coordinator is out of reach: the writes wait, the leave is retried.
            self->delayed_send(self, in_sync_retry, deferred_call{[self, node, generation, epoch] {
                                 if (!same_term(self, generation, epoch)) return;
                                 change_in_sync(self, node, false);
                               }});
          });
}

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

replica_set::ticket replicate_to_peers(index_self* self,
                                       const std::shared_ptr<std::vector<log_record>>& records,
                                       std::uint64_t prev_epoch) {
  auto& s = self->state;
  auto ticket = s.replicas.begin(records->back().seq);
  auto generation = s.generation;
  auto epoch = s.control.epoch();
  for (auto& node : s.replicas.nodes()) {
    auto actor = s.peer_actors.find(node);
    if (actor == s.peer_actors.end()) {
      on_peer_failed(self, node, make_status(errc::unavailable, "its replica is not reachable"));
      continue;
    }
    // Answers from a replica actor this primary no longer sends to (its node
    // restarted) say nothing about the one it sends to now.
    auto to = actor->second;
    auto current = [self, node, to, generation, epoch] {
      if (!same_term(self, generation, epoch)) return false;
      auto it = self->state.peer_actors.find(node);
      return it != self->state.peer_actors.end() && it->second == to;
    };
    auto send = [self, to, node, current,
                 request = replica_append_request{s.ref, epoch, prev_epoch, *records}] {
      self->request(to, self->state.env->replica_timeout, request)
          .then(
              [self, node, current](log_append_reply& r) {
                auto& s = self->state;
                if (!current()) return;
                deliver_done(self,
                             s.replicas.acked(node, r.last_seq, seq_no{s.control.next_seq() - 1}));
                if (s.replicas.wants_join(node)) change_in_sync(self, node, true);
              },
              [self, node, current](caf::error& e) {
                if (!current()) return;
                spdlog::debug("shard {}: replica on {} refused records: {}", describe(self->state),
                              node, from_caf_error(e).message);
                on_peer_failed(self, node, from_caf_error(e));
              });
    };
    // Fault injection: the window in which only this log holds the records.
    if (s.env->forward_delay.count() > 0) {
      self->delayed_send(self, s.env->forward_delay, deferred_call{std::move(send)});
    } else {
      send();
    }
  }
  return ticket;
}

void answer_when_replicated(index_self* self, std::optional<replica_set::ticket> ticket,
                            std::function<void()> deliver,
                            std::function<void(const status&)> fail) {
  auto& s = self->state;
  if (!ticket) return deliver();
  switch (s.replicas.local_done(*ticket)) {
    case replica_set::progress::complete:
      return deliver();
    case replica_set::progress::abandoned:
      return fail(not_replicated("the primary role ended"));
    case replica_set::progress::waiting:
      s.answers[*ticket] = {std::move(deliver), std::move(fail)};
      return;
  }
}

void abandon_replication(index_self* self, const status& why) {
  auto& s = self->state;
  s.replicas.abandon();
  auto answers = std::move(s.answers);
  s.answers.clear();
  for (auto& [t, a] : answers) a.fail(not_replicated(why.message));
}

void assign_peers(index_self* self, const shard_role_msg& m) {
  auto& s = self->state;
  if (!s.env->replica_logs) return;
  if (!m.primary) {
    if (!s.answers.empty() || s.replicas.waiting() > 0)
      abandon_replication(self, make_status(errc::stale_epoch, "no longer the primary"));
    s.peer_actors.clear();
    s.replicas = replica_set{};
    bool moved = m.source != s.source;
    // Always the newest handle: after a lost connection the old proxy is dead,
    // though it names the same actor.
    s.source = m.source;
    if (moved) {
      // A new primary: agree with its log before taking its records.
      ++s.follow_generation;
      s.following = false;
      if (s.control.serving()) follow(self);
    }
    return;
  }
  s.source = nullptr;
  s.peer_actors.clear();
  for (std::size_t i = 0; i < m.forward_to.size() && i < m.forward_nodes.size(); ++i)
    s.peer_actors[m.forward_nodes[i]] = m.forward_to[i];
  // Every member of the set is sent to (and waited for), hosted or not: one
  // whose replica this node cannot reach fails and must leave first.
  auto names = m.forward_nodes;
  for (auto& n : m.in_sync)
    if (n != s.env->node_name && std::find(names.begin(), names.end(), n) == names.end())
      names.push_back(n);
  auto assigned = s.replicas.assign(names, m.in_sync);
  deliver_done(self, assigned.done);
  for (auto& node : assigned.leave) {
    spdlog::info("shard {}: in-sync replica on {} is no longer hosted; taking it out of the set",
                 describe(s), node);
    change_in_sync(self, node, false);
  }
}

caf::result<log_append_reply> on_replica_append(index_self* self, replica_append_request& r) {
  auto& s = self->state;
  if (r.records.empty()) return log_append_reply{s.log_end};
  if (!s.env->replica_logs || s.control.primary() || !s.control.serving())
    return to_caf_error(make_status(errc::unavailable, "not a serving replica"));
  if (r.epoch < s.follow_epoch)
    return to_caf_error(make_status(errc::stale_epoch, "epoch " + std::to_string(r.epoch) +
                                                           " is stale (following " +
                                                           std::to_string(s.follow_epoch) + ")"));
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
  self->request(s.env->persistence, s.env->timeout, log_append_request{s.ref, r.epoch, *kept})
      .then(
          [self, rp, kept, generation](log_append_reply& ack) mutable {
            rp.deliver(ack);
            if (generation != self->state.generation) return;
            apply_in_order(self, std::move(*kept), nullptr);
          },
          [self, rp, generation](caf::error& e) mutable {
            rp.deliver(e);
            auto& s = self->state;
            if (generation != s.generation) return;
            spdlog::error("shard {}: appending the primary's records failed: {}; recovering",
                          describe(s), from_caf_error(e).message);
            start_recovery(self);
          });
  return rp;
}

caf::result<follow_reply> on_follow_request(index_self* self, follow_request& r) {
  auto& s = self->state;
  if (!s.control.primary() || !s.control.serving() || s.control.promoting())
    return to_caf_error(make_status(errc::unavailable, "not a serving primary"));
  auto rp = self->make_response_promise<follow_reply>();
  auto epoch = s.control.epoch();
  self->request(s.env->persistence, s.env->timeout, epoch_end_request{s.ref, r.last_epoch})
      .then(
          [rp, epoch](epoch_end& e) mutable {
            rp.deliver(follow_reply{epoch, e});
          },
          [rp](caf::error& e) mutable { rp.deliver(e); });
  return rp;
}

caf::result<log_chunk> on_primary_log_read(index_self* self, log_read_request& r) {
  auto& s = self->state;
  if (!s.control.primary() || !s.control.serving())
    return to_caf_error(make_status(errc::unavailable, "not a serving primary"));
  auto rp = self->make_response_promise<log_chunk>();
  r.max_bytes = std::min<std::uint64_t>(r.max_bytes, 16u << 20);
  rp.delegate(s.env->persistence, std::move(r));
  return rp;
}

caf::result<bool> on_in_step(index_self* self, const replica_in_step& m) {
  auto& s = self->state;
  if (!s.env->replica_logs || !s.control.primary() || m.epoch != s.control.epoch())
    return to_caf_error(make_status(errc::stale_epoch, "not the primary under that epoch"));
  auto nodes = s.replicas.nodes();
  if (std::find(nodes.begin(), nodes.end(), m.node) == nodes.end())
    return to_caf_error(make_status(errc::unavailable, "replica not known here yet"));
  deliver_done(self, s.replicas.acked(m.node, m.last, seq_no{s.control.next_seq() - 1}));
  if (s.replicas.wants_join(m.node)) change_in_sync(self, m.node, true);
  return true;
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

caf::result<snapshot_chunk> on_snapshot_fetch(index_self* self, const snapshot_fetch_request& r) {
  auto& s = self->state;
  if (!s.control.primary() || !s.control.serving())
    return to_caf_error(make_status(errc::unavailable, "not a serving primary"));
  auto& files = *s.env->files;
  auto dir = s.dir + "/snapshots";
  auto seqs = list_snapshots(files, dir);
  seq_no seq = r.seq;
  if (seq.value == 0 && !seqs.empty()) seq = seqs.front();
  if (std::find(seqs.begin(), seqs.end(), seq) == seqs.end())
    return to_caf_error(
        make_status(errc::not_found, "no snapshot at seq " + std::to_string(seq.value) + " here"));
  auto path = snapshot_path(dir, seq);
  auto total = files.file_size(path);
  if (!total) return to_caf_error(total.error());
  snapshot_chunk out;
  out.seq = seq;
  out.total = *total;
  out.offset = std::min(r.offset, *total);
  auto want = std::min<std::uint64_t>({r.max_bytes, 8u << 20, *total - out.offset});
  if (want > 0) {
    auto bytes = files.read_range(path, out.offset, static_cast<std::size_t>(want));
    if (!bytes) return to_caf_error(bytes.error());
    out.bytes = std::move(*bytes);
  }
  out.crc = crc32c(out.bytes.data(), out.bytes.size());
  auto rp = self->make_response_promise<snapshot_chunk>();
  self->request(s.env->persistence, s.env->timeout, epoch_at_request{s.ref, seq})
      .then(
          [rp, out](std::uint64_t epoch) mutable {
            out.epoch = epoch;
            rp.deliver(std::move(out));
          },
          [rp](caf::error& e) mutable { rp.deliver(e); });
  return rp;
}

}  // namespace quiver::index_detail
