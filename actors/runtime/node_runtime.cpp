#include "actors/runtime/node_runtime.hpp"

#include <caf/all.hpp>

#include <atomic>

#include "actors/index/index_actor.hpp"
#include "actors/registry/index_registry.hpp"
#include "actors/router/router_actor.hpp"
#include "actors/runtime/actor_messages.hpp"
#include "actors/runtime/caf_error.hpp"

namespace quiver {

namespace {

// `number` only names the bridge (see the reader pool: no zero-argument spawns).
caf::behavior bridge(caf::event_based_actor* self, unsigned /*number*/) {
  return {[self](bridge_job& job) { job.run(self); }};
}

class actor_router_client final : public router_client {
 public:
  actor_router_client(caf::actor router, std::vector<caf::actor> bridges,
                      std::chrono::milliseconds timeout)
      : router_(std::move(router)), bridges_(std::move(bridges)), timeout_(timeout) {}

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
  void search(search_request r, callback<search_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void search_batch(search_batch_request r, callback<search_batch_reply> done) override {
    call(std::move(r), std::move(done));
  }
  void merge(merge_request r, callback<merge_reply> done) override {
    call(std::move(r), std::move(done));
  }

 private:
  // Hands the request to a bridge actor (round robin), which sends it to the
  // router and runs `done` with the reply; the caller's thread never waits.
  template <class Reply, class Request>
  void call(Request r, callback<Reply> done) {
    auto& target = bridges_[next_++ % bridges_.size()];
    caf::anon_send(target,
                   bridge_job{[router = router_, timeout = timeout_, r = std::move(r),
                               done = std::move(done)](caf::event_based_actor* self) mutable {
                     self->request(router, timeout, std::move(r))
                         .then([done](Reply& reply) { done(std::move(reply)); },
                               [done](caf::error& e) { done(from_caf_error(e)); });
                   }});
  }

  caf::actor router_;
  std::vector<caf::actor> bridges_;
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> next_{0};
};

void configure(caf::actor_system_config& cfg, const actor_config& c) {
  register_message_types(cfg);
  cfg.set("scheduler.policy",
          c.scheduler_policy == "stealing" ? caf::atom("stealing") : caf::atom("sharing"));
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(c.max_threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
}

}  // namespace

struct node_runtime::impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor readers, registry, router;
  std::vector<caf::actor> bridges;
  std::unique_ptr<actor_router_client> client;
};

node_runtime::node_runtime(const runtime_options& options) : impl_(std::make_unique<impl>()) {
  configure(impl_->cfg, options.actors);
  impl_->system = std::make_unique<caf::actor_system>(impl_->cfg);
  auto& sys = *impl_->system;
  auto timeout = std::chrono::milliseconds(options.request_timeout_ms);
  impl_->readers = spawn_reader_pool(sys, options.actors.search_workers);
  impl_->registry = spawn_index_registry(sys, impl_->readers, options.index, timeout);
  impl_->router = spawn_router(sys, impl_->registry, timeout);
  // One bridge per CAF worker: requests from many I/O threads do not queue behind one mailbox.
  for (unsigned i = 0; i < std::max(1u, options.actors.max_threads); ++i)
    impl_->bridges.push_back(sys.spawn(bridge, i));
  impl_->client = std::make_unique<actor_router_client>(impl_->router, impl_->bridges, timeout);
}

node_runtime::~node_runtime() {
  impl_->client.reset();
  for (auto& b : impl_->bridges) caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(impl_->router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(impl_->registry, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(impl_->readers, caf::exit_reason::user_shutdown);
  impl_->bridges.clear();
  impl_->router = nullptr;
  impl_->registry = nullptr;
  impl_->readers = nullptr;
  impl_->system.reset();  // waits for every actor to finish
}

router_client& node_runtime::client() { return *impl_->client; }

std::size_t node_runtime::scheduler_workers() const {
  return impl_->system->scheduler().num_workers();
}

}  // namespace quiver
