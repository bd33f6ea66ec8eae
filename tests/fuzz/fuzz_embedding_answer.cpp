// What an embedding server answers, and the embed and URL parsers: the first
// byte picks the parser (and the count and dimension asked for), the rest is
// the input. A parse either fails with a status or yields exactly what was
// asked for.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "matrix/embed_api.hpp"
#include "matrix/http_embedder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  if (size == 0) return 0;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t count = (data[0] >> 2) % 4;
  std::uint32_t dimension = 1 + ((data[0] >> 4) % 4);
  switch (data[0] % 4) {
    case 0:
    case 1: {
      auto r =
          matrix::parse_embedding_answer(data[0] % 2 ? "openai" : "ollama", body, count, dimension);
      if (r) {
        if (r->size() != count) std::abort();
        for (const auto& v : *r) {
          if (v.size() != dimension) std::abort();
          for (float x : v)
            if (!std::isfinite(x)) std::abort();
        }
      } else if (r.error().code != errc::embedder_failed) {
        std::abort();
      }
      break;
    }
    case 2: {
      auto t = matrix::parse_http_url(body);
      if (t && (t->host.empty() || t->path.empty() || t->path[0] != '/' || t->port.empty()))
        std::abort();
      break;
    }
    default: {
      auto r = matrix::parse_embed_request(body, 8);
      if (r && r->texts.size() > 8) std::abort();
      break;
    }
  }
  return 0;
}
