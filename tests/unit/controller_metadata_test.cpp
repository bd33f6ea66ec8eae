// The controller's metadata in a real etcd: one leader writes, every write is
// fenced by the shard record's revision and by still holding the controller key,
// epochs only go up; nodes register under leases that vanish with them.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "actors/controller/controller_locator.hpp"
#include "actors/controller/metadata_store.hpp"
#include "actors/controller/node_registration.hpp"
#include "tests/unit/etcd_process.hpp"

namespace quiver {
namespace {

using namespace std::chrono_literals;

class ControllerMetadata : public ::testing::Test {
 protected:
  testing::etcd_process etcd;
  std::unique_ptr<etcd::client> client = etcd::make_http_client(etcd.options());
  metadata_keys keys{"/test/"};
  shard_ref ref{tenant_id{"acme"}, "docs", 3, shard_id{1}};
};

TEST_F(ControllerMetadata, OnlyTheLeaderWritesAndEpochsGoUp) {
  auto lease_a = client->lease_grant(10s);
  auto lease_b = client->lease_grant(10s);
  ASSERT_TRUE(lease_a && lease_b);
  metadata_store a(*client, keys);
  metadata_store b(*client, keys);
  EXPECT_FALSE(a.leading());
  auto fenced_early = a.fence(ref, "n1", {"n1", "n2"}, 0);
  ASSERT_FALSE(fenced_early);
  EXPECT_EQ(fenced_early.error().code, errc::stale_epoch);  // not elected: no write

  ASSERT_TRUE(*a.campaign({"a", "127.0.0.1:1"}, lease_a->id));
  ASSERT_FALSE(*b.campaign({"b", "127.0.0.1:2"}, lease_b->id));
  EXPECT_TRUE(*a.campaign({"a", "127.0.0.1:1"}, lease_a->id));  // it already holds it
  auto holder = b.controller();
  ASSERT_TRUE(holder && *holder);
  EXPECT_EQ((*holder)->name, "a");

  auto first = a.fence(ref, "n1", {"n1", "n2"}, 0);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->record.epoch, 1u);
  auto second = a.fence(ref, "n2", {"n1", "n2"}, 0);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->record.epoch, 2u);
  auto floor = a.fence(ref, "n1", {"n1", "n2"}, 9);  // storage already gave out 9
  ASSERT_TRUE(floor);
  EXPECT_EQ(floor->record.epoch, 10u);
  auto moved = a.write_shard(ref, shard_record{10, "n1", {"n1", "n3"}, {}, ""});
  ASSERT_TRUE(moved);

  // A fresh reader sees exactly what was written.
  auto loaded = b.load_shards();
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->size(), 1u);
  auto& entry = loaded->at(keys.shard(ref));
  EXPECT_EQ(entry.record.epoch, 10u);
  EXPECT_EQ(entry.record.primary, "n1");
  EXPECT_EQ(entry.record.replicas, (std::vector<std::string>{"n1", "n3"}));
  EXPECT_EQ(entry.revision, moved->revision);

  // The leader's lease goes (it paused past its TTL): b takes over, and a's
  // writes fail although a still believes it leads.
  ASSERT_TRUE(client->lease_revoke(lease_a->id).ok());
  ASSERT_TRUE(*b.campaign({"b", "127.0.0.1:2"}, lease_b->id));
  EXPECT_TRUE(a.leading());
  auto late = a.fence(ref, "n2", {"n1", "n2"}, 0);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, errc::stale_epoch);
  EXPECT_FALSE(a.leading());
  auto taken = b.fence(ref, "n3", {"n1", "n3"}, 0);
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_EQ(taken->record.epoch, 11u);
  EXPECT_EQ(client->range(keys.shard(ref))->kvs.at(0).mod_revision, taken->revision);
}

