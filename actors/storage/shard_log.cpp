#include "actors/storage/shard_log.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

#include "common/crc32c.hpp"
#include "common/parse.hpp"

namespace quiver {

namespace {

constexpr std::size_t header_bytes = 8;
// A length past this is damage, not a record: one record holds one vector.
constexpr std::uint32_t max_record_bytes = 64u << 20;

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string segment_name(seq_no first) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.log", static_cast<unsigned long long>(first.value));
  return buf;
}

// The first seq a segment name says; none for other files (20 digits can exceed
// 64 bits: such a name is not ours).
std::optional<seq_no> segment_first(const std::string& name) {
  if (name.size() != 24 || name.compare(20, 4, ".log") != 0) return std::nullopt;
  auto value = parse_u64(std::string_view(name).substr(0, 20));
  if (!value) return std::nullopt;
  return seq_no{*value};
}

bool is_segment_name(const std::string& name) { return segment_first(name).has_value(); }

// Parses the records of one segment. Stops at the first damaged one and returns
// its offset and the reason; `good_end` is the end of the last good record.
struct scan_result {
  std::uint64_t good_end = 0;
  std::string problem;  // empty: the whole segment is good
};

// Starts at `pos`; stops early (problem empty, good_end < size) once `budget`
// bytes of records with seq > after have been passed to f.
scan_result scan(const std::string& data, seq_no after, seq_no& last,
                 const std::function<void(log_record&&)>& f, std::size_t pos = 0,
                 std::size_t budget = SIZE_MAX) {
  scan_result r;
  r.good_end = pos;
  std::size_t delivered = 0;
  while (pos < data.size() && delivered < budget) {
    if (data.size() - pos < header_bytes) {
      r.problem = "partial record header";
      return r;
    }
    auto length = get_u32(data.data() + pos);
    auto crc = get_u32(data.data() + pos + 4);
    if (length > max_record_bytes) {
      r.problem = "record length " + std::to_string(length) + " out of range";
      return r;
    }
    if (data.size() - pos - header_bytes < length) {
      r.problem = "partial record";
      return r;
    }
    auto expected_crc = crc32c(data.data() + pos, 4);
    expected_crc = crc32c(data.data() + pos + header_bytes, length, expected_crc);
    if (crc != expected_crc) {
      r.problem = "checksum mismatch";
      return r;
    }
    auto record = decode_log_record(std::string_view(data.data() + pos + header_bytes, length));
    if (!record) {
      r.problem = record.error().message;
      return r;
    }
    if (!(last < record->seq)) {
      r.problem =
          "sequence " + std::to_string(record->seq.value) + " after " + std::to_string(last.value);
      return r;
    }
    last = record->seq;
    if (f && after < record->seq) {
      delivered += header_bytes + length;
      f(std::move(*record));
    }
    pos += header_bytes + length;
    r.good_end = pos;
  }
  return r;
}

}  // namespace

std::string frame_record(const std::string& payload) {
  std::string out;
  out.reserve(header_bytes + payload.size());
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  auto crc = crc32c(out.data(), 4);
  put_u32(out, crc32c(payload.data(), payload.size(), crc));
  out += payload;
  return out;
}

shard_log::shard_log(env& e, std::string dir, shard_log_options options)
    : env_(e), dir_(std::move(dir)), options_(options) {}

expected<std::unique_ptr<shard_log>> shard_log::open(env& e, std::string dir,
                                                     shard_log_options options,
                                                     log_recovery* report) {
  if (auto st = e.create_dirs(dir); !st.ok()) return st;
  auto names = e.list(dir);
  if (!names) return std::move(names).error();
  std::vector<std::string> segs;
  for (auto& n : *names)
    if (is_segment_name(n)) segs.push_back(n);
  std::sort(segs.begin(), segs.end());

  std::unique_ptr<shard_log> log(new shard_log(e, dir, options));
  log_recovery local;
  auto& rec = report ? *report : local;
  rec = {};
  // Sealed segments are not read here (a restart must not pay for decoding the
  // whole log): their range follows from the names, and read() checks every
  // record's checksum when it replays them, failing on damage. Only the last
  // segment can have a torn tail, so only it is scanned and repaired.
  for (std::size_t i = 0; i + 1 < segs.size(); ++i) {
    auto first = *segment_first(segs[i]);
    auto next = *segment_first(segs[i + 1]);
    if (!(first < next))
      return make_status(errc::internal, "shard log " + dir + ": segment " + segs[i + 1] +
                                             " does not follow " + segs[i]);
    auto size = e.file_size(log->path_of(segs[i]));
    if (!size) return std::move(size).error();
    log->last_seq_ = seq_no{next.value - 1};
    log->segments_.push_back({segs[i], first, log->last_seq_, *size});
  }
  if (!segs.empty()) {
    const auto& name = segs.back();
    auto path = log->path_of(name);
    auto data = e.read_file(path);
    if (!data) return std::move(data).error();
    auto first = *segment_first(name);
    if (first.value > 0 && log->last_seq_ < seq_no{first.value - 1})
      log->last_seq_ = seq_no{first.value - 1};
    std::uint64_t count = 0;
    auto result = scan(*data, seq_no{}, log->last_seq_, [&](log_record&&) { ++count; });
    rec.records = count;
    if (!result.problem.empty()) {
      rec.truncated_bytes = data->size() - result.good_end;
      rec.tail_problem = result.problem;
      if (auto st = e.truncate(path, result.good_end); !st.ok()) return st;
    }
    log->segments_.push_back({name, first, log->last_seq_, result.good_end});
    log->synced_bytes_ = result.good_end;
  }
  if (!log->segments_.empty()) {
    auto file = e.open_append(log->path_of(log->segments_.back().name));
    if (!file) return std::move(file).error();
    log->current_ = std::move(*file);
  }
  return log;
}

