// The registry's catalog: loading it, applying it (the index actors or the
// cluster's shards that follow from it), forgetting what left it.

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <map>
#include <set>

#include "actors/registry/detail/registry_state.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver::registry_detail {

index_entry& spawn_shards(registry_actor* self, const catalog_entry& c) {
  auto& entry = self->state.indexes[{c.tenant.value, c.params.name}];
  entry.catalog = c;
  for (std::uint32_t s = 0; s < c.params.shards; ++s) {
    shard_slot slot;
    // A cluster's shards are placed on nodes; the slot follows the primary.
    if (!self->state.cluster) {
      // One shard in the gateway's process: its searches may skip the actors.
      std::shared_ptr<read_slot> reads;
      if (self->state.env->board && c.params.shards == 1)
        reads = self->state.env->board->open(c.tenant.value, c.params.name);
      slot.actor = spawn_index_actor(self, c, shard_id{s}, self->state.env, std::move(reads));
    }
    entry.shards.push_back(std::move(slot));
  }
  if (self->state.cluster) {
    self->state.cluster->add_index(c);
    coordinate(self);
  }
  return entry;
}

void add_tenant(registry_actor* self, const tenant_record& t) {
  auto& s = self->state;
  if (auto old = s.tenants.find(t.name); old != s.tenants.end())
    s.tenant_of_key.erase(old->second.key_hash);
  s.tenants[t.name] = t;
  s.tenant_of_key[t.key_hash] = t.name;
  s.env->usage->set_limits(t.name, t.quotas.max_vectors, t.quotas.max_bytes);
}

// Forgets an index the catalog no longer holds: its local shards stop, a
// cluster's nodes let go of theirs on their next heartbeat.
void forget_index(registry_actor* self, std::map<index_key, index_entry>::iterator it) {
  auto& s = self->state;
  // Before the drop is acknowledged: no search after it finds the index.
  if (s.env->board) s.env->board->close(it->first.first, it->first.second);
  for (auto& shard : it->second.shards) {
    if (!shard.actor || s.cluster) continue;
    self->demonitor(shard.actor);
    self->send_exit(shard.actor, caf::exit_reason::kill);
  }
  if (s.cluster) s.cluster->drop_index(it->first.first, it->first.second);
  for (auto& waiting : it->second.waiting) waiting.deliver(not_found(it->first.second));
  s.indexes.erase(it);
}

void apply_catalog(registry_actor* self, const std::vector<tenant_record>& tenants,
                   const std::vector<catalog_entry>& indexes) {
  auto& s = self->state;
  std::set<std::string> named;
  for (auto& t : tenants) {
    named.insert(t.name);
    add_tenant(self, t);
  }
  for (auto it = s.tenants.begin(); it != s.tenants.end();) {
    if (named.count(it->first)) {
      ++it;
      continue;
    }
    s.tenant_of_key.erase(it->second.key_hash);
    s.env->usage->forget_limits(it->first);
    it = s.tenants.erase(it);
  }
  std::map<index_key, const catalog_entry*> wanted;
  for (auto& e : indexes) wanted[{e.tenant.value, e.params.name}] = &e;
  for (auto it = s.indexes.begin(); it != s.indexes.end();) {
    auto w = wanted.find(it->first);
    bool keep = w != wanted.end() && w->second->incarnation == it->second.catalog.incarnation;
    auto next = std::next(it);
    if (!keep) {
      spdlog::info("index {}/{} is no longer in the catalog", it->first.first, it->first.second);
      forget_index(self, it);
    }
    it = next;
  }
  std::size_t added = 0;
  for (auto& e : indexes)
    if (!s.indexes.count({e.tenant.value, e.params.name})) {
      spawn_shards(self, e);
      ++added;
    }
  if (!s.loaded)
    spdlog::info("catalog loaded: {} tenant(s), {} index(es) recovering", tenants.size(), added);
  s.loaded = true;
}

void load_catalog(registry_actor* self) {
  // A coordinator without storage of its own (hosted by a vectord) has only
  // etcd's catalog.
  if (!self->state.env->persistence && self->state.coordination.metadata)
    return start_metadata(self);
  auto retry = [self](caf::error& e) {
    spdlog::warn("cannot read the catalog yet ({}); retrying", from_caf_error(e).message);
    self->delayed_send(self, std::chrono::seconds(1), reload_atom::value);
  };
  self->request(self->state.env->persistence, self->state.env->timeout, catalog_tenants_request{})
      .then(
          [self, retry](std::vector<tenant_record>& tenants) {
            self->request(self->state.env->persistence, self->state.env->timeout,
                          catalog_list_request{})
                .then(
                    [self, tenants = std::move(tenants)](std::vector<catalog_entry>& catalog) {
                      if (self->state.loaded) return;
                      if (self->state.coordination.metadata) {
                        // etcd's catalog is read once elected (storage's is
                        // imported into it the first time).
                        self->state.stored_tenants = tenants;
                        self->state.stored_catalog = catalog;
                        start_metadata(self);
                        return;
                      }
                      apply_catalog(self, tenants, catalog);
                    },
                    retry);
          },
          retry);
}

}  // namespace quiver::registry_detail
