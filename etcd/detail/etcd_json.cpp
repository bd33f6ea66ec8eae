#include "etcd/detail/etcd_json.hpp"

#include <simdjson.h>

#include <array>

#include "common/detail/json_writer.hpp"
#include "common/parse.hpp"

namespace quiver::etcd::detail {
namespace {

using quiver::detail::json_writer;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

status malformed(std::string what) {
  return make_status(errc::internal, "etcd answered malformed JSON: " + std::move(what));
}

// An int64 field: a JSON string (proto3's int64) or a number; absent is 0.
std::optional<std::int64_t> int_field(const object& o, std::string_view name) {
  element e;
  if (o[name].get(e) != simdjson::SUCCESS) return 0;
  if (e.is_string()) {
    std::string_view s = e.get_string().value_unsafe();
    bool negative = !s.empty() && s[0] == '-';
    auto v = parse_u64(negative ? s.substr(1) : s);
    if (!v || *v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return negative ? -static_cast<std::int64_t>(*v) : static_cast<std::int64_t>(*v);
  }
  std::int64_t v = 0;
  if (e.get_int64().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

bool bool_field(const object& o, std::string_view name) {
  bool v = false;
  element e;
  if (o[name].get(e) == simdjson::SUCCESS && e.get_bool().get(v) == simdjson::SUCCESS) return v;
  return false;
}

std::string string_field(const object& o, std::string_view name) {
  std::string_view v;
  element e;
  if (o[name].get(e) == simdjson::SUCCESS && e.get_string().get(v) == simdjson::SUCCESS)
    return std::string(v);
  return {};
}

std::optional<std::string> bytes_field(const object& o, std::string_view name) {
  element e;
  if (o[name].get(e) != simdjson::SUCCESS) return std::string();
  std::string_view v;
  if (e.get_string().get(v) != simdjson::SUCCESS) return std::nullopt;
  return base64_decode(v);
}

// The object of a body, or the status of an error body.
expected<object> parse_object(simdjson::dom::parser& parser, std::string_view body) {
  element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS)
    return malformed("not JSON");
  object o;
  if (root.get_object().get(o) != simdjson::SUCCESS) return malformed("not an object");
  element error;
  if (o["error"].get(error) == simdjson::SUCCESS || o["code"].get(error) == simdjson::SUCCESS) {
    object nested;  // streams: {"error": {"grpc_code", "message"}}
    if (o["error"].get_object().get(nested) == simdjson::SUCCESS)
      return grpc_status(int_field(nested, "grpc_code").value_or(2),
                         string_field(nested, "message"));
    auto code = int_field(o, "code");
    std::string message = string_field(o, "message");
    if (message.empty()) message = string_field(o, "error");
    return grpc_status(code.value_or(2), std::move(message));
  }
  return o;
}

// Streams wrap each message in {"result": ...}, or {"error": ...} on failure.
expected<object> unwrap_result(simdjson::dom::parser& parser, std::string_view body) {
  auto o = parse_object(parser, body);
  if (!o) return o;
  object inner;
  if ((*o)["result"].get_object().get(inner) == simdjson::SUCCESS) return inner;
  return o;
}

std::int64_t header_revision(const object& o) {
  object header;
  if (o["header"].get_object().get(header) != simdjson::SUCCESS) return 0;
  return int_field(header, "revision").value_or(0);
}

expected<key_value> parse_kv(const object& o) {
  key_value kv;
  auto key = bytes_field(o, "key");
  auto value = bytes_field(o, "value");
  auto create = int_field(o, "create_revision");
  auto mod = int_field(o, "mod_revision");
  auto version = int_field(o, "version");
  auto lease = int_field(o, "lease");
  if (!key || !value || !create || !mod || !version || !lease) return malformed("a bad kv");
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.create_revision = *create;
  kv.mod_revision = *mod;
  kv.version = *version;
  kv.lease = *lease;
  return kv;
}

expected<range_result> range_of(const object& o) {
  range_result r;
  r.revision = header_revision(o);
  r.more = bool_field(o, "more");
  auto count = int_field(o, "count");
  if (!count) return malformed("a bad count");
  r.count = *count;
  simdjson::dom::array kvs;
  if (o["kvs"].get_array().get(kvs) == simdjson::SUCCESS) {
    for (element e : kvs) {
      object kv;
      if (e.get_object().get(kv) != simdjson::SUCCESS) return malformed("a kv is not an object");
      auto parsed = parse_kv(kv);
      if (!parsed) return parsed.error();
      r.kvs.push_back(std::move(*parsed));
    }
  }
  return r;
}

void write_compare(json_writer& w, const compare& c) {
  static constexpr std::array<std::string_view, 4> results = {"EQUAL", "GREATER", "LESS",
                                                              "NOT_EQUAL"};
  w.begin_object();
  w.key("key");
  w.string(base64_encode(c.key));
  w.key("result");
  w.string(results[static_cast<std::size_t>(c.result)]);
  w.key("target");
  switch (c.what) {
    case compare::target::version:
      w.string("VERSION");
      w.key("version");
      w.string(std::to_string(c.number));
      break;
    case compare::target::create_revision:
      w.string("CREATE");
      w.key("create_revision");
      w.string(std::to_string(c.number));
      break;
    case compare::target::mod_revision:
      w.string("MOD");
      w.key("mod_revision");
      w.string(std::to_string(c.number));
      break;
    case compare::target::value:
      w.string("VALUE");
      w.key("value");
      w.string(base64_encode(c.value));
      break;
    case compare::target::lease:
      w.string("LEASE");
      w.key("lease");
      w.string(std::to_string(c.number));
      break;
  }
  w.end_object();
}

void write_key_range(json_writer& w, const std::string& key, const std::string& range_end) {
  w.key("key");
  w.string(base64_encode(key));
  if (!range_end.empty()) {
    w.key("range_end");
    w.string(base64_encode(range_end));
  }
}

void write_put_fields(json_writer& w, const std::string& key, const std::string& value,
                      std::int64_t lease) {
  w.key("key");
  w.string(base64_encode(key));
  w.key("value");
  w.string(base64_encode(value));
  if (lease != 0) {
    w.key("lease");
    w.string(std::to_string(lease));
  }
}

void write_operation(json_writer& w, const operation& op) {
  w.begin_object();
  switch (op.what) {
    case operation::kind::range:
      w.key("request_range");
      w.begin_object();
      write_key_range(w, op.key, op.range_end);
      w.end_object();
      break;
    case operation::kind::put:
      w.key("request_put");
      w.begin_object();
      write_put_fields(w, op.key, op.value, op.lease);
      w.end_object();
      break;
    case operation::kind::delete_range:
      w.key("request_delete_range");
      w.begin_object();
      write_key_range(w, op.key, op.range_end);
      w.end_object();
      break;
  }
  w.end_object();
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                      (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string render_range(const std::string& key, const std::string& range_end, std::int64_t limit) {
  json_writer w;
  w.begin_object();
  write_key_range(w, key, range_end);
  if (limit > 0) {
    w.key("limit");
    w.string(std::to_string(limit));
  }
  w.end_object();
  return w.take();
}

std::string render_put(const std::string& key, const std::string& value, std::int64_t lease) {
  json_writer w;
  w.begin_object();
  write_put_fields(w, key, value, lease);
  w.end_object();
  return w.take();
}

std::string render_erase(const std::string& key, const std::string& range_end) {
  json_writer w;
  w.begin_object();
  write_key_range(w, key, range_end);
  w.end_object();
  return w.take();
}

std::string render_txn(const std::vector<compare>& compares, const std::vector<operation>& success,
                       const std::vector<operation>& failure) {
  json_writer w;
  w.begin_object();
  w.key("compare");
  w.begin_array();
  for (const auto& c : compares) write_compare(w, c);
  w.end_array();
  w.key("success");
  w.begin_array();
  for (const auto& op : success) write_operation(w, op);
  w.end_array();
  w.key("failure");
  w.begin_array();
  for (const auto& op : failure) write_operation(w, op);
  w.end_array();
  w.end_object();
  return w.take();
}

std::string render_lease_grant(std::int64_t ttl_s) {
  json_writer w;
  w.begin_object();
  w.key("TTL");
  w.string(std::to_string(ttl_s));
  w.end_object();
  return w.take();
}

std::string render_lease_id(std::int64_t id) {
  json_writer w;
  w.begin_object();
  w.key("ID");
  w.string(std::to_string(id));
  w.end_object();
  return w.take();
}

std::string render_watch(const std::string& key, const std::string& range_end,
                         std::int64_t start_revision) {
  json_writer w;
  w.begin_object();
  w.key("create_request");
  w.begin_object();
  write_key_range(w, key, range_end);
  if (start_revision > 0) {
    w.key("start_revision");
    w.string(std::to_string(start_revision));
  }
  // Idle streams then carry progress notices, which tell a live member from a
  // paused one.
  w.key("progress_notify");
  w.boolean(true);
  w.end_object();
  w.end_object();
  return w.take();
}

expected<range_result> parse_range(std::string_view body) {
  simdjson::dom::parser parser;
  auto o = parse_object(parser, body);
  if (!o) return o.error();
  return range_of(*o);
}

expected<std::int64_t> parse_put(std::string_view body) {
  simdjson::dom::parser parser;
  auto o = parse_object(parser, body);
  if (!o) return o.error();
  return header_revision(*o);
}

expected<std::int64_t> parse_erase(std::string_view body) {
  simdjson::dom::parser parser;
  auto o = parse_object(parser, body);
  if (!o) return o.error();
  auto deleted = int_field(*o, "deleted");
  if (!deleted) return malformed("a bad deleted count");
  return *deleted;
}

expected<txn_result> parse_txn(std::string_view body) {
  simdjson::dom::parser parser;
  auto o = parse_object(parser, body);
  if (!o) return o.error();
  txn_result r;
  r.succeeded = bool_field(*o, "succeeded");
  r.revision = header_revision(*o);
  simdjson::dom::array responses;
  if ((*o)["responses"].get_array().get(responses) == simdjson::SUCCESS) {
    for (element e : responses) {
      object response;
      if (e.get_object().get(response) != simdjson::SUCCESS)
        return malformed("a txn response is not an object");
      object range;
      if (response["response_range"].get_object().get(range) == simdjson::SUCCESS) {
        auto parsed = range_of(range);
        if (!parsed) return parsed.error();
        r.ranges.push_back(std::move(*parsed));
      } else {
        r.ranges.emplace_back();
      }
    }
  }
  return r;
}

expected<lease_grant_result> parse_lease_grant(std::string_view body) {
  simdjson::dom::parser parser;
  auto o = parse_object(parser, body);
  if (!o) return o.error();
  auto id = int_field(*o, "ID");
  auto ttl = int_field(*o, "TTL");
  if (!id || !ttl || *id == 0) return malformed("a lease grant without an ID");
  return lease_grant_result{*id, *ttl};
}

expected<std::int64_t> parse_keepalive(std::string_view body) {
  simdjson::dom::parser parser;
  auto o = unwrap_result(parser, body);
  if (!o) return o.error();
  auto ttl = int_field(*o, "TTL");
  if (!ttl) return malformed("a bad TTL");
  // An expired lease is renewed with TTL 0 (the field is then absent).
  if (*ttl <= 0) return make_status(errc::not_found, "the etcd lease expired");
  return *ttl;
}

status parse_revoke(std::string_view body) {
  simdjson::dom::parser parser;
  auto o = parse_object(parser, body);
  if (!o) return o.error();
  return status::success();
}

expected<watch_update> parse_watch_line(std::string_view line) {
  simdjson::dom::parser parser;
  auto o = unwrap_result(parser, line);
  watch_update u;
  if (!o) {
    u.ended = o.error();
    return u;
  }
  u.revision = header_revision(*o);
  auto compact = int_field(*o, "compact_revision");
  if (!compact) return malformed("a bad compact_revision");
  u.compact_revision = *compact;
  if (bool_field(*o, "canceled")) {
    std::string reason = string_field(*o, "cancel_reason");
    if (u.compact_revision > 0) {
      u.ended = make_status(errc::not_found, "the watch's start revision was compacted");
      u.ended.details = {{"compact_revision", u.compact_revision}};
    } else {
      u.ended = make_status(errc::unavailable,
                            "etcd canceled the watch" + (reason.empty() ? "" : ": " + reason));
    }
    return u;
  }
  simdjson::dom::array events;
  if ((*o)["events"].get_array().get(events) == simdjson::SUCCESS) {
    for (element e : events) {
      object event;
      object kv;
      if (e.get_object().get(event) != simdjson::SUCCESS ||
          event["kv"].get_object().get(kv) != simdjson::SUCCESS)
        return malformed("a watch event without a kv");
      watch_event ev;
      ev.what = string_field(event, "type") == "DELETE" ? watch_event::type::erase
                                                        : watch_event::type::put;
      auto parsed = parse_kv(kv);
      if (!parsed) return parsed.error();
      ev.kv = std::move(*parsed);
      u.events.push_back(std::move(ev));
    }
  }
  return u;
}

status grpc_status(std::int64_t code, std::string message) {
  std::string text = "etcd: " + message;
  switch (code) {
    case 3:   // INVALID_ARGUMENT
    case 11:  // OUT_OF_RANGE
      return make_status(errc::invalid_argument, std::move(text));
    case 5:  // NOT_FOUND
      return make_status(errc::not_found, std::move(text));
    case 8:  // RESOURCE_EXHAUSTED: request too large
      return make_status(errc::payload_too_large, std::move(text));
    case 1:   // CANCELLED
    case 4:   // DEADLINE_EXCEEDED
    case 14:  // UNAVAILABLE: no leader, no quorum, stopping
      return make_status(errc::unavailable, std::move(text));
    default:
      return make_status(errc::internal, std::move(text));
  }
}

}  // namespace quiver::etcd::detail
