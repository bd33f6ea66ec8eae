// Filtered search, count and ids by filter on one shard, against brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>

#include "actors/index/detail/hnsw_graph.hpp"
#include "actors/index/shard_index.hpp"
#include "common/body_codec.hpp"
#include "common/env.hpp"
#include "common/log_record.hpp"

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

// Random metadata whose fields take every shape a column meets: the indexed
// type, another type, arrays, null, absent.
std::string random_metadata(std::mt19937& rng) {
  auto pick = [&](int n) { return int(rng() % n); };
  std::vector<std::string> fields;
  switch (pick(7)) {
    case 0:
      break;
    case 1:
      fields.push_back(R"("k":null)");
      break;
    case 2:
      fields.push_back(R"("k":3)");
      break;
    case 3:
      fields.push_back(R"("k":["a","c"])");
      break;
    case 4:
      fields.push_back(R"("k":["b",1])");
      break;
    default:
      fields.push_back(R"("k":")" + std::string(1, char('a' + pick(4))) + "\"");
  }
  switch (pick(7)) {
    case 0:
      break;
    case 1:
      fields.push_back(R"("i":"7")");
      break;
    case 2:
      fields.push_back(R"("i":2.5)");
      break;
    case 3:
      fields.push_back(R"("i":18446744073709551615)");
      break;
    case 4:
      fields.push_back(R"("i":[1,2])");
      break;
    default:
      fields.push_back(R"("i":)" + std::to_string(pick(10) - 3));
  }
  switch (pick(5)) {
    case 0:
      break;
    case 1:
      fields.push_back(R"("f":true)");
      break;
    case 2:
      fields.push_back(R"("f":)" + std::to_string(pick(10)));
      break;
    default:
      fields.push_back(R"("f":)" + std::to_string(pick(100) / 10.0));
  }
  switch (pick(4)) {
    case 0:
      break;
    case 1:
      fields.push_back(R"("b":"yes")");
      break;
    default:
      fields.push_back(pick(2) ? R"("b":true)" : R"("b":false)");
  }
  std::string out = "{";
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + fields[i];
  return out + "}";
}

// A random condition on one of the fields, of every operator.
std::string random_condition(std::mt19937& rng) {
  auto pick = [&](int n) { return int(rng() % n); };
  const char* keys[] = {"k", "i", "f", "b", "absent"};
  std::string key = std::string(R"({"key":")") + keys[pick(5)] + "\",";
  switch (pick(9)) {
    case 0:
      return key + R"("match":")" + std::string(1, char('a' + pick(5))) + "\"}";
    case 1:
      return key + R"("match":)" + std::to_string(pick(10) - 3) + "}";
    case 2:
      return key + (pick(2) ? R"("match":true})" : R"("match":false})");
    case 3:
      return key + R"("in":["a","c",3,)" + std::to_string(pick(10)) + "]}";
    case 4:
      return key + R"("range":{"gte":)" + std::to_string(pick(8) - 2) + R"(,"lt":)" +
             std::to_string(pick(8) + 2) + "}}";
    case 5:
      return key + R"("range":{"gt":2.4}})";
    case 6:
      return key + R"("contains":")" + std::string(1, char('a' + pick(3))) + "\"}";
    case 7:
      return key + R"("contains":1})";
    default:
      return key + (pick(2) ? R"("exists":true})" : R"("exists":false})");
  }
}

std::string random_filter(std::mt19937& rng) {
  auto list = [&](int n) {
    std::string out = "[";
    for (int i = 0; i < n; ++i) out += (i ? "," : "") + random_condition(rng);
    return out + "]";
  };
  return R"({"must":)" + list(1 + int(rng() % 2)) + R"(,"should":)" + list(int(rng() % 3)) +
         R"(,"must_not":)" + list(int(rng() % 2)) + "}";
}