TEST_F(ControllerMetadata, ACompetingWriteIsSeenAndNotOverwritten) {
  auto lease = client->lease_grant(10s);
  ASSERT_TRUE(lease);
  metadata_store a(*client, keys);
  ASSERT_TRUE(*a.campaign({"a", ""}, lease->id));
  ASSERT_TRUE(a.fence(ref, "n1", {"n1"}, 0));
  // Someone writes the record behind the controller's back (an operator's tool).
  ASSERT_TRUE(client->put(keys.shard(ref), encode(shard_record{7, "n9", {"n9"}, {}, ""})));
  auto refused = a.fence(ref, "n2", {"n1", "n2"}, 0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::stale_epoch);
  EXPECT_TRUE(a.leading());
  ASSERT_NE(a.shard(ref), nullptr);
  EXPECT_EQ(a.shard(ref)->record.primary, "n9");  // the cache now holds what etcd has
  auto again = a.fence(ref, "n2", {"n1", "n2"}, 0);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->record.epoch, 8u);
  ASSERT_TRUE(a.erase_shard(ref).ok());
  EXPECT_TRUE(client->range(keys.shard(ref))->kvs.empty());
}

TEST_F(ControllerMetadata, ARestartedControllerTakesOverItsPredecessorsKeyAtOnce) {
  auto old_lease = client->lease_grant(60s);
  auto new_lease = client->lease_grant(60s);
  auto other_lease = client->lease_grant(60s);
  ASSERT_TRUE(old_lease && new_lease && other_lease);
  controller_record me{"storaged@127.0.0.1:7300", "127.0.0.1:7300"};
  metadata_store killed(*client, keys);
  ASSERT_TRUE(*killed.campaign(me, old_lease->id));
  ASSERT_TRUE(killed.fence(ref, "n1", {"n1"}, 0));

  // Someone else waits for the lease; the same controller back (same name and
  // address) takes the key now.
  metadata_store stranger(*client, keys);
  EXPECT_FALSE(*stranger.campaign({"storaged@127.0.0.1:7301", "127.0.0.1:7301"}, other_lease->id));
  metadata_store restarted(*client, keys);
  ASSERT_TRUE(*restarted.campaign(me, new_lease->id));
  EXPECT_EQ(client->range(keys.controller())->kvs.at(0).lease, new_lease->id);
  ASSERT_TRUE(restarted.load_shards());
  auto moved = restarted.fence(ref, "n2", {"n1", "n2"}, 0);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_EQ(moved->record.epoch, 2u);
  // Had the predecessor lived on, it could write nothing more.
  auto late = killed.fence(ref, "n3", {"n3"}, 0);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, errc::stale_epoch);

  // An address another host could share (a wildcard, port 0) proves nothing.
  ASSERT_TRUE(client->lease_revoke(new_lease->id).ok());
  for (const char* address : {"0.0.0.0:7300", "127.0.0.1:0"}) {
    auto l1 = client->lease_grant(60s);
    auto l2 = client->lease_grant(60s);
    ASSERT_TRUE(l1 && l2);
    controller_record twin{"storaged@" + std::string(address), address};
    metadata_store first(*client, keys);
    metadata_store second(*client, keys);
    ASSERT_TRUE(*first.campaign(twin, l1->id)) << address;
    EXPECT_FALSE(*second.campaign(twin, l2->id)) << address;
    ASSERT_TRUE(client->lease_revoke(l1->id).ok());
  }
}

TEST_F(ControllerMetadata, UnreadableRecordsAreAnError) {
  ASSERT_TRUE(client->put(keys.shard(ref), "garbage"));
  metadata_store a(*client, keys);
  auto loaded = a.load_shards();
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find(keys.shard(ref)), std::string::npos);
}

