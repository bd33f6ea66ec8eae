#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/records.hpp"

namespace quiver {

// The wire vocabulary between the gateway, the router, the registry and the index
// actors. Plain structs with inspect() overloads, so they cross processes unchanged.
// Every request names its tenant.

struct index_description {
  index_params params;
  std::uint64_t count = 0;
  std::uint64_t memory_bytes = 0;
  std::string status = "ready";
};

// -- index administration (router -> registry) --
struct create_index_request {
  tenant_id tenant;
  index_params params;
};
struct create_index_reply {
  index_description description;
  bool created = false;  // false: it existed with the same params
};
struct list_indexes_request {
  tenant_id tenant;
};
struct describe_index_request {
  tenant_id tenant;
  std::string name;
};
struct drop_index_request {
  tenant_id tenant;
  std::string name;
};
struct readiness_request {
  bool detailed = true;  // list the missing shards, not only whether any are
};
struct readiness_reply {
  std::vector<std::string> missing;  // "tenant/index/shard" without a serving replica
};

// -- vector operations (gateway -> router) --
struct upsert_request {
  tenant_id tenant;
  std::string index;
  std::vector<upsert_item> items;
};
struct upsert_reply {
  std::uint64_t upserted = 0;
  seq_no seq;  // of the last record applied (single-shard writes)
};
struct get_vector_request {
  tenant_id tenant;
  std::string index;
  std::string id;
};
struct delete_vectors_request {
  tenant_id tenant;
  std::string index;
  std::vector<std::string> ids;
};
struct delete_vectors_reply {
  std::uint64_t deleted = 0;
};
struct list_ids_request {
  tenant_id tenant;
  std::string index;
  std::string after;  // exclusive; empty: from the start
  std::uint32_t limit = 1000;
};
struct search_request {
  tenant_id tenant;
  std::string index;
  std::vector<float> query;
  search_options options;
};
struct search_reply {
  std::vector<search_hit> hits;
};
struct search_batch_request {
  tenant_id tenant;
  std::string index;
  std::vector<std::vector<float>> queries;
  std::vector<search_options> options;
};
struct search_batch_reply {
  std::vector<std::vector<search_hit>> results;
};
struct merge_request {
  tenant_id tenant;
  std::string index;
  std::string source;
  bool delete_source = false;
};
struct merge_reply {
  std::uint64_t merged = 0;
};

// -- shard operations (router -> index actor) --
struct shard_stats_request {
  tenant_id tenant;
};
struct shard_stats {
  std::uint64_t count = 0;
  std::uint64_t memory_bytes = 0;
  seq_no applied;
};
struct shard_export_request {
  tenant_id tenant;
};
struct shard_export {
  std::vector<upsert_item> items;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_description& x) {
  return f(x.params, x.count, x.memory_bytes, x.status);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_index_request& x) {
  return f(x.tenant, x.params);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_index_reply& x) {
  return f(x.description, x.created);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_indexes_request& x) {
  return f(x.tenant);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, describe_index_request& x) {
  return f(x.tenant, x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, drop_index_request& x) {
  return f(x.tenant, x.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_request& x) {
  return f(x.detailed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_reply& x) {
  return f(x.missing);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upsert_request& x) {
  return f(x.tenant, x.index, x.items);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upsert_reply& x) {
  return f(x.upserted, x.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_vector_request& x) {
  return f(x.tenant, x.index, x.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_vectors_request& x) {
  return f(x.tenant, x.index, x.ids);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_vectors_reply& x) {
  return f(x.deleted);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_ids_request& x) {
  return f(x.tenant, x.index, x.after, x.limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_request& x) {
  return f(x.tenant, x.index, x.query, x.options);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_reply& x) {
  return f(x.hits);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_batch_request& x) {
  return f(x.tenant, x.index, x.queries, x.options);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_batch_reply& x) {
  return f(x.results);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, merge_request& x) {
  return f(x.tenant, x.index, x.source, x.delete_source);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, merge_reply& x) {
  return f(x.merged);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats_request& x) {
  return f(x.tenant);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats& x) {
  return f(x.count, x.memory_bytes, x.applied);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_export_request& x) {
  return f(x.tenant);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_export& x) {
  return f(x.items);
}

}  // namespace quiver
