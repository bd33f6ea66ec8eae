#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/wire/storage.hpp"

namespace quiver {

// Index administration: gateway -> router -> registry (the coordinator's, in a
// cluster). Readiness is asked the same way.

struct index_description {
  tenant_id tenant;  // the owner (listed for every tenant only to the operator)
  index_params params;
  std::uint64_t count = 0;
  std::uint64_t memory_bytes = 0;
  std::string status = "ready";  // "ready", "recovering", "quarantined" or "unavailable"
  // Of the last recovery, over all shards: records replayed, and the slowest shard.
  std::uint64_t replayed_records = 0;
  double recovery_seconds = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_description& x) {
  return f(x.tenant, x.params, x.count, x.memory_bytes, x.status, x.replayed_records,
           x.recovery_seconds);
}

struct create_index_request {
  tenant_id tenant;
  index_params params;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_index_request& x) {
  return f(x.tenant, x.params);
}

struct create_index_reply {
  index_description description;
  bool created = false;  // false: it existed with the same params
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_index_reply& x) {
  return f(x.description, x.created);
}

struct list_indexes_request {
  tenant_id tenant;
  bool all_tenants = false;  // every tenant's indexes (the operator's /metrics)
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_indexes_request& x) {
  return f(x.tenant, x.all_tenants);
}

struct describe_index_request {
  tenant_id tenant;
  std::string name;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, describe_index_request& x) {
  return f(x.tenant, x.name);
}

struct drop_index_request {
  tenant_id tenant;
  std::string name;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, drop_index_request& x) {
  return f(x.tenant, x.name);
}

struct readiness_request {
  bool detailed = true;  // list the missing shards, not only whether any are
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_request& x) {
  return f(x.detailed);
}

struct readiness_reply {
  std::vector<std::string> missing;  // "tenant/index/shard" without a serving replica
  // Per index ("tenant/index") that is not ready: its status, e.g. "recovering".
  std::vector<std::string> index_names;
  std::vector<std::string> index_states;
  storage_stats storage;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_reply& x) {
  return f(x.missing, x.index_names, x.index_states, x.storage);
}

}  // namespace quiver
