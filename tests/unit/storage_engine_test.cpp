#include "actors/storage/storage_engine.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/unit/fault_env.hpp"

namespace quiver {
namespace {

namespace fs = std::filesystem;

index_params params(const std::string& name, std::uint32_t shards = 2) {
  index_params p;
  p.name = name;
  p.dimension = 3;
  p.shards = shards;
  return p;
}

std::vector<log_record> upserts(std::uint64_t first, std::uint64_t n, std::uint64_t epoch) {
  std::vector<log_record> out;
  for (auto s = first; s < first + n; ++s) {
    log_record r;
    r.seq = seq_no{s};
    r.epoch = epoch;
    r.id = "v" + std::to_string(s);
    r.vector = {float(s), 1, 2};
    out.push_back(r);
  }
  return out;
}

class StorageEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/quiver-storage-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<storage_engine> open(std::uint64_t segment_bytes = 64u << 20) {
    storage_options o;
    o.data_dir = dir_;
    o.log.segment_bytes = segment_bytes;
    auto s = storage_engine::open(env::posix(), o);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  std::vector<log_record> read_all(storage_engine& s, const shard_ref& ref, seq_no after = {},
                                   std::size_t chunk = 1 << 20) {
    std::vector<log_record> out;
    for (int guard = 0; guard < 100000; ++guard) {
      auto c = s.read(ref, after, chunk);
      EXPECT_TRUE(c) << (c ? "" : c.error().message);
      if (!c) break;
      for (auto& r : c->records) out.push_back(std::move(r));
      if (!out.empty()) after = out.back().seq;
      if (!c->more) break;
    }
    return out;
  }

  std::string dir_;
};

TEST_F(StorageEngine, CatalogSurvivesReopenAndDropsAreFinal) {
  const tenant_id t{"default"};
  std::uint64_t first_incarnation = 0;
  {
    auto s = open();
    auto a = s->create_index(t, params("a"));
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->second);
    first_incarnation = a->first.incarnation;
    ASSERT_TRUE(s->create_index(t, params("b")));
    auto again = s->create_index(t, params("a"));
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->second);
    EXPECT_EQ(s->create_index(t, params("a", 3)).error().code, errc::index_exists);
    ASSERT_TRUE(s->drop_index(t, "b").ok());
    EXPECT_EQ(s->drop_index(t, "b").code, errc::index_not_found);
  }
  auto s = open();
  auto cat = s->catalog();
  ASSERT_EQ(cat.size(), 1u);
  EXPECT_EQ(cat[0].params, params("a"));
  EXPECT_EQ(cat[0].incarnation, first_incarnation);
}

