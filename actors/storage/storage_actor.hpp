#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "actors/storage/storage_engine.hpp"

namespace quiver {

enum class fsync_policy { always, group, none };

// "always", "group" or "none"; anything else is an error naming the choices.
expected<fsync_policy> parse_fsync_policy(const std::string& name);

struct storage_actor_options {
  fsync_policy fsync = fsync_policy::group;
  // group: how long the first append of a group may wait for company before the
  // fsync. Zero still groups: appends that queue up while one fsync runs share
  // the next.
  std::chrono::microseconds group_window{0};
};

// Spawns the storage actor, which owns the storage engine on a thread of its own
// (fsync blocks; no scheduler thread waits on a disk). It answers the catalog,
// shard_open, log_append, log_read, log_release and storage_stats messages of
// common/wire/storage.hpp. A log_append is answered once its records are durable under the
// fsync policy; with `group`, appends that arrive together share one fsync.
caf::actor spawn_storage_actor(caf::actor_system& system, std::unique_ptr<storage_engine> engine,
                               storage_actor_options options);

}  // namespace quiver
