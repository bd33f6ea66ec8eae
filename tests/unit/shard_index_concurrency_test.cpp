#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "actors/index/shard_index.hpp"

namespace quiver {
namespace {

// One writer (as the index actor) and several readers (as the reader pool) on
// plain threads, so that ThreadSanitizer sees shard_index's own synchronization
// with no actor runtime in between.
TEST(ShardIndexConcurrency, ReadersRunDuringWritesAndSeeConsistentState) {
  index_params p;
  p.name = "c";
  p.dimension = 16;
  p.distance = distance_kind::cosine;
  p.m = 8;
  p.ef_construction = 64;
  shard_index_options o;
  o.initial_capacity = 4;  // force several resizes while readers run
  o.batch_section = 32;
  shard_index idx(p, o);

  std::atomic<bool> done{false};
  std::atomic<int> reader_failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(100 + r);
      std::normal_distribution<float> g;
      search_options so;
      so.k = 5;
      so.include_vectors = true;
      while (!done) {
        std::vector<float> q(16);
        for (auto& x : q) x = g(rng);
        auto hits = idx.search(q, so);
        if (!hits) {
          ++reader_failures;
          continue;
        }
        for (std::size_t i = 1; i < hits->size(); ++i)
          if ((*hits)[i - 1].distance > (*hits)[i].distance) ++reader_failures;
        for (const auto& h : *hits)
          if (h.vector.size() != 16 || h.id.empty()) ++reader_failures;
        idx.get("w" + std::to_string(rng() % 500));
        idx.ids_after("w1", 10);
        idx.count();
      }
    });
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  for (int round = 0; round < 30; ++round) {
    std::vector<upsert_item> batch;
    for (int i = 0; i < 100; ++i) {
      std::vector<float> v(16);
      for (auto& x : v) x = g(rng);
      batch.push_back(
          {"w" + std::to_string(rng() % 500), v, R"({"r":)" + std::to_string(round) + "}"});
    }
    ASSERT_TRUE(idx.upsert_batch(batch));
    std::vector<std::string> gone;
    for (int i = 0; i < 30; ++i) gone.push_back("w" + std::to_string(rng() % 500));
    idx.remove_batch(gone);
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(reader_failures.load(), 0);
  EXPECT_GT(idx.count(), 0u);
}

}  // namespace
}  // namespace quiver
