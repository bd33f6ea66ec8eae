#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/records.hpp"

namespace quiver {

// Vector operations: gateway -> router. Every request names its tenant.

struct upsert_request {
  tenant_id tenant;
  std::string index;
  std::vector<upsert_item> items;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upsert_request& x) {
  return f(x.tenant, x.index, x.items);
}

struct upsert_reply {
  std::uint64_t upserted = 0;
  seq_no seq;  // of the last record applied (single-shard writes)
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upsert_reply& x) {
  return f(x.upserted, x.seq);
}

struct get_vector_request {
  tenant_id tenant;
  std::string index;
  std::string id;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_vector_request& x) {
  return f(x.tenant, x.index, x.id);
}

// Deletes the ids, or (a non-empty filter, no ids) every vector the filter
// matches when the shard takes the request.
struct delete_vectors_request {
  tenant_id tenant;
  std::string index;
  std::vector<std::string> ids;
  metadata_filter filter;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_vectors_request& x) {
  return f(x.tenant, x.index, x.ids, x.filter);
}

struct delete_vectors_reply {
  std::uint64_t deleted = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_vectors_reply& x) {
  return f(x.deleted);
}

struct list_ids_request {
  tenant_id tenant;
  std::string index;
  std::string after;  // exclusive; empty: from the start
  std::uint32_t limit = 1000;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_ids_request& x) {
  return f(x.tenant, x.index, x.after, x.limit);
}

// How many vectors the filter matches (every vector without one).
struct count_request {
  tenant_id tenant;
  std::string index;
  metadata_filter filter;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, count_request& x) {
  return f(x.tenant, x.index, x.filter);
}

struct count_reply {
  std::uint64_t count = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, count_reply& x) {
  return f(x.count);
}

// Indexes a metadata field on every shard, or (drop) removes that index.
struct field_index_request {
  tenant_id tenant;
  std::string index;
  field_def field;
  bool drop = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, field_index_request& x) {
  return f(x.tenant, x.index, x.field, x.drop);
}

struct field_index_reply {
  bool changed = false;  // false: it was so already
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, field_index_reply& x) {
  return f(x.changed);
}

struct list_fields_request {
  tenant_id tenant;
  std::string index;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_fields_request& x) {
  return f(x.tenant, x.index);
}

// A field index and how many shards have it.
struct field_info {
  field_def field;
  std::uint32_t shards = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, field_info& x) {
  return f(x.field, x.shards);
}

struct list_fields_reply {
  std::vector<field_info> fields;  // by name
  std::uint32_t shards = 0;        // that answered
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_fields_reply& x) {
  return f(x.fields, x.shards);
}

struct search_request {
  tenant_id tenant;
  std::string index;
  std::vector<float> query;
  search_options options;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_request& x) {
  return f(x.tenant, x.index, x.query, x.options);
}

struct search_reply {
  std::vector<search_hit> hits;
  // Shards that could not answer (allow_partial only); non-empty means partial.
  std::vector<std::uint32_t> missing_shards;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_reply& x) {
  return f(x.hits, x.missing_shards);
}

struct search_batch_request {
  tenant_id tenant;
  std::string index;
  std::vector<std::vector<float>> queries;
  std::vector<search_options> options;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_batch_request& x) {
  return f(x.tenant, x.index, x.queries, x.options);
}

struct search_batch_reply {
  std::vector<std::vector<search_hit>> results;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_batch_reply& x) {
  return f(x.results);
}

struct merge_request {
  tenant_id tenant;
  std::string index;
  std::string source;
  bool delete_source = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, merge_request& x) {
  return f(x.tenant, x.index, x.source, x.delete_source);
}

struct merge_reply {
  std::uint64_t merged = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, merge_reply& x) {
  return f(x.merged);
}

}  // namespace quiver
