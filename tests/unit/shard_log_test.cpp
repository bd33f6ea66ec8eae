#include "actors/storage/shard_log.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/crc32c.hpp"
#include "tests/unit/fault_env.hpp"

namespace quiver {
namespace {

namespace fs = std::filesystem;

log_record make_record(std::uint64_t seq, bool with_metadata = true) {
  log_record r;
  r.type = seq % 3 == 0 ? log_record_type::remove : log_record_type::upsert;
  r.shard = shard_id{2};
  r.seq = seq_no{seq};
  r.epoch = 7;
  r.id = "id-" + std::to_string(seq);
  if (r.type == log_record_type::upsert) {
    r.vector = {float(seq), -1.5f, 0, 1};
    if (with_metadata) r.metadata = seq % 2 ? R"({"n":)" + std::to_string(seq) + "}" : "{}";
  }
  return r;
}

bool same(const log_record& a, const log_record& b) {
  return a.type == b.type && a.shard == b.shard && a.seq == b.seq && a.epoch == b.epoch &&
         a.id == b.id && a.vector == b.vector && a.metadata == b.metadata;
}

class ShardLog : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/quiver-log-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<shard_log> open(log_recovery* report = nullptr, shard_log_options o = {}) {
    auto log = shard_log::open(env::posix(), dir_, o, report);
    EXPECT_TRUE(log) << (log ? "" : log.error().message);
    return log ? std::move(*log) : nullptr;
  }
  std::vector<log_record> read_all(shard_log& log, seq_no after = {}) {
    std::vector<log_record> out;
    EXPECT_TRUE(log.read(after, [&](log_record&& r) { out.push_back(std::move(r)); }).ok());
    return out;
  }
  std::string only_segment() {
    std::string name;
    for (auto& e : fs::directory_iterator(dir_)) name = e.path().string();
    return name;
  }

  std::string dir_;
};

TEST(Crc32c, KnownVector) { EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u); }

TEST(LogRecord, RoundTripsAndKeepsAbsentApartFromEmpty) {
  for (auto r : {make_record(1), make_record(2, false), make_record(3), make_record(4)}) {
    auto back = decode_log_record(encode(r));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_TRUE(same(*back, r));
  }
  EXPECT_EQ(decode_log_record(encode(make_record(2)))->metadata, "{}");
  EXPECT_EQ(decode_log_record(encode(make_record(2, false)))->metadata, "");
}

log_record catalog_record(std::uint64_t seq) {
  log_record r;
  r.type = log_record_type::create_index;
  r.seq = seq_no{seq};
  r.tenant = tenant_id{"acme"};
  r.id = "products";
  r.params.name = "products";
  r.params.dimension = 768;
  r.params.distance = distance_kind::dot;
  r.params.m = 24;
  r.params.ef_construction = 100;
  r.params.ef_search = 50;
  r.params.shards = 4;
  return r;
}

TEST(LogRecord, AnEmbedderIsANinthParameterOnlyWhenSet) {
  auto r = catalog_record(3);
  auto plain = encode(r);
  r.params.embedder = "hash-v1";
  auto named = encode(r);
  EXPECT_EQ(named.size(), plain.size() + 8);  // a fixstr of 7 bytes and its head
  auto back = decode_log_record(named);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->params, r.params);
  auto old = decode_log_record(plain);
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->params.embedder, "");
}