TEST_F(StorageEngine, RecreatedIndexStartsEmpty) {
  const tenant_id t{"default"};
  auto s = open();
  auto a = s->create_index(t, params("a", 1));
  shard_ref ref{t, "a", a->first.incarnation, shard_id{0}};
  auto lease = s->open_shard(ref);
  ASSERT_TRUE(lease);
  ASSERT_TRUE(s->append(ref, lease->epoch, upserts(1, 5, lease->epoch)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->drop_index(t, "a").ok());
  EXPECT_FALSE(fs::exists(s->shard_dir(ref)));
  EXPECT_EQ(s->append(ref, lease->epoch, upserts(6, 1, lease->epoch)).code, errc::index_not_found);
  auto b = s->create_index(t, params("a", 1));
  ASSERT_TRUE(b);
  EXPECT_NE(b->first.incarnation, a->first.incarnation);
  shard_ref ref2{t, "a", b->first.incarnation, shard_id{0}};
  auto lease2 = s->open_shard(ref2);
  ASSERT_TRUE(lease2);
  EXPECT_EQ(lease2->last_seq.value, 0u);
  EXPECT_TRUE(read_all(*s, ref2).empty());
}

TEST_F(StorageEngine, ADropOfOneIncarnationLeavesAnotherUnderTheName) {
  const tenant_id t{"default"};
  auto s = open();
  ASSERT_TRUE(s->create_index(t, params("a", 1), 7));
  ASSERT_TRUE(s->create_index(t, params("a", 1), 9));  // replaces 7
  shard_ref ref{t, "a", 9, shard_id{0}};
  ASSERT_TRUE(s->open_shard(ref));
  // An older incarnation, or one never held: nothing to drop, no error.
  EXPECT_TRUE(s->drop_index(t, "a", 7).ok());
  EXPECT_TRUE(s->drop_index(t, "never", 3).ok());
  ASSERT_EQ(s->catalog().size(), 1u);
  EXPECT_TRUE(fs::exists(s->shard_dir(ref)));
  ASSERT_TRUE(s->drop_index(t, "a", 9).ok());
  EXPECT_TRUE(s->catalog().empty());
  EXPECT_FALSE(fs::exists(s->shard_dir(ref)));
}

TEST_F(StorageEngine, ADroppedShardGoesWholeWhileItsIndexLivesOn) {
  const tenant_id t{"default"};
  shard_ref zero{t, "a", 7, shard_id{0}}, one{t, "a", 7, shard_id{1}};
  {
    auto s = open();
    ASSERT_TRUE(s->create_index(t, params("a", 2), 7));
    for (auto& ref : {zero, one}) {
      auto lease = s->open_shard(ref);
      ASSERT_TRUE(lease);
      ASSERT_TRUE(s->append(ref, lease->epoch, upserts(1, 5, lease->epoch)).ok());
    }
    ASSERT_TRUE(s->sync().ok());
    EXPECT_EQ(s->stored_shards().size(), 2u);

    ASSERT_TRUE(s->drop_shard(zero).ok());
    EXPECT_FALSE(fs::exists(s->shard_dir(zero)));
    EXPECT_FALSE(fs::exists(s->shard_dir(zero) + ".dropped"));
    auto left = s->stored_shards();
    ASSERT_EQ(left.size(), 1u);
    EXPECT_EQ(left[0].shard.value, 1u);
    EXPECT_EQ(s->catalog().size(), 1u);
    EXPECT_EQ(read_all(*s, one).size(), 5u);
    EXPECT_TRUE(s->drop_shard(zero).ok());  // none left: no error

    // Placed here again, the shard starts from nothing.
    auto lease = s->open_shard(zero);
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease->last_seq.value, 0u);
    EXPECT_TRUE(read_all(*s, zero).empty());
  }
  // A crash between the rename and the removal: the next open removes the rest.
  fs::create_directories(dir_ + "/indexes/default/a@7/1.dropped/log");
  auto s = open();
  EXPECT_FALSE(fs::exists(dir_ + "/indexes/default/a@7/1.dropped"));
  EXPECT_EQ(read_all(*s, one).size(), 5u);
}

TEST_F(StorageEngine, MirrorsIndexesUnderTheIncarnationsTheClustersCatalogAssigns) {
  const tenant_id t{"acme"};  // no tenant record: the cluster's catalog checked it
  std::uint64_t first_seq = 0;
  {
    auto s = open();
    auto a = s->create_index(t, params("a", 1), 9001);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_TRUE(a->second);
    EXPECT_EQ(a->first.incarnation, 9001u);
    auto again = s->create_index(t, params("a", 1), 9001);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->second);
    shard_ref ref{t, "a", 9001, shard_id{0}};
    auto lease = s->open_shard(ref);
    ASSERT_TRUE(lease);
    ASSERT_TRUE(s->append(ref, lease->epoch, upserts(1, 3, lease->epoch)).ok());
    ASSERT_TRUE(s->sync().ok());
    // Storage's own numbering goes on beside it.
    auto own = s->create_index(tenant_id{"default"}, params("b", 1));
    ASSERT_TRUE(own);
    first_seq = own->first.incarnation;
    EXPECT_NE(first_seq, 9001u);
  }
  auto s = open();
  auto cat = s->catalog();
  ASSERT_EQ(cat.size(), 2u);
  EXPECT_EQ(cat[0].tenant, t);
  EXPECT_EQ(cat[0].incarnation, 9001u);
  EXPECT_EQ(cat[1].incarnation, first_seq);
  EXPECT_EQ(read_all(*s, shard_ref{t, "a", 9001, shard_id{0}}).size(), 3u);
  // A newer incarnation (dropped and re-created while this node did not hear)
  // replaces the old one and its files.
  auto old_dir = s->shard_dir(shard_ref{t, "a", 9001, shard_id{0}});
  ASSERT_TRUE(fs::exists(old_dir));
  auto newer = s->create_index(t, params("a", 2), 9100);
  ASSERT_TRUE(newer) << newer.error().message;
  EXPECT_TRUE(newer->second);
  EXPECT_FALSE(fs::exists(old_dir));
  EXPECT_TRUE(read_all(*s, shard_ref{t, "a", 9100, shard_id{1}}).empty());
  EXPECT_EQ(s->read(shard_ref{t, "a", 9001, shard_id{0}}, {}, 1 << 20).error().code,
            errc::index_not_found);
}

