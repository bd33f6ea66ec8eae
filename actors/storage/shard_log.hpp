#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/env.hpp"
#include "common/log_record.hpp"
#include "common/status.hpp"

namespace quiver {

struct shard_log_options {
  // A segment is closed and a new one started past this size; whole segments are
  // the unit of truncation, so smaller means finer-grained space reclaim.
  std::uint64_t segment_bytes = 64u << 20;
};

// What open() found and did.
struct log_recovery {
  std::uint64_t records = 0;          // valid records in the last segment
  std::uint64_t truncated_bytes = 0;  // torn or corrupt tail removed from the last segment
  std::string tail_problem;           // why the tail was cut, if it was
};

// The append-only log of one shard, in segment files "<first seq, 20 digits>.log"
// in its own directory. Each record is framed as [u32 length][u32 crc32c over
// length and payload][payload], little-endian. One per shard; used by one thread
// at a time (its storage actor).
//
// On open, a torn or corrupt tail of the last segment (a partial record, a bad
// checksum, an undecodable or out-of-order record) is cut back to the last good
// record and reported; earlier segments are not read (their seq ranges follow
// from the names). The same damage anywhere else is an error when it is read:
// records after it were acknowledged, and skipping them silently would lose them.
class shard_log {
 public:
  static expected<std::unique_ptr<shard_log>> open(env& e, std::string dir,
                                                   shard_log_options options = {},
                                                   log_recovery* report = nullptr);

  // Writes records to the current segment (not yet durable: see sync()).
  // REQUIRES: their seqs ascend, each above last_seq().
  // A failed append cuts what it wrote back off (a torn tail left by a full disk
  // is not damage to trip over later) and, like a failed sync, breaks the log.
  status append(const std::vector<log_record>& records);
  // Makes everything appended durable. A failure is never retried: Linux may have
  // dropped the unwritten pages, so a later fsync could succeed over a hole. The
  // log cuts the unsynced bytes off and stays broken.
  status sync();
  // Why the log is broken (success when it is not). A broken log refuses appends
  // and syncs; open it anew, which reads what the disk really holds.
  const status& failure() const { return failure_; }
  // Calls f for every record with seq > after, in order.
  status read(seq_no after, const std::function<void(log_record&&)>& f) const;
  // Appends to `out` the records with seq > after, in order, stopping after about
  // `max_bytes` of them; returns whether more remain. Reading on from where the
  // previous call stopped costs only the new records (replay of a whole log is linear).
  expected<bool> read_chunk(seq_no after, std::size_t max_bytes, std::vector<log_record>& out);
  // Removes whole segments whose records all have seq < before.
  status drop_before(seq_no before);
  // Cuts every record with seq > after off the end, durably (a replica dropping
  // a tail its new primary never had). Records below first_seq() stay gone: an
  // `after` below it leaves an empty log ending at `after`.
  status truncate_after(seq_no after);
  // Drops every record and continues after `seq`, durably (a replica that loaded
  // its primary's snapshot at `seq`): the next append is seq + 1.
  status restart_at(seq_no seq);

  seq_no last_seq() const { return last_seq_; }
  // The lowest seq the log still holds records from (last_seq() + 1 when empty);
  // a reader needs a snapshot covering everything below it.
  seq_no first_seq() const;
  std::size_t segment_count() const { return segments_.size(); }

 private:
  struct segment {
    std::string name;
    seq_no first;
    seq_no last;
    std::uint64_t bytes = 0;
  };

  shard_log(env& e, std::string dir, shard_log_options options);
  std::string path_of(const std::string& name) const { return dir_ + "/" + name; }
  status roll(seq_no first);

  env& env_;
  std::string dir_;
  shard_log_options options_;
  std::vector<segment> segments_;
  std::unique_ptr<writable_file> current_;
  std::uint64_t synced_bytes_ = 0;  // of the current segment, made durable by sync()
  status failure_;
  seq_no last_seq_;
  // Where the last read_chunk() stopped: the segment's bytes, the offset of the next
  // record and the seq before it.
  struct cursor {
    std::string segment;
    std::string data;
    std::size_t offset = 0;
    seq_no last;
  } cursor_;
};

// Frames one encoded record; exposed for tests that craft damaged logs.
std::string frame_record(const std::string& payload);

}  // namespace quiver
