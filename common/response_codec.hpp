#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/body_codec.hpp"
#include "common/status.hpp"
#include "common/wire/admin.hpp"
#include "common/wire/cluster.hpp"
#include "common/wire/tenants.hpp"
#include "common/wire/vectors.hpp"

namespace quiver {

std::string_view content_type(body_format f);

// Renderers of API.md's response bodies, in either format.
std::string render_error(body_format f, const status& st);
std::string render_index(body_format f, const index_description& d);
std::string render_index_list(body_format f, const std::vector<index_description>& list);
std::string render_upserted_one(body_format f, std::string_view id, seq_no seq);
// {"<key>": n}, e.g. {"upserted": 3}, {"deleted": 2}, {"merged": 10}
std::string render_count(body_format f, std::string_view key, std::uint64_t n);
// {"<key>": true|false}
std::string render_flag(body_format f, std::string_view key, bool value);
std::string render_vector(body_format f, const vector_record& r);
// next_cursor empty: null.
std::string render_ids(body_format f, const std::vector<std::string>& ids,
                       const std::string& next_cursor);
std::string render_search(body_format f, const std::vector<search_hit>& hits,
                          const search_options& options, double took_ms,
                          const std::vector<std::uint32_t>& missing_shards = {});
// GET /v1/cluster: nodes, and every shard's epoch, primary and replicas (state,
// applied seq, lag behind the primary).
std::string render_cluster(body_format f, const cluster_status& c);
std::string render_search_batch(body_format f, const std::vector<std::vector<search_hit>>& results,
                                const std::vector<search_options>& options, double took_ms);
// {"name", "type"}: a payload index.
std::string render_field(body_format f, const field_def& d);
// {"fields": [{"name", "type", "complete"}]}; complete: every shard has it.
std::string render_fields(body_format f, const list_fields_reply& r);
// {"<key>": "<value>"}, e.g. {"status": "ok"}
std::string render_word(body_format f, std::string_view key, std::string_view value);
// {"status", "missing_shards": ["tenant/index/shard"], "indexes": {"tenant/index": status}}
// where "indexes" lists the indexes that are not ready ("recovering", "quarantined", ...).
std::string render_readiness(body_format f, const readiness_reply& r);

// {"max_indexes", "max_vectors", "max_bytes", "max_requests_per_s"} (0: unlimited)
std::string render_quotas(body_format f, const tenant_quotas& q);
// {"name", "api_key"}: the only time a key is shown.
std::string render_tenant_key(body_format f, std::string_view name, std::string_view key);
// {"name", "quotas", "usage": {"indexes", "vectors", "bytes"}}
std::string render_tenant(body_format f, const tenant_info& t);
std::string render_tenant_list(body_format f, const std::vector<tenant_info>& list);

// Cursors are opaque to clients: the hex of the last id of the previous page.
std::string encode_cursor(std::string_view last_id);
expected<std::string> decode_cursor(std::string_view cursor);

}  // namespace quiver
