#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cluster/metadata_records.hpp"
#include "common/status.hpp"
#include "common/wire/cluster.hpp"
#include "common/wire/storage.hpp"

namespace quiver {

// A primary change the coordinator must make durable first: storage fences the
// shard (a new epoch, so every earlier primary's appends fail) and only then is
// `node` told it is the primary under that epoch.
struct fence_order {
  shard_ref ref;
  std::string node;
};

// One replica a node should host, as the coordinator wants it.
struct replica_plan {
  catalog_entry entry;
  shard_id shard;
  bool primary = false;
  std::uint64_t epoch = 0;         // primary: its epoch
  std::vector<std::string> peers;  // primary: the other replicas, to forward to
  seq_no primary_applied;          // replica: how far the primary is (catch-up hint)
  // Replica logs: the in-sync set (primary: whose acks a write waits for), and
  // for a replica the node of its primary (where it catches up from).
  std::vector<std::string> in_sync;
  std::string primary_node;
};

// The coordinator's plain state: live nodes, every shard's replica set, primary
// and epoch, and what the nodes report about the replicas they host. Placement is
// rendezvous hashing over the live nodes (cluster/placement.hpp); the actor shell
// (the coordinator) feeds it heartbeats and storage's fencing answers and carries
// out what reconcile() decides. Not thread-safe.
//
// Rules, per shard (R = replicas wanted, desired = the R best live nodes, as
// the balanced placement over the live nodes last computed when they changed: a
// new index's shards are placed beside the others, and creating or dropping an
// index moves no other shard):
//  - a node that stops heartbeating for the timeout (or whose connection drops) is
//    down: its replicas are unassigned at once, and if it held the primary, the
//    first serving replica in desired order is fenced in (any assigned node if
//    none serves: it recovers from the shard log, which holds every acknowledged
//    write);
//  - every desired node is assigned a replica (joins take their shards);
//  - a primary outside the desired set hands over to a serving desired replica;
//  - replicas outside the desired set are let go only once every desired replica
//    serves (a moved shard is loaded before its old owner lets go).
//
// With replica logs (each replica keeps its own log; nothing is shared) a shard
// also has an in-sync set: the replicas whose logs hold every write its
// primaries acknowledged. Only its members may become primary; a shard none of
// whose in-sync members is live waits for one. Its primary adds a replica that
// caught up and removes one that stopped acknowledging (update_in_sync), and
// does not acknowledge a write without a member before the removal is durable.
// A lost node leaves the set at once, unless it is the last member (then only
// it holds every acknowledged write). A shard that never had a primary (epoch
// 0) has empty logs everywhere: its first primary's set is every assigned node.
class cluster_state {
 public:
  using clock = std::chrono::steady_clock;

  struct replica_view {
    bool primary = false;
    std::uint64_t epoch = 0;
    std::string state = "assigned";  // until the node reports it
    std::string reason;
    seq_no applied;
  };
  struct shard_view {
    catalog_entry entry;
    shard_id shard;
    std::vector<std::string> assigned;             // nodes hosting a replica, in assignment order
    std::string primary;                           // empty: none now
    std::uint64_t epoch = 0;                       // the primary's epoch
    bool fencing = false;                          // a fence_order is out
    std::map<std::string, replica_view> replicas;  // by node
    std::vector<std::string> in_sync;              // replica logs only
  };
  struct node_view {
    std::string address;
    bool up = false;
    clock::time_point last_seen{};
    std::vector<tenant_stored> usage;  // what its primaries hold, as its last heartbeat said
  };
  using shard_key = std::tuple<std::string, std::string, std::uint64_t, std::uint32_t>;

  static shard_key key_of(const shard_ref& ref);
  // The text rendezvous hashing places: "<tenant>/<index>@<incarnation>/<shard>".
  static std::string placement_key(const shard_ref& ref);

  void add_index(const catalog_entry& entry);
  void drop_index(const std::string& tenant, const std::string& name);
  void drop_tenant(const std::string& tenant);

  // Each replica keeps its own log (see above).
  void use_replica_logs() { replica_logs_ = true; }
  bool replica_logs() const { return replica_logs_; }
  // The primary `primary` of `ref` under `epoch` adds `node` to the in-sync set
  // (it caught up) or removes it (it stopped acknowledging). stale_epoch when
  // that is no longer the shard's primary and epoch; unavailable while a
  // primary change is under way; invalid_argument for a node it cannot take.
  status update_in_sync(const shard_ref& ref, std::uint64_t epoch, const std::string& primary,
                        const std::string& node, bool in_sync);

