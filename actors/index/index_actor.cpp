#include "actors/index/index_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "actors/runtime/actor_messages.hpp"
#include "actors/runtime/caf_error.hpp"

namespace quiver {

namespace {

struct index_state {
  tenant_id tenant;
  shard_id shard;
  std::shared_ptr<shard_index> index;
  caf::actor readers;
  static inline const char* name = "quiver.index";
};

// A tenant mismatch means a routing bug; it must fail the request, not touch data.
template <class Request>
bool wrong_tenant(const index_state& s, const Request& r) {
  if (r.tenant == s.tenant) return false;
  spdlog::error("index {} shard {}: request for tenant '{}' reached tenant '{}'",
                s.index->params().name, s.shard.value, r.tenant.value, s.tenant.value);
  return true;
}

caf::error tenant_error() {
  return to_caf_error(make_status(errc::internal, "request routed to another tenant's shard"));
}

caf::behavior index_actor(caf::stateful_actor<index_state>* self, tenant_id tenant,
                          index_params params, shard_id shard, caf::actor readers,
                          shard_index_options options) {
  auto& s = self->state;
  s.tenant = std::move(tenant);
  s.shard = shard;
  s.index = std::make_shared<shard_index>(std::move(params), options);
  s.readers = std::move(readers);
  return {
      [self](upsert_request& r) -> caf::result<upsert_reply> {
        auto& s = self->state;
        if (wrong_tenant(s, r)) return tenant_error();
        auto applied = s.index->upsert_batch(std::move(r.items));
        if (!applied) return to_caf_error(applied.error());
        return upsert_reply{applied->applied, applied->seq};
      },
      [self](delete_vectors_request& r) -> caf::result<delete_vectors_reply> {
        auto& s = self->state;
        if (wrong_tenant(s, r)) return tenant_error();
        return delete_vectors_reply{s.index->remove_batch(r.ids)};
      },
      [self](get_vector_request& r) -> caf::result<vector_record> {
        auto& s = self->state;
        if (wrong_tenant(s, r)) return tenant_error();
        auto rec = s.index->get(r.id);
        if (!rec)
          return to_caf_error(make_status(errc::vector_not_found, "no vector '" + r.id + "'"));
        return std::move(*rec);
      },
      [self](list_ids_request& r) -> caf::result<id_page> {
        auto& s = self->state;
        if (wrong_tenant(s, r)) return tenant_error();
        return s.index->ids_after(r.after, r.limit);
      },
      [self](search_request& r) -> caf::result<search_reply> {
        auto& s = self->state;
        if (wrong_tenant(s, r)) return tenant_error();
        auto rp = self->make_response_promise<search_reply>();
        rp.delegate(s.readers, search_job{s.index, std::move(r)});
        return rp;
      },
      [self](shard_stats_request& r) -> caf::result<shard_stats> {
        auto& s = self->state;
        if (wrong_tenant(s, r)) return tenant_error();
        return shard_stats{s.index->count(), s.index->memory_bytes(), s.index->applied_seq()};
      },
      [self](shard_export_request& r) -> caf::result<shard_export> {
        auto& s = self->state;
        if (wrong_tenant(s, r)) return tenant_error();
        shard_export out;
        std::string after;
        for (;;) {
          auto page = s.index->ids_after(after, 1024);
          for (auto& id : page.ids)
            if (auto rec = s.index->get(id))
              out.items.push_back(
                  {std::move(rec->id), std::move(rec->vector), std::move(rec->metadata)});
          if (!page.more || page.ids.empty()) break;
          after = page.ids.back();
        }
        return out;
      },
  };
}

// `worker` only names the reader: CAF 0.17 binds a null reference when spawning a
// function actor without arguments (UBSan reports it).
caf::behavior reader(caf::event_based_actor*, unsigned /*worker*/) {
  return {
      [](search_job& job) -> caf::result<search_reply> {
        auto hits = job.shard->search(job.request.query, job.request.options);
        if (!hits) return to_caf_error(hits.error());
        return search_reply{std::move(*hits)};
      },
  };
}

}  // namespace

caf::actor spawn_index_actor(caf::event_based_actor* parent, tenant_id tenant, index_params params,
                             shard_id shard, caf::actor readers, shard_index_options options) {
  return parent->spawn<caf::monitored>(index_actor, std::move(tenant), std::move(params), shard,
                                       std::move(readers), options);
}

caf::actor spawn_reader_pool(caf::actor_system& system, unsigned workers) {
  auto counter = std::make_shared<unsigned>(0);
  auto factory = [&system, counter] { return system.spawn(reader, (*counter)++); };
  return caf::actor_pool::make(system.dummy_execution_unit(), workers, factory,
                               caf::actor_pool::round_robin());
}

}  // namespace quiver
