// The matrix search's plain parts: its body, cache key and data version, the
// merge across indexes with a playbook's boosts, the bounded result cache.

#include <gtest/gtest.h>

#include <thread>

#include "matrix/matrix_search.hpp"
#include "matrix/playbook.hpp"
#include "matrix/result_cache.hpp"

namespace quiver::matrix {
namespace {

TEST(MatrixSearchBody, ReadsTheMatrixFieldsAndTheSearchOptions) {
  auto r = parse_matrix_search(
      R"({"indexes":["a","b"],"text":"forklift","k":3,"ef":50,"exclude_ids":["x"],)"
      R"("filter":{"must":[{"key":"status","match":"active"}]},"include_metadata":false,"use_playbook":true,)"
      R"("playbook":"fills","consistency":"eventual"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->indexes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->text, "forklift");
  EXPECT_TRUE(r->vector.empty());
  EXPECT_EQ(r->options.k, 3u);
  EXPECT_EQ(r->options.ef, 50u);
  EXPECT_EQ(r->options.exclude_ids, (std::vector<std::string>{"x"}));
  EXPECT_FALSE(r->options.filter.empty());
  EXPECT_FALSE(r->options.include_metadata);
  EXPECT_TRUE(r->options.eventual);
  EXPECT_TRUE(r->use_playbook);
  EXPECT_EQ(r->playbook, "fills");

  auto v = parse_matrix_search(R"({"indexes":["a"],"vector":[0.5,-1.25]})");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->vector, (std::vector<float>{0.5f, -1.25f}));
  EXPECT_EQ(v->options.k, 10u);
}

TEST(MatrixSearchBody, RefusesWhatItCannotAnswer) {
  struct bad_case {
    const char* body;
    errc code;
    const char* says;
  };
  for (const auto& c : std::vector<bad_case>{
           {"{", errc::invalid_json, "JSON"},
           {R"({"text":"x"})", errc::invalid_argument, "indexes"},
           {R"({"indexes":[],"text":"x"})", errc::invalid_argument, "at least one"},
           {R"({"indexes":["a","a"],"text":"x"})", errc::invalid_argument, "twice"},
           {R"({"indexes":["-a"],"text":"x"})", errc::invalid_argument, "index name"},
           {R"({"indexes":["a"]})", errc::invalid_argument, "'text' or 'vector'"},
           {R"({"indexes":["a"],"text":"x","vector":[1]})", errc::invalid_argument, "not both"},
           {R"({"indexes":["a"],"vector":[1],"use_playbook":true})", errc::invalid_argument,
            "needs a 'text'"},
           {R"({"indexes":["a"],"text":"x","k":0})", errc::invalid_argument, "'k'"},
           {R"({"indexes":["a"],"text":"x","filter":{"must":[{"key":"a","bogus":1}]}})",
            errc::invalid_argument, "bogus"},
           {R"({"indexes":["a"],"text":"x","include_vectors":true})", errc::invalid_argument,
            "not supported"},
           {R"({"indexes":["a"],"text":"x","colour":1})", errc::invalid_argument, "colour"},
           {R"({"indexes":["a"],"text":"x","playbook":"no/slash"})", errc::invalid_argument,
            "playbook"},
           {R"({"indexes":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"],)"
            R"("text":"x"})",
            errc::payload_too_large, "16"},
       }) {
    auto r = parse_matrix_search(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code, c.code) << c.body << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
  std::string long_text(matrix_limits::max_text_bytes + 1, 'a');
  auto r = parse_matrix_search(R"({"indexes":["a"],"text":")" + long_text + R"("})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
}

TEST(MatrixSearchKey, SameQuerySameKeyAndEveryFieldCounts) {
  auto parse = [](const std::string& body) { return *parse_matrix_search(body); };
  tenant_id t{"t1"};
  auto base = cache_key(t, parse(R"({"indexes":["a","b"],"text":"x","exclude_ids":["p","q"]})"));
  // The exclude set is a set: order and repeats do not matter.
  EXPECT_EQ(base, cache_key(t, parse(R"({"text":"x","exclude_ids":["q","p","q"],)"
                                     R"("indexes":["a","b"]})")));
  for (
      const char* other : {
          R"({"indexes":["b","a"],"text":"x","exclude_ids":["p","q"]})",
          R"({"indexes":["a","b"],"text":"y","exclude_ids":["p","q"]})",
          R"({"indexes":["a","b"],"text":"x","exclude_ids":["p"]})",
          R"({"indexes":["a","b"],"text":"x","exclude_ids":["p","q"],"k":11})",
          R"({"indexes":["a","b"],"text":"x","exclude_ids":["p","q"],"ef":99})",
          R"({"indexes":["a","b"],"text":"x","exclude_ids":["p","q"],"filter":{"must":[{"key":"s","match":"a"}]}})",
          R"({"indexes":["a","b"],"text":"x","exclude_ids":["p","q"],"use_playbook":true})",
          R"({"indexes":["a","b"],"text":"x","exclude_ids":["p","q"],"include_metadata":false})",
      })
    EXPECT_NE(base, cache_key(t, parse(other))) << other;
  EXPECT_NE(base, cache_key(tenant_id{"t2"}, parse(R"({"indexes":["a","b"],"text":"x",)"
                                                   R"("exclude_ids":["p","q"]})")));
  // Length prefixes: "ab"+"c" is not "a"+"bc".
  EXPECT_NE(cache_key(t, parse(R"({"indexes":["ab","c"],"text":"x"})")),
            cache_key(t, parse(R"({"indexes":["a","bc"],"text":"x"})")));
}

TEST(MatrixSearchVersion, ChangesWithAnyShardsAppliedSeqOrIncarnation) {
  index_version a{1, {}, {seq_no{5}, seq_no{7}}};
  index_version b{3, {}, {seq_no{2}}};
  auto base = data_version({a, b}, nullptr);
  EXPECT_EQ(base, data_version({a, b}, nullptr));
  auto later = a;
  later.applied[1].value = 8;
  EXPECT_NE(base, data_version({later, b}, nullptr));
  auto recreated = b;
  recreated.incarnation = 4;
  EXPECT_NE(base, data_version({a, recreated}, nullptr));
  EXPECT_NE(base, data_version({a, b}, &b));
  auto pb = b;
  pb.applied[0].value = 3;
  EXPECT_NE(data_version({a, b}, &b), data_version({a, b}, &pb));
}

search_hit hit(const std::string& id, float d) { return search_hit{id, d, "{}", {}}; }

TEST(MatrixMerge, MergesByDistanceAndKeepsK) {
  auto out = merge_hits(
      {{"a", {hit("a1", 0.1f), hit("a2", 0.5f)}}, {"b", {hit("b1", 0.2f), hit("b2", 0.3f)}}}, 3,
      {});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].hit.id, "a1");
  EXPECT_EQ(out[1].hit.id, "b1");
  EXPECT_EQ(out[1].index, "b");
  EXPECT_EQ(out[2].hit.id, "b2");
  // Equal distances: the index named first, then the id.
  auto tie = merge_hits({{"a", {hit("z", 0.2f)}}, {"b", {hit("c", 0.2f)}}}, 2, {});
  EXPECT_EQ(tie[0].index, "a");
}

