#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/index_params.hpp"
#include "common/records.hpp"
#include "common/status.hpp"
#include "common/wire/tenants.hpp"

namespace quiver {

// The two body encodings of API.md: same field names, MessagePack vectors may also
// be a bin of little-endian float32.
enum class body_format { json, msgpack };

// A "text" in place of a "vector" is for an index that names an embedder: the
// gateway embeds it (the vector stays empty until then).
struct search_body {
  std::vector<float> vector;
  std::string text;
  search_options options;  // incl. "consistency" and "allow_partial"
};

struct upsert_one_body {
  std::vector<float> vector;
  std::string text;
  metadata_json metadata;
};

// The items of a batch given as "text": their positions and texts.
using item_texts = std::vector<std::pair<std::size_t, std::string>>;

// POST .../vectors/delete: ids, or a filter.
struct delete_body {
  std::vector<std::string> ids;
  metadata_filter filter;
  bool by_filter = false;
};

struct merge_body {
  std::string source;
  bool delete_source = false;
};

struct tenant_create_body {
  std::string name;
  tenant_quotas quotas;
};

// Parsers of request bodies. Each checks shape and types, rejects unknown fields
// (a misspelt field is an error, not a silent default) and leaves vector and id
// semantics (dimension, finiteness) to vector_validation. A failure is
// invalid_json (not parseable) or invalid_argument (parseable, wrong shape);
// a list longer than max_items is payload_too_large.
expected<index_params> parse_create_index(body_format f, const std::string& body);
expected<upsert_one_body> parse_upsert_one(body_format f, const std::string& body);
// With `texts`, an item may give "text" instead of "vector" (listed there);
// without, "text" is an unknown field.
expected<std::vector<upsert_item>> parse_upsert_batch(body_format f, const std::string& body,
                                                      std::size_t max_items,
                                                      item_texts* texts = nullptr);
expected<delete_body> parse_delete(body_format f, const std::string& body, std::size_t max_items);
// PUT .../fields/{field}: {"type": "keyword"|"integer"|"float"|"bool"}.
expected<field_type> parse_field_index(body_format f, const std::string& body);
// POST .../count: {"filter"?}; an empty body counts every vector.
expected<metadata_filter> parse_count(body_format f, const std::string& body);
expected<search_body> parse_search(body_format f, const std::string& body);
expected<std::vector<search_body>> parse_search_batch(body_format f, const std::string& body,
                                                      std::size_t max_items);
expected<merge_body> parse_merge(body_format f, const std::string& body);
expected<tenant_create_body> parse_create_tenant(body_format f, const std::string& body);
// The "quotas" object on its own, as the catalog stores it (JSON).
expected<tenant_quotas> parse_quotas_json(const std::string& json);

// Converts between metadata's two encodings (JSON text is what is stored).
expected<std::string> msgpack_to_json(std::string_view msgpack_bytes);

}  // namespace quiver