// Payload indexes never change an answer: counts, ids and searches with every
// field indexed equal those without, and a brute-force model, under churn.
TEST(PayloadIndex, ColumnsAnswerAsTheMetadataDoesUnderChurn) {
  std::mt19937 rng(11);
  shard_index plain(corpus::params()), indexed(corpus::params());
  ASSERT_TRUE(indexed.set_field_index({"k", field_type::keyword}));
  ASSERT_FALSE(indexed.set_field_index({"k", field_type::keyword}));  // so already
  ASSERT_TRUE(indexed.set_field_index({"i", field_type::integer}));
  std::map<std::string, std::string> model;  // id -> metadata
  auto check = [&](const char* when) {
    for (int q = 0; q < 40; ++q) {
      auto f = filter(random_filter(rng));
      filter_matcher m(f);
      std::vector<std::string> want;
      for (auto& [id, meta] : model)
        if (m.matches(meta)) want.push_back(id);
      ASSERT_EQ(plain.ids_matching(f), want) << when << " " << q;
      ASSERT_EQ(indexed.ids_matching(f), want) << when << " " << q;
      ASSERT_EQ(indexed.count_matching(f), want.size());
      search_options o;
      o.k = 7;
      o.filter = f;
      auto query = random_vector(rng);
      ASSERT_EQ(search_ids(indexed, query, o), search_ids(plain, query, o)) << when;
    }
  };
  for (int round = 0; round < 6; ++round) {
    std::vector<upsert_item> items;
    for (int i = 0; i < 400; ++i) {
      auto id = "v" + std::to_string(rng() % 700);
      // Absent metadata keeps what is stored; "{}" clears it.
      auto meta = rng() % 6 == 0 ? std::string() : rng() % 7 == 0 ? "{}" : random_metadata(rng);
      auto v = random_vector(rng);
      ASSERT_TRUE(plain.upsert({id, v, meta}));
      ASSERT_TRUE(indexed.upsert({id, v, meta}));
      if (!meta.empty() || !model.count(id)) model[id] = meta;
    }
    for (int i = 0; i < 60; ++i) {
      auto id = "v" + std::to_string(rng() % 700);
      EXPECT_EQ(plain.remove(id), indexed.remove(id));
      model.erase(id);
    }
    if (round == 2) {
      // Indexes added over data, retyped and dropped.
      ASSERT_TRUE(indexed.set_field_index({"f", field_type::floating}));
      ASSERT_TRUE(indexed.set_field_index({"b", field_type::boolean}));
      ASSERT_TRUE(indexed.set_field_index({"i", field_type::floating}));
    }
    if (round == 4) {
      ASSERT_TRUE(indexed.set_field_index({"i", field_type::integer}));
    }
    check("round");
  }
  EXPECT_EQ((indexed.field_indexes()), (std::vector<field_def>{{"b", field_type::boolean},
                                                               {"f", field_type::floating},
                                                               {"i", field_type::integer},
                                                               {"k", field_type::keyword}}));
  EXPECT_TRUE(indexed.drop_field_index("b"));
  EXPECT_FALSE(indexed.drop_field_index("b"));
  check("after a drop");
  EXPECT_GT(indexed.memory_bytes(), plain.memory_bytes());
}

TEST(PayloadIndex, LoggedRecordsSetAndDropIndexesAndSnapshotsKeepThem) {
  corpus c(1500);
  std::vector<log_record> records(3);
  records[0].type = log_record_type::set_field_index;
  records[0].id = "tag";
  records[0].metadata = "keyword";
  records[0].seq = seq_no{c.index.applied_seq().value + 1};
  records[1].type = log_record_type::set_field_index;
  records[1].id = "g";
  records[1].metadata = "integer";
  records[1].seq = seq_no{records[0].seq.value + 1};
  records[2].type = log_record_type::upsert;
  records[2].id = "p1";
  records[2].vector = c.vectors[1];
  records[2].metadata = R"({"g":7,"tag":"t7"})";
  records[2].seq = seq_no{records[1].seq.value + 1};
  ASSERT_TRUE(c.index.apply_logged(std::vector<log_record>(records)));
  EXPECT_EQ(c.index.applied_seq(), records[2].seq);
  EXPECT_EQ(c.index.field_indexes(),
            (std::vector<field_def>{{"g", field_type::integer}, {"tag", field_type::keyword}}));
  auto seven = filter(R"({"must":[{"key":"g","match":7},{"key":"tag","in":["t7"]}]})");
  EXPECT_EQ(c.index.count_matching(seven), 16u);  // i % 100 == 7: 15 points, and p1

  char tmpl[] = "/tmp/quiver-payload-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto path = dir + "/snap";
  ASSERT_TRUE(c.index.save_snapshot(env::posix(), path).ok());
  auto restored = shard_index::load_snapshot(env::posix(), path);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ((*restored)->field_indexes(), c.index.field_indexes());
  EXPECT_EQ((*restored)->count_matching(seven), 16u);
  EXPECT_EQ((*restored)->ids_matching(seven), c.index.ids_matching(seven));

  log_record drop;
  drop.type = log_record_type::drop_field_index;
  drop.id = "tag";
  drop.seq = seq_no{records[2].seq.value + 1};
  ASSERT_TRUE(c.index.apply_logged({drop}));
  EXPECT_EQ(c.index.field_indexes(), (std::vector<field_def>{{"g", field_type::integer}}));
  EXPECT_EQ(c.index.count_matching(seven), 16u);
  log_record bad = drop;
  bad.type = log_record_type::set_field_index;
  bad.metadata = "text";
  bad.seq = seq_no{drop.seq.value + 1};
  EXPECT_FALSE(c.index.apply_logged({bad}));
}

