#pragma once

#include <cstdint>
#include <string>

namespace quiver {

// Strong identity types: a shard number cannot be passed where a sequence number
// is expected. Each is inspectable so it can travel in actor messages.

struct tenant_id {
  std::string value;
  friend bool operator==(const tenant_id& a, const tenant_id& b) { return a.value == b.value; }
  friend bool operator!=(const tenant_id& a, const tenant_id& b) { return !(a == b); }
  friend bool operator<(const tenant_id& a, const tenant_id& b) { return a.value < b.value; }
};

// The tenant of every request while auth is off.
inline tenant_id default_tenant() { return tenant_id{"default"}; }

struct shard_id {
  std::uint32_t value = 0;
  friend bool operator==(shard_id a, shard_id b) { return a.value == b.value; }
  friend bool operator!=(shard_id a, shard_id b) { return a.value != b.value; }
};

// Per-shard mutation sequence number; 0 means "nothing applied yet".
struct seq_no {
  std::uint64_t value = 0;
  friend bool operator==(seq_no a, seq_no b) { return a.value == b.value; }
  friend bool operator<(seq_no a, seq_no b) { return a.value < b.value; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_id& x) {
  return f(x.value);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_id& x) {
  return f(x.value);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seq_no& x) {
  return f(x.value);
}

}  // namespace quiver
