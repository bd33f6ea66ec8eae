#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "etcd/etcd_client.hpp"

// The bodies of etcd's v3 JSON gateway: proto3 JSON, bytes as base64, int64 as
// strings, fields at their default omitted (read a missing field as 0/false/empty).
// Plain functions, so that they are tested (and fuzzed) without a server.
namespace quiver::etcd::detail {

std::string base64_encode(std::string_view bytes);
// nullopt: not base64.
std::optional<std::string> base64_decode(std::string_view text);

std::string render_range(const std::string& key, const std::string& range_end, std::int64_t limit);
std::string render_put(const std::string& key, const std::string& value, std::int64_t lease);
std::string render_erase(const std::string& key, const std::string& range_end);
std::string render_txn(const std::vector<compare>& compares, const std::vector<operation>& success,
                       const std::vector<operation>& failure);
std::string render_lease_grant(std::int64_t ttl_s);
std::string render_lease_id(std::int64_t id);  // keepalive and revoke
std::string render_watch(const std::string& key, const std::string& range_end,
                         std::int64_t start_revision);

// Each parser first turns an error body ({"error", "code"}) into its status.
expected<range_result> parse_range(std::string_view body);
expected<std::int64_t> parse_put(std::string_view body);    // the revision
expected<std::int64_t> parse_erase(std::string_view body);  // keys deleted
expected<txn_result> parse_txn(std::string_view body);
expected<lease_grant_result> parse_lease_grant(std::string_view body);
expected<std::int64_t> parse_keepalive(std::string_view body);  // the TTL; not_found: expired
status parse_revoke(std::string_view body);
// One line of a watch stream. An update with `ended` set ends the watch.
expected<watch_update> parse_watch_line(std::string_view line);

// The status for a gRPC status code etcd reported, with its message.
status grpc_status(std::int64_t code, std::string message);

}  // namespace quiver::etcd::detail
