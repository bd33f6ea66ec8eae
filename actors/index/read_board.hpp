#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>

#include "actors/index/shard_index.hpp"
#include "common/status.hpp"
#include "common/wire/vectors.hpp"

namespace quiver {

// Where one single-shard index's actor shows its shard while it serves. The actor
// serves and withdraws it; the registry closes it when the index is dropped, and
// a closed slot never shows a shard again (an actor that finishes a recovery
// after the drop cannot bring the index back).
class read_slot {
 public:
  void serve(std::shared_ptr<const shard_index> index);
  void withdraw();
  void close();
  // Null unless serving.
  std::shared_ptr<const shard_index> current() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const shard_index> index_;
  bool closed_ = false;
};

// Searches that skip the actors. In one process (the standalone), the gateway's
// client asks here first: a single-shard index that serves is searched on the
// caller's thread, with the checks the router and the index actor make, unless a
// write holds the shard; then (and for everything else) the caller takes the
// actors' path. Mutations never come here: they stay with the index actor.
class read_board {
 public:
  // The registry, spawning an index's one shard: the slot its actor serves. A
  // slot the key had before is closed.
  std::shared_ptr<read_slot> open(const std::string& tenant, const std::string& index);
  // The registry, forgetting the index: closed before the drop is acknowledged.
  void close(const std::string& tenant, const std::string& index);

  // The search's outcome, or nothing when it must take the actors' path.
  std::optional<expected<search_reply>> try_search(const search_request& r) const;
  // Every query's outcome in order, or nothing. Queries up to `done` were
  // answered here when a write took the shard midway; the rest take the actors'
  // path (`done` is their count answered here).
  struct batch_outcome {
    expected<search_batch_reply> reply = search_batch_reply{};
    std::size_t done = 0;  // queries answered (all of them unless a write intervened)
  };
  std::optional<batch_outcome> try_search_batch(const search_batch_request& r) const;

  std::size_t size() const;
  // Queries searched here so far (a batch counts each of its queries).
  std::uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const shard_index> find(const tenant_id& tenant, const std::string& index) const;

  mutable std::shared_mutex mutex_;
  // By tenant, then index name: a search's lookup copies neither name.
  std::map<std::string, std::map<std::string, std::shared_ptr<read_slot>>> slots_;
  mutable std::atomic<std::uint64_t> answered_{0};
};

}  // namespace quiver
