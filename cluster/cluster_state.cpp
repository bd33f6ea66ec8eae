#include "cluster/cluster_state.hpp"

#include <algorithm>

#include "cluster/placement.hpp"

namespace quiver {

namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

shard_ref ref_of(const cluster_state::shard_view& s) {
  return shard_ref{s.entry.tenant, s.entry.params.name, s.entry.incarnation, s.shard};
}

}  // namespace

cluster_state::shard_key cluster_state::key_of(const shard_ref& ref) {
  return {ref.tenant.value, ref.index, ref.incarnation, ref.shard.value};
}

std::string cluster_state::placement_key(const shard_ref& ref) {
  return ref.tenant.value + "/" + ref.index + "@" + std::to_string(ref.incarnation) + "/" +
         std::to_string(ref.shard.value);
}

void cluster_state::add_index(const catalog_entry& entry) {
  for (std::uint32_t s = 0; s < entry.params.shards; ++s) {
    shard_ref ref{entry.tenant, entry.params.name, entry.incarnation, shard_id{s}};
    auto& view = shards_[key_of(ref)];
    view.entry = entry;
    view.shard = shard_id{s};
  }
  ++version_;
}

void cluster_state::drop_index(const std::string& tenant, const std::string& name) {
  for (auto it = shards_.begin(); it != shards_.end();)
    it = std::get<0>(it->first) == tenant && std::get<1>(it->first) == name ? shards_.erase(it)
                                                                            : std::next(it);
  ++version_;
}

void cluster_state::drop_tenant(const std::string& tenant) {
  for (auto it = shards_.begin(); it != shards_.end();)
    it = std::get<0>(it->first) == tenant ? shards_.erase(it) : std::next(it);
  ++version_;
}

void cluster_state::registered(const std::string& node, bool yes) {
  if (yes) {
    registered_.insert(node);
    return;
  }
  registered_.erase(node);
  node_lost(node);
}

void cluster_state::restore(const shard_ref& ref, const shard_record& record) {
  auto it = shards_.find(key_of(ref));
  if (it == shards_.end()) return;
  auto& s = it->second;
  s.epoch = std::max(s.epoch, record.epoch);
  for (auto& node : record.replicas) {
    auto n = nodes_.find(node);
    if (n != nodes_.end() && n->second.up && !contains(s.assigned, node))
      s.assigned.push_back(node);
  }
  if (contains(s.assigned, record.primary)) s.primary = record.primary;
  s.in_sync = record.in_sync;
  // A record written by the fence before its in-sync set was: its primary had
  // every acknowledged write.
  if (replica_logs_ && s.in_sync.empty() && record.epoch > 0 && !record.primary.empty())
    s.in_sync.push_back(record.primary);
  ++version_;
}

bool cluster_state::may_lead(const shard_view& s, const std::string& node) const {
  if (!replica_logs_ || s.epoch == 0) return true;
  return contains(s.in_sync, node);
}

status cluster_state::update_in_sync(const shard_ref& ref, std::uint64_t epoch,
                                     const std::string& primary, const std::string& node,
                                     bool in_sync) {
  auto it = shards_.find(key_of(ref));
  if (it == shards_.end())
    return make_status(errc::index_not_found, "no shard " + placement_key(ref));
  auto& s = it->second;
  if (s.epoch != epoch || s.primary != primary)
    return make_status(errc::stale_epoch, placement_key(ref) + ": " + primary + " under epoch " +
                                              std::to_string(epoch) +
                                              " is not the shard's primary (epoch " +
                                              std::to_string(s.epoch) + ")");
  if (s.fencing)
    return make_status(errc::unavailable, placement_key(ref) + ": a primary change is under way");
  auto at = std::find(s.in_sync.begin(), s.in_sync.end(), node);
  if (in_sync) {
    if (!contains(s.assigned, node))
      return make_status(errc::invalid_argument,
                         placement_key(ref) + ": " + node + " hosts no replica of it");
    if (at == s.in_sync.end()) {
      s.in_sync.push_back(node);
      ++version_;
    }
    return status::success();
  }
  if (node == primary)
    return make_status(errc::invalid_argument, "a primary never leaves its own in-sync set");
  if (at != s.in_sync.end()) {
    s.in_sync.erase(at);
    ++version_;
  }
  return status::success();
}

shard_record cluster_state::record_of(const shard_view& s) const {
  shard_record r;
  r.epoch = s.epoch;
  r.primary = s.primary;
  r.replicas = s.assigned;
  bool serving = primary_serving(s);
  if (replica_logs_) {
    r.in_sync = s.in_sync;
  } else {
    if (serving) r.in_sync.push_back(s.primary);
    for (auto& node : s.assigned)
      if (node != s.primary && replica_serving(s, node)) r.in_sync.push_back(node);
  }
  r.state = serving ? "serving" : s.primary.empty() ? "no_primary" : "promoting";
  return r;
}

