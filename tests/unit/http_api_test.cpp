#include "daemons/gateway/http_api.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <sstream>

#include "common/api_keys.hpp"
#include "tests/unit/fake_router.hpp"

namespace quiver {
namespace {

struct reply_and_body {
  int status = 0;
  std::string body;
  http_reply raw;
};

class HttpApi : public ::testing::Test {
 protected:
  explicit HttpApi(bool auth = false) {
    server_config config;
    auth_config a;
    if (auth) a.admin_key = admin_key;
    api_ = std::make_unique<http_api>(router_, metrics_, config, a);
  }

  reply_and_body call(const std::string& method, const std::string& target,
                      const std::string& body = {}, const std::string& key = {},
                      const std::string& type = "application/json") {
    http_request r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.content_type = body.empty() ? std::string() : type;
    if (!key.empty()) r.authorization = "Bearer " + key;
    std::optional<http_reply> got;
    api_->handle(std::move(r), [&](http_reply reply) { got = std::move(reply); });
    EXPECT_TRUE(got) << method << " " << target << ": no reply";
    if (!got) return {};
    return {got->status, got->body, *got};
  }
  std::string header(const http_reply& r, const std::string& name) {
    for (auto& [k, v] : r.headers)
      if (k == name) return v;
    return {};
  }

