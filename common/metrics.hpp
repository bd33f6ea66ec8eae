#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace quiver {

// Request counts and latency histograms by route and status, rendered as
// Prometheus text. One per gateway; observe() is called from every I/O thread.
class http_metrics {
 public:
  // Histogram upper bounds in seconds: 100 us to 10 s covers a cached search and a
  // 10,000-item batch.
  static constexpr std::array<double, 16> bucket_bounds{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

  // `route` is the route's pattern, e.g. "POST /v1/indexes/{name}/search".
  void observe(std::string_view route, int status, double seconds);
  // Client connections: opened and closed by the session layer, refused at
  // accept past server.max_connections.
  void connection_opened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  void connection_refused() { refused_connections_.fetch_add(1, std::memory_order_relaxed); }
  std::string render() const;

 private:
  struct route_stats {
    std::map<int, std::uint64_t> by_status;
    std::array<std::uint64_t, bucket_bounds.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };

  mutable std::mutex mutex_;
  std::map<std::string, route_stats, std::less<>> routes_;
  std::atomic<std::int64_t> open_connections_{0};
  std::atomic<std::uint64_t> refused_connections_{0};
};

}  // namespace quiver
