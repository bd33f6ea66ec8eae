#include "etcd/session.hpp"

namespace quiver::etcd {

expected<std::unique_ptr<session>> session::open(client& etcd, std::chrono::seconds ttl,
                                                 std::function<void(const status&)> on_lost) {
  auto sent = clock::now();
  auto grant = etcd.lease_grant(ttl);
  if (!grant) return grant.error();
  return std::unique_ptr<session>(
      new session(etcd, grant->id, std::chrono::seconds(grant->ttl_s), sent, std::move(on_lost)));
}

session::session(client& etcd, std::int64_t lease, std::chrono::seconds ttl,
                 clock::time_point granted, std::function<void(const status&)> on_lost)
    : etcd_(etcd),
      lease_(lease),
      ttl_(ttl),
      on_lost_(std::move(on_lost)),
      valid_until_((granted + ttl).time_since_epoch().count()) {
  thread_ = std::thread([this] { run(); });
}

session::~session() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (!lost()) etcd_.lease_revoke(lease_);  // the keys go at once, not a TTL later
}

bool session::lost() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lost_;
}

session::clock::time_point session::valid_until() const {
  return clock::time_point(clock::duration(valid_until_.load()));
}

void session::run() {
  auto period = std::max<clock::duration>(ttl_ / 3, std::chrono::milliseconds(100));
  std::unique_lock<std::mutex> lock(mutex_);
  auto next = clock::now() + period;
  while (!stopping_) {
    // A failed renewal is retried sooner: the lease outlives a few of them.
    wake_.wait_until(lock, next, [this] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    auto sent = clock::now();
    auto renewed = etcd_.lease_keepalive(lease_);
    lock.lock();
    if (renewed) {
      valid_until_ = (sent + std::chrono::seconds(*renewed)).time_since_epoch().count();
      next = clock::now() + period;
      continue;
    }
    bool expired = renewed.error().code == errc::not_found || clock::now() >= valid_until();
    if (!expired) {
      next = clock::now() + std::min<clock::duration>(period, std::chrono::milliseconds(500));
      continue;
    }
    lost_ = true;
    valid_until_ = 0;  // a revoked lease is gone before its TTL would have run out
    status why = renewed.error();
    lock.unlock();
    if (on_lost_) on_lost_(why);
    return;
  }
}

expected<campaign_result> campaign(client& etcd, const std::string& key, const std::string& value,
                                   std::int64_t lease) {
  auto r =
      etcd.txn({compare::absent(key)}, {operation::put(key, value, lease), operation::get(key)},
               {operation::get(key)});
  if (!r) return r.error();
  campaign_result out;
  out.won = r->succeeded;
  out.revision = r->revision;
  for (const auto& range : r->ranges)
    for (const auto& kv : range.kvs) {
      out.holder = kv.value;
      out.holder_lease = kv.lease;
      out.create_revision = kv.create_revision;
    }
  return out;
}

status resign(client& etcd, const std::string& key, std::int64_t lease) {
  compare held;
  held.key = key;
  held.what = compare::target::lease;
  held.number = lease;
  auto r = etcd.txn({held}, {operation::erase(key)});
  return r ? status::success() : r.error();
}

}  // namespace quiver::etcd
