#include "actors/controller/metadata_store.hpp"

#include "common/parse.hpp"

namespace quiver {
namespace {

etcd::compare compare_create_revision(std::string key, std::int64_t revision) {
  etcd::compare c;
  c.key = std::move(key);
  c.what = etcd::compare::target::create_revision;
  c.number = revision;
  return c;
}

// An address only one live process can hold: a wildcard host or port 0 could be
// another process's on another host.
bool names_one_endpoint(const std::string& address) {
  auto hp = parse_host_port(address, true);
  return hp && hp->second != 0 && hp->first != "0.0.0.0" && hp->first != "::" &&
         hp->first != "[::]";
}

}  // namespace

metadata_store::metadata_store(etcd::client& etcd, metadata_keys keys)
    : etcd_(etcd), keys_(std::move(keys)) {}

expected<bool> metadata_store::campaign(const controller_record& me, std::int64_t lease) {
  auto r = etcd::campaign(etcd_, keys_.controller(), encode(me), lease);
  if (!r) return r.error();
  if (!r->won && r->holder_lease != lease) {
    auto holder = decode_controller_record(r->holder);
    if (holder && holder->name == me.name && holder->address == me.address &&
        names_one_endpoint(me.address)) {
      // Our own predecessor, killed (its host's data dir lock is ours now): its
      // key goes now rather than with its lease. Only that key, by revision.
      auto gone = etcd_.txn({compare_create_revision(keys_.controller(), r->create_revision)},
                            {etcd::operation::erase(keys_.controller())});
      if (!gone) return gone.error();
      r = etcd::campaign(etcd_, keys_.controller(), encode(me), lease);
      if (!r) return r.error();
    }
  }
  leader_revision_ = r->won || r->holder_lease == lease ? r->create_revision : 0;
  return leader_revision_ != 0;
}

expected<std::optional<controller_record>> metadata_store::controller() {
  auto r = etcd_.range(keys_.controller());
  if (!r) return r.error();
  if (r->kvs.empty()) return std::optional<controller_record>{};
  auto rec = decode_controller_record(r->kvs.front().value);
  if (!rec) return rec.error();
  return std::optional<controller_record>{std::move(*rec)};
}

expected<std::map<std::string, metadata_store::shard_entry>> metadata_store::load_shards() {
  auto r = etcd_.range_prefix(keys_.shards());
  if (!r) return r.error();
  std::map<std::string, shard_entry> out;
  for (auto& kv : r->kvs) {
    auto rec = decode_shard_record(kv.value);
    if (!rec) {
      auto st = rec.error();
      st.message = kv.key + ": " + st.message;
      return st;
    }
    out[kv.key] = shard_entry{std::move(*rec), kv.mod_revision};
  }
  shards_ = out;
  return out;
}

const metadata_store::shard_entry* metadata_store::shard(const shard_ref& ref) const {
  auto it = shards_.find(keys_.shard(ref));
  return it == shards_.end() ? nullptr : &it->second;
}

etcd::compare metadata_store::leadership() const {
  return compare_create_revision(keys_.controller(), leader_revision_);
}

bool metadata_store::still_leading(const etcd::range_result& controller_key) {
  std::int64_t holder = controller_key.kvs.empty() ? 0 : controller_key.kvs.front().create_revision;
  if (holder != leader_revision_) leader_revision_ = 0;
  return leading();
}

expected<metadata_store::shard_entry> metadata_store::write(const std::string& key,
                                                            shard_record record) {
  if (!leading())
    return make_status(errc::stale_epoch, "this process is not the cluster's controller");
  auto known = shards_.count(key) ? shards_[key].revision : 0;
  auto bytes = encode(record);
  auto r = etcd_.txn({leadership(), etcd::compare::mod_revision_is(key, known)},
                     {etcd::operation::put(key, bytes)},
                     {etcd::operation::get(keys_.controller()), etcd::operation::get(key)});
  if (!r) return r.error();
  if (r->succeeded) {
    shard_entry e{std::move(record), r->revision};
    shards_[key] = e;
    return e;
  }
  // Which compare failed: the controller key, or the record.
  if (r->ranges.empty() || !still_leading(r->ranges[0]))
    return make_status(errc::stale_epoch, "this process lost the controller key");
  if (r->ranges.size() > 1 && !r->ranges[1].kvs.empty()) {
    auto& kv = r->ranges[1].kvs.front();
    auto rec = decode_shard_record(kv.value);
    if (!rec) return rec.error();
    shards_[key] = shard_entry{std::move(*rec), kv.mod_revision};
  } else {
    shards_.erase(key);
  }
  return make_status(errc::stale_epoch, key + " changed since this controller read it");
}

expected<metadata_store::shard_entry> metadata_store::write_shard(const shard_ref& ref,
                                                                  shard_record record) {
  return write(keys_.shard(ref), std::move(record));
}

expected<metadata_store::shard_entry> metadata_store::fence(const shard_ref& ref,
                                                            const std::string& primary,
                                                            std::vector<std::string> replicas,
                                                            std::uint64_t floor) {
  auto key = keys_.shard(ref);
  std::uint64_t last = shards_.count(key) ? shards_[key].record.epoch : 0;
  shard_record next;
  next.epoch = std::max(last, floor) + 1;
  next.primary = primary;
  next.replicas = std::move(replicas);
  return write(key, std::move(next));
}

status metadata_store::erase_shard(const shard_ref& ref) {
  auto key = keys_.shard(ref);
  auto r = etcd_.txn({leadership()}, {etcd::operation::erase(key)});
  if (!r) return r.error();
  if (!r->succeeded) {
    leader_revision_ = 0;
    return make_status(errc::stale_epoch, "this process lost the controller key");
  }
  shards_.erase(key);
  return status::success();
}

expected<metadata_store::node_listing> metadata_store::list_nodes() {
  auto r = etcd_.range_prefix(keys_.nodes());
  if (!r) return r.error();
  node_listing out;
  out.revision = r->revision;
  for (auto& kv : r->kvs) {
    auto rec = decode_node_record(kv.value);
    if (!rec) continue;  // a node of a newer build: it is not ours to place on
    out.nodes.push_back(std::move(*rec));
  }
  return out;
}

}  // namespace quiver