bool cluster_state::heartbeat(const std::string& node, const std::string& address,
                              clock::time_point now, const std::vector<replica_report>& reports) {
  if (by_registration_ && !registered_.count(node)) return false;
  auto& n = nodes_[node];
  if (!n.up || n.address != address) ++version_;
  n.up = true;
  n.address = address;
  n.last_seen = now;
  for (const auto& r : reports) {
    auto it = shards_.find(key_of(r.ref));
    if (it == shards_.end() || !contains(it->second.assigned, node)) continue;
    auto& view = it->second.replicas[node];
    bool serving_before = view.state == "ready";
    bool primary_before = view.primary;
    auto epoch_before = view.epoch;
    view.primary = r.primary;
    view.epoch = r.epoch;
    view.state = r.state;
    view.reason = r.reason;
    view.applied = r.applied;
    if (serving_before != (view.state == "ready") || primary_before != view.primary ||
        epoch_before != view.epoch)
      ++version_;
  }
  return true;
}

void cluster_state::node_lost(const std::string& node) {
  auto it = nodes_.find(node);
  if (it == nodes_.end() || !it->second.up) return;
  it->second.up = false;
  it->second.usage.clear();  // its primaries move; their new nodes report them
  for (auto& [key, s] : shards_) {
    unassign(s, node);
    auto at = std::find(s.in_sync.begin(), s.in_sync.end(), node);
    if (at != s.in_sync.end() && s.in_sync.size() > 1) s.in_sync.erase(at);
  }
  ++version_;
}

std::vector<std::string> cluster_state::expire(clock::time_point now,
                                               std::chrono::milliseconds timeout) {
  bool stalled = last_expire_ != clock::time_point{} && now - last_expire_ > timeout / 2;
  last_expire_ = now;
  if (stalled) {
    for (auto& [name, n] : nodes_)
      if (n.up) n.last_seen = std::max(n.last_seen, now);
    return {};
  }
  std::vector<std::string> lost;
  for (auto& [name, n] : nodes_)
    if (n.up && now - n.last_seen > timeout) lost.push_back(name);
  for (auto& name : lost) node_lost(name);
  return lost;
}

void cluster_state::unassign(shard_view& s, const std::string& node) {
  auto it = std::find(s.assigned.begin(), s.assigned.end(), node);
  if (it == s.assigned.end()) return;
  s.assigned.erase(it);
  s.replicas.erase(node);
  if (s.primary == node) s.primary.clear();
  ++version_;
}

std::vector<std::string> cluster_state::live_nodes() const {
  std::vector<std::string> out;
  for (auto& [name, n] : nodes_)
    if (n.up) out.push_back(name);
  return out;
}

bool cluster_state::replica_serving(const shard_view& s, const std::string& node) const {
  auto it = s.replicas.find(node);
  return it != s.replicas.end() && it->second.state == "ready";
}

bool cluster_state::primary_serving(const shard_view& s) const {
  if (s.primary.empty()) return false;
  auto it = s.replicas.find(s.primary);
  return it != s.replicas.end() && it->second.state == "ready" && it->second.primary &&
         it->second.epoch == s.epoch;
}

std::vector<fence_order> cluster_state::reconcile() {
  std::vector<fence_order> orders;
  auto live = live_nodes();
  std::vector<std::pair<std::string, std::size_t>> wanted;
  std::set<std::string> keys;
  bool unplaced = false;
  for (auto& [key, s] : shards_) {
    auto pk = placement_key(ref_of(s));
    wanted.emplace_back(pk, std::max(1u, s.entry.params.replicas));
    unplaced = unplaced || !desired_.count(pk);
    keys.insert(std::move(pk));
  }
  // The balanced placement depends on every shard: recomputing it for an index
  // created or dropped would move unrelated shards (each move a failover).
  if (live != placed_for_) {
    desired_ = rendezvous_assign(wanted, live);
    placed_for_ = live;
  } else if (unplaced) {
    auto placement = rendezvous_assign(wanted, live);
    for (auto& [pk, nodes] : placement) desired_.emplace(pk, std::move(nodes));
  }
  for (auto it = desired_.begin(); it != desired_.end();)
    it = keys.count(it->first) ? std::next(it) : desired_.erase(it);
  for (auto& entry : shards_) {
    auto& s = entry.second;  // a plain reference: lambdas below capture it
    const auto& desired = desired_[placement_key(ref_of(s))];
    for (auto& d : desired)
      if (!contains(s.assigned, d)) {
        s.assigned.push_back(d);
        ++version_;
      }
    if (s.fencing || s.assigned.empty()) continue;
    // The first serving replica in desired order, then in assignment order.
    auto pick_serving = [&](bool desired_only) -> std::string {
      for (auto& d : desired)
        if (d != s.primary && replica_serving(s, d) && may_lead(s, d)) return d;
      if (!desired_only)
        for (auto& a : s.assigned)
          if (a != s.primary && replica_serving(s, a) && may_lead(s, a)) return a;
      return {};
    };
    std::string next;
    if (s.primary.empty()) {
      next = pick_serving(false);
      if (next.empty()) {
        // No candidate serves yet: one that recovers. With replica logs only an
        // in-sync one, which holds every acknowledged write.
        for (auto& d : desired)
          if (next.empty() && may_lead(s, d)) next = d;
        for (auto& a : s.assigned)
          if (next.empty() && may_lead(s, a)) next = a;
      }
    } else if (!contains(desired, s.primary)) {
      next = pick_serving(true);  // hand over once a desired replica serves
    }
    if (!next.empty()) {
      s.fencing = true;
      orders.push_back({ref_of(s), next});
      continue;
    }
    // Let go of replicas outside the desired set once every desired one serves.
    bool all_serving = primary_serving(s);
    for (auto& d : desired)
      all_serving = all_serving && replica_serving(s, d) && (!replica_logs_ || may_lead(s, d));
    if (!all_serving) continue;
    for (auto it = s.assigned.begin(); it != s.assigned.end();) {
      if (contains(desired, *it)) {
        ++it;
        continue;
      }
      s.replicas.erase(*it);
      it = s.assigned.erase(it);
      ++version_;
    }
  }
  return orders;
}

