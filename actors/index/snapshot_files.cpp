#include "actors/index/snapshot_files.hpp"

#include <algorithm>
#include <cstdio>

#include "common/parse.hpp"

namespace quiver {

namespace {

constexpr char suffix[] = ".qsnap";
constexpr std::size_t digits = 20;

bool parse_name(const std::string& name, seq_no& seq) {
  if (name.size() != digits + sizeof suffix - 1 || name.compare(digits, std::string::npos, suffix))
    return false;
  if (!std::all_of(name.begin(), name.begin() + digits,
                   [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  auto value = parse_u64(std::string_view(name).substr(0, digits));
  if (!value) return false;  // 20 digits can exceed 64 bits
  seq = seq_no{*value};
  return true;
}

}  // namespace

std::string snapshot_path(const std::string& dir, seq_no seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq.value));
  return dir + "/" + buf + suffix;
}

std::vector<seq_no> list_snapshots(env& e, const std::string& dir) {
  std::vector<seq_no> out;
  auto names = e.list(dir);
  if (!names) return out;
  for (auto& n : *names) {
    seq_no s;
    if (parse_name(n, s)) out.push_back(s);
  }
  std::sort(out.begin(), out.end(), [](seq_no a, seq_no b) { return b < a; });
  return out;
}

expected<seq_no> prune_snapshots(env& e, const std::string& dir, std::size_t keep) {
  auto names = e.list(dir);
  if (!names) return std::move(names).error();
  auto snaps = list_snapshots(e, dir);
  for (auto& n : *names) {
    seq_no s;
    if (!parse_name(n, s)) e.remove(dir + "/" + n);  // temp files of interrupted writes
  }
  for (std::size_t i = keep; i < snaps.size(); ++i)
    if (auto st = e.remove(snapshot_path(dir, snaps[i])); !st.ok()) return st;
  if (snaps.size() < keep || keep == 0) return seq_no{};
  return seq_no{snaps[keep - 1].value + 1};
}

expected<recovery_start> load_recovery_start(env& e, const std::string& dir,
                                             const index_params& params,
                                             const shard_index_options& options,
                                             seq_no log_first_seq) {
  recovery_start out;
  for (auto seq : list_snapshots(e, dir)) {
    auto path = snapshot_path(dir, seq);
    if (seq.value + 1 < log_first_seq.value) {
      out.skipped.push_back(path + ": the log no longer holds the records after it");
      continue;
    }
    auto loaded = shard_index::load_snapshot(e, path, options);
    if (!loaded) {
      out.skipped.push_back(loaded.error().message);
      continue;
    }
    if ((*loaded)->params() != params) {
      out.skipped.push_back(path + ": index parameters differ from the catalog's");
      continue;
    }
    out.index = std::move(*loaded);
    out.snapshot_seq = out.index->applied_seq();
    return out;
  }
  if (log_first_seq.value > 1) {
    std::string why =
        "no usable snapshot and the log starts at seq " + std::to_string(log_first_seq.value);
    for (auto& s : out.skipped) why += "; " + s;
    return make_status(errc::internal, why);
  }
  out.index = std::make_unique<shard_index>(params, options);
  return out;
}

}  // namespace quiver
