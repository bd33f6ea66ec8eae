#pragma once
// POST /v1/embed: {"texts": [...], "embedder"?: "hash-v1", "dimension"?: 768}
// -> {"vectors": [[...], ...], "dimension", "embedder"}.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace quiver::matrix {

struct embed_request {
  std::vector<std::string> texts;
  std::string embedder = "hash-v1";
  std::uint32_t dimension = 768;
};

// invalid_json, invalid_argument (an unknown embedder or field, a dimension
// out of range), or payload_too_large past `max_texts`.
expected<embed_request> parse_embed_request(const std::string& json, std::size_t max_texts);
// One text's vector from the named embedder at `dimension` (an index's: its
// params were validated); invalid_argument for a text it cannot embed.
expected<std::vector<float>> embed_text(const std::string& embedder, std::uint32_t dimension,
                                        std::string_view text);

// The vectors of every text, in order; the first text that cannot be embedded
// fails the request (invalid_argument naming its position).
expected<std::string> embed_texts(const embed_request& r);

}  // namespace quiver::matrix
