#pragma once

#include <string_view>
#include <utility>
#include <vector>

namespace quiver::gateway {

// docs/openapi.yaml as compact JSON, compiled in (scripts/openapi-embed), served at
// GET /openapi.json.
std::string_view openapi_json();

// Every (path pattern, method) the route table answers, in table order: what the
// OpenAPI document must describe, no more and no less.
std::vector<std::pair<std::string_view, std::string_view>> route_methods();

}  // namespace quiver::gateway
