#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/records.hpp"
#include "common/status.hpp"

namespace quiver {

// upsert/remove go to a shard's log; create/drop index go to the node's catalog log.
enum class log_record_type : std::uint8_t {
  upsert = 1,
  remove = 2,
  create_index = 3,
  drop_index = 4,
  // Tenants, in the catalog log: `tenant` names it, `id` holds the key's hash and
  // (create) `metadata` the quotas as JSON. Dropping a tenant drops its indexes.
  create_tenant = 5,
  set_tenant_key = 6,
  drop_tenant = 7,
  // Payload indexes, in a shard's log: `id` names the field, `metadata` (set) the
  // type ("keyword", "integer", "float", "bool").
  set_field_index = 8,
  drop_field_index = 9,
};

// One mutation of one shard (or of the catalog), as a log persists it. Encoded as a
// versioned MessagePack array: [version, type, shard, seq, epoch, id, vector (bin,
// f32 LE), has_metadata, metadata, tenant, params (array or nil)]; version 1 had
// the first nine fields only, version 3 (written for the payload-index types
// only) added those types. Metadata "absent" (keep what is stored) is distinct
// from "{}" (clear). Catalog records carry the tenant, the index name in `id`, and
// (create) the index parameters. A create's incarnation is its seq, or its epoch
// when that is set (an incarnation the cluster's catalog assigned).
struct log_record {
  log_record_type type = log_record_type::upsert;
  shard_id shard;
  seq_no seq;
  std::uint64_t epoch = 0;
  std::string id;
  std::vector<float> vector;  // upsert only
  metadata_json metadata;     // upsert only; empty = absent
  tenant_id tenant;           // catalog records only
  index_params params;        // create_index only
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_record& x) {
  return f(x.type, x.shard, x.seq, x.epoch, x.id, x.vector, x.metadata, x.tenant, x.params);
}

// The version this build writes; decode() reads it and every older one.
inline constexpr std::uint32_t log_record_version = 3;

std::string encode(const log_record& r);
// Fails (invalid_argument) on garbage, unknown future versions and wrong shapes.
expected<log_record> decode_log_record(std::string_view bytes);

}  // namespace quiver