TEST(LogRecord, CatalogRecordsRoundTrip) {
  auto r = catalog_record(9);
  auto back = decode_log_record(encode(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->type, log_record_type::create_index);
  EXPECT_EQ(back->tenant, r.tenant);
  EXPECT_EQ(back->params, r.params);
  r.type = log_record_type::drop_index;
  back = decode_log_record(encode(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->type, log_record_type::drop_index);
  EXPECT_EQ(back->id, "products");
  EXPECT_EQ(back->tenant, r.tenant);
}

TEST(LogRecord, RejectsGarbageAndFutureVersions) {
  EXPECT_FALSE(decode_log_record(""));
  EXPECT_FALSE(decode_log_record("\xc1"));
  EXPECT_FALSE(decode_log_record("\x93\x01\x02\x03"));
  auto bytes = encode(make_record(1));
  bytes[1] = 0x04;  // version 4: written by a future build
  auto r = decode_log_record(bytes);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown version 4"), std::string::npos);
}

TEST_F(ShardLog, AppendSyncReopenRead) {
  {
    auto log = open();
    ASSERT_TRUE(log->append({make_record(1), make_record(2)}).ok());
    ASSERT_TRUE(log->append({make_record(3)}).ok());
    ASSERT_TRUE(log->sync().ok());
    EXPECT_EQ(log->last_seq().value, 3u);
  }
  log_recovery report;
  auto log = open(&report);
  EXPECT_EQ(report.records, 3u);
  EXPECT_EQ(report.truncated_bytes, 0u);
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 3u);
  for (std::uint64_t i = 0; i < 3; ++i) EXPECT_TRUE(same(all[i], make_record(i + 1)));
  EXPECT_EQ(read_all(*log, seq_no{2}).size(), 1u);
  ASSERT_TRUE(log->append({make_record(4)}).ok());
  EXPECT_EQ(read_all(*log).size(), 4u);
}

TEST_F(ShardLog, RejectsOutOfOrderAppend) {
  auto log = open();
  ASSERT_TRUE(log->append({make_record(5)}).ok());
  EXPECT_FALSE(log->append({make_record(5)}).ok());
  EXPECT_FALSE(log->append({make_record(4)}).ok());
}

// Cuts the file at every byte offset inside the last record: open must keep the
// records before it, report the cut, and accept the lost seq again.
TEST_F(ShardLog, TornTailAtEveryOffsetRecoversToLastGoodRecord) {
  {
    auto log = open();
    for (std::uint64_t s = 1; s <= 4; ++s) ASSERT_TRUE(log->append({make_record(s)}).ok());
    ASSERT_TRUE(log->sync().ok());
  }
  auto path = only_segment();
  auto full_size = fs::file_size(path);
  auto last_size = frame_record(encode(make_record(4))).size();
  std::ifstream in(path, std::ios::binary);
  std::string original((std::istreambuf_iterator<char>(in)), {});
  for (auto cut = full_size - last_size; cut < full_size; ++cut) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << original.substr(0, cut);
    log_recovery report;
    auto log = open(&report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.records, 3u) << "cut at " << cut;
    EXPECT_EQ(report.truncated_bytes, cut - (full_size - last_size));
    EXPECT_EQ(log->last_seq().value, 3u);
    EXPECT_EQ(fs::file_size(path), full_size - last_size);
    ASSERT_TRUE(log->append({make_record(4)}).ok());
    EXPECT_EQ(read_all(*log).size(), 4u);
  }
}

TEST_F(ShardLog, BitFlipInEveryByteOfLastRecordIsDetected) {
  {
    auto log = open();
    for (std::uint64_t s = 1; s <= 3; ++s) ASSERT_TRUE(log->append({make_record(s)}).ok());
    ASSERT_TRUE(log->sync().ok());
  }
  auto path = only_segment();
  std::ifstream in(path, std::ios::binary);
  std::string original((std::istreambuf_iterator<char>(in)), {});
  auto last_size = frame_record(encode(make_record(3))).size();
  for (auto pos = original.size() - last_size; pos < original.size(); ++pos) {
    auto damaged = original;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0x10);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
    log_recovery report;
    auto log = open(&report);
    ASSERT_TRUE(log);
    EXPECT_EQ(report.records, 2u) << "flip at " << pos;
    EXPECT_FALSE(report.tail_problem.empty());
    EXPECT_EQ(read_all(*log).size(), 2u);
  }
}

TEST_F(ShardLog, DamageBeforeTheLastSegmentIsAnErrorNotASilentSkip) {
  shard_log_options small;
  small.segment_bytes = 1;  // one append per segment
  {
    auto log = open(nullptr, small);
    for (std::uint64_t s = 1; s <= 3; ++s) ASSERT_TRUE(log->append({make_record(s)}).ok());
    ASSERT_TRUE(log->sync().ok());
    EXPECT_EQ(log->segment_count(), 3u);
  }
  auto first = dir_ + "/00000000000000000001.log";
  fs::resize_file(first, fs::file_size(first) - 1);
  auto damaged_size = fs::file_size(first);
  // Opening does not read sealed segments; reading them finds the damage and fails
  // rather than skipping to the records after it.
  auto log = open(nullptr, small);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_seq().value, 3u);
  auto st = log->read({}, [](log_record&&) {});
  EXPECT_FALSE(st.ok());
  std::vector<log_record> chunk;
  EXPECT_FALSE(log->read_chunk({}, 1 << 20, chunk));
  EXPECT_EQ(fs::file_size(first), damaged_size);  // never "repaired" away
}

