// The cluster's catalog in a real etcd: imported once from a storaged's catalog,
// written only by the leading controller, one write at a time, and read back
// whole by the next controller.

#include "actors/controller/catalog_store.hpp"

#include <gtest/gtest.h>

#include "tests/unit/etcd_process.hpp"

namespace quiver {
namespace {

using namespace std::chrono_literals;

index_params params(const std::string& name, std::uint32_t shards = 2) {
  index_params p;
  p.name = name;
  p.dimension = 8;
  p.shards = shards;
  return p;
}

tenant_record tenant(const std::string& name, std::uint64_t max_indexes = 0) {
  tenant_record t;
  t.name = name;
  t.key_hash = std::string(64, 'a' + static_cast<char>(name.size() % 6));
  t.quotas.max_indexes = max_indexes;
  return t;
}

class CatalogStore : public ::testing::Test {
 protected:
  void SetUp() override {
    lease = client->lease_grant(30s);
    ASSERT_TRUE(lease);
    auto won = leader.campaign({"controller", "127.0.0.1:1"}, lease->id);
    ASSERT_TRUE(won && *won);
  }
  testing::etcd_process etcd;
  std::unique_ptr<etcd::client> client = etcd::make_http_client(etcd.options());
  metadata_keys keys{"/test/"};
  metadata_store leader{*client, keys};
  expected<etcd::lease_grant_result> lease = make_status(errc::internal, "no lease yet");
};

TEST_F(CatalogStore, AStoragedsCatalogIsImportedOnceWithItsIncarnations) {
  catalog_store store(*client, leader);
  auto empty = store.load();
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->present);
  // More records than one transaction may carry.
  std::vector<catalog_entry> indexes;
  for (std::uint64_t i = 0; i < 250; ++i)
    indexes.push_back({tenant_id{"acme"}, params("i" + std::to_string(i)), 10 + 3 * i});
  indexes.push_back({default_tenant(), params("docs", 1), 5});
  ASSERT_TRUE(store.import({tenant("acme")}, indexes).ok());

  catalog_store next(*client, leader);  // the next controller
  auto loaded = next.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->present);
  ASSERT_EQ(loaded->tenants.size(), 1u);
  EXPECT_EQ(loaded->tenants[0].key_hash, tenant("acme").key_hash);
  ASSERT_EQ(loaded->indexes.size(), indexes.size());
  std::map<std::string, catalog_entry> by_name;
  for (auto& e : loaded->indexes) by_name[e.tenant.value + "/" + e.params.name] = e;
  EXPECT_EQ(by_name.at("acme/i7").incarnation, 31u);
  EXPECT_EQ(by_name.at("default/docs").incarnation, 5u);
  EXPECT_EQ(by_name.at("default/docs").params, params("docs", 1));

  // A second import (another storaged, a restart) changes nothing.
  ASSERT_TRUE(next.import({tenant("other")}, {{default_tenant(), params("x"), 1}}).ok());
  auto same = store.load();
  ASSERT_TRUE(same);
  EXPECT_EQ(same->indexes.size(), indexes.size());
  EXPECT_EQ(same->tenants.size(), 1u);
  // New incarnations start above every imported one.
  auto created = store.create_index(default_tenant(), params("fresh"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->first.incarnation, 10u + 3 * 249 + 1);
}

TEST_F(CatalogStore, TheRulesOfStoragesCatalogHoldAndEveryWriteIsDurableInEtcd) {
  catalog_store store(*client, leader);
  ASSERT_TRUE(store.import({}, {}).ok());
  auto a = store.create_index(default_tenant(), params("a"));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->second);
  auto again = store.create_index(default_tenant(), params("a"));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->second);
  EXPECT_EQ(again->first.incarnation, a->first.incarnation);
  EXPECT_EQ(store.create_index(default_tenant(), params("a", 3)).error().code, errc::index_exists);
  EXPECT_EQ(store.create_index(tenant_id{"acme"}, params("a")).error().code, errc::not_found);
  EXPECT_EQ(store.create_index(default_tenant(), params("../x")).error().code,
            errc::invalid_argument);

  ASSERT_TRUE(store.create_tenant(tenant("acme", 2)).ok());
  EXPECT_EQ(store.create_tenant(tenant("acme")).code, errc::tenant_exists);
  ASSERT_TRUE(store.create_index(tenant_id{"acme"}, params("one")));
  ASSERT_TRUE(store.create_index(tenant_id{"acme"}, params("two")));
  auto over = store.create_index(tenant_id{"acme"}, params("three"));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, errc::quota_exceeded);
  ASSERT_TRUE(store.set_tenant_key("acme", std::string(64, 'f')).ok());
  EXPECT_EQ(store.set_tenant_key("nobody", std::string(64, 'f')).code, errc::not_found);

  // Dropped and re-created: a new incarnation.
  ASSERT_TRUE(store.drop_index(default_tenant(), "a").ok());
  EXPECT_EQ(store.drop_index(default_tenant(), "a").code, errc::index_not_found);
  auto b = store.create_index(default_tenant(), params("a"));
  ASSERT_TRUE(b);
  EXPECT_GT(b->first.incarnation, a->first.incarnation);

  // The next controller reads exactly this; a tenant's drop takes its indexes.
  catalog_store next(*client, leader);
  auto loaded = next.load();
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->tenants.size(), 1u);
  EXPECT_EQ(loaded->tenants[0].key_hash, std::string(64, 'f'));
  EXPECT_EQ(loaded->tenants[0].quotas.max_indexes, 2u);
  EXPECT_EQ(loaded->indexes.size(), 3u);
  ASSERT_TRUE(next.drop_tenant("acme").ok());
  auto after = store.load();
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->tenants.empty());
  ASSERT_EQ(after->indexes.size(), 1u);
  EXPECT_EQ(after->indexes[0].incarnation, b->first.incarnation);
  EXPECT_TRUE(client->range_prefix(keys.indexes_of("acme"))->kvs.empty());
}

