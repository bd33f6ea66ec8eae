#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/filter.hpp"

namespace quiver {

// Metadata travels as the raw text of a JSON object. The empty string means
// "none": absent on a write (keep what is stored), null on a read.
using metadata_json = std::string;

// One item of an upsert: the vector as the client gave it.
struct upsert_item {
  std::string id;
  std::vector<float> vector;
  metadata_json metadata;
};

// A stored vector as returned by a lookup: the vector as given, within float rounding.
struct vector_record {
  std::string id;
  std::vector<float> vector;
  metadata_json metadata;
};

struct search_hit {
  std::string id;
  float distance = 0;
  metadata_json metadata;     // filled only when asked for
  std::vector<float> vector;  // filled only when asked for
};

struct search_options {
  std::uint32_t k = 10;
  std::uint32_t ef = 0;  // 0: the index's ef_search
  std::vector<std::string> exclude_ids;
  metadata_filter filter;  // only vectors whose metadata it matches
  bool include_metadata = true;
  bool include_vectors = false;
  bool eventual = false;       // "consistency": "eventual": any serving replica may answer
  bool allow_partial = false;  // answer from the shards that can, flagged partial
};

// One page of ids in ascending byte order, starting after `after`.
struct id_page {
  std::vector<std::string> ids;
  bool more = false;  // ids beyond the last one exist
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upsert_item& x) {
  return f(x.id, x.vector, x.metadata);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vector_record& x) {
  return f(x.id, x.vector, x.metadata);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(x.id, x.distance, x.metadata, x.vector);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_options& x) {
  return f(x.k, x.ef, x.exclude_ids, x.filter, x.include_metadata, x.include_vectors, x.eventual,
           x.allow_partial);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, id_page& x) {
  return f(x.ids, x.more);
}

}  // namespace quiver
