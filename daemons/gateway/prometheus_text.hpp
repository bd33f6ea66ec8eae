#pragma once

#include <string>
#include <vector>

#include "common/metrics.hpp"
#include "common/status.hpp"
#include "common/wire/admin.hpp"
#include "common/wire/cluster.hpp"
#include "common/wire/tenants.hpp"
#include "daemons/gateway/tenant_gate.hpp"

namespace quiver {

// The gateway's /metrics page in the Prometheus text format: its own request
// metrics and tenant counters, then what the router reported (per-index gauges,
// labelled by tenant and index; storage counters; the cluster's health). A part
// whose report failed is left out. Every label value comes from server state
// (route patterns, tenant and index names), never from a request.
std::string render_prometheus(const http_metrics& requests, const tenant_gate& gate,
                              const expected<std::vector<index_description>>& indexes,
                              const expected<readiness_reply>& ready,
                              const expected<std::vector<tenant_info>>& tenants,
                              const expected<cluster_status>& cluster);

}  // namespace quiver
