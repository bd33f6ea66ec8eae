#include "common/parse.hpp"

#include <charconv>

namespace quiver {

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text,
                                                                     bool any_port) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  auto port = parse_u64(text.substr(colon + 1));
  if (!port || *port > 65535 || (*port == 0 && !any_port)) return std::nullopt;
  return std::make_pair(std::string(text.substr(0, colon)), static_cast<std::uint16_t>(*port));
}

}  // namespace quiver
