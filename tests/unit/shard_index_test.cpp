#include "actors/index/shard_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

namespace quiver {
namespace {

index_params params(std::uint32_t dim, distance_kind d = distance_kind::cosine) {
  index_params p;
  p.name = "t";
  p.dimension = dim;
  p.distance = d;
  return p;
}

upsert_item item(std::string id, std::vector<float> v, std::string meta = "") {
  return upsert_item{std::move(id), std::move(v), std::move(meta)};
}

std::vector<std::string> ids_of(const std::vector<search_hit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.id);
  return out;
}

std::vector<std::string> all_ids(const shard_index& idx) {
  std::vector<std::string> out;
  std::string after;
  for (;;) {
    auto page = idx.ids_after(after, 7);
    out.insert(out.end(), page.ids.begin(), page.ids.end());
    if (!page.more) break;
    after = page.ids.back();
  }
  return out;
}

search_options top(std::uint32_t k) {
  search_options o;
  o.k = k;
  return o;
}

TEST(ShardIndex, ReaddOfExistingIdReplacesVector) {
  shard_index idx(params(2, distance_kind::euclidean));
  ASSERT_TRUE(idx.upsert(item("a", {1, 0})));
  ASSERT_TRUE(idx.upsert(item("b", {0, 1})));
  ASSERT_TRUE(idx.upsert(item("a", {5, 5})));
  EXPECT_EQ(idx.count(), 2u);
  EXPECT_EQ(idx.get("a")->vector, (std::vector<float>{5, 5}));
  auto hits = idx.search({5, 5}, top(1));
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].id, "a");
  EXPECT_FLOAT_EQ((*hits)[0].distance, 0);
}

TEST(ShardIndex, ReaddOfOnlyIdReplacesVector) {
  shard_index idx(params(3));
  ASSERT_TRUE(idx.upsert(item("only", {1, 0, 0})));
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(idx.upsert(item("only", {0, static_cast<float>(i + 1), 0})));
  EXPECT_EQ(idx.count(), 1u);
  auto hits = idx.search({0, 1, 0}, top(5));
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_NEAR((*hits)[0].distance, 0, 1e-6);
  EXPECT_NEAR(idx.get("only")->vector[1], 50, 1e-4);
}

TEST(ShardIndex, DeleteOfLastIdThenAdd) {
  shard_index idx(params(2));
  ASSERT_TRUE(idx.upsert(item("x", {1, 1})));
  EXPECT_TRUE(idx.remove("x"));
  EXPECT_EQ(idx.count(), 0u);
  EXPECT_TRUE(idx.search({1, 1}, top(3))->empty());
  ASSERT_TRUE(idx.upsert(item("y", {1, 2})));
  auto hits = idx.search({1, 2}, top(3));
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].id, "y");
  EXPECT_FALSE(idx.get("x"));
}

TEST(ShardIndex, AddAfterDeletingEverythingReusesLabels) {
  shard_index idx(params(4, distance_kind::euclidean));
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(idx.upsert(item("r" + std::to_string(round) + "-" + std::to_string(i),
                                  {float(i), float(round), 1, 2})));
    EXPECT_EQ(idx.count(), 20u);
    auto hits = idx.search({3, float(round), 1, 2}, top(20));
    ASSERT_EQ(hits->size(), 20u);
    EXPECT_EQ((*hits)[0].id, "r" + std::to_string(round) + "-3");
    for (int i = 0; i < 20; ++i)
      EXPECT_TRUE(idx.remove("r" + std::to_string(round) + "-" + std::to_string(i)));
    EXPECT_EQ(idx.count(), 0u);
  }
  // Five rounds of 20 reused the first 20 labels: capacity never had to grow past them.
  EXPECT_LT(idx.memory_bytes(), shard_index(params(4)).memory_bytes() + (1u << 22));
}