TEST_F(StorageEngine, LeftoverFilesOfDroppedIndexesAreRemovedOnOpen) {
  const tenant_id t{"default"};
  shard_ref live;
  {
    auto s = open();
    auto a = s->create_index(t, params("a", 1));
    live = {t, "a", a->first.incarnation, shard_id{0}};
    auto lease = s->open_shard(live);
    ASSERT_TRUE(lease);
    ASSERT_TRUE(s->append(live, lease->epoch, upserts(1, 3, lease->epoch)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  fs::create_directories(dir_ + "/indexes/default/ghost@99/0/log");
  auto s = open();
  EXPECT_FALSE(fs::exists(dir_ + "/indexes/default/ghost@99"));
  // The sweep leaves the live index alone.
  EXPECT_TRUE(fs::exists(s->shard_dir(live)));
  EXPECT_EQ(read_all(*s, live).size(), 3u);
}

TEST_F(StorageEngine, EpochsFenceEarlierWritersAcrossRestarts) {
  const tenant_id t{"default"};
  shard_ref ref;
  std::uint64_t old_epoch = 0;
  {
    auto s = open();
    auto a = s->create_index(t, params("a", 1));
    ref = {t, "a", a->first.incarnation, shard_id{0}};
    auto first = s->open_shard(ref);
    auto second = s->open_shard(ref);
    ASSERT_TRUE(first && second);
    EXPECT_LT(first->epoch, second->epoch);
    auto st = s->append(ref, first->epoch, upserts(1, 1, first->epoch));
    EXPECT_EQ(st.code, errc::stale_epoch);
    EXPECT_NE(st.message.find("stale"), std::string::npos);
    EXPECT_EQ(s->counters().stale_epoch_rejections, 1u);
    ASSERT_TRUE(s->append(ref, second->epoch, upserts(1, 2, second->epoch)).ok());
    ASSERT_TRUE(s->sync().ok());
    old_epoch = second->epoch;
  }
  auto s = open();
  auto lease = s->open_shard(ref);
  ASSERT_TRUE(lease);
  EXPECT_GT(lease->epoch, old_epoch);
  EXPECT_EQ(lease->last_seq.value, 2u);
  EXPECT_EQ(s->append(ref, old_epoch, upserts(3, 1, old_epoch)).code, errc::stale_epoch);
}

// The coordinator's fencing: a fence gives the next primary a new epoch; the old
// primary can neither append nor re-open under its epoch; readers change nothing.
TEST_F(StorageEngine, FenceHoldAndFollowAcrossRestarts) {
  const tenant_id t{"default"};
  shard_ref ref;
  std::uint64_t second = 0;
  {
    auto s = open();
    auto a = s->create_index(t, params("a", 1));
    ref = {t, "a", a->first.incarnation, shard_id{0}};
    auto first = s->fence(ref);
    ASSERT_TRUE(first);
    auto held = s->open_shard(ref, open_mode::hold, *first);
    ASSERT_TRUE(held);
    EXPECT_EQ(held->epoch, *first);
    ASSERT_TRUE(s->append(ref, *first, upserts(1, 2, *first)).ok());
    auto next = s->fence(ref);
    ASSERT_TRUE(next);
    EXPECT_GT(*next, *first);
    second = *next;
    // The fenced primary: its appends and its re-open under the old epoch fail.
    auto stale = s->append(ref, *first, upserts(3, 1, *first));
    EXPECT_EQ(stale.code, errc::stale_epoch) << stale.message;
    auto reopen = s->open_shard(ref, open_mode::hold, *first);
    ASSERT_FALSE(reopen);
    EXPECT_EQ(reopen.error().code, errc::stale_epoch);
    // A follower sees the log's end and leaves the epoch alone.
    auto follow = s->open_shard(ref, open_mode::follow);
    ASSERT_TRUE(follow);
    EXPECT_EQ(follow->last_seq.value, 2u);
    EXPECT_EQ(follow->epoch, second);
    ASSERT_TRUE(s->append(ref, second, upserts(3, 1, second)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open();  // the epoch is durable
  auto held = s->open_shard(ref, open_mode::hold, second);
  ASSERT_TRUE(held);
  EXPECT_EQ(held->last_seq.value, 3u);
  EXPECT_EQ(s->append(ref, second - 1, upserts(4, 1, second - 1)).code, errc::stale_epoch);
}

// A replica's log keeps where each epoch starts; a new primary's answer to
// "how far do we agree?" cuts exactly the tail no later primary wrote.
TEST_F(StorageEngine, EpochHistoryAnswersWhereALogAgreesAndTruncationFollowsIt) {
  const tenant_id t{"default"};
  shard_ref ref;
  {
    auto s = open(256);  // several segments
    auto a = s->create_index(t, params("a", 1));
    ref = {t, "a", a->first.incarnation, shard_id{0}};
    // Epoch 2 writes 1..5, epoch 3 writes 6..8, epoch 5 writes 9..12.
    ASSERT_TRUE(s->open_shard(ref, open_mode::hold, 2));
    ASSERT_TRUE(s->append(ref, 2, upserts(1, 5, 2)).ok());
    ASSERT_TRUE(s->open_shard(ref, open_mode::hold, 3));
    ASSERT_TRUE(s->append(ref, 3, upserts(6, 3, 3)).ok());
    ASSERT_TRUE(s->open_shard(ref, open_mode::hold, 5));
    ASSERT_TRUE(s->append(ref, 5, upserts(9, 4, 5)).ok());
    ASSERT_TRUE(s->sync().ok());
    auto lease = s->open_shard(ref, open_mode::follow);
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease->last_epoch, 5u);
    using pair = std::pair<std::uint64_t, std::uint64_t>;
    auto at = [&](std::uint64_t e) {
      auto r = s->end_of_epoch(ref, e);
      EXPECT_TRUE(r) << (r ? "" : r.error().message);
      return r ? pair{r->epoch, r->end.value} : pair{~0ull, ~0ull};
    };
    EXPECT_EQ(at(1), (pair{0, 0}));  // before every epoch here
    EXPECT_EQ(at(2), (pair{2, 5}));
    EXPECT_EQ(at(3), (pair{3, 8}));
    EXPECT_EQ(at(4), (pair{3, 8}));  // never written here: the one below
    EXPECT_EQ(at(5), (pair{5, 12}));
    EXPECT_EQ(at(9), (pair{5, 12}));
    // Cutting into epoch 3 forgets epoch 5 and keeps 6..7.
    auto cut = s->truncate_after(ref, seq_no{7});
    ASSERT_TRUE(cut) << cut.error().message;
    EXPECT_EQ(cut->last_seq.value, 7u);
    EXPECT_EQ(cut->last_epoch, 3u);
    EXPECT_EQ(at(5), (pair{3, 7}));
    // A primary of epoch 6 continues from there.
    ASSERT_TRUE(s->open_shard(ref, open_mode::hold, 6));
    ASSERT_TRUE(s->append(ref, 6, upserts(8, 2, 6)).ok());
    ASSERT_TRUE(s->sync().ok());
  }
  auto s = open(256);  // the history is durable
  auto lease = s->open_shard(ref, open_mode::follow);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->last_seq.value, 9u);
  EXPECT_EQ(lease->last_epoch, 6u);
  auto five = s->end_of_epoch(ref, 5);
  ASSERT_TRUE(five);
  EXPECT_EQ(five->epoch, 3u);
  EXPECT_EQ(five->end.value, 7u);
  auto records = read_all(*s, ref);
  ASSERT_EQ(records.size(), 9u);
  EXPECT_EQ(records[6].epoch, 3u);
  EXPECT_EQ(records[7].epoch, 6u);
}

// A replica that loads its primary's snapshot: the log goes on after its seq,
// across a restart, and knows the epoch of that record.
TEST_F(StorageEngine, RestartAtGoesOnAfterASnapshotsSeqDurably) {
  const tenant_id t{"default"};
  shard_ref ref;
  {
    auto s = open(256);
    auto a = s->create_index(t, params("a", 1));
    ref = {t, "a", a->first.incarnation, shard_id{0}};
    ASSERT_TRUE(s->open_shard(ref, open_mode::hold, 2));
    ASSERT_TRUE(s->append(ref, 2, upserts(1, 8, 2)).ok());
    ASSERT_TRUE(s->sync().ok());
    auto lease = s->restart_at(ref, seq_no{500}, 4);
    ASSERT_TRUE(lease) << lease.error().message;
    EXPECT_EQ(lease->last_seq.value, 500u);
    EXPECT_EQ(lease->first_seq.value, 501u);
    EXPECT_EQ(lease->last_epoch, 4u);
    EXPECT_EQ(*s->epoch_at(ref, seq_no{500}), 4u);
    EXPECT_TRUE(read_all(*s, ref).empty());
  }
  auto s = open(256);
  auto lease = s->open_shard(ref, open_mode::hold, 5);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->last_seq.value, 500u);
  EXPECT_EQ(lease->last_epoch, 4u);
  EXPECT_EQ(s->append(ref, 5, upserts(3, 1, 5)).code, errc::internal);  // not after 500
  ASSERT_TRUE(s->append(ref, 5, upserts(501, 3, 5)).ok());
  ASSERT_TRUE(s->sync().ok());
  auto records = read_all(*s, ref);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records.front().seq.value, 501u);
  EXPECT_EQ(*s->epoch_at(ref, seq_no{502}), 5u);
  auto agreed = s->end_of_epoch(ref, 4);
  ASSERT_TRUE(agreed);
  EXPECT_EQ(agreed->end.value, 500u);
  EXPECT_EQ(agreed->first.value, 501u);
}

// A log written before the history existed: its records say where epochs start.
TEST_F(StorageEngine, EpochHistoryOfAnOlderLogIsReadFromItsRecords) {
  const tenant_id t{"default"};
  shard_ref ref;
  {
    auto s = open();
    auto a = s->create_index(t, params("a", 1));
    ref = {t, "a", a->first.incarnation, shard_id{0}};
    ASSERT_TRUE(s->open_shard(ref, open_mode::hold, 4));
    ASSERT_TRUE(s->append(ref, 4, upserts(1, 3, 4)).ok());
    ASSERT_TRUE(s->open_shard(ref, open_mode::hold, 7));
    ASSERT_TRUE(s->append(ref, 7, upserts(4, 3, 7)).ok());
    ASSERT_TRUE(s->sync().ok());
    fs::remove(s->shard_dir(ref) + "/EPOCHS");
  }
  auto s = open();
  auto four = s->end_of_epoch(ref, 5);
  ASSERT_TRUE(four) << four.error().message;
  EXPECT_EQ(four->epoch, 4u);
  EXPECT_EQ(four->end.value, 3u);
  EXPECT_TRUE(fs::exists(s->shard_dir(ref) + "/EPOCHS"));
}

// An epoch assigned by the metadata store is adopted when it is ahead of
// storage's; storage never goes back.
TEST_F(StorageEngine, FenceAdoptsAHigherAssignedEpoch) {
  const tenant_id t{"default"};
  auto s = open();
  auto a = s->create_index(t, params("a", 1));
  shard_ref ref{t, "a", a->first.incarnation, shard_id{0}};
  auto first = s->fence(ref);
  ASSERT_TRUE(first);
  auto assigned = s->fence(ref, *first + 10);
  ASSERT_TRUE(assigned);
  EXPECT_EQ(*assigned, *first + 10);
  auto behind = s->fence(ref, 2);  // a store that lags: storage still moves forward
  ASSERT_TRUE(behind);
  EXPECT_EQ(*behind, *first + 11);
  EXPECT_EQ(s->append(ref, *assigned, upserts(1, 1, *assigned)).code, errc::stale_epoch);
  // A primary holding an epoch the store assigned before storage heard of it.
  auto adopted = s->open_shard(ref, open_mode::hold, *first + 20);
  ASSERT_TRUE(adopted);
  EXPECT_EQ(adopted->epoch, *first + 20);
  EXPECT_EQ(s->append(ref, *behind, upserts(1, 1, *behind)).code, errc::stale_epoch);
  ASSERT_TRUE(s->append(ref, *first + 20, upserts(1, 1, *first + 20)).ok());
  ASSERT_TRUE(s->sync().ok());
  s.reset();
  auto reopened = open();  // durable
  auto follow = reopened->open_shard(ref, open_mode::follow);
  ASSERT_TRUE(follow);
  EXPECT_EQ(follow->epoch, *first + 20);
}

TEST_F(StorageEngine, ChunkedReadsCoverEverySegmentOnceAndReleaseDropsSegments) {
  const tenant_id t{"default"};
  auto s = open(/*segment_bytes=*/2000);
  auto a = s->create_index(t, params("a", 1));
  shard_ref ref{t, "a", a->first.incarnation, shard_id{0}};
  auto lease = s->open_shard(ref);
  ASSERT_TRUE(lease);
  for (std::uint64_t b = 0; b < 40; ++b)
    ASSERT_TRUE(s->append(ref, lease->epoch, upserts(1 + b * 10, 10, lease->epoch)).ok());
  ASSERT_TRUE(s->sync().ok());
  for (std::size_t chunk : {1u, 300u, 5000u, 1u << 20}) {
    auto all = read_all(*s, ref, {}, chunk);
    ASSERT_EQ(all.size(), 400u) << chunk;
    for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i].seq.value, i + 1) << chunk;
  }
  auto tail = read_all(*s, ref, seq_no{390});
  ASSERT_EQ(tail.size(), 10u);
  EXPECT_EQ(tail.front().seq.value, 391u);
  // Reading up to the end, then appending: the reader sees the new records.
  auto c = s->read(ref, seq_no{395}, 1 << 20);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->more);
  ASSERT_TRUE(s->append(ref, lease->epoch, upserts(401, 3, lease->epoch)).ok());
  EXPECT_EQ(read_all(*s, ref, seq_no{400}).size(), 3u);

  ASSERT_TRUE(s->release_before(ref, seq_no{200}).ok());
  auto rest = read_all(*s, ref);
  ASSERT_FALSE(rest.empty());
  EXPECT_LE(rest.front().seq.value, 200u);
  EXPECT_GT(rest.front().seq.value, 100u);
  auto reopened = s->open_shard(ref);
  EXPECT_EQ(reopened->first_seq, rest.front().seq);
  EXPECT_EQ(reopened->last_seq.value, 403u);
}

