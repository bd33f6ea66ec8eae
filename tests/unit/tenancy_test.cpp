// Plain parts of multi-tenancy: API keys, the usage book, the gateway's tenant gate.
#include <gtest/gtest.h>

#include <set>

#include "actors/index/usage_book.hpp"
#include "common/api_keys.hpp"
#include "daemons/gateway/tenant_gate.hpp"

namespace quiver {
namespace {

TEST(ApiKeys, FreshKeysAreLongDistinctAndHashedStably) {
  std::set<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    auto k = new_api_key();
    ASSERT_TRUE(k);
    ASSERT_EQ(k->size(), 3u + 48u);  // 192 bits
    EXPECT_EQ(k->rfind("qk_", 0), 0u);
    keys.insert(*k);
  }
  EXPECT_EQ(keys.size(), 100u);
  // SHA-256("abc")
  EXPECT_EQ(hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(equal_in_constant_time(hash_api_key("x"), hash_api_key("x")));
  EXPECT_FALSE(equal_in_constant_time(hash_api_key("x"), hash_api_key("y")));
  EXPECT_FALSE(equal_in_constant_time("ab", "abc"));
}

TEST(UsageBook, ReservesUpToTheLimitAndNotOneMore) {
  usage_book book;
  book.set_limits("a", 10, 0);
  ASSERT_TRUE(book.reserve("a", {6, 60}).ok());
  // Reserved but not yet applied still counts: 6 + 4 fits, 6 + 5 does not.
  EXPECT_EQ(book.reserve("a", {5, 50}).code, errc::quota_exceeded);
  ASSERT_TRUE(book.reserve("a", {4, 40}).ok());
  book.commit("a", {6, 60});
  book.release("a", {4, 40});  // that write failed
  EXPECT_EQ(book.usage("a").vectors, 6);
  EXPECT_EQ(book.reserve("a", {5, 0}).code, errc::quota_exceeded);
  // Shrinking and same-size writes need no room, even at the limit.
  ASSERT_TRUE(book.reserve("a", {4, 0}).ok());
  book.commit("a", {4, 0});
  EXPECT_TRUE(book.reserve("a", {0, 100}).ok());  // bytes are unlimited here
  book.release("a", {0, 100});
  EXPECT_TRUE(book.reserve("a", {-3, -30}).ok());
  book.commit("a", {-3, -30});
  EXPECT_EQ(book.usage("a").vectors, 7);
  // Another tenant is untouched; a recovered shard adds what it holds.
  EXPECT_TRUE(book.reserve("b", {1000, 1000}).ok());
  book.add("a", {3, 0});
  EXPECT_EQ(book.reserve("a", {1, 0}).code, errc::quota_exceeded);
  book.set_limits("a", 0, 80);
  auto over = book.reserve("a", {1, 100});
  EXPECT_EQ(over.code, errc::quota_exceeded);
  EXPECT_NE(over.message.find("bytes"), std::string::npos);
}

TEST(UsageBook, GrowthWaitsWhileATenantsShardIsRecounted) {
  usage_book book;
  book.uncounted_shards("a", 1);
  book.uncounted_shards("free", 1);
  EXPECT_TRUE(book.reserve("free", {5, 5}).ok());  // no limits: nothing to protect
  book.set_limits("a", 10, 0);
  EXPECT_EQ(book.reserve("a", {1, 0}).code, errc::unavailable);
  EXPECT_TRUE(book.reserve("a", {-1, 0}).ok());  // shrinking is always fine
  book.uncounted_shards("a", -1);
  EXPECT_TRUE(book.reserve("a", {1, 0}).ok());
}

TEST(TenantGate, TokenBucketAllowsOneSecondOfBurstThenRefills) {
  tenant_gate gate(std::chrono::milliseconds(1000));
  auto t0 = tenant_gate::clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(gate.admit("a", 5, t0), 0) << i;
  auto wait = gate.admit("a", 5, t0);
  EXPECT_NEAR(wait, 0.2, 1e-9);
  EXPECT_EQ(gate.admit("b", 5, t0), 0);  // buckets are per tenant
  EXPECT_EQ(gate.admit("a", 0, t0), 0);  // 0: unlimited
  EXPECT_GT(gate.admit("a", 5, t0 + std::chrono::milliseconds(100)), 0);
  EXPECT_EQ(gate.admit("a", 5, t0 + std::chrono::milliseconds(250)), 0);
}

// In a cluster each of the gateways takes its share of a tenant's rate, so that
// together they admit the rate; a share below one request still admits one.
TEST(TenantGate, GatewaysShareATenantsRate) {
  tenant_gate gate(std::chrono::milliseconds(1000));
  auto t0 = tenant_gate::clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(gate.admit("a", 20, t0, 4), 0) << i;
  EXPECT_NEAR(gate.admit("a", 20, t0, 4), 0.2, 1e-9);  // 5 per second here
  EXPECT_EQ(gate.admit("a", 20, t0 + std::chrono::milliseconds(200), 4), 0);
  EXPECT_GT(gate.admit("a", 20, t0 + std::chrono::milliseconds(200), 4), 0);
  EXPECT_EQ(gate.admit("b", 1, t0, 3), 0);
  EXPECT_NEAR(gate.admit("b", 1, t0, 3), 3.0, 1e-9);  // a third of a request per second
}

TEST(TenantGate, CachedKeysExpireAndAreForgottenPerTenant) {
  tenant_gate gate(std::chrono::milliseconds(1000));
  auto t0 = tenant_gate::clock::now();
  gate.remember("h1", {tenant_id{"a"}, {}}, t0);
  gate.remember("h2", {tenant_id{"b"}, {}}, t0);
  ASSERT_TRUE(gate.cached("h1", t0 + std::chrono::milliseconds(999)));
  EXPECT_FALSE(gate.cached("h1", t0 + std::chrono::milliseconds(1000)));
  gate.remember("h1", {tenant_id{"a"}, {}}, t0);
  gate.forget_tenant("a");
  EXPECT_FALSE(gate.cached("h1", t0));
  EXPECT_TRUE(gate.cached("h2", t0));
  tenant_gate uncached(std::chrono::milliseconds(0));
  uncached.remember("h1", {tenant_id{"a"}, {}}, t0);
  EXPECT_FALSE(uncached.cached("h1", t0));
}

}  // namespace
}  // namespace quiver
