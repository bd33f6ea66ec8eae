// The cluster metadata records kept in etcd: every kind round-trips, and
// damaged, foreign or newer records are refused.

#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "cluster/metadata_records.hpp"

namespace quiver {
namespace {

TEST(MetadataRecords, RoundTrip) {
  node_record n{"vectord-1", "10.0.0.2:7311", "0.1.0", 3};
  auto n2 = decode_node_record(encode(n));
  ASSERT_TRUE(n2) << n2.error().message;
  EXPECT_EQ(n2->name, n.name);
  EXPECT_EQ(n2->address, n.address);
  EXPECT_EQ(n2->build, n.build);
  EXPECT_EQ(n2->protocol, 3u);

  shard_record s{
      41, "vectord-2", {"vectord-2", "vectord-3", "vectord-1"}, {"vectord-2"}, "serving"};
  auto s2 = decode_shard_record(encode(s));
  ASSERT_TRUE(s2) << s2.error().message;
  EXPECT_EQ(s2->epoch, 41u);
  EXPECT_EQ(s2->primary, "vectord-2");
  EXPECT_EQ(s2->replicas, s.replicas);
  EXPECT_EQ(s2->in_sync, s.in_sync);
  EXPECT_EQ(s2->state, "serving");
  auto none = decode_shard_record(encode(shard_record{}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->primary.empty());
  EXPECT_TRUE(none->replicas.empty());

  controller_record c{"storaged", "127.0.0.1:7300"};
  auto c2 = decode_controller_record(encode(c));
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->name, c.name);
  EXPECT_EQ(c2->address, c.address);
}

TEST(MetadataRecords, CatalogRecordsRoundTrip) {
  index_record i;
  i.params = index_params{"docs", 768, distance_kind::dot, 24, 300, 80, 4, 3, ""};
  i.incarnation = 1234567890123ull;
  auto i2 = decode_index_record(encode(i));
  ASSERT_TRUE(i2) << i2.error().message;
  EXPECT_EQ(i2->params, i.params);
  EXPECT_EQ(i2->incarnation, i.incarnation);
  for (auto d : {distance_kind::cosine, distance_kind::euclidean}) {
    i.params.distance = d;
    auto again = decode_index_record(encode(i));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->params.distance, d);
  }

  // An embedder is a tenth field, only when set: records without one keep nine.
  auto plain = encode(i);
  i.params.embedder = "hash-v1";
  auto named = decode_index_record(encode(i));
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(named->params, i.params);
  EXPECT_EQ(named->incarnation, i.incarnation);
  EXPECT_GT(encode(i).size(), plain.size());
  auto unnamed = decode_index_record(plain);
  ASSERT_TRUE(unnamed);
  EXPECT_EQ(unnamed->params.embedder, "");
  i.params.embedder.clear();

  tenant_record t{"acme", tenant_quotas{3, 1000000, 1ull << 40, 250}, std::string(64, 'a')};
  auto t2 = decode_tenant_record(encode(t));
  ASSERT_TRUE(t2) << t2.error().message;
  EXPECT_EQ(t2->name, "acme");
  EXPECT_EQ(t2->key_hash, t.key_hash);
  EXPECT_EQ(t2->quotas, t.quotas);

  auto c = decode_catalog_record(encode(catalog_record{42}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next_incarnation, 42u);

  // Each kind refuses the others and every truncation of itself.
  auto index_bytes = encode(i);
  EXPECT_FALSE(decode_tenant_record(index_bytes));
  EXPECT_FALSE(decode_catalog_record(index_bytes));
  EXPECT_FALSE(decode_index_record(encode(t)));
  for (std::size_t n = 0; n < index_bytes.size(); ++n)
    EXPECT_FALSE(decode_index_record(index_bytes.substr(0, n)));
}

TEST(MetadataRecords, AnIndexRecordWithAForeignDistanceOrAHugeNumberIsRefused) {
  auto pack = [](const char* distance, std::uint64_t dimension) {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_array(11);
    pk.pack_uint32(metadata_record_version);
    pk.pack_uint8(4);
    pk.pack(std::string("docs"));
    pk.pack_uint64(dimension);
    pk.pack(std::string(distance));
    for (int f = 0; f < 6; ++f) pk.pack_uint32(1);
    return std::string(buf.data(), buf.size());
  };
  ASSERT_TRUE(decode_index_record(pack("cosine", 8)));
  auto foreign = decode_index_record(pack("manhattan", 8));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, errc::invalid_argument);
  EXPECT_FALSE(decode_index_record(pack("cosine", 1ull << 33)));
}

TEST(MetadataRecords, RefusesWhatItCannotRead) {
  auto node = encode(node_record{"a", "b", "c", 1});
  // Another kind of record under the wrong key.
  EXPECT_FALSE(decode_shard_record(node));
  EXPECT_FALSE(decode_controller_record(node));
  // Every truncation, and trailing bytes.
  for (std::size_t n = 0; n < node.size(); ++n) EXPECT_FALSE(decode_node_record(node.substr(0, n)));
  EXPECT_FALSE(decode_node_record(node + "x"));
  // A newer version.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(6);
  pk.pack_uint32(metadata_record_version + 1);
  pk.pack_uint8(1);
  for (int i = 0; i < 3; ++i) pk.pack_str(0);
  pk.pack_uint32(1);
  auto newer = decode_node_record(std::string_view(buf.data(), buf.size()));
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message.find("unknown version"), std::string::npos);
  // A field of the wrong type.
  msgpack::sbuffer bad;
  msgpack::packer<msgpack::sbuffer> pb(bad);
  pb.pack_array(7);
  pb.pack_uint32(metadata_record_version);
  pb.pack_uint8(2);
  pb.pack_str(0);  // epoch must be a number
  pb.pack_str(0);
  pb.pack_array(0);
  pb.pack_array(0);
  pb.pack_str(0);
  EXPECT_FALSE(decode_shard_record(std::string_view(bad.data(), bad.size())));
}

TEST(MetadataRecords, KeysLiveUnderOnePrefixPerKind) {
  metadata_keys keys("/quiver");
  EXPECT_EQ(keys.prefix(), "/quiver/");
  EXPECT_EQ(keys.node("vectord-1"), "/quiver/v1/nodes/vectord-1");
  EXPECT_EQ(keys.shard(shard_ref{tenant_id{"acme"}, "docs", 7, shard_id{3}}),
            "/quiver/v1/shards/acme/docs@7/3");
  EXPECT_EQ(keys.controller(), "/quiver/v1/controller");
  EXPECT_EQ(keys.node("x").rfind(keys.nodes(), 0), 0u);
  EXPECT_EQ(keys.index("acme", "docs"), "/quiver/v1/indexes/acme/docs");
  EXPECT_EQ(keys.index("acme", "docs").rfind(keys.indexes_of("acme"), 0), 0u);
  EXPECT_EQ(keys.tenant("acme"), "/quiver/v1/tenants/acme");
  EXPECT_EQ(keys.catalog(), "/quiver/v1/catalog");
  // A tenant's index prefix never covers another tenant whose name extends it.
  EXPECT_NE(keys.index("acme2", "docs").rfind(keys.indexes_of("acme"), 0), 0u);
}

}  // namespace
}  // namespace quiver
