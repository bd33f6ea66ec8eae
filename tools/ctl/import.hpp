#pragma once
// Sending a record_source to an index: batches over parallel connections, 429
// and 503 retried after Retry-After, a progress bar, and a checkpoint after
// every acknowledged batch so that the same command resumes where an
// interrupted one stopped (upserts are idempotent: a batch sent twice is
// harmless).

#include <optional>
#include <string>

#include "tools/ctl/import_sources.hpp"
#include "tools/ctl/session.hpp"

namespace quiver::ctl {

struct import_plan {
  std::string index;
  std::size_t batch = 500;
  std::size_t parallel = 2;
  std::string checkpoint;  // empty: no resuming
  bool restart = false;    // ignore a checkpoint
  bool progress = true;
};

// Returns how many records this run sent (the rest were done by an earlier
// one); throws ctl_error when a batch fails, after saving the checkpoint.
std::size_t send_records(session& s, const record_source& src, const import_plan& plan);

// Where the checkpoint of importing `file` into `index` at `url` lives:
// $XDG_STATE_HOME/quiverctl (or ~/.local/state/quiverctl), named by a hash of
// the server, index, file (path, size, mtime) and how ids are read.
std::string default_checkpoint(const std::string& url, const std::string& index,
                               const std::string& file, const std::string& how);

struct index_shape {
  std::size_t dimension = 0;
  std::string distance;
  std::size_t count = 0;
};
// The index's dimension, distance and count; nullopt when it does not exist.
std::optional<index_shape> find_index(session& s, const std::string& index);
// Checks `src` whole against the index, creating the index first (with
// `create_body`, after the check) when it is missing and create_body is not
// empty. Nothing is created or sent for a file that fails the check.
index_shape prepare_index(session& s, const std::string& index, record_source& src,
                          const std::string& create_body, const std::string& create_distance,
                          bool quiet);

}  // namespace quiver::ctl
