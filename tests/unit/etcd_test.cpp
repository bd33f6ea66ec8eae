// The etcd client: its JSON codec on fixed bodies, then every call against a
// real etcd member the test starts.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "etcd/detail/etcd_json.hpp"
#include "etcd/etcd_client.hpp"
#include "etcd/session.hpp"
#include "tests/unit/etcd_process.hpp"

namespace quiver::etcd {
namespace {

using namespace std::chrono_literals;

TEST(EtcdJson, Base64RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    auto text = detail::base64_encode(all.substr(0, n));
    EXPECT_EQ(text.size() % 4, 0u);
    auto back = detail::base64_decode(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, all.substr(0, n));
  }
  EXPECT_EQ(detail::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(detail::base64_encode("fo"), "Zm8=");
  EXPECT_FALSE(detail::base64_decode("Zm9v!"));
  EXPECT_FALSE(detail::base64_decode("Z"));
}

TEST(EtcdJson, PrefixEnd) {
  EXPECT_EQ(prefix_end("/q/nodes/"), "/q/nodes0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST(EtcdJson, AbsentFieldsReadAsDefaults) {
  // proto3 JSON omits defaults: a failed txn has no "succeeded", an empty range no "kvs".
  auto txn = detail::parse_txn(R"({"header":{"revision":"7"}})");
  ASSERT_TRUE(txn);
  EXPECT_FALSE(txn->succeeded);
  EXPECT_EQ(txn->revision, 7);
  auto range = detail::parse_range(R"({"header":{"revision":"3"}})");
  ASSERT_TRUE(range);
  EXPECT_TRUE(range->kvs.empty());
  EXPECT_EQ(range->count, 0);
  auto kv = detail::parse_range(
      R"({"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"4","version":"3"}],"count":"1"})");
  ASSERT_TRUE(kv);
  ASSERT_EQ(kv->kvs.size(), 1u);
  EXPECT_EQ(kv->kvs[0].key, "foo");
  EXPECT_EQ(kv->kvs[0].value, "");  // an empty value is omitted too
  EXPECT_EQ(kv->kvs[0].mod_revision, 4);
  // A keepalive of an expired lease answers no TTL.
  auto expired = detail::parse_keepalive(R"({"result":{"header":{},"ID":"1"}})");
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, errc::not_found);
}

TEST(EtcdJson, ErrorsBecomeCodes) {
  auto lease = detail::parse_revoke(
      R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})");
  EXPECT_EQ(lease.code, errc::not_found);
  auto no_leader = detail::parse_put(R"({"error":"etcdserver: no leader","code":14})");
  ASSERT_FALSE(no_leader);
  EXPECT_EQ(no_leader.error().code, errc::unavailable);
  auto too_large = detail::parse_put(R"({"error":"request is too large","code":8})");
  EXPECT_EQ(too_large.error().code, errc::payload_too_large);
  auto stream = detail::parse_watch_line(R"({"error":{"grpc_code":14,"message":"no leader"}})");
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->ended.code, errc::unavailable);
  EXPECT_FALSE(detail::parse_range("not json"));
  EXPECT_FALSE(detail::parse_range(R"({"kvs":[{"key":"!!"}]})"));
  EXPECT_FALSE(detail::parse_range(R"({"count":"x"})"));
}

TEST(EtcdJson, WatchLines) {
  auto created =
      detail::parse_watch_line(R"({"result":{"header":{"revision":"3"},"created":true}})");
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->ended.ok());
  EXPECT_TRUE(created->events.empty());
  auto events = detail::parse_watch_line(
      R"({"result":{"header":{"revision":"5"},"events":[{"kv":{"key":"Zm9v","mod_revision":"4","value":"MQ=="}},{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"5"}}]}})");
  ASSERT_TRUE(events);
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].what, watch_event::type::put);
  EXPECT_EQ(events->events[0].kv.value, "1");
  EXPECT_EQ(events->events[1].what, watch_event::type::erase);
  EXPECT_EQ(events->events[1].kv.mod_revision, 5);
  auto compacted = detail::parse_watch_line(
      R"({"result":{"header":{},"canceled":true,"compact_revision":"3"}})");
  ASSERT_TRUE(compacted);
  EXPECT_EQ(compacted->ended.code, errc::not_found);
  EXPECT_EQ(compacted->compact_revision, 3);
}