  fake_router router_;
  http_metrics metrics_;
  std::unique_ptr<http_api> api_;
};

class HttpApiAuth : public HttpApi {
 protected:
  HttpApiAuth() : HttpApi(true) {}
};

TEST_F(HttpApi, EveryRouteAnswersWithTheRoutersReply) {
  struct route_case {
    const char* method;
    const char* target;
    const char* body;
    int status;
  };
  const route_case cases[] = {
      {"GET", "/healthz", "", 200},
      {"GET", "/readyz", "", 200},
      {"GET", "/metrics", "", 200},
      {"GET", "/v1/cluster", "", 200},
      {"GET", "/v1/indexes", "", 200},
      {"POST", "/v1/indexes", R"({"name":"a","dimension":2})", 201},
      {"GET", "/v1/indexes/a", "", 200},
      {"DELETE", "/v1/indexes/a", "", 200},
      {"POST", "/v1/indexes/a/vectors", R"({"items":[{"id":"x","vector":[1,2]}]})", 200},
      {"POST", "/v1/indexes/a/vectors/delete", R"({"ids":["x"]})", 200},
      {"GET", "/v1/indexes/a/vectors/x", "", 200},
      {"GET", "/v1/indexes/a/vectors/delete", "", 200},  // an id named "delete"
      {"PUT", "/v1/indexes/a/vectors/x", R"({"vector":[1,2]})", 200},
      {"DELETE", "/v1/indexes/a/vectors/x%2Fy", "", 200},
      {"GET", "/v1/indexes/a/ids?limit=5", "", 200},
      {"POST", "/v1/indexes/a/merge", R"({"source":"b"})", 200},
      {"POST", "/v1/indexes/a/search", R"({"vector":[1,2],"k":3})", 200},
      {"POST", "/v1/indexes/a/search/batch", R"({"queries":[{"vector":[1,2],"k":3}]})", 200},
  };
  for (const auto& c : cases) {
    auto r = call(c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << ": " << r.body;
  }
  EXPECT_EQ(router_.last_index, "a");
  EXPECT_EQ(router_.last_tenant, default_tenant());
  // Path parameters arrive decoded; an id of "/" stays one id.
  call("GET", "/v1/indexes/a/vectors/x%2Fy");
  EXPECT_EQ(router_.last_index, "a");
  EXPECT_NE(call("GET", "/v1/indexes/a/vectors/x%2Fy").body.find("x/y"), std::string::npos);
  // Admin routes with auth off are refused, known or not.
  EXPECT_EQ(call("GET", "/v1/admin/tenants").status, 403);
  EXPECT_EQ(call("GET", "/v1/admin/nothing").status, 403);
}

TEST_F(HttpApi, GatewayErrorsComeFromTheRouteTable) {
  auto calls = router_.calls;
  EXPECT_EQ(call("GET", "/nope").status, 404);
  EXPECT_EQ(call("GET", "/v1/indexes/a/unknown").status, 404);
  auto r = call("PATCH", "/v1/indexes");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(header(r.raw, "Allow"), "GET, POST");
  r = call("PATCH", "/v1/indexes/a/vectors/delete");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(header(r.raw, "Allow"), "GET, PUT, DELETE");
  EXPECT_EQ(call("POST", "/v1/indexes/a/search", "x", {}, "text/plain").status, 415);
  EXPECT_EQ(call("GET", "/v1/indexes/..%2Fetc").status, 404);
  EXPECT_EQ(call("GET", "/v1/indexes/a%zz").status, 400);
  EXPECT_EQ(call("POST", "/v1/indexes", "{").status, 400);
  EXPECT_EQ(call("GET", "/v1/indexes/a/ids?limit=0").status, 400);
  EXPECT_EQ(call("GET", "/v1/indexes/a/ids?bogus=1").status, 400);
  EXPECT_EQ(router_.calls, calls);  // none of them reached the router
}

TEST_F(HttpApi, EveryErrorCodeIsAnsweredWithItsStatus) {
  for (int i = static_cast<int>(errc::ok) + 1; i <= static_cast<int>(errc::internal); ++i) {
    auto code = static_cast<errc>(i);
    router_.failure = make_status(code, "injected");
    auto r = call("GET", "/v1/indexes/a");
    EXPECT_EQ(r.status, http_status(code)) << code_name(code);
    EXPECT_NE(r.body.find("\"code\":\"" + std::string(code_name(code)) + "\""), std::string::npos)
        << r.body;
    bool retry =
        code == errc::unavailable || code == errc::rate_limited || code == errc::stale_epoch;
    EXPECT_EQ(!header(r.raw, "Retry-After").empty(), retry) << code_name(code);
  }
  EXPECT_EQ(http_status(errc::insufficient_storage), 507);
  EXPECT_EQ(http_status(errc::stale_epoch), 503);
  // Text details render beside the numbers.
  auto st = make_status(errc::insufficient_storage, "disk full", {{"free_bytes", 12}});
  st.text_details.emplace_back("path", "/data/x");
  router_.failure = st;
  auto r = call("POST", "/v1/indexes/a/vectors", R"({"items":[{"id":"x","vector":[1,2]}]})");
  EXPECT_EQ(r.status, 507);
  EXPECT_NE(r.body.find(R"("details":{"free_bytes":12,"path":"/data/x"})"), std::string::npos)
      << r.body;
}

TEST_F(HttpApi, MetricsLabelsComeFromAClosedSet) {
  call("GET", "/healthz");
  call("BREW", "/healthz");
  call("GET", "/invented/0");
  auto before = metrics_.render();
  for (int i = 0; i < 30; ++i) {
    call("BREW" + std::to_string(i), "/healthz");
    call("GET", "/invented/" + std::to_string(i));
    call("X" + std::to_string(i), "/v1/indexes/a" + std::to_string(i));
  }
  auto after = metrics_.render();
  auto series = [](const std::string& text) {
    std::set<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') out.insert(line.substr(0, line.rfind(' ')));
    return out;
  };
  auto grown = series(after);
  for (auto& s : series(before)) grown.erase(s);
  // Only the one route label the X requests add ("other /v1/indexes/{name}").
  for (auto& s : grown)
    EXPECT_NE(s.find("route=\"other /v1/indexes/{name}\""), std::string::npos) << s;
  EXPECT_EQ(after.find("BREW"), std::string::npos);
  EXPECT_EQ(after.find("invented"), std::string::npos);
  EXPECT_NE(after.find("route=\"other /healthz\""), std::string::npos);
}

TEST_F(HttpApiAuth, KeysSelectTenantsAndScopeRoutes) {
  EXPECT_EQ(call("GET", "/v1/indexes").status, 401);
  EXPECT_EQ(call("GET", "/v1/indexes", {}, "qk_wrong").status, 401);
  EXPECT_EQ(call("GET", "/healthz").status, 200);
  EXPECT_EQ(call("GET", "/v1/indexes/a", {}, tenant_key).status, 200);
  EXPECT_EQ(router_.last_tenant, tenant_id{"acme"});
  EXPECT_EQ(call("GET", "/v1/indexes", {}, admin_key).status, 403);
  EXPECT_EQ(call("GET", "/metrics", {}, tenant_key).status, 403);
  EXPECT_EQ(call("GET", "/v1/cluster", {}, tenant_key).status, 403);
  EXPECT_EQ(call("GET", "/v1/admin/tenants", {}, tenant_key).status, 403);
  EXPECT_EQ(call("GET", "/v1/admin/whatever", {}, tenant_key).status, 403);
  EXPECT_EQ(call("GET", "/v1/admin/whatever", {}, admin_key).status, 404);
  EXPECT_EQ(call("POST", "/v1/admin/tenants", R"({"name":"t2"})", admin_key).status, 201);
  EXPECT_EQ(call("GET", "/v1/admin/tenants", {}, admin_key).status, 200);
  EXPECT_EQ(call("GET", "/v1/admin/tenants/t2", {}, admin_key).status, 200);
  EXPECT_EQ(call("GET", "/v1/admin/tenants/..", {}, admin_key).status, 404);
  EXPECT_EQ(call("POST", "/v1/admin/tenants/t2/keys", {}, admin_key).status, 200);
  EXPECT_EQ(call("DELETE", "/v1/admin/tenants/t2", {}, admin_key).status, 200);
  EXPECT_EQ(call("POST", "/v1/admin/tenants", "x", admin_key, "text/plain").status, 415);
}

TEST_F(HttpApiAuth, TheAdminsMetricsListEveryTenantsIndexes) {
  index_description a, b;
  a.tenant = tenant_id{"acme"};
  a.params.name = "one";
  a.count = 4;
  b.tenant = tenant_id{"zeta"};
  b.params.name = "two";
  router_.indexes = {a, b};
  auto r = call("GET", "/metrics", {}, admin_key);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(router_.last_list.all_tenants);
  EXPECT_NE(r.body.find("quiver_index_vectors{tenant=\"acme\",index=\"one\"} 4"),
            std::string::npos);
  EXPECT_NE(r.body.find("quiver_index_vectors{tenant=\"zeta\",index=\"two\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace quiver
