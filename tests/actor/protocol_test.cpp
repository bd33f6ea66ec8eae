// The version handshake over CAF's real middleman: a peer of the same protocol
// is accepted; one of another protocol, or of a build from before the
// handshake, is refused with an error that names both sides.

#include "actors/wire/protocol.hpp"

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "tests/actor/two_daemons.hpp"

namespace quiver {
namespace {

class Protocol : public ::testing::Test, protected two_daemons {
 protected:
  // CAF 0.17 dereferences a null argument tuple for a function actor spawned
  // without arguments (UBSan says so), hence the unused int.
  template <class F>
  caf::actor spawn(F f) {
    return server.spawn(f, 0);
  }
};

TEST_F(Protocol, TheSameProtocolIsAccepted) {
  auto daemon = spawn([](int) -> caf::behavior {
    return {[](protocol_hello& h) -> caf::result<protocol_hello> {
      auto out = answer_hello(h);
      if (!out) return caf::make_error(caf::sec::runtime_error);
      return *out;
    }};
  });
  auto st = check_peer_protocol(client, over_the_wire(daemon), "storaged at test");
  EXPECT_TRUE(st.ok()) << st.message;
  caf::anon_send_exit(daemon, caf::exit_reason::user_shutdown);
}

TEST_F(Protocol, AnotherProtocolIsRefusedNamingBoth) {
  auto future = spawn([](int) -> caf::behavior {
    return {[](protocol_hello&) { return protocol_hello{wire_protocol_version + 1, "9.9.9"}; }};
  });
  auto st = check_peer_protocol(client, over_the_wire(future), "storaged at test");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code, errc::invalid_argument);
  EXPECT_NE(st.message.find("storaged at test speaks protocol " +
                            std::to_string(wire_protocol_version + 1) + " (build 9.9.9)"),
            std::string::npos)
      << st.message;
  EXPECT_NE(st.message.find("this daemon protocol " + std::to_string(wire_protocol_version)),
            std::string::npos)
      << st.message;
  caf::anon_send_exit(future, caf::exit_reason::user_shutdown);
}

TEST_F(Protocol, ABuildFromBeforeTheHandshakeIsRefused) {
  auto old = spawn([](int) -> caf::behavior { return {[](readiness_request&) {}}; });
  auto st = check_peer_protocol(client, over_the_wire(old), "gatewayd's upstream");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code, errc::invalid_argument);
  EXPECT_NE(st.message.find("does not speak protocol"), std::string::npos) << st.message;
  caf::anon_send_exit(old, caf::exit_reason::user_shutdown);
}

TEST(ProtocolHello, ThePublishedSideRefusesAnotherVersionAndNamesBoth) {
  EXPECT_TRUE(answer_hello(our_hello()));
  auto refused = answer_hello(protocol_hello{wire_protocol_version + 3, "old"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::invalid_argument);
  EXPECT_NE(refused.error().message.find("protocol " + std::to_string(wire_protocol_version + 3) +
                                         " (build old)"),
            std::string::npos);
}

}  // namespace
}  // namespace quiver