TEST_F(StorageEngine, NamesThatCouldEscapeTheDataDirAreRejected) {
  auto s = open();
  EXPECT_FALSE(s->create_index(tenant_id{"../x"}, params("a")));
  EXPECT_FALSE(s->create_index(tenant_id{"default"}, params("../a")));
  EXPECT_FALSE(s->create_index(tenant_id{""}, params("a")));
  EXPECT_FALSE(s->open_shard({tenant_id{"default"}, "nope", 1, shard_id{0}}));
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

std::string hash_of(char c) { return std::string(64, c); }

TEST_F(StorageEngine, TenantsSurviveRestartWithQuotasKeysAndDrops) {
  {
    auto s = open();
    tenant_quotas q;
    q.max_indexes = 2;
    q.max_vectors = 100;
    q.max_requests_per_s = 7;
    ASSERT_TRUE(s->create_tenant({"acme", q, hash_of('a')}).ok());
    ASSERT_TRUE(s->create_tenant({"beta", {}, hash_of('b')}).ok());
    EXPECT_EQ(s->create_tenant({"acme", {}, hash_of('c')}).code, errc::tenant_exists);
    EXPECT_EQ(s->create_tenant({"../x", {}, hash_of('c')}).code, errc::invalid_argument);
    ASSERT_TRUE(s->set_tenant_key("acme", hash_of('d')).ok());
    EXPECT_EQ(s->set_tenant_key("nobody", hash_of('d')).code, errc::not_found);
    // Both tenants own an index named "p"; only existing tenants may own one.
    ASSERT_TRUE(s->create_index(tenant_id{"acme"}, params("p")));
    auto beta = s->create_index(tenant_id{"beta"}, params("p"));
    ASSERT_TRUE(beta);
    EXPECT_EQ(s->create_index(tenant_id{"ghost"}, params("p")).error().code, errc::not_found);
    // max_indexes: the second succeeds, the third is over.
    ASSERT_TRUE(s->create_index(tenant_id{"acme"}, params("q")));
    auto third = s->create_index(tenant_id{"acme"}, params("r"));
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error().code, errc::quota_exceeded);
    // Re-creating an existing index is not a new one.
    EXPECT_TRUE(s->create_index(tenant_id{"acme"}, params("q")));
    // The tenant's files exist once a shard opens.
    ASSERT_TRUE(s->open_shard({tenant_id{"beta"}, "p", beta->first.incarnation, shard_id{0}}));
  }
  auto s = open();
  auto tenants = s->tenants();
  ASSERT_EQ(tenants.size(), 2u);
  EXPECT_EQ(tenants[0].name, "acme");
  EXPECT_EQ(tenants[0].key_hash, hash_of('d'));
  EXPECT_EQ(tenants[0].quotas.max_indexes, 2u);
  EXPECT_EQ(tenants[0].quotas.max_vectors, 100u);
  EXPECT_EQ(tenants[0].quotas.max_requests_per_s, 7u);
  EXPECT_EQ(tenants[1].key_hash, hash_of('b'));
  EXPECT_EQ(s->catalog().size(), 3u);
  ASSERT_TRUE(fs::exists(dir_ + "/indexes/beta"));

  ASSERT_TRUE(s->drop_tenant("beta").ok());
  EXPECT_EQ(s->drop_tenant("beta").code, errc::not_found);
  EXPECT_FALSE(fs::exists(dir_ + "/indexes/beta"));
  EXPECT_EQ(s->catalog().size(), 2u);
  s.reset();
  s = open();
  EXPECT_EQ(s->tenants().size(), 1u);
  for (auto& e : s->catalog()) EXPECT_EQ(e.tenant.value, "acme");
  // The dropped tenant's name is free again, with nothing of the old one.
  ASSERT_TRUE(s->create_tenant({"beta", {}, hash_of('e')}).ok());
  ASSERT_TRUE(s->create_index(tenant_id{"beta"}, params("p")));
}

