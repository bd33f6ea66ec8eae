#include "actors/runtime/node_runtime.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/unit/fault_env.hpp"

namespace quiver {
namespace {

using namespace std::chrono_literals;

// Issues one call through the router client and waits for its reply, bounded.
template <class R, class Issue>
expected<R> sync(Issue&& issue) {
  auto p = std::make_shared<std::promise<expected<R>>>();
  auto f = p->get_future();
  issue([p](expected<R> r) { p->set_value(std::move(r)); });
  if (f.wait_for(30s) != std::future_status::ready)
    return make_status(errc::unavailable, "no reply within 30 s");
  return f.get();
}

class Runtime : public ::testing::Test {
 protected:
  static std::string temp_dir() {
    char tmpl[] = "/tmp/quiver-runtime-XXXXXX";
    return mkdtemp(tmpl);
  }
  static runtime_options options(const std::string& dir) {
    runtime_options o;
    o.actors.max_threads = 2;
    o.actors.search_workers = 2;
    o.request_timeout_ms = 20000;
    o.storage.data_dir = dir;
    return o;
  }
  static std::unique_ptr<node_runtime> start(const std::string& dir) {
    auto rt = node_runtime::start(options(dir));
    if (!rt) throw std::runtime_error(rt.error().message);
    return std::move(*rt);
  }
  ~Runtime() override {
    rt.reset();
    std::filesystem::remove_all(dir);
  }
  std::string dir = temp_dir();
  std::unique_ptr<node_runtime> rt = start(dir);
  tenant_id t = default_tenant();

