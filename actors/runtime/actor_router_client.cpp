#include "actors/runtime/actor_router_client.hpp"

#include <caf/all.hpp>

#include <algorithm>

#include "actors/index/read_board.hpp"
#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver {

namespace {

// The longest a merge may run, from the client's side.
constexpr std::chrono::milliseconds merge_timeout = std::chrono::hours(1);

// How long a backup waits for a shard's snapshot to be taken.
constexpr std::chrono::milliseconds backup_prepare_timeout = std::chrono::minutes(10);

// `number` only names the bridge (see the reader pool: no zero-argument spawns).
caf::behavior bridge(caf::event_based_actor* self, unsigned /*number*/) {
  return {[self](bridge_job& job) { job.run(self); }};
}

class actor_router_client final : public router_client {
 public:
  actor_router_client(caf::actor router, std::vector<caf::actor> bridges,
                      std::chrono::milliseconds timeout, std::shared_ptr<const read_board> board,
                      std::shared_ptr<const std::atomic<std::uint32_t>> gateways)
      : router_(std::move(router)),
        bridges_(std::move(bridges)),
        timeout_(timeout),
        board_(std::move(board)),
        gateways_(std::move(gateways)) {}

  std::uint32_t gateways() const override { return gateways_ ? gateways_->load() : 1; }

  void create_index(create_index_request r, callback<create_index_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void list_indexes(list_indexes_request r,
                    callback<std::vector<index_description>> done) override {
    call(std::move(r), std::move(done));
  }
  void describe_index(describe_index_request r, callback<index_description> done) override {
    call(std::move(r), std::move(done));
  }
  void drop_index(drop_index_request r, callback<bool> done) override {
    call(std::move(r), std::move(done));
  }
  void readiness(readiness_request r, callback<readiness_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void upsert(upsert_request r, callback<upsert_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void get_vector(get_vector_request r, callback<vector_record> done) override {
    call(std::move(r), std::move(done));
  }
  void delete_vectors(delete_vectors_request r, callback<delete_vectors_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void list_ids(list_ids_request r, callback<id_page> done) override {
    call(std::move(r), std::move(done));
  }
  void count(count_request r, callback<count_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void field_index(field_index_request r, callback<field_index_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void list_fields(list_fields_request r, callback<list_fields_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void index_version(index_version_request r, callback<quiver::index_version> done) override {
    call(std::move(r), std::move(done));
  }
  // On the caller's thread when the board has the index and no write holds it.
  void search(search_request r, callback<search_reply> done) override {
    if (board_)
      if (auto here = board_->try_search(r)) return done(std::move(*here));
    call(std::move(r), std::move(done));
  }
  void search_batch(search_batch_request r, callback<search_batch_reply> done) override {
    if (!board_) return call(std::move(r), std::move(done));
    auto here = board_->try_search_batch(r);
    if (!here || here->done == 0) return call(std::move(r), std::move(done));
    if (here->done == r.queries.size()) return done(std::move(here->reply));
    // A write took the shard midway: the rest through the actors, then together.
    r.queries.erase(r.queries.begin(), r.queries.begin() + here->done);
    r.options.erase(r.options.begin(), r.options.begin() + here->done);
    call<search_batch_reply>(std::move(r), [first = std::move(here->reply), done = std::move(done)](
                                               expected<search_batch_reply> rest) mutable {
      if (!rest) return done(std::move(rest));
      auto& all = first->results;
      for (auto& x : rest->results) all.push_back(std::move(x));
      done(std::move(first));
    });
  }
  void backup_prepare(backup_prepare_request r, callback<backup_prepare_reply> done) override {
    // Taking a snapshot of a large shard takes a while.
    call(std::move(r), std::move(done), std::max(timeout_, backup_prepare_timeout));
  }
  void backup_chunk(backup_chunk_request r, callback<snapshot_chunk> done) override {
    call(std::move(r), std::move(done));
  }
  void merge(merge_request r, callback<merge_reply> done) override {
    // A merge streams the source page by page (each page under the usual
    // timeout); the whole of a large one takes minutes.
    call(std::move(r), std::move(done), std::max(timeout_, merge_timeout));
  }
  void create_tenant(tenant_create_request r, callback<bool> done) override {
    call(std::move(r), std::move(done));
  }
  void rotate_tenant_key(tenant_rotate_request r, callback<bool> done) override {
    call(std::move(r), std::move(done));
  }
  void drop_tenant(tenant_drop_request r, callback<bool> done) override {
    call(std::move(r), std::move(done));
  }
  void list_tenants(tenant_list_request r, callback<std::vector<tenant_info>> done) override {
    call(std::move(r), std::move(done));
  }
  void get_tenant(tenant_get_request r, callback<tenant_info> done) override {
    call(std::move(r), std::move(done));
  }
  void authenticate(tenant_auth_request r, callback<tenant_auth_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void cluster(cluster_status_request r, callback<cluster_status> done) override {
    call(std::move(r), std::move(done));
  }

 private:
  // Hands the request to a bridge actor (round robin), which sends it to the
  // router and runs `done` with the reply; the caller's thread never waits.
  template <class Reply, class Request>
  void call(Request r, callback<Reply> done, std::chrono::milliseconds timeout = {}) {
    if (timeout.count() == 0) timeout = timeout_;
    auto& target = bridges_[next_++ % bridges_.size()];
    caf::anon_send(target,
                   bridge_job{[router = router_, timeout, r = std::move(r),
                               done = std::move(done)](caf::event_based_actor* self) mutable {
                     self->request(router, timeout, std::move(r))
                         .then([done](Reply& reply) { done(std::move(reply)); },
                               [done](caf::error& e) { done(from_caf_error(e)); });
                   }});
  }

  caf::actor router_;
  std::vector<caf::actor> bridges_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<const read_board> board_;  // null: every search through the actors
  // A cluster's gateway: how many gateways share a tenant's rate (null: one).
  std::shared_ptr<const std::atomic<std::uint32_t>> gateways_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace

std::vector<caf::actor> spawn_bridges(caf::actor_system& system, unsigned count) {
  std::vector<caf::actor> out;
  for (unsigned i = 0; i < count; ++i) out.push_back(system.spawn(bridge, i));
  return out;
}

std::unique_ptr<router_client> make_actor_router_client(
    caf::actor router, std::vector<caf::actor> bridges, std::chrono::milliseconds timeout,
    std::shared_ptr<const read_board> board,
    std::shared_ptr<const std::atomic<std::uint32_t>> gateways) {
  return std::make_unique<actor_router_client>(std::move(router), std::move(bridges), timeout,
                                               std::move(board), std::move(gateways));
}

}  // namespace quiver
