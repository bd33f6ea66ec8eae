#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actors/index/shard_index.hpp"
#include "common/env.hpp"
#include "common/ids.hpp"

namespace quiver {

// The snapshots of one shard: "<seq, 20 digits>.qsnap" files in one directory,
// each covering every record up to its seq.

std::string snapshot_path(const std::string& dir, seq_no seq);
// Newest first; other files (temp files of an interrupted write) are ignored.
std::vector<seq_no> list_snapshots(env& e, const std::string& dir);
// Keeps the newest `keep` snapshots and removes the rest and stray temp files.
// Returns the seq below which the log is no longer needed: one past the oldest
// kept snapshot once `keep` exist (so a damaged newest one can fall back to it),
// else 0 (keep the whole log).
expected<seq_no> prune_snapshots(env& e, const std::string& dir, std::size_t keep = 2);

// The starting point of a shard's recovery: the newest snapshot that loads and
// whose tail the log still holds (its seq + 1 >= log_first_seq), or an empty
// shard when the log still starts at seq 1. Damaged snapshots are skipped and
// described in `skipped`; when nothing usable exists the result is an error
// saying why (the shard must be quarantined, not emptied).
struct recovery_start {
  std::unique_ptr<shard_index> index;
  seq_no snapshot_seq;  // 0: none used
  std::vector<std::string> skipped;
};
expected<recovery_start> load_recovery_start(env& e, const std::string& dir,
                                             const index_params& params,
                                             const shard_index_options& options,
                                             seq_no log_first_seq);

}  // namespace quiver