  index_params params(const std::string& name, std::uint32_t dim, distance_kind d,
                      std::uint32_t shards = 1) {
    index_params p;
    p.name = name;
    p.dimension = dim;
    p.distance = d;
    p.shards = shards;
    return p;
  }
  expected<create_index_reply> create(index_params p) {
    return sync<create_index_reply>([&](auto done) {
      rt->client().create_index({t, std::move(p)}, done);
    });
  }
  expected<upsert_reply> upsert(const std::string& index, std::vector<upsert_item> items) {
    return sync<upsert_reply>([&](auto done) {
      rt->client().upsert({t, index, std::move(items)}, done);
    });
  }
  expected<delete_vectors_reply> remove(const std::string& index, std::vector<std::string> ids) {
    return sync<delete_vectors_reply>([&](auto done) {
      rt->client().delete_vectors({t, index, std::move(ids), {}}, done);
    });
  }
  expected<vector_record> get(const std::string& index, const std::string& id) {
    return sync<vector_record>([&](auto done) { rt->client().get_vector({t, index, id}, done); });
  }
  expected<search_reply> search(const std::string& index, std::vector<float> q, std::uint32_t k,
                                std::uint32_t ef = 0) {
    search_options o;
    o.k = k;
    o.ef = ef;
    return sync<search_reply>([&](auto done) {
      rt->client().search({t, index, std::move(q), o}, done);
    });
  }
  std::vector<std::string> all_ids(const std::string& index, std::uint32_t page_size = 3) {
    std::vector<std::string> out;
    std::string after;
    for (;;) {
      auto page = sync<id_page>([&](auto done) {
        rt->client().list_ids({t, index, after, page_size}, done);
      });
      EXPECT_TRUE(page);
      if (!page) return out;
      out.insert(out.end(), page->ids.begin(), page->ids.end());
      if (!page->more) return out;
      after = page->ids.back();
    }
  }
};

TEST_F(Runtime, SchedulerSettingsTakeEffect) { EXPECT_EQ(rt->scheduler_workers(), 2u); }

// The seed's failing pattern: many clients recording, replacing and deleting in an
// index of 0-10 vectors while searching it.
TEST_F(Runtime, PlaybookPatternManyConcurrentClients) {
  ASSERT_TRUE(create(params("playbook", 8, distance_kind::cosine)));
  constexpr int clients = 5, cycles = 2000, ids_per_client = 2;
  std::vector<std::map<std::string, std::vector<float>>> models(clients);
  std::vector<std::string> failures(clients);
  std::vector<std::thread> threads;
  for (int cl = 0; cl < clients; ++cl) {
    threads.emplace_back([&, cl] {
      std::mt19937 rng(cl);
      std::normal_distribution<float> g;
      auto& model = models[cl];
      auto fail = [&](const std::string& what) {
        if (failures[cl].empty()) failures[cl] = what;
      };
      for (int i = 0; i < cycles && failures[cl].empty(); ++i) {
        auto id = "c" + std::to_string(cl) + "-" + std::to_string(rng() % ids_per_client);
        std::vector<float> v(8);
        for (auto& x : v) x = g(rng);
        switch (rng() % 3) {
          case 0: {
            auto r = upsert("playbook", {{id, v, R"({"c":)" + std::to_string(cl) + "}"}});
            if (!r) return fail("upsert: " + r.error().message);
            model[id] = v;
            auto back = get("playbook", id);  // read-your-writes
            if (!back) return fail("get after upsert: " + back.error().message);
            for (int j = 0; j < 8; ++j)
              if (std::abs(back->vector[j] - v[j]) > 1e-4f)
                return fail("get returned another vector");
            break;
          }
          case 1: {
            auto r = remove("playbook", {id});
            if (!r) return fail("delete: " + r.error().message);
            if ((r->deleted == 1) != (model.erase(id) == 1))
              return fail("delete result disagrees with model");
            break;
          }
          default: {
            // k covers every possible live vector, so our own live ids must all be there.
            auto r = search("playbook", v, clients * ids_per_client);
            if (!r) return fail("search: " + r.error().message);
            std::set<std::string> got;
            for (auto& h : r->hits) got.insert(h.id);
            for (auto& [mine, vec] : model)
              if (!got.count(mine)) return fail("live id missing from search: " + mine);
            for (std::size_t j = 1; j < r->hits.size(); ++j)
              if (r->hits[j - 1].distance > r->hits[j].distance) return fail("unsorted results");
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int cl = 0; cl < clients; ++cl) EXPECT_EQ(failures[cl], "") << "client " << cl;
  std::vector<std::string> expected_ids;
  for (auto& m : models)
    for (auto& [id, v] : m) expected_ids.push_back(id);
  std::sort(expected_ids.begin(), expected_ids.end());
  EXPECT_EQ(all_ids("playbook"), expected_ids);
}

TEST_F(Runtime, ShardedIndexAnswersLikeBruteForce) {
  constexpr int dim = 16, n = 1500;
  ASSERT_TRUE(create(params("one", dim, distance_kind::euclidean, 1)));
  ASSERT_TRUE(create(params("four", dim, distance_kind::euclidean, 4)));
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  std::vector<upsert_item> items;
  for (int i = 0; i < n; ++i) {
    std::vector<float> v(dim);
    for (auto& x : v) x = g(rng);
    items.push_back({"v" + std::to_string(i), v, ""});
  }
  ASSERT_TRUE(upsert("one", items));
  ASSERT_TRUE(upsert("four", items));
  auto ids_one = all_ids("one", 400), ids_four = all_ids("four", 400);
  EXPECT_EQ(ids_one.size(), std::size_t(n));
  EXPECT_EQ(ids_one, ids_four);
  int exact_one = 0, exact_four = 0;
  for (int q = 0; q < 50; ++q) {
    std::vector<float> query(dim);
    for (auto& x : query) x = g(rng);
    std::vector<std::pair<float, std::string>> truth;
    for (auto& it : items) {
      float s = 0;
      for (int j = 0; j < dim; ++j) s += (query[j] - it.vector[j]) * (query[j] - it.vector[j]);
      truth.emplace_back(s, it.id);
    }
    std::partial_sort(truth.begin(), truth.begin() + 10, truth.end());
    std::vector<std::string> want;
    for (int j = 0; j < 10; ++j) want.push_back(truth[j].second);
    auto a = search("one", query, 10, 2000), b = search("four", query, 10, 2000);
    ASSERT_TRUE(a && b);
    std::vector<std::string> got_a, got_b;
    for (auto& h : a->hits) got_a.push_back(h.id);
    for (auto& h : b->hits) got_b.push_back(h.id);
    exact_one += got_a == want;
    exact_four += got_b == want;
    for (std::size_t j = 1; j < b->hits.size(); ++j)
      EXPECT_LE(b->hits[j - 1].distance, b->hits[j].distance);
  }
  // ef = 2000 over 1,500 points is an exhaustive search: answers must be exact.
  EXPECT_GE(exact_one, 49);
  EXPECT_GE(exact_four, 49);
}

TEST_F(Runtime, ErrorsCrossTheActorBoundaryWithCodes) {
  auto missing = upsert("nope", {{"a", {1, 2}, ""}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::index_not_found);
  ASSERT_TRUE(create(params("e", 2, distance_kind::cosine, 2)));
  auto exists = create(params("e", 3, distance_kind::cosine, 2));
  ASSERT_FALSE(exists);
  EXPECT_EQ(exists.error().code, errc::index_exists);
  auto again = create(params("e", 2, distance_kind::cosine, 2));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  auto bad = upsert("e", {{"a", {1, 2}, ""}, {"b", {1, 2, 3}, ""}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::dimension_mismatch);
  EXPECT_EQ(bad.error().details, (error_details{{"expected", 2}, {"got", 3}, {"index", 1}}));
  EXPECT_TRUE(all_ids("e").empty());  // the good item of the rejected batch was not applied
  auto nf = get("e", "a");
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error().code, errc::vector_not_found);
}

TEST_F(Runtime, DropForgetsIndexAndMergeCopiesEverything) {
  ASSERT_TRUE(create(params("src", 3, distance_kind::dot, 3)));
  ASSERT_TRUE(create(params("dst", 3, distance_kind::dot, 2)));
  ASSERT_TRUE(
      upsert("src", {{"a", {1, 0, 0}, R"({"m":1})"}, {"b", {0, 1, 0}, ""}, {"c", {0, 0, 1}, ""}}));
  ASSERT_TRUE(upsert("dst", {{"a", {5, 5, 5}, R"({"old":true})"}, {"z", {1, 1, 1}, ""}}));
  auto merged = sync<merge_reply>([&](auto done) {
    rt->client().merge({t, "dst", "src", true}, done);
  });
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ(merged->merged, 3u);
  EXPECT_EQ(all_ids("dst"), (std::vector<std::string>{"a", "b", "c", "z"}));
  EXPECT_EQ(get("dst", "a")->metadata, R"({"m":1})");
  EXPECT_EQ(get("dst", "a")->vector, (std::vector<float>{1, 0, 0}));
  // delete_source dropped the source, and the router forgot its cached route.
  auto gone = get("src", "a");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, errc::index_not_found);
  auto dropped = sync<bool>([&](auto done) { rt->client().drop_index({t, "dst"}, done); });
  ASSERT_TRUE(dropped);
  EXPECT_EQ(search("dst", {1, 0, 0}, 1).error().code, errc::index_not_found);
  auto list = sync<std::vector<index_description>>([&](auto done) {
    rt->client().list_indexes({t, false}, done);
  });
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

TEST_F(Runtime, BatchSearchAnswersInQueryOrder) {
  ASSERT_TRUE(create(params("bs", 2, distance_kind::euclidean, 2)));
  ASSERT_TRUE(upsert("bs", {{"x", {1, 0}, ""}, {"y", {0, 1}, ""}, {"o", {0, 0}, ""}}));
  search_options o;
  o.k = 1;
  auto r = sync<search_batch_reply>([&](auto done) {
    rt->client().search_batch({t, "bs", {{0, 1}, {1, 0}, {0, 0}}, {o, o, o}}, done);
  });
  ASSERT_TRUE(r);
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[0][0].id, "y");
  EXPECT_EQ(r->results[1][0].id, "x");
  EXPECT_EQ(r->results[2][0].id, "o");
  auto bad = sync<search_batch_reply>([&](auto done) {
    rt->client().search_batch({t, "bs", {{0, 1}, {1, 0, 0}}, {o, o}}, done);
  });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().details, (error_details{{"expected", 2}, {"got", 3}, {"index", 1}}));
}

TEST_F(Runtime, DescribeCountsEveryShard) {
  ASSERT_TRUE(create(params("cnt", 2, distance_kind::cosine, 4)));
  std::vector<upsert_item> items;
  for (int i = 0; i < 100; ++i) items.push_back({"i" + std::to_string(i), {1, float(i)}, ""});
  ASSERT_TRUE(upsert("cnt", items));
  ASSERT_TRUE(remove("cnt", {"i1", "i2", "missing"}));
  auto d = sync<index_description>([&](auto done) {
    rt->client().describe_index({t, "cnt"}, done);
  });
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count, 98u);
  EXPECT_GT(d->memory_bytes, 0u);
  EXPECT_EQ(d->params.shards, 4u);
}

// -- durability: restarts of the whole runtime on the same data dir --

namespace fs = std::filesystem;

std::vector<fs::path> snapshots_of(const std::string& dir, const std::string& index) {
  std::vector<fs::path> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".qsnap" &&
        e.path().string().find("/" + index + "@") != std::string::npos)
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<upsert_item> items(int from, int to, const std::string& meta = "") {
  std::vector<upsert_item> out;
  for (int i = from; i < to; ++i)
    out.push_back({"k" + std::to_string(i), {float(i), 1, -float(i)}, meta});
  return out;
}

// Waits until no shard is still recovering (each index serves once its own
// recovery is done).
void await_settled(node_runtime& rt) {
  for (int i = 0; i < 400; ++i) {
    auto ready = sync<readiness_reply>([&](auto done) { rt.client().readiness({}, done); });
    if (ready && std::find(ready->index_states.begin(), ready->index_states.end(), "recovering") ==
                     ready->index_states.end())
      return;
    std::this_thread::sleep_for(25ms);
  }
  ADD_FAILURE() << "shards still recovering after 10 s";
}

// Restarts the runtime on the same data dir, then await_settled().
void restart(std::unique_ptr<node_runtime>& rt, const std::string& dir,
             std::unique_ptr<node_runtime> (*start)(const std::string&)) {
  rt.reset();
  rt = start(dir);
  await_settled(*rt);
}

// A count sums the shards; a delete by filter deletes on every shard what matches
// there, in several writes where a shard matches more than one write takes.
TEST_F(Runtime, CountAndDeleteByFilterCoverEveryShard) {
  ASSERT_TRUE(create(params("f", 3, distance_kind::euclidean, 3)));
  ASSERT_TRUE(create(params("big", 3, distance_kind::euclidean, 1)));
  ASSERT_TRUE(upsert("f", items(0, 300, R"({"a":1})")));
  ASSERT_TRUE(upsert("f", items(300, 400, R"({"a":2})")));
  for (int from = 0; from < 24000; from += 8000)
    ASSERT_TRUE(upsert("big", items(from, from + 8000, R"({"a":1})")));
  ASSERT_TRUE(upsert("big", items(24000, 24010, "")));
  auto count = [&](const std::string& index, metadata_filter f) {
    return sync<count_reply>([&](auto done) {
      rt->client().count({t, index, std::move(f)}, done);
    });
  };
  metadata_filter a1;
  a1.nodes.resize(2);
  a1.nodes[0].must = {1};
  a1.nodes[1].kind = filter_node::op::match;
  a1.nodes[1].key = "a";
  a1.nodes[1].values = {filter_value{filter_value::type::integer, "", 1, 0, false}};
  EXPECT_EQ(count("f", {})->count, 400u);
  EXPECT_EQ(count("f", a1)->count, 300u);
  auto remove_where = [&](const std::string& index, metadata_filter f) {
    return sync<delete_vectors_reply>([&](auto done) {
      rt->client().delete_vectors({t, index, {}, std::move(f)}, done);
    });
  };
  auto gone = remove_where("f", a1);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(gone->deleted, 300u);
  EXPECT_EQ(count("f", {})->count, 100u);
  EXPECT_EQ(all_ids("f", 1000).size(), 100u);
  EXPECT_EQ(get("f", "k0").error().code, errc::vector_not_found);
  EXPECT_TRUE(get("f", "k300"));
  gone = remove_where("big", a1);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(gone->deleted, 24000u);
  EXPECT_EQ(count("big", {})->count, 10u);
  // A filter that does not hold together is refused where it is checked.
  auto broken = a1;
  broken.nodes[0].must = {5};
  EXPECT_EQ(count("f", broken).error().code, errc::invalid_argument);
  EXPECT_EQ(remove_where("f", broken).error().code, errc::invalid_argument);
  restart(rt, dir, &Runtime::start);
  EXPECT_EQ(count("big", {})->count, 10u);
  EXPECT_EQ(count("f", {})->count, 100u);
}

TEST_F(Runtime, RestartKeepsEveryWriteAndCleanShutdownLeavesNothingToReplay) {
  ASSERT_TRUE(create(params("keep", 3, distance_kind::euclidean, 2)));
  ASSERT_TRUE(upsert("keep", items(0, 500, R"({"a":1})")));
  ASSERT_TRUE(remove("keep", {"k7", "k8"}));
  ASSERT_TRUE(upsert("keep", {{"k9", {9, 9, 9}, ""}}));
  restart(rt, dir, &Runtime::start);  // clean shutdown: every shard snapshots
  auto d = sync<index_description>([&](auto done) {
    rt->client().describe_index({t, "keep"}, done);
  });
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->count, 498u);
  EXPECT_EQ(d->replayed_records, 0u);
  EXPECT_EQ(d->status, "ready");
  EXPECT_EQ(get("keep", "k7").error().code, errc::vector_not_found);
  auto k9 = get("keep", "k9");
  ASSERT_TRUE(k9);
  EXPECT_EQ(k9->vector, (std::vector<float>{9, 9, 9}));
  EXPECT_EQ(k9->metadata, R"({"a":1})");  // absent metadata kept what was stored
}

TEST_F(Runtime, DamagedNewestSnapshotFallsBackToThePreviousOne) {
  // Two snapshots from two clean shutdowns; then the newest is damaged.
  ASSERT_TRUE(create(params("fall", 3, distance_kind::euclidean)));
  ASSERT_TRUE(upsert("fall", items(0, 100)));
  restart(rt, dir, &Runtime::start);
  ASSERT_TRUE(upsert("fall", items(100, 150)));
  rt.reset();
  auto snaps = snapshots_of(dir, "fall");
  ASSERT_EQ(snaps.size(), 2u);
  {
    std::fstream f(snaps.back(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x5a');
  }
  rt = start(dir);
  await_settled(*rt);
  auto d = sync<index_description>([&](auto done) {
    rt->client().describe_index({t, "fall"}, done);
  });
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->status, "ready");
  EXPECT_EQ(d->count, 150u);
  EXPECT_EQ(d->replayed_records, 50u);  // the records after the older snapshot
  EXPECT_TRUE(get("fall", "k149"));
}

TEST_F(Runtime, UnrecoverableIndexIsQuarantinedAndOthersServe) {
  ASSERT_TRUE(create(params("bad", 3, distance_kind::euclidean)));
  ASSERT_TRUE(create(params("good", 3, distance_kind::euclidean)));
  ASSERT_TRUE(upsert("bad", items(0, 10)));
  ASSERT_TRUE(upsert("good", items(0, 10)));
  rt.reset();
  // The only snapshot of "bad" is damaged and its log no longer starts at seq 1.
  for (auto& p : snapshots_of(dir, "bad")) fs::resize_file(p, 20);
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().string().find("/bad@") != std::string::npos && e.path().extension() == ".log")
      fs::rename(e.path(), e.path().parent_path() / "00000000000000000005.log");
  rt = start(dir);
  await_settled(*rt);
  EXPECT_TRUE(get("good", "k3"));
  auto bad = get("bad", "k3");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::unavailable);
  EXPECT_NE(bad.error().message.find("quarantined"), std::string::npos) << bad.error().message;
  auto bad_search = search("bad", {3, 1, -3}, 1);  // no direct path to a quarantined shard
  ASSERT_FALSE(bad_search);
  EXPECT_EQ(bad_search.error().code, errc::unavailable);
  ASSERT_TRUE(search("good", {3, 1, -3}, 1));
  auto ready = sync<readiness_reply>([&](auto done) { rt->client().readiness({}, done); });
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->missing, (std::vector<std::string>{"default/bad/0"}));
  ASSERT_EQ(ready->index_states.size(), 1u);
  EXPECT_EQ(ready->index_states[0], "quarantined");
  // Its files are left alone for an operator.
  EXPECT_FALSE(snapshots_of(dir, "bad").empty());
}

TEST_F(Runtime, DroppedIndexStaysDroppedAndItsNameIsReusable) {
  ASSERT_TRUE(create(params("gone", 3, distance_kind::euclidean)));
  ASSERT_TRUE(upsert("gone", items(0, 20)));
  ASSERT_TRUE(sync<bool>([&](auto done) { rt->client().drop_index({t, "gone"}, done); }));
  restart(rt, dir, &Runtime::start);
  EXPECT_EQ(get("gone", "k1").error().code, errc::index_not_found);
  ASSERT_TRUE(create(params("gone", 3, distance_kind::euclidean)));
  EXPECT_EQ(get("gone", "k1").error().code, errc::vector_not_found);
  EXPECT_TRUE(snapshots_of(dir, "gone").empty());
}

expected<search_batch_reply> search_batch(node_runtime& rt, const std::string& index,
                                          std::vector<std::vector<float>> queries) {
  search_options o;
  o.k = 1;
  std::vector<search_options> options(queries.size(), o);
  return sync<search_batch_reply>([&](auto done) {
    rt.client().search_batch({default_tenant(), index, std::move(queries), std::move(options)},
                             done);
  });
}

TEST_F(Runtime, DirectSearchesServeOneShardIndexesAndEndWithTheDrop) {
  ASSERT_TRUE(create(params("solo", 3, distance_kind::euclidean)));
  ASSERT_TRUE(create(params("split", 3, distance_kind::euclidean, 3)));
  ASSERT_TRUE(upsert("solo", items(0, 50)));
  ASSERT_TRUE(upsert("split", items(0, 50)));
  auto before = rt->direct_searches();
  auto r = search("solo", {7, 1, -7}, 1);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->hits.at(0).id, "k7");
  EXPECT_EQ(rt->direct_searches(), before + 1);
  // Several shards: the router merges them.
  r = search("split", {7, 1, -7}, 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->hits.at(0).id, "k7");
  EXPECT_EQ(rt->direct_searches(), before + 1);
  auto b = search_batch(*rt, "solo", {{3, 1, -3}, {40, 1, -40}, {9, 1, -9}});
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->results.size(), 3u);
  EXPECT_EQ(b->results[0].at(0).id, "k3");
  EXPECT_EQ(b->results[1].at(0).id, "k40");
  EXPECT_EQ(b->results[2].at(0).id, "k9");
  EXPECT_EQ(rt->direct_searches(), before + 4);

