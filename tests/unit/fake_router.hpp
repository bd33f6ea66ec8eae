#pragma once

#include <optional>
#include <string>
#include <vector>

#include "actors/runtime/router_client.hpp"
#include "common/api_keys.hpp"

namespace quiver {

inline const std::string admin_key = "admin-key-0123456789";
inline const std::string tenant_key = "qk_tenant-key-of-acme";

// A router that answers at once: with `failure` when set, else with a plain
// success; it keeps the last request of each kind for the test to look at.
class fake_router final : public router_client {
 public:
  std::optional<status> failure;
  list_indexes_request last_list;
  std::string last_index;  // of the last index request
  tenant_id last_tenant;
  std::vector<index_description> indexes;
  int calls = 0;

  template <class R>
  void answer(callback<R>& done, R value) {
    ++calls;
    if (failure) return done(expected<R>(*failure));
    done(expected<R>(std::move(value)));
  }
  template <class Request>
  void saw(const Request& r) {
    last_tenant = r.tenant;
    last_index = r.index;
  }

  void create_index(create_index_request r, callback<create_index_reply> done) override {
    last_tenant = r.tenant;
    create_index_reply reply;
    reply.description.params = r.params;
    reply.created = true;
    answer(done, reply);
  }
  void list_indexes(list_indexes_request r,
                    callback<std::vector<index_description>> done) override {
    last_list = r;
    answer(done, indexes);
  }
  void describe_index(describe_index_request r, callback<index_description> done) override {
    last_tenant = r.tenant;
    last_index = r.name;
    answer(done, index_description{});
  }
  void drop_index(drop_index_request r, callback<bool> done) override {
    last_index = r.name;
    answer(done, true);
  }
  void readiness(readiness_request, callback<readiness_reply> done) override {
    answer(done, readiness_reply{});
  }
  void upsert(upsert_request r, callback<upsert_reply> done) override {
    saw(r);
    answer(done, upsert_reply{r.items.size(), seq_no{7}});
  }
  void get_vector(get_vector_request r, callback<vector_record> done) override {
    saw(r);
    vector_record v;
    v.id = r.id;
    v.vector = {1, 2};
    answer(done, v);
  }
  void delete_vectors(delete_vectors_request r, callback<delete_vectors_reply> done) override {
    saw(r);
    answer(done, delete_vectors_reply{r.ids.size()});
  }
  void list_ids(list_ids_request r, callback<id_page> done) override {
    saw(r);
    answer(done, id_page{});
  }
  void count(count_request r, callback<count_reply> done) override {
    saw(r);
    answer(done, count_reply{});
  }
  void field_index(field_index_request r, callback<field_index_reply> done) override {
    saw(r);
    answer(done, field_index_reply{});
  }
  void list_fields(list_fields_request r, callback<list_fields_reply> done) override {
    saw(r);
    answer(done, list_fields_reply{});
  }
  void search(search_request r, callback<search_reply> done) override {
    saw(r);
    answer(done, search_reply{});
  }
  void index_version(index_version_request r, callback<quiver::index_version> done) override {
    saw(r);
    answer(done, quiver::index_version{});
  }
  void search_batch(search_batch_request r, callback<search_batch_reply> done) override {
    saw(r);
    search_batch_reply out;
    out.results.resize(r.queries.size());
    answer(done, out);
  }
  void merge(merge_request r, callback<merge_reply> done) override {
    saw(r);
    answer(done, merge_reply{3});
  }
  void backup_prepare(backup_prepare_request, callback<backup_prepare_reply> done) override {
    answer(done, backup_prepare_reply{});
  }
  void backup_chunk(backup_chunk_request, callback<snapshot_chunk> done) override {
    answer(done, snapshot_chunk{});
  }
  void create_tenant(tenant_create_request, callback<bool> done) override { answer(done, true); }
  void rotate_tenant_key(tenant_rotate_request, callback<bool> done) override {
    answer(done, true);
  }
  void drop_tenant(tenant_drop_request, callback<bool> done) override { answer(done, true); }
  void list_tenants(tenant_list_request, callback<std::vector<tenant_info>> done) override {
    answer(done, std::vector<tenant_info>{});
  }
  void get_tenant(tenant_get_request r, callback<tenant_info> done) override {
    answer(done, tenant_info{r.name, {}, {}});
  }
  void authenticate(tenant_auth_request r, callback<tenant_auth_reply> done) override {
    if (r.key_hash != hash_api_key(tenant_key))
      return done(make_status(errc::unauthenticated, "unknown API key"));
    done(tenant_auth_reply{tenant_id{"acme"}, {}});
  }
  void cluster(cluster_status_request, callback<cluster_status> done) override {
    answer(done, cluster_status{});
  }
};

}  // namespace quiver
