#include "common/response_codec.hpp"

#include <simdjson.h>
#include <msgpack.hpp>

#include <algorithm>
#include <cstring>

#include "common/detail/json_writer.hpp"
#include "common/vector_validation.hpp"

namespace quiver {

namespace {

// MessagePack counterpart of json_writer; containers need their sizes up front.
class msgpack_writer {
 public:
  msgpack_writer() : packer_(buffer_) {}
  void begin_object(std::size_t n) { packer_.pack_map(static_cast<std::uint32_t>(n)); }
  void end_object() {}
  void begin_array(std::size_t n) { packer_.pack_array(static_cast<std::uint32_t>(n)); }
  void end_array() {}
  void key(std::string_view k) { string(k); }
  void string(std::string_view s) {
    packer_.pack_str(static_cast<std::uint32_t>(s.size()));
    packer_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
  }
  void integer(std::int64_t v) { packer_.pack_int64(v); }
  void uinteger(std::uint64_t v) { packer_.pack_uint64(v); }
  void number(double v) { raw_float<std::uint64_t>(0xcb, v); }
  void number(float v) { raw_float<std::uint32_t>(0xca, v); }
  void boolean(bool v) { v ? packer_.pack_true() : packer_.pack_false(); }
  void null() { packer_.pack_nil(); }
  // REQUIRES: valid JSON (stored metadata is validated on the way in).
  void raw(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(json.data(), json.size()).get(root)) {
      null();
      return;
    }
    pack(root);
  }
  void floats(const std::vector<float>& v) {
    begin_array(v.size());
    for (float x : v) number(x);
  }
  std::string take() { return std::string(buffer_.data(), buffer_.size()); }

 private:
  // Writes float32 (0xca) or float64 (0xcb) big-endian by hand: msgpack-cxx packs
  // integral-valued floats as integers, which readers of a vector do not expect.
  template <class Bits, class Float>
  void raw_float(unsigned char marker, Float v) {
    Bits bits;
    std::memcpy(&bits, &v, sizeof bits);
    char out[1 + sizeof bits];
    out[0] = static_cast<char>(marker);
    for (std::size_t i = 0; i < sizeof bits; ++i)
      out[1 + i] = static_cast<char>(bits >> (8 * (sizeof bits - 1 - i)));
    buffer_.write(out, sizeof out);
  }

  void pack(simdjson::dom::element e) {
    using t = simdjson::dom::element_type;
    switch (e.type()) {
      case t::ARRAY: {
        simdjson::dom::array a = e.get_array().value_unsafe();
        begin_array(a.size());
        for (auto x : a) pack(x);
        break;
      }
      case t::OBJECT: {
        simdjson::dom::object o = e.get_object().value_unsafe();
        begin_object(o.size());
        for (auto f : o) {
          key(f.key);
          pack(f.value);
        }
        break;
      }
      case t::INT64:
        integer(e.get_int64().value_unsafe());
        break;
      case t::UINT64:
        uinteger(e.get_uint64().value_unsafe());
        break;
      case t::DOUBLE:
        number(e.get_double().value_unsafe());
        break;
      case t::STRING:
        string(e.get_string().value_unsafe());
        break;
      case t::BOOL:
        boolean(e.get_bool().value_unsafe());
        break;
      case t::NULL_VALUE:
        null();
        break;
    }
  }

  msgpack::sbuffer buffer_;
  msgpack::packer<msgpack::sbuffer> packer_;
};

template <class F>
std::string render(body_format f, F&& write) {
  if (f == body_format::json) {
    detail::json_writer w;
    write(w);
    return w.take();
  }
  msgpack_writer w;
  write(w);
  return w.take();
}

template <class W>
void write_metadata(W& w, const metadata_json& m) {
  if (m.empty()) {
    w.null();
  } else {
    w.raw(m);
  }
}

template <class W>
void write_index(W& w, const index_description& d) {
  const auto& p = d.params;
  w.begin_object(11 + (p.embedder.empty() ? 0 : 1));
  w.key("name");
  w.string(p.name);
  w.key("dimension");
  w.uinteger(p.dimension);
  w.key("distance");
  w.string(distance_name(p.distance));
  w.key("m");
  w.uinteger(p.m);
  w.key("ef_construction");
  w.uinteger(p.ef_construction);
  w.key("ef_search");
  w.uinteger(p.ef_search);
  w.key("shards");
  w.uinteger(p.shards);
  w.key("replicas");
  w.uinteger(p.replicas);
  if (!p.embedder.empty()) {
    w.key("embedder");
    w.string(p.embedder);
  }
  w.key("count");
  w.uinteger(d.count);
  w.key("memory_bytes");
  w.uinteger(d.memory_bytes);
  w.key("status");
  w.string(d.status);
  w.end_object();
}

template <class W>
void write_hits(W& w, const std::vector<search_hit>& hits, const search_options& o) {
  w.begin_array(hits.size());
  for (const auto& h : hits) {
    w.begin_object(2 + (o.include_metadata ? 1 : 0) + (o.include_vectors ? 1 : 0));
    w.key("id");
    w.string(h.id);
    w.key("distance");
    w.number(h.distance);
    if (o.include_metadata) {
      w.key("metadata");
      write_metadata(w, h.metadata);
    }
    if (o.include_vectors) {
      w.key("vector");
      w.floats(h.vector);
    }
    w.end_object();
  }
  w.end_array();
}

template <class W>
void write_quotas(W& w, const tenant_quotas& q) {
  w.begin_object(4);
  w.key("max_indexes");
  w.uinteger(q.max_indexes);
  w.key("max_vectors");
  w.uinteger(q.max_vectors);
  w.key("max_bytes");
  w.uinteger(q.max_bytes);
  w.key("max_requests_per_s");
  w.uinteger(q.max_requests_per_s);
  w.end_object();
}

template <class W>
void write_tenant(W& w, const tenant_info& t) {
  w.begin_object(3);
  w.key("name");
  w.string(t.name);
  w.key("quotas");
  write_quotas(w, t.quotas);
  w.key("usage");
  w.begin_object(3);
  w.key("indexes");
  w.uinteger(t.usage.indexes);
  w.key("vectors");
  w.uinteger(t.usage.vectors);
  w.key("bytes");
  w.uinteger(t.usage.bytes);
  w.end_object();
  w.end_object();
}

}  // namespace