status shard_log::roll(seq_no first) {
  auto name = segment_name(first);
  auto file = env_.open_append(path_of(name));
  if (!file) return std::move(file).error();
  if (current_)
    if (auto st = current_->sync(); !st.ok()) return st;
  if (auto st = env_.sync_dir(dir_); !st.ok()) return st;
  current_ = std::move(*file);
  synced_bytes_ = 0;
  segments_.push_back({name, first, seq_no{first.value - 1}, 0});
  return status::success();
}

status shard_log::append(const std::vector<log_record>& records) {
  if (!failure_.ok()) return failure_;
  if (records.empty()) return status::success();
  std::string batch;
  seq_no last = last_seq_;
  for (const auto& r : records) {
    if (!(last < r.seq))
      return make_status(errc::internal, "log append out of order: " + std::to_string(r.seq.value) +
                                             " after " + std::to_string(last.value));
    batch += frame_record(encode(r));
    last = r.seq;
  }
  if (segments_.empty() || segments_.back().bytes >= options_.segment_bytes)
    if (auto st = roll(records.front().seq); !st.ok()) {
      failure_ = st;
      return st;
    }
  if (auto st = current_->append(batch); !st.ok()) {
    // Part of the batch may be in the file: cut it, so the file ends at the last
    // whole record as the segment list says. Should even that fail, the broken
    // log is opened anew before it is used, which cuts the torn tail.
    env_.truncate(path_of(segments_.back().name), segments_.back().bytes);
    failure_ = st;
    return st;
  }
  last_seq_ = last;
  segments_.back().bytes += batch.size();
  segments_.back().last = last_seq_;
  return status::success();
}

status shard_log::sync() {
  if (!failure_.ok()) return failure_;
  if (!current_) return status::success();
  if (auto st = current_->sync(); !st.ok()) {
    // None of the unsynced records was acknowledged: cut them, so that reopening
    // cannot find them in the page cache and take them for durable.
    env_.truncate(path_of(segments_.back().name), synced_bytes_);
    failure_ = st;
    return st;
  }
  synced_bytes_ = segments_.back().bytes;
  return status::success();
}

status shard_log::read(seq_no after, const std::function<void(log_record&&)>& f) const {
  for (const auto& s : segments_) {
    if (!(after < s.last)) continue;
    auto data = env_.read_file(path_of(s.name));
    if (!data) return std::move(data).error();
    seq_no last = seq_no{s.first.value - 1};
    auto result = scan(*data, after, last, f);
    if (!result.problem.empty())
      return make_status(errc::internal, "shard log " + s.name + " damaged: " + result.problem);
  }
  return status::success();
}

seq_no shard_log::first_seq() const {
  for (const auto& s : segments_)
    if (s.first.value <= s.last.value) return s.first;
  return seq_no{last_seq_.value + 1};
}

