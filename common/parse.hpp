#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace quiver {

// Parsers of text from files, config and peers that never throw (std::stoul and
// friends throw on bad input, and an exception must not escape an actor handler).

// A whole decimal unsigned 64-bit number, nothing before or after it.
std::optional<std::uint64_t> parse_u64(std::string_view text);

// "host:port" (the last colon splits; port 1-65535, or 0 too with any_port).
std::optional<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text,
                                                                     bool any_port = false);

}  // namespace quiver