TEST(MatrixMerge, ABoostLiftsAPickAndAPenaltySinksOne) {
  std::vector<index_hits> hits{{"a", {hit("a1", 0.1f), hit("a2", 0.2f), hit("a3", 0.3f)}}};
  auto plain = merge_hits(hits, 3, {});
  EXPECT_EQ(plain[0].hit.id, "a1");
  auto boosted = merge_hits(hits, 3, {{"a3", 1.0}, {"a1", -1.0}});
  EXPECT_EQ(boosted[0].hit.id, "a3");
  EXPECT_DOUBLE_EQ(boosted[0].boost, 1.0);
  EXPECT_EQ(boosted[2].hit.id, "a1");
  // Distances are reported as measured, not as ranked.
  EXPECT_FLOAT_EQ(boosted[0].hit.distance, 0.3f);
}

TEST(MatrixRender, ResultsAreTheSameBytesCachedOrNot) {
  std::vector<ranked_hit> hits{{"a", search_hit{"x\"1", 0.25f, R"({"k":1})", {}}, 0.5},
                               {"b", search_hit{"y", 0.5f, "", {}}, 0}};
  auto results = render_results(hits, true);
  EXPECT_EQ(results, R"([{"id":"x\"1","index":"a","distance":0.25,"metadata":{"k":1},"boost":0.5},)"
                     R"({"id":"y","index":"b","distance":0.5,"metadata":null}])");
  EXPECT_EQ(render_results(hits, false),
            R"([{"id":"x\"1","index":"a","distance":0.25,"boost":0.5},)"
            R"({"id":"y","index":"b","distance":0.5}])");
  EXPECT_EQ(render_answer(results, true), R"({"results":)" + results + R"(,"cached":true})");
  EXPECT_EQ(render_answer(results, false), R"({"results":)" + results + R"(,"cached":false})");
}

