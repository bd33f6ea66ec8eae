#include "common/body_codec.hpp"
#include "common/log_record.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <cmath>
#include <cstring>

namespace quiver {
namespace {

constexpr auto json = body_format::json;

TEST(BodyCodec, CreateIndexDefaultsAndFields) {
  auto p = parse_create_index(json, R"({"name":"docs","dimension":8})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "docs");
  EXPECT_EQ(p->dimension, 8u);
  EXPECT_EQ(p->distance, distance_kind::cosine);
  EXPECT_EQ(p->m, 16u);
  EXPECT_EQ(p->ef_construction, 200u);
  EXPECT_EQ(p->ef_search, 64u);
  EXPECT_EQ(p->shards, 1u);
  auto q = parse_create_index(
      json, R"({"name":"a.b-c_d","dimension":3,"distance":"dot","m":8,"ef_search":10,"shards":4})");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->distance, distance_kind::dot);
  EXPECT_EQ(q->shards, 4u);
}

TEST(BodyCodec, CreateIndexRejectsBadInput) {
  auto code = [](const std::string& body) {
    auto r = parse_create_index(json, body);
    return r ? errc::ok : r.error().code;
  };
  EXPECT_EQ(code("{"), errc::invalid_json);
  EXPECT_EQ(code(""), errc::invalid_json);
  EXPECT_EQ(code("[]"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"dimension":3})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x"})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x","dimension":0})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x","dimension":-3})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x","dimension":3.5})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x","dimension":"3"})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x","dimension":3,"distance":"manhattan"})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"_x","dimension":3})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"a/b","dimension":3})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"..","dimension":3})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":")" + std::string(129, 'a') + R"(","dimension":3})"),
            errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x","dimension":3,"dimensions":3})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"name":"x","dimension":3,"shards":0})"), errc::invalid_argument);
}

TEST(BodyCodec, UpsertOneKeepsMetadataAsCompactJson) {
  auto b =
      parse_upsert_one(json, R"({"vector":[1, 2.5, -3e2], "metadata": {"a": [1, {"b": null}]}})");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->vector, (std::vector<float>{1, 2.5, -300}));
  EXPECT_EQ(b->metadata, R"({"a":[1,{"b":null}]})");
  auto none = parse_upsert_one(json, R"({"vector":[1]})");
  EXPECT_EQ(none->metadata, "");
  auto null_meta = parse_upsert_one(json, R"({"vector":[1],"metadata":null})");
  EXPECT_EQ(null_meta->metadata, "");
  auto empty = parse_upsert_one(json, R"({"vector":[1],"metadata":{}})");
  EXPECT_EQ(empty->metadata, "{}");
}

TEST(BodyCodec, UpsertRejectsWrongShapes) {
  auto code = [](const std::string& body) {
    auto r = parse_upsert_one(json, body);
    return r ? errc::ok : r.error().code;
  };
  EXPECT_EQ(code(R"({"metadata":{}})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"vector":"1,2"})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"vector":[1,"2"]})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"vector":[1],"metadata":[1]})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"vector":[1],"metadata":"x"})"), errc::invalid_argument);
  EXPECT_EQ(code(R"({"vector":[NaN]})"), errc::invalid_json);
}

TEST(BodyCodec, ComponentPastFloatRangeBecomesInfinity) {
  auto b = parse_upsert_one(json, R"({"vector":[1e39, 1]})");
  ASSERT_TRUE(b);
  EXPECT_TRUE(std::isinf(b->vector[0]));
}

TEST(BodyCodec, BatchReportsIndexOfFirstBadItemAndEnforcesLimit) {
  auto r = parse_upsert_batch(json, R"({"items":[{"id":"a","vector":[1]},{"vector":[1]}]})", 10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_EQ(r.error().details, (error_details{{"index", 1}}));
  auto big = parse_upsert_batch(
      json,
      R"({"items":[{"id":"a","vector":[1]},{"id":"b","vector":[1]},{"id":"c","vector":[1]}]})", 2);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, errc::payload_too_large);
  auto ok =
      parse_upsert_batch(json, R"({"items":[{"id":"a","vector":[1],"metadata":{"k":"v"}}]})", 2);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->at(0).id, "a");
  EXPECT_EQ(ok->at(0).metadata, R"({"k":"v"})");
}

