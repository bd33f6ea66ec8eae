// write_admission: a write's exact change to its tenant's stored vectors and
// bytes after the writes in flight, reserved against the quota before it is
// logged, and the shard's part in the usage book across recoveries.

#include <gtest/gtest.h>

#include <map>

#include "actors/index/write_admission.hpp"

namespace quiver {
namespace {

constexpr std::int64_t vector_bytes = 16;  // dimension 4

log_record upsert(std::string id, std::string metadata = {}) {
  log_record r;
  r.type = log_record_type::upsert;
  r.id = std::move(id);
  r.metadata = std::move(metadata);
  return r;
}
log_record remove(std::string id) {
  log_record r;
  r.type = log_record_type::remove;
  r.id = std::move(id);
  return r;
}

// What the shard's graph holds: id -> metadata size.
struct stored_map {
  std::map<std::string, std::size_t> ids;
  write_admission::stored_lookup lookup() const {
    return [this](const std::string& id) -> std::optional<std::size_t> {
      auto it = ids.find(id);
      if (it == ids.end()) return std::nullopt;
      return it->second;
    };
  }
};

struct WriteAdmissionTest : ::testing::Test {
  usage_book book;
  stored_map graph;
  write_admission a{&book, "t", vector_bytes};
  void SetUp() override { a.recovered({0, 0}); }
};

TEST_F(WriteAdmissionTest, AWriteIsChargedExactlyItsChangeAfterTheWritesInFlight) {
  auto first = a.admit({upsert("a", "meta")}, graph.lookup());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->vectors, 1);
  EXPECT_EQ(first->bytes, vector_bytes + 4);
  // "a" exists once the first write lands: replacing it without metadata keeps
  // its metadata and adds nothing.
  auto second = a.admit({upsert("a")}, graph.lookup());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->vectors, 0);
  EXPECT_EQ(second->bytes, 0);
  auto third = a.admit({remove("a"), remove("zz")}, graph.lookup());
  ASSERT_TRUE(third);
  EXPECT_EQ(third->vectors, -1);
  EXPECT_EQ(third->bytes, -(vector_bytes + 4));
  EXPECT_TRUE(a.writes_in_flight());
  a.settle({"a"}, *first, true);
  a.settle({"a"}, *second, true);
  EXPECT_TRUE(a.writes_in_flight());
  a.settle({"a", "zz"}, *third, true);
  EXPECT_FALSE(a.writes_in_flight());
  EXPECT_EQ(book.usage("t").vectors, 0);
  EXPECT_EQ(book.usage("t").bytes, 0);
}

TEST_F(WriteAdmissionTest, ABatchTouchingAnIdTwiceCountsOnlyWhatItLeaves) {
  graph.ids["old"] = 10;
  auto c = a.admit({upsert("n", "xx"), upsert("n", "yyyy"), remove("old"), upsert("old")},
                   graph.lookup());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->vectors, 1);  // n is new; old is removed, then upserted anew
  EXPECT_EQ(c->bytes, (vector_bytes + 4) + (vector_bytes - (vector_bytes + 10)));
}

TEST_F(WriteAdmissionTest, AWriteOverQuotaIsRefusedWholeAndReservesNothing) {
  book.set_limits("t", 2, 0);
  auto ok = a.admit({upsert("a"), upsert("b")}, graph.lookup());
  ASSERT_TRUE(ok);
  auto over = a.admit({upsert("c")}, graph.lookup());
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, errc::quota_exceeded);
  // Shrinking writes and replacements still go through.
  EXPECT_TRUE(a.admit({upsert("a", "m")}, graph.lookup()));
  // Released, the reservation frees the room.
  a.settle({"a", "b"}, *ok, false);
  EXPECT_TRUE(a.admit({upsert("c")}, graph.lookup()));
}

TEST_F(WriteAdmissionTest, ARecoveryForgetsTheWritesInFlightAndTheShardsPartUntilRecounted) {
  book.set_limits("t", 100, 0);
  auto w = a.admit({upsert("a")}, graph.lookup());
  ASSERT_TRUE(w);
  a.settle({"a"}, *w, true);
  auto pending = a.admit({upsert("b")}, graph.lookup());
  ASSERT_TRUE(pending);
  EXPECT_EQ(book.usage("t").vectors, 1);
  a.recovering();
  a.release(*pending);  // durable; the recovery counts it
  EXPECT_FALSE(a.writes_in_flight());
  EXPECT_EQ(book.usage("t").vectors, 0);
  // Uncounted: a tenant with limits cannot be admitted until the shard is back.
  auto blocked = a.admit({upsert("c")}, graph.lookup());
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, errc::unavailable);
  a.recovered({2, 2 * vector_bytes});
  EXPECT_EQ(book.usage("t").vectors, 2);
  EXPECT_EQ(a.contribution().vectors, 2);
  EXPECT_TRUE(a.admit({upsert("c")}, graph.lookup()));
}