TEST(ShardIndex, DeleteReturnsWhetherItExisted) {
  shard_index idx(params(2));
  ASSERT_TRUE(idx.upsert(item("a", {1, 0})));
  EXPECT_TRUE(idx.remove("a"));
  EXPECT_FALSE(idx.remove("a"));  // double delete: hnswlib would throw, we answer false
  EXPECT_FALSE(idx.remove("never"));
  EXPECT_EQ(idx.remove_batch({"a", "b"}), 0u);
}

TEST(ShardIndex, DuplicateIdsInsideBatchLastWins) {
  shard_index idx(params(2, distance_kind::euclidean));
  std::vector<upsert_item> batch{item("d", {1, 1}, R"({"v":1})"), item("e", {2, 2}),
                                 item("d", {3, 3}, R"({"v":2})"), item("d", {4, 4})};
  ASSERT_TRUE(idx.upsert_batch(batch));
  EXPECT_EQ(idx.count(), 2u);
  auto d = idx.get("d");
  EXPECT_EQ(d->vector, (std::vector<float>{4, 4}));
  // The last occurrence has no metadata, so the metadata of the previous occurrences
  // is not applied either: the last item alone is the write.
  EXPECT_EQ(d->metadata, "");
}

TEST(ShardIndex, MetadataAbsentKeepsAndEmptyObjectClears) {
  shard_index idx(params(2));
  ASSERT_TRUE(idx.upsert(item("m", {1, 0}, R"({"a":1})")));
  ASSERT_TRUE(idx.upsert(item("m", {0, 1})));
  EXPECT_EQ(idx.get("m")->metadata, R"({"a":1})");
  ASSERT_TRUE(idx.upsert(item("m", {0, 1}, "{}")));
  EXPECT_EQ(idx.get("m")->metadata, "{}");
  ASSERT_TRUE(idx.upsert(item("n", {1, 1})));
  EXPECT_EQ(idx.get("n")->metadata, "");  // never set: null on the wire
}

TEST(ShardIndex, ReusedLabelDoesNotInheritMetadata) {
  shard_index idx(params(2));
  ASSERT_TRUE(idx.upsert(item("old", {1, 0}, R"({"secret":true})")));
  ASSERT_TRUE(idx.remove("old"));
  ASSERT_TRUE(idx.upsert(item("new", {0, 1})));
  EXPECT_EQ(idx.get("new")->metadata, "");
}

TEST(ShardIndex, IdsIncludeMetadataLessItems) {
  shard_index idx(params(2));
  ASSERT_TRUE(idx.upsert(item("with", {1, 0}, R"({"x":1})")));
  ASSERT_TRUE(idx.upsert(item("without", {0, 1})));
  ASSERT_TRUE(idx.upsert(item("cleared", {1, 1}, "{}")));
  EXPECT_EQ(all_ids(idx), (std::vector<std::string>{"cleared", "with", "without"}));
}

TEST(ShardIndex, RejectsNonFiniteAndZeroVectors) {
  shard_index idx(params(3));
  auto nan = std::nanf("");
  auto inf = std::numeric_limits<float>::infinity();
  auto r1 = idx.upsert(item("a", {1, nan, 0}));
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, errc::non_finite_vector);
  EXPECT_EQ(r1.error().details, (error_details{{"component", 1}, {"index", 0}}));
  EXPECT_EQ(idx.upsert(item("a", {-inf, 0, 0})).error().code, errc::non_finite_vector);
  EXPECT_EQ(idx.upsert(item("a", {0, 0, 0})).error().code, errc::zero_vector);
  EXPECT_EQ(idx.count(), 0u);
  // The zero vector is fine where it has a meaning.
  shard_index l2(params(3, distance_kind::euclidean));
  EXPECT_TRUE(l2.upsert(item("z", {0, 0, 0})));
  EXPECT_EQ(l2.search({0, 0, 0}, top(1))->size(), 1u);
}

