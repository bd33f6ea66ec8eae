#include "matrix/result_cache.hpp"

#include <fmt/format.h>

namespace quiver::matrix {

result_cache::result_cache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

std::optional<std::string> result_cache::get(const std::string& key, const std::string& version) {
  std::lock_guard lock(mutex_);
  auto found = by_key_.find(key);
  if (found == by_key_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  if (found->second->version != version) {
    ++stats_.misses;
    ++stats_.stale;
    erase(found->second);
    return std::nullopt;
  }
  ++stats_.hits;
  order_.splice(order_.begin(), order_, found->second);
  return found->second->answer;
}

void result_cache::put(const std::string& key, std::string version, std::string answer) {
  entry e{key, std::move(version), std::move(answer)};
  if (e.cost() > max_bytes_ / 8) return;
  std::lock_guard lock(mutex_);
  if (auto found = by_key_.find(key); found != by_key_.end()) erase(found->second);
  while (!order_.empty() && stats_.bytes + e.cost() > max_bytes_) {
    erase(std::prev(order_.end()));
    ++stats_.evictions;
  }
  stats_.bytes += e.cost();
  ++stats_.entries;
  order_.push_front(std::move(e));
  by_key_.emplace(key, order_.begin());
}

void result_cache::erase(lru::iterator it) {
  stats_.bytes -= it->cost();
  --stats_.entries;
  by_key_.erase(it->key);
  order_.erase(it);
}

result_cache::stats result_cache::snapshot() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::string result_cache::render_metrics() const {
  auto s = snapshot();
  return fmt::format(
      "# HELP quiver_matrix_cache_requests_total Matrix searches by cache outcome.\n"
      "# TYPE quiver_matrix_cache_requests_total counter\n"
      "quiver_matrix_cache_requests_total{{result=\"hit\"}} {}\n"
      "quiver_matrix_cache_requests_total{{result=\"miss\"}} {}\n"
      "# HELP quiver_matrix_cache_stale_total Misses that found an answer older than the "
      "data.\n"
      "# TYPE quiver_matrix_cache_stale_total counter\n"
      "quiver_matrix_cache_stale_total {}\n"
      "# HELP quiver_matrix_cache_evictions_total Answers dropped to stay within "
      "server.matrix_cache_bytes.\n"
      "# TYPE quiver_matrix_cache_evictions_total counter\n"
      "quiver_matrix_cache_evictions_total {}\n"
      "# HELP quiver_matrix_cache_entries Answers held.\n"
      "# TYPE quiver_matrix_cache_entries gauge\n"
      "quiver_matrix_cache_entries {}\n"
      "# HELP quiver_matrix_cache_bytes Bytes the held answers cost.\n"
      "# TYPE quiver_matrix_cache_bytes gauge\n"
      "quiver_matrix_cache_bytes {}\n",
      s.hits, s.misses, s.stale, s.evictions, s.entries, s.bytes);
}

}  // namespace quiver::matrix