expected<bool> shard_log::read_chunk(seq_no after, std::size_t max_bytes,
                                     std::vector<log_record>& out) {
  auto sink = [&](log_record&& r) { out.push_back(std::move(r)); };
  std::size_t i = 0;
  bool resume = !cursor_.segment.empty() && cursor_.last == after;
  if (resume) {
    while (i < segments_.size() && segments_[i].name != cursor_.segment) ++i;
    resume = i < segments_.size();
  }
  if (!resume) {
    i = 0;
    while (i < segments_.size() && !(after < segments_[i].last)) ++i;
    if (i == segments_.size()) return false;
    auto data = env_.read_file(path_of(segments_[i].name));
    if (!data) return std::move(data).error();
    cursor_ = {segments_[i].name, std::move(*data), 0, seq_no{segments_[i].first.value - 1}};
  }
  for (;;) {
    auto result = scan(cursor_.data, after, cursor_.last, sink, cursor_.offset, max_bytes);
    if (!result.problem.empty()) {
      cursor_ = {};
      return make_status(errc::internal,
                         "shard log " + segments_[i].name + " damaged: " + result.problem);
    }
    cursor_.offset = result.good_end;
    if (cursor_.offset < cursor_.data.size()) return true;
    if (i + 1 == segments_.size()) {
      // The last segment grows: records appended since it was read are still due.
      if (cursor_.last < segments_[i].last) {
        auto data = env_.read_file(path_of(segments_[i].name));
        if (!data) return std::move(data).error();
        cursor_.data = std::move(*data);
        if (!out.empty()) return true;
        continue;
      }
      cursor_ = {};
      return false;
    }
    if (!out.empty()) {
      // Resume at the next segment on the next call.
      ++i;
      auto data = env_.read_file(path_of(segments_[i].name));
      if (!data) return std::move(data).error();
      cursor_ = {segments_[i].name, std::move(*data), 0, out.back().seq};
      return true;
    }
    ++i;
    auto data = env_.read_file(path_of(segments_[i].name));
    if (!data) return std::move(data).error();
    cursor_ = {segments_[i].name, std::move(*data), 0, seq_no{segments_[i].first.value - 1}};
  }
}

status shard_log::drop_before(seq_no before) {
  // The current segment always stays: it is where the next append goes.
  while (segments_.size() > 1 && segments_.front().last < before) {
    if (auto st = env_.remove(path_of(segments_.front().name)); !st.ok()) return st;
    segments_.erase(segments_.begin());
  }
  return env_.sync_dir(dir_);
}

status shard_log::truncate_after(seq_no after) {
  if (!failure_.ok()) return failure_;
  if (!(after < last_seq_)) return status::success();
  cursor_ = {};
  // Whole segments past the cut go; so does every segment when the cut falls
  // below the log's first record.
  while (!segments_.empty() && !(segments_.back().first.value <= after.value)) {
    if (auto st = env_.remove(path_of(segments_.back().name)); !st.ok()) return failure_ = st;
    segments_.pop_back();
  }
  current_.reset();
  if (!segments_.empty()) {
    auto& seg = segments_.back();
    auto path = path_of(seg.name);
    auto data = env_.read_file(path);
    if (!data) return failure_ = std::move(data).error();
    // One record per step: the cut lands just before the first record past `after`.
    std::size_t pos = 0;
    seq_no last{seg.first.value - 1};
    while (pos < data->size()) {
      seq_no seen = last;
      auto step = scan(
          *data, seq_no{}, last, [&](log_record&& r) { seen = r.seq; }, pos, 1);
      if (!step.problem.empty())
        return failure_ = make_status(errc::internal,
                                      "shard log " + seg.name + " damaged: " + step.problem);
      if (after < seen) break;
      pos = step.good_end;
    }
    if (auto st = env_.truncate(path, pos); !st.ok()) return failure_ = st;
    auto file = env_.open_append(path);
    if (!file) return failure_ = std::move(file).error();
    current_ = std::move(*file);
    if (auto st = current_->sync(); !st.ok()) return failure_ = st;
    seg.bytes = pos;
    seg.last = after;
    synced_bytes_ = pos;
  }
  last_seq_ = after;
  return env_.sync_dir(dir_);
}

status shard_log::restart_at(seq_no seq) {
  cursor_ = {};
  current_.reset();
  for (auto& seg : segments_)
    if (auto st = env_.remove(path_of(seg.name)); !st.ok()) return failure_ = st;
  segments_.clear();
  // An empty segment named seq + 1 says where the log goes on after a restart.
  auto name = segment_name(seq_no{seq.value + 1});
  auto file = env_.open_append(path_of(name));
  if (!file) return failure_ = std::move(file).error();
  current_ = std::move(*file);
  if (auto st = current_->sync(); !st.ok()) return failure_ = st;
  if (auto st = env_.sync_dir(dir_); !st.ok()) return failure_ = st;
  segments_.push_back({name, seq_no{seq.value + 1}, seq, 0});
  synced_bytes_ = 0;
  last_seq_ = seq;
  failure_ = status::success();
  return status::success();
}

}  // namespace quiver
