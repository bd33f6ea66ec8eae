#pragma once

#include <functional>
#include <memory>

#include "actors/controller/metadata_follower.hpp"
#include "cluster/metadata_records.hpp"
#include "etcd/etcd_client.hpp"

namespace quiver {

// Follows the controller key in etcd, so that a daemon finds the elected
// coordinator wherever it runs: calls `found` (on its own thread) with the
// controller's record when one holds the key, at start and after each change
// or re-listing. While no one holds it it calls `vacant` (if given) instead;
// when etcd cannot be reached it says nothing. The caller keeps the last
// controller it heard of meanwhile.
class controller_locator {
 public:
  controller_locator(etcd::client& etcd, const metadata_keys& keys,
                     std::function<void(const controller_record&)> found,
                     std::function<void()> vacant = nullptr);

 private:
  std::unique_ptr<metadata_follower> follower_;
};

}  // namespace quiver