TEST_F(CatalogStore, AWriteOnAStaleCopyDecidesAgainOnWhatEtcdHolds) {
  catalog_store one(*client, leader);
  ASSERT_TRUE(one.import({tenant("acme", 1)}, {}).ok());
  catalog_store two(*client, leader);
  ASSERT_TRUE(two.load());
  ASSERT_TRUE(two.create_index(tenant_id{"acme"}, params("x")));
  // `one` has not seen x: its quota check must still see it.
  auto over = one.create_index(tenant_id{"acme"}, params("y"));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, errc::quota_exceeded);
  // Nor may it create x again under another incarnation or other params.
  EXPECT_EQ(one.create_index(tenant_id{"acme"}, params("x", 5)).error().code, errc::index_exists);
  ASSERT_TRUE(two.drop_index(tenant_id{"acme"}, "x").ok());
  EXPECT_EQ(one.drop_index(tenant_id{"acme"}, "x").code, errc::index_not_found);
  EXPECT_EQ(client->range_prefix(keys.indexes())->kvs.size(), 0u);
}

TEST_F(CatalogStore, OnlyTheLeaderWritesAndALeaderThatLostItsLeaseWritesNothing) {
  catalog_store store(*client, leader);
  ASSERT_TRUE(store.import({}, {}).ok());
  metadata_store other(*client, keys);
  catalog_store follower(*client, other);
  ASSERT_TRUE(follower.load());
  EXPECT_EQ(follower.create_index(default_tenant(), params("a")).error().code, errc::stale_epoch);
  EXPECT_EQ(follower.create_tenant(tenant("acme")).code, errc::stale_epoch);

  ASSERT_TRUE(client->lease_revoke(lease->id).ok());  // paused past its lease
  auto late = store.create_index(default_tenant(), params("a"));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, errc::stale_epoch);
  EXPECT_FALSE(leader.leading());
  EXPECT_TRUE(client->range_prefix(keys.indexes())->kvs.empty());

  auto lease_b = client->lease_grant(30s);
  ASSERT_TRUE(lease_b);
  ASSERT_TRUE(*other.campaign({"b", "127.0.0.1:2"}, lease_b->id));
  ASSERT_TRUE(follower.create_index(default_tenant(), params("a")));
}

TEST_F(CatalogStore, UnreadableRecordsAreAnError) {
  ASSERT_TRUE(client->put(keys.index("acme", "docs"), "garbage"));
  catalog_store store(*client, leader);
  auto loaded = store.load();
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find(keys.index("acme", "docs")), std::string::npos);
  // A record under a key that names another index.
  ASSERT_TRUE(client->put(keys.index("acme", "docs"), encode(index_record{params("other"), 3})));
  EXPECT_FALSE(store.load());
}

}  // namespace
}  // namespace quiver
