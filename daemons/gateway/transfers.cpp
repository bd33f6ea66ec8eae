#include "daemons/gateway/detail/transfers.hpp"

#include <unistd.h>

#include <filesystem>

namespace quiver::gateway {

transfers::transfers(unsigned max, std::string scratch_dir)
    : max_(std::max(1u, max)), dir_(std::move(scratch_dir)), pool_(std::max(1u, max)) {
  if (dir_.empty()) {
    std::error_code ec;
    dir_ = std::filesystem::temp_directory_path(ec).string();
    if (ec || dir_.empty()) dir_ = "/tmp";
  }
}

transfers::~transfers() { pool_.stop(); }

bool transfers::acquire() {
  auto used = used_->load();
  do {
    if (used >= max_) return false;
  } while (!used_->compare_exchange_weak(used, used + 1));
  return true;
}

void transfers::release() { used_->fetch_sub(1); }

std::shared_ptr<void> transfers::hold() {
  return std::shared_ptr<void>(nullptr, [used = used_](void*) { used->fetch_sub(1); });
}

bool transfers::run(std::function<void()> job) { return pool_.post(std::move(job)); }

std::string transfers::scratch_path(const std::string& what) {
  return dir_ + "/quiver-" + what + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(next_.fetch_add(1)) + ".part";
}

}  // namespace quiver::gateway
