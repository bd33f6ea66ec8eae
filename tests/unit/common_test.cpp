#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "actors/router/search_merge.hpp"
#include "cluster/sharding.hpp"
#include "common/config.hpp"
#include "common/metrics.hpp"
#include "common/parse.hpp"
#include "common/vector_validation.hpp"

namespace quiver {
namespace {

TEST(Validation, Utf8) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Validation, DedupLastWinsKeepsOrderOfLastOccurrences) {
  std::vector<upsert_item> items{
      {"a", {1}, ""}, {"b", {2}, ""}, {"a", {3}, ""}, {"c", {4}, ""}, {"b", {5}, ""}};
  dedup_last_wins(items);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].id, "a");
  EXPECT_EQ(items[0].vector[0], 3);
  EXPECT_EQ(items[1].id, "c");
  EXPECT_EQ(items[2].id, "b");
  EXPECT_EQ(items[2].vector[0], 5);
}

TEST(Sharding, Fnv1aIsStableAndSpreads) {
  EXPECT_EQ(hash64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(hash64("a"), 0xaf63dc4c8601ec8cull);  // published FNV-1a 64 test vector
  std::vector<int> counts(8);
  for (int i = 0; i < 8000; ++i) ++counts[shard_of("id-" + std::to_string(i), 8).value];
  for (int c : counts) EXPECT_NEAR(c, 1000, 150);
}

TEST(SearchMerge, TopKAcrossShardsWithIdTieBreak) {
  std::vector<std::vector<search_hit>> shards{{{"b", 0.1f, "", {}}, {"d", 0.4f, "", {}}},
                                              {{"a", 0.1f, "", {}}, {"c", 0.3f, "", {}}}};
  auto merged = merge_hits(shards, 3);
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].id, "a");
  EXPECT_EQ(merged[1].id, "b");
  EXPECT_EQ(merged[2].id, "c");
}

TEST(SearchMerge, IdPagesMergeInOrder) {
  auto page = merge_id_pages({{{"a", "d"}, true}, {{"b", "c"}, false}}, 3);
  EXPECT_EQ(page.ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(page.more);
  auto last = merge_id_pages({{{"x"}, false}, {{}, false}}, 3);
  EXPECT_FALSE(last.more);
}

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/quiver-config-XXXXXX";
  int fd = mkstemp(name);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

TEST(Config, ReadsTomlOverDefaults) {
  auto path = write_temp(
      "[server]\nport = 5000\nmax_batch = 20\n[actors]\nscheduler_policy = \"stealing\"\n"
      "max_threads = 3\n[storage]\ndata_dir = \"/tmp/x\"\n");
  auto c = load_config(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server.port, 5000);
  EXPECT_EQ(c->server.max_batch, 20u);
  EXPECT_EQ(c->server.host, "127.0.0.1");
  EXPECT_EQ(c->actors.scheduler_policy, "stealing");
  EXPECT_EQ(c->actors.max_threads, 3u);
  EXPECT_EQ(c->storage.data_dir, "/tmp/x");
  std::remove(path.c_str());
  path =
      write_temp("[peer_tls]\ncert = \"/c/node.pem\"\nkey = \"/c/node.key\"\nca = \"/c/ca.pem\"\n");
  c = load_config(path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->peer_tls.cert, "/c/node.pem");
  EXPECT_EQ(c->peer_tls.key, "/c/node.key");
  EXPECT_EQ(c->peer_tls.ca, "/c/ca.pem");
  std::remove(path.c_str());
}

TEST(Config, RejectsTyposBadValuesAndInsecureBind) {
  for (const char* text : {"[server]\nprot = 1\n", "[server]\nport = 70000\n",
                           "[actors]\nscheduler_policy = \"fast\"\n", "[log]\nlevel = \"loud\"\n",
                           "[server]\nhost = \"0.0.0.0\"\n", "[server\n"}) {
    auto path = write_temp(text);
    EXPECT_FALSE(load_config(path)) << text;
    std::remove(path.c_str());
  }
  auto path = write_temp("[server]\nhost = \"0.0.0.0\"\nallow_insecure = true\n");
  EXPECT_TRUE(load_config(path));
  std::remove(path.c_str());
  EXPECT_FALSE(load_config("/nonexistent/quiver.toml"));
}

TEST(Metrics, PrometheusHistogramIsCumulative) {
  http_metrics m;
  m.observe("GET /healthz", 200, 0.0002);
  m.observe("GET /healthz", 200, 0.003);
  m.observe("GET /healthz", 404, 20);
  auto text = m.render();
  EXPECT_NE(text.find(R"(quiver_http_requests_total{route="GET /healthz",status="200"} 2)"),
            std::string::npos);
  EXPECT_NE(
      text.find(
          R"(quiver_http_request_duration_seconds_bucket{route="GET /healthz",le="0.00025"} 1)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(quiver_http_request_duration_seconds_bucket{route="GET /healthz",le="0.005"} 2)"),
      std::string::npos);
  EXPECT_NE(
      text.find(R"(quiver_http_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"} 3)"),
      std::string::npos);
}

// Text from files, config and peers is parsed without exceptions (std::stoul
// would throw out of an actor handler on a malformed node address).
TEST(Parse, NumbersAndHostPortsNeverThrow) {
  EXPECT_EQ(parse_u64("0"), 0u);
  EXPECT_EQ(parse_u64("18446744073709551615"), 18446744073709551615ull);
  for (auto bad : {"", "-1", "1x", " 1", "18446744073709551616", "99999999999999999999"})
    EXPECT_FALSE(parse_u64(bad)) << bad;
  auto hp = parse_host_port("127.0.0.1:4210");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->first, "127.0.0.1");
  EXPECT_EQ(hp->second, 4210);
  EXPECT_EQ(parse_host_port("[::1]:80")->first, "[::1]");
  for (auto bad : {"", "host", ":80", "host:", "host:0", "host:65536", "host:80x", "host:-1",
                   "host:99999999999999999999"})
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  EXPECT_TRUE(parse_host_port("host:0", /*any_port=*/true));
}

TEST(Config, TlsFilesGoTogether) {
  quiver_config c;
  EXPECT_TRUE(validate_config(c).ok());
  c.tls.cert = "/x/cert.pem";
  EXPECT_NE(validate_config(c).message.find("tls.cert and tls.key"), std::string::npos);
  c.tls.key = "/x/key.pem";
  EXPECT_TRUE(validate_config(c).ok());
  c.tls = {};
  c.tls.client_ca = "/x/ca.pem";
  EXPECT_FALSE(validate_config(c).ok());
}

TEST(Config, PeerTlsFilesGoTogether) {
  quiver_config c;
  c.peer_tls.cert = "/x/node.pem";
  c.peer_tls.key = "/x/node.key";
  EXPECT_NE(validate_config(c).message.find("peer_tls.cert, peer_tls.key and peer_tls.ca"),
            std::string::npos);
  c.peer_tls.ca = "/x/ca.pem";
  EXPECT_TRUE(validate_config(c).ok());
  EXPECT_TRUE(c.peer_tls.enabled());
  c.peer_tls = {};
  c.peer_tls.ca = "/x/ca.pem";
  EXPECT_FALSE(validate_config(c).ok());
}

}  // namespace
}  // namespace quiver
