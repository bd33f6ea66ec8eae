#include "common/response_codec.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>

namespace quiver {
namespace {

TEST(ResponseCodec, ErrorShape) {
  auto body =
      render_error(body_format::json, make_status(errc::dimension_mismatch, "bad \"dim\"",
                                                  {{"expected", 3}, {"got", 2}, {"index", 0}}));
  EXPECT_EQ(
      body,
      R"({"error":{"code":"dimension_mismatch","message":"bad \"dim\"","details":{"expected":3,"got":2,"index":0}}})");
}

TEST(ResponseCodec, SearchHitsOmitWhatWasNotAskedFor) {
  std::vector<search_hit> hits{{"a", 0.5f, R"({"k":1})", {1, 2}}, {"b\n", 1, "", {}}};
  search_options o;
  o.include_metadata = true;
  o.include_vectors = false;
  EXPECT_EQ(
      render_search(body_format::json, hits, o, 1.5),
      R"({"results":[{"id":"a","distance":0.5,"metadata":{"k":1}},{"id":"b\n","distance":1,"metadata":null}],"took_ms":1.5})");
  o.include_metadata = false;
  o.include_vectors = true;
  hits.resize(1);
  EXPECT_EQ(render_search(body_format::json, hits, o, 0),
            R"({"results":[{"id":"a","distance":0.5,"vector":[1,2]}],"took_ms":0})");
}

TEST(ResponseCodec, MessagePackVectorRecordRoundTrips) {
  vector_record r{"id/1", {1.0f, -0.5f}, R"({"a":[true,null,2.5,"s"]})"};
  auto bytes = render_vector(body_format::msgpack, r);
  auto handle = msgpack::unpack(bytes.data(), bytes.size());
  const auto& root = handle.get();
  ASSERT_EQ(root.type, msgpack::type::MAP);
  ASSERT_EQ(root.via.map.size, 3u);
  EXPECT_EQ(root.via.map.ptr[0].val.as<std::string>(), "id/1");
  const auto& vec = root.via.map.ptr[1].val;
  ASSERT_EQ(vec.type, msgpack::type::ARRAY);
  EXPECT_EQ(vec.via.array.ptr[0].type, msgpack::type::FLOAT32);  // 1.0f stays a float
  EXPECT_EQ(vec.via.array.ptr[1].as<float>(), -0.5f);
  auto meta = msgpack_to_json(std::string_view(bytes).substr(0, 0));  // garbage: empty input
  EXPECT_FALSE(meta);
  msgpack::sbuffer buf;
  msgpack::pack(buf, root.via.map.ptr[2].val);
  auto back = msgpack_to_json({buf.data(), buf.size()});
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, r.metadata);
}

TEST(ResponseCodec, CursorRoundTripsAnyBytes) {
  std::string id("a/b \xe2\x82\xac\x01", 8);
  auto c = encode_cursor(id);
  EXPECT_EQ(c.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(*decode_cursor(c), id);
  EXPECT_FALSE(decode_cursor("abc"));
  EXPECT_FALSE(decode_cursor("zz"));
}

}  // namespace
}  // namespace quiver
