#pragma once
// POST /v1/embed: {"texts": [...], "embedder"?: "hash-v1", "dimension"?}
// -> {"vectors": [[...], ...], "dimension", "embedder"}. The dimension defaults
// to the embedder's own (768 for hash-v1, which makes any size).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace quiver::matrix {

class embedder_set;

struct embed_request {
  std::vector<std::string> texts;
  std::string embedder = "hash-v1";
  std::uint32_t dimension = 0;  // 0: the embedder's own
};

// invalid_json, invalid_argument (a malformed embedder name, an unknown field,
// a dimension out of range), or payload_too_large past `max_texts`.
expected<embed_request> parse_embed_request(const std::string& json, std::size_t max_texts);

// The vectors of every text, in order: invalid_argument for an embedder `set`
// lacks or a dimension it does not make; the first text that cannot be
// embedded fails the request (invalid_argument naming its position); a
// server's failure is embedder_failed or embedder_timeout.
expected<std::string> embed_texts(const embed_request& r, const embedder_set& set);

}  // namespace quiver::matrix
