#pragma once
// Whole files over HTTP for backup and restore: a download streamed to disk and
// an upload streamed from disk, so neither is held in memory.

#include <cstdint>
#include <string>

#include "tools/ctl/session.hpp"

namespace quiver::ctl {

struct transfer_result {
  int status = 0;
  std::string body;         // an error's JSON (the file is not kept then)
  std::uint64_t bytes = 0;  // written to the file, or sent
};

// GET `path` into `file` (written as FILE.part, renamed once complete).
transfer_result download(const connection_options& c, const std::string& path,
                         const std::string& file);
// POST `file` to `path` as application/octet-stream; the answer's body.
transfer_result upload(const connection_options& c, const std::string& path,
                       const std::string& file);

}  // namespace quiver::ctl