// The graph walks themselves: only accepted points, nearly the exact ones. Labels
// are sparse and out of order, so they differ from hnswlib's internal ids.
TEST(HnswGraphFilter, BothWalksReturnOnlyAcceptedPointsNearlyTheExactOnes) {
  using walk = detail::hnsw_graph::filter_walk;
  detail::hnsw_graph g(distance_kind::euclidean, dim, 16, 100, 4000, 1.0f);
  std::mt19937 rng(5);
  std::vector<std::vector<float>> v;
  auto label_of = [](std::size_t i) { return (4000 - i) * 7 + 3; };
  for (std::size_t i = 0; i < 4000; ++i) {
    v.push_back(random_vector(rng));
    ASSERT_TRUE(g.add(label_of(i), v.back().data()).ok());
  }
  ASSERT_FALSE(g.is_flat());
  auto even = [](detail::hnsw_label l) { return (l / 7) % 2 == 0; };
  auto tenth = [](detail::hnsw_label l) { return (l / 7) % 10 == 3; };
  for (auto mode : {walk::through, walk::bridged}) {
    for (const auto& accept : std::vector<std::function<bool(detail::hnsw_label)>>{even, tenth}) {
      std::size_t found = 0;
      for (int q = 0; q < 20; ++q) {
        auto query = random_vector(rng);
        auto got = g.search_filtered(query.data(), 10, 64, accept, mode);
        ASSERT_EQ(got.size(), 10u);
        auto truth = g.exact(query.data(), 10, [&](detail::hnsw_label l) { return !accept(l); });
        std::set<detail::hnsw_label> t;
        for (auto& h : truth) t.insert(h.second);
        for (std::size_t i = 0; i < got.size(); ++i) {
          EXPECT_TRUE(accept(got[i].second));
          if (i > 0) {
            EXPECT_LE(got[i - 1].first, got[i].first);
          }
          found += t.count(got[i].second);
        }
      }
      EXPECT_GE(found, 180u) << (mode == walk::bridged ? "bridged" : "through");
    }
    EXPECT_TRUE(g.search_filtered(
                     v[0].data(), 10, 16, [](detail::hnsw_label) { return false; }, mode)
                    .empty());
  }
  // One accepted point among 4,000: walking through the others crosses the graph.
  auto last = label_of(3999);
  auto only_last = [last](detail::hnsw_label l) { return l == last; };
  auto one = g.search_filtered(v[1234].data(), 10, 16, only_last, walk::through);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].second, last);
  // A deleted point is never returned, even by an accept() that does not know.
  auto near = g.search_filtered(v[3999].data(), 1, 16, even, walk::bridged);
  ASSERT_EQ(near.size(), 1u);
  ASSERT_TRUE(g.mark_deleted(near[0].second).ok());
  for (auto mode : {walk::through, walk::bridged}) {
    auto got = g.search_filtered(v[3999].data(), 10, 64, even, mode);
    for (auto& h : got) EXPECT_NE(h.second, near[0].second);
  }
  ASSERT_TRUE(g.mark_deleted(last).ok());
  EXPECT_TRUE(g.search_filtered(v[0].data(), 10, 16, only_last, walk::through).empty());
}

}  // namespace
}  // namespace quiver
