#include "daemons/gateway/tenant_gate.hpp"

#include <algorithm>

namespace quiver {

std::optional<tenant_auth_reply> tenant_gate::cached(const std::string& key_hash,
                                                     clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(key_hash);
  if (it == keys_.end()) return std::nullopt;
  if (now >= it->second.until) {
    keys_.erase(it);
    return std::nullopt;
  }
  return it->second.who;
}

void tenant_gate::remember(const std::string& key_hash, const tenant_auth_reply& who,
                           clock::time_point now) {
  if (cache_for_.count() == 0) return;
  std::lock_guard lock(mutex_);
  // Bounded: unknown keys are never cached, and a tenant has one key at a time.
  keys_[key_hash] = cache_entry{who, now + cache_for_};
}

void tenant_gate::forget_tenant(const std::string& tenant) {
  std::lock_guard lock(mutex_);
  for (auto it = keys_.begin(); it != keys_.end();)
    it = it->second.who.tenant.value == tenant ? keys_.erase(it) : std::next(it);
  buckets_.erase(tenant);
}

double tenant_gate::admit(const std::string& tenant, std::uint64_t rate, clock::time_point now,
                          std::uint32_t share) {
  if (rate == 0) return 0;
  // This gateway's part of the rate, and a second of it as the burst (at least
  // one request).
  double mine = static_cast<double>(rate) / std::max<std::uint32_t>(share, 1);
  double capacity = std::max(1.0, mine);
  std::lock_guard lock(mutex_);
  auto [it, fresh] = buckets_.try_emplace(tenant);
  auto& b = it->second;
  if (fresh || b.rate != rate) {
    b.tokens = capacity;
    b.rate = rate;
    b.last = now;
  }
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(capacity, b.tokens + std::max(elapsed, 0.0) * mine);
  b.last = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return (1 - b.tokens) / mine;
}

void tenant_gate::count(const std::string& tenant, bool rate_limited, bool over_quota) {
  std::lock_guard lock(mutex_);
  auto& c = counters_[tenant];
  ++c.requests;
  c.rate_limited += rate_limited ? 1 : 0;
  c.quota_exceeded += over_quota ? 1 : 0;
}

std::map<std::string, tenant_gate::counters> tenant_gate::snapshot() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

}  // namespace quiver
