#pragma once
// Runs blocking etcd work off the coordinator's thread (coordinator mode on etcd).

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <functional>
#include <memory>

#include "actors/controller/controller_metadata.hpp"
#include "actors/registry/detail/registry_state.hpp"

namespace quiver::registry_detail {

// Runs `job` on the metadata worker (it may block on etcd); `done` then runs in
// the coordinator with its result. The worker outlives the coordinator's jobs:
// the runtime stops it only after the coordinator has stopped.
template <class T>
void on_worker(registry_actor* self, std::function<T(controller_metadata&)> job,
               std::function<void(T&)> done) {
  auto* meta = self->state.coordination.metadata.get();
  auto me = caf::actor_cast<caf::actor>(self);
  meta->worker.post([meta, me, job = std::move(job), done = std::move(done)] {
    auto result = std::make_shared<T>(job(*meta));
    caf::anon_send(me, coordinator_call{[result, done] { done(*result); }});
  });
}

}  // namespace quiver::registry_detail
