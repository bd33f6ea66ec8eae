#include "common/env.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace quiver {

namespace {

// Free bytes for an unprivileged writer on the file system holding `path` (or the
// nearest existing parent); -1 when unknown.
std::int64_t free_bytes(std::string path) {
  for (;;) {
    struct statvfs fs {};
    if (::statvfs(path.c_str(), &fs) == 0)
      return static_cast<std::int64_t>(fs.f_bavail) * static_cast<std::int64_t>(fs.f_frsize);
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos || slash == 0) return -1;
    path.resize(slash);
  }
}

status short_read(const std::string& path, std::uint64_t offset, std::size_t size) {
  return make_status(errc::internal, path + ": the file ends before " + std::to_string(size) +
                                         " bytes at offset " + std::to_string(offset));
}

status os_error(const std::string& what, const std::string& path) {
  int err = errno;
  auto message = what + " " + path + ": " + std::strerror(err);
  return storage_error(err, message, path);
}

class posix_file final : public writable_file {
 public:
  posix_file(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~posix_file() override { ::close(fd_); }

  status append(std::string_view bytes) override {
    while (!bytes.empty()) {
      auto n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return os_error("write", path_);
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return status::success();
  }

  status sync() override {
    if (::fdatasync(fd_) != 0) return os_error("fdatasync", path_);
    return status::success();
  }

 private:
  int fd_;
  std::string path_;
};

class posix_env final : public env {
 public:
  expected<std::unique_ptr<writable_file>> open_append(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return os_error("open", path);
    return std::unique_ptr<writable_file>(std::make_unique<posix_file>(fd, path));
  }

  expected<std::string> read_file(const std::string& path) override {
    auto size = file_size(path);
    if (!size) return std::move(size).error();
    return read_range(path, 0, static_cast<std::size_t>(*size));
  }

  // Up to `size` bytes at `offset` into dst; how many (fewer at the end of the file).
  static expected<std::size_t> read_at(const std::string& path, std::uint64_t offset, char* dst,
                                       std::size_t size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return os_error("open", path);
    std::size_t used = 0;
    while (used < size) {
      auto n = ::pread(fd, dst + used, size - used, static_cast<off_t>(offset + used));
      if (n < 0) {
        if (errno == EINTR) continue;
        auto failure = os_error("read", path);
        ::close(fd);
        return failure;
      }
      if (n == 0) break;
      used += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return used;
  }

  expected<std::string> read_range(const std::string& path, std::uint64_t offset,
                                   std::size_t size) override {
    std::string out(size, '\0');
    auto used = read_at(path, offset, out.data(), size);
    if (!used) return std::move(used).error();
    out.resize(*used);
    return out;
  }

  status read_into(const std::string& path, std::uint64_t offset, char* dst,
                   std::size_t size) override {
    auto used = read_at(path, offset, dst, size);
    if (!used) return std::move(used).error();
    if (*used != size) return short_read(path, offset, size);
    return status::success();
  }

  expected<std::uint64_t> file_size(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return os_error("stat", path);
    return static_cast<std::uint64_t>(st.st_size);
  }

  status copy_range(const std::string& from, std::uint64_t offset, std::uint64_t size,
                    const std::string& to) override {
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return os_error("open", from);
    int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
      auto failure = os_error("open", to);
      ::close(in);
      return failure;
    }
    auto off = static_cast<off_t>(offset);
    status result;
    bool kernel = true;
    std::string buf;
    while (size > 0) {
      ssize_t n;
      if (kernel) {
        n = ::copy_file_range(in, &off, out, nullptr, size, 0);
        if (n < 0 &&
            (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
          kernel = false;
          continue;
        }
      } else {
        buf.resize(std::min<std::uint64_t>(size, 1 << 22));
        n = ::pread(in, buf.data(), buf.size(), off);
        if (n > 0 && ::write(out, buf.data(), static_cast<std::size_t>(n)) != n) n = -1;
        if (n > 0) off += n;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        result = n < 0 ? os_error("copy", from + " -> " + to)
                       : make_status(errc::unavailable, "copy " + from + ": unexpected end");
        break;
      }
      size -= static_cast<std::uint64_t>(n);
    }
    ::close(in);
    ::close(out);
    return result;
  }

  status truncate(const std::string& path, std::uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return os_error("truncate", path);
    return status::success();
  }

  status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return os_error("unlink", path);
    return status::success();
  }

  status remove_all(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return storage_error(ec.value(), "remove " + path + ": " + ec.message(), path);
    return status::success();
  }

  status create_dirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return storage_error(ec.value(), "mkdir " + path + ": " + ec.message(), path);
    return status::success();
  }

  expected<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return os_error("opendir", dir);
    std::vector<std::string> out;
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(std::move(name));
    }
    ::closedir(d);
    return out;
  }

  status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return os_error("rename", from + " -> " + to);
    return status::success();
  }

  status sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_error("open", dir);
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) return os_error("fsync", dir);
    return status::success();
  }
};

}  // namespace

status env::read_into(const std::string& path, std::uint64_t offset, char* dst, std::size_t size) {
  auto bytes = read_range(path, offset, size);
  if (!bytes) return std::move(bytes).error();
  if (bytes->size() != size) return short_read(path, offset, size);
  if (size > 0) std::memcpy(dst, bytes->data(), size);
  return status::success();
}

status storage_error(int err, std::string message, const std::string& path) {
  if (err != ENOSPC && err != EDQUOT && err != EROFS)
    return make_status(errc::unavailable, std::move(message));
  auto st = make_status(errc::insufficient_storage, std::move(message),
                        {{"free_bytes", free_bytes(path)}});
  st.text_details.emplace_back("path", path);
  st.text_details.emplace_back("reason", err == ENOSPC   ? "no space left"
                                         : err == EDQUOT ? "over quota"
                                                         : "read-only file system");
  return st;
}

status write_file_atomically(env& e, const std::string& path, std::string_view bytes) {
  auto tmp = path + ".tmp";
  e.remove(tmp);  // a leftover of an earlier crash; absent is fine
  // A failed attempt leaves no partial temp file taking space on a full disk.
  auto failed = [&](status st) {
    e.remove(tmp);
    return st;
  };
  {
    auto file = e.open_append(tmp);
    if (!file) return failed(std::move(file).error());
    if (auto st = (*file)->append(bytes); !st.ok()) return failed(st);
    if (auto st = (*file)->sync(); !st.ok()) return failed(st);
  }
  if (auto st = e.rename(tmp, path); !st.ok()) return failed(st);
  auto slash = path.find_last_of('/');
  return e.sync_dir(slash == std::string::npos ? "." : path.substr(0, slash));
}

env& env::posix() {
  static posix_env instance;
  return instance;
}

}  // namespace quiver
