#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "actors/index/shard_index.hpp"
#include "tests/unit/fault_env.hpp"

namespace quiver {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::vector<std::string> all_ids(const shard_index& idx) {
  auto page = idx.ids_after("", 1000000);
  return page.ids;
}

class Snapshot : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/quiver-snap-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/shard.qsnap";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_, path_;
};

// A graph of several MiB goes into the snapshot in several appends (the points
// straight from the graph's memory, no scratch file); the checksum covers all of
// them and a flipped byte near the end is caught.
TEST_F(Snapshot, LargeGraphRoundTripsWithoutAScratchFile) {
  index_params p;
  p.name = "big";
  p.dimension = 1024;
  p.distance = distance_kind::euclidean;
  shard_index idx(p);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<std::vector<float>> vs(2500, std::vector<float>(1024));
  std::vector<upsert_item> batch;
  for (std::size_t i = 0; i < vs.size(); ++i) {
    for (auto& x : vs[i]) x = u(rng);
    batch.push_back({"v" + std::to_string(i), vs[i], ""});
  }
  ASSERT_TRUE(idx.upsert_batch(batch));
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());
  ASSERT_GT(fs::file_size(path_), 2u * (4u << 20));
  EXPECT_FALSE(fs::exists(path_ + ".graph.tmp"));
  auto restored = shard_index::load_snapshot(env::posix(), path_);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ((*restored)->count(), vs.size());
  for (std::size_t i = 0; i < vs.size(); i += 97) {
    auto got = (*restored)->get("v" + std::to_string(i));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->vector, vs[i]);
  }
  auto bytes = read_bytes(path_);
  bytes[bytes.size() - 100] ^= 0x40;  // inside the graph's last link lists
  write_bytes(path_, bytes);
  EXPECT_FALSE(shard_index::load_snapshot(env::posix(), path_));
}

std::uint64_t get_le(const std::string& s, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= std::uint64_t(static_cast<unsigned char>(s.at(at + i))) << (8 * i);
  return v;
}

// The graph part of a snapshot (written from the graph's memory) is hnswlib 0.6.2's
// own saveIndex() layout: hnswlib loads it, counts the points and deletions the
// shard has, and writes it back byte for byte.
TEST_F(Snapshot, HnswlibReadsTheGraphAndWritesTheSameBytes) {
  constexpr std::uint32_t dim = 8;
  index_params p;
  p.name = "fmt";
  p.dimension = dim;
  p.distance = distance_kind::euclidean;
  shard_index idx(p);  // past the flat limit: an hnswlib graph
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<upsert_item> batch;
  for (int i = 0; i < 3000; ++i) {
    std::vector<float> v(dim);
    for (auto& x : v) x = u(rng);
    batch.push_back({"v" + std::to_string(i), v, ""});
  }
  ASSERT_TRUE(idx.upsert_batch(batch));
  std::size_t removed = 0;
  for (int i = 0; i < 3000; i += 7) removed += idx.remove("v" + std::to_string(i)) ? 1 : 0;
  ASSERT_EQ(removed, 429u);
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());

  // [magic 8][version 4][envelope length 8][envelope][graph length 8][graph][crc 4]
  auto bytes = read_bytes(path_);
  auto envelope = get_le(bytes, 12, 8);
  auto graph_len = get_le(bytes, 20 + envelope, 8);
  auto graph_at = 20 + envelope + 8;
  ASSERT_EQ(graph_at + graph_len + 4, bytes.size());
  const auto graph = bytes.substr(graph_at, graph_len);
  write_bytes(dir_ + "/graph.bin", graph);
  auto command = std::string(QUIVER_HNSW_RESAVE) + " " + std::to_string(dim) + " " + dir_ +
                 "/graph.bin " + dir_ + "/again.bin";
  std::unique_ptr<FILE, int (*)(FILE*)> out(popen(command.c_str(), "r"), pclose);
  ASSERT_TRUE(out);
  char line[64] = {};
  ASSERT_TRUE(std::fgets(line, sizeof line, out.get()));
  EXPECT_EQ(std::string(line), "3000 429\n");
  EXPECT_TRUE(read_bytes(dir_ + "/again.bin") == graph) << "hnswlib writes the graph otherwise";
}

