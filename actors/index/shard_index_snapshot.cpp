// Snapshots of a shard_index.
//
// File format, version 2 (all integers little-endian):
//   "QVSNAP\0\0"  magic, 8 bytes
//   u32           format version
//   u64 + bytes   envelope: MessagePack array
//                 [version, name, dimension, distance, m, ef_construction, ef_search,
//                  shards, replicas, applied_seq, slot_count,
//                  [[label, id, norm, has_metadata, metadata], ...],   live slots
//                  [label, ...],                                        free labels
//                  [[field, type], ...],                                payload indexes
//                  embedder]                        only when the index names one
//                 (version 1: no payload indexes; their columns are rebuilt on load)
//   u64 + bytes   hnswlib 0.6.2 graph (saveIndex format); empty for a never-used index
//   u32           crc32c of every byte before it
#include <msgpack.hpp>

#include <algorithm>
#include <cstring>

#include "actors/index/detail/hnsw_graph.hpp"
#include "actors/index/shard_index.hpp"
#include "common/crc32c.hpp"
#include "common/detail/little_endian.hpp"
#include "common/detail/msgpack_limits.hpp"

namespace quiver {

namespace {

constexpr char magic[8] = {'Q', 'V', 'S', 'N', 'A', 'P', 0, 0};
constexpr std::uint32_t snapshot_version = 2;
// What a snapshot's writer gathers before it appends: the graph's many small
// pieces (a size per point) would otherwise cost a system call each.
constexpr std::size_t snapshot_write_buffer = 1 << 20;

using detail::get_le;
using detail::put_le;

status damaged(const std::string& path, const std::string& why) {
  return make_status(errc::internal, "snapshot " + path + ": " + why);
}

// The graph's bytes of a snapshot file, [at, end), in order, with the running
// checksum of everything read. Small reads come from a buffer; large ones go
// straight into the caller's memory, a piece at a time so that each piece is
// checksummed while it is still in the cache.
class graph_source final : public detail::hnsw_graph::byte_source {
 public:
  graph_source(env& e, const std::string& path, std::uint64_t at, std::uint64_t end,
               std::uint32_t crc)
      : e_(e), path_(path), at_(at), end_(end), crc_(crc) {}

  status read(char* dst, std::size_t n) override {
    if (n > remaining()) return damaged(path_, "the graph is cut short");
    while (n > 0) {
      if (used_ < buffer_.size()) {
        auto take = std::min(n, buffer_.size() - used_);
        std::memcpy(dst, buffer_.data() + used_, take);
        used_ += take;
        dst += take;
        n -= take;
      } else if (n >= piece) {
        if (auto st = e_.read_into(path_, at_, dst, piece); !st.ok()) return st;
        crc_ = crc32c(dst, piece, crc_);
        at_ += piece;
        dst += piece;
        n -= piece;
      } else if (auto st = refill(); !st.ok()) {
        return st;
      }
    }
    return status::success();
  }

  std::uint64_t remaining() const override { return end_ - at_ + (buffer_.size() - used_); }

  // Reads what is left and returns the checksum of everything.
  expected<std::uint32_t> finish() {
    used_ = buffer_.size();  // checksummed when it was read
    while (at_ < end_)
      if (auto st = refill(); !st.ok()) return st;
    return crc_;
  }

 private:
  static constexpr std::size_t piece = 1 << 20;

  status refill() {
    auto bytes = e_.read_range(
        path_, at_, static_cast<std::size_t>(std::min<std::uint64_t>(piece, end_ - at_)));
    if (!bytes) return std::move(bytes).error();
    if (bytes->empty()) return damaged(path_, "the file ends inside the graph");
    crc_ = crc32c(bytes->data(), bytes->size(), crc_);
    at_ += bytes->size();
    buffer_ = std::move(*bytes);
    used_ = 0;
    return status::success();
  }

