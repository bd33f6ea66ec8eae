#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "common/wire/storage.hpp"
#include "common/wire/tenants.hpp"

namespace quiver {

// The cluster's metadata as it is kept in etcd: small versioned MessagePack
// records (not the HTTP API's JSON), one key prefix per kind. A record of a newer
// version than this build reads is refused, not misread.
inline constexpr std::uint32_t metadata_record_version = 1;

// /<prefix>/v1/nodes/<name>: a live node, bound to the lease it keeps alive.
struct node_record {
  std::string name;
  std::string address;         // host:port of its actor endpoint
  std::string build;           // the Quiver version it runs
  std::uint32_t protocol = 0;  // the inter-daemon protocol it speaks
};

// /<prefix>/v1/shards/<tenant>/<index>@<incarnation>/<shard>: who owns a shard.
// Every change of `primary` bumps `epoch` in one compare-and-swap transaction on
// this key's revision; storage refuses appends under an older epoch.
struct shard_record {
  std::uint64_t epoch = 0;
  std::string primary;                // empty: none now
  std::vector<std::string> replicas;  // nodes assigned a replica, in assignment order
  std::vector<std::string> in_sync;   // replicas serving now (the primary first when it does)
  std::string state;  // "serving", "promoting" (a primary not serving yet), "no_primary"

  friend bool operator==(const shard_record& a, const shard_record& b) {
    return a.epoch == b.epoch && a.primary == b.primary && a.replicas == b.replicas &&
           a.in_sync == b.in_sync && a.state == b.state;
  }
  friend bool operator!=(const shard_record& a, const shard_record& b) { return !(a == b); }
};

// /<prefix>/v1/controller: the one process placing shards, bound to its lease.
struct controller_record {
  std::string name;
  std::string address;
};

// /<prefix>/v1/indexes/<tenant>/<name>: an index of the catalog. The incarnation
// names its shards' files and keys, so a dropped and re-created index never sees
// its predecessor's.
struct index_record {
  index_params params;
  std::uint64_t incarnation = 0;
};

// /<prefix>/v1/tenants/<name>: a tenant, its key only as the SHA-256 (hex).
// (tenant_record itself, the catalog's type; `default` needs no record.)

// /<prefix>/v1/catalog: the catalog's own record. Its presence says the catalog
// lives in etcd (before it, a storaged's catalog is imported once); `next` is the
// incarnation the next created index gets.
struct catalog_record {
  std::uint64_t next_incarnation = 1;
};

std::string encode(const node_record& r);
std::string encode(const shard_record& r);
std::string encode(const controller_record& r);
std::string encode(const index_record& r);
std::string encode(const tenant_record& r);
std::string encode(const catalog_record& r);
expected<node_record> decode_node_record(std::string_view bytes);
expected<shard_record> decode_shard_record(std::string_view bytes);
expected<controller_record> decode_controller_record(std::string_view bytes);
expected<index_record> decode_index_record(std::string_view bytes);
expected<tenant_record> decode_tenant_record(std::string_view bytes);
expected<catalog_record> decode_catalog_record(std::string_view bytes);

// The key layout under a deployment's prefix (e.g. "/quiver/"; tests use their own).
class metadata_keys {
 public:
  explicit metadata_keys(std::string prefix);
  const std::string& prefix() const { return prefix_; }
  std::string nodes() const { return prefix_ + "v1/nodes/"; }
  std::string node(const std::string& name) const { return nodes() + name; }
  std::string shards() const { return prefix_ + "v1/shards/"; }
  std::string shard(const shard_ref& ref) const;
  std::string controller() const { return prefix_ + "v1/controller"; }
  std::string indexes() const { return prefix_ + "v1/indexes/"; }
  std::string indexes_of(const std::string& tenant) const { return indexes() + tenant + "/"; }
  std::string index(const std::string& tenant, const std::string& name) const {
    return indexes_of(tenant) + name;
  }
  std::string tenants() const { return prefix_ + "v1/tenants/"; }
  std::string tenant(const std::string& name) const { return tenants() + name; }
  std::string catalog() const { return prefix_ + "v1/catalog"; }

 private:
  std::string prefix_;
};

}  // namespace quiver
