#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/wire/tenants.hpp"

namespace quiver {

// The gateway's per-tenant state, free of CAF and Beast: which key hashes belong
// to which tenant (a cache over the registry), the request-rate token buckets and
// per-tenant request counters. Thread-safe (the I/O and actor threads share it).
class tenant_gate {
 public:
  using clock = std::chrono::steady_clock;

  // cache_for: how long a resolved key is trusted before the registry is asked
  // again (0: always ask). Revocations made through this gateway apply at once.
  explicit tenant_gate(std::chrono::milliseconds cache_for) : cache_for_(cache_for) {}

  std::optional<tenant_auth_reply> cached(const std::string& key_hash, clock::time_point now);
  void remember(const std::string& key_hash, const tenant_auth_reply& who, clock::time_point now);
  // Forgets every cached key of the tenant (rotated, dropped).
  void forget_tenant(const std::string& tenant);

  // Takes one token from the tenant's bucket (capacity and refill: rate per
  // second). Returns 0 when the request may go, else the seconds to wait. With
  // `share` gateways in a cluster, each takes rate / share of it.
  double admit(const std::string& tenant, std::uint64_t rate, clock::time_point now,
               std::uint32_t share = 1);

  struct counters {
    std::uint64_t requests = 0;
    std::uint64_t rate_limited = 0;
    std::uint64_t quota_exceeded = 0;
  };
  void count(const std::string& tenant, bool rate_limited, bool over_quota);
  std::map<std::string, counters> snapshot() const;

 private:
  struct cache_entry {
    tenant_auth_reply who;
    clock::time_point until;
  };
  struct bucket {
    double tokens = 0;
    std::uint64_t rate = 0;
    clock::time_point last;
  };
  const std::chrono::milliseconds cache_for_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, cache_entry> keys_;
  std::unordered_map<std::string, bucket> buckets_;
  std::map<std::string, counters> counters_;
};

}  // namespace quiver
