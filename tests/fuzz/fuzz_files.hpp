#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace quiver::fuzz {

// A directory of this fuzzing process, emptied before every input.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/quiver-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    return std::string(tmpl);
  }();
  return dir;
}

// Writes `bytes` to `dir/name` in a fresh scratch directory; returns the path.
inline std::string fresh_file(const std::string& sub, const std::string& name,
                              std::string_view bytes) {
  namespace fs = std::filesystem;
  auto dir = scratch_dir() + "/" + sub;
  std::error_code ec;
  fs::remove_all(scratch_dir(), ec);
  fs::create_directories(dir);
  auto path = dir + "/" + name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

}  // namespace quiver::fuzz
