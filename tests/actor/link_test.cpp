// A daemon's link to a remote actor over CAF's real middleman: a request in
// flight when the remote actor goes away fails at once, not at its deadline.

#include "actors/wire/link_actor.hpp"

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "actors/wire/actor_messages.hpp"
#include "actors/wire/caf_error.hpp"
#include "tests/actor/two_daemons.hpp"

namespace quiver {
namespace {

// A coordinator that takes route lookups and never answers them (it is about
// to die): it keeps their promises, so nothing answers for it.
caf::behavior silent_coordinator(caf::event_based_actor* self, int) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return {[self, held](lookup_index_request&) -> caf::result<index_route> {
    held->push_back(self->make_response_promise());
    return caf::delegated<index_route>{};
  }};
}

TEST(Link, ARouteLookupInFlightFailsAtOnceWhenItsTargetGoesAway) {
  two_daemons d;
  auto& client = d.client;
  // The unused int: CAF 0.17 dereferences a null argument tuple otherwise.
  auto coordinator = d.server.spawn(silent_coordinator, 0);
  auto remote = d.over_the_wire(coordinator);
  ASSERT_TRUE(remote);
  auto link = spawn_link_actor(client, remote);

  // The deadline is far: only the link's own failure can answer in time.
  constexpr auto deadline = std::chrono::seconds(20);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    caf::anon_send_exit(coordinator, caf::exit_reason::kill);
  });
  caf::scoped_actor self{client};
  auto started = std::chrono::steady_clock::now();
  bool failed = false;
  self->request(link, deadline, lookup_index_request{tenant_id{"default"}, "idx"})
      .receive([](index_route&) { ADD_FAILURE() << "a dead coordinator answered"; },
               [&](caf::error& e) {
                 failed = true;
                 EXPECT_NE(e, caf::make_error(caf::sec::request_timeout));
                 EXPECT_EQ(from_caf_error(e).code, errc::unavailable);
               });
  killer.join();
  EXPECT_TRUE(failed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, deadline / 2);
  caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace quiver
