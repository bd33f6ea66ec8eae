#pragma once

#include <cstdint>
#include <string_view>

namespace quiver {

// The API error codes of docs/API.md. Each maps to exactly one HTTP status in
// http_status(), an exhaustive switch: a new code is a warning until mapped.
enum class errc : std::uint8_t {
  ok = 0,
  invalid_json,
  invalid_argument,
  dimension_mismatch,
  non_finite_vector,
  zero_vector,
  unauthenticated,
  forbidden,
  index_not_found,
  vector_not_found,
  not_found,
  method_not_allowed,
  index_exists,
  tenant_exists,
  payload_too_large,
  unsupported_media_type,
  quota_exceeded,
  rate_limited,
  unavailable,
  // A newer primary was fenced in: this writer's epoch is no longer current.
  stale_epoch,
  // The disk is full, over a quota or read-only (ENOSPC, EDQUOT, EROFS).
  insufficient_storage,
  // A configured embedding server failed or answered something unusable.
  embedder_failed,
  // A configured embedding server did not answer in time.
  embedder_timeout,
  internal,
};

// The wire name of a code, e.g. "dimension_mismatch".
std::string_view code_name(errc code);

// The HTTP status a code is answered with.
int http_status(errc code);

// Parses a wire name back; returns errc::internal for unknown names.
errc errc_from_name(std::string_view name);

}  // namespace quiver
