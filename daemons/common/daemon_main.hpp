#pragma once

#include "actors/runtime/node_runtime.hpp"

namespace quiver {

// The whole main() of every daemon: options (config file + flags), logging, the
// data-dir lock, the runtime of `role`, the HTTP gateway where the role has one,
// and a clean shutdown on SIGINT/SIGTERM. Returns the process exit code.
int daemon_main(node_role role, int argc, char** argv);

}  // namespace quiver
