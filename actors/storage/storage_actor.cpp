#include "actors/storage/storage_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <vector>

#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"
#include "actors/wire/protocol.hpp"

namespace quiver {

namespace {

using flush_atom = caf::atom_constant<caf::atom("flush")>;

// The storage protocol (common/wire/storage.hpp plus the tenant records it keeps
// and the version handshake), closed: a handler missing, added or answering
// another type than this names fails to compile. `flush` is the actor's own
// timer message (group commit); a typed actor can only send itself what its
// interface names, and a peer's flush only syncs early.
using storage_api =
    caf::typed_actor<caf::reacts_to<flush_atom>,
                     caf::replies_to<protocol_hello>::with<protocol_hello>,
                     caf::replies_to<catalog_list_request>::with<std::vector<catalog_entry>>,
                     caf::replies_to<catalog_create_request>::with<catalog_create_reply>,
                     caf::replies_to<catalog_tenants_request>::with<std::vector<tenant_record>>,
                     caf::replies_to<tenant_create_request>::with<bool>,
                     caf::replies_to<tenant_rotate_request>::with<bool>,
                     caf::replies_to<tenant_drop_request>::with<bool>,
                     caf::replies_to<catalog_drop_request>::with<bool>,
                     caf::replies_to<shard_list_request>::with<std::vector<shard_ref>>,
                     caf::replies_to<shard_drop_request>::with<bool>,
                     caf::replies_to<shard_open_request>::with<shard_lease>,
                     caf::replies_to<shard_fence_request>::with<std::uint64_t>,
                     caf::replies_to<log_append_request>::with<log_append_reply>,
                     caf::replies_to<log_read_request>::with<log_chunk>,
                     caf::replies_to<log_release_request>::with<bool>,
                     caf::replies_to<log_truncate_request>::with<shard_lease>,
                     caf::replies_to<epoch_end_request>::with<epoch_end>,
                     caf::replies_to<epoch_at_request>::with<std::uint64_t>,
                     caf::replies_to<log_restart_request>::with<shard_lease>,
                     caf::replies_to<storage_stats_request>::with<storage_stats>>;

struct storage_state {
  std::shared_ptr<storage_engine> engine;
  storage_actor_options options;
  // Appends written but not yet synced, answered by the next flush.
  struct pending_append {
    caf::typed_response_promise<log_append_reply> rp;
    shard_ref ref;
    seq_no last;
  };
  std::vector<pending_append> pending;
  bool flush_scheduled = false;
  static inline const char* name = "quiver.storage";
};

using storage_self = storage_api::stateful_pointer<storage_state>;

void flush(storage_self self) {
  auto& s = self->state;
  s.flush_scheduled = false;
  if (s.pending.empty()) return;
  if (auto st = s.engine->sync(); !st.ok()) spdlog::error("storage: fsync failed: {}", st.message);
  // Each shard's appends stand or fall with its own fsync.
  for (auto& p : s.pending) {
    if (auto failed = s.engine->failure(p.ref); !failed.ok()) {
      p.rp.deliver(to_caf_error(failed));
    } else {
      p.rp.deliver(log_append_reply{p.last});
    }
  }
  s.pending.clear();
}

storage_api::behavior_type storage_actor(storage_self self, std::shared_ptr<storage_engine> engine,
                                         storage_actor_options options) {
  // Handed over as shared_ptr: CAF copies spawn arguments.
  self->state.engine = std::move(engine);
  self->state.options = options;
  return {
      [self](flush_atom) { flush(self); },
      [](protocol_hello& peer) -> caf::result<protocol_hello> {
        auto out = answer_hello(peer);
        if (!out) return to_caf_error(out.error());
        return *out;
      },
      [self](catalog_list_request&) -> caf::result<std::vector<catalog_entry>> {
        return self->state.engine->catalog();
      },
      [self](catalog_create_request& r) -> caf::result<catalog_create_reply> {
        auto out = self->state.engine->create_index(r.tenant, r.params, r.incarnation);
        if (!out) return to_caf_error(out.error());
        return catalog_create_reply{out->first, out->second};
      },
      [self](catalog_tenants_request&) -> caf::result<std::vector<tenant_record>> {
        return self->state.engine->tenants();
      },
      [self](tenant_create_request& r) -> caf::result<bool> {
        auto st = self->state.engine->create_tenant(r.tenant);
        if (!st.ok()) return to_caf_error(st);
        return true;
      },
      [self](tenant_rotate_request& r) -> caf::result<bool> {
        auto st = self->state.engine->set_tenant_key(r.name, r.key_hash);
        if (!st.ok()) return to_caf_error(st);
        return true;
      },
      [self](tenant_drop_request& r) -> caf::result<bool> {
        auto st = self->state.engine->drop_tenant(r.name);
        if (!st.ok()) return to_caf_error(st);
        return true;
      },
      [self](catalog_drop_request& r) -> caf::result<bool> {
        auto st = self->state.engine->drop_index(r.tenant, r.name, r.incarnation);
        if (!st.ok()) return to_caf_error(st);
        return true;
      },
      [self](shard_list_request&) -> std::vector<shard_ref> {
        return self->state.engine->stored_shards();
      },
      [self](shard_drop_request& r) -> caf::result<bool> {
        auto st = self->state.engine->drop_shard(r.ref);
        if (!st.ok()) return to_caf_error(st);
        return true;
      },
      [self](shard_open_request& r) -> caf::result<shard_lease> {
        auto out = self->state.engine->open_shard(r.ref, r.mode, r.epoch);
        if (!out) return to_caf_error(out.error());
        return std::move(*out);
      },
      [self](shard_fence_request& r) -> caf::result<std::uint64_t> {
        auto out = self->state.engine->fence(r.ref, r.at_least);
        if (!out) return to_caf_error(out.error());
        return *out;
      },
      [self](log_append_request& r) -> caf::result<log_append_reply> {
        auto& s = self->state;
        if (r.records.empty()) return to_caf_error(make_status(errc::internal, "empty append"));
        auto st = s.engine->append(r.ref, r.epoch, r.records);
        if (!st.ok()) return to_caf_error(st);
        auto last = r.records.back().seq;
        switch (s.options.fsync) {
          case fsync_policy::none:
            return log_append_reply{last};
          case fsync_policy::always:
            s.engine->sync();
            if (auto failed = s.engine->failure(r.ref); !failed.ok()) return to_caf_error(failed);
            return log_append_reply{last};
          case fsync_policy::group:
            break;
        }
        s.pending.push_back({self->make_response_promise<log_append_reply>(), r.ref, last});
        if (!s.flush_scheduled) {
          s.flush_scheduled = true;
          // Appends already queued in the mailbox are handled before the flush.
          if (s.options.group_window.count() > 0) {
            self->delayed_send(self, s.options.group_window, flush_atom::value);
          } else {
            self->send(self, flush_atom::value);
          }
        }
        return s.pending.back().rp;
      },
      [self](log_read_request& r) -> caf::result<log_chunk> {
        auto out = self->state.engine->read(r.ref, r.after, r.max_bytes);
        if (!out) return to_caf_error(out.error());
        return std::move(*out);
      },
      [self](log_release_request& r) -> caf::result<bool> {
        auto st = self->state.engine->release_before(r.ref, r.keep_from);
        if (!st.ok()) return to_caf_error(st);
        return true;
      },
      [self](log_truncate_request& r) -> caf::result<shard_lease> {
        auto out = self->state.engine->truncate_after(r.ref, r.after);
        if (!out) return to_caf_error(out.error());
        return std::move(*out);
      },
      [self](epoch_end_request& r) -> caf::result<epoch_end> {
        auto out = self->state.engine->end_of_epoch(r.ref, r.epoch);
        if (!out) return to_caf_error(out.error());
        return *out;
      },
      [self](epoch_at_request& r) -> caf::result<std::uint64_t> {
        auto out = self->state.engine->epoch_at(r.ref, r.seq);
        if (!out) return to_caf_error(out.error());
        return *out;
      },
      [self](log_restart_request& r) -> caf::result<shard_lease> {
        auto out = self->state.engine->restart_at(r.ref, r.seq, r.epoch);
        if (!out) return to_caf_error(out.error());
        return std::move(*out);
      },
      [self](storage_stats_request&) -> caf::result<storage_stats> {
        return self->state.engine->counters();
      },
  };
}

}  // namespace

expected<fsync_policy> parse_fsync_policy(const std::string& name) {
  if (name == "always") return fsync_policy::always;
  if (name == "group") return fsync_policy::group;
  if (name == "none") return fsync_policy::none;
  return make_status(errc::invalid_argument,
                     "fsync must be \"always\", \"group\" or \"none\", not \"" + name + "\"");
}

caf::actor spawn_storage_actor(caf::actor_system& system, std::unique_ptr<storage_engine> engine,
                               storage_actor_options options) {
  std::shared_ptr<storage_engine> shared(std::move(engine));
  // Handed out untyped: it is reached through link actors (which forward several
  // protocols) and published to peers that connect with an untyped remote_actor,
  // which CAF 0.17 refuses for a typed published actor.
  return caf::actor_cast<caf::actor>(
      system.spawn<caf::detached>(storage_actor, std::move(shared), options));
}

}  // namespace quiver