TEST(EtcdJson, TxnRendersEveryCompareAndOperation) {
  compare lease;
  lease.key = "k";
  lease.what = compare::target::lease;
  lease.number = 9;
  auto body = detail::render_txn(
      {compare::absent("k"), compare::mod_revision_is("k", 12), lease, compare::value_is("k", "v")},
      {operation::put("k", "v", 42), operation::get_prefix("k")}, {operation::erase("k")});
  EXPECT_NE(body.find(R"("target":"CREATE","create_revision":"0")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("target":"MOD","mod_revision":"12")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("target":"LEASE","lease":"9")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("target":"VALUE","value":"dg==")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("request_put":{"key":"aw==","value":"dg==","lease":"42"})"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find(R"("request_range":{"key":"aw==","range_end":"bA=="})"), std::string::npos)
      << body;
  EXPECT_NE(body.find(R"("failure":[{"request_delete_range":{"key":"aw=="}}])"), std::string::npos)
      << body;
}

TEST(EtcdEndpoints, Parse) {
  auto two = parse_endpoints("http://127.0.0.1:2379,10.0.0.2:2380");
  ASSERT_TRUE(two);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].host, "10.0.0.2");
  EXPECT_EQ((*two)[1].port, 2380);
  EXPECT_FALSE(parse_endpoints(""));
  EXPECT_FALSE(parse_endpoints("127.0.0.1"));
  EXPECT_FALSE(parse_endpoints("127.0.0.1:2379,"));
  auto secure = parse_endpoints("https://10.0.0.3:2379");
  ASSERT_TRUE(secure);
  EXPECT_EQ((*secure)[0].host, "10.0.0.3");
}

class EtcdLive : public ::testing::Test {
 protected:
  testing::etcd_process etcd;
  std::unique_ptr<client> c = make_http_client(etcd.options());
};

TEST_F(EtcdLive, PutRangeAndErase) {
  std::string binary("k\0\xff\n", 4);
  auto rev = c->put("/t/a", "1");
  ASSERT_TRUE(rev) << rev.error().message;
  ASSERT_TRUE(c->put("/t/b", binary));
  ASSERT_TRUE(c->put(binary, "x"));
  ASSERT_TRUE(c->put("/u/c", "3"));
  auto one = c->range("/t/a");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, "1");
  EXPECT_EQ(one->kvs[0].mod_revision, *rev);
  auto prefix = c->range_prefix("/t/");
  ASSERT_TRUE(prefix);
  ASSERT_EQ(prefix->kvs.size(), 2u);
  EXPECT_EQ(prefix->kvs[1].value, binary);
  EXPECT_EQ(c->range(binary)->kvs.at(0).value, "x");
  auto limited = c->range("/t/", prefix_end("/t/"), 1);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->kvs.size(), 1u);
  EXPECT_TRUE(limited->more);
  EXPECT_EQ(limited->count, 2);
  EXPECT_EQ(*c->erase("/t/", prefix_end("/t/")), 2);
  EXPECT_EQ(*c->erase("/t/a"), 0);
  EXPECT_TRUE(c->range("/t/a")->kvs.empty());
  EXPECT_EQ(c->range("/u/c")->kvs.size(), 1u);
}

TEST_F(EtcdLive, CompareRevisionFencesConcurrentWriters) {
  auto created = c->txn({compare::absent("/shard")}, {operation::put("/shard", "epoch=1")});
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->succeeded);
  auto again = c->txn({compare::absent("/shard")}, {operation::put("/shard", "epoch=1")},
                      {operation::get("/shard")});
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->succeeded);
  ASSERT_EQ(again->ranges.size(), 1u);
  std::int64_t seen = again->ranges[0].kvs.at(0).mod_revision;
  // Two writers read the same revision; only the first compare-and-swap lands.
  auto first =
      c->txn({compare::mod_revision_is("/shard", seen)}, {operation::put("/shard", "epoch=2")});
  auto second =
      c->txn({compare::mod_revision_is("/shard", seen)}, {operation::put("/shard", "epoch=2b")});
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->succeeded);
  EXPECT_FALSE(second->succeeded);
  EXPECT_EQ(c->range("/shard")->kvs.at(0).value, "epoch=2");
  EXPECT_GT(first->revision, seen);
}

