// Log record decode through the shard log: the input is a segment file. Opening
// cuts a damaged tail; every record read back must encode and decode to itself.
#include <cstdint>
#include <cstdlib>

#include "actors/storage/shard_log.hpp"
#include "common/log_record.hpp"
#include "tests/fuzz/fuzz_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::fresh_file("log", "00000000000000000001.log", bytes);
  auto log = shard_log::open(env::posix(), fuzz::scratch_dir() + "/log");
  if (!log) return 0;
  auto st = (*log)->read(seq_no{}, [](log_record&& r) {
    auto again = decode_log_record(encode(r));
    if (!again || again->seq.value != r.seq.value || again->id != r.id ||
        again->vector != r.vector || again->metadata != r.metadata || again->tenant != r.tenant)
      std::abort();
  });
  // What open kept is whole: reading it cannot find damage.
  if (!st.ok()) std::abort();
  // Whatever a decode is handed, it answers (no crash, no exception).
  decode_log_record(bytes);
  return 0;
}
