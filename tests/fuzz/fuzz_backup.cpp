// Backup file decode: the input is an uploaded backup file. Checking it yields a
// manifest or a status, never a crash (the restore checks every file first).
#include <cstdint>

#include "daemons/gateway/backup_file.hpp"
#include "tests/fuzz/fuzz_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto path = fuzz::fresh_file("backup", "upload.part", bytes);
  auto m = gateway::verify_backup(env::posix(), path);
  if (!m) return 0;
  // A file that verifies has shards that tile it, in order.
  std::uint64_t total = 0;
  for (auto& s : m->shards) total += s.bytes;
  if (total > size) std::abort();
  gateway::decode_manifest(gateway::encode_manifest(*m));
  return 0;
}
