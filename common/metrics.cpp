#include "common/metrics.hpp"

#include <fmt/format.h>

#include <iterator>

namespace quiver {

void http_metrics::observe(std::string_view route, int status, double seconds) {
  std::lock_guard lock(mutex_);
  auto it = routes_.find(route);
  if (it == routes_.end()) it = routes_.emplace(std::string(route), route_stats{}).first;
  auto& r = it->second;
  ++r.by_status[status];
  ++r.count;
  r.sum += seconds;
  for (std::size_t i = 0; i < bucket_bounds.size(); ++i)
    if (seconds <= bucket_bounds[i]) ++r.buckets[i];
}

std::string http_metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "# HELP quiver_http_requests_total HTTP requests by route and status.\n"
                 "# TYPE quiver_http_requests_total counter\n");
  for (const auto& [route, r] : routes_)
    for (const auto& [code, n] : r.by_status)
      fmt::format_to(it, "quiver_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", route,
                     code, n);
  fmt::format_to(it,
                 "# HELP quiver_http_request_duration_seconds HTTP request latency.\n"
                 "# TYPE quiver_http_request_duration_seconds histogram\n");
  for (const auto& [route, r] : routes_) {
    for (std::size_t i = 0; i < bucket_bounds.size(); ++i)
      fmt::format_to(it,
                     "quiver_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                     route, bucket_bounds[i], r.buckets[i]);
    fmt::format_to(it,
                   "quiver_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                   route, r.count);
    fmt::format_to(it, "quiver_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route,
                   r.sum);
    fmt::format_to(it, "quiver_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", route,
                   r.count);
  }
  fmt::format_to(it,
                 "# HELP quiver_http_connections_open Client connections open now.\n"
                 "# TYPE quiver_http_connections_open gauge\n"
                 "quiver_http_connections_open {}\n"
                 "# HELP quiver_http_connections_refused_total Connections closed as they were "
                 "accepted: server.max_connections were open.\n"
                 "# TYPE quiver_http_connections_refused_total counter\n"
                 "quiver_http_connections_refused_total {}\n",
                 open_connections_.load(std::memory_order_relaxed),
                 refused_connections_.load(std::memory_order_relaxed));
  return out;
}

}  // namespace quiver
