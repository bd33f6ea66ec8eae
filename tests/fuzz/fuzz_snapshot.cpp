// Snapshot decode: the input is a shard snapshot file. Loading it yields a shard
// or a status (damage is caught by the checksums and the structure checks).
#include <cstdint>

#include "actors/index/shard_index.hpp"
#include "tests/fuzz/fuzz_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto path = fuzz::fresh_file("snap", "00000000000000000001.qsnap", bytes);
  auto shard = shard_index::load_snapshot(env::posix(), path);
  if (!shard) return 0;
  // A snapshot that loads is a shard that answers.
  (*shard)->count();
  auto page = (*shard)->ids_after("", 16);
  for (auto& id : page.ids) (*shard)->get(id);
  return 0;
}