TEST_F(ShardLog, SegmentsRollAndOldOnesAreDropped) {
  shard_log_options small;
  small.segment_bytes = 100;
  auto log = open(nullptr, small);
  for (std::uint64_t s = 1; s <= 20; ++s) ASSERT_TRUE(log->append({make_record(s)}).ok());
  ASSERT_TRUE(log->sync().ok());
  auto before = log->segment_count();
  EXPECT_GT(before, 3u);
  ASSERT_TRUE(log->drop_before(seq_no{15}).ok());
  EXPECT_LT(log->segment_count(), before);
  auto rest = read_all(*log);
  ASSERT_FALSE(rest.empty());
  EXPECT_LE(rest.front().seq.value, 15u);  // nothing at or above 15 was dropped
  EXPECT_EQ(rest.back().seq.value, 20u);
  log.reset();
  log_recovery report;
  auto again = open(&report, small);
  EXPECT_EQ(again->last_seq().value, 20u);
  EXPECT_EQ(read_all(*again).size(), rest.size());
}

TEST_F(ShardLog, FailedFsyncIsReportedNeverRetriedAndCutsTheUnsyncedRecords) {
  fault_env e;
  auto log = shard_log::open(e, dir_);
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->append({make_record(1), make_record(2)}).ok());
  ASSERT_TRUE((*log)->sync().ok());
  ASSERT_TRUE((*log)->append({make_record(3)}).ok());
  e.fail_sync = true;
  EXPECT_EQ((*log)->sync().code, errc::unavailable);
  // Once failed, the log neither syncs again (a second fsync may "succeed" over
  // dropped pages) nor takes appends.
  e.fail_sync = false;
  auto syncs = e.syncs;
  EXPECT_FALSE((*log)->sync().ok());
  EXPECT_EQ(e.syncs, syncs);
  EXPECT_FALSE((*log)->append({make_record(4)}).ok());
  EXPECT_FALSE((*log)->failure().ok());
  // What the disk holds is what the last good fsync covered.
  log->reset();
  auto again = open();
  EXPECT_EQ(again->last_seq().value, 2u);
  EXPECT_EQ(read_all(*again).size(), 2u);
  ASSERT_TRUE(again->append({make_record(3)}).ok());
  ASSERT_TRUE(again->sync().ok());
}

TEST_F(ShardLog, AppendOnAFullDiskLeavesNoTornTail) {
  fault_env e;
  auto log = shard_log::open(e, dir_);
  ASSERT_TRUE(log);
  ASSERT_TRUE((*log)->append({make_record(1)}).ok());
  ASSERT_TRUE((*log)->sync().ok());
  auto size = fs::file_size(only_segment());
  e.space_left = 10;  // part of the next record fits
  auto st = (*log)->append({make_record(2), make_record(4)});
  EXPECT_EQ(st.code, errc::insufficient_storage) << st.message;
  EXPECT_EQ(fs::file_size(only_segment()), size);  // the partial write was cut
  EXPECT_EQ((*log)->last_seq().value, 1u);
  EXPECT_EQ((*log)->append({make_record(2)}).code, errc::insufficient_storage);  // broken
  // Reopened with space again: no damage to repair, and appends go on from seq 1.
  e.space_left = -1;
  log_recovery report;
  auto again = shard_log::open(e, dir_, {}, &report);
  ASSERT_TRUE(again);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_EQ((*again)->last_seq().value, 1u);
  ASSERT_TRUE((*again)->append({make_record(2)}).ok());
  ASSERT_TRUE((*again)->sync().ok());
  EXPECT_EQ(read_all(**again).size(), 2u);
}

TEST(StorageError, FullQuotaAndReadOnlyAreInsufficientStorageWithDetails) {
  for (int err : {ENOSPC, EDQUOT, EROFS}) {
    auto st = storage_error(err, "write /tmp/x: failed", "/tmp/x");
    EXPECT_EQ(st.code, errc::insufficient_storage);
    EXPECT_EQ(http_status(st.code), 507);
    ASSERT_EQ(st.details.size(), 1u);
    EXPECT_EQ(st.details[0].first, "free_bytes");
    EXPECT_GE(st.details[0].second, 0);  // /tmp exists: statvfs answers
    ASSERT_GE(st.text_details.size(), 1u);
    EXPECT_EQ(st.text_details[0], std::make_pair(std::string("path"), std::string("/tmp/x")));
  }
  EXPECT_EQ(storage_error(EIO, "write: I/O error", "/tmp/x").code, errc::unavailable);
}