TEST_F(EtcdLive, LeaseBindsKeysAndExpires) {
  auto lease = c->lease_grant(2s);
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_EQ(lease->ttl_s, 2);
  ASSERT_TRUE(c->put("/nodes/a", "addr", lease->id));
  EXPECT_EQ(c->range("/nodes/a")->kvs.at(0).lease, lease->id);
  auto ttl = c->lease_keepalive(lease->id);
  ASSERT_TRUE(ttl) << ttl.error().message;
  EXPECT_EQ(*ttl, 2);
  EXPECT_TRUE(c->lease_revoke(lease->id).ok());
  EXPECT_TRUE(c->range("/nodes/a")->kvs.empty());
  auto gone = c->lease_keepalive(lease->id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, errc::not_found);
  EXPECT_EQ(c->lease_revoke(lease->id).code, errc::not_found);
  // A put under a lease that does not exist changes nothing.
  auto orphan = c->put("/nodes/b", "x", lease->id);
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, errc::not_found);
  EXPECT_TRUE(c->range("/nodes/b")->kvs.empty());
}

// Collects a watch's updates for the test thread.
struct watch_log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<watch_event> events;
  std::optional<watch_update> ended;

  std::function<void(const watch_update&)> sink() {
    return [this](const watch_update& u) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!u.ended.ok()) ended = u;
      events.insert(events.end(), u.events.begin(), u.events.end());
      changed.notify_all();
    };
  }
  bool wait(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, limit, done);
  }
};

TEST_F(EtcdLive, WatchReplaysFromARevisionThenStreams) {
  auto r1 = c->put("/w/a", "1");
  ASSERT_TRUE(r1);
  ASSERT_TRUE(c->put("/other", "x"));
  watch_log log;
  auto w = c->watch("/w/", prefix_end("/w/"), *r1, log.sink());
  ASSERT_TRUE(c->put("/w/b", "2"));
  ASSERT_TRUE(c->erase("/w/a"));
  ASSERT_TRUE(log.wait([&] { return log.events.size() >= 3; })) << log.events.size();
  std::lock_guard<std::mutex> lock(log.mutex);
  ASSERT_EQ(log.events.size(), 3u);
  EXPECT_EQ(log.events[0].kv.key, "/w/a");
  EXPECT_EQ(log.events[0].kv.mod_revision, *r1);
  EXPECT_EQ(log.events[1].kv.value, "2");
  EXPECT_EQ(log.events[2].what, watch_event::type::erase);
  EXPECT_EQ(log.events[2].kv.key, "/w/a");
  EXPECT_FALSE(log.ended);
}

TEST_F(EtcdLive, WatchOfACompactedRevisionSaysSo) {
  auto r1 = c->put("/w/a", "1");
  auto r2 = c->put("/w/a", "2");
  ASSERT_TRUE(r1 && r2);
  // Compaction is not part of the client's interface; the test asks etcd directly.
  auto raw = make_http_client(etcd.options());
  ASSERT_TRUE(c->put("/w/a", "3"));
  std::system(("curl -s -o /dev/null http://127.0.0.1:" + std::to_string(etcd.endpoint().port) +
               "/v3/kv/compaction -d '{\"revision\":\"" + std::to_string(*r2) + "\"}'")
                  .c_str());
  watch_log log;
  auto w = c->watch("/w/", prefix_end("/w/"), *r1, log.sink());
  ASSERT_TRUE(log.wait([&] { return log.ended.has_value(); }));
  EXPECT_EQ(log.ended->ended.code, errc::not_found);
  EXPECT_EQ(log.ended->compact_revision, *r2);
}

