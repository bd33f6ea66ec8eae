#include "cluster/metadata_records.hpp"

#include <msgpack.hpp>

#include "common/detail/msgpack_limits.hpp"

namespace quiver {
namespace {

enum class record_kind : std::uint8_t {
  node = 1,
  shard = 2,
  controller = 3,
  index = 4,
  tenant = 5,
  catalog = 6,
};

class writer {
 public:
  writer(record_kind kind, std::uint32_t fields) : pk_(buf_) {
    pk_.pack_array(fields + 2);
    pk_.pack_uint32(metadata_record_version);
    pk_.pack_uint8(static_cast<std::uint8_t>(kind));
  }
  writer& str(const std::string& s) {
    pk_.pack_str(static_cast<std::uint32_t>(s.size()));
    pk_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    return *this;
  }
  writer& u64(std::uint64_t v) {
    pk_.pack_uint64(v);
    return *this;
  }
  writer& strs(const std::vector<std::string>& v) {
    pk_.pack_array(static_cast<std::uint32_t>(v.size()));
    for (auto& s : v) str(s);
    return *this;
  }
  std::string take() const { return std::string(buf_.data(), buf_.size()); }

 private:
  msgpack::sbuffer buf_;
  msgpack::packer<msgpack::sbuffer> pk_;
};

// Reads the fields of one record after checking its version, kind and arity.
class reader {
 public:
  // `optional`: that many more fields may follow (newer fields, absent in
  // older records); more() says whether one does.
  reader(std::string_view bytes, record_kind kind, std::uint32_t fields, const char* what,
         std::uint32_t optional = 0)
      : what_(what) {
    open(bytes, kind, fields, optional);
  }
  bool more() const { return failure_.ok() && next_ < size_; }
  bool str(std::string& out) {
    const auto* f = field(msgpack::type::STR);
    if (f != nullptr) out.assign(f->via.str.ptr, f->via.str.size);
    return f != nullptr;
  }
  bool u64(std::uint64_t& out) {
    const auto* f = field(msgpack::type::POSITIVE_INTEGER);
    if (f != nullptr) out = f->via.u64;
    return f != nullptr;
  }
  bool u32(std::uint32_t& out) {
    std::uint64_t v = 0;
    if (!u64(v) || v > UINT32_MAX) return fail("a number out of range"), false;
    out = static_cast<std::uint32_t>(v);
    return true;
  }
  bool strs(std::vector<std::string>& out) {
    const auto* f = field(msgpack::type::ARRAY);
    if (f == nullptr) return false;
    out.clear();
    for (std::uint32_t i = 0; i < f->via.array.size; ++i) {
      const auto& e = f->via.array.ptr[i];
      if (e.type != msgpack::type::STR) return fail("a list of names holds a non-string"), false;
      out.emplace_back(e.via.str.ptr, e.via.str.size);
    }
    return true;
  }
  template <class T>
  expected<T> result(T value) const {
    if (!failure_.ok()) return failure_;
    return value;
  }

 private:
  void open(std::string_view bytes, record_kind kind, std::uint32_t fields,
            std::uint32_t optional) {
    try {
      std::size_t offset = 0;
      handle_ = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr,
                                detail::msgpack_limits(bytes.size()));
      if (offset != bytes.size()) return fail("trailing bytes");
    } catch (const std::exception& e) {
      return fail(std::string("not MessagePack: ") + e.what());
    }
    const auto& o = handle_.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size < 2) return fail("not a record");
    f_ = o.via.array.ptr;
    if (f_[0].type != msgpack::type::POSITIVE_INTEGER) return fail("no version");
    if (f_[0].via.u64 == 0 || f_[0].via.u64 > metadata_record_version)
      return fail("unknown version " + std::to_string(f_[0].via.u64) + " (this build reads up to " +
                  std::to_string(metadata_record_version) + ")");
    if (f_[1].type != msgpack::type::POSITIVE_INTEGER ||
        f_[1].via.u64 != static_cast<std::uint64_t>(kind))
      return fail("a record of another kind");
    if (o.via.array.size < fields + 2 || o.via.array.size > fields + 2 + optional)
      return fail("wrong field count");
    size_ = o.via.array.size;
    next_ = 2;
  }

  const msgpack::object* field(msgpack::type::object_type type) {
    if (!failure_.ok()) return nullptr;
    const auto* f = &f_[next_++];
    if (f->type != type) {
      fail("field " + std::to_string(next_ - 1) + " has the wrong type");
      return nullptr;
    }
    return f;
  }
  void fail(const std::string& why) {
    if (failure_.ok())
      failure_ = make_status(errc::invalid_argument, std::string(what_) + ": " + why);
  }