  env& e_;
  const std::string& path_;
  std::uint64_t at_, end_;  // the file's bytes not yet read
  std::uint32_t crc_;
  std::string buffer_;  // read and checksummed; from used_ on not yet handed out
  std::size_t used_ = 0;
};

// Appends to a file what the snapshot's writer hands it, checksummed: small
// pieces gathered, large ones (the graph's points) straight from the caller's
// memory.
class file_sink final : public detail::hnsw_graph::byte_sink {
 public:
  explicit file_sink(writable_file& file) : file_(file) { buffer_.reserve(snapshot_write_buffer); }

  status write(const char* data, std::size_t n) override {
    crc_ = crc32c(data, n, crc_);
    written_ += n;
    if (buffer_.size() + n <= snapshot_write_buffer) {
      buffer_.append(data, n);
      return status::success();
    }
    if (auto st = flush(); !st.ok()) return st;
    if (n < snapshot_write_buffer) {
      buffer_.append(data, n);
      return status::success();
    }
    return file_.append(std::string_view(data, n));
  }
  status flush() {
    if (buffer_.empty()) return status::success();
    auto st = file_.append(buffer_);
    buffer_.clear();
    return st;
  }
  std::uint64_t written() const { return written_; }
  std::uint32_t crc() const { return crc_; }

