#pragma once

#include <cstddef>
#include <cstdint>

namespace quiver {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and
// LevelDB; `crc` continues a previous value. crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);

}  // namespace quiver