TEST_F(ShardLog, TruncateAfterCutsTheTailDurablyAcrossSegments) {
  shard_log_options small;
  small.segment_bytes = 200;  // a few records per segment
  {
    auto log = open(nullptr, small);
    for (std::uint64_t i = 1; i <= 30; ++i) ASSERT_TRUE(log->append({make_record(i)}).ok());
    ASSERT_TRUE(log->sync().ok());
    ASSERT_GT(log->segment_count(), 3u);
    auto segments = log->segment_count();
    ASSERT_TRUE(log->truncate_after(seq_no{12}).ok());
    EXPECT_EQ(log->last_seq(), seq_no{12});
    EXPECT_LT(log->segment_count(), segments);
    // The next append follows the cut; a cut at or past the end changes nothing.
    ASSERT_TRUE(log->append({make_record(13)}).ok());
    ASSERT_TRUE(log->sync().ok());
    ASSERT_TRUE(log->truncate_after(seq_no{40}).ok());
    EXPECT_EQ(log->last_seq(), seq_no{13});
  }
  auto log = open(nullptr, small);
  EXPECT_EQ(log->last_seq(), seq_no{13});
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 13u);
  for (std::uint64_t i = 1; i <= 13; ++i) EXPECT_TRUE(same(all[i - 1], make_record(i))) << i;
}

TEST_F(ShardLog, TruncateBelowTheFirstRecordLeavesAnEmptyLogAtTheCut) {
  shard_log_options small;
  small.segment_bytes = 200;
  auto log = open(nullptr, small);
  for (std::uint64_t i = 1; i <= 30; ++i) ASSERT_TRUE(log->append({make_record(i)}).ok());
  ASSERT_TRUE(log->sync().ok());
  ASSERT_TRUE(log->drop_before(seq_no{20}).ok());
  auto first = log->first_seq();
  ASSERT_GT(first.value, 5u);
  ASSERT_TRUE(log->truncate_after(seq_no{first.value - 2}).ok());
  EXPECT_EQ(log->last_seq(), seq_no{first.value - 2});
  EXPECT_EQ(log->first_seq(), seq_no{first.value - 1});
  EXPECT_TRUE(read_all(*log).empty());
  ASSERT_TRUE(log->append({make_record(first.value - 1)}).ok());
  ASSERT_TRUE(log->sync().ok());
  auto reopened = open(nullptr, small);
  EXPECT_EQ(reopened->last_seq(), seq_no{first.value - 1});
  EXPECT_EQ(read_all(*reopened).size(), 1u);
}

TEST_F(ShardLog, ForeignFileNamesAreNotSegments) {
  // 20 digits can exceed 64 bits: such a name is skipped, not a crash.
  std::ofstream(dir_ + "/99999999999999999999.log") << "x";
  auto log = open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->segment_count(), 0u);
}

// Every record version ever written stays readable: one committed segment per
// version. QUIVER_WRITE_FIXTURES=1 regenerates the current version's fixture.
std::vector<log_record> fixture_records(std::uint32_t version) {
  std::vector<log_record> records{make_record(1), make_record(2, false), make_record(3)};
  if (version >= 2) records.push_back(catalog_record(4));
  if (version >= 3) {
    log_record set;
    set.type = log_record_type::set_field_index;
    set.shard = shard_id{2};
    set.seq = seq_no{5};
    set.epoch = 7;
    set.id = "city";
    set.metadata = "keyword";
    records.push_back(set);
    auto drop = set;
    drop.type = log_record_type::drop_field_index;
    drop.seq = seq_no{6};
    drop.metadata.clear();
    records.push_back(drop);
  }
  return records;
}

void check_fixture(std::uint32_t version) {
  const std::string fixture =
      std::string(QUIVER_FIXTURE_DIR) + "/log_v" + std::to_string(version) + ".log";
  auto records = fixture_records(version);
  if (std::getenv("QUIVER_WRITE_FIXTURES") && version == log_record_version) {
    std::ofstream out(fixture, std::ios::binary | std::ios::trunc);
    for (auto& r : records) out << frame_record(encode(r));
  }
  char tmpl[] = "/tmp/quiver-fixture-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  fs::copy_file(fixture, dir + "/00000000000000000001.log");
  std::vector<log_record> got;
  {
    auto log = shard_log::open(env::posix(), dir);
    ASSERT_TRUE(log) << log.error().message;
    ASSERT_TRUE((*log)->read({}, [&](log_record&& r) { got.push_back(std::move(r)); }).ok());
  }
  fs::remove_all(dir);
  ASSERT_EQ(got.size(), records.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(same(got[i], records[i])) << i;
    EXPECT_EQ(got[i].tenant, records[i].tenant);
    EXPECT_EQ(got[i].params, records[i].params);
  }
}

TEST(ShardLogFixtures, Version1StaysReadable) { check_fixture(1); }
TEST(ShardLogFixtures, Version2StaysReadable) { check_fixture(2); }
TEST(ShardLogFixtures, Version3StaysReadable) { check_fixture(3); }

}  // namespace
}  // namespace quiver