  ASSERT_TRUE(sync<bool>([&](auto done) { rt->client().drop_index({t, "solo"}, done); }));
  EXPECT_EQ(search("solo", {7, 1, -7}, 1).error().code, errc::index_not_found);
  EXPECT_EQ(search_batch(*rt, "solo", {{7, 1, -7}}).error().code, errc::index_not_found);
  EXPECT_EQ(rt->direct_searches(), before + 4);

  // The name again: the new, empty index answers, never the dropped one.
  ASSERT_TRUE(create(params("solo", 3, distance_kind::euclidean)));
  r = search("solo", {7, 1, -7}, 1);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->hits.empty());
  ASSERT_TRUE(upsert("solo", items(99, 100)));
  r = search("solo", {7, 1, -7}, 5);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->hits.size(), 1u);
  EXPECT_EQ(r->hits[0].id, "k99");
}

// Acknowledged writes are visible to the next search, whether it runs on the
// caller's thread or (a write holding the shard) through the actors.
TEST_F(Runtime, SearchesSeeEveryAcknowledgedWriteWhileAnotherWriterRuns) {
  ASSERT_TRUE(create(params("busy", 3, distance_kind::euclidean)));
  std::atomic<bool> stop{false};
  std::string writer_error;
  std::thread writer([&] {
    // Fresh ids only: the point is holding the shard, not replacing vectors.
    for (int round = 0; round < 200 && !stop; ++round) {
      auto r = upsert("busy", items(1000 + round * 400, 1400 + round * 400));
      if (!r) {
        writer_error = r.error().message;
        return;
      }
    }
  });
  std::vector<std::vector<float>> mine;
  for (int i = 0; i < 40; ++i) {
    std::vector<float> v{float(i), 5, -float(i)};
    auto id = "m" + std::to_string(i);
    ASSERT_TRUE(upsert("busy", {{id, v, ""}}));
    auto r = search("busy", v, 1);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->hits.at(0).id, id);
    mine.push_back(v);
    auto b = search_batch(*rt, "busy", mine);
    ASSERT_TRUE(b) << b.error().message;
    ASSERT_EQ(b->results.size(), mine.size());
    for (std::size_t j = 0; j < mine.size(); ++j)
      ASSERT_EQ(b->results[j].at(0).id, "m" + std::to_string(j));
  }
  stop = true;
  writer.join();
  EXPECT_EQ(writer_error, "");
}

