// The HTTP request path through http_api: method, target, headers and body from
// the input, answered by a router that always succeeds (so every route's parsing
// and rendering runs), with auth on and off. Every request must get exactly one
// reply, and no request may add a metrics series beyond the closed label set.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemons/gateway/http_api.hpp"
#include "tests/unit/fake_router.hpp"

namespace {

// Cuts the next '\n'-terminated field off `in` (all of it when there is none).
std::string field(std::string_view& in) {
  auto nl = in.find('\n');
  auto out = std::string(in.substr(0, nl));
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  static fake_router router;
  static http_metrics metrics;
  static server_config config;
  static http_api open_api(router, metrics, config);
  static http_api auth_api(router, metrics, config, auth_config{admin_key, 1000});
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // 5xx replies log a line each
    return true;
  }();
  static std::uint64_t runs = 0;
  (void)quiet;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) return 0;
  bool auth = in.front() & 1;
  bool fail = in.front() & 2;
  in.remove_prefix(1);
  http_request r;
  r.method = field(in);
  r.target = field(in);
  r.content_type = field(in);
  r.accept = field(in);
  auto key = field(in);
  if (key == "A") key = admin_key;
  if (key == "T") key = tenant_key;
  if (!key.empty()) r.authorization = "Bearer " + key;
  r.body = std::string(in);
  router.failure.reset();
  if (fail) router.failure = make_status(errc::unavailable, "injected");
  int replies = 0;
  (auth ? auth_api : open_api).handle(std::move(r), [&](http_reply reply) {
    ++replies;
    if (reply.status < 200 || reply.status > 599) std::abort();
  });
  if (replies != 1) std::abort();
  // Routes x methods x statuses is small and fixed; a client-made series breaks it.
  if (++runs % 4096 == 0 && metrics.render().size() > (1u << 20)) std::abort();
  return 0;
}
