// Catalog replay: the input is the catalog log's segment. Opening the storage
// engine replays it (indexes, tenants, keys, quotas) or refuses it with a status.
#include <cstdint>

#include "actors/storage/storage_engine.hpp"
#include "tests/fuzz/fuzz_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::fresh_file("data/catalog", "00000000000000000001.log", bytes);
  storage_options o;
  o.data_dir = fuzz::scratch_dir() + "/data";
  auto engine = storage_engine::open(env::posix(), o);
  if (!engine) return 0;
  for (auto& e : (*engine)->catalog())
    (*engine)->shard_dir({e.tenant, e.params.name, e.incarnation, {}});
  (*engine)->tenants();
  return 0;
}
