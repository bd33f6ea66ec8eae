// A clustered shard whose replicas each keep their own log, the primary's side:
// it sends its records to its replicas, answers a write once every in-sync
// replica has it durably, moves replicas in and out of the in-sync set through
// the coordinator, and serves its replicas' follows (agreement, log reads,
// snapshot chunks).
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>

#include "actors/index/detail/index_state.hpp"
#include "actors/index/snapshot_files.hpp"
#include "actors/wire/caf_error.hpp"
#include "common/crc32c.hpp"

namespace quiver::index_detail {

namespace {

// How long a primary's in-sync change waits for the coordinator, and how soon a
// failed one is tried again.
constexpr auto in_sync_timeout = std::chrono::seconds(5);
constexpr auto in_sync_retry = std::chrono::milliseconds(500);

status not_replicated(const std::string& why) {
  return make_status(errc::unavailable,
                     "the write is in the primary's log but not confirmed by its in-sync "
                     "replicas (" +
                         why + "); it may or may not persist: retry it");
}

status short_of_quorum(const replica_set& r) {
  return not_replicated("fewer than the " + std::to_string(r.quorum()) +
                        " copies the write quorum asks for acknowledged it");
}

void deliver_done(index_self* self, const std::vector<replica_set::ticket>& done) {
  auto& s = self->state;
  for (auto t : done) {
    bool short_write = s.replicas.take_short(t);
    auto it = s.answers.find(t);
    if (it == s.answers.end()) continue;
    auto answer = std::move(it->second);
    s.answers.erase(it);
    if (short_write) {
      answer.fail(short_of_quorum(s.replicas));
    } else {
      answer.deliver();
    }
  }
}

// Whether answers about the primary role under `epoch` still matter.
bool same_term(index_self* self, std::uint64_t generation, std::uint64_t epoch) {
  auto& s = self->state;
  return generation == s.generation && s.control.primary() && s.control.epoch() == epoch;
}

void change_in_sync(index_self* self, const std::string& node, bool in_sync);
void schedule_probe(index_self* self);

// How long a member not heard from yet in this role may fail writes (it has no
// actor here yet, or it still agrees with this log) before it leaves the set:
// two heartbeats bring its actor, and a follow of an in-step log takes a few
// round trips.
constexpr auto settle_grace = std::chrono::seconds(2);

// `unreached`: this primary has no actor for the replica yet, so it never sent
// it anything.
void on_peer_failed(index_self* self, const std::string& node, const status& why,
                    bool unreached = false) {
  auto& s = self->state;
  if (why.code == errc::unavailable) {
    switch (s.replicas.hold_failure(node, unreached)) {
      case replica_set::hold::start: {
        spdlog::debug("shard {}: in-sync replica on {} is not in step yet ({}); writes wait for it",
                      describe(s), node, why.message);
        auto generation = s.generation;
        auto epoch = s.control.epoch();
        self->delayed_send(
            self, settle_grace, deferred_call{[self, node, generation, epoch] {
              if (!same_term(self, generation, epoch)) return;
              if (self->state.replicas.grace_over(node))
                on_peer_failed(self, node,
                               make_status(errc::unavailable, "it did not come in step in time"));
            }});
        return;
      }
      case replica_set::hold::already:
        return;
      case replica_set::hold::no:
        break;
    }
  }
  auto failure = s.replicas.failed(node);
  deliver_done(self, failure.done);
  if (!failure.leave) return;
  spdlog::warn("shard {}: in-sync replica on {} failed a write ({}); taking it out of the set",
               describe(s), node, why.message);
  change_in_sync(self, node, false);
}

// How often a primary asks the replicas outside its in-sync set whether their
// logs end where its own does: one that is idle and in step joins again.
constexpr auto probe_interval = std::chrono::seconds(1);

void probe(index_self* self);

// Sends `node` an empty append at this log's end: if its log ends there
// durably, it says so (an ack of everything up to there); else it follows and
// tells this primary once it is in step.
void probe_peer(index_self* self, const std::string& node) {
  auto& s = self->state;
  auto actor = s.peer_actors.find(node);
  if (actor == s.peer_actors.end()) return;
  auto generation = s.generation;
  auto epoch = s.control.epoch();
  self->request(actor->second, s.env->replica_timeout,
                replica_append_request{s.ref, epoch, s.log_end, s.log_epoch, {}})
      .then(
          [self, node, generation, epoch](log_append_reply& r) {
            auto& s = self->state;
            if (!same_term(self, generation, epoch)) return;
            deliver_done(self, s.replicas.acked(node, r.last_seq, s.log_end));
            if (s.replicas.wants_join(node)) change_in_sync(self, node, true);
          },
          [](caf::error&) {});  // not in step: it follows, and says so when it is
}

void schedule_probe(index_self* self) {
  auto& s = self->state;
  if (s.probe_pending || !s.control.primary()) return;
  s.probe_pending = true;
  auto generation = s.generation;
  self->delayed_send(self, probe_interval, deferred_call{[self, generation] {
                       self->state.probe_pending = false;
                       if (generation == self->state.generation) probe(self);
                     }});
}

// Sends each replica outside the set that is not joining an empty append at
// this log's end; one whose log ends there durably answers and starts joining.
void probe(index_self* self) {
  auto& s = self->state;
  if (!s.control.primary() || !s.control.serving() || s.control.promoting()) return;
  bool outside = false;
  for (auto& node : s.replicas.nodes()) {
    if (s.replicas.in_sync(node) || s.replicas.joining(node)) continue;
    outside = true;
    probe_peer(self, node);
  }
  if (outside) schedule_probe(self);
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
            schedule_probe(self);
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
      on_peer_failed(self, node, make_status(errc::unavailable, "its replica is not reachable"),
                     true);
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
                 request =
                     replica_append_request{s.ref, epoch, seq_no{records->front().seq.value - 1},
                                            prev_epoch, *records}]() mutable {
      // Sent once: the records go to the request, not a second copy.
      self->request(to, self->state.env->replica_timeout, std::move(request))
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
    case replica_set::progress::short_of_quorum:
      return fail(short_of_quorum(s.replicas));
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
  auto known = std::move(s.peer_actors);
  s.peer_actors.clear();
  for (std::size_t i = 0; i < m.forward_to.size() && i < m.forward_nodes.size(); ++i)
    s.peer_actors[m.forward_nodes[i]] = m.forward_to[i];
  // Every member of the set is sent to (and waited for), hosted or not: one
  // whose replica this node cannot reach fails and must leave first.
  auto names = m.forward_nodes;
  for (auto& n : m.in_sync)
    if (n != s.env->node_name && std::find(names.begin(), names.end(), n) == names.end())
      names.push_back(n);
  s.replicas.set_quorum(m.write_quorum);
  auto assigned = s.replicas.assign(names, m.in_sync);
  deliver_done(self, assigned.done);
  for (auto& node : assigned.rejoin) change_in_sync(self, node, true);
  schedule_probe(self);
  // A member whose actor is new here may owe writes sent while there was none:
  // ask it how far it holds.
  if (s.control.serving() && !s.control.promoting())
    for (auto& [node, actor] : s.peer_actors)
      if (!known.count(node) && s.replicas.in_sync(node) && !s.replicas.leaving(node))
        probe_peer(self, node);
  for (auto& node : assigned.leave) {
    spdlog::info("shard {}: in-sync replica on {} is no longer hosted; taking it out of the set",
                 describe(s), node);
    change_in_sync(self, node, false);
  }
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
  // Fault injection delays every way records leave this log, or a follow
  // would carry them past the window replicate_to_peers opens.
  if (s.env->forward_delay.count() > 0) {
    self->delayed_send(self, s.env->forward_delay, deferred_call{[self, rp, r]() mutable {
                         rp.delegate(self->state.env->persistence, std::move(r));
                       }});
    return rp;
  }
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
