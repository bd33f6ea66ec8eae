#include "actors/index/read_board.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

namespace quiver {
namespace {

std::shared_ptr<shard_index> shard_with(std::uint32_t n) {
  index_params p;
  p.name = "docs";
  p.dimension = 2;
  p.distance = distance_kind::euclidean;
  auto idx = std::make_shared<shard_index>(p);
  std::vector<upsert_item> items;
  for (std::uint32_t i = 0; i < n; ++i)
    items.push_back({"k" + std::to_string(i), {float(i), 1}, ""});
  EXPECT_TRUE(idx->upsert_batch(std::move(items)));
  return idx;
}

search_request query(const std::string& tenant, const std::string& index, float x) {
  search_request r{tenant_id{tenant}, index, {x, 1}, {}};
  r.options.k = 1;
  return r;
}

TEST(ReadBoard, AnswersOnlyWhileTheSlotServes) {
  read_board board;
  auto idx = shard_with(10);
  EXPECT_FALSE(board.try_search(query("t", "docs", 3)));  // never opened
  auto slot = board.open("t", "docs");
  EXPECT_FALSE(board.try_search(query("t", "docs", 3)));  // opened, not serving yet
  slot->serve(idx);
  auto r = board.try_search(query("t", "docs", 3));
  ASSERT_TRUE(r);
  ASSERT_TRUE(*r) << r->error().message;
  ASSERT_EQ((*r)->hits.size(), 1u);
  EXPECT_EQ((*r)->hits[0].id, "k3");
  // Keyed by tenant and name: another tenant's index of that name is not this one.
  EXPECT_FALSE(board.try_search(query("u", "docs", 3)));
  EXPECT_FALSE(board.try_search(query("t", "other", 3)));
  slot->withdraw();  // recovering or quarantined
  EXPECT_FALSE(board.try_search(query("t", "docs", 3)));
  slot->serve(idx);
  EXPECT_TRUE(board.try_search(query("t", "docs", 3)));
}

TEST(ReadBoard, AClosedSlotNeverServesAgain) {
  read_board board;
  auto idx = shard_with(4);
  auto slot = board.open("t", "docs");
  slot->serve(idx);
  board.close("t", "docs");  // the index was dropped
  EXPECT_FALSE(board.try_search(query("t", "docs", 1)));
  slot->serve(idx);  // an actor finishing a recovery after the drop
  EXPECT_FALSE(board.try_search(query("t", "docs", 1)));
  EXPECT_EQ(board.size(), 0u);
  // The name again: a new slot; the old actor's serve or withdraw does not touch it.
  auto fresh = board.open("t", "docs");
  auto other = shard_with(2);
  fresh->serve(other);
  slot->serve(idx);
  slot->withdraw();
  auto r = board.try_search(query("t", "docs", 3));
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->hits[0].id, "k1");  // from the new index, which has k0 and k1
}

TEST(ReadBoard, ReopeningANameClosesTheOldSlot) {
  read_board board;
  auto old_slot = board.open("t", "docs");
  board.open("t", "docs");
  old_slot->serve(shard_with(3));
  EXPECT_FALSE(board.try_search(query("t", "docs", 1)));
  EXPECT_EQ(board.size(), 1u);
}

TEST(ReadBoard, ChecksQueriesAsTheRouterDoes) {
  read_board board;
  board.open("t", "docs")->serve(shard_with(4));
  auto wrong_dim = query("t", "docs", 1);
  wrong_dim.query.push_back(0);
  auto r = board.try_search(wrong_dim);
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, errc::dimension_mismatch);
  auto nan = query("t", "docs", std::nanf(""));
  r = board.try_search(nan);
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, errc::non_finite_vector);

  // A batch names its first bad query and answers nothing else.
  search_batch_request b{tenant_id{"t"}, "docs", {{1, 1}, {1, 1, 1}, {std::nanf(""), 1}}, {}};
  b.options.resize(3);
  auto out = board.try_search_batch(b);
  ASSERT_TRUE(out);
  ASSERT_FALSE(out->reply);
  EXPECT_EQ(out->reply.error().code, errc::dimension_mismatch);
  auto details = out->reply.error().details;
  EXPECT_NE(std::find(details.begin(), details.end(),
                      std::make_pair(std::string("index"), std::int64_t{1})),
            details.end());
}

// A write holding the shard sends the rest of a batch elsewhere; what was answered
// here is in order and right.
TEST(ReadBoard, BatchAnswersAPrefixInOrderWhileWritesRun) {
  read_board board;
  auto idx = shard_with(3000);  // past the flat limit: a graph
  board.open("t", "docs")->serve(idx);
  search_batch_request b{tenant_id{"t"}, "docs", {}, {}};
  for (int i = 0; i < 32; ++i) {
    b.queries.push_back({float(i * 5), 1});
    b.options.emplace_back();
    b.options.back().k = 1;
  }
  // Nothing holds the shard yet: the whole batch is answered here.
  auto whole = board.try_search_batch(b);
  ASSERT_TRUE(whole && whole->reply);
  ASSERT_EQ(whole->done, b.queries.size());
  for (std::size_t i = 0; i < whole->done; ++i)
    EXPECT_EQ(whole->reply->results[i].at(0).id, "k" + std::to_string(i * 5));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int round = 0; round < 400 && !stop; ++round) {
      std::vector<upsert_item> items;
      for (int i = 0; i < 512; ++i)  // fresh ids: holding the shard is the point
        items.push_back({"w" + std::to_string(round) + "-" + std::to_string(i),
                         {1000.0f + float(i), float(round)},
                         ""});
      ASSERT_TRUE(idx->upsert_batch(std::move(items)));
    }
  });
  std::size_t partial = 0;
  for (int round = 0; round < 300; ++round) {
    auto out = board.try_search_batch(b);
    ASSERT_TRUE(out);
    partial += out->done < b.queries.size() ? 1 : 0;
    ASSERT_TRUE(out->reply) << out->reply.error().message;
    ASSERT_EQ(out->reply->results.size(), out->done);
    for (std::size_t i = 0; i < out->done; ++i) {
      ASSERT_EQ(out->reply->results[i].size(), 1u);
      EXPECT_EQ(out->reply->results[i][0].id, "k" + std::to_string(i * 5));
    }
  }
  stop = true;
  writer.join();
  RecordProperty("partial_batches", static_cast<int>(partial));
}

}  // namespace
}  // namespace quiver
