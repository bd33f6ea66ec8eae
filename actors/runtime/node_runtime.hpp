#pragma once

#include <cstdint>
#include <memory>

#include "actors/index/shard_index.hpp"
#include "actors/runtime/router_client.hpp"
#include "common/config.hpp"

namespace quiver {

struct runtime_options {
  actor_config actors;
  std::uint32_t request_timeout_ms = 30000;
  shard_index_options index;
};

// The actor system of one standalone process: reader pool, registry, router and
// the bridges through which non-actor threads reach the router. Destroying it
// stops every actor and waits for them.
class node_runtime {
 public:
  explicit node_runtime(const runtime_options& options);
  ~node_runtime();
  node_runtime(const node_runtime&) = delete;
  node_runtime& operator=(const node_runtime&) = delete;

  router_client& client();
  // CAF worker threads actually running (checks the scheduler settings took).
  std::size_t scheduler_workers() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace quiver