class StorageEngineFaults : public StorageEngine {
 protected:
  std::unique_ptr<storage_engine> open_faulty() {
    storage_options o;
    o.data_dir = dir_;
    auto s = storage_engine::open(faults_, o);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  fault_env faults_;
};

TEST_F(StorageEngineFaults, AFailedFsyncFailsItsShardUntilReopenedAndIsNeverRetried) {
  const tenant_id t{"default"};
  auto s = open_faulty();
  auto a = s->create_index(t, params("a", 2));
  shard_ref r0{t, "a", a->first.incarnation, shard_id{0}};
  shard_ref r1{t, "a", a->first.incarnation, shard_id{1}};
  auto l0 = s->open_shard(r0);
  auto l1 = s->open_shard(r1);
  ASSERT_TRUE(l0 && l1);
  ASSERT_TRUE(s->append(r0, l0->epoch, upserts(1, 2, l0->epoch)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->append(r0, l0->epoch, upserts(3, 2, l0->epoch)).ok());
  faults_.fail_sync = true;
  EXPECT_FALSE(s->sync().ok());
  EXPECT_EQ(s->failure(r0).code, errc::unavailable);
  EXPECT_TRUE(s->failure(r1).ok());  // another shard's appends are not covered
  faults_.fail_sync = false;
  // Not retried: the next group commit has nothing of r0 to sync, and r0 refuses
  // appends (here the next in line, and a retry of the failed ones).
  auto syncs = faults_.syncs;
  EXPECT_TRUE(s->sync().ok());
  EXPECT_EQ(faults_.syncs, syncs);
  EXPECT_FALSE(s->append(r0, l0->epoch, upserts(5, 1, l0->epoch)).ok());
  EXPECT_FALSE(s->append(r0, l0->epoch, upserts(3, 1, l0->epoch)).ok());
  ASSERT_TRUE(s->append(r1, l1->epoch, upserts(1, 1, l1->epoch)).ok());
  ASSERT_TRUE(s->sync().ok());
  EXPECT_TRUE(s->failure(r1).ok());
  // The writer reopens: the log is read anew and ends where the good fsync did.
  auto again = s->open_shard(r0);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->last_seq.value, 2u);
  EXPECT_TRUE(s->failure(r0).ok());
  EXPECT_EQ(read_all(*s, r0).size(), 2u);
  ASSERT_TRUE(s->append(r0, again->epoch, upserts(3, 2, again->epoch)).ok());
  ASSERT_TRUE(s->sync().ok());
  EXPECT_EQ(read_all(*s, r0).size(), 4u);
}

// A full disk, a quota and a read-only file system alike.
class StorageEngineFull : public StorageEngineFaults, public ::testing::WithParamInterface<int> {};

INSTANTIATE_TEST_SUITE_P(Errnos, StorageEngineFull, ::testing::Values(ENOSPC, EDQUOT, EROFS));

TEST_P(StorageEngineFull, RefusesWritesKeepsReadsAndHealsOnceTheDiskTakesThemAgain) {
  const tenant_id t{"default"};
  faults_.full_errno = GetParam();
  auto s = open_faulty();
  auto a = s->create_index(t, params("a", 1));
  shard_ref ref{t, "a", a->first.incarnation, shard_id{0}};
  auto lease = s->open_shard(ref);
  ASSERT_TRUE(lease);
  auto epoch = lease->epoch;
  ASSERT_TRUE(s->append(ref, epoch, upserts(1, 3, epoch)).ok());
  ASSERT_TRUE(s->sync().ok());
  faults_.space_left = 30;  // the next append is cut short
  auto full = s->append(ref, epoch, upserts(4, 2, epoch));
  EXPECT_EQ(full.code, errc::insufficient_storage) << full.message;
  // An append pipelined behind it fails the same way and leaves no gap.
  EXPECT_EQ(s->append(ref, epoch, upserts(6, 1, epoch)).code, errc::insufficient_storage);
  // Reads see the acknowledged records and no damage.
  EXPECT_EQ(read_all(*s, ref).size(), 3u);
  // Claiming a new epoch writes a file: refused while full; a reader may follow.
  auto claim = s->open_shard(ref);
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code, errc::insufficient_storage);
  EXPECT_FALSE(fs::exists(s->shard_dir(ref) + "/EPOCH.tmp"));  // no leftover
  auto follow = s->open_shard(ref, open_mode::follow);
  ASSERT_TRUE(follow);
  EXPECT_EQ(follow->last_seq.value, 3u);
  // A catalog write on the full disk is refused too, and heals the same way.
  EXPECT_EQ(s->create_index(t, params("b", 1)).error().code, errc::insufficient_storage);
  // Space again: the writer reopens under its epoch and goes on from seq 4.
  faults_.space_left = -1;
  auto held = s->open_shard(ref, open_mode::hold, epoch);
  ASSERT_TRUE(held);
  EXPECT_EQ(held->last_seq.value, 3u);
  ASSERT_TRUE(s->append(ref, epoch, upserts(4, 2, epoch)).ok());
  ASSERT_TRUE(s->sync().ok());
  ASSERT_TRUE(s->create_index(t, params("b", 1)));
  s.reset();
  s = open();  // a restart finds exactly what was acknowledged, nothing torn
  EXPECT_EQ(s->counters().torn_tails_repaired, 0u);
  EXPECT_EQ(s->catalog().size(), 2u);
  lease = s->open_shard(ref);
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->last_seq.value, 5u);
  EXPECT_EQ(read_all(*s, ref).size(), 5u);
}

}  // namespace
}  // namespace quiver
