#include "common/log_record.hpp"

#include <msgpack.hpp>

#include <cstdint>
#include <cstring>

#include "common/detail/msgpack_limits.hpp"

namespace quiver {

namespace {

status corrupt(const std::string& why) {
  return make_status(errc::invalid_argument, "log record: " + why);
}

}  // namespace

std::string encode(const log_record& r) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(11);
  // Version 3 only adds record types: the others keep version 2, which builds
  // before it read too.
  bool field_record =
      r.type == log_record_type::set_field_index || r.type == log_record_type::drop_field_index;
  pk.pack_uint32(field_record ? log_record_version : 2);
  pk.pack_uint8(static_cast<std::uint8_t>(r.type));
  pk.pack_uint32(r.shard.value);
  pk.pack_uint64(r.seq.value);
  pk.pack_uint64(r.epoch);
  pk.pack_str(static_cast<std::uint32_t>(r.id.size()));
  pk.pack_str_body(r.id.data(), static_cast<std::uint32_t>(r.id.size()));
  // Vectors as raw little-endian float32: exact, compact, readable by any language.
  auto bytes = static_cast<std::uint32_t>(r.vector.size() * sizeof(float));
  pk.pack_bin(bytes);
  if (bytes > 0) pk.pack_bin_body(reinterpret_cast<const char*>(r.vector.data()), bytes);
  r.metadata.empty() ? pk.pack_false() : pk.pack_true();
  pk.pack_str(static_cast<std::uint32_t>(r.metadata.size()));
  pk.pack_str_body(r.metadata.data(), static_cast<std::uint32_t>(r.metadata.size()));
  pk.pack_str(static_cast<std::uint32_t>(r.tenant.value.size()));
  pk.pack_str_body(r.tenant.value.data(), static_cast<std::uint32_t>(r.tenant.value.size()));
  if (r.type == log_record_type::create_index) {
    const auto& p = r.params;
    // The embedder is a ninth field only when set: records of indexes without
    // one stay readable by builds that predate it.
    pk.pack_array(p.embedder.empty() ? 8 : 9);
    pk.pack_str(static_cast<std::uint32_t>(p.name.size()));
    pk.pack_str_body(p.name.data(), static_cast<std::uint32_t>(p.name.size()));
    pk.pack_uint32(p.dimension);
    pk.pack_uint8(static_cast<std::uint8_t>(p.distance));
    pk.pack_uint32(p.m);
    pk.pack_uint32(p.ef_construction);
    pk.pack_uint32(p.ef_search);
    pk.pack_uint32(p.shards);
    pk.pack_uint32(p.replicas);
    if (!p.embedder.empty()) {
      pk.pack_str(static_cast<std::uint32_t>(p.embedder.size()));
      pk.pack_str_body(p.embedder.data(), static_cast<std::uint32_t>(p.embedder.size()));
    }
  } else {
    pk.pack_nil();
  }
  return std::string(buf.data(), buf.size());
}

expected<log_record> decode_log_record(std::string_view bytes) {
  msgpack::object_handle handle;
  try {
    std::size_t offset = 0;
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr,
                             detail::msgpack_limits(bytes.size()));
    if (offset != bytes.size()) return corrupt("trailing bytes");
  } catch (const std::exception& e) {
    return corrupt(std::string("not MessagePack: ") + e.what());
  }
  const auto& o = handle.get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size < 1) return corrupt("not an array");
  const auto* f = o.via.array.ptr;
  if (f[0].type != msgpack::type::POSITIVE_INTEGER) return corrupt("no version");
  auto version = f[0].via.u64;
  if (version == 0 || version > log_record_version)
    return corrupt("unknown version " + std::to_string(version) + " (this build reads up to " +
                   std::to_string(log_record_version) + ")");
  if (o.via.array.size != (version == 1 ? 9u : 11u)) return corrupt("wrong field count");
  auto uint_at = [&](int i) { return f[i].type == msgpack::type::POSITIVE_INTEGER; };
  if (!uint_at(1) || !uint_at(2) || !uint_at(3) || !uint_at(4) || f[5].type != msgpack::type::STR ||
      f[6].type != msgpack::type::BIN || f[7].type != msgpack::type::BOOLEAN ||
      f[8].type != msgpack::type::STR)
    return corrupt("wrong field types");
  log_record r;
  auto type = f[1].via.u64;
  if (type < 1 || type > (version == 1 ? 2u : version == 2 ? 7u : 9u))
    return corrupt("unknown type " + std::to_string(type));
  r.type = static_cast<log_record_type>(type);
  r.shard = shard_id{static_cast<std::uint32_t>(f[2].via.u64)};
  r.seq = seq_no{f[3].via.u64};
  r.epoch = f[4].via.u64;
  r.id.assign(f[5].via.str.ptr, f[5].via.str.size);
  if (f[6].via.bin.size % sizeof(float) != 0) return corrupt("vector length not a multiple of 4");
  r.vector.resize(f[6].via.bin.size / sizeof(float));
  if (!r.vector.empty()) std::memcpy(r.vector.data(), f[6].via.bin.ptr, f[6].via.bin.size);
  if (f[7].via.boolean) r.metadata.assign(f[8].via.str.ptr, f[8].via.str.size);
  if (version == 1) return r;
  if (f[9].type != msgpack::type::STR) return corrupt("wrong tenant type");
  r.tenant.value.assign(f[9].via.str.ptr, f[9].via.str.size);
  if (r.type != log_record_type::create_index) {
    if (f[10].type != msgpack::type::NIL) return corrupt("unexpected index parameters");
    return r;
  }
  const auto& pa = f[10];
  if (pa.type != msgpack::type::ARRAY || (pa.via.array.size != 8 && pa.via.array.size != 9))
    return corrupt("bad parameters");
  const auto* q = pa.via.array.ptr;
  if (q[0].type != msgpack::type::STR) return corrupt("bad index name");
  for (int i = 1; i < 8; ++i)
    if (q[i].type != msgpack::type::POSITIVE_INTEGER || q[i].via.u64 > UINT32_MAX)
      return corrupt("bad index parameter");
  if (q[2].via.u64 > static_cast<std::uint64_t>(distance_kind::dot))
    return corrupt("unknown distance " + std::to_string(q[2].via.u64));
  auto& p = r.params;
  p.name.assign(q[0].via.str.ptr, q[0].via.str.size);
  p.dimension = static_cast<std::uint32_t>(q[1].via.u64);
  p.distance = static_cast<distance_kind>(q[2].via.u64);
  p.m = static_cast<std::uint32_t>(q[3].via.u64);
  p.ef_construction = static_cast<std::uint32_t>(q[4].via.u64);
  p.ef_search = static_cast<std::uint32_t>(q[5].via.u64);
  p.shards = static_cast<std::uint32_t>(q[6].via.u64);
  p.replicas = static_cast<std::uint32_t>(q[7].via.u64);
  if (pa.via.array.size == 9) {
    if (q[8].type != msgpack::type::STR) return corrupt("bad embedder");
    p.embedder.assign(q[8].via.str.ptr, q[8].via.str.size);
  }
  return r;
}

}  // namespace quiver