  const char* what_;
  msgpack::object_handle handle_;
  const msgpack::object* f_ = nullptr;
  std::size_t next_ = 0;
  std::size_t size_ = 0;
  status failure_;
};

}  // namespace

std::string encode(const node_record& r) {
  return writer(record_kind::node, 4)
      .str(r.name)
      .str(r.address)
      .str(r.build)
      .u64(r.protocol)
      .take();
}

std::string encode(const shard_record& r) {
  return writer(record_kind::shard, 5)
      .u64(r.epoch)
      .str(r.primary)
      .strs(r.replicas)
      .strs(r.in_sync)
      .str(r.state)
      .take();
}

std::string encode(const controller_record& r) {
  return writer(record_kind::controller, 2).str(r.name).str(r.address).take();
}

std::string encode(const index_record& r) {
  const auto& p = r.params;
  // The embedder is a tenth field only when set: records of indexes without
  // one stay readable by builds that predate it.
  writer w(record_kind::index, p.embedder.empty() ? 9 : 10);
  w.str(p.name)
      .u64(p.dimension)
      .str(std::string(distance_name(p.distance)))
      .u64(p.m)
      .u64(p.ef_construction)
      .u64(p.ef_search)
      .u64(p.shards)
      .u64(p.replicas)
      .u64(r.incarnation);
  if (!p.embedder.empty()) w.str(p.embedder);
  return w.take();
}

std::string encode(const tenant_record& r) {
  return writer(record_kind::tenant, 6)
      .str(r.name)
      .str(r.key_hash)
      .u64(r.quotas.max_indexes)
      .u64(r.quotas.max_vectors)
      .u64(r.quotas.max_bytes)
      .u64(r.quotas.max_requests_per_s)
      .take();
}

std::string encode(const catalog_record& r) {
  return writer(record_kind::catalog, 1).u64(r.next_incarnation).take();
}

expected<node_record> decode_node_record(std::string_view bytes) {
  reader in(bytes, record_kind::node, 4, "node record");
  node_record r;
  in.str(r.name) && in.str(r.address) && in.str(r.build) && in.u32(r.protocol);
  return in.result(std::move(r));
}

expected<shard_record> decode_shard_record(std::string_view bytes) {
  reader in(bytes, record_kind::shard, 5, "shard record");
  shard_record r;
  in.u64(r.epoch) && in.str(r.primary) && in.strs(r.replicas) && in.strs(r.in_sync) &&
      in.str(r.state);
  return in.result(std::move(r));
}

expected<controller_record> decode_controller_record(std::string_view bytes) {
  reader in(bytes, record_kind::controller, 2, "controller record");
  controller_record r;
  in.str(r.name) && in.str(r.address);
  return in.result(std::move(r));
}

expected<index_record> decode_index_record(std::string_view bytes) {
  reader in(bytes, record_kind::index, 9, "index record", 1);
  index_record r;
  auto& p = r.params;
  std::string distance;
  bool read = in.str(p.name) && in.u32(p.dimension) && in.str(distance) && in.u32(p.m) &&
              in.u32(p.ef_construction) && in.u32(p.ef_search) && in.u32(p.shards) &&
              in.u32(p.replicas) && in.u64(r.incarnation) && (!in.more() || in.str(p.embedder));
  if (read) {
    auto d = parse_distance(distance);
    if (!d) return make_status(errc::invalid_argument, "index record: " + d.error().message);
    p.distance = *d;
  }
  return in.result(std::move(r));
}

expected<tenant_record> decode_tenant_record(std::string_view bytes) {
  reader in(bytes, record_kind::tenant, 6, "tenant record");
  tenant_record r;
  auto& q = r.quotas;
  in.str(r.name) && in.str(r.key_hash) && in.u64(q.max_indexes) && in.u64(q.max_vectors) &&
      in.u64(q.max_bytes) && in.u64(q.max_requests_per_s);
  return in.result(std::move(r));
}

expected<catalog_record> decode_catalog_record(std::string_view bytes) {
  reader in(bytes, record_kind::catalog, 1, "catalog record");
  catalog_record r;
  in.u64(r.next_incarnation);
  return in.result(std::move(r));
}

metadata_keys::metadata_keys(std::string prefix) : prefix_(std::move(prefix)) {
  if (prefix_.empty() || prefix_.back() != '/') prefix_ += '/';
}

std::string metadata_keys::shard(const shard_ref& ref) const {
  return shards() + ref.tenant.value + "/" + ref.index + "@" + std::to_string(ref.incarnation) +
         "/" + std::to_string(ref.shard.value);
}

}  // namespace quiver
