// Every message type registered for crossing a process crosses one (CAF's
// middleman on loopback, there and back) with every field set and arrives the
// same; no registered type lacks this test.

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "actors/wire/actor_messages.hpp"
#include "actors/wire/protocol.hpp"
#include "tests/actor/two_daemons.hpp"

namespace quiver {
namespace {

// Changes every field an inspect() overload names away from its default value
// (flags flip, numbers and strings grow, vectors get two elements; actor handles
// stay null).
struct filler {
  using result_type = void;
  static constexpr bool reads_state = false;
  static constexpr bool writes_state = true;
  unsigned next = 1;

  template <class... Ts>
  void operator()(Ts&... xs) {
    (fill(xs), ...);
  }
  void fill(bool& x) { x = !x; }
  void fill(std::string& x) { x += "s" + std::to_string(next++); }
  void fill(caf::actor&) {}
  template <class T>
  std::enable_if_t<std::is_arithmetic_v<T>> fill(T& x) {
    x = static_cast<T>(x + static_cast<T>(next++ % 100 + 1));
  }
  template <class T>
  std::enable_if_t<std::is_enum_v<T>> fill(T& x) {
    x = static_cast<T>(static_cast<std::underlying_type_t<T>>(x) + 1);
  }
  template <class T>
  void fill(std::vector<T>& v) {
    v.resize(2);
    for (auto& e : v) fill(e);
  }
  template <class T>
  auto fill(T& x) -> decltype(inspect(std::declval<filler&>(), x), void()) {
    inspect(*this, x);
  }
};

// The number of members of an aggregate: the largest N for which T{a1, ..., aN}
// compiles, every a converting to anything.
struct any_member {
  template <class U>
  operator U() const;
};
template <class T, class... As>
constexpr auto member_count(int, As... as) -> decltype(T{as..., any_member{}}, std::size_t{}) {
  return member_count<T>(0, as..., any_member{});
}
template <class T, class... As>
constexpr std::size_t member_count(long, As...) {
  return sizeof...(As);
}

// The number of fields an inspect() overload names.
struct field_counter {
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;
  std::size_t fields = 0;
  template <class... Ts>
  void operator()(Ts&...) {
    fields += sizeof...(Ts);
  }
};

template <class T>
std::vector<char> bytes_of(caf::actor_system& sys, T& x) {
  std::vector<char> buf;
  caf::binary_serializer out(sys, buf);
  EXPECT_FALSE(out(x));
  return buf;
}

// Two daemons' worth of actor systems: what the client sends to the server's
// echo actor over the middleman comes back, and must serialize to the same bytes.
struct wire : two_daemons {
  caf::actor echo;
  wire() {
    // An argument, unused: CAF 0.17 dereferences a null argument tuple for a
    // function actor spawned without one (UBSan says so).
    auto local = server.spawn(
        [](caf::event_based_actor* self, int) -> caf::behavior {
          self->set_default_handler(caf::reflect);
          return {[](caf::unit_t) {}};
        },
        0);
    echo = over_the_wire(local);
  }
  ~wire() { caf::anon_send_exit(echo, caf::exit_reason::user_shutdown); }
};

template <class T>
void round_trip(wire& w) {
  T x{};
  // A member inspect() leaves out would never cross, and the filler below
  // (which fills what inspect() names) would not notice.
  if constexpr (std::is_aggregate_v<T>) {
    field_counter c;
    inspect(c, x);
    EXPECT_EQ(c.fields, member_count<T>(0)) << "a member is missing from inspect()";
  }
  filler f;
  f.fill(x);
  auto sent = bytes_of(w.client, x);
  // Every field changed, so a field inspect() names reaches the bytes.
  T fresh{};
  if (!std::is_empty_v<T>) {
    EXPECT_NE(sent, bytes_of(w.client, fresh)) << "nothing was serialized";
  }
  caf::scoped_actor self{w.client};
  bool answered = false;
  self->request(w.echo, std::chrono::seconds(10), x)
      .receive(
          [&](T& back) {
            answered = true;
            EXPECT_EQ(bytes_of(w.client, back), sent);
          },
          [&](caf::error& e) { ADD_FAILURE() << w.client.render(e); });
  EXPECT_TRUE(answered);
}

TEST(WireMessages, EveryRegisteredTypeRoundTripsWithEveryFieldSet) {
  wire w;
  ASSERT_TRUE(w.echo);
  const std::map<std::string, std::function<void(wire&)>> cases{
      {"quiver::int64_vector", round_trip<std::vector<std::int64_t>>},
      {"quiver::protocol_hello", round_trip<protocol_hello>},
      {"quiver::tenant_id", round_trip<tenant_id>},
      {"quiver::seq_no", round_trip<seq_no>},
      {"quiver::index_params", round_trip<index_params>},
      {"quiver::upsert_item", round_trip<upsert_item>},
      {"quiver::upsert_items", round_trip<std::vector<upsert_item>>},
      {"quiver::vector_record", round_trip<vector_record>},
      {"quiver::search_hit", round_trip<search_hit>},
      {"quiver::search_options", round_trip<search_options>},
      {"quiver::id_page", round_trip<id_page>},
      {"quiver::index_description", round_trip<index_description>},
      {"quiver::index_descriptions", round_trip<std::vector<index_description>>},
      {"quiver::create_index_request", round_trip<create_index_request>},
      {"quiver::create_index_reply", round_trip<create_index_reply>},
      {"quiver::list_indexes_request", round_trip<list_indexes_request>},
      {"quiver::describe_index_request", round_trip<describe_index_request>},
      {"quiver::drop_index_request", round_trip<drop_index_request>},
      {"quiver::readiness_request", round_trip<readiness_request>},
      {"quiver::readiness_reply", round_trip<readiness_reply>},
      {"quiver::upsert_request", round_trip<upsert_request>},
      {"quiver::upsert_reply", round_trip<upsert_reply>},
      {"quiver::get_vector_request", round_trip<get_vector_request>},
      {"quiver::delete_vectors_request", round_trip<delete_vectors_request>},
      {"quiver::delete_vectors_reply", round_trip<delete_vectors_reply>},
      {"quiver::list_ids_request", round_trip<list_ids_request>},
      {"quiver::count_request", round_trip<count_request>},
      {"quiver::count_reply", round_trip<count_reply>},
      {"quiver::field_index_request", round_trip<field_index_request>},
      {"quiver::field_index_reply", round_trip<field_index_reply>},
      {"quiver::list_fields_request", round_trip<list_fields_request>},
      {"quiver::list_fields_reply", round_trip<list_fields_reply>},
      {"quiver::search_request", round_trip<search_request>},
      {"quiver::search_reply", round_trip<search_reply>},
      {"quiver::search_batch_request", round_trip<search_batch_request>},
      {"quiver::search_batch_reply", round_trip<search_batch_reply>},
      {"quiver::merge_request", round_trip<merge_request>},
      {"quiver::merge_reply", round_trip<merge_reply>},
      {"quiver::shard_stats_request", round_trip<shard_stats_request>},
      {"quiver::shard_stats", round_trip<shard_stats>},
      {"quiver::index_version_request", round_trip<index_version_request>},
      {"quiver::index_version", round_trip<index_version>},
      {"quiver::shard_export_request", round_trip<shard_export_request>},
      {"quiver::shard_export", round_trip<shard_export>},
      {"quiver::backup_prepare_request", round_trip<backup_prepare_request>},
      {"quiver::backup_prepare_reply", round_trip<backup_prepare_reply>},
      {"quiver::backup_chunk_request", round_trip<backup_chunk_request>},
      {"quiver::lookup_index_request", round_trip<lookup_index_request>},
      {"quiver::index_route", round_trip<index_route>},
      {"quiver::log_record", round_trip<log_record>},
      {"quiver::log_records", round_trip<std::vector<log_record>>},
      {"quiver::shard_ref", round_trip<shard_ref>},
      {"quiver::catalog_entry", round_trip<catalog_entry>},
      {"quiver::catalog_entries", round_trip<std::vector<catalog_entry>>},
      {"quiver::catalog_list_request", round_trip<catalog_list_request>},
      {"quiver::catalog_create_request", round_trip<catalog_create_request>},
      {"quiver::catalog_create_reply", round_trip<catalog_create_reply>},
      {"quiver::catalog_drop_request", round_trip<catalog_drop_request>},
      {"quiver::shard_list_request", round_trip<shard_list_request>},
      {"quiver::shard_refs", round_trip<std::vector<shard_ref>>},
      {"quiver::shard_drop_request", round_trip<shard_drop_request>},
      {"quiver::shard_open_request", round_trip<shard_open_request>},
      {"quiver::shard_lease", round_trip<shard_lease>},
      {"quiver::log_append_request", round_trip<log_append_request>},
      {"quiver::log_append_reply", round_trip<log_append_reply>},
      {"quiver::log_read_request", round_trip<log_read_request>},
      {"quiver::log_chunk", round_trip<log_chunk>},
      {"quiver::log_release_request", round_trip<log_release_request>},
      {"quiver::storage_stats_request", round_trip<storage_stats_request>},
      {"quiver::storage_stats", round_trip<storage_stats>},
      {"quiver::shard_status_report", round_trip<shard_status_report>},
      {"quiver::tenant_quotas", round_trip<tenant_quotas>},
      {"quiver::tenant_record", round_trip<tenant_record>},
      {"quiver::tenant_records", round_trip<std::vector<tenant_record>>},
      {"quiver::tenant_usage", round_trip<tenant_usage>},
      {"quiver::tenant_info", round_trip<tenant_info>},
      {"quiver::tenant_infos", round_trip<std::vector<tenant_info>>},
      {"quiver::catalog_tenants_request", round_trip<catalog_tenants_request>},
      {"quiver::tenant_create_request", round_trip<tenant_create_request>},
      {"quiver::tenant_list_request", round_trip<tenant_list_request>},
      {"quiver::tenant_get_request", round_trip<tenant_get_request>},
      {"quiver::tenant_drop_request", round_trip<tenant_drop_request>},
      {"quiver::tenant_rotate_request", round_trip<tenant_rotate_request>},
      {"quiver::tenant_auth_request", round_trip<tenant_auth_request>},
      {"quiver::tenant_auth_reply", round_trip<tenant_auth_reply>},
      {"quiver::shard_fence_request", round_trip<shard_fence_request>},
      {"quiver::replica_report", round_trip<replica_report>},
      {"quiver::replica_reports", round_trip<std::vector<replica_report>>},
      {"quiver::replicate_msg", round_trip<replicate_msg>},
      {"quiver::cluster_status_request", round_trip<cluster_status_request>},
      {"quiver::cluster_version_request", round_trip<cluster_version_request>},
      {"quiver::cluster_node_info", round_trip<cluster_node_info>},
      {"quiver::cluster_replica_info", round_trip<cluster_replica_info>},
      {"quiver::cluster_shard_info", round_trip<cluster_shard_info>},
      {"quiver::cluster_status", round_trip<cluster_status>},
      {"quiver::node_heartbeat", round_trip<node_heartbeat>},
      {"quiver::node_assignment", round_trip<node_assignment>},
      {"quiver::tenant_stored", round_trip<tenant_stored>},
      {"quiver::tenant_stored_list", round_trip<std::vector<tenant_stored>>},
      {"quiver::tenant_limits", round_trip<tenant_limits>},
      {"quiver::gateway_beat", round_trip<gateway_beat>},
      {"quiver::heartbeat_reply", round_trip<heartbeat_reply>},
      {"quiver::shard_role_msg", round_trip<shard_role_msg>},
      {"quiver::log_truncate_request", round_trip<log_truncate_request>},
      {"quiver::epoch_end_request", round_trip<epoch_end_request>},
      {"quiver::epoch_end", round_trip<epoch_end>},
      {"quiver::epoch_at_request", round_trip<epoch_at_request>},
      {"quiver::log_restart_request", round_trip<log_restart_request>},
      {"quiver::replica_append_request", round_trip<replica_append_request>},
      {"quiver::follow_request", round_trip<follow_request>},
      {"quiver::follow_reply", round_trip<follow_reply>},
      {"quiver::replica_in_step", round_trip<replica_in_step>},
      {"quiver::snapshot_fetch_request", round_trip<snapshot_fetch_request>},
      {"quiver::snapshot_chunk", round_trip<snapshot_chunk>},
      {"quiver::in_sync_update_request", round_trip<in_sync_update_request>},
  };
  std::set<std::string> tested;
  for (auto& [name, test] : cases) {
    SCOPED_TRACE(name);
    test(w);
    tested.insert(name);
  }
  // A type registered without a case here fails: add it above.
  for (auto& [name, factory] : w.client_cfg.value_factories_by_name)
    if (name.rfind("quiver::", 0) == 0) {
      EXPECT_TRUE(tested.count(name)) << name;
    }
}

}  // namespace
}  // namespace quiver
