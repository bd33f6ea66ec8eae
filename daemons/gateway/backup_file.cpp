#include "daemons/gateway/backup_file.hpp"

#include <simdjson.h>

#include <cstring>

#include "common/crc32c.hpp"
#include "common/detail/json_writer.hpp"
#include "common/detail/little_endian.hpp"

namespace quiver::gateway {

namespace {

constexpr char magic[8] = {'Q', 'V', 'B', 'A', 'C', 'K', 'U', 'P'};
constexpr std::size_t head_bytes = 12;  // magic + version
constexpr std::size_t tail_bytes = 12;  // manifest length + crc
constexpr std::uint64_t max_manifest = 64u << 20;
constexpr std::size_t verify_piece = 4u << 20;

using detail::get_le;
using detail::put_le;

status bad(const std::string& why) {
  return make_status(errc::invalid_argument, "not a usable Quiver backup: " + why);
}

}  // namespace

std::string encode_manifest(const backup_manifest& m) {
  const auto& p = m.params;
  detail::json_writer w;
  w.begin_object();
  w.key("format");
  w.string("quiver-backup");
  w.key("version");
  w.uinteger(m.version);
  w.key("index");
  w.begin_object();
  w.key("name");
  w.string(p.name);
  w.key("dimension");
  w.uinteger(p.dimension);
  w.key("distance");
  w.string(distance_name(p.distance));
  for (auto [key, value] : {std::pair<const char*, std::uint32_t>{"m", p.m},
                            {"ef_construction", p.ef_construction},
                            {"ef_search", p.ef_search},
                            {"shards", p.shards},
                            {"replicas", p.replicas}}) {
    w.key(key);
    w.uinteger(value);
  }
  if (!p.embedder.empty()) {
    w.key("embedder");
    w.string(p.embedder);
  }
  w.end_object();
  w.key("fields");
  w.begin_array();
  for (const auto& f : m.fields) {
    w.begin_object();
    w.key("name");
    w.string(f.name);
    w.key("type");
    w.string(field_type_name(f.type));
    w.end_object();
  }
  w.end_array();
  w.key("shards");
  w.begin_array();
  for (const auto& s : m.shards) {
    w.begin_object();
    for (auto [key, value] : {std::pair<const char*, std::uint64_t>{"shard", s.shard},
                              {"seq", s.seq},
                              {"offset", s.offset},
                              {"bytes", s.bytes},
                              {"crc32c", s.crc32c}}) {
      w.key(key);
      w.uinteger(value);
    }
    w.end_object();
  }
  w.end_array();
  w.key("created_unix_ms");
  w.uinteger(m.created_unix_ms);
  w.key("build");
  w.string(m.build);
  w.end_object();
  return w.take();
}

expected<backup_manifest> decode_manifest(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS)
    return bad("its manifest is not JSON");
  backup_manifest m;
  std::string_view format;
  std::uint64_t version = 0;
  if (doc["format"].get(format) || format != "quiver-backup")
    return bad("no quiver-backup manifest");
  if (doc["version"].get(version)) return bad("its manifest has no version");
  if (version != backup_format_version)
    return make_status(errc::invalid_argument, "backup format version " + std::to_string(version) +
                                                   "; this build reads " +
                                                   std::to_string(backup_format_version));
  m.version = static_cast<std::uint32_t>(version);
  auto index = doc["index"];
  std::string_view name, distance;
  std::uint64_t dimension = 0, mm = 0, efc = 0, efs = 0, shards = 0, replicas = 0;
  if (index["name"].get(name) || index["dimension"].get(dimension) ||
      index["distance"].get(distance) || index["m"].get(mm) || index["ef_construction"].get(efc) ||
      index["ef_search"].get(efs) || index["shards"].get(shards) || index["replicas"].get(replicas))
    return bad("its manifest lacks the index's parameters");
  auto d = parse_distance(distance);
  if (!d) return bad("unknown distance '" + std::string(distance) + "'");
  auto& p = m.params;
  p.name = std::string(name);
  p.dimension = static_cast<std::uint32_t>(dimension);
  p.distance = *d;
  p.m = static_cast<std::uint32_t>(mm);
  p.ef_construction = static_cast<std::uint32_t>(efc);
  p.ef_search = static_cast<std::uint32_t>(efs);
  p.shards = static_cast<std::uint32_t>(shards);
  p.replicas = static_cast<std::uint32_t>(replicas);
  std::string_view embedder;
  if (!index["embedder"].get(embedder)) p.embedder = std::string(embedder);
  if (dimension > index_limits::max_dimension || shards > index_limits::max_shards)
    return bad("its index parameters are out of range");
  if (auto st = validate_params(p); !st.ok()) return bad(st.message);
  simdjson::dom::array fields, shard_list;
  if (doc["fields"].get(fields) || doc["shards"].get(shard_list))
    return bad("its manifest lacks fields or shards");
  for (auto f : fields) {
    std::string_view fname, ftype;
    field_def def;
    if (f["name"].get(fname) || f["type"].get(ftype) || !parse_field_type(ftype, def.type))
      return bad("a payload index in its manifest is malformed");
    def.name = std::string(fname);
    m.fields.push_back(std::move(def));
  }
  for (auto s : shard_list) {
    backup_shard b;
    std::uint64_t shard = 0, crc = 0;
    if (s["shard"].get(shard) || s["seq"].get(b.seq) || s["offset"].get(b.offset) ||
        s["bytes"].get(b.bytes) || s["crc32c"].get(crc) || crc > 0xffffffffu)
      return bad("a shard in its manifest is malformed");
    b.shard = static_cast<std::uint32_t>(shard);
    b.crc32c = static_cast<std::uint32_t>(crc);
    m.shards.push_back(b);
  }
  if (m.shards.size() != p.shards) return bad("its manifest lists a shard count it does not hold");
  for (std::size_t i = 0; i < m.shards.size(); ++i)
    if (m.shards[i].shard != i) return bad("its shards are out of order");
  std::string_view build;
  if (doc["created_unix_ms"].get(m.created_unix_ms) || doc["build"].get(build))
    return bad("its manifest lacks its creation time or build");
  m.build = std::string(build);
  return m;
}