TEST(BodyCodec, SearchFieldsAndLimits) {
  auto s = parse_search(json, R"({"vector":[1,2],"k":3,"ef":50,"exclude_ids":["x"],
      "include_metadata":false,"include_vectors":true,"consistency":"eventual"})");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->options.k, 3u);
  EXPECT_EQ(s->options.ef, 50u);
  EXPECT_EQ(s->options.exclude_ids, (std::vector<std::string>{"x"}));
  EXPECT_FALSE(s->options.include_metadata);
  EXPECT_TRUE(s->options.include_vectors);
  EXPECT_TRUE(s->options.eventual);
  EXPECT_FALSE(s->options.allow_partial);
  EXPECT_EQ(parse_search(json, R"({"vector":[1],"k":0})").error().code, errc::invalid_argument);
  EXPECT_EQ(parse_search(json, R"({"vector":[1],"k":-1})").error().code, errc::invalid_argument);
  EXPECT_EQ(parse_search(json, R"({"vector":[1],"consistency":"maybe"})").error().code,
            errc::invalid_argument);
  EXPECT_EQ(parse_search(json, R"({"vector":[1],"exclude_ids":[1]})").error().code,
            errc::invalid_argument);
  auto batch = parse_search_batch(json, R"({"queries":[{"vector":[1]},{"vector":[2],"k":0}]})", 10);
  ASSERT_FALSE(batch);
  EXPECT_EQ(batch.error().details, (error_details{{"index", 1}}));
}

TEST(BodyCodec, TextInPlaceOfAVector) {
  auto s = parse_search(json, R"({"text":"forklift chicago","k":3})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->text, "forklift chicago");
  EXPECT_TRUE(s->vector.empty());
  auto one = parse_upsert_one(json, R"({"text":"a worker","metadata":{"k":1}})");
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->text, "a worker");
  item_texts texts;
  auto batch = parse_upsert_batch(
      json, R"({"items":[{"id":"a","vector":[1]},{"id":"b","text":"two"},{"id":"c","text":"3"}]})",
      10, &texts);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(texts, (item_texts{{1, "two"}, {2, "3"}}));
  EXPECT_TRUE(batch->at(1).vector.empty());
  // Without a place for texts (or with both, neither, an empty one) it is refused.
  auto no_texts = parse_upsert_batch(json, R"({"items":[{"id":"b","text":"two"}]})", 10);
  ASSERT_FALSE(no_texts);
  EXPECT_NE(no_texts.error().message.find("unknown field 'text'"), std::string::npos);
  for (const char* body :
       {R"({"text":"x","vector":[1]})", R"({"k":1})", R"({"text":""})", R"({"text":1})"}) {
    auto r = parse_search(json, body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code, errc::invalid_argument) << body;
  }
  auto big = parse_search(json, R"({"text":")" + std::string(70000, 'a') + R"("})");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, errc::payload_too_large);
}

TEST(BodyCodec, CreateNamesAnEmbedder) {
  auto p = parse_create_index(json, R"({"name":"t","dimension":384,"embedder":"hash-v1"})");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->embedder, "hash-v1");
  // A configured embedder's name parses; whether this gateway has it is the
  // gateway's check (embedder_set::check).
  auto named = parse_create_index(json, R"({"name":"t","dimension":384,"embedder":"word2vec"})");
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(named->embedder, "word2vec");
  for (const char* bad : {"Word2Vec", "-ft", "a b", "\u00e9"})
    EXPECT_EQ(parse_create_index(
                  json, std::string(R"({"name":"t","dimension":384,"embedder":")") + bad + "\"}")
                  .error()
                  .code,
              errc::invalid_argument)
        << bad;
  // hash-v1 makes 8 to 4096 dimensions.
  EXPECT_EQ(
      parse_create_index(json, R"({"name":"t","dimension":4,"embedder":"hash-v1"})").error().code,
      errc::invalid_argument);
}

