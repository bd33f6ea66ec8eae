#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace quiver {

// A file opened for appending. Not thread-safe: one writer at a time.
class writable_file {
 public:
  virtual ~writable_file() = default;
  virtual status append(std::string_view bytes) = 0;
  // Makes everything appended so far durable (fdatasync).
  virtual status sync() = 0;
};

// The file-system operations logs and snapshots use. Everything persistent goes
// through it, so tests can substitute one that fails writes and fsyncs or tears
// files. Paths are plain strings; errors are `insufficient_storage` for a full,
// over-quota or read-only file system (details: path, free_bytes, reason), else
// `unavailable` (the storage cannot make the write durable), with the OS message.
class env {
 public:
  virtual ~env() = default;
  virtual expected<std::unique_ptr<writable_file>> open_append(const std::string& path) = 0;
  virtual expected<std::string> read_file(const std::string& path) = 0;
  // Up to `size` bytes at `offset` (fewer at the end of the file).
  virtual expected<std::string> read_range(const std::string& path, std::uint64_t offset,
                                           std::size_t size) = 0;
  // Exactly `size` bytes at `offset` into dst (an error when the file ends first).
  // The default goes through read_range(); the real file system reads in place.
  virtual status read_into(const std::string& path, std::uint64_t offset, char* dst,
                           std::size_t size);
  virtual expected<std::uint64_t> file_size(const std::string& path) = 0;
  // Writes `size` bytes of `from` at `offset` to a new file `to`, without fsync
  // (scratch files; in the kernel where it can: copy_file_range).
  virtual status copy_range(const std::string& from, std::uint64_t offset, std::uint64_t size,
                            const std::string& to) = 0;
  virtual status truncate(const std::string& path, std::uint64_t size) = 0;
  virtual status remove(const std::string& path) = 0;
  // Removes a file or a directory tree; absent is fine.
  virtual status remove_all(const std::string& path) = 0;
  virtual status create_dirs(const std::string& path) = 0;
  // File names (not paths) in `dir`, unsorted.
  virtual expected<std::vector<std::string>> list(const std::string& dir) = 0;
  // Makes the directory's entries (created, renamed, removed files) durable.
  virtual status sync_dir(const std::string& dir) = 0;
  // Replaces `to` with `from` atomically.
  virtual status rename(const std::string& from, const std::string& to) = 0;

  // The real file system.
  static env& posix();
};

// The status for an OS error `err` (an errno) on `path`, as env's methods report it.
status storage_error(int err, std::string message, const std::string& path);

// Writes `bytes` to `path` so that a crash leaves either the old file or the whole
// new one: a temp file beside it, fsynced, renamed over, then the directory fsynced.
status write_file_atomically(env& e, const std::string& path, std::string_view bytes);

}  // namespace quiver
