#pragma once

#include <string>
#include <string_view>

#include "common/status.hpp"

namespace quiver {

// A fresh tenant API key: "qk_" and 48 hex digits, 192 bits from the kernel's CSPRNG.
expected<std::string> new_api_key();
// What the catalog stores instead of a key: SHA-256, hex. Keys carry 192 random
// bits, so a fast hash is enough (nothing to brute-force).
std::string hash_api_key(std::string_view key);
// Compares without an early exit, so timing does not reveal a matching prefix
// (compare hashes: their length is fixed).
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace quiver