TEST(Playbook, ReadsARecordAndRefusesABadOne) {
  auto r = parse_playbook_record(
      R"({"query":"forklift chicago","chosen_ids":["w1","w2"],"outcome":"filled"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->chosen_ids.size(), 2u);
  for (const char* body : {
           R"({"chosen_ids":["w1"],"outcome":"filled"})",
           R"({"query":"q","outcome":"filled"})",
           R"({"query":"q","chosen_ids":["w1"]})",
           R"({"query":"q","chosen_ids":[],"outcome":"filled"})",
           R"({"query":"q","chosen_ids":[""],"outcome":"filled"})",
           R"({"query":"q","chosen_ids":["w1"],"outcome":"great"})",
           R"({"query":"q","chosen_ids":["w1"],"outcome":"filled","x":1})",
           R"({"query":"q","chosen_ids":[1],"outcome":"filled"})",
       }) {
    auto bad = parse_playbook_record(body);
    ASSERT_FALSE(bad) << body;
    EXPECT_EQ(bad.error().code, errc::invalid_argument) << body;
  }
}

TEST(Playbook, BoostsPicksOfAlikeQueriesByOutcome) {
  auto past = [](float distance, const char* outcome, std::vector<std::string> ids) {
    playbook_record r{"q", std::move(ids), outcome};
    return search_hit{"r", distance, playbook_metadata(r, 1), {}};
  };
  auto boosts = playbook_boosts({past(0.2f, "filled", {"w1", "w2"}), past(0.1f, "declined", {"w2"}),
                                 past(0.0f, "no_show", {"w3"}),
                                 past(0.9f, "filled", {"w4"}),  // too unlike: ignored
                                 past(0.0f, "pending", {"w5"}), search_hit{"bad", 0, "{", {}}});
  ASSERT_EQ(boosts.count("w1"), 1u);
  EXPECT_DOUBLE_EQ(boosts["w1"], 0.8);
  EXPECT_NEAR(boosts["w2"], 0.8 - 0.45, 1e-6);
  EXPECT_NEAR(boosts["w3"], -1.0, 1e-6);
  EXPECT_EQ(boosts.count("w4"), 0u);
  EXPECT_EQ(boosts.count("w5"), 0u);
  // Many alike fills add up, to at most 1.
  std::vector<search_hit> many(5, past(0.0f, "filled", {"w9"}));
  EXPECT_DOUBLE_EQ(playbook_boosts(many)["w9"], 1.0);
}

TEST(ResultCache, HitsAtTheSameVersionAndDropsAStaleAnswer) {
  result_cache c(1 << 20);
  EXPECT_FALSE(c.get("k", "v1"));
  c.put("k", "v1", "answer");
  EXPECT_EQ(c.get("k", "v1").value_or(""), "answer");
  EXPECT_FALSE(c.get("k", "v2"));  // a write landed since
  EXPECT_FALSE(c.get("k", "v1"));  // and the old answer is gone
  auto s = c.snapshot();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.stale, 1u);
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
}

TEST(ResultCache, StaysWithinItsBytesLeastRecentlyUsedOutFirst) {
  std::size_t per = 100 + 1 + 1 + result_cache::entry_overhead;  // answer, key, version
  result_cache c(per * 8);
  std::string answer(100, 'x');
  for (char k = 'a'; k < 'a' + 8; ++k) c.put(std::string(1, k), "v", answer);
  EXPECT_EQ(c.snapshot().entries, 8u);
  EXPECT_TRUE(c.get("a", "v"));  // now the most recent
  c.put("i", "v", answer);
  EXPECT_FALSE(c.get("b", "v"));  // the least recent went
  EXPECT_TRUE(c.get("a", "v"));
  auto s = c.snapshot();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_LE(s.bytes, per * 8);
  // An answer over an eighth of the budget is not kept.
  c.put("big", "v", std::string(per * 2, 'y'));
  EXPECT_FALSE(c.get("big", "v"));
  // Off: nothing kept.
  result_cache off(0);
  off.put("k", "v", "a");
  EXPECT_FALSE(off.get("k", "v"));
  EXPECT_EQ(off.snapshot().bytes, 0u);
}

TEST(ResultCache, ManyThreadsKeepTheBooksStraight) {
  result_cache c(64 * 1024);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 2000; ++i) {
        auto key = std::to_string((i * 7 + t) % 300);
        if (!c.get(key, "v")) c.put(key, "v", std::string(200, 'a'));
      }
    });
  for (auto& th : threads) th.join();
  auto s = c.snapshot();
  EXPECT_EQ(s.hits + s.misses, 8000u);
  EXPECT_LE(s.bytes, 64u * 1024);
  std::uint64_t per = 200 + 3 + 1 + result_cache::entry_overhead;
  EXPECT_GE(s.bytes, s.entries * (per - 2));
}

}  // namespace
}  // namespace quiver::matrix
