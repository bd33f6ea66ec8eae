#include "common/filter.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <sstream>
#include <string>

#include "common/body_codec.hpp"

namespace quiver {
namespace {

constexpr auto json = body_format::json;

metadata_filter parsed(const std::string& filter) {
  auto q = parse_search(json, R"({"vector":[1],"filter":)" + filter + "}");
  EXPECT_TRUE(q) << filter << ": " << (q ? "" : q.error().message);
  return q ? q->options.filter : metadata_filter{};
}

// The error message of a search body with this filter.
std::string refusal(const std::string& filter) {
  auto q = parse_search(json, R"({"vector":[1],"filter":)" + filter + "}");
  if (q) return "accepted";
  EXPECT_EQ(q.error().code, errc::invalid_argument);
  return q.error().message;
}

bool matches(const std::string& filter, const std::string& metadata) {
  auto f = parsed(filter);
  EXPECT_EQ(filter_problem(f), "");
  return filter_matcher(f).matches(metadata);
}

TEST(Filter, MatchComparesStringsIntegersAndBools) {
  const std::string doc = R"({"city":"Austin","years":3,"ok":true,"rate":2.5})";
  EXPECT_TRUE(matches(R"({"must":[{"key":"city","match":"Austin"}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"city","match":"austin"}]})", doc));
  EXPECT_TRUE(matches(R"({"must":[{"key":"years","match":3}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"years","match":4}]})", doc));
  EXPECT_TRUE(matches(R"({"must":[{"key":"ok","match":true}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"ok","match":false}]})", doc));
  // Types do not convert: the string "3" is not the number 3, nor true 1.
  EXPECT_FALSE(matches(R"({"must":[{"key":"years","match":"3"}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"ok","match":1}]})", doc));
  // Numbers compare by value.
  EXPECT_TRUE(matches(R"({"must":[{"key":"n","match":3}]})", R"({"n":3.0})"));
}

TEST(Filter, InRangeContainsExists) {
  const std::string doc = R"({"city":"Dallas","years":7,"skills":["forklift","cdl"],"e":null})";
  EXPECT_TRUE(matches(R"({"must":[{"key":"city","in":["Austin","Dallas"]}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"city","in":["Austin","Houston"]}]})", doc));
  EXPECT_TRUE(matches(R"({"must":[{"key":"years","range":{"gte":7,"lt":8}}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"years","range":{"gt":7}}]})", doc));
  EXPECT_TRUE(matches(R"({"must":[{"key":"years","range":{"lte":7.5}}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"city","range":{"gt":0}}]})", doc));
  EXPECT_TRUE(matches(R"({"must":[{"key":"skills","contains":"cdl"}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"skills","contains":"welding"}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"city","contains":"Dallas"}]})", doc));  // not an array
  EXPECT_TRUE(matches(R"({"must":[{"key":"city","exists":true}]})", doc));
  EXPECT_TRUE(matches(R"({"must":[{"key":"email","exists":false}]})", doc));
  // null counts as absent.
  EXPECT_TRUE(matches(R"({"must":[{"key":"e","exists":false}]})", doc));
}

TEST(Filter, AMissingFieldMatchesNoConditionButExistsFalse) {
  const std::string doc = R"({"a":1})";
  EXPECT_FALSE(matches(R"({"must":[{"key":"b","match":1}]})", doc));
  EXPECT_FALSE(matches(R"({"must":[{"key":"b","range":{"gt":0}}]})", doc));
  EXPECT_TRUE(matches(R"({"must_not":[{"key":"b","match":1}]})", doc));
  // No metadata at all is a document without fields.
  EXPECT_FALSE(matches(R"({"must":[{"key":"b","match":1}]})", ""));
  EXPECT_TRUE(matches(R"({"must":[{"key":"b","exists":false}]})", ""));
}

TEST(Filter, MustShouldMustNotAndNesting) {
  const std::string doc = R"({"city":"Austin","years":3,"ok":true})";
  EXPECT_TRUE(matches(R"({"should":[{"key":"city","match":"X"},{"key":"years","match":3}]})", doc));
  EXPECT_FALSE(
      matches(R"({"should":[{"key":"city","match":"X"},{"key":"years","match":4}]})", doc));
  EXPECT_FALSE(matches(
      R"({"must":[{"key":"ok","match":true}],"must_not":[{"key":"years","match":3}]})", doc));
  EXPECT_TRUE(
      matches(R"({"must":[{"key":"ok","match":true},{"should":[{"key":"city","match":"Dallas"},)"
              R"({"must":[{"key":"city","match":"Austin"},{"key":"years","range":{"lt":5}}]}]}]})",
              doc));
  EXPECT_FALSE(
      matches(R"({"must":[{"key":"ok","match":true},{"should":[{"key":"city","match":"Dallas"},)"
              R"({"must":[{"key":"city","match":"Austin"},{"key":"years","range":{"lt":2}}]}]}]})",
              doc));
  // {} filters nothing.
  EXPECT_TRUE(parsed("{}").empty());
}

TEST(Filter, MalformedFiltersNameTheOffendingPath) {
  EXPECT_EQ(
      refusal(R"({"must":[{"key":"a","match":1},{"key":"b","match":2},{"key":"c","range":{}}]})"),
      "filter.must[2].range: needs at least one of gt, gte, lt, lte");
  EXPECT_EQ(refusal(R"({"must":[{"key":"a","like":"x"}]})"),
            "filter.must[0]: unknown operator 'like' (match, in, range, contains or exists)");
  EXPECT_EQ(refusal(R"({"must":[{"key":"a","in":[]}]})"),
            "filter.must[0].in: must be a non-empty array of strings, integers or booleans");
  EXPECT_EQ(refusal(R"({"should":[{"key":"a","match":1.5}]})"),
            "filter.should[0].match: must be a string, an integer or a boolean");
  EXPECT_EQ(refusal(R"({"must":[{"key":"a","match":1,"exists":true}]})"),
            "filter.must[0]: needs exactly one of match, in, range, contains or exists");
  EXPECT_EQ(refusal(R"({"must":[{"key":"a"}]})"),
            "filter.must[0]: needs exactly one of match, in, range, contains or exists");
  EXPECT_EQ(refusal(R"({"must":[{"match":1}]})"),
            "filter.must[0]: must name a \"key\" or hold must, should or must_not");
  EXPECT_EQ(refusal(R"({"mustnt":[]})"),
            "filter: unknown field 'mustnt' (a group holds must, should and must_not)");
  EXPECT_EQ(refusal(R"({"must":{"key":"a","match":1}})"),
            "filter.must: must be an array of conditions");
  EXPECT_EQ(refusal(R"({"must":[{"key":"a","range":{"gt":"1"}}]})"),
            "filter.must[0].range.gt: must be a number");
  EXPECT_EQ(refusal(R"({"must":[{"key":"a","range":{"above":1}}]})"),
            "filter.must[0].range: unknown bound 'above' (gt, gte, lt, lte)");
  EXPECT_EQ(refusal(R"({"must":[{"key":"a","exists":1}]})"),
            "filter.must[0].exists: must be true or false");
  EXPECT_EQ(refusal(R"({"must":[{"key":"","match":1}]})"),
            "filter.must[0].key: must be a non-empty string");
  EXPECT_EQ(refusal(R"("city")"), "filter: must be an object");
}

TEST(Filter, DepthAndSizeAreBounded) {
  auto nested = [](int groups) {
    std::string f = R"({"key":"a","match":1})";
    for (int i = 1; i < groups; ++i) f = R"({"must":[)" + f + "]}";
    return R"({"must":[)" + f + "]}";
  };
  EXPECT_EQ(filter_problem(parsed(nested(8))), "");
  EXPECT_NE(refusal(nested(9)).find("nests deeper than 8"), std::string::npos);
  auto many = [](int n) {
    std::string f = R"({"should":[)";
    for (int i = 0; i < n; ++i)
      f += std::string(i ? "," : "") + R"({"key":"a","match":)" + std::to_string(i) + "}";
    return f + "]}";
  };
  auto f = parsed(many(1024));
  EXPECT_EQ(f.nodes.size(), 1025u);
  EXPECT_TRUE(filter_matcher(f).matches(R"({"a":1023})"));
  EXPECT_EQ(refusal(many(1025)), "filter.should[1024]: the filter holds more than 1024 conditions");
}

TEST(Filter, MessagePackBodiesParseTheSame) {
  std::stringstream buf;
  msgpack::packer<std::stringstream> pk(buf);
  pk.pack_map(2);
  pk.pack("vector");
  pk.pack_array(1);
  pk.pack(1.0f);
  pk.pack("filter");
  pk.pack_map(1);
  pk.pack("must");
  pk.pack_array(2);
  pk.pack_map(2);
  pk.pack("key");
  pk.pack("city");
  pk.pack("in");
  pk.pack_array(2);
  pk.pack("Austin");
  pk.pack("Dallas");
  pk.pack_map(2);
  pk.pack("key");
  pk.pack("years");
  pk.pack("range");
  pk.pack_map(1);
  pk.pack("gte");
  pk.pack(5);
  auto q = parse_search(body_format::msgpack, buf.str());
  ASSERT_TRUE(q) << q.error().message;
  filter_matcher m(q->options.filter);
  EXPECT_TRUE(m.matches(R"({"city":"Dallas","years":5})"));
  EXPECT_FALSE(m.matches(R"({"city":"Dallas","years":4})"));
  EXPECT_FALSE(m.matches(R"({"city":"Houston","years":9})"));
}

TEST(Filter, ProblemsOfAFilterFromTheWire) {
  auto f = parsed(R"({"must":[{"key":"a","match":1},{"key":"b","exists":true}]})");
  ASSERT_EQ(filter_problem(f), "");
  auto cycle = f;
  cycle.nodes[0].must.push_back(0);
  EXPECT_NE(filter_problem(cycle), "");
  auto out_of_range = f;
  out_of_range.nodes[0].must.push_back(7);
  EXPECT_NE(filter_problem(out_of_range), "");
  auto twice = f;
  twice.nodes[0].should.push_back(1);  // one node in two places
  EXPECT_NE(filter_problem(twice), "");
  auto orphan = f;
  orphan.nodes[0].must.pop_back();
  EXPECT_NE(filter_problem(orphan), "");
  auto bad_range = f;
  bad_range.nodes[1].kind = filter_node::op::range;
  EXPECT_NE(filter_problem(bad_range), "");
  auto no_value = f;
  no_value.nodes[1].values.clear();
  EXPECT_NE(filter_problem(no_value), "");
  auto root = f;
  root.nodes[0].kind = filter_node::op::exists;
  EXPECT_NE(filter_problem(root), "");
  auto unknown = f;
  unknown.nodes[2].kind = static_cast<filter_node::op>(42);
  EXPECT_NE(filter_problem(unknown), "");
}

TEST(Filter, DeleteAndCountBodies) {
  auto d = parse_delete(json, R"({"filter":{"must":[{"key":"a","match":1}]}})", 10);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->by_filter);
  EXPECT_EQ(d->filter.nodes.size(), 2u);
  auto both = parse_delete(json, R"({"ids":["x"],"filter":{"must":[{"key":"a","match":1}]}})", 10);
  EXPECT_EQ(both.error().message, "give 'ids' or 'filter', not both");
  EXPECT_EQ(parse_delete(json, R"({"filter":{}})", 10).error().code, errc::invalid_argument);
  EXPECT_EQ(parse_delete(json, R"({})", 10).error().code, errc::invalid_argument);
  EXPECT_TRUE(parse_count(json, "")->empty());
  EXPECT_TRUE(parse_count(json, "{}")->empty());
  EXPECT_EQ(parse_count(json, R"({"filter":{"must":[{"key":"a","match":1}]}})")->nodes.size(), 2u);
  EXPECT_EQ(parse_count(json, R"({"where":{}})").error().message, "unknown field 'where'");
}

}  // namespace
}  // namespace quiver
