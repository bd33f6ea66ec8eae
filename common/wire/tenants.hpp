#pragma once

#include <cstdint>
#include <string>

#include "common/ids.hpp"

namespace quiver {

// Tenants and their keys: gateway -> router -> registry -> storage. Keys travel
// only as their SHA-256 (hex).

// 0 means unlimited.
struct tenant_quotas {
  std::uint64_t max_indexes = 0;
  std::uint64_t max_vectors = 0;
  std::uint64_t max_bytes = 0;  // vectors (4 bytes a component) + metadata text
  std::uint64_t max_requests_per_s = 0;
  friend bool operator==(const tenant_quotas& a, const tenant_quotas& b) {
    return a.max_indexes == b.max_indexes && a.max_vectors == b.max_vectors &&
           a.max_bytes == b.max_bytes && a.max_requests_per_s == b.max_requests_per_s;
  }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_quotas& x) {
  return f(x.max_indexes, x.max_vectors, x.max_bytes, x.max_requests_per_s);
}

// A tenant as the catalog keeps it: the key only as its SHA-256 (hex).
struct tenant_record {
  std::string name;
  tenant_quotas quotas;
  std::string key_hash;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_record& x) {
  return f(x.name, x.quotas, x.key_hash);
}

struct tenant_usage {
  std::uint64_t indexes = 0;
  std::uint64_t vectors = 0;
  std::uint64_t bytes = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_usage& x) {
  return f(x.indexes, x.vectors, x.bytes);
}

struct tenant_info {
  std::string name;
  tenant_quotas quotas;
  tenant_usage usage;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_info& x) {
  return f(x.name, x.quotas, x.usage);
}

struct tenant_create_request {
  tenant_record tenant;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_create_request& x) {
  return f(x.tenant);
}

struct tenant_list_request {
  bool with_usage = true;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_list_request& x) {
  return f(x.with_usage);
}

struct tenant_get_request {
  std::string name;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_get_request& x) {
  return f(x.name);
}

struct tenant_drop_request {
  std::string name;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_drop_request& x) {
  return f(x.name);
}

// Replaces the tenant's key: the old one stops working.
struct tenant_rotate_request {
  std::string name;
  std::string key_hash;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_rotate_request& x) {
  return f(x.name, x.key_hash);
}

// Who holds this key; `unauthenticated` when nobody does.
struct tenant_auth_request {
  std::string key_hash;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_auth_request& x) {
  return f(x.key_hash);
}

struct tenant_auth_reply {
  tenant_id tenant;
  tenant_quotas quotas;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_auth_reply& x) {
  return f(x.tenant, x.quotas);
}

}  // namespace quiver
