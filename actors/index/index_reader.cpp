// The reader pool: searches of shards that live in this process, off the index
// actors' mailboxes.
#include <caf/all.hpp>

#include <optional>

#include "actors/index/detail/index_state.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver {

namespace {

using namespace index_detail;

// `worker` only names the reader: CAF 0.17 binds a null reference when spawning a
// function actor without arguments (UBSan reports it).
//
// A search does not at first wait for a shard a write holds: it is retried shortly,
// so a reader (and its scheduler thread) stays free for other shards' searches, and
// one tenant's writes do not queue another tenant's searches behind them. Past a
// few milliseconds it waits its turn, so a long ingest cannot starve it.
caf::behavior reader(caf::event_based_actor* self, unsigned /*worker*/) {
  static constexpr auto patience = std::chrono::milliseconds(5);
  auto run = [self](search_job& job, caf::response_promise rp, clock_type::time_point since) {
    std::optional<expected<std::vector<search_hit>>> hits;
    if (clock_type::now() - since < patience) {
      hits = job.shard->try_search(job.request.query, job.request.options);
      if (!hits) {
        self->delayed_send(self, std::chrono::microseconds(200),
                           retry_search{std::move(job), rp, since});
        return;
      }
    } else {
      hits = job.shard->search(job.request.query, job.request.options);
    }
    if (!*hits) {
      rp.deliver(to_caf_error(hits->error()));
    } else {
      rp.deliver(search_reply{std::move(**hits), {}});
    }
  };
  return {
      [self, run](search_job& job) -> caf::result<search_reply> {
        auto rp = self->make_response_promise();
        run(job, rp, clock_type::now());
        return rp;
      },
      [run](retry_search& r) { run(r.job, r.rp, r.since); },
  };
}

}  // namespace

caf::actor spawn_reader_pool(caf::actor_system& system, unsigned workers) {
  auto counter = std::make_shared<unsigned>(0);
  auto factory = [&system, counter] { return system.spawn(reader, (*counter)++); };
  return caf::actor_pool::make(system.dummy_execution_unit(), workers, factory,
                               caf::actor_pool::round_robin());
}

}  // namespace quiver