// A small shard is flat (no hnswlib graph); its snapshot restores flat, deleted
// labels included, and the restored shard still grows into an HNSW graph.
TEST_F(Snapshot, FlatShardRoundTripsAndGrowsAfterRestore) {
  index_params p;
  p.name = "small";
  p.dimension = 8;
  p.distance = distance_kind::euclidean;
  p.m = 8;
  p.ef_construction = 40;
  shard_index_options o;
  o.flat_limit = 64;
  shard_index idx(p, o);
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  auto vec = [&] {
    std::vector<float> v(8);
    for (auto& x : v) x = u(rng);
    return v;
  };
  std::map<std::string, std::vector<float>> model;
  std::vector<upsert_item> batch;
  for (int i = 0; i < 40; ++i) batch.push_back({"s" + std::to_string(i), vec(), ""});
  for (auto& it : batch) model[it.id] = it.vector;
  ASSERT_TRUE(idx.upsert_batch(batch));
  for (int i = 0; i < 40; i += 3) {
    ASSERT_TRUE(idx.remove("s" + std::to_string(i)));
    model.erase("s" + std::to_string(i));
  }
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());
  auto restored = shard_index::load_snapshot(env::posix(), path_, o);
  ASSERT_TRUE(restored) << restored.error().message;
  auto& r = **restored;
  ASSERT_EQ(r.count(), model.size());
  auto small_memory = r.memory_bytes();
  for (auto& [id, v] : model) {
    ASSERT_EQ(r.get(id)->vector, v) << id;
    search_options one;
    one.k = 1;
    EXPECT_EQ((*r.search(v, one))[0].id, id);  // exact: each point is its own nearest
  }
  // Past the flat limit the shard builds its graph from the restored points.
  std::vector<upsert_item> more;
  for (int i = 0; i < 200; ++i) more.push_back({"g" + std::to_string(i), vec(), ""});
  for (auto& it : more) model[it.id] = it.vector;
  ASSERT_TRUE(r.upsert_batch(more));
  EXPECT_EQ(r.count(), model.size());
  EXPECT_GT(r.memory_bytes(), small_memory + (2u << 20));  // hnswlib's fixed lock table
  for (auto& [id, v] : model) ASSERT_EQ(r.get(id)->vector, v) << id;
  ASSERT_TRUE(r.save_snapshot(env::posix(), path_).ok());
  auto again = shard_index::load_snapshot(env::posix(), path_, o);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->count(), model.size());
  search_options ten;
  ten.k = 10;
  EXPECT_EQ((*again)->search(model.begin()->second, ten)->size(), 10u);
}

TEST_F(Snapshot, RoundTripKeepsIdsVectorsMetadataSeqAndSearchResults) {
  index_params p;
  p.name = "snap";
  p.dimension = 8;
  p.distance = distance_kind::cosine;
  shard_index idx(p);
  std::mt19937 rng(9);
  std::normal_distribution<float> g;
  auto vec = [&] {
    std::vector<float> v(8);
    for (auto& x : v) x = g(rng);
    return v;
  };
  for (int i = 0; i < 300; ++i) {
    std::string meta = i % 3 == 0 ? "" : i % 3 == 1 ? "{}" : R"({"i":)" + std::to_string(i) + "}";
    ASSERT_TRUE(idx.upsert({"v" + std::to_string(i), vec(), meta}));
  }
  for (int i = 0; i < 300; i += 6) ASSERT_TRUE(idx.remove("v" + std::to_string(i)));
  for (int i = 1; i < 60; i += 3) ASSERT_TRUE(idx.upsert({"v" + std::to_string(i), vec(), ""}));
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());

  auto restored = shard_index::load_snapshot(env::posix(), path_);
  ASSERT_TRUE(restored) << restored.error().message;
  auto& r = **restored;
  EXPECT_EQ(r.params(), p);
  EXPECT_EQ(r.count(), idx.count());
  EXPECT_EQ(r.applied_seq(), idx.applied_seq());
  EXPECT_EQ(all_ids(r), all_ids(idx));
  for (const auto& id : all_ids(idx)) {
    auto a = idx.get(id), b = r.get(id);
    ASSERT_TRUE(a && b) << id;
    EXPECT_EQ(a->metadata, b->metadata) << id;
    for (int j = 0; j < 8; ++j) EXPECT_FLOAT_EQ(a->vector[j], b->vector[j]) << id;
  }
  search_options o;
  o.k = 10;
  for (int q = 0; q < 20; ++q) {
    auto query = vec();
    auto a = idx.search(query, o), b = r.search(query, o);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->size(), b->size());
    for (std::size_t j = 0; j < a->size(); ++j) {
      EXPECT_EQ((*a)[j].id, (*b)[j].id);
      EXPECT_FLOAT_EQ((*a)[j].distance, (*b)[j].distance);
    }
  }
  // The restored shard keeps working: freed labels are reused, deletes still apply
  // (hnswlib's num_deleted_ is garbage after a load unless recounted).
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(r.upsert({"new" + std::to_string(i), vec(), ""}));
  ASSERT_TRUE(r.remove("v1"));
  EXPECT_FALSE(r.get("v1"));
  auto hits = r.search(vec(), [] {
    search_options s;
    s.k = 400;
    return s;
  }());
  for (const auto& h : *hits) EXPECT_NE(h.id, "v1");
  EXPECT_EQ(hits->size(), r.count());
}

