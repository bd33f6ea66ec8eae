#pragma once

#include <string_view>

namespace quiver::gateway {

// The status page (ui/index.html), compiled in at build time (scripts/ui-embed):
// GET /ui serves it. It reads the gateway's own /v1/cluster, /metrics, /readyz
// and /v1/admin/tenants from the browser, with the admin key the user gives it.
std::string_view ui_html();

}  // namespace quiver::gateway
