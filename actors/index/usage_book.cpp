#include "actors/index/usage_book.hpp"

#include <algorithm>

namespace quiver {

namespace {

stored_usage growth(stored_usage c) {
  return {std::max<std::int64_t>(c.vectors, 0), std::max<std::int64_t>(c.bytes, 0)};
}

bool over(std::int64_t used, std::int64_t reserved, std::int64_t more, std::uint64_t max) {
  return max > 0 && more > 0 && used + reserved + more > static_cast<std::int64_t>(max);
}

}  // namespace

void usage_book::set_limits(const std::string& tenant, std::uint64_t max_vectors,
                            std::uint64_t max_bytes) {
  std::lock_guard lock(mutex_);
  auto& a = accounts_[tenant];
  a.max_vectors = max_vectors;
  a.max_bytes = max_bytes;
}

void usage_book::forget_limits(const std::string& tenant) {
  std::lock_guard lock(mutex_);
  if (auto it = accounts_.find(tenant); it != accounts_.end()) {
    it->second.max_vectors = 0;
    it->second.max_bytes = 0;
  }
}

void usage_book::uncounted_shards(const std::string& tenant, int change) {
  std::lock_guard lock(mutex_);
  accounts_[tenant].uncounted += change;
}

status usage_book::reserve(const std::string& tenant, stored_usage change) {
  auto more = growth(change);
  if (more.vectors == 0 && more.bytes == 0) return status::success();
  std::lock_guard lock(mutex_);
  auto& a = accounts_[tenant];
  if ((a.max_vectors > 0 || a.max_bytes > 0) && a.uncounted > 0)
    return make_status(errc::unavailable, "tenant '" + tenant + "' has " +
                                              std::to_string(a.uncounted) +
                                              " shard(s) recovering; its usage is being recounted");
  auto used_vectors = a.used.vectors + a.elsewhere.vectors;
  auto used_bytes = a.used.bytes + a.elsewhere.bytes;
  if (over(used_vectors, a.reserved.vectors, more.vectors, a.max_vectors))
    return make_status(
        errc::quota_exceeded,
        "tenant '" + tenant + "' would store " +
            std::to_string(used_vectors + a.reserved.vectors + more.vectors) +
            " vectors; its quota is " + std::to_string(a.max_vectors),
        {{"max_vectors", static_cast<std::int64_t>(a.max_vectors)}, {"used", used_vectors}});
  if (over(used_bytes, a.reserved.bytes, more.bytes, a.max_bytes))
    return make_status(
        errc::quota_exceeded,
        "tenant '" + tenant + "' would store " +
            std::to_string(used_bytes + a.reserved.bytes + more.bytes) + " bytes; its quota is " +
            std::to_string(a.max_bytes),
        {{"max_bytes", static_cast<std::int64_t>(a.max_bytes)}, {"used", used_bytes}});
  a.reserved.vectors += more.vectors;
  a.reserved.bytes += more.bytes;
  return status::success();
}

void usage_book::commit(const std::string& tenant, stored_usage change) {
  auto more = growth(change);
  std::lock_guard lock(mutex_);
  auto& a = accounts_[tenant];
  a.reserved.vectors -= more.vectors;
  a.reserved.bytes -= more.bytes;
  a.used.vectors += change.vectors;
  a.used.bytes += change.bytes;
}

void usage_book::release(const std::string& tenant, stored_usage change) {
  auto more = growth(change);
  std::lock_guard lock(mutex_);
  auto& a = accounts_[tenant];
  a.reserved.vectors -= more.vectors;
  a.reserved.bytes -= more.bytes;
}

void usage_book::add(const std::string& tenant, stored_usage change) {
  std::lock_guard lock(mutex_);
  auto& a = accounts_[tenant];
  a.used.vectors += change.vectors;
  a.used.bytes += change.bytes;
}

stored_usage usage_book::usage(const std::string& tenant) const {
  std::lock_guard lock(mutex_);
  auto it = accounts_.find(tenant);
  return it == accounts_.end() ? stored_usage{} : it->second.used;
}

void usage_book::set_elsewhere(const std::vector<tenant_stored>& elsewhere) {
  std::lock_guard lock(mutex_);
  for (auto& [name, a] : accounts_) a.elsewhere = {};
  for (const auto& u : elsewhere) accounts_[u.tenant].elsewhere = {u.vectors, u.bytes};
}

void usage_book::set_all_limits(const std::vector<tenant_limits>& limits) {
  std::lock_guard lock(mutex_);
  for (auto& [name, a] : accounts_) a.max_vectors = a.max_bytes = 0;
  for (const auto& l : limits) {
    auto& a = accounts_[l.tenant];
    a.max_vectors = l.max_vectors;
    a.max_bytes = l.max_bytes;
  }
}

std::vector<tenant_stored> usage_book::all_usage() const {
  std::lock_guard lock(mutex_);
  std::vector<tenant_stored> out;
  for (const auto& [name, a] : accounts_)
    if (a.used.vectors != 0 || a.used.bytes != 0)
      out.push_back({name, a.used.vectors, a.used.bytes});
  return out;
}

}  // namespace quiver