TEST_F(EtcdLive, WatchEndsWhenItsMemberDiesOrStops) {
  watch_log killed;
  auto rev = c->put("/w/a", "1");
  ASSERT_TRUE(rev);
  auto w = c->watch("/w/", prefix_end("/w/"), *rev, killed.sink());
  ASSERT_TRUE(killed.wait([&] { return !killed.events.empty(); }));
  etcd.kill(SIGKILL);
  ASSERT_TRUE(killed.wait([&] { return killed.ended.has_value(); }));
  EXPECT_EQ(killed.ended->ended.code, errc::unavailable);

  etcd.start();
  watch_log paused;
  auto w2 = c->watch("/w/", prefix_end("/w/"), 0, paused.sink());
  std::this_thread::sleep_for(500ms);
  etcd.signal(SIGSTOP);  // the connection stays open; only the idle timeout notices
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(paused.wait([&] { return paused.ended.has_value(); }));
  auto waited = std::chrono::steady_clock::now() - t0;
  etcd.signal(SIGCONT);
  EXPECT_EQ(paused.ended->ended.code, errc::unavailable);
  EXPECT_LT(waited, 8s);
  // Progress notices (1 s here) keep a quiet but live watch open past the idle timeout.
  watch_log quiet;
  auto w3 = c->watch("/quiet/", prefix_end("/quiet/"), 0, quiet.sink());
  EXPECT_FALSE(quiet.wait([&] { return quiet.ended.has_value(); }, 5s));
}

TEST_F(EtcdLive, DownOrPausedMembersAreUnavailableWithinTheTimeouts) {
  auto opts = etcd.options();
  // A dead first member: the client moves on to the live one.
  opts.endpoints.insert(opts.endpoints.begin(), endpoint{"127.0.0.1", testing::free_port()});
  auto failover = make_http_client(opts);
  auto rev = failover->put("/f", "1");
  ASSERT_TRUE(rev) << rev.error().message;
  EXPECT_TRUE(failover->range("/f"));

  etcd.signal(SIGSTOP);
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->range("/f");
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_LT(waited, 6s);  // request_timeout 1.5 s, one retry, a dial each
  auto w = c->put("/f", "2");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, errc::unavailable);
  etcd.signal(SIGCONT);
  // The client reconnects by itself.
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {
    back = c->range("/f").has_value();
    if (!back) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(back);
}

TEST_F(EtcdLive, SessionRenewsItsLeaseAndReportsItsLoss) {
  std::atomic<int> lost{0};
  auto s = session::open(*c, 2s, [&](const status&) { ++lost; });
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(c->put("/nodes/me", "x", (*s)->lease()));
  std::this_thread::sleep_for(3500ms);  // past the TTL: renewals kept it
  EXPECT_EQ(c->range("/nodes/me")->kvs.size(), 1u);
  EXPECT_EQ(lost.load(), 0);
  EXPECT_GT((*s)->valid_until(), std::chrono::steady_clock::now());
  // Someone revokes it (an operator, or expiry during a pause): the session says so.
  ASSERT_TRUE(c->lease_revoke((*s)->lease()).ok());
  for (int i = 0; i < 40 && lost.load() == 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(lost.load(), 1);
  EXPECT_TRUE((*s)->lost());
  EXPECT_TRUE(c->range("/nodes/me")->kvs.empty());
}

TEST_F(EtcdLive, SessionClosedRevokesAtOnce) {
  std::int64_t lease = 0;
  {
    auto s = session::open(*c, 30s, nullptr);
    ASSERT_TRUE(s);
    lease = (*s)->lease();
    ASSERT_TRUE(c->put("/nodes/me", "x", lease));
  }
  EXPECT_TRUE(c->range("/nodes/me")->kvs.empty());
  EXPECT_EQ(c->lease_keepalive(lease).error().code, errc::not_found);
}

TEST_F(EtcdLive, OneCampaignerWinsUntilItsLeaseGoes) {
  auto a = c->lease_grant(10s);
  auto b = c->lease_grant(10s);
  ASSERT_TRUE(a && b);
  auto first = campaign(*c, "/controller", "a", a->id);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->won);
  auto second = campaign(*c, "/controller", "b", b->id);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->won);
  EXPECT_EQ(second->holder, "a");
  EXPECT_EQ(second->holder_lease, a->id);
  // Resigning with another's lease does nothing.
  EXPECT_TRUE(resign(*c, "/controller", b->id).ok());
  EXPECT_EQ(c->range("/controller")->kvs.at(0).value, "a");
  ASSERT_TRUE(c->lease_revoke(a->id).ok());  // a dies: its key goes with its lease
  auto third = campaign(*c, "/controller", "b", b->id);
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->won);
  EXPECT_GT(third->create_revision, first->create_revision);  // a newer term
  EXPECT_TRUE(resign(*c, "/controller", b->id).ok());
  EXPECT_TRUE(c->range("/controller")->kvs.empty());
}

