#include "actors/registry/index_registry.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <map>

#include "actors/index/index_actor.hpp"
#include "actors/runtime/actor_messages.hpp"
#include "actors/runtime/caf_error.hpp"

namespace quiver {

namespace {

struct index_entry {
  index_params params;
  std::vector<caf::actor> shards;
  std::vector<bool> down;  // per shard: its actor terminated
};

using index_key = std::pair<std::string, std::string>;  // (tenant, index name)

struct registry_state {
  caf::actor readers;
  shard_index_options options;
  std::chrono::milliseconds timeout{};
  std::map<index_key, index_entry> indexes;
  static inline const char* name = "quiver.registry";
};

using registry_actor = caf::stateful_actor<registry_state>;

caf::error not_found(const std::string& name) {
  return to_caf_error(make_status(errc::index_not_found, "no index '" + name + "'"));
}

// Asks every shard of the given indexes for its stats and delivers their
// descriptions, in the order given.
void describe(registry_actor* self, std::vector<const index_entry*> entries,
              const tenant_id& tenant,
              std::function<void(expected<std::vector<index_description>>)> done) {
  struct pending {
    std::vector<index_description> out;
    std::size_t remaining = 0;
    bool failed = false;
  };
  auto p = std::make_shared<pending>();
  p->out.resize(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    p->out[i].params = entries[i]->params;
    p->remaining += entries[i]->shards.size();
    for (bool d : entries[i]->down)
      if (d) p->out[i].status = "unavailable";
  }
  if (p->remaining == 0) {
    done(std::move(p->out));
    return;
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    for (std::size_t s = 0; s < entries[i]->shards.size(); ++s) {
      if (entries[i]->down[s]) {
        if (--p->remaining == 0) done(std::move(p->out));
        continue;
      }
      self->request(entries[i]->shards[s], self->state.timeout, shard_stats_request{tenant})
          .then(
              [p, i, done](shard_stats& st) {
                if (p->failed) return;
                p->out[i].count += st.count;
                p->out[i].memory_bytes += st.memory_bytes;
                if (--p->remaining == 0) done(std::move(p->out));
              },
              [p, done](caf::error& e) {
                if (p->failed) return;
                p->failed = true;
                done(from_caf_error(e));
              });
    }
  }
}

caf::behavior registry(registry_actor* self, caf::actor readers, shard_index_options options,
                       std::chrono::milliseconds timeout) {
  self->state.readers = std::move(readers);
  self->state.options = options;
  self->state.timeout = timeout;
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [key, entry] : self->state.indexes)
      for (std::size_t s = 0; s < entry.shards.size(); ++s)
        if (entry.shards[s].address() == msg.source) {
          entry.down[s] = true;
          spdlog::error("index {}/{} shard {} stopped: {}", key.first, key.second, s,
                        caf::to_string(msg.reason));
        }
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [key, entry] : self->state.indexes)
      for (auto& shard : entry.shards) self->send_exit(shard, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [self](create_index_request& r) -> caf::result<create_index_reply> {
        if (auto st = validate_params(r.params); !st.ok()) return to_caf_error(st);
        auto key = index_key{r.tenant.value, r.params.name};
        auto& indexes = self->state.indexes;
        if (auto it = indexes.find(key); it != indexes.end()) {
          if (it->second.params != r.params)
            return to_caf_error(make_status(
                errc::index_exists, "index '" + r.params.name + "' exists with other parameters"));
          auto rp = self->make_response_promise<create_index_reply>();
          describe(self, {&it->second}, r.tenant, [rp](auto result) mutable {
            if (result) {
              rp.deliver(create_index_reply{std::move(result->front()), false});
            } else {
              rp.deliver(to_caf_error(result.error()));
            }
          });
          return rp;
        }
        index_entry entry;
        entry.params = r.params;
        for (std::uint32_t s = 0; s < r.params.shards; ++s)
          entry.shards.push_back(spawn_index_actor(self, r.tenant, r.params, shard_id{s},
                                                   self->state.readers, self->state.options));
        entry.down.assign(entry.shards.size(), false);
        indexes.emplace(key, std::move(entry));
        spdlog::info("created index {}/{} (dimension {}, {} shard(s))", r.tenant.value,
                     r.params.name, r.params.dimension, r.params.shards);
        return create_index_reply{index_description{r.params, 0, 0, "ready"}, true};
      },
      [self](lookup_index_request& r) -> caf::result<index_route> {
        auto it = self->state.indexes.find({r.tenant.value, r.name});
        if (it == self->state.indexes.end()) return not_found(r.name);
        for (bool d : it->second.down)
          if (d)
            return to_caf_error(
                make_status(errc::unavailable, "index '" + r.name + "' has a shard that is down"));
        return index_route{it->second.params, it->second.shards};
      },
      [self](list_indexes_request& r) -> caf::result<std::vector<index_description>> {
        auto rp = self->make_response_promise<std::vector<index_description>>();
        std::vector<const index_entry*> entries;
        for (auto& [key, entry] : self->state.indexes)
          if (key.first == r.tenant.value) entries.push_back(&entry);
        describe(self, std::move(entries), r.tenant, [rp](auto result) mutable {
          if (result) {
            rp.deliver(std::move(*result));
          } else {
            rp.deliver(to_caf_error(result.error()));
          }
        });
        return rp;
      },
      [self](describe_index_request& r) -> caf::result<index_description> {
        auto it = self->state.indexes.find({r.tenant.value, r.name});
        if (it == self->state.indexes.end()) return not_found(r.name);
        auto rp = self->make_response_promise<index_description>();
        describe(self, {&it->second}, r.tenant, [rp](auto result) mutable {
          if (result) {
            rp.deliver(std::move(result->front()));
          } else {
            rp.deliver(to_caf_error(result.error()));
          }
        });
        return rp;
      },
      [self](drop_index_request& r) -> caf::result<bool> {
        auto it = self->state.indexes.find({r.tenant.value, r.name});
        if (it == self->state.indexes.end()) return not_found(r.name);
        for (auto& shard : it->second.shards) {
          self->demonitor(shard);
          self->send_exit(shard, caf::exit_reason::user_shutdown);
        }
        self->state.indexes.erase(it);
        spdlog::info("dropped index {}/{}", r.tenant.value, r.name);
        return true;
      },
      [self](readiness_request&) -> caf::result<readiness_reply> {
        readiness_reply out;
        for (auto& [key, entry] : self->state.indexes)
          for (std::size_t s = 0; s < entry.down.size(); ++s)
            if (entry.down[s])
              out.missing.push_back(key.first + "/" + key.second + "/" + std::to_string(s));
        return out;
      },
  };
}

}  // namespace

caf::actor spawn_index_registry(caf::actor_system& system, caf::actor readers,
                                shard_index_options options, std::chrono::milliseconds timeout) {
  return system.spawn(registry, std::move(readers), options, timeout);
}

}  // namespace quiver
