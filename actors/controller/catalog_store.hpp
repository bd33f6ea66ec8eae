#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "actors/controller/metadata_store.hpp"
#include "common/status.hpp"
#include "common/wire/storage.hpp"
#include "common/wire/tenants.hpp"
#include "etcd/etcd_client.hpp"

namespace quiver {

// The cluster's catalog (tenants, their key hashes and quotas, and indexes) in
// etcd, as the controller reads and writes it. Plain and blocking; used by the
// thread that uses the controller's metadata_store.
//
// Every write is one transaction that holds only if this process still leads
// (metadata_store::leadership) and the catalog record is at the revision this
// store last saw; each write also rewrites that record. So the catalog changes
// one write at a time, and the checks made on this store's copy (does the tenant
// exist, is its index quota reached) hold for the write they guard. A write that
// finds the catalog changed under it reads it again and decides once more.
class catalog_store {
 public:
  struct contents {
    std::vector<tenant_record> tenants;
    std::vector<catalog_entry> indexes;
    bool present = false;  // etcd holds the catalog (it was created or imported)
  };

  catalog_store(etcd::client& etcd, metadata_store& leader);

  // Reads the whole catalog at one revision. Records this build cannot read are
  // an error: the catalog must be known whole.
  expected<contents> load();
  // The first controller of a cluster moving onto etcd brings the catalog its
  // storage kept: written once, when etcd holds none (a no-op otherwise).
  // Incarnations are kept (they name the files); new ones start above them.
  status import(const std::vector<tenant_record>& tenants,
                const std::vector<catalog_entry>& indexes);

  // As storage_engine's: the same index with the same params is returned as is
  // (created = false); other params are `index_exists`; an unknown tenant is
  // `not_found`; a tenant at its max_indexes gets `quota_exceeded`.
  expected<std::pair<catalog_entry, bool>> create_index(const tenant_id& tenant,
                                                        const index_params& params);
  status drop_index(const tenant_id& tenant, const std::string& name);
  status create_tenant(const tenant_record& t);
  status set_tenant_key(const std::string& name, const std::string& key_hash);
  // Drops the tenant and every index it owns (one transaction).
  status drop_tenant(const std::string& name);

 private:
  using index_key = std::pair<std::string, std::string>;
  // Runs `attempt` (which checks against the cache and returns the txn's ops, or
  // an error), fenced; on a concurrent change reloads and tries once more.
  template <class Attempt>
  status write(Attempt attempt);
  const catalog_entry* find(const tenant_id& tenant, const std::string& name) const;
  const tenant_record* find_tenant(const std::string& name) const;

  etcd::client& etcd_;
  metadata_store& leader_;
  contents cache_;
  std::uint64_t next_incarnation_ = 1;
  std::int64_t catalog_revision_ = 0;  // mod_revision of the catalog record; 0: none
};

}  // namespace quiver
