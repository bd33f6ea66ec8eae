// Two daemons' actor systems in one test process, joined by CAF's real
// middleman on loopback: what crosses between them is serialized as it would
// be between hosts.

#pragma once

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/wire/actor_messages.hpp"

namespace quiver {

struct daemon_config : caf::actor_system_config {
  daemon_config() {
    register_message_types(*this);
    load<caf::io::middleman>();
    set("logger.verbosity", caf::atom("quiet"));
  }
};

struct two_daemons {
  daemon_config server_cfg, client_cfg;
  caf::actor_system server{server_cfg};
  caf::actor_system client{client_cfg};

  // Publishes the server's `a` on loopback and connects to it from the client
  // as another daemon would; a failed expectation and an invalid handle when
  // either step fails.
  caf::actor over_the_wire(const caf::actor& a) {
    auto port = server.middleman().publish(a, 0, "127.0.0.1", true);
    EXPECT_TRUE(port);
    if (!port) return {};
    auto remote = client.middleman().remote_actor("127.0.0.1", *port);
    EXPECT_TRUE(remote);
    return remote ? *remote : caf::actor{};
  }
};

}  // namespace quiver