std::string_view content_type(body_format f) {
  return f == body_format::json ? "application/json" : "application/msgpack";
}

std::string render_error(body_format f, const status& st) {
  return render(f, [&](auto& w) {
    w.begin_object(1);
    w.key("error");
    w.begin_object(3);
    w.key("code");
    w.string(code_name(st.code));
    w.key("message");
    w.string(st.message);
    w.key("details");
    w.begin_object(st.details.size() + st.text_details.size());
    for (const auto& [k, v] : st.details) {
      w.key(k);
      w.integer(v);
    }
    for (const auto& [k, v] : st.text_details) {
      w.key(k);
      w.string(v);
    }
    w.end_object();
    w.end_object();
    w.end_object();
  });
}

std::string render_index(body_format f, const index_description& d) {
  return render(f, [&](auto& w) { write_index(w, d); });
}

std::string render_index_list(body_format f, const std::vector<index_description>& list) {
  return render(f, [&](auto& w) {
    w.begin_object(1);
    w.key("indexes");
    w.begin_array(list.size());
    for (const auto& d : list) write_index(w, d);
    w.end_array();
    w.end_object();
  });
}

std::string render_quotas(body_format f, const tenant_quotas& q) {
  return render(f, [&](auto& w) { write_quotas(w, q); });
}

std::string render_tenant_key(body_format f, std::string_view name, std::string_view key) {
  return render(f, [&](auto& w) {
    w.begin_object(2);
    w.key("name");
    w.string(name);
    w.key("api_key");
    w.string(key);
    w.end_object();
  });
}

std::string render_tenant(body_format f, const tenant_info& t) {
  return render(f, [&](auto& w) { write_tenant(w, t); });
}

std::string render_tenant_list(body_format f, const std::vector<tenant_info>& list) {
  return render(f, [&](auto& w) {
    w.begin_object(1);
    w.key("tenants");
    w.begin_array(list.size());
    for (const auto& t : list) write_tenant(w, t);
    w.end_array();
    w.end_object();
  });
}

std::string render_upserted_one(body_format f, std::string_view id, seq_no seq) {
  return render(f, [&](auto& w) {
    w.begin_object(2);
    w.key("id");
    w.string(id);
    w.key("seq");
    w.uinteger(seq.value);
    w.end_object();
  });
}

std::string render_count(body_format f, std::string_view key, std::uint64_t n) {
  return render(f, [&](auto& w) {
    w.begin_object(1);
    w.key(key);
    w.uinteger(n);
    w.end_object();
  });
}

std::string render_field(body_format f, const field_def& d) {
  return render(f, [&](auto& w) {
    w.begin_object(2);
    w.key("name");
    w.string(d.name);
    w.key("type");
    w.string(field_type_name(d.type));
    w.end_object();
  });
}

