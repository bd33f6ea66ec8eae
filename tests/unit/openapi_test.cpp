// docs/openapi.yaml (compiled in) against the route table: every route the gateway
// answers is described, nothing else is, and every $ref points at a definition.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cctype>
#include <set>
#include <string>
#include <utility>

#include "daemons/gateway/openapi.hpp"

namespace quiver::gateway {
namespace {

using route_set = std::set<std::pair<std::string, std::string>>;

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Collects every "$ref" string under `e`.
void refs(simdjson::dom::element e, std::set<std::string>& out) {
  if (e.is_object()) {
    simdjson::dom::object object = e.get_object().value_unsafe();
    for (auto [key, value] : object) {
      if (key == "$ref" && value.is_string())
        out.emplace(value.get_string().value_unsafe());
      else
        refs(value, out);
    }
  } else if (e.is_array()) {
    simdjson::dom::array array = e.get_array().value_unsafe();
    for (auto value : array) refs(value, out);
  }
}

class OpenApi : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = simdjson::padded_string(openapi_json());
    ASSERT_EQ(parser_.parse(text_).get(doc_), simdjson::SUCCESS);
  }
  simdjson::padded_string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_;
};

TEST_F(OpenApi, DescribesExactlyTheRoutesTheGatewayAnswers) {
  route_set described;
  simdjson::dom::object paths;
  ASSERT_EQ(doc_["paths"].get(paths), simdjson::SUCCESS);
  for (auto [path, item] : paths) {
    simdjson::dom::object operations = item.get_object().value_unsafe();
    for (auto [key, op] : operations) {
      if (key == "parameters") continue;
      described.emplace(std::string(path), upper(key));
      simdjson::dom::object responses;
      EXPECT_EQ(op["responses"].get(responses), simdjson::SUCCESS) << path << " " << key;
      std::string_view id;
      EXPECT_EQ(op["operationId"].get(id), simdjson::SUCCESS) << path << " " << key;
    }
  }
  route_set served;
  for (auto [pattern, method] : route_methods())
    served.emplace(std::string(pattern), std::string(method));
  for (auto& r : served)
    EXPECT_TRUE(described.count(r)) << r.second << " " << r.first << " is not in docs/openapi.yaml";
  for (auto& d : described)
    EXPECT_TRUE(served.count(d)) << d.second << " " << d.first << " is described but not served";
  EXPECT_GE(served.size(), 27u);
}

TEST_F(OpenApi, EveryReferenceResolves) {
  std::set<std::string> all;
  refs(doc_, all);
  ASSERT_FALSE(all.empty());
  for (auto& ref : all) {
    ASSERT_EQ(ref.rfind("#/components/", 0), 0u) << ref;
    auto rest = ref.substr(std::string("#/components/").size());
    auto slash = rest.find('/');
    ASSERT_NE(slash, std::string::npos) << ref;
    simdjson::dom::element target;
    EXPECT_EQ(doc_["components"][rest.substr(0, slash)][rest.substr(slash + 1)].get(target),
              simdjson::SUCCESS)
        << ref << " points nowhere";
  }
}

}  // namespace
}  // namespace quiver::gateway