TEST(ShardIndex, RejectsDimensionMismatchAndBadIds) {
  shard_index idx(params(3));
  auto r = idx.upsert(item("a", {1, 2}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::dimension_mismatch);
  EXPECT_EQ(r.error().details, (error_details{{"expected", 3}, {"got", 2}, {"index", 0}}));
  EXPECT_EQ(idx.upsert(item("", {1, 2, 3})).error().code, errc::invalid_argument);
  EXPECT_EQ(idx.upsert(item(std::string(257, 'x'), {1, 2, 3})).error().code,
            errc::invalid_argument);
  EXPECT_EQ(idx.upsert(item("\xff\xfe", {1, 2, 3})).error().code, errc::invalid_argument);
  EXPECT_EQ(idx.search({1, 2}, top(1)).error().code, errc::dimension_mismatch);
  EXPECT_EQ(idx.count(), 0u);
}

TEST(ShardIndex, BadItemRejectsWholeBatch) {
  shard_index idx(params(2));
  ASSERT_TRUE(idx.upsert(item("keep", {1, 0}, R"({"k":1})")));
  std::vector<upsert_item> batch{item("keep", {0, 1}, "{}"), item("n1", {1, 1}),
                                 item("n2", {0, 0})};
  auto r = idx.upsert_batch(batch);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::zero_vector);
  EXPECT_EQ(r.error().details, (error_details{{"index", 2}}));
  EXPECT_EQ(idx.count(), 1u);
  EXPECT_EQ(idx.get("keep")->metadata, R"({"k":1})");
  EXPECT_NEAR(idx.get("keep")->vector[0], 1, 1e-6);
}

TEST(ShardIndex, RejectsKOutOfRange) {
  shard_index idx(params(2));
  ASSERT_TRUE(idx.upsert(item("a", {1, 0})));
  EXPECT_EQ(idx.search({1, 0}, top(0)).error().code, errc::invalid_argument);
  EXPECT_EQ(idx.search({1, 0}, top(100000)).error().code, errc::invalid_argument);
}

