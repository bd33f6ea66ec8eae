#include "actors/controller/node_registration.hpp"

#include <spdlog/spdlog.h>

namespace quiver {

expected<std::unique_ptr<node_registration>> node_registration::open(
    etcd::client& etcd, metadata_keys keys, node_record me, std::chrono::seconds ttl,
    std::chrono::milliseconds wait, std::function<void(bool)> on_change,
    std::shared_ptr<deadline> deadline) {
  if (!deadline) deadline = std::make_shared<node_registration::deadline>(0);
  std::unique_ptr<node_registration> r(new node_registration(
      etcd, std::move(keys), std::move(me), ttl, std::move(on_change), std::move(deadline)));
  auto give_up = clock::now() + wait;
  for (;;) {
    auto st = r->try_register();
    if (st.ok()) break;
    // Only a namesake's lease is waited out; an unreachable etcd fails at once.
    if (st.code != errc::index_exists || clock::now() >= give_up) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  r->thread_ = std::thread([p = r.get()] { p->run(); });
  return r;
}

node_registration::node_registration(etcd::client& etcd, metadata_keys keys, node_record me,
                                     std::chrono::seconds ttl, std::function<void(bool)> on_change,
                                     std::shared_ptr<deadline> deadline)
    : etcd_(etcd),
      keys_(std::move(keys)),
      me_(std::move(me)),
      ttl_(ttl),
      on_change_(std::move(on_change)),
      deadline_(std::move(deadline)) {}

node_registration::~node_registration() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  deadline_->store(0);
  session_.reset();  // revokes: the key goes now, not a TTL later
}

bool node_registration::registered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return session_ && !session_->lost();
}

std::int64_t node_registration::lease() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return session_ ? session_->lease() : 0;
}

status node_registration::try_register() {
  auto s = etcd::session::open(etcd_, ttl_, [this](const status&) { wake_.notify_all(); });
  if (!s) return s.error();
  auto key = keys_.node(me_.name);
  auto bytes = encode(me_);
  auto r =
      etcd_.txn({etcd::compare::absent(key)}, {etcd::operation::put(key, bytes, (*s)->lease())},
                {etcd::operation::get(key)});
  if (!r) return r.error();
  if (!r->succeeded) {
    // Our own earlier incarnation (same address; it was killed) is replaced at
    // once; anyone else's registration is theirs until its lease goes.
    const auto& kvs = r->ranges.empty() ? std::vector<etcd::key_value>{} : r->ranges[0].kvs;
    if (!kvs.empty()) {
      auto other = decode_node_record(kvs.front().value);
      if (!other || other->address != me_.address)
        return make_status(errc::index_exists,
                           "node name '" + me_.name + "' is registered in etcd by " +
                               (other ? other->address : std::string("a newer build")));
      auto replaced = etcd_.txn({etcd::compare::mod_revision_is(key, kvs.front().mod_revision)},
                                {etcd::operation::put(key, bytes, (*s)->lease())});
      if (!replaced) return replaced.error();
      if (!replaced->succeeded)
        return make_status(errc::index_exists, "node name '" + me_.name + "' changed hands");
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  session_ = std::move(*s);
  deadline_->store(session_->valid_until().time_since_epoch().count());
  return status::success();
}

void node_registration::run() {
  bool was = true;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
    if (stopping_) return;
    bool now = session_ && !session_->lost();
    deadline_->store(now ? session_->valid_until().time_since_epoch().count() : 0);
    if (now != was) {
      was = now;
      lock.unlock();
      if (!now) spdlog::warn("node {}: etcd lease lost; no longer a member", me_.name);
      if (on_change_) on_change_(now);
      lock.lock();
      continue;
    }
    if (now) continue;
    // Lost: try again about once a second.
    auto old = std::move(session_);
    lock.unlock();
    old.reset();
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(900), [this] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    auto st = try_register();
    if (st.ok()) spdlog::info("node {}: registered in etcd again", me_.name);
    lock.lock();
  }
}

}  // namespace quiver