void cluster_state::fenced(const shard_ref& ref, const std::string& node, std::uint64_t epoch) {
  auto it = shards_.find(key_of(ref));
  if (it == shards_.end()) return;
  auto& s = it->second;
  s.fencing = false;
  s.epoch = std::max(s.epoch, epoch);
  auto n = nodes_.find(node);
  // The node died meanwhile: the next reconcile picks another (under a newer epoch).
  if (n == nodes_.end() || !n->second.up || !contains(s.assigned, node)) {
    s.primary.clear();
  } else {
    s.primary = node;
    // The first primary ever: every log is empty, so every replica is in sync.
    if (replica_logs_ && s.in_sync.empty()) s.in_sync = s.assigned;
  }
  ++version_;
}

void cluster_state::fence_failed(const shard_ref& ref) {
  auto it = shards_.find(key_of(ref));
  if (it != shards_.end()) it->second.fencing = false;
}

bool cluster_state::may_forget(const shard_ref& ref, const std::string& node) const {
  if (!replica_logs_ || !by_registration_) return false;
  auto it = shards_.find(key_of(ref));
  if (it == shards_.end()) return false;
  auto& s = it->second;
  if (s.fencing || s.in_sync.empty() || !primary_serving(s)) return false;
  if (contains(s.assigned, node) || contains(s.in_sync, node) || s.primary == node ||
      s.replicas.count(node))
    return false;
  auto desired = desired_.find(placement_key(ref));
  return desired != desired_.end() && !contains(desired->second, node);
}

std::vector<replica_plan> cluster_state::plan_for(const std::string& node) const {
  std::vector<replica_plan> out;
  for (auto& [key, s] : shards_) {
    if (!contains(s.assigned, node)) continue;
    replica_plan p;
    p.entry = s.entry;
    p.shard = s.shard;
    p.primary = s.primary == node;
    p.epoch = p.primary ? s.epoch : 0;
    if (p.primary) {
      for (auto& a : s.assigned)
        if (a != node) p.peers.push_back(a);
      // A member let go (its shard moved) is left out: the primary takes it
      // out of the set, durably, before it acknowledges without it.
      if (replica_logs_)
        for (auto& n : s.in_sync)
          if (contains(s.assigned, n)) p.in_sync.push_back(n);
    } else {
      if (auto it = s.replicas.find(s.primary); it != s.replicas.end())
        p.primary_applied = it->second.applied;
      if (replica_logs_) p.primary_node = s.primary;
    }
    out.push_back(std::move(p));
  }
  return out;
}

void cluster_state::record_usage(const std::string& node, std::vector<tenant_stored> usage) {
  auto it = nodes_.find(node);
  if (it != nodes_.end()) it->second.usage = std::move(usage);
}

std::vector<tenant_stored> cluster_state::usage_elsewhere(const std::string& node) const {
  std::map<std::string, tenant_stored> sum;
  for (const auto& [name, n] : nodes_) {
    if (name == node || !n.up) continue;
    for (const auto& u : n.usage) {
      auto& t = sum[u.tenant];
      t.tenant = u.tenant;
      t.vectors += u.vectors;
      t.bytes += u.bytes;
    }
  }
  std::vector<tenant_stored> out;
  for (auto& [tenant, u] : sum) out.push_back(std::move(u));
  return out;
}

tenant_stored cluster_state::usage_of(const std::string& tenant) const {
  tenant_stored out{tenant, 0, 0};
  for (const auto& [name, n] : nodes_) {
    if (!n.up) continue;
    for (const auto& u : n.usage)
      if (u.tenant == tenant) {
        out.vectors += u.vectors;
        out.bytes += u.bytes;
      }
  }
  return out;
}

void cluster_state::gateway_beat(const std::string& name, clock::time_point now) {
  gateways_[name] = now;
}

std::uint32_t cluster_state::gateways(clock::time_point now, std::chrono::milliseconds window) {
  for (auto it = gateways_.begin(); it != gateways_.end();)
    it = now - it->second > window ? gateways_.erase(it) : std::next(it);
  return static_cast<std::uint32_t>(std::max<std::size_t>(1, gateways_.size()));
}

}  // namespace quiver
