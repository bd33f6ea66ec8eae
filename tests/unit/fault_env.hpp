#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/env.hpp"

namespace quiver {

// The real file system with faults a test turns on: a disk that holds only so
// many more bytes (a write past them is cut short and fails with ENOSPC, as a
// full disk's would), and fsyncs that fail or wait. Counts the fsyncs it is asked for.
class fault_env final : public env {
 public:
  // Bytes that may still be written (-1: unlimited), and the error past them.
  std::int64_t space_left = -1;
  int full_errno = ENOSPC;
  bool fail_sync = false;
  int syncs = 0;
  // Runs before each fsync, with the file's path (a test may block in it).
  std::function<void(const std::string&)> before_sync;

  class file final : public writable_file {
   public:
    file(fault_env& owner, std::unique_ptr<writable_file> inner, std::string path)
        : owner_(owner), inner_(std::move(inner)), path_(std::move(path)) {}
    status append(std::string_view b) override {
      auto& left = owner_.space_left;
      if (left >= 0 && static_cast<std::int64_t>(b.size()) > left) {
        auto fits = b.substr(0, static_cast<std::size_t>(left));
        left = 0;
        if (auto st = inner_->append(fits); !st.ok()) return st;
        return storage_error(owner_.full_errno, "write " + path_ + ": injected", path_);
      }
      if (left >= 0) left -= static_cast<std::int64_t>(b.size());
      return inner_->append(b);
    }
    status sync() override {
      ++owner_.syncs;
      if (owner_.before_sync) owner_.before_sync(path_);
      if (owner_.fail_sync) return make_status(errc::unavailable, "fdatasync: injected EIO");
      return inner_->sync();
    }

   private:
    fault_env& owner_;
    std::unique_ptr<writable_file> inner_;
    std::string path_;
  };

  expected<std::unique_ptr<writable_file>> open_append(const std::string& p) override {
    auto f = env::posix().open_append(p);
    if (!f) return std::move(f).error();
    return std::unique_ptr<writable_file>(std::make_unique<file>(*this, std::move(*f), p));
  }
  expected<std::string> read_file(const std::string& p) override {
    return env::posix().read_file(p);
  }
  expected<std::string> read_range(const std::string& p, std::uint64_t o, std::size_t n) override {
    return env::posix().read_range(p, o, n);
  }
  expected<std::uint64_t> file_size(const std::string& p) override {
    return env::posix().file_size(p);
  }
  status copy_range(const std::string& f, std::uint64_t o, std::uint64_t n,
                    const std::string& t) override {
    return env::posix().copy_range(f, o, n, t);
  }
  status truncate(const std::string& p, std::uint64_t s) override {
    return env::posix().truncate(p, s);
  }
  status remove(const std::string& p) override { return env::posix().remove(p); }
  status remove_all(const std::string& p) override { return env::posix().remove_all(p); }
  status create_dirs(const std::string& p) override { return env::posix().create_dirs(p); }
  expected<std::vector<std::string>> list(const std::string& d) override {
    return env::posix().list(d);
  }
  status sync_dir(const std::string& d) override { return env::posix().sync_dir(d); }
  status rename(const std::string& f, const std::string& t) override {
    return env::posix().rename(f, t);
  }
};

}  // namespace quiver
