#pragma once

#include <msgpack.hpp>

#include <cstddef>

namespace quiver::detail {

// How deep a MessagePack value may nest; JSON bodies have the same bound (simdjson's).
inline constexpr std::size_t max_msgpack_depth = 1024;

// Limits for unpacking `bytes` of MessagePack: an array, map, string or binary
// cannot hold more entries or bytes than the input has, so a few bytes that declare
// four billion entries are refused instead of making the unpacker allocate for them.
inline msgpack::unpack_limit msgpack_limits(std::size_t bytes) {
  return msgpack::unpack_limit(bytes, bytes / 2, bytes, bytes, bytes, max_msgpack_depth);
}

}  // namespace quiver::detail