// A snapshot holds writes back only while it reads the shard: with its file's
// fsync stalled, later writes are acknowledged, applied and searchable, and the
// snapshot covers what it read, no more.
TEST_F(Runtime, WritesGoOnWhileASnapshotIsWrittenOut) {
  rt.reset();
  std::mutex m;
  std::condition_variable cv;
  bool stalled = false, released = false;
  fault_env files;
  files.before_sync = [&](const std::string& path) {
    if (path.find(".qsnap") == std::string::npos) return;
    std::unique_lock lock(m);
    stalled = true;
    cv.notify_all();
    cv.wait_for(lock, 20s, [&] { return released; });
  };
  auto release = [&] {
    std::lock_guard lock(m);
    released = true;
    cv.notify_all();
  };
  // However the test ends, nothing is left waiting and no runtime outlives `files`.
  struct cleanup {
    std::function<void()> run;
    ~cleanup() { run(); }
  } at_exit{[&] {
    release();
    rt.reset();
  }};
  auto o = options(dir);
  o.storage.snapshot_every_records = 100;
  o.snapshot_files = &files;
  auto started = node_runtime::start(o);
  ASSERT_TRUE(started) << started.error().message;
  rt = std::move(*started);
  ASSERT_TRUE(create(params("live", 3, distance_kind::euclidean)));
  ASSERT_TRUE(upsert("live", items(0, 100)));  // due: the snapshot starts
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return stalled; })) << "no snapshot was taken";
  }
  auto later = std::async(std::launch::async, [&] { return upsert("live", items(100, 150)); });
  bool answered = later.wait_for(15s) == std::future_status::ready;
  if (answered) {
    auto r = search("live", {120, 1, -120}, 1);
    EXPECT_TRUE(r && r->hits.at(0).id == "k120");
  }
  release();
  ASSERT_TRUE(answered) << "a write waited for the snapshot's fsync";
  ASSERT_TRUE(later.get());
  // It covers the first 100 records: a restart from it replays the other 50.
  for (int i = 0; i < 400 && snapshots_of(dir, "live").empty(); ++i)
    std::this_thread::sleep_for(25ms);
  auto snaps = snapshots_of(dir, "live");
  ASSERT_EQ(snaps.size(), 1u);
  auto first = snaps.front().filename().string();
  rt->stop();
  rt.reset();
  files.before_sync = nullptr;
  std::error_code ec;
  for (auto& p : snapshots_of(dir, "live"))
    if (p.filename().string() != first) fs::remove(p, ec);  // the shutdown's snapshot
  rt = start(dir);
  await_settled(*rt);
  auto d = sync<index_description>([&](auto done) {
    rt->client().describe_index({t, "live"}, done);
  });
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->count, 150u);
  EXPECT_EQ(d->replayed_records, 50u);
}

}  // namespace
}  // namespace quiver
