#pragma once
// The registry's state and the functions its coordinator mode shares with it
// (index_registry.cpp: catalog, tenants, local shards; coordinator.cpp: the
// cluster's placement, fencing and the metadata store).

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/controller/catalog_store.hpp"
#include "actors/registry/index_registry.hpp"
#include "actors/wire/actor_messages.hpp"
#include "cluster/cluster_state.hpp"
#include "cluster/metadata_records.hpp"

namespace quiver::registry_detail {

using reload_atom = caf::atom_constant<caf::atom("reload")>;
using coordinate_atom = caf::atom_constant<caf::atom("coord")>;
using campaign_atom = caf::atom_constant<caf::atom("campaign")>;
using announce_atom = caf::atom_constant<caf::atom("announce")>;
using vacant_atom = caf::atom_constant<caf::atom("vacant")>;

struct shard_slot {
  caf::actor actor;
  std::string state = "recovering";  // as reported; "unavailable" once the actor died
  std::string reason;
  std::uint64_t replayed = 0;
  double seconds = 0;
};

struct index_entry {
  catalog_entry catalog;
  std::vector<shard_slot> shards;
  // create requests waiting for the new index's shards to come up
  std::vector<caf::response_promise> waiting;
};

using index_key = std::pair<std::string, std::string>;  // (tenant, index name)

struct registry_state {
  std::shared_ptr<const index_actor_env> env;
  bool loaded = false;    // the catalog has been read
  bool stopping = false;  // waiting for the shards to stop
  std::map<index_key, index_entry> indexes;
  std::map<std::string, tenant_record> tenants;
  std::map<std::string, std::string> tenant_of_key;  // key hash -> tenant
  // Coordinator mode (storaged of a cluster): shards live on vectord nodes.
  std::unique_ptr<cluster_state> cluster;
  coordinator_options coordination;
  std::map<std::string, caf::actor> node_actors;  // by node name
  std::map<std::pair<cluster_state::shard_key, std::string>, caf::actor> replica_actors;
  // etcd mode (coordination.metadata set):
  bool leading = false;       // holds the controller key and has restored the map
  bool campaigning = false;   // a campaign is out
  bool campaign_due = false;  // a campaign_atom is on its way (one at a time)
  // What this controller writes under the controller key: known once the
  // coordinator is published (its port may be the system's choice), and
  // campaigned with only once storage's catalog has been read.
  std::optional<controller_record> me;
  bool metadata_started = false;
  // Each shard's record as etcd holds it (last read or written), and the
  // shards whose record is being written.
  std::map<cluster_state::shard_key, shard_record> written;
  std::set<cluster_state::shard_key> writing;
  // In-sync set changes answered once etcd holds them.
  std::map<cluster_state::shard_key,
           std::vector<std::pair<caf::response_promise, in_sync_update_request>>>
      in_sync_waiting;
  // What storage's own catalog held at start: imported into etcd by the first
  // controller of a cluster moving onto etcd (etcd's catalog wins after that).
  std::vector<tenant_record> stored_tenants;
  std::vector<catalog_entry> stored_catalog;
  static inline const char* name = "quiver.registry";
};

using registry_actor = caf::stateful_actor<registry_state>;

// Metadata worker -> coordinator: work to run in the coordinator's context (a
// result of a blocking etcd call, an etcd watch event). Local only.
struct coordinator_call {
  std::function<void()> run;
};

caf::error not_found(const std::string& name);
caf::error loading();
void answer_waiting(registry_actor* self, index_entry& entry);
// -- registry_catalog.cpp --
// Reads storage's catalog (or, on etcd, starts the campaign that reads etcd's).
void load_catalog(registry_actor* self);
index_entry& spawn_shards(registry_actor* self, const catalog_entry& c);
void add_tenant(registry_actor* self, const tenant_record& t);
// Forgets an index the catalog no longer holds (its shards stop or are let go).
void forget_index(registry_actor* self, std::map<index_key, index_entry>::iterator it);
// Makes the registry hold exactly these tenants and indexes: spawns (or places)
// the new ones, forgets those gone. Marks the catalog loaded.
void apply_catalog(registry_actor* self, const std::vector<tenant_record>& tenants,
                   const std::vector<catalog_entry>& indexes);

// -- etcd_catalog.cpp: the catalog in etcd (coordination.metadata set); storage
// mirrors its indexes (under etcd's incarnations) because it holds their logs.
bool catalog_in_etcd(registry_actor* self);
void create_in_catalog(registry_actor* self, const tenant_id& tenant, const index_params& params,
                       std::function<void(expected<catalog_create_reply>)> done);
void drop_from_catalog(registry_actor* self, const tenant_id& tenant, const std::string& name,
                       std::function<void(status)> done);
void change_catalog(registry_actor* self, std::function<status(catalog_store&)> job,
                    std::function<void(status)> done);
// After winning an election: etcd's catalog (imported from storage's the first
// time) becomes storage's and the registry's; then `then` runs.
void adopt_catalog(registry_actor* self, catalog_store::contents catalog,
                   std::function<void()> then);

// -- coordinator.cpp --
caf::actor replica_actor(registry_actor* self, const cluster_state::shard_key& key,
                         const std::string& node);
void sync_slots(registry_actor* self);
void coordinate(registry_actor* self);
std::vector<node_assignment> assignments_of(registry_actor* self, const std::string& node);
caf::result<heartbeat_reply> on_heartbeat(registry_actor* self, node_heartbeat& hb);
caf::result<bool> on_in_sync_update(registry_actor* self, in_sync_update_request& r);
void forget_node(registry_actor* self, const std::string& node);
cluster_status cluster_view(registry_actor* self);
// etcd mode: campaigns for the controller key once the catalog is loaded, then
// restores the shard map from etcd and follows node registrations.
void start_metadata(registry_actor* self);
// Whether this coordinator may place shards now (etcd mode: it leads).
bool placing(registry_actor* self);
// etcd mode: stops placing and campaigns again (a write found the lease gone).
void lose_lead(registry_actor* self, const std::string& why);
// etcd mode: one campaign for the controller key (again a second after a loss).
void campaign(registry_actor* self);
// etcd mode: a campaign in a second, unless one is already due.
void campaign_later(registry_actor* self);

caf::behavior registry(registry_actor* self, std::shared_ptr<const index_actor_env> env,
                       std::optional<coordinator_options> coordination);

}  // namespace quiver::registry_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quiver::registry_detail::coordinator_call)
