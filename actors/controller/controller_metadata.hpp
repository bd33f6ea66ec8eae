#pragma once

#include <chrono>
#include <memory>

#include "actors/controller/catalog_store.hpp"
#include "actors/controller/metadata_store.hpp"
#include "common/job_pool.hpp"
#include "etcd/etcd_client.hpp"
#include "etcd/session.hpp"

namespace quiver {

// What the process hosting the controller needs of etcd. Blocking calls run on
// `worker` (one thread, so the store is used by one thread at a time); its
// results reach the coordinator as messages.
struct controller_metadata {
  std::unique_ptr<etcd::client> etcd;
  std::unique_ptr<metadata_store> store;
  std::unique_ptr<catalog_store> catalog;  // over `store` (its leadership fences the catalog)
  std::chrono::seconds lease_ttl{6};
  // The worker's alone:
  std::unique_ptr<etcd::session> session;
  std::unique_ptr<etcd::watch_stream> nodes_watch;
  job_pool worker{1};

  // Idempotent; call once the coordinator has stopped.
  void shutdown() {
    worker.stop();        // no job runs after this
    nodes_watch.reset();  // joins the watch thread
    session.reset();      // revokes the lease: another controller may start at once
  }
  ~controller_metadata() { shutdown(); }
};

}  // namespace quiver
