#include "actors/wire/protocol.hpp"

#include <caf/all.hpp>

#include "actors/wire/caf_error.hpp"

namespace quiver {

namespace {

std::string describe(const protocol_hello& h) {
  return "protocol " + std::to_string(h.version) + " (build " + h.build + ")";
}

}  // namespace

protocol_hello our_hello() { return protocol_hello{wire_protocol_version, QUIVER_VERSION}; }

expected<protocol_hello> answer_hello(const protocol_hello& peer) {
  if (peer.version != wire_protocol_version)
    return make_status(errc::invalid_argument, "this daemon speaks " + describe(our_hello()) +
                                                   ", the peer " + describe(peer) +
                                                   ": run the same protocol on every daemon");
  return our_hello();
}

status check_peer_protocol(caf::actor_system& sys, const caf::actor& peer,
                           const std::string& where) {
  caf::scoped_actor self{sys};
  status out = make_status(errc::unavailable, where + " did not answer the protocol handshake");
  self->request(peer, std::chrono::seconds(10), our_hello())
      .receive(
          [&](protocol_hello& theirs) {
            if (theirs.version == wire_protocol_version) {
              out = status::success();
              return;
            }
            out =
                make_status(errc::invalid_argument, where + " speaks " + describe(theirs) +
                                                        ", this daemon " + describe(our_hello()) +
                                                        ": run the same protocol on every daemon");
          },
          [&](caf::error& e) {
            if (e == caf::sec::unexpected_message) {
              out = make_status(errc::invalid_argument,
                                where + " does not speak " + describe(our_hello()) +
                                    " (a build from before the protocol handshake?)");
              return;
            }
            auto st = from_caf_error(e);
            if (st.code == errc::invalid_argument) {
              out = make_status(errc::invalid_argument,
                                where + " refused this daemon: " + st.message);
              return;
            }
            out = make_status(errc::unavailable, where + ": " + st.message);
          });
  return out;
}

}  // namespace quiver
