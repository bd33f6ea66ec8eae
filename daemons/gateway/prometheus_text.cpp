#include "daemons/gateway/prometheus_text.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>

namespace quiver {

namespace {

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

void gauge(std::string& out, const char* name, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
}

}  // namespace

std::string render_prometheus(const http_metrics& requests, const tenant_gate& gate,
                              const expected<std::vector<index_description>>& indexes,
                              const expected<readiness_reply>& ready,
                              const expected<std::vector<tenant_info>>& tenants,
                              const expected<cluster_status>& cluster) {
  auto text = requests.render();
  auto per_tenant = [&](const char* name, const char* help, auto value) {
    gauge(text, name, help);
    if (!tenants) return;
    for (const auto& t : *tenants)
      text += std::string(name) + "{tenant=\"" + t.name + "\"} " + std::to_string(value(t)) + "\n";
  };
  per_tenant("quiver_tenant_indexes", "Indexes per tenant.",
             [](const tenant_info& t) { return t.usage.indexes; });
  per_tenant("quiver_tenant_vectors", "Stored vectors per tenant.",
             [](const tenant_info& t) { return t.usage.vectors; });
  per_tenant("quiver_tenant_bytes", "Stored bytes (vectors + metadata) per tenant.",
             [](const tenant_info& t) { return t.usage.bytes; });
  auto counts = gate.snapshot();
  auto per_tenant_counter = [&](const char* name, const char* help, auto value) {
    text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [t, c] : counts)
      text += std::string(name) + "{tenant=\"" + t + "\"} " + std::to_string(value(c)) + "\n";
  };
  per_tenant_counter("quiver_tenant_requests_total", "Index requests per tenant.",
                     [](const tenant_gate::counters& c) { return c.requests; });
  per_tenant_counter("quiver_tenant_rate_limited_total", "Requests refused by the rate limit.",
                     [](const tenant_gate::counters& c) { return c.rate_limited; });
  per_tenant_counter("quiver_tenant_quota_exceeded_total", "Writes refused by a quota.",
                     [](const tenant_gate::counters& c) { return c.quota_exceeded; });
  auto per_index = [&](const char* name, const char* help, auto value) {
    gauge(text, name, help);
    if (!indexes) return;
    for (const auto& d : *indexes)
      text += std::string(name) + "{tenant=\"" + d.tenant.value + "\",index=\"" + d.params.name +
              "\"} " + value(d) + "\n";
  };
  per_index("quiver_index_vectors", "Live vectors per index.",
            [](const index_description& d) { return std::to_string(d.count); });
  per_index("quiver_index_memory_bytes", "Estimated memory per index.",
            [](const index_description& d) { return std::to_string(d.memory_bytes); });
  per_index(
      "quiver_index_ready", "1 when every shard of the index serves, else 0.",
      [](const index_description& d) { return std::string(d.status == "ready" ? "1" : "0"); });
  per_index("quiver_index_recovery_seconds",
            "Duration of the index's last recovery (its slowest shard).",
            [](const index_description& d) { return std::to_string(d.recovery_seconds); });
  per_index("quiver_index_replayed_records", "Log records replayed by the index's last recovery.",
            [](const index_description& d) { return std::to_string(d.replayed_records); });
  if (ready) {
    const auto& st = ready->storage;
    auto counter = [&](const char* name, const char* help, std::uint64_t v) {
      text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
              name + " " + std::to_string(v) + "\n";
    };
    counter("quiver_storage_appended_records_total", "Log records appended.", st.appended_records);
    counter("quiver_storage_fsyncs_total", "Log fsyncs (group commit shares one).", st.syncs);
    counter("quiver_storage_stale_epoch_rejections_total", "Appends fenced off by epoch.",
            st.stale_epoch_rejections);
    counter("quiver_storage_torn_tails_repaired_total",
            "Damaged log tails cut back to the last good record on open.", st.torn_tails_repaired);
    counter("quiver_storage_torn_bytes_truncated_total", "Bytes cut from damaged log tails.",
            st.torn_bytes_truncated);
  }
  if (cluster && cluster->mode == "cluster") {
    std::uint64_t up = 0, no_primary = 0, max_lag = 0, under = 0;
    for (const auto& n : cluster->nodes) up += n.up ? 1 : 0;
    for (const auto& sh : cluster->shards) {
      no_primary += sh.primary.empty() ? 1 : 0;
      std::uint64_t ready = 0;
      for (const auto& r : sh.replicas) {
        max_lag = std::max(max_lag, r.lag);
        ready += r.state == "ready" ? 1 : 0;
      }
      under += ready < sh.replicas.size() || sh.replicas.empty() ? 1 : 0;
    }
    auto value = [&](const char* name, const char* help, std::uint64_t v) {
      gauge(text, name, help);
      text += std::string(name) + " " + std::to_string(v) + "\n";
    };
    value("quiver_cluster_nodes_up", "vectord nodes heartbeating.", up);
    value("quiver_cluster_nodes_down", "vectord nodes marked down.", cluster->nodes.size() - up);
    value("quiver_cluster_shards", "Shards in the shard map.", cluster->shards.size());
    value("quiver_cluster_shards_without_primary", "Shards with no serving primary.", no_primary);
    value("quiver_cluster_shards_under_replicated",
          "Shards with a replica not serving (loading, catching up or lost).", under);
    value("quiver_cluster_replica_lag_max", "Largest replica lag behind its primary, in records.",
          max_lag);
    value("quiver_cluster_map_version", "Shard-map version (bumps on every routing change).",
          cluster->version);
  }
  gauge(text, "quiver_process_resident_bytes", "Resident set size.");
  text += "quiver_process_resident_bytes " + std::to_string(resident_bytes()) + "\n";
  return text;
}

}  // namespace quiver
