#pragma once

#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "actors/runtime/router_client.hpp"

namespace quiver {

class read_board;

// Bridge actors: each runs the jobs a router client hands it (sends a request
// to the router and calls back with the reply), so that requests from many I/O
// threads do not queue behind one mailbox.
std::vector<caf::actor> spawn_bridges(caf::actor_system& system, unsigned count);

// The router_client of an HTTP server in front of `router`: every call goes
// through a bridge (round robin) and never blocks the caller's thread; with a
// read board, searches it can answer run on the caller's thread. `gateways`: a
// cluster's gateway count, which divides each tenant's request rate (null: one).
std::unique_ptr<router_client> make_actor_router_client(
    caf::actor router, std::vector<caf::actor> bridges, std::chrono::milliseconds timeout,
    std::shared_ptr<const read_board> board,
    std::shared_ptr<const std::atomic<std::uint32_t>> gateways);

}  // namespace quiver
