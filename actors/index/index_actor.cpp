#include "actors/index/index_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <algorithm>
#include <iterator>
#include <memory>

#include "actors/index/detail/index_state.hpp"
#include "actors/index/snapshot_files.hpp"
#include "actors/wire/caf_error.hpp"
#include "common/vector_validation.hpp"

namespace quiver {
namespace index_detail {

std::string describe(const index_state& s) {
  return s.ref.tenant.value + "/" + s.ref.index + "/" + std::to_string(s.ref.shard.value);
}

// A tenant mismatch means a routing bug; it must fail the request, not touch data.
template <class Request>
bool wrong_tenant(const index_state& s, const Request& r) {
  if (r.tenant == s.ref.tenant) return false;
  spdlog::error("shard {}: request for tenant '{}' reached it", describe(s), r.tenant.value);
  return true;
}

template <class Request>
status check(const index_state& s, const Request& r) {
  if (wrong_tenant(s, r))
    return make_status(errc::internal, "request routed to another tenant's shard");
  return s.control.not_serving();
}

status valid_filter(const metadata_filter& f) {
  auto problem = filter_problem(f);
  if (problem.empty()) return status::success();
  return make_status(errc::invalid_argument, problem);
}

// Deletes what the filter matches now, as deletes of those ids: the log holds ids,
// so a replay removes exactly these. Writes still in flight are concurrent with
// this delete and may land either side of it. Large matches go as several
// writes, in order, through this shard's own mailbox.
caf::result<delete_vectors_reply> delete_by_filter(index_self* self, delete_vectors_request r) {
  constexpr std::size_t chunk = 10000;
  auto& s = self->state;
  if (!r.ids.empty())
    return to_caf_error(make_status(errc::invalid_argument, "a delete takes ids or a filter"));
  if (auto st = valid_filter(r.filter); !st.ok()) return to_caf_error(st);
  auto ids = s.index->ids_matching(r.filter);
  if (ids.empty()) return delete_vectors_reply{0};
  struct pending {
    std::uint64_t deleted = 0;
    std::size_t remaining = 0;
    bool failed = false;
  };
  auto p = std::make_shared<pending>();
  auto rp = self->make_response_promise<delete_vectors_reply>();
  p->remaining = (ids.size() + chunk - 1) / chunk;
  for (std::size_t at = 0; at < ids.size(); at += chunk) {
    delete_vectors_request part{r.tenant, r.index, {}, {}};
    auto end = std::min(ids.size(), at + chunk);
    part.ids.assign(std::make_move_iterator(ids.begin() + at),
                    std::make_move_iterator(ids.begin() + end));
    self->request(caf::actor_cast<caf::actor>(self), caf::infinite, std::move(part))
        .then(
            [p, rp](delete_vectors_reply& x) mutable {
              if (p->failed) return;
              p->deleted += x.deleted;
              if (--p->remaining == 0) rp.deliver(delete_vectors_reply{p->deleted});
            },
            [p, rp](caf::error& e) mutable {
              if (p->failed) return;
              p->failed = true;
              rp.deliver(e);
            });
  }
  return rp;
}

void report(index_self* self, std::uint64_t replayed, double seconds) {
  auto& s = self->state;
  shard_status_report r;
  r.shard = s.ref.shard;
  r.state = s.control.state_name();
  r.reason = s.control.reason();
  r.replayed_records = replayed;
  r.recovery_seconds = seconds;
  r.primary = s.control.reports_primary();
  r.epoch = s.control.reported_epoch();
  if (s.index) r.applied = s.index->applied_seq();
  self->send(s.registry, std::move(r));
}

// Clustered shards tell their node how far they have applied (for lag), at most
// a few times a second.
void report_progress(index_self* self) {
  auto& s = self->state;
  if (!s.env->clustered || s.progress_pending) return;
  s.progress_pending = true;
  self->delayed_send(self, std::chrono::milliseconds(200), progress_atom::value);
}

// Why a write is refused here; success for a primary that may write.
status not_writable(const index_state& s) {
  bool lease_lapsed = s.env->lease_deadline &&
                      clock_type::now().time_since_epoch().count() >= s.env->lease_deadline->load();
  return s.control.not_writable(lease_lapsed);
}

// Runs `apply` now, or once the running snapshot no longer reads the shard (and
// after earlier deferred writes).
void when_applicable(index_self* self, std::function<void()> apply) {
  auto& s = self->state;
  if (s.capturing || s.busy()) {
    s.deferred.push_back(std::move(apply));
  } else {
    apply();
  }
}

void drain_deferred(index_self* self) {
  auto& s = self->state;
  while (!s.capturing && !s.applying && !s.deferred.empty()) {
    auto next = std::move(s.deferred.front());
    s.deferred.pop_front();
    next();
  }
}

void maybe_snapshot(index_self* self, bool force) {
  auto& s = self->state;
  if (!s.control.serving() || s.snapshotting || s.applying) return;
  if (!s.control.snapshot_due(s.index->applied_seq(), clock_type::now(), force)) return;
  s.snapshotting = true;
  s.capturing = true;
  s.control.snapshot_started(clock_type::now());
  auto me = caf::actor_cast<caf::actor>(self);
  auto posted = s.env->jobs->post(
      [me, index = s.index, env = s.env, dir = s.dir + "/snapshots", generation = s.generation] {
        snapshot_done_msg out;
        out.generation = generation;
        auto saved = index->save_snapshot(
            *env->files, [&](seq_no seq) { return snapshot_path(dir, seq); },
            [&] { caf::anon_send(me, snapshot_captured_msg{generation}); });
        if (saved) {
          out.seq = *saved;
          auto release = prune_snapshots(*env->files, dir);
          if (release) out.release_before = *release;
        } else {
          out.result = std::move(saved).error();
        }
        caf::anon_send(me, std::move(out));
      });
  if (!posted) s.snapshotting = s.capturing = false;
}

// The interval trigger checks once a second, but only while there is something
// the last snapshot does not cover: thousands of idle shards cost no timers.
void schedule_tick(index_self* self) {
  auto& s = self->state;
  if (s.tick_pending || !s.control.serving()) return;
  if (!s.control.wants_tick(s.index->applied_seq())) return;
  s.tick_pending = true;
  self->delayed_send(self, std::chrono::seconds(1), tick_atom::value);
}

// The CPU time of the calling thread. What applying records cost counts towards
// the replay cost in CPU time, not wall time: under a search load the write pool
// (niced) waits for a core most of the time, and a replay would not. The helper
// threads of a large batch are not counted; a replay inserts with as many.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// Applies records here and now, counting what it took towards the replay cost.
expected<shard_index::logged_result> apply_inline(index_state& s,
                                                  std::vector<log_record>& records) {
  auto started = thread_cpu_seconds();
  auto result = s.index->apply_logged(std::move(records));
  s.control.apply_took(thread_cpu_seconds() - started);
  return result;
}

// Applies durable records to the graph on the write pool: a tenant's inserts
// (milliseconds a batch) do not hold one of the few actor scheduler threads that
// every tenant's requests need. One apply at a time per shard keeps the log's order.
// What applying took counts towards the replay cost (the snapshot trigger).
void apply(index_self* self, std::shared_ptr<std::vector<log_record>> records,
           index_state::apply_done done) {
  auto& s = self->state;
  if (!s.env->writers) return done(apply_inline(s, *records), false);
  auto ticket = s.next_ticket++;
  auto me = caf::actor_cast<caf::actor>(self);
  auto posted =
      s.env->writers->post([me, index = s.index, records, generation = s.generation, ticket] {
        applied_msg m;
        m.generation = generation;
        m.ticket = ticket;
        auto started = thread_cpu_seconds();
        m.result = index->apply_logged(std::move(*records));
        m.seconds = thread_cpu_seconds() - started;
        caf::anon_send(me, std::move(m));
      });
  if (!posted) return done(apply_inline(s, *records), false);
  s.applying = true;
  s.apply_jobs.emplace(ticket, std::move(done));
}

// Shared by upserts and deletes: admit, append, then apply and answer once durable.
// A primary forwards committed records to its replicas, in seq order (the acks
// that trigger it arrive in order, and CAF keeps a sender's order per receiver).
void forward(index_self* self, const std::shared_ptr<std::vector<log_record>>& records) {
  auto& s = self->state;
  if (!s.env->clustered || s.forward_to.empty()) return;
  for (auto& replica : s.forward_to) {
    if (s.env->forward_delay.count() > 0) {
      self->delayed_send(replica, s.env->forward_delay, replicate_msg{*records});
    } else {
      self->send(replica, replicate_msg{*records});
    }
  }
}

template <class Reply, class MakeReply>
caf::result<Reply> write(index_self* self, std::vector<log_record> records, MakeReply make_reply) {
  auto& s = self->state;
  // Refused before the log takes it: the set is too small for the quorum now.
  if (s.env->replica_logs && s.control.primary() && !s.replicas.can_write())
    return to_caf_error(make_status(
        errc::unavailable, "only " + std::to_string(s.replicas.in_sync_copies()) + " of the " +
                               std::to_string(s.replicas.quorum()) +
                               " copies the write quorum asks for are in sync; nothing was "
                               "written: retry once a replica has caught up"));
  auto admitted = s.admission.admit(
      records, [&s](const std::string& id) { return s.index->metadata_size(id); });
  if (!admitted) return to_caf_error(admitted.error());
  auto change = *admitted;
  std::vector<std::string> ids;
  ids.reserve(records.size());
  for (auto& r : records)
    if (r.type == log_record_type::upsert || r.type == log_record_type::remove) ids.push_back(r.id);
  s.control.stamp(records, s.ref.shard);
  // The epoch of the log's record before these: replicas check they agree.
  auto prev_epoch = s.log_epoch;
  s.log_epoch = s.control.epoch();
  s.log_end = records.back().seq;
  auto rp = self->make_response_promise<Reply>();
  auto generation = s.generation;
  auto epoch = s.control.epoch();
  auto kept = std::make_shared<std::vector<log_record>>(records);
  auto append = [self, rp, generation, epoch, kept, make_reply, ids, change, prev_epoch,
                 request = log_append_request{s.ref, epoch, std::move(records)}]() mutable {
    self->request(self->state.env->persistence, self->state.env->timeout, std::move(request))
        .then(
            [self, rp, generation, kept, make_reply, ids, change,
             prev_epoch](log_append_reply& ack) mutable {
              // With replica logs the answer also waits for the in-sync replicas.
              std::optional<replica_set::ticket> ticket;
              bool replicated = !self->state.env->replica_logs;
              if (generation == self->state.generation) {
                if (replicated) {
                  forward(self, kept);
                } else {
                  ticket = replicate_to_peers(self, kept, prev_epoch);
                  replicated = true;
                }
              }
              auto answer = [self, rp, ticket, replicated](auto reply) mutable {
                auto fail = [rp](const status& st) mutable { rp.deliver(to_caf_error(st)); };
                if (!replicated)
                  return fail(make_status(errc::unavailable,
                                          "the shard began recovering before the write "
                                          "reached its replicas; retry it"));
                answer_when_replicated(
                    self, ticket, [rp, reply]() mutable { rp.deliver(std::move(reply)); }, fail);
              };
              when_applicable(self, [self, rp, generation, kept, make_reply, ids, change, answer,
                                     last = ack.last_seq]() mutable {
                auto& s = self->state;
                auto n = kept->size();
                if (generation != s.generation || !s.control.serving()) {
                  // Durable, so the recovery under way replays (and counts) it.
                  s.admission.release(change);
                  answer(make_reply(shard_index::logged_result{n, 0}, last));
                  return;
                }
                apply(self, kept,
                      [self, rp, answer, ids, change, n, make_reply, last](
                          expected<shard_index::logged_result> applied, bool stale) mutable {
                        auto& s = self->state;
                        if (stale) {
                          // Durable, so the recovery under way replays (and counts) it.
                          s.admission.release(change);
                          answer(make_reply(shard_index::logged_result{n, 0}, last));
                          return;
                        }
                        if (!applied) {
                          spdlog::error("shard {}: applying durable records failed: {}; recovering",
                                        describe(s), applied.error().message);
                          s.admission.release(change);
                          rp.deliver(to_caf_error(applied.error()));
                          start_recovery(self);
                          return;
                        }
                        s.admission.settle(ids, change, true);
                        report_progress(self);
                        s.control.applied(n);
                        answer(make_reply(*applied, last));
                        schedule_tick(self);
                        maybe_snapshot(self, !s.backup_waiters.empty());
                      });
              });
            },
            [self, rp, generation, epoch, ids, change](caf::error& e) mutable {
              auto& s = self->state;
              if (generation == s.generation) {
                s.admission.settle(ids, change, false);
              } else {
                s.admission.release(change);
              }
              rp.deliver(e);
              auto st = from_caf_error(e);
              if (st.code == errc::insufficient_storage) {
                // Nothing of it is in the log (storage cut what it wrote): the graph
                // still matches the log, so reads go on; writes wait for space.
                if (generation == s.generation && s.control.serving()) storage_refused(self, st);
                return;
              }
              if (s.env->clustered && st.code == errc::stale_epoch) {
                // Fenced: the records never reached the log, so the graph still
                // matches it. Another primary writes now; wait for the node.
                if (generation == s.generation && s.control.append_fenced(epoch)) {
                  spdlog::warn("shard {}: fenced ({}); no more writes here", describe(s),
                               st.message);
                  report(self);
                }
                return;
              }
              // Whether the failed records reached the disk is unknown: rebuild from
              // the log so the graph never differs from it.
              if (generation == s.generation && s.control.serving()) {
                spdlog::error("shard {}: log append failed: {}; recovering", describe(s),
                              from_caf_error(e).message);
                start_recovery(self);
              }
            });
  };
  if (s.env->append_delay.count() > 0) {
    self->delayed_send(self, s.env->append_delay, deferred_call{std::move(append)});
  } else {
    append();
  }
  return rp;
}

}  // namespace index_detail

namespace {

using namespace index_detail;

void final_snapshot(index_state& s) {
  if (!s.control.serving() || s.snapshotting || !s.index) return;
  if (!s.control.snapshot_due(s.index->applied_seq(), clock_type::now(), true)) return;
  auto dir = s.dir + "/snapshots";
  auto seq = s.index->applied_seq();
  auto st = s.index->save_snapshot(*s.env->files, snapshot_path(dir, seq));
  if (!st.ok()) {
    spdlog::warn("shard {}: final snapshot failed: {}", describe(s), st.message);
    return;
  }
  prune_snapshots(*s.env->files, dir);
  spdlog::debug("shard {}: snapshot at seq {} on shutdown", describe(s), seq.value);
}

caf::behavior index_actor(index_self* self, catalog_entry entry, shard_id shard,
                          std::shared_ptr<const index_actor_env> env, caf::actor registry,
                          std::shared_ptr<read_slot> reads) {
  auto& s = self->state;
  s.reads = std::move(reads);
  // However the actor ends (a drop's kill included), its shard leaves the slot.
  if (s.reads) self->attach_functor([reads = s.reads] { reads->withdraw(); });
  s.ref = shard_ref{entry.tenant, entry.params.name, entry.incarnation, shard};
  s.params = std::move(entry.params);
  s.env = std::move(env);
  s.registry = std::move(registry);
  s.control = shard_control("index '" + s.ref.index + "' shard " + std::to_string(shard.value),
                            s.env->clustered, s.env->snapshots);
  s.control.set_own_log(s.env->replica_logs);
  s.admission = write_admission(s.env->usage.get(), s.ref.tenant.value,
                                std::int64_t{s.params.dimension} * std::int64_t{sizeof(float)});
  // Clustered, a shard counts in its node's usage only while primary.
  if (s.env->clustered) s.admission.set_counting(false, {});
  // A drop sends `kill`, which skips this: the files are going away.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& s = self->state;
    if (msg.reason == caf::exit_reason::user_shutdown && (s.snapshotting || s.applying)) {
      s.exiting = true;  // stop once the running snapshot or apply is done
      return;
    }
    if (msg.reason == caf::exit_reason::user_shutdown) final_snapshot(s);
    self->quit(msg.reason);
  });
  start_recovery(self);
  return {
      [self](tick_atom) {
        self->state.tick_pending = false;
        maybe_snapshot(self);
        schedule_tick(self);
      },
      [self](reopen_atom) { start_recovery(self); },
      [self](reclaim_atom) { reclaim(self); },
      [self](progress_atom) {
        self->state.progress_pending = false;
        report(self);
      },
      [self](shard_role_msg& m) { change_role(self, m); },
      [](deferred_call& c) { c.run(); },
      [self](replicate_msg& m) { on_replicated(self, m); },
      [self](replica_append_request& r) -> caf::result<log_append_reply> {
        return on_replica_append(self, r);
      },
      [self](replica_in_step& m) -> caf::result<bool> { return on_in_step(self, m); },
      [self](snapshot_fetch_request& r) -> caf::result<snapshot_chunk> {
        return on_snapshot_fetch(self, r);
      },
      [self](backup_prepare_request& r) -> caf::result<backup_prepare_reply> {
        if (auto st = check(self->state, r); !st.ok()) return to_caf_error(st);
        return on_backup_prepare(self, r);
      },
      [self](backup_chunk_request& r) -> caf::result<snapshot_chunk> {
        if (auto st = check(self->state, r); !st.ok()) return to_caf_error(st);
        return on_backup_chunk(self, r);
      },
      [self](follow_request& r) -> caf::result<follow_reply> { return on_follow_request(self, r); },
      [self](log_read_request& r) -> caf::result<log_chunk> {
        return on_primary_log_read(self, r);
      },
      [self](recovered_msg& m) {
        auto& s = self->state;
        if (m.generation != s.generation) return;
        if (!m.index) {
          if (m.error == "shutting down") return;
          if (m.transient) {
            spdlog::warn("shard {}: {}; retrying", describe(s), m.error);
            self->delayed_send(self, std::chrono::seconds(1), reopen_atom::value);
            return;
          }
          quarantine(self, m.error);
          return;
        }
        s.index = std::move(m.index);
        s.admission.recovered({static_cast<std::int64_t>(s.index->count()),
                               static_cast<std::int64_t>(s.index->stored_bytes())});
        s.control.recovered(s.index->applied_seq());
        if (s.reads) s.reads->serve(s.index);
        s.control.snapshot_base(m.snapshot_seq, m.replayed, clock_type::now(), m.replay_seconds);
        spdlog::info("shard {} ready: {} vectors, {} log records replayed in {:.3f} s", describe(s),
                     s.index->count(), m.replayed, m.seconds);
        report(self, m.replayed, m.seconds);
        if (!s.control.write_failure().ok()) schedule_reclaim(self);
        maybe_snapshot(self);
        schedule_tick(self);
        // A replica: what the primary appended while this one loaded.
        if (s.env->clustered && !s.control.primary()) catch_up(self);
      },
      [self](snapshot_captured_msg& m) {
        auto& s = self->state;
        if (m.generation != s.generation) return;
        s.capturing = false;
        drain_deferred(self);
      },
      [self](snapshot_done_msg& m) {
        auto& s = self->state;
        if (m.generation != s.generation) return;
        s.snapshotting = s.capturing = false;
        if (m.result.ok()) {
          s.control.snapshot_taken(m.seq, clock_type::now());
          spdlog::debug("shard {}: snapshot at seq {}", describe(s), m.seq.value);
          if (0 < m.release_before.value)
            self->request(s.env->persistence, s.env->timeout,
                          log_release_request{s.ref, m.release_before})
                .then([](bool) {},
                      [self](caf::error& e) {
                        spdlog::warn("shard {}: log truncation failed: {}", describe(self->state),
                                     caf::to_string(e));
                      });
        } else {
          // Retried at the next trigger; the log still holds everything.
          s.control.snapshot_failed(clock_type::now());
          spdlog::error("shard {}: snapshot failed: {}", describe(s), m.result.message);
        }
        serve_backup_waiters(self, m.result);
        drain_deferred(self);
        if (s.exiting && !s.applying && !s.snapshotting) {
          final_snapshot(s);
          self->quit(caf::exit_reason::user_shutdown);
        }
      },
      [self](applied_msg& m) {
        auto& s = self->state;
        auto it = s.apply_jobs.find(m.ticket);
        if (it == s.apply_jobs.end()) return;
        auto done = std::move(it->second);
        s.apply_jobs.erase(it);
        if (m.generation != s.generation) {
          done(std::move(m.result), true);
          return;
        }
        s.applying = false;
        s.control.apply_took(m.seconds);
        done(std::move(m.result), false);
        drain_deferred(self);
        if (s.exiting && !s.applying && !s.snapshotting) {
          final_snapshot(s);
          self->quit(caf::exit_reason::user_shutdown);
        }
      },
      [self](upsert_request& r) -> caf::result<upsert_reply> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        if (auto st = not_writable(s); !st.ok()) return to_caf_error(st);
        if (auto st = validate_batch(r.items, s.params.dimension, s.params.distance); !st.ok())
          return to_caf_error(st);
        if (r.items.empty()) return upsert_reply{0, seq_no{}};  // nothing to log
        dedup_last_wins(r.items);
        std::vector<log_record> records(r.items.size());
        for (std::size_t i = 0; i < r.items.size(); ++i) {
          records[i].type = log_record_type::upsert;
          records[i].id = std::move(r.items[i].id);
          records[i].vector = std::move(r.items[i].vector);
          records[i].metadata = std::move(r.items[i].metadata);
        }
        return write<upsert_reply>(self, std::move(records),
                                   [](const shard_index::logged_result& a, seq_no last) {
                                     return upsert_reply{a.upserted, last};
                                   });
      },
      [self](delete_vectors_request& r) -> caf::result<delete_vectors_reply> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        if (auto st = not_writable(s); !st.ok()) return to_caf_error(st);
        if (!r.filter.empty()) return delete_by_filter(self, std::move(r));
        if (r.ids.empty()) return delete_vectors_reply{0};
        std::vector<log_record> records(r.ids.size());
        for (std::size_t i = 0; i < r.ids.size(); ++i) {
          records[i].type = log_record_type::remove;
          records[i].id = std::move(r.ids[i]);
        }
        return write<delete_vectors_reply>(self, std::move(records),
                                           [](const shard_index::logged_result& a, seq_no) {
                                             return delete_vectors_reply{a.removed};
                                           });
      },
      [self](get_vector_request& r) -> caf::result<vector_record> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        auto rec = s.index->get(r.id);
        if (!rec)
          return to_caf_error(make_status(errc::vector_not_found, "no vector '" + r.id + "'"));
        return std::move(*rec);
      },
      [self](list_ids_request& r) -> caf::result<id_page> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        return s.index->ids_after(r.after, r.limit);
      },
      [self](search_request& r) -> caf::result<search_reply> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        auto rp = self->make_response_promise<search_reply>();
        rp.delegate(s.env->readers, search_job{s.index, std::move(r)});
        return rp;
      },
      [self](field_index_request& r) -> caf::result<field_index_reply> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        if (auto st = not_writable(s); !st.ok()) return to_caf_error(st);
        if (r.field.name.empty() || r.field.type < field_type::keyword ||
            r.field.type > field_type::boolean)
          return to_caf_error(make_status(errc::invalid_argument, "not a field index"));
        // Already so: nothing to log.
        auto now = s.index->field_type_of(r.field.name);
        if (r.drop ? !now : now && *now == r.field.type) return field_index_reply{false};
        std::vector<log_record> records(1);
        records[0].type =
            r.drop ? log_record_type::drop_field_index : log_record_type::set_field_index;
        records[0].id = r.field.name;
        if (!r.drop) records[0].metadata = field_type_name(r.field.type);
        return write<field_index_reply>(
            self, std::move(records),
            [](const shard_index::logged_result&, seq_no) { return field_index_reply{true}; });
      },
      [self](list_fields_request& r) -> caf::result<list_fields_reply> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        list_fields_reply out;
        out.shards = 1;
        for (auto& f : s.index->field_indexes()) out.fields.push_back({std::move(f), 1});
        return out;
      },
      [self](count_request& r) -> caf::result<count_reply> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        if (auto st = valid_filter(r.filter); !st.ok()) return to_caf_error(st);
        return count_reply{s.index->count_matching(r.filter)};
      },
      [self](shard_stats_request& r) -> caf::result<shard_stats> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        return shard_stats{s.index->count(), s.index->memory_bytes(), s.index->applied_seq()};
      },
      [self](index_version_request& r) -> caf::result<index_version> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        return index_version{s.ref.incarnation, s.params, {s.index->applied_seq()}};
      },
      [self](shard_export_request& r) -> caf::result<shard_export> {
        auto& s = self->state;
        if (auto st = check(s, r); !st.ok()) return to_caf_error(st);
        shard_export out;
        auto page = s.index->ids_after(r.after, std::max<std::uint32_t>(r.limit, 1));
        for (auto& id : page.ids)
          if (auto rec = s.index->get(id))
            out.items.push_back(
                {std::move(rec->id), std::move(rec->vector), std::move(rec->metadata)});
        out.more = page.more && !page.ids.empty();
        if (!page.ids.empty()) out.last_id = page.ids.back();
        return out;
      },
  };
}

}  // namespace

caf::actor spawn_index_actor(caf::event_based_actor* parent, catalog_entry entry, shard_id shard,
                             std::shared_ptr<const index_actor_env> shared,
                             std::shared_ptr<read_slot> reads) {
  return parent->spawn<caf::monitored>(index_actor, std::move(entry), shard, std::move(shared),
                                       caf::actor_cast<caf::actor>(parent), std::move(reads));
}

}  // namespace quiver