  // Membership by registration (etcd): only a node registered in the metadata
  // store may be up; losing its registration is losing the node.
  void require_registration() { by_registration_ = true; }
  void registered(const std::string& node, bool yes);
  bool is_registered(const std::string& node) const { return registered_.count(node) > 0; }

  // A node's heartbeat: it is up and hosts the replicas it reports (reports of
  // replicas it is not assigned are ignored; the node drops those). False (and
  // nothing changes) for a node that must register first.
  bool heartbeat(const std::string& node, const std::string& address, clock::time_point now,
                 const std::vector<replica_report>& reports);
  // Quotas across nodes: a node's primaries hold `usage` (from its heartbeat).
  void record_usage(const std::string& node, std::vector<tenant_stored> usage);
  // Per tenant, what the primaries of every other up node hold: a node counts it
  // against the tenant's quotas beside its own.
  std::vector<tenant_stored> usage_elsewhere(const std::string& node) const;
  // A tenant's usage over every up node.
  tenant_stored usage_of(const std::string& tenant) const;

  // Gateways share a tenant's request rate: one beat now; how many beat within
  // `window` (forgetting the others).
  void gateway_beat(const std::string& name, clock::time_point now);
  std::uint32_t gateways(clock::time_point now, std::chrono::milliseconds window);

  // A shard's ownership as the metadata store kept it (a new controller picking
  // up): its epoch, primary and replica set, for the nodes registered now. A
  // primary keeps its epoch, so nothing moves when a controller changes.
  void restore(const shard_ref& ref, const shard_record& record);
  // The shard's record as the metadata store should hold it now.
  shard_record record_of(const shard_view& s) const;
  void node_lost(const std::string& node);
  // Marks down the nodes silent for longer than `timeout`; returns them. Called
  // on a steady tick: a gap of more than half the timeout since the last call
  // means this process stalled (paused, starved) and the silence was its own,
  // so every node gets a fresh timeout instead.
  std::vector<std::string> expire(clock::time_point now, std::chrono::milliseconds timeout);

  // Applies the rules above; returns the primary changes to fence.
  std::vector<fence_order> reconcile();
  // Storage fenced the shard at `epoch` for `node` (ignored if the shard is gone).
  void fenced(const shard_ref& ref, const std::string& node, std::uint64_t epoch);
  void fence_failed(const shard_ref& ref);

  std::vector<replica_plan> plan_for(const std::string& node) const;

  // Replica logs with the in-sync set in etcd: whether `node` may delete its
  // files of `ref`, a shard that lives on. Only when the shard is settled (a
  // serving primary, an in-sync set) and the node neither hosts a replica, nor
  // is placed for one, nor is in the in-sync set: then the members hold every
  // acknowledged write and its copy is needed by no one. Without etcd the set
  // is not durable across a coordinator's restart, so nothing is deleted.
  bool may_forget(const shard_ref& ref, const std::string& node) const;

  // The primary serves: it reported ready under the current epoch.
  bool primary_serving(const shard_view& s) const;
  bool replica_serving(const shard_view& s, const std::string& node) const;

  const std::map<shard_key, shard_view>& shards() const { return shards_; }
  const std::map<std::string, node_view>& nodes() const { return nodes_; }
  std::vector<std::string> live_nodes() const;
  // Bumped whenever routing may change: membership, assignments, primaries, or a
  // replica starting or stopping to serve.
  std::uint64_t version() const { return version_; }

 private:
  void unassign(shard_view& s, const std::string& node);

  std::map<std::string, node_view> nodes_;
  std::map<shard_key, shard_view> shards_;
  // Replica logs: whether `node` may become the shard's primary.
  bool may_lead(const shard_view& s, const std::string& node) const;

  // Each shard's desired nodes (by placement key), and the live nodes that
  // placement was computed for: recomputed only when they change.
  std::map<std::string, std::vector<std::string>> desired_;
  std::vector<std::string> placed_for_;

  std::uint64_t version_ = 1;
  bool replica_logs_ = false;
  bool by_registration_ = false;
  std::set<std::string> registered_;
  std::map<std::string, clock::time_point> gateways_;
  clock::time_point last_expire_{};
};

}  // namespace quiver