 private:
  writable_file& file_;
  std::string buffer_;
  std::uint64_t written_ = 0;
  std::uint32_t crc_ = 0;
};

}  // namespace

status shard_index::save_snapshot(env& e, const std::string& path) const {
  auto saved = save_snapshot(e, [&](seq_no) { return path; }, {});
  return saved ? status::success() : saved.error();
}

expected<seq_no> shard_index::save_snapshot(env& e,
                                            const std::function<std::string(seq_no)>& path_for,
                                            const std::function<void()>& captured) const {
  std::shared_lock lock(mutex_);
  const seq_no covers{applied_seq_};
  const auto path = path_for(covers);
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  // The embedder is a 15th element only when set: snapshots of indexes without
  // one stay readable by builds that predate it.
  pk.pack_array(params_.embedder.empty() ? 14 : 15);
  pk.pack_uint32(snapshot_version);
  pk.pack(params_.name);
  pk.pack_uint32(params_.dimension);
  pk.pack_uint8(static_cast<std::uint8_t>(params_.distance));
  pk.pack_uint32(params_.m);
  pk.pack_uint32(params_.ef_construction);
  pk.pack_uint32(params_.ef_search);
  pk.pack_uint32(params_.shards);
  pk.pack_uint32(params_.replicas);
  pk.pack_uint64(applied_seq_);
  pk.pack_uint64(slots_.size());
  pk.pack_array(static_cast<std::uint32_t>(by_id_.size()));
  for (const auto& [id, label] : by_id_) {
    const auto& s = slots_[label];
    pk.pack_array(5);
    pk.pack_uint64(label);
    pk.pack(id);
    pk.pack_double(s.norm);
    pk.pack(!s.metadata.empty());
    pk.pack(s.metadata);
  }
  pk.pack_array(static_cast<std::uint32_t>(free_labels_.size()));
  for (auto label : free_labels_) pk.pack_uint64(label);
  auto fields = payload_.list();
  pk.pack_array(static_cast<std::uint32_t>(fields.size()));
  for (const auto& f : fields) {
    pk.pack_array(2);
    pk.pack(f.name);
    pk.pack_uint8(static_cast<std::uint8_t>(f.type));
  }
  if (!params_.embedder.empty()) pk.pack(params_.embedder);

  // The graph goes from its memory into the file under the lock, checksummed on
  // the way: no scratch copy, one pass. The fsync and the rename come after the
  // lock, while writes go on.
  const std::uint64_t graph_size = graph_ ? graph_->saved_size() : 0;
  std::string head(magic, sizeof magic);
  put_le(head, snapshot_version, 4);
  put_le(head, buf.size(), 8);
  head.append(buf.data(), buf.size());
  put_le(head, graph_size, 8);
  auto tmp = path + ".tmp";
  e.remove(tmp);  // a leftover of an earlier crash; absent is fine
  std::unique_ptr<writable_file> file;
  std::uint32_t crc = 0;
  auto st = [&]() -> status {
    auto opened = e.open_append(tmp);
    if (!opened) return std::move(opened).error();
    file = std::move(*opened);
    file_sink sink(*file);
    if (auto st = sink.write(head.data(), head.size()); !st.ok()) return st;
    if (auto st = graph_ ? graph_->save(sink) : status::success(); !st.ok()) return st;
    if (auto st = sink.flush(); !st.ok()) return st;
    if (sink.written() != head.size() + graph_size)
      return make_status(errc::internal,
                         "the graph wrote " + std::to_string(sink.written() - head.size()) +
                             " bytes, not the " + std::to_string(graph_size) + " it announced");
    crc = sink.crc();
    return status::success();
  }();
  lock.unlock();
  if (st.ok()) {
    if (captured) captured();
    std::string trailer;
    put_le(trailer, crc, 4);
    st = file->append(trailer);
    if (st.ok()) st = file->sync();
  }
  file.reset();
  if (!st.ok()) {
    e.remove(tmp);  // a full disk keeps no partial snapshot
    return st;
  }
  if (auto st = e.rename(tmp, path); !st.ok()) return st;
  auto slash = path.find_last_of('/');
  if (auto st = e.sync_dir(slash == std::string::npos ? "." : path.substr(0, slash)); !st.ok())
    return st;
  return covers;
}

expected<std::unique_ptr<shard_index>> shard_index::load_snapshot(env& e, const std::string& path,
                                                                  shard_index_options options) {
  // Streamed, never the whole file in memory: [magic 8][version 4][envelope length 8]
  // [envelope][graph length 8][graph][crc32c 4]; the file is read once.
  constexpr std::size_t header = sizeof magic + 4 + 8;
  auto size = e.file_size(path);
  if (!size) return std::move(size).error();
  if (*size < header + 8 + 4) return damaged(path, "too short");
  auto head = e.read_range(path, 0, header);
  if (!head) return std::move(head).error();
  if (head->size() < header || std::memcmp(head->data(), magic, sizeof magic) != 0)
    return damaged(path, "not a snapshot");
  auto version = get_le(head->data() + 8, 4);
  if (version == 0 || version > snapshot_version)
    return damaged(path, "unknown version " + std::to_string(version) +
                             " (this build reads up to " + std::to_string(snapshot_version) + ")");
  auto body_end = *size - 4;
  auto envelope_len = get_le(head->data() + 12, 8);
  if (envelope_len > body_end - header - 8) return damaged(path, "envelope length out of range");
  auto envelope_bytes = e.read_range(path, header, envelope_len + 8);
  if (!envelope_bytes) return std::move(envelope_bytes).error();
  if (envelope_bytes->size() != envelope_len + 8) return damaged(path, "too short");
  auto crc = crc32c(head->data(), head->size());
  crc = crc32c(envelope_bytes->data(), envelope_bytes->size(), crc);
  std::string_view envelope(envelope_bytes->data(), envelope_len);
  auto graph_len = get_le(envelope_bytes->data() + envelope_len, 8);
  auto graph_at = header + envelope_len + 8;
  if (graph_len != body_end - graph_at) return damaged(path, "graph length out of range");
  index_params p;
  std::uint64_t applied = 0, slot_count = 0;
  std::vector<std::tuple<label_t, std::string, float, std::string>> live;
  std::vector<label_t> free_labels;
  std::vector<field_def> fields;
  // Read before the checksum is known (the graph's layout needs the dimension),
  // but nothing read is used unless it holds.
  auto parse = [&]() -> status {
    try {
      std::size_t offset = 0;
      auto handle = msgpack::unpack(envelope.data(), envelope.size(), offset, nullptr, nullptr,
                                    detail::msgpack_limits(envelope.size()));
      const auto& o = handle.get();
      auto size = o.type == msgpack::type::ARRAY ? o.via.array.size : 0;
      if (version == 1 ? size != 13 : size != 14 && size != 15)
        return damaged(path, "bad envelope");
      const auto* f = o.via.array.ptr;
      p.name = f[1].as<std::string>();
      p.dimension = f[2].as<std::uint32_t>();
      p.distance = static_cast<distance_kind>(f[3].as<std::uint8_t>());
      p.m = f[4].as<std::uint32_t>();
      p.ef_construction = f[5].as<std::uint32_t>();
      p.ef_search = f[6].as<std::uint32_t>();
      p.shards = f[7].as<std::uint32_t>();
      p.replicas = f[8].as<std::uint32_t>();
      applied = f[9].as<std::uint64_t>();
      slot_count = f[10].as<std::uint64_t>();
      if (f[11].type != msgpack::type::ARRAY || f[12].type != msgpack::type::ARRAY)
        return damaged(path, "bad envelope");
      for (std::uint32_t i = 0; i < f[11].via.array.size; ++i) {
        const auto& s = f[11].via.array.ptr[i];
        if (s.type != msgpack::type::ARRAY || s.via.array.size != 5)
          return damaged(path, "bad slot");
        const auto* sf = s.via.array.ptr;
        live.emplace_back(sf[0].as<std::uint64_t>(), sf[1].as<std::string>(),
                          static_cast<float>(sf[2].as<double>()),
                          sf[3].as<bool>() ? sf[4].as<std::string>() : std::string());
      }
      for (std::uint32_t i = 0; i < f[12].via.array.size; ++i)
        free_labels.push_back(f[12].via.array.ptr[i].as<std::uint64_t>());
      if (version >= 2) {
        if (f[13].type != msgpack::type::ARRAY) return damaged(path, "bad payload indexes");
        for (std::uint32_t i = 0; i < f[13].via.array.size; ++i) {
          const auto& x = f[13].via.array.ptr[i];
          if (x.type != msgpack::type::ARRAY || x.via.array.size != 2)
            return damaged(path, "bad payload index");
          auto type = x.via.array.ptr[1].as<std::uint8_t>();
          if (type < 1 || type > 4) return damaged(path, "bad payload index type");
          fields.push_back({x.via.array.ptr[0].as<std::string>(), static_cast<field_type>(type)});
        }
        if (size == 15) p.embedder = f[14].as<std::string>();
      }
    } catch (const std::exception& ex) {
      return damaged(path, std::string("bad envelope: ") + ex.what());
    }
    return status::success();
  };
  auto parsed = parse();
  bool params_ok = parsed.ok() && validate_params(p).ok() && p.distance <= distance_kind::dot;
  // The graph goes from the file into its memory in one pass, checksummed on the way.
  graph_source source(e, path, graph_at, body_end, crc);
  expected<std::unique_ptr<detail::hnsw_graph>> graph{std::unique_ptr<detail::hnsw_graph>()};
  if (params_ok && graph_len > 0)
    graph = detail::hnsw_graph::load(source, p.distance, p.dimension, options.update_probability,
                                     options.flat_limit);
  // What a failed parse or load left unread counts too.
  auto sum = source.finish();
  if (!sum) return std::move(sum).error();
  auto trailer = e.read_range(path, body_end, 4);
  if (!trailer) return std::move(trailer).error();
  if (trailer->size() != 4 || get_le(trailer->data(), 4) != *sum)
    return damaged(path, "checksum mismatch");
  if (!parsed.ok()) return parsed;
  if (!params_ok) return damaged(path, "bad index parameters");
  if (!graph) return std::move(graph).error();

  auto out = std::make_unique<shard_index>(p, options);
  out->graph_ = std::move(*graph);
  out->slots_.resize(slot_count);
  for (auto& [label, id, norm, metadata] : live) {
    if (label >= slot_count || out->slots_[label].id) return damaged(path, "bad slot label");
    auto [it, inserted] = out->by_id_.emplace(std::move(id), label);
    if (!inserted) return damaged(path, "duplicate id");
    out->slots_[label] = slot{&it->first, std::move(metadata), norm};
  }
  for (auto label : free_labels) {
    if (label >= slot_count || out->slots_[label].id) return damaged(path, "bad free label");
    out->free_labels_.push_back(label);
  }
  if (!out->by_id_.empty() && !out->graph_) return damaged(path, "ids without a graph");
  out->applied_seq_ = applied;
  for (const auto& def : fields) out->set_field_index_locked(def);
  return out;
}

}  // namespace quiver
