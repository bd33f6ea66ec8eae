// Filtered search, count and ids by filter on one shard, against brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

#include "actors/index/detail/hnsw_graph.hpp"
#include "actors/index/shard_index.hpp"
#include "common/body_codec.hpp"

namespace quiver {
namespace {

constexpr std::uint32_t dim = 16;

metadata_filter filter(const std::string& json) {
  auto q = parse_search(body_format::json, R"({"vector":[1],"filter":)" + json + "}");
  EXPECT_TRUE(q) << (q ? "" : q.error().message);
  return q->options.filter;
}

std::vector<float> random_vector(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(dim);
  for (auto& x : v) x = u(rng);
  return v;
}

// n points; point i has {"g": i % 100, "tag": "t<i % 10>"} (no metadata for i % 97 == 0).
struct corpus {
  explicit corpus(std::size_t n) : index(params()) {
    std::mt19937 rng(7);
    std::vector<upsert_item> items;
    for (std::size_t i = 0; i < n; ++i) {
      auto id = "p" + std::to_string(i);
      auto meta = i % 97 == 0 ? std::string()
                              : R"({"g":)" + std::to_string(i % 100) + R"(,"tag":"t)" +
                                    std::to_string(i % 10) + R"("})";
      vectors.push_back(random_vector(rng));
      metas.push_back(meta);
      items.push_back({id, vectors.back(), meta});
    }
    EXPECT_TRUE(index.upsert_batch(std::move(items)));
  }
  static index_params params() {
    index_params p;
    p.name = "f";
    p.dimension = dim;
    p.distance = distance_kind::euclidean;
    return p;
  }
  // The k nearest of the points the filter matches, by brute force.
  std::vector<std::string> exact(const std::vector<float>& q, const metadata_filter& f,
                                 std::size_t k, const std::set<std::string>& excluded = {}) {
    filter_matcher m(f);
    std::vector<std::pair<float, std::string>> all;
    for (std::size_t i = 0; i < vectors.size(); ++i) {
      auto id = "p" + std::to_string(i);
      if (excluded.count(id) || !m.matches(metas[i])) continue;
      float d = 0;
      for (std::uint32_t j = 0; j < dim; ++j) d += (q[j] - vectors[i][j]) * (q[j] - vectors[i][j]);
      all.emplace_back(d, id);
    }
    std::sort(all.begin(), all.end());
    std::vector<std::string> out;
    for (std::size_t i = 0; i < std::min(k, all.size()); ++i) out.push_back(all[i].second);
    return out;
  }
  shard_index index;
  std::vector<std::vector<float>> vectors;
  std::vector<std::string> metas;
};

std::vector<std::string> search_ids(const shard_index& idx, const std::vector<float>& q,
                                    search_options o) {
  auto hits = idx.search(q, o);
  EXPECT_TRUE(hits) << (hits ? "" : hits.error().message);
  std::vector<std::string> out;
  for (const auto& h : *hits) out.push_back(h.id);
  return out;
}

TEST(ShardIndexFilter, ASelectiveFilterStillReturnsKAndTheyAreTheExactNearest) {
  corpus c(5000);
  std::mt19937 rng(1);
  search_options o;
  o.k = 10;
  o.filter = filter(R"({"must":[{"key":"g","match":7}]})");  // 1%: 50 points
  for (int q = 0; q < 20; ++q) {
    auto query = random_vector(rng);
    auto got = search_ids(c.index, query, o);
    EXPECT_EQ(got, c.exact(query, o.filter, 10)) << "query " << q;
  }
}

TEST(ShardIndexFilter, ABroadFilterReturnsKMatchesWithHighRecall) {
  corpus c(5000);
  std::mt19937 rng(2);
  search_options o;
  o.k = 10;
  o.filter = filter(R"({"must":[{"key":"tag","in":["t1","t3","t5","t7","t9"]}]})");  // ~50%
  std::size_t found = 0, total = 0;
  for (int q = 0; q < 30; ++q) {
    auto query = random_vector(rng);
    auto got = search_ids(c.index, query, o);
    ASSERT_EQ(got.size(), 10u);
    for (const auto& id : got) {
      auto i = std::stoul(id.substr(1));
      EXPECT_TRUE(filter_matcher(o.filter).matches(c.metas[i])) << id;
    }
    auto want = c.exact(query, o.filter, 10);
    std::set<std::string> truth(want.begin(), want.end());
    for (const auto& id : got) found += truth.count(id);
    total += want.size();
  }
  EXPECT_GE(double(found) / double(total), 0.9);
}

