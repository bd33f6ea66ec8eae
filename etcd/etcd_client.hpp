#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace quiver::etcd {

// One key as etcd holds it. Revisions are etcd's cluster-wide counters: a key's
// mod_revision changes on every write of it, so it is the fencing token a compare
// transaction checks.
struct key_value {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;  // 0: the key does not exist
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

struct range_result {
  std::int64_t revision = 0;  // the store's revision when the range was read
  std::vector<key_value> kvs;
  bool more = false;  // a limit cut the answer short
  std::int64_t count = 0;
};

// A condition of a transaction on one key.
struct compare {
  enum class target { version, create_revision, mod_revision, value, lease };
  enum class op { equal, greater, less, not_equal };
  std::string key;
  target what = target::mod_revision;
  op result = op::equal;
  std::int64_t number = 0;  // version, revisions, lease
  std::string value;        // value

  // The key does not exist (its create_revision is 0).
  static compare absent(std::string key);
  // The key was last written at `revision` (0: it does not exist).
  static compare mod_revision_is(std::string key, std::int64_t revision);
  static compare value_is(std::string key, std::string value);
};

// One operation of a transaction's success or failure branch.
struct operation {
  enum class kind { range, put, delete_range };
  kind what = kind::range;
  std::string key;
  std::string range_end;   // range and delete_range: empty for one key
  std::string value;       // put
  std::int64_t lease = 0;  // put: bind the key to this lease (0: none)

  static operation get(std::string key);
  static operation get_prefix(std::string prefix);
  static operation put(std::string key, std::string value, std::int64_t lease = 0);
  static operation erase(std::string key);
  static operation erase_prefix(std::string prefix);
};

struct txn_result {
  bool succeeded = false;
  std::int64_t revision = 0;
  // The answers of the branch that ran, in order; puts and deletes leave an
  // empty range_result in their place.
  std::vector<range_result> ranges;
};

struct lease_grant_result {
  std::int64_t id = 0;
  std::int64_t ttl_s = 0;
};

struct watch_event {
  enum class type { put, erase };
  type what = type::put;
  key_value kv;  // erase: the key and the deleting revision (mod_revision)
};

// What a watch delivers: events (in revision order) or, once and last, why the
// watch ended. `errc::not_found` with compact_revision set: the start revision
// was compacted away; re-list and watch again from the listing's revision + 1.
struct watch_update {
  std::int64_t revision = 0;
  std::vector<watch_event> events;
  status ended;  // not ok: the stream is over
  std::int64_t compact_revision = 0;
};

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
};

struct client_options {
  std::vector<endpoint> endpoints;
  // Connecting to one member; the next member is tried after this.
  std::chrono::milliseconds dial_timeout{1000};
  // One request, from sending it to its answer. etcd answers within its own
  // election timeout when it has a quorum; longer means it has none.
  std::chrono::milliseconds request_timeout{3000};
  // Further members tried after a transport failure (reads and lease calls after
  // any; writes only when the request was never sent, since a write whose answer
  // was lost may have been applied).
  unsigned retries = 2;
  // A watch that hears nothing for this long ends (errc::unavailable): a paused
  // or partitioned member would otherwise keep it open forever. Members started
  // by scripts/cluster send progress notices well within it.
  std::chrono::milliseconds watch_idle_timeout{15000};
  // HTTPS to every member (etcd's --cert-file, --client-cert-auth): the CA that
  // signed the members' certificates (checked against the endpoint's host or IP),
  // and this client's certificate and key when etcd requires one. Empty ca:
  // plain HTTP.
  std::string ca, cert, key;
};

// Parses "host:port[,host:port...]" (an optional "http://" or "https://" before
// each; client_options.ca decides the scheme).
expected<std::vector<endpoint>> parse_endpoints(const std::string& list);

// The key just after every key that starts with `prefix`: a prefix's range end.
std::string prefix_end(const std::string& prefix);

// A streaming watch running on a thread of its own; destroying it stops it.
class watch_stream {
 public:
  virtual ~watch_stream() = default;
};

// The etcd v3 API as Quiver uses it. Calls block the calling thread; a client
// may be shared by threads (calls take turns on one keep-alive connection).
// Failures: errc::unavailable (no member answered in time: down, or no quorum),
// errc::not_found (a lease that expired or never was), errc::invalid_argument
// and errc::payload_too_large (etcd refused the request), errc::internal.
class client {
 public:
  virtual ~client() = default;

  virtual expected<range_result> range(const std::string& key, const std::string& range_end = {},
                                       std::int64_t limit = 0) = 0;
  expected<range_result> range_prefix(const std::string& prefix) {
    return range(prefix, prefix_end(prefix));
  }
  // Returns the revision of the write.
  virtual expected<std::int64_t> put(const std::string& key, const std::string& value,
                                     std::int64_t lease = 0) = 0;
  // Returns how many keys were deleted.
  virtual expected<std::int64_t> erase(const std::string& key,
                                       const std::string& range_end = {}) = 0;
  virtual expected<txn_result> txn(const std::vector<compare>& compares,
                                   const std::vector<operation>& success,
                                   const std::vector<operation>& failure = {}) = 0;

  virtual expected<lease_grant_result> lease_grant(std::chrono::seconds ttl) = 0;
  // One renewal; returns the TTL granted again. errc::not_found: the lease expired.
  virtual expected<std::int64_t> lease_keepalive(std::int64_t id) = 0;
  virtual status lease_revoke(std::int64_t id) = 0;

  // Watches [key, range_end) from `start_revision` on a connection of its own.
  // `on_update` runs on the watch's thread, never after the stream is destroyed.
  virtual std::unique_ptr<watch_stream> watch(
      const std::string& key, const std::string& range_end, std::int64_t start_revision,
      std::function<void(const watch_update&)> on_update) = 0;
};

// The client of etcd's JSON gateway (/v3/...) over HTTP/1.1.
std::unique_ptr<client> make_http_client(client_options options);

}  // namespace quiver::etcd
