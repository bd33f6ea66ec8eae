// The load harness's plain parts: corpus determinism and clustering, the ledger's
// possible-state bookkeeping, argument parsing, percentiles.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <filesystem>

#include "tools/load/client.hpp"
#include "tools/load/corpus.hpp"
#include "tools/load/ledger.hpp"
#include "tools/load/report.hpp"
#include "tools/load/supervisor.hpp"
#include "tools/load/wire.hpp"

namespace quiver::load {
namespace {

TEST(LoadCorpus, RecordsAndVectorsArePureFunctionsOfSeedAndKey) {
  corpus_model a, b;
  EXPECT_EQ(profile_json(a.profile_for(123)), profile_json(b.profile_for(123)));
  EXPECT_EQ(a.vector_for(123), b.vector_for(123));
  EXPECT_NE(a.vector_for(123), a.vector_for(124));
  corpus_recipe other;
  other.seed = 7;
  EXPECT_NE(corpus_model(other).vector_for(123), a.vector_for(123));
  auto v = a.vector_for(99);
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(corpus_id(42), "w0000042");
  EXPECT_EQ(corpus_key("w0000042"), 42);
  EXPECT_EQ(corpus_key("u42"), -1);
  EXPECT_EQ(corpus_key("w12x"), -1);
}

TEST(LoadCorpus, SameRoleAndCityIsCloserThanDifferentRole) {
  corpus_model m;
  // Average distance between records sharing role and city vs records that share
  // neither: the clustering that gives searches meaningful neighbours.
  constexpr std::size_t n = 1500;
  std::vector<profile> p;
  std::vector<std::vector<float>> v;
  for (std::uint64_t k = 0; k < n; ++k) p.push_back(m.profile_for(k)), v.push_back(m.vector_for(k));
  double same = 0, diff = 0;
  int n_same = 0, n_diff = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      bool s = p[i].role == p[j].role && p[i].city == p[j].city;
      bool d = p[i].role != p[j].role && p[i].city != p[j].city;
      if (!s && !(d && n_diff < 2000)) continue;
      (s ? same : diff) += cosine_distance(v[i].data(), v[j].data(), v[i].size());
      ++(s ? n_same : n_diff);
    }
  ASSERT_GT(n_same, 10);
  EXPECT_LT(same / n_same, 0.6 * (diff / n_diff));
}

TEST(LoadCorpus, WritesAndMapsItsFiles) {
  auto dir = std::filesystem::temp_directory_path() / "quiver-load-corpus-test";
  std::filesystem::remove_all(dir);
  corpus_recipe r;
  r.dim = 16;
  write_corpus(dir.string(), r, 50, 5, 2);
  auto info = read_corpus_info(dir.string());
  EXPECT_EQ(info.n, 50u);
  EXPECT_EQ(info.queries, 5u);
  EXPECT_EQ(info.recipe.dim, 16u);
  vector_file base((dir / "vectors.f32").string());
  ASSERT_EQ(base.size(), 50u);
  ASSERT_EQ(base.dim(), 16u);
  corpus_model m(info.recipe);
  EXPECT_EQ(std::vector<float>(base.row(7), base.row(7) + 16), m.vector_for(7));
  vector_file queries((dir / "queries.f32").string());
  EXPECT_EQ(std::vector<float>(queries.row(0), queries.row(0) + 16), m.vector_for(50));
  // A truncated file is refused, not read past its end.
  std::filesystem::resize_file(dir / "vectors.f32", 100);
  EXPECT_THROW(vector_file((dir / "vectors.f32").string()), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST(LoadLedger, AcknowledgedNarrowsUncertainWidensResolvePicks) {
  ledger l;
  id_state a{true, 1, "{\"m\":1}"}, b{true, 2, "{\"m\":2}"}, gone{};
  EXPECT_EQ(l.possible("ix", "x"), std::vector<id_state>{gone});
  l.begin("ix", "x");
  l.acknowledged("ix", "x", a);
  EXPECT_EQ(l.possible("ix", "x"), std::vector<id_state>{a});
  l.uncertain("ix", "x", b);
  EXPECT_EQ(l.possible("ix", "x"), (std::vector<id_state>{a, b}));
  EXPECT_FALSE(l.certain("ix", "x"));
  l.uncertain("ix", "x", gone);
  EXPECT_EQ(l.possible("ix", "x").size(), 3u);
  // Reading back a state no write produced is a loss; a possible one narrows.
  EXPECT_FALSE(l.resolve("ix", "x", id_state{true, 3, "{}"}));
  EXPECT_TRUE(l.resolve("ix", "x", b));
  EXPECT_EQ(l.possible("ix", "x"), std::vector<id_state>{b});
  l.acknowledged("ix", "x", gone);
  EXPECT_EQ(l.possible("ix", "x"), std::vector<id_state>{gone});
  EXPECT_EQ(l.acknowledged_writes(), 2u);
  EXPECT_EQ(l.uncertain_writes(), 2u);
  // Indexes are separate namespaces.
  EXPECT_EQ(l.possible("other", "x"), std::vector<id_state>{gone});
}

TEST(LoadArgs, TargetsAndDaemonSpecs) {
  auto t = parse_targets("127.0.0.1:4210,localhost:80");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].host, "localhost");
  EXPECT_EQ(t[1].port, 80);
  EXPECT_THROW(parse_targets("127.0.0.1"), std::invalid_argument);
  EXPECT_THROW(parse_targets("a:0"), std::invalid_argument);
  EXPECT_THROW(parse_targets("a:1,"), std::invalid_argument);
  auto d = parse_daemon_spec("vectord=bin/vectord --storaged 127.0.0.1:1 --listen 127.0.0.1:4212");
  EXPECT_EQ(d.name, "vectord");
  EXPECT_EQ(d.port, 4212);
  EXPECT_EQ(d.argv.size(), 5u);
  EXPECT_EQ(parse_daemon_spec("q=bin/quiver --port 4300").port, 4300);
  EXPECT_THROW(parse_daemon_spec("q=bin/quiver"), std::invalid_argument);  // no port to wait for
  EXPECT_THROW(parse_daemon_spec("bin/quiver --port 1"), std::invalid_argument);
  EXPECT_EQ(encode_path_segment("a/b c%"), "a%2Fb%20c%25");
}

TEST(LoadReport, PercentilesAndVectorTolerance) {
  EXPECT_EQ(percentile({}, 0.5), 0);
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(percentile(v, 0.5), 50);
  EXPECT_EQ(percentile(v, 0.99), 99);
  EXPECT_EQ(percentile(v, 1.0), 100);
  float a[2] = {0.5f, -0.25f};
  float b[2] = {std::nextafter(0.5f, 1.0f), -0.25f};
  float c[2] = {0.5001f, -0.25f};
  EXPECT_TRUE(same_vector(a, b, 2));
  EXPECT_FALSE(same_vector(a, c, 2));
}

TEST(LoadReport, JsonCarriesScenariosFaultsLedgerAndTable) {
  run_report r;
  r.mode = "chaos";
  r.elapsed_s = 10;
  auto& s = r.scenarios["cold_search"];
  s.count = 4;
  s.failed = 1;
  s.interrupted = 1;
  s.latencies_ms = {1, 2};
  s.failures["wrong \"answer\" #"] = 1;
  s.notes["retried"] = 2;
  chaos_event e;
  e.target = "vectord";
  e.action = "kill";
  e.at_s = 3;
  e.ready_s = 5.5;
  e.errors_by_status[503] = 7;
  r.chaos.push_back(e);
  r.verify = verification{};
  r.verify->lost = 2;
  r.verify->examples = {"ix/a: absent"};
  r.seconds.resize(2);
  r.seconds[1].scenarios = 4;

  simdjson::dom::parser p;
  auto doc = p.parse(to_json(r));
  ASSERT_FALSE(doc.error());
  EXPECT_EQ(std::string_view(doc["mode"]), "chaos");
  EXPECT_EQ(std::uint64_t(doc["total_failed"]), 1u);
  EXPECT_EQ(std::uint64_t(doc["scenarios"]["cold_search"]["failures"]["wrong \"answer\" #"]), 1u);
  EXPECT_EQ(std::uint64_t(doc["scenarios"]["cold_search"]["notes"]["retried"]), 2u);
  EXPECT_DOUBLE_EQ(double(doc["chaos"].at(0)["recovery_s"]), 2.5);
  EXPECT_EQ(std::uint64_t(doc["chaos"].at(0)["errors_by_status"]["503"]), 7u);
  EXPECT_EQ(std::uint64_t(doc["ledger"]["lost"]), 2u);
  EXPECT_EQ(std::uint64_t(doc["timeseries"].at(1)["scenarios"]), 4u);
  auto table = summary_table(r);
  EXPECT_NE(table.find("cold_search"), std::string::npos);
  EXPECT_NE(table.find("LOST 2"), std::string::npos);
  EXPECT_NE(table.find("recovered in 2.50 s"), std::string::npos);
}

}  // namespace
}  // namespace quiver::load
