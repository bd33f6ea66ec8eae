#include "common/errc.hpp"

namespace quiver {

std::string_view code_name(errc code) {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::invalid_json:
      return "invalid_json";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::dimension_mismatch:
      return "dimension_mismatch";
    case errc::non_finite_vector:
      return "non_finite_vector";
    case errc::zero_vector:
      return "zero_vector";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::forbidden:
      return "forbidden";
    case errc::index_not_found:
      return "index_not_found";
    case errc::vector_not_found:
      return "vector_not_found";
    case errc::not_found:
      return "not_found";
    case errc::method_not_allowed:
      return "method_not_allowed";
    case errc::index_exists:
      return "index_exists";
    case errc::tenant_exists:
      return "tenant_exists";
    case errc::payload_too_large:
      return "payload_too_large";
    case errc::unsupported_media_type:
      return "unsupported_media_type";
    case errc::quota_exceeded:
      return "quota_exceeded";
    case errc::rate_limited:
      return "rate_limited";
    case errc::unavailable:
      return "unavailable";
    case errc::stale_epoch:
      return "stale_epoch";
    case errc::insufficient_storage:
      return "insufficient_storage";
    case errc::embedder_failed:
      return "embedder_failed";
    case errc::embedder_timeout:
      return "embedder_timeout";
    case errc::internal:
      return "internal";
  }
  return "internal";
}

int http_status(errc code) {
  switch (code) {
    case errc::ok:
      return 200;
    case errc::invalid_json:
      return 400;
    case errc::invalid_argument:
      return 400;
    case errc::dimension_mismatch:
      return 400;
    case errc::non_finite_vector:
      return 400;
    case errc::zero_vector:
      return 400;
    case errc::unauthenticated:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::index_not_found:
      return 404;
    case errc::vector_not_found:
      return 404;
    case errc::not_found:
      return 404;
    case errc::method_not_allowed:
      return 405;
    case errc::index_exists:
      return 409;
    case errc::tenant_exists:
      return 409;
    case errc::payload_too_large:
      return 413;
    case errc::unsupported_media_type:
      return 415;
    case errc::quota_exceeded:
      return 429;
    case errc::rate_limited:
      return 429;
    case errc::unavailable:
      return 503;
    case errc::stale_epoch:
      return 503;  // the client retries and reaches the new primary
    case errc::insufficient_storage:
      return 507;
    case errc::embedder_failed:
      return 502;
    case errc::embedder_timeout:
      return 504;
    case errc::internal:
      return 500;
  }
  return 500;
}

errc errc_from_name(std::string_view name) {
  for (auto i = static_cast<int>(errc::ok); i <= static_cast<int>(errc::internal); ++i) {
    auto code = static_cast<errc>(i);
    if (code_name(code) == name) return code;
  }
  return errc::internal;
}

}  // namespace quiver