TEST(BodyCodec, DeleteIdsAndMerge) {
  auto ids = parse_delete(json, R"({"ids":["a","b"]})", 10);
  EXPECT_EQ(ids->ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(ids->by_filter);
  EXPECT_EQ(parse_delete(json, R"({"ids":["a","b"]})", 1).error().code, errc::payload_too_large);
  EXPECT_EQ(parse_delete(json, R"({"id":["a"]})", 10).error().code, errc::invalid_argument);
  auto m = parse_merge(json, R"({"source":"s","delete_source":true})");
  EXPECT_EQ(m->source, "s");
  EXPECT_TRUE(m->delete_source);
  EXPECT_EQ(parse_merge(json, R"({"delete_source":true})").error().code, errc::invalid_argument);
}

std::string pack_upsert(bool as_bin) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(2);
  pk.pack(std::string("vector"));
  std::vector<float> v{1.5f, -2, 0.25f};
  if (as_bin) {
    pk.pack_bin(static_cast<std::uint32_t>(v.size() * 4));
    pk.pack_bin_body(reinterpret_cast<const char*>(v.data()),
                     static_cast<std::uint32_t>(v.size() * 4));
  } else {
    pk.pack(v);
  }
  pk.pack(std::string("metadata"));
  pk.pack_map(2);
  pk.pack(std::string("tag"));
  pk.pack(std::string("x\"y"));
  pk.pack(std::string("n"));
  pk.pack(-7);
  return std::string(buf.data(), buf.size());
}

TEST(BodyCodec, MessagePackArrayAndBinVectors) {
  for (bool bin : {false, true}) {
    auto b = parse_upsert_one(body_format::msgpack, pack_upsert(bin));
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->vector, (std::vector<float>{1.5f, -2, 0.25f}));
    EXPECT_EQ(b->metadata, R"({"tag":"x\"y","n":-7})");
  }
}

TEST(BodyCodec, MessagePackEmptyBinVectorParsesEmpty) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(1);
  pk.pack(std::string("vector"));
  pk.pack_bin(0);
  auto b = parse_upsert_one(body_format::msgpack, std::string(buf.data(), buf.size()));
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->vector.empty());  // the dimension check rejects it later
}

TEST(BodyCodec, MessagePackGarbageIsInvalidJson) {
  EXPECT_EQ(parse_upsert_one(body_format::msgpack, "\xc1").error().code, errc::invalid_json);
  EXPECT_EQ(parse_upsert_one(body_format::msgpack, std::string("\x81\xa1", 2)).error().code,
            errc::invalid_json);
  auto trailing = pack_upsert(false) + "x";
  EXPECT_EQ(parse_upsert_one(body_format::msgpack, trailing).error().code, errc::invalid_json);
}

}  // namespace
// Found by fuzz_body_codec: a few bytes declaring a map or an array of four
// billion entries made the unpacker allocate for all of them (out of memory).
TEST(BodyCodec, MessagePackSizesBeyondTheBodyAreRefusedWithoutAllocating) {
  const std::string huge_map("\xdf\xff\xff\xff\xff\xa1q", 7);
  const std::string huge_array("\x81\xa7queries\xdd\xff\xff\xff\xff", 14);
  const std::string huge_string("\xdb\xff\xff\xff\xf0", 5);
  for (const auto& body : {huge_map, huge_array, huge_string}) {
    EXPECT_EQ(parse_search_batch(body_format::msgpack, body, 1000).error().code,
              errc::invalid_json);
    EXPECT_EQ(parse_upsert_batch(body_format::msgpack, body, 1000).error().code,
              errc::invalid_json);
    EXPECT_FALSE(decode_log_record(body));
  }
  // Deeply nested metadata is refused, not recursed into without bound.
  std::string deep = "\x82\xa6vector\x92\x01\x02\xa8metadata\x81\xa1k";
  for (int i = 0; i < 5000; ++i) deep += "\x91";
  deep += "\x01";
  EXPECT_FALSE(parse_upsert_one(body_format::msgpack, deep));
}

}  // namespace quiver