TEST(ShardIndex, KLargerThanCountReturnsEverything) {
  shard_index idx(params(2, distance_kind::euclidean));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(idx.upsert(item(std::to_string(i), {float(i), 0})));
  auto hits = idx.search({0, 0}, top(50));
  ASSERT_TRUE(hits);
  EXPECT_EQ(ids_of(*hits), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  for (std::size_t i = 0; i < hits->size(); ++i) EXPECT_FLOAT_EQ((*hits)[i].distance, float(i));
}

TEST(ShardIndex, ExcludeIdsCoveringMostOfTheIndex) {
  shard_index idx(params(8, distance_kind::euclidean));
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  for (int i = 0; i < 500; ++i) {
    std::vector<float> v(8);
    for (auto& x : v) x = g(rng);
    ASSERT_TRUE(idx.upsert(item("v" + std::to_string(i), v)));
  }
  search_options o = top(10);
  for (int i = 0; i < 495; ++i) o.exclude_ids.push_back("v" + std::to_string(i));
  o.exclude_ids.push_back("not-there");
  auto hits = idx.search(std::vector<float>(8, 0.5f), o);
  ASSERT_TRUE(hits);
  auto hit_ids = ids_of(*hits);
  std::set<std::string> got(hit_ids.begin(), hit_ids.end());
  EXPECT_EQ(got, (std::set<std::string>{"v495", "v496", "v497", "v498", "v499"}));
  // Excluding about half still yields k results, none excluded.
  o.exclude_ids.resize(250);
  hits = idx.search(std::vector<float>(8, 0.5f), o);
  ASSERT_EQ(hits->size(), 10u);
  for (const auto& h : *hits) EXPECT_GE(std::stoi(h.id.substr(1)), 250);
}

TEST(ShardIndex, LookupReturnsIndependentCopyOfVectorAsGiven) {
  shard_index idx(params(3));
  ASSERT_TRUE(idx.upsert(item("c", {3, 4, 0})));
  auto a = idx.get("c");
  ASSERT_TRUE(a);
  EXPECT_NEAR(a->vector[0], 3, 1e-5);  // cosine stores it normalized, gives it back as given
  EXPECT_NEAR(a->vector[1], 4, 1e-5);
  a->vector[0] = 100;
  EXPECT_NEAR(idx.get("c")->vector[0], 3, 1e-5);
  auto hits = idx.search({3, 4, 0}, [] {
    search_options o;
    o.k = 1;
    o.include_vectors = true;
    return o;
  }());
  EXPECT_NEAR((*hits)[0].vector[1], 4, 1e-5);
}

TEST(ShardIndex, DistancesFollowTheirDefinitions) {
  shard_index cos(params(2, distance_kind::cosine));
  shard_index l2(params(2, distance_kind::euclidean));
  shard_index dot(params(2, distance_kind::dot));
  for (auto* idx : {&cos, &l2, &dot}) ASSERT_TRUE(idx->upsert(item("p", {3, 4})));
  EXPECT_NEAR((*cos.search({4, 3}, top(1)))[0].distance, 1 - 24.0 / 25.0, 1e-6);
  EXPECT_NEAR((*l2.search({0, 0}, top(1)))[0].distance, 5, 1e-6);  // the norm, not its square
  EXPECT_NEAR((*dot.search({1, 2}, top(1)))[0].distance, -11, 1e-5);
}

TEST(ShardIndex, SearchHonoursPerQueryEf) {
  shard_index idx(params(16, distance_kind::euclidean));
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  std::vector<upsert_item> batch;
  for (int i = 0; i < 2000; ++i) {
    std::vector<float> v(16);
    for (auto& x : v) x = g(rng);
    batch.push_back(item(std::to_string(i), v));
  }
  ASSERT_TRUE(idx.upsert_batch(batch));
  search_options o = top(10);
  o.ef = 1;  // below k: the search still explores at least k candidates
  EXPECT_EQ(idx.search(batch[0].vector, o)->size(), 10u);
  o.ef = 10000;
  EXPECT_EQ((*idx.search(batch[0].vector, o))[0].id, "0");
  o.ef = 10001;
  EXPECT_EQ(idx.search(batch[0].vector, o).error().code, errc::invalid_argument);
}

TEST(ShardIndex, CapacityGrowsOnDemand) {
  shard_index_options opts;
  opts.initial_capacity = 1;
  shard_index idx(params(4, distance_kind::euclidean), opts);
  for (int i = 0; i < 300; ++i)
    ASSERT_TRUE(idx.upsert(item(std::to_string(i), {float(i), 1, 2, 3})));
  EXPECT_EQ(idx.count(), 300u);
  EXPECT_EQ((*idx.search({299, 1, 2, 3}, top(1)))[0].id, "299");
}

TEST(ShardIndex, SequenceNumbersCountAppliedMutations) {
  shard_index idx(params(2));
  EXPECT_EQ(idx.applied_seq().value, 0u);
  EXPECT_EQ(idx.upsert(item("a", {1, 0}))->value, 1u);
  auto batch = idx.upsert_batch({item("b", {1, 1}), item("c", {0, 1}), item("b", {1, 2})});
  EXPECT_EQ(batch->seq.value, 3u);
  EXPECT_EQ(batch->applied, 2u);
  EXPECT_TRUE(idx.remove("a"));
  EXPECT_FALSE(idx.remove("a"));
  EXPECT_EQ(idx.applied_seq().value, 4u);
}

// The seed's failure mode: sustained record/replace/delete on an index of 0-10 vectors,
// flat (the default for small shards) and on an hnswlib graph from the first point.
class SmallIndexChurn : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SmallIndexChurn, NeverBreaks) {
  shard_index_options opts;
  opts.flat_limit = GetParam();
  shard_index idx(params(8), opts);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> pick(0, 9), op(0, 3);
  std::normal_distribution<float> g;
  std::map<std::string, std::vector<float>> model;
  for (int step = 0; step < 5000; ++step) {
    auto id = "p" + std::to_string(pick(rng));
    std::vector<float> v(8);
    for (auto& x : v) x = g(rng);
    switch (op(rng)) {
      case 0:
      case 1:
        ASSERT_TRUE(idx.upsert(item(id, v)));
        model[id] = v;
        break;
      case 2:
        EXPECT_EQ(idx.remove(id), model.erase(id) == 1);
        break;
      default: {
        auto hits = idx.search(v, top(10));
        ASSERT_TRUE(hits);
        ASSERT_EQ(hits->size(), model.size());
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FlatAndGraph, SmallIndexChurn, ::testing::Values(1024u, 0u));

float l2(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// >= 100k mixed operations against a brute-force model.
TEST(ShardIndex, RandomizedChurnMatchesBruteForceModel) {
  constexpr int dim = 12;
  index_params p = params(dim, distance_kind::euclidean);
  p.m = 12;
  p.ef_construction = 100;
  shard_index idx(p);
  std::mt19937 rng(2024);
  std::normal_distribution<float> g;
  std::uniform_int_distribution<int> pick_id(0, 3999);
  std::uniform_int_distribution<int> pick_op(0, 99);
  std::map<std::string, std::vector<float>> model;
  auto random_vec = [&] {
    std::vector<float> v(dim);
    for (auto& x : v) x = g(rng);
    return v;
  };
  int searches = 0;
  for (int step = 0; step < 100000; ++step) {
    int op = pick_op(rng);
    auto id = "id-" + std::to_string(pick_id(rng));
    if (op < 50) {
      auto v = random_vec();
      ASSERT_TRUE(idx.upsert(item(id, v)));
      model[id] = v;
    } else if (op < 80) {
      ASSERT_EQ(idx.remove(id), model.erase(id) == 1) << id;
    } else if (op < 83) {
      std::vector<upsert_item> batch;
      for (int j = 0; j < 20; ++j)
        batch.push_back(item("id-" + std::to_string(pick_id(rng)), random_vec()));
      ASSERT_TRUE(idx.upsert_batch(batch));
      for (auto& it : batch) model[it.id] = it.vector;
    } else {
      ++searches;
      auto hits = idx.search(random_vec(), top(10));
      ASSERT_TRUE(hits);
      ASSERT_EQ(hits->size(), std::min<std::size_t>(10, model.size()));
      for (std::size_t j = 1; j < hits->size(); ++j)
        ASSERT_LE((*hits)[j - 1].distance, (*hits)[j].distance);
      for (const auto& h : *hits) ASSERT_TRUE(model.count(h.id)) << "deleted id returned: " << h.id;
    }
  }
  EXPECT_GT(searches, 10000);
  std::vector<std::string> expected_ids;
  for (const auto& [id, v] : model) expected_ids.push_back(id);
  ASSERT_EQ(all_ids(idx), expected_ids);
  for (const auto& [id, v] : model) ASSERT_EQ(idx.get(id)->vector, v) << id;

  std::size_t found = 0, total = 0;
  for (int q = 0; q < 300; ++q) {
    auto query = random_vec();
    std::vector<std::pair<float, std::string>> exact;
    for (const auto& [id, v] : model) exact.emplace_back(l2(query, v), id);
    std::partial_sort(exact.begin(), exact.begin() + 10, exact.end());
    std::set<std::string> truth;
    for (int j = 0; j < 10; ++j) truth.insert(exact[j].second);
    for (const auto& h : *idx.search(query, top(10))) found += truth.count(h.id);
    total += 10;
  }
  double recall = double(found) / double(total);
  EXPECT_GE(recall, 0.95) << "recall@10 after churn: " << recall;
}

}  // namespace
}  // namespace quiver