TEST(WriteAdmission, AQuarantinedShardCountsAgainAndAGoneShardTakesItsPartAlong) {
  usage_book book;
  book.set_limits("t", 10, 0);
  {
    write_admission a(&book, "t", vector_bytes);
    a.recovered({3, 3 * vector_bytes});
    EXPECT_EQ(book.usage("t").vectors, 3);
    write_admission moved = std::move(a);  // the part moves with it, once
  }
  EXPECT_EQ(book.usage("t").vectors, 0);
  write_admission q(&book, "t", vector_bytes);
  q.recovering();
  stored_map none;
  EXPECT_FALSE(q.admit({upsert("x")}, none.lookup()));
  q.quarantined();
  EXPECT_TRUE(q.admit({upsert("x")}, none.lookup()));
}

// In a cluster each shard counts once, at its primary: a replica adds nothing to
// its node's book (even across its recoveries), a promoted one counts what it
// holds then, and a demoted one takes its part away.
TEST(WriteAdmission, OnlyAPrimaryCountsInItsNodesBook) {
  usage_book book;
  book.set_limits("t", 10, 0);
  write_admission a(&book, "t", vector_bytes);
  a.set_counting(false, {});
  a.recovered({4, 4 * vector_bytes});
  EXPECT_EQ(book.usage("t").vectors, 0);
  a.recovering();  // a replica rebuilding blocks nobody's writes
  stored_map none;
  write_admission primary_elsewhere(&book, "t", vector_bytes);
  primary_elsewhere.recovered({0, 0});
  EXPECT_TRUE(primary_elsewhere.admit({upsert("p")}, none.lookup()));
  a.recovered({5, 5 * vector_bytes});
  EXPECT_EQ(book.usage("t").vectors, 0);
  a.set_counting(true, {6, 6 * vector_bytes});  // promoted, holding 6 by now
  EXPECT_TRUE(a.counting());
  EXPECT_EQ(book.usage("t").vectors, 6);
  auto w = a.admit({upsert("n")}, none.lookup());
  ASSERT_TRUE(w);
  // Demoted with the write out: the part goes, the write's reservation too.
  a.set_counting(false, {});
  EXPECT_EQ(book.usage("t").vectors, 0);
  a.settle({"n"}, *w, true);
  EXPECT_EQ(book.usage("t").vectors, 0);
  EXPECT_EQ(book.all_usage().size(), 0u) << "nothing held here";
}

// What the tenant's primaries hold on other nodes counts against its quota,
// and a later report replaces it.
TEST(UsageBook, UsageElsewhereCountsAgainstTheQuota) {
  usage_book book;
  book.set_limits("t", 10, 100);
  book.add("t", {4, 40});
  book.set_elsewhere({{"t", 5, 50}, {"other", 99, 990}});
  EXPECT_TRUE(book.reserve("t", {1, 10}).ok());
  auto over = book.reserve("t", {1, 0});
  EXPECT_EQ(over.code, errc::quota_exceeded);
  EXPECT_NE(over.message.find("would store 11 vectors"), std::string::npos) << over.message;
  book.release("t", {1, 10});
  book.set_elsewhere({{"t", 1, 10}});
  EXPECT_TRUE(book.reserve("t", {5, 50}).ok());
  book.set_elsewhere({});  // no other node holds any
  EXPECT_TRUE(book.reserve("t", {1, 0}).ok());
  // A cluster node takes every tenant's limits from its coordinator at once: a
  // tenant not named has none (its quota was lifted, or it is gone).
  book.set_all_limits({{"u", 1, 0}});
  EXPECT_TRUE(book.reserve("t", {1000, 0}).ok());
  EXPECT_EQ(book.reserve("u", {2, 0}).code, errc::quota_exceeded);
  book.release("t", {1000, 0});
  auto all = book.all_usage();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].tenant, "t");
  EXPECT_EQ(all[0].vectors, 4);
  EXPECT_EQ(all[0].bytes, 40);
}

}  // namespace
}  // namespace quiver
