#pragma once
// The backup file of one index (GET /v1/indexes/{name}/snapshot, POST .../restore).
//
// Version 1, integers little-endian:
//   "QVBACKUP"    magic, 8 bytes
//   u32           format version
//   shard bytes   each shard's snapshot file as its primary wrote it (the format of
//                 shard_index_snapshot.cpp, with its own checksum), in shard order
//   manifest      JSON: {"format": "quiver-backup", "version": 1, "index": {"name",
//                 "dimension", "distance", "m", "ef_construction", "ef_search",
//                 "shards", "replicas", "embedder"?}, "fields": [{"name", "type"}], "shards":
//                 [{"shard", "seq", "offset", "bytes", "crc32c"}], "created_unix_ms",
//                 "build"}
//   u64           manifest length
//   u32           crc32c of the manifest
// A shard's crc32c covers its section as written. A snapshot file ends with its
// own crc32c, so every intact one has the same section crc (the CRC residue);
// any damage changes it. A shard that never took a write has 0 bytes. The shard sections are
// written as they arrive and the manifest last, so a file cut short has no valid tail.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.hpp"
#include "common/filter.hpp"
#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/status.hpp"

namespace quiver::gateway {

inline constexpr std::uint32_t backup_format_version = 1;

struct backup_shard {
  std::uint32_t shard = 0;
  std::uint64_t seq = 0;  // the snapshot covers the shard's writes up to this one
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::uint32_t crc32c = 0;
};

struct backup_manifest {
  std::uint32_t version = backup_format_version;
  index_params params;  // of the backed-up index (its name included)
  std::vector<field_def> fields;
  std::vector<backup_shard> shards;
  std::uint64_t created_unix_ms = 0;
  std::string build;
};

std::string encode_manifest(const backup_manifest& m);
// invalid_argument naming what is missing or wrong.
expected<backup_manifest> decode_manifest(std::string_view json);

// Writes a backup file a section at a time.
class backup_writer {
 public:
  static expected<std::unique_ptr<backup_writer>> create(env& e, const std::string& path);
  // The next shard's bytes, in pieces.
  void begin_shard(std::uint32_t shard, std::uint64_t seq);
  status append(std::string_view bytes);
  // Drops what the current shard wrote so far (its snapshot was replaced).
  status restart_shard(std::uint64_t seq);
  void end_shard();
  // Writes the manifest (its shards are the ones written) and syncs.
  status finish(backup_manifest m);
  std::uint64_t size() const { return at_; }

 private:
  backup_writer(env& e, std::string path, std::unique_ptr<writable_file> f);
  env& env_;
  std::string path_;
  std::unique_ptr<writable_file> file_;
  std::uint64_t at_ = 0;
  backup_shard current_;
  std::vector<backup_shard> shards_;
};

// Checks a whole backup file: magic, version, manifest and its checksum, that
// the shard sections tile the file, and every section's checksum. Errors are
// invalid_argument saying what is wrong (a damaged or foreign file).
expected<backup_manifest> verify_backup(env& e, const std::string& path);

}  // namespace quiver::gateway
