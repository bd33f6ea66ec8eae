#pragma once

#include <functional>
#include <vector>

#include "common/status.hpp"
#include "common/wire/admin.hpp"
#include "common/wire/cluster.hpp"
#include "common/wire/shard.hpp"
#include "common/wire/tenants.hpp"
#include "common/wire/vectors.hpp"

namespace quiver {

// How code outside the actor system (the HTTP gateway) talks to the router: each
// call returns at once and `done` runs later on an actor thread with the reply or
// the failure (a timeout is `unavailable`). A search may instead run on the
// caller's thread and call `done` before returning (the standalone's direct
// reads), so `done` must not assume it runs elsewhere. Free of CAF headers on
// purpose: the gateway's translation units stay light.
class router_client {
 public:
  template <class R>
  using callback = std::function<void(expected<R>)>;

  virtual ~router_client() = default;
  virtual void create_index(create_index_request r, callback<create_index_reply> done) = 0;
  virtual void list_indexes(list_indexes_request r,
                            callback<std::vector<index_description>> done) = 0;
  virtual void describe_index(describe_index_request r, callback<index_description> done) = 0;
  virtual void drop_index(drop_index_request r, callback<bool> done) = 0;
  virtual void readiness(readiness_request r, callback<readiness_reply> done) = 0;
  virtual void upsert(upsert_request r, callback<upsert_reply> done) = 0;
  virtual void get_vector(get_vector_request r, callback<vector_record> done) = 0;
  virtual void delete_vectors(delete_vectors_request r, callback<delete_vectors_reply> done) = 0;
  virtual void list_ids(list_ids_request r, callback<id_page> done) = 0;
  virtual void count(count_request r, callback<count_reply> done) = 0;
  virtual void field_index(field_index_request r, callback<field_index_reply> done) = 0;
  virtual void list_fields(list_fields_request r, callback<list_fields_reply> done) = 0;
  virtual void search(search_request r, callback<search_reply> done) = 0;
  // Every shard primary's applied seq, with the index's incarnation and params.
  virtual void index_version(index_version_request r, callback<quiver::index_version> done) = 0;
  virtual void search_batch(search_batch_request r, callback<search_batch_reply> done) = 0;
  virtual void merge(merge_request r, callback<merge_reply> done) = 0;
  // Backups: a shard primary's snapshot covering its applied writes, then its bytes.
  virtual void backup_prepare(backup_prepare_request r, callback<backup_prepare_reply> done) = 0;
  virtual void backup_chunk(backup_chunk_request r, callback<snapshot_chunk> done) = 0;
  virtual void create_tenant(tenant_create_request r, callback<bool> done) = 0;
  virtual void rotate_tenant_key(tenant_rotate_request r, callback<bool> done) = 0;
  virtual void drop_tenant(tenant_drop_request r, callback<bool> done) = 0;
  virtual void list_tenants(tenant_list_request r, callback<std::vector<tenant_info>> done) = 0;
  virtual void get_tenant(tenant_get_request r, callback<tenant_info> done) = 0;
  virtual void authenticate(tenant_auth_request r, callback<tenant_auth_reply> done) = 0;
  virtual void cluster(cluster_status_request r, callback<cluster_status> done) = 0;
  // The gateways of the cluster that share each tenant's request rate (1 unless
  // a cluster's coordinator counts more).
  virtual std::uint32_t gateways() const { return 1; }
};

}  // namespace quiver