backup_writer::backup_writer(env& e, std::string path, std::unique_ptr<writable_file> f)
    : env_(e), path_(std::move(path)), file_(std::move(f)) {}

expected<std::unique_ptr<backup_writer>> backup_writer::create(env& e, const std::string& path) {
  if (auto st = e.truncate(path, 0); !st.ok() && e.file_size(path)) return st;
  auto f = e.open_append(path);
  if (!f) return std::move(f).error();
  std::unique_ptr<backup_writer> w(new backup_writer(e, path, std::move(*f)));
  std::string head(magic, sizeof magic);
  put_le(head, backup_format_version, 4);
  if (auto st = w->file_->append(head); !st.ok()) return st;
  w->at_ = head.size();
  return w;
}

void backup_writer::begin_shard(std::uint32_t shard, std::uint64_t seq) {
  current_ = backup_shard{shard, seq, at_, 0, 0};
}

status backup_writer::append(std::string_view bytes) {
  if (auto st = file_->append(bytes); !st.ok()) return st;
  at_ += bytes.size();
  current_.bytes += bytes.size();
  current_.crc32c = crc32c(bytes.data(), bytes.size(), current_.crc32c);
  return status::success();
}

status backup_writer::restart_shard(std::uint64_t seq) {
  if (auto st = env_.truncate(path_, current_.offset); !st.ok()) return st;
  at_ = current_.offset;
  current_ = backup_shard{current_.shard, seq, at_, 0, 0};
  return status::success();
}

void backup_writer::end_shard() { shards_.push_back(current_); }

status backup_writer::finish(backup_manifest m) {
  m.shards = shards_;
  auto json = encode_manifest(m);
  std::string tail = json;
  put_le(tail, json.size(), 8);
  put_le(tail, crc32c(json.data(), json.size()), 4);
  if (auto st = file_->append(tail); !st.ok()) return st;
  at_ += tail.size();
  return file_->sync();
}

expected<backup_manifest> verify_backup(env& e, const std::string& path) {
  auto size = e.file_size(path);
  if (!size) return std::move(size).error();
  if (*size < head_bytes + tail_bytes) return bad("it is too short");
  auto head = e.read_range(path, 0, head_bytes);
  if (!head) return std::move(head).error();
  if (head->size() != head_bytes || std::memcmp(head->data(), magic, sizeof magic) != 0)
    return bad("no QVBACKUP magic (is it a backup file?)");
  auto version = get_le(head->data() + 8, 4);
  if (version != backup_format_version)
    return make_status(errc::invalid_argument, "backup format version " + std::to_string(version) +
                                                   "; this build reads " +
                                                   std::to_string(backup_format_version));
  auto tail = e.read_range(path, *size - tail_bytes, tail_bytes);
  if (!tail) return std::move(tail).error();
  auto length = get_le(tail->data(), 8);
  auto crc = static_cast<std::uint32_t>(get_le(tail->data() + 8, 4));
  if (length > max_manifest || length > *size - head_bytes - tail_bytes)
    return bad("it is cut short or damaged (no manifest at its end)");
  auto manifest_at = *size - tail_bytes - length;
  auto json = e.read_range(path, manifest_at, length);
  if (!json) return std::move(json).error();
  if (crc32c(json->data(), json->size()) != crc)
    return bad("its manifest's checksum does not match");
  auto m = decode_manifest(*json);
  if (!m) return m;
  std::uint64_t at = head_bytes;
  std::string piece;
  for (auto& s : m->shards) {
    if (s.offset != at || s.bytes > manifest_at - at)
      return bad("shard " + std::to_string(s.shard) + " is not where its manifest says");
    std::uint32_t got = 0;
    for (std::uint64_t done = 0; done < s.bytes;) {
      auto n = std::min<std::uint64_t>(verify_piece, s.bytes - done);
      auto bytes = e.read_range(path, s.offset + done, static_cast<std::size_t>(n));
      if (!bytes) return std::move(bytes).error();
      if (bytes->size() != n) return bad("it is cut short");
      got = crc32c(bytes->data(), bytes->size(), got);
      done += n;
    }
    if (got != s.crc32c)
      return bad("shard " + std::to_string(s.shard) + "'s checksum does not match (damaged)");
    at += s.bytes;
  }
  if (at != manifest_at) return bad("it holds bytes its manifest does not list");
  return m;
}

}  // namespace quiver::gateway
