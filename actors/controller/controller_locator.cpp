#include "actors/controller/controller_locator.hpp"

#include <spdlog/spdlog.h>

namespace quiver {

controller_locator::controller_locator(etcd::client& etcd, const metadata_keys& keys,
                                       std::function<void(const controller_record&)> found,
                                       std::function<void()> vacant) {
  auto key = keys.controller();
  // Runs on the follower's thread, then on its watch's: never two at once.
  follower_ = std::make_unique<metadata_follower>(
      etcd, key, [&etcd, key, found = std::move(found), vacant = std::move(vacant)] {
        auto r = etcd.range(key);
        if (!r) return;
        if (r->kvs.empty()) {
          if (vacant) vacant();
          return;
        }
        auto record = decode_controller_record(r->kvs.front().value);
        if (!record) {
          spdlog::warn("cannot read the controller key: {}", record.error().message);
          return;
        }
        found(*record);
      });
}

}  // namespace quiver