TEST_F(Snapshot, EmptyIndexRoundTrips) {
  index_params p;
  p.name = "empty";
  p.dimension = 3;
  shard_index idx(p);
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());
  auto r = shard_index::load_snapshot(env::posix(), path_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->count(), 0u);
  EXPECT_TRUE((*r)->upsert({"a", {1, 2, 3}, ""}));
}

TEST_F(Snapshot, AnIndexsEmbedderRoundTrips) {
  index_params p;
  p.name = "texts";
  p.dimension = 8;
  p.embedder = "hash-v1";
  shard_index idx(p);
  ASSERT_TRUE(idx.upsert({"a", {1, 2, 3, 4, 5, 6, 7, 8}, ""}));
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());
  auto r = shard_index::load_snapshot(env::posix(), path_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->params(), p);
  EXPECT_EQ((*r)->count(), 1u);
}

TEST_F(Snapshot, DamagedTruncatedAndFutureSnapshotsAreRejected) {
  index_params p;
  p.name = "d";
  p.dimension = 2;
  p.distance = distance_kind::euclidean;
  shard_index idx(p);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(idx.upsert({std::to_string(i), {float(i), 1}, ""}));
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());
  auto good = read_bytes(path_);
  for (std::size_t pos : {std::size_t(9), good.size() / 2, good.size() - 5}) {
    auto bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 1);
    write_bytes(path_, bad);
    EXPECT_FALSE(shard_index::load_snapshot(env::posix(), path_)) << "flip at " << pos;
  }
  write_bytes(path_, good.substr(0, good.size() - 100));
  EXPECT_FALSE(shard_index::load_snapshot(env::posix(), path_));
  auto future = good;
  future[8] = 3;  // format version 3, from a later build
  write_bytes(path_, future);
  auto r = shard_index::load_snapshot(env::posix(), path_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown version 3"), std::string::npos);
  write_bytes(path_, "not a snapshot at all, not even close to one");
  EXPECT_FALSE(shard_index::load_snapshot(env::posix(), path_));
}

// The graph is read straight from the file, before its checksum is known: damage
// anywhere in it (header, vectors, link lists) and a cut-short file fail cleanly.
TEST_F(Snapshot, DamagedGraphsAreRejectedAndGoodOnesGrowAfterLoad) {
  index_params p;
  p.name = "g";
  p.dimension = 6;
  p.distance = distance_kind::euclidean;
  p.m = 6;
  p.ef_construction = 30;
  shard_index_options o;
  o.flat_limit = 16;
  shard_index idx(p, o);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  auto vec = [&] {
    std::vector<float> v(6);
    for (auto& x : v) x = u(rng);
    return v;
  };
  std::vector<upsert_item> batch;
  for (int i = 0; i < 300; ++i) batch.push_back({"p" + std::to_string(i), vec(), ""});
  ASSERT_TRUE(idx.upsert_batch(batch));
  ASSERT_TRUE(idx.save_snapshot(env::posix(), path_).ok());
  auto good = read_bytes(path_);
  // The graph is the larger part of the file: flip one bit at 300 places across it.
  for (std::size_t pos = good.size() / 3; pos < good.size(); pos += good.size() / 450 + 1) {
    auto bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
    write_bytes(path_, bad);
    auto r = shard_index::load_snapshot(env::posix(), path_, o);
    ASSERT_FALSE(r) << "flip at " << pos;
    EXPECT_NE(r.error().message.find("checksum mismatch"), std::string::npos)
        << pos << ": " << r.error().message;
  }
  for (std::size_t cut : {good.size() - 4, good.size() - 5, good.size() / 2 + 7}) {
    write_bytes(path_, good.substr(0, cut));
    EXPECT_FALSE(shard_index::load_snapshot(env::posix(), path_, o)) << "cut at " << cut;
  }
  write_bytes(path_, good);
  auto r = shard_index::load_snapshot(env::posix(), path_, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_LE((*r)->memory_bytes(), idx.memory_bytes());  // no slack capacity after a load
  search_options ten;
  ten.k = 10;
  auto q = vec();
  auto a = idx.search(q, ten), b = (*r)->search(q, ten);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), b->size());
  for (std::size_t j = 0; j < a->size(); ++j) EXPECT_EQ((*a)[j].id, (*b)[j].id);
  // Past its loaded capacity it grows.
  std::vector<upsert_item> more;
  for (int i = 0; i < 100; ++i) more.push_back({"q" + std::to_string(i), vec(), ""});
  ASSERT_TRUE((*r)->upsert_batch(more));
  EXPECT_EQ((*r)->count(), 400u);
  for (auto& it : more) {
    search_options one;
    one.k = 1;
    EXPECT_EQ((*(*r)->search(it.vector, one))[0].id, it.id);
  }
}