// Certificates for an HTTPS member, made with the openssl tool: the member's
// (IP 127.0.0.1 only), a client's, and a stranger's from another CA.
struct tls_certs {
  std::filesystem::path dir;
  testing::etcd_tls_files files;
  std::string other_ca;
  bool made = false;
};

const tls_certs& etcd_certs() {
  static const tls_certs c = [] {
    tls_certs out;
    out.dir =
        std::filesystem::temp_directory_path() / ("quiver-etcd-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(out.dir);
    auto d = out.dir.string();
    auto run = [](const std::string& cmd) {
      return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
    };
    auto ca = [&](const std::string& n) {
      return run(
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
          "-subj /CN=" +
          n + " -keyout " + d + "/" + n + ".key -out " + d + "/" + n + ".pem");
    };
    auto cert = [&](const std::string& n, const std::string& by, const std::string& ext) {
      std::ofstream(d + "/" + n + ".ext") << ext << "\n";
      return run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + n +
                 " -keyout " + d + "/" + n + ".key -out " + d + "/" + n + ".csr") &&
             run("openssl x509 -req -days 2 -in " + d + "/" + n + ".csr -CA " + d + "/" + by +
                 ".pem -CAkey " + d + "/" + by + ".key -CAcreateserial -extfile " + d + "/" + n +
                 ".ext -out " + d + "/" + n + ".pem");
    };
    // etcd's JSON gateway presents the member's certificate to the member itself:
    // it must allow client use too.
    out.made = ca("ca") && ca("other-ca") &&
               cert("member", "ca",
                    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth") &&
               cert("client", "ca", "extendedKeyUsage=clientAuth") &&
               cert("stranger", "other-ca", "extendedKeyUsage=clientAuth");
    out.files = {d + "/ca.pem", d + "/member.pem", d + "/member.key", d + "/client.pem",
                 d + "/client.key"};
    out.other_ca = d + "/other-ca.pem";
    return out;
  }();
  static const struct cleanup {
    ~cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(etcd_certs().dir, ec);
    }
  } at_exit;
  return c;
}

TEST(EtcdTls, OnlyAClientWithTheRightCertificateAndTrustGetsIn) {
  if (!etcd_certs().made) GTEST_SKIP() << "needs the openssl tool";
  testing::etcd_process etcd(etcd_certs().files);
  auto c = make_http_client(etcd.options());
  auto rev = c->put("/tls/a", "1");
  ASSERT_TRUE(rev) << rev.error().message;
  auto got = c->range("/tls/a");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "1");
  // Watches go over HTTPS too.
  watch_log log;
  auto w = c->watch("/tls/", prefix_end("/tls/"), *rev, log.sink());
  ASSERT_TRUE(c->put("/tls/b", "2"));
  ASSERT_TRUE(log.wait([&] { return log.events.size() >= 2; }));

  auto refused = [&](etcd::client_options o) {
    auto r = make_http_client(std::move(o))->range("/tls/a");
    return r ? std::string("answered") : r.error().message;
  };
  auto o = etcd.options();
  o.cert = o.key = "";
  EXPECT_NE(refused(o), "answered") << "no client certificate";
  o = etcd.options();
  o.cert = (etcd_certs().dir / "stranger.pem").string();
  o.key = (etcd_certs().dir / "stranger.key").string();
  EXPECT_NE(refused(o), "answered") << "a certificate another CA signed";
  o = etcd.options();
  o.ca = etcd_certs().other_ca;
  EXPECT_NE(refused(o), "answered") << "a member this client's CA did not sign";
  o = etcd.options();
  o.ca = "";
  EXPECT_NE(refused(o), "answered") << "plain HTTP to an HTTPS member";
  // The member's certificate names 127.0.0.1 only: another name for it fails.
  o = etcd.options();
  o.endpoints = {{"localhost", etcd.endpoint().port}};
  EXPECT_NE(refused(o), "answered") << "a name the certificate does not carry";
  // A file that does not load is named, in every call.
  o = etcd.options();
  o.key = (etcd_certs().dir / "missing.key").string();
  auto bad = make_http_client(o)->range("/tls/a");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_argument);
  EXPECT_NE(bad.error().message.find("etcd.key"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace quiver::etcd