TEST(ShardIndexFilter, FewerThanKOnlyWhenFewerMatch) {
  corpus c(3000);
  std::mt19937 rng(3);
  search_options o;
  o.k = 10;
  // g == 42 and tag t2: i % 100 == 42 -> i % 10 == 2 always: 30 points; t3 never.
  o.filter = filter(R"({"must":[{"key":"g","match":42},{"key":"tag","match":"t3"}]})");
  EXPECT_TRUE(search_ids(c.index, random_vector(rng), o).empty());
  o.filter = filter(R"({"must":[{"key":"g","range":{"gte":42,"lte":42}}],)"
                    R"("must_not":[{"key":"tag","match":"t3"}]})");
  auto query = random_vector(rng);
  EXPECT_EQ(search_ids(c.index, query, o), c.exact(query, o.filter, 10));
  // Points without metadata match only exists: false (31 of 3000: i % 97 == 0).
  o.k = 100;
  o.filter = filter(R"({"must":[{"key":"g","exists":false}]})");
  EXPECT_EQ(search_ids(c.index, query, o).size(), 31u);
}

TEST(ShardIndexFilter, CombinesWithExcludeIds) {
  corpus c(3000);
  std::mt19937 rng(4);
  search_options o;
  o.k = 5;
  o.filter = filter(R"({"must":[{"key":"g","in":[3,4]}]})");
  auto query = random_vector(rng);
  auto first = search_ids(c.index, query, o);
  ASSERT_EQ(first.size(), 5u);
  o.exclude_ids = {first[0], first[2]};
  std::set<std::string> excluded(o.exclude_ids.begin(), o.exclude_ids.end());
  EXPECT_EQ(search_ids(c.index, query, o), c.exact(query, o.filter, 5, excluded));
}

TEST(ShardIndexFilter, CountAndIdsFollowWritesDeletesAndMetadataChanges) {
  corpus c(2000);
  auto seven = filter(R"({"must":[{"key":"g","match":7}]})");
  EXPECT_EQ(c.index.count_matching(seven), 20u);
  EXPECT_EQ(c.index.count_matching(metadata_filter{}), 2000u);
  auto ids = c.index.ids_matching(seven);
  ASSERT_EQ(ids.size(), 20u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_TRUE(c.index.remove("p7"));
  // Absent metadata keeps what is stored; {} clears it.
  ASSERT_TRUE(c.index.upsert({"p107", c.vectors[107], ""}));
  ASSERT_TRUE(c.index.upsert({"p207", c.vectors[207], "{}"}));
  ASSERT_TRUE(c.index.upsert({"p1", c.vectors[1], R"({"g":7})"}));
  EXPECT_EQ(c.index.count_matching(seven), 19u);
  ids = c.index.ids_matching(seven);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "p7"), 0);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "p107"), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "p207"), 0);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "p1"), 1);
  // A deleted point is never a result.
  search_options o;
  o.k = 100;
  o.filter = seven;
  auto got = search_ids(c.index, c.vectors[7], o);
  EXPECT_EQ(got.size(), 19u);
  EXPECT_EQ(std::count(got.begin(), got.end(), "p7"), 0);
}

TEST(ShardIndexFilter, AMalformedFilterFromTheWireIsRefused) {
  corpus c(100);
  search_options o;
  o.filter = filter(R"({"must":[{"key":"g","match":7}]})");
  o.filter.nodes[0].must.push_back(5);
  auto hits = c.index.search(c.vectors[0], o);
  ASSERT_FALSE(hits);
  EXPECT_EQ(hits.error().code, errc::invalid_argument);
}

// The graph walk itself: only accepted points, k of them while k are reachable.
TEST(HnswGraphFilter, TheWalkReturnsOnlyAcceptedPointsAndGoesOnThroughOthers) {
  detail::hnsw_graph g(distance_kind::euclidean, dim, 16, 100, 4000, 1.0f);
  std::mt19937 rng(5);
  std::vector<std::vector<float>> v;
  for (std::size_t i = 0; i < 4000; ++i) {
    v.push_back(random_vector(rng));
    ASSERT_TRUE(g.add(i, v.back().data()).ok());
  }
  ASSERT_FALSE(g.is_flat());
  std::size_t found = 0;
  for (int q = 0; q < 20; ++q) {
    auto query = random_vector(rng);
    auto even = [](detail::hnsw_label l) { return l % 2 == 0; };
    auto got = g.search_filtered(query.data(), 10, 64, even);
    ASSERT_EQ(got.size(), 10u);
    auto truth = g.exact(query.data(), 10, [&](detail::hnsw_label l) { return !even(l); });
    std::set<detail::hnsw_label> t;
    for (auto& h : truth) t.insert(h.second);
    for (auto& h : got) {
      EXPECT_TRUE(even(h.second));
      found += t.count(h.second);
    }
  }
  EXPECT_GE(found, 180u);
  // One accepted point among 4,000: the walk crosses the graph to it.
  auto one =
      g.search_filtered(v[1234].data(), 10, 16, [](detail::hnsw_label l) { return l == 3999; });
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].second, 3999u);
  EXPECT_TRUE(
      g.search_filtered(v[0].data(), 10, 16, [](detail::hnsw_label) { return false; }).empty());
  ASSERT_TRUE(g.mark_deleted(3999).ok());
  EXPECT_TRUE(g.search_filtered(v[0].data(), 10, 16, [](detail::hnsw_label l) {
                 return l == 3999;
               }).empty());
}

}  // namespace
}  // namespace quiver