// Every snapshot version ever written stays readable: one committed fixture per
// version. QUIVER_WRITE_FIXTURES=1 regenerates the current version's fixture.
// A full disk fails the snapshot and leaves no partial file to take space.
TEST_F(Snapshot, AFailedSnapshotLeavesNoPartialFiles) {
  index_params p;
  p.name = "full";
  p.dimension = 4;
  shard_index idx(p);
  ASSERT_TRUE(idx.upsert_batch({{"a", {1, 2, 3, 4}, ""}, {"b", {4, 3, 2, 1}, R"({"k":1})"}}));
  fault_env e;
  e.space_left = 20;
  auto st = idx.save_snapshot(e, path_);
  EXPECT_EQ(st.code, errc::insufficient_storage) << st.message;
  EXPECT_TRUE(fs::is_empty(dir_));
  e.space_left = -1;
  ASSERT_TRUE(idx.save_snapshot(e, path_).ok());
  auto back = shard_index::load_snapshot(env::posix(), path_);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ((*back)->count(), 2u);
}

// The fixture of `version`; the current version's is rewritten under
// QUIVER_WRITE_FIXTURES=1 (from version 2 on, with a payload index on "k").
std::unique_ptr<shard_index> load_fixture(std::uint32_t version) {
  const std::string name = "snapshot_v" + std::to_string(version) + ".qsnap";
  const std::string fixture = std::string(QUIVER_FIXTURE_DIR) + "/" + name;
  if (std::getenv("QUIVER_WRITE_FIXTURES") && version == 2) {
    index_params p;
    p.name = "fixture";
    p.dimension = 4;
    p.distance = distance_kind::euclidean;
    shard_index idx(p);
    EXPECT_TRUE(idx.set_field_index({"k", field_type::integer}));
    EXPECT_TRUE(idx.upsert({"a", {0, 0, 0, 1}, R"({"k":1})"}));
    EXPECT_TRUE(idx.upsert({"b", {0, 0, 2, 0}, "{}"}));
    EXPECT_TRUE(idx.upsert({"c", {0, 3, 0, 0}, ""}));
    EXPECT_TRUE(idx.upsert({"d", {4, 0, 0, 0}, ""}));
    EXPECT_TRUE(idx.remove("c"));
    EXPECT_TRUE(idx.save_snapshot(env::posix(), fixture).ok());
  }
  // Loaded from a copy: loading writes a temp file beside the snapshot.
  char tmpl[] = "/tmp/quiver-fixture-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto copy = dir + "/" + name;
  fs::copy_file(fixture, copy);
  auto r = shard_index::load_snapshot(env::posix(), copy);
  fs::remove_all(dir);
  EXPECT_TRUE(r) << r.error().message;
  return r ? std::move(*r) : nullptr;
}

void check_fixture_content(const shard_index& idx) {
  EXPECT_EQ(idx.params().name, "fixture");
  EXPECT_EQ(idx.params().distance, distance_kind::euclidean);
  EXPECT_EQ(all_ids(idx), (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_EQ(idx.applied_seq().value, 5u);
  EXPECT_EQ(idx.get("a")->metadata, R"({"k":1})");
  EXPECT_EQ(idx.get("b")->metadata, "{}");
  EXPECT_EQ(idx.get("d")->metadata, "");
  EXPECT_EQ(idx.get("d")->vector, (std::vector<float>{4, 0, 0, 0}));
  search_options o;
  o.k = 3;
  auto hits = idx.search({0, 0, 0, 0}, o);
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].id, "a");
  EXPECT_FLOAT_EQ((*hits)[0].distance, 1);
  EXPECT_EQ((*hits)[2].id, "d");
}

TEST(SnapshotFixtures, Version1StaysReadable) {
  auto idx = load_fixture(1);
  ASSERT_TRUE(idx);
  check_fixture_content(*idx);
  EXPECT_TRUE(idx->field_indexes().empty());
}

TEST(SnapshotFixtures, Version2StaysReadableWithItsPayloadIndexes) {
  auto idx = load_fixture(2);
  ASSERT_TRUE(idx);
  check_fixture_content(*idx);
  EXPECT_EQ(idx->field_indexes(), (std::vector<field_def>{{"k", field_type::integer}}));
  metadata_filter f;
  f.nodes.resize(2);
  f.nodes[0].must = {1};
  f.nodes[1].kind = filter_node::op::match;
  f.nodes[1].key = "k";
  f.nodes[1].values = {filter_value{filter_value::type::integer, "", 1, 0, false}};
  EXPECT_EQ(idx->ids_matching(f), (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace quiver
