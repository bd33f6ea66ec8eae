// A primary's part in a backup: a snapshot that covers every write applied when
// the backup asked (the newest one, or one taken for it), then its bytes in
// chunks. The snapshot file is immutable; should a newer snapshot prune it
// meanwhile, the chunk request fails with not_found and the backup asks again.

#include <caf/all.hpp>

#include <algorithm>

#include "actors/index/detail/index_state.hpp"
#include "actors/index/snapshot_files.hpp"
#include "actors/wire/caf_error.hpp"
#include "common/crc32c.hpp"

namespace quiver::index_detail {

namespace {

status not_a_backup_source(const index_state& s) {
  if (!s.control.primary() || !s.control.serving() || !s.control.snapshots_here())
    return make_status(errc::unavailable, "not a serving primary that takes snapshots");
  return status::success();
}

// The newest snapshot on disk and its size, when it covers `applied`.
std::optional<backup_prepare_reply> covering(index_state& s, seq_no applied) {
  auto& files = *s.env->files;
  auto dir = s.dir + "/snapshots";
  auto seqs = list_snapshots(files, dir);
  if (seqs.empty() || seqs.front() < applied) return std::nullopt;
  auto size = files.file_size(snapshot_path(dir, seqs.front()));
  if (!size) return std::nullopt;
  return backup_prepare_reply{seqs.front(), *size};
}

}  // namespace

caf::result<backup_prepare_reply> on_backup_prepare(index_self* self,
                                                    const backup_prepare_request&) {
  auto& s = self->state;
  if (auto st = not_a_backup_source(s); !st.ok()) return to_caf_error(st);
  auto applied = s.index->applied_seq();
  if (applied.value == 0) return backup_prepare_reply{};  // never written: nothing to copy
  if (auto ready = covering(s, applied)) return *ready;
  auto rp = self->make_response_promise<backup_prepare_reply>();
  s.backup_waiters.push_back({applied, rp});
  maybe_snapshot(self, true);
  if (!s.snapshotting && !s.applying && s.backup_waiters.size() == 1) {
    // Nothing started (the schedule says the shard is covered, yet no file
    // covers it): say so rather than wait for a snapshot that never comes. A
    // running apply takes the snapshot when it ends.
    s.backup_waiters.clear();
    return to_caf_error(make_status(errc::unavailable, "no snapshot covers seq " +
                                                           std::to_string(applied.value) +
                                                           " and none could be started; retry"));
  }
  return rp;
}

void serve_backup_waiters(index_self* self, const status& failure) {
  auto& s = self->state;
  if (s.backup_waiters.empty()) return;
  auto waiters = std::move(s.backup_waiters);
  s.backup_waiters.clear();
  for (auto& w : waiters) {
    if (!failure.ok()) {
      w.rp.deliver(to_caf_error(failure));
    } else if (auto ready = covering(s, w.applied)) {
      w.rp.deliver(*ready);
    } else {
      s.backup_waiters.push_back(std::move(w));  // arrived while an older snapshot ran
    }
  }
  if (!s.backup_waiters.empty()) maybe_snapshot(self, true);
}

caf::result<snapshot_chunk> on_backup_chunk(index_self* self, const backup_chunk_request& r) {
  auto& s = self->state;
  if (auto st = not_a_backup_source(s); !st.ok()) return to_caf_error(st);
  auto& files = *s.env->files;
  auto path = snapshot_path(s.dir + "/snapshots", r.seq);
  auto total = files.file_size(path);
  if (!total)
    return to_caf_error(make_status(
        errc::not_found, "no snapshot at seq " + std::to_string(r.seq.value) + " here (replaced)"));
  snapshot_chunk out;
  out.seq = r.seq;
  out.total = *total;
  out.offset = std::min(r.offset, *total);
  auto want = std::min<std::uint64_t>({r.max_bytes, 8u << 20, *total - out.offset});
  if (want > 0) {
    auto bytes = files.read_range(path, out.offset, static_cast<std::size_t>(want));
    if (!bytes) {
      if (!files.file_size(path))  // pruned between the size and the read
        return to_caf_error(make_status(errc::not_found, "the snapshot was replaced"));
      return to_caf_error(bytes.error());
    }
    out.bytes = std::move(*bytes);
  }
  out.crc = crc32c(out.bytes.data(), out.bytes.size());
  return out;
}

}  // namespace quiver::index_detail