std::string render_fields(body_format f, const list_fields_reply& r) {
  return render(f, [&](auto& w) {
    w.begin_object(1);
    w.key("fields");
    w.begin_array(r.fields.size());
    for (const auto& x : r.fields) {
      w.begin_object(3);
      w.key("name");
      w.string(x.field.name);
      w.key("type");
      w.string(field_type_name(x.field.type));
      w.key("complete");
      w.boolean(x.shards == r.shards);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  });
}

std::string render_flag(body_format f, std::string_view key, bool value) {
  return render(f, [&](auto& w) {
    w.begin_object(1);
    w.key(key);
    w.boolean(value);
    w.end_object();
  });
}

std::string render_vector(body_format f, const vector_record& r) {
  return render(f, [&](auto& w) {
    w.begin_object(3);
    w.key("id");
    w.string(r.id);
    w.key("vector");
    w.floats(r.vector);
    w.key("metadata");
    write_metadata(w, r.metadata);
    w.end_object();
  });
}

std::string render_ids(body_format f, const std::vector<std::string>& ids,
                       const std::string& next_cursor) {
  return render(f, [&](auto& w) {
    w.begin_object(2);
    w.key("ids");
    w.begin_array(ids.size());
    for (const auto& id : ids) w.string(id);
    w.end_array();
    w.key("next_cursor");
    if (next_cursor.empty()) {
      w.null();
    } else {
      w.string(next_cursor);
    }
    w.end_object();
  });
}

std::string render_search(body_format f, const std::vector<search_hit>& hits,
                          const search_options& options, double took_ms,
                          const std::vector<std::uint32_t>& missing_shards) {
  return render(f, [&](auto& w) {
    w.begin_object(missing_shards.empty() ? 2 : 4);
    w.key("results");
    write_hits(w, hits, options);
    w.key("took_ms");
    w.number(took_ms);
    if (!missing_shards.empty()) {
      w.key("partial");
      w.boolean(true);
      w.key("missing_shards");
      w.begin_array(missing_shards.size());
      for (auto m : missing_shards) w.uinteger(m);
      w.end_array();
    }
    w.end_object();
  });
}

std::string render_cluster(body_format f, const cluster_status& c) {
  return render(f, [&](auto& w) {
    w.begin_object(4);
    w.key("mode");
    w.string(c.mode);
    w.key("version");
    w.uinteger(c.version);
    w.key("nodes");
    w.begin_array(c.nodes.size());
    for (const auto& n : c.nodes) {
      w.begin_object(5);
      w.key("name");
      w.string(n.name);
      w.key("address");
      w.string(n.address);
      w.key("role");
      w.string(n.role);
      w.key("status");
      w.string(n.up ? "up" : "down");
      w.key("replicas");
      w.uinteger(n.replicas);
      w.end_object();
    }
    w.end_array();
    w.key("shards");
    w.begin_array(c.shards.size());
    for (const auto& s : c.shards) {
      w.begin_object(6);
      w.key("tenant");
      w.string(s.tenant);
      w.key("index");
      w.string(s.index);
      w.key("shard");
      w.uinteger(s.shard);
      w.key("epoch");
      w.uinteger(s.epoch);
      w.key("primary");
      if (s.primary.empty()) {
        w.null();
      } else {
        w.string(s.primary);
      }
      w.key("replicas");
      w.begin_array(s.replicas.size());
      for (const auto& r : s.replicas) {
        w.begin_object(6);
        w.key("node");
        w.string(r.node);
        w.key("primary");
        w.boolean(r.primary);
        w.key("state");
        w.string(r.state);
        w.key("applied_seq");
        w.uinteger(r.applied_seq);
        w.key("lag");
        w.uinteger(r.lag);
        w.key("in_sync");
        w.boolean(r.in_sync);
        w.end_object();
      }
      w.end_array();
      w.end_object();
    }
    w.end_array();
    w.end_object();
  });
}

std::string render_search_batch(body_format f, const std::vector<std::vector<search_hit>>& results,
                                const std::vector<search_options>& options, double took_ms) {
  return render(f, [&](auto& w) {
    w.begin_object(2);
    w.key("results");
    w.begin_array(results.size());
    for (std::size_t i = 0; i < results.size(); ++i) write_hits(w, results[i], options[i]);
    w.end_array();
    w.key("took_ms");
    w.number(took_ms);
    w.end_object();
  });
}

std::string render_word(body_format f, std::string_view key, std::string_view value) {
  return render(f, [&](auto& w) {
    w.begin_object(1);
    w.key(key);
    w.string(value);
    w.end_object();
  });
}

std::string render_readiness(body_format f, const readiness_reply& r) {
  return render(f, [&](auto& w) {
    w.begin_object(3);
    w.key("status");
    w.string(r.missing.empty() ? "ready" : "not_ready");
    w.key("missing_shards");
    w.begin_array(r.missing.size());
    for (const auto& m : r.missing) w.string(m);
    w.end_array();
    w.key("indexes");
    auto n = std::min(r.index_names.size(), r.index_states.size());
    w.begin_object(n);
    for (std::size_t i = 0; i < n; ++i) {
      w.key(r.index_names[i]);
      w.string(r.index_states[i]);
    }
    w.end_object();
    w.end_object();
  });
}

std::string encode_cursor(std::string_view last_id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(last_id.size() * 2);
  for (unsigned char c : last_id) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

expected<std::string> decode_cursor(std::string_view cursor) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (cursor.size() % 2 != 0 || cursor.size() > 2 * request_limits::max_id_bytes)
    return make_status(errc::invalid_argument, "malformed cursor");
  std::string out;
  out.reserve(cursor.size() / 2);
  for (std::size_t i = 0; i < cursor.size(); i += 2) {
    int hi = nibble(cursor[i]), lo = nibble(cursor[i + 1]);
    if (hi < 0 || lo < 0) return make_status(errc::invalid_argument, "malformed cursor");
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

}  // namespace quiver
