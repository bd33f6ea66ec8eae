#pragma once
// The matrix search's result cache: answers by key, each stored with the
// version of the data it read (the indexes' incarnations and their shards'
// applied seqs). A lookup names the version it sees now; an entry of another
// version is stale and dropped, so any applied write to an index an answer read
// retires that answer. Bounded in bytes, least recently used out first.
// Thread-safe: gateway callbacks run on several threads.

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace quiver::matrix {

class result_cache {
 public:
  // What one entry costs beyond its strings (list node, map node, bookkeeping).
  static constexpr std::size_t entry_overhead = 128;

  // max_bytes 0 turns the cache off (every lookup misses, nothing is kept).
  explicit result_cache(std::size_t max_bytes);

  // The answer stored under `key` at `version`, or none (a miss; an entry of
  // another version is dropped as stale).
  std::optional<std::string> get(const std::string& key, const std::string& version);
  // Stores an answer; one larger than an eighth of the budget is not kept (it
  // would evict most of the others).
  void put(const std::string& key, std::string version, std::string answer);

  struct stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t stale = 0;      // misses that found an entry of an older version
    std::uint64_t evictions = 0;  // entries dropped for room
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
  };
  stats snapshot() const;
  std::size_t max_bytes() const { return max_bytes_; }
  // Prometheus text: quiver_matrix_cache_*.
  std::string render_metrics() const;

 private:
  struct entry {
    std::string key;
    std::string version;
    std::string answer;
    std::size_t cost() const {
      return key.size() + version.size() + answer.size() + entry_overhead;
    }
  };
  using lru = std::list<entry>;

  void erase(lru::iterator it);

  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  lru order_;  // front: most recently used
  std::unordered_map<std::string, lru::iterator> by_key_;
  stats stats_;
};

}  // namespace quiver::matrix