TEST_F(ControllerMetadata, NodesRegisterUnderLeasesAndComeBackAfterLosingThem) {
  std::atomic<int> lost{0}, back{0};
  node_record me{"vectord-1", "127.0.0.1:7311", "test", 1};
  auto reg =
      node_registration::open(*client, keys, me, 2s, 1s, [&](bool up) { (up ? back : lost)++; });
  ASSERT_TRUE(reg) << reg.error().message;
  metadata_store store(*client, keys);
  auto nodes = store.list_nodes();
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->nodes.size(), 1u);
  EXPECT_EQ(nodes->nodes[0].address, me.address);
  auto deadline = (*reg)->lease_deadline();
  EXPECT_GT(deadline->load(), std::chrono::steady_clock::now().time_since_epoch().count());

  // A namesake elsewhere waits, then gives up while this one lives.
  node_record twin{"vectord-1", "127.0.0.1:9999", "test", 1};
  auto refused = node_registration::open(*client, keys, twin, 2s, 500ms, nullptr);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("127.0.0.1:7311"), std::string::npos);

  // The lease goes (as in a pause past the TTL): the node hears it and
  // registers again by itself.
  ASSERT_TRUE(client->lease_revoke((*reg)->lease()).ok());
  for (int i = 0; i < 50 && lost.load() == 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(lost.load(), 1);
  for (int i = 0; i < 50 && back.load() == 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(back.load(), 1);
  EXPECT_TRUE((*reg)->registered());
  EXPECT_EQ(store.list_nodes()->nodes.size(), 1u);

  // Our own earlier incarnation (same address, killed) is replaced at once.
  auto lease = client->lease_grant(30s);
  ASSERT_TRUE(lease);
  reg->reset();
  ASSERT_TRUE(client->put(keys.node(me.name), encode(me), lease->id));
  auto again = node_registration::open(*client, keys, me, 2s, 0ms, nullptr);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(client->range(keys.node(me.name))->kvs.at(0).lease, (*again)->lease());
  again->reset();  // deregisters at once
  EXPECT_TRUE(store.list_nodes()->nodes.empty());
}

TEST_F(ControllerMetadata, TheLocatorFollowsTheControllerKeyWhereverItIsElected) {
  std::mutex mutex;
  std::vector<std::string> seen;  // addresses, in the order heard
  auto heard = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return seen;
  };
  auto wait_for = [&](const std::string& address) {
    for (int i = 0; i < 100; ++i) {
      auto h = heard();
      if (!h.empty() && h.back() == address) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  std::atomic<int> vacant{0};
  controller_locator locator(
      *client, keys,
      [&](const controller_record& c) {
        std::lock_guard<std::mutex> lock(mutex);
        seen.push_back(c.address);
      },
      [&] { ++vacant; });
  for (int i = 0; i < 100 && vacant.load() == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GE(vacant.load(), 1);   // no controller yet: said to be vacant
  EXPECT_TRUE(heard().empty());  // and no address

  auto lease_a = client->lease_grant(10s);
  auto lease_b = client->lease_grant(10s);
  ASSERT_TRUE(lease_a && lease_b);
  metadata_store a(*client, keys);
  metadata_store b(*client, keys);
  ASSERT_TRUE(*a.campaign({"coordinator@127.0.0.1:7301", "127.0.0.1:7301"}, lease_a->id));
  EXPECT_TRUE(wait_for("127.0.0.1:7301"));
  ASSERT_FALSE(*b.campaign({"coordinator@127.0.0.1:7302", "127.0.0.1:7302"}, lease_b->id));

  // The leader's lease goes (killed, or paused past it); the next one elected
  // is followed.
  ASSERT_TRUE(client->lease_revoke(lease_a->id).ok());
  ASSERT_TRUE(*b.campaign({"coordinator@127.0.0.1:7302", "127.0.0.1:7302"}, lease_b->id));
  EXPECT_TRUE(wait_for("127.0.0.1:7302"));
  for (auto& address : heard())
    EXPECT_TRUE(address == "127.0.0.1:7301" || address == "127.0.0.1:7302") << address;

  // The leader's lease goes and no one campaigns: vacant again.
  int before = vacant.load();
  ASSERT_TRUE(client->lease_revoke(lease_b->id).ok());
  for (int i = 0; i < 100 && vacant.load() == before; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GT(vacant.load(), before);

  // An unreadable key is said and skipped; the last controller stands.
  ASSERT_TRUE(client->put(keys.controller(), "not a record"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(heard().back(), "127.0.0.1:7302");
}

TEST_F(ControllerMetadata, AnUnreachableEtcdFailsRegistrationAtOnce) {
  auto opts = etcd.options();
  opts.endpoints = {etcd::endpoint{"127.0.0.1", testing::free_port()}};
  auto dead = etcd::make_http_client(opts);
  auto t0 = std::chrono::steady_clock::now();
  auto reg = node_registration::open(*dead, keys, {"n", "a", "t", 1}, 2s, 30s, nullptr);
  ASSERT_FALSE(reg);
  EXPECT_EQ(reg.error().code, errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

}  // namespace
}  // namespace quiver
