// The backup file: its manifest's round trip, and every kind of damage refused.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/crc32c.hpp"
#include "daemons/gateway/backup_file.hpp"

namespace quiver::gateway {
namespace {

namespace fs = std::filesystem;

class BackupFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("quiver-backup-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "x.qvbackup").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  backup_manifest manifest() const {
    backup_manifest m;
    m.params.name = "docs";
    m.params.dimension = 3;
    m.params.distance = distance_kind::euclidean;
    m.params.shards = 2;
    m.params.replicas = 2;
    m.fields = {{"city", field_type::keyword}, {"n\"ame", field_type::integer}};
    m.created_unix_ms = 1234;
    m.build = "test";
    return m;
  }

  // Two shards; the second is written, replaced and written again.
  void write() {
    auto w = backup_writer::create(env::posix(), path_);
    ASSERT_TRUE(w) << w.error().message;
    (*w)->begin_shard(0, 7);
    ASSERT_TRUE((*w)->append("shard zero ").ok());
    ASSERT_TRUE((*w)->append("bytes").ok());
    (*w)->end_shard();
    (*w)->begin_shard(1, 9);
    ASSERT_TRUE((*w)->append("stale").ok());
    ASSERT_TRUE((*w)->restart_shard(11).ok());
    ASSERT_TRUE((*w)->append("fresh bytes of one").ok());
    (*w)->end_shard();
    ASSERT_TRUE((*w)->finish(manifest()).ok());
  }

  std::string bytes() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void overwrite(const std::string& b) { std::ofstream(path_, std::ios::binary) << b; }

  std::string error_of() {
    auto m = verify_backup(env::posix(), path_);
    EXPECT_FALSE(m);
    return m ? std::string() : m.error().message;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(BackupFile, ManifestRoundTrips) {
  auto m = manifest();
  m.shards = {{0, 7, 12, 16, 99}, {1, 11, 28, 18, 4000000000u}};
  auto back = decode_manifest(encode_manifest(m));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->params, m.params);
  EXPECT_EQ(back->fields, m.fields);
  ASSERT_EQ(back->shards.size(), 2u);
  EXPECT_EQ(back->shards[1].seq, 11u);
  EXPECT_EQ(back->shards[1].offset, 28u);
  EXPECT_EQ(back->shards[1].crc32c, 4000000000u);
  EXPECT_EQ(back->created_unix_ms, 1234u);
  EXPECT_EQ(back->build, "test");
  EXPECT_EQ(back->params.embedder, "");
  m.params.dimension = 16;
  m.params.embedder = "hash-v1";
  auto named = decode_manifest(encode_manifest(m));
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(named->params, m.params);
}

TEST_F(BackupFile, WrittenFileVerifies) {
  write();
  auto m = verify_backup(env::posix(), path_);
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->shards.size(), 2u);
  EXPECT_EQ(m->shards[0].seq, 7u);
  EXPECT_EQ(m->shards[0].bytes, 16u);
  EXPECT_EQ(m->shards[1].seq, 11u);  // the replaced section is gone
  EXPECT_EQ(m->shards[1].bytes, 18u);
  auto b = bytes();
  EXPECT_EQ(b.substr(m->shards[1].offset, 18), "fresh bytes of one");
  std::string fresh = "fresh bytes of one";
  EXPECT_EQ(m->shards[1].crc32c, crc32c(fresh.data(), fresh.size()));
  EXPECT_EQ(m->params, manifest().params);
}

TEST_F(BackupFile, DamageIsRefusedWithItsReason) {
  write();
  auto good = bytes();
  auto flipped = good;
  flipped[14] ^= 1;  // in shard 0
  overwrite(flipped);
  EXPECT_NE(error_of().find("shard 0's checksum"), std::string::npos);
  overwrite(good.substr(0, good.size() - 5));
  EXPECT_NE(error_of().find("not a usable Quiver backup"), std::string::npos);
  auto manifest_damaged = good;
  manifest_damaged[good.size() - 30] ^= 1;
  overwrite(manifest_damaged);
  EXPECT_NE(error_of().find("manifest's checksum"), std::string::npos);
  overwrite(std::string("QVSNAP\0\0 something else entirely, long enough to have a tail", 60));
  EXPECT_NE(error_of().find("magic"), std::string::npos);
  auto newer = good;
  newer[8] = 2;
  overwrite(newer);
  EXPECT_NE(error_of().find("format version 2"), std::string::npos);
  overwrite("short");
  EXPECT_NE(error_of().find("too short"), std::string::npos);
}

TEST_F(BackupFile, ManifestsThatLieAreRefused) {
  auto m = manifest();
  m.shards = {{0, 1, 12, 5, 0}};  // one shard listed, two declared
  EXPECT_FALSE(decode_manifest(encode_manifest(m)));
  m.params.shards = 1;
  EXPECT_TRUE(decode_manifest(encode_manifest(m)));
  m.params.dimension = 0;
  EXPECT_FALSE(decode_manifest(encode_manifest(m)));
  EXPECT_FALSE(decode_manifest("{\"format\":\"something\",\"version\":1}"));
  EXPECT_FALSE(decode_manifest("not json"));
  auto v2 = decode_manifest("{\"format\":\"quiver-backup\",\"version\":2}");
  ASSERT_FALSE(v2);
  EXPECT_NE(v2.error().message.find("version 2"), std::string::npos);
}

}  // namespace
}  // namespace quiver::gateway
