// The JSON and MessagePack body parsers: the first byte picks the format and the
// body kind, the rest is the body. A parse either fails with a status or yields
// values that render again.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/body_codec.hpp"
#include "common/filter.hpp"
#include "common/response_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace quiver;
  if (size == 0) return 0;
  auto format = data[0] & 1 ? body_format::msgpack : body_format::json;
  auto kind = (data[0] >> 1) % 8;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr std::uint32_t max_batch = 1000;
  switch (kind) {
    case 0: {
      item_texts texts;
      auto items = parse_upsert_batch(format, body, max_batch, &texts);
      if (items && items->size() > max_batch) std::abort();
      // Every item has a vector or a text, never both; texts point at items.
      if (items)
        for (const auto& [at, text] : texts)
          if (at >= items->size() || !(*items)[at].vector.empty() || text.empty()) std::abort();
      break;
    }
    case 1:
      parse_upsert_one(format, body);
      break;
    case 2: {
      auto d = parse_delete(format, body, max_batch);
      if (d && d->ids.size() > max_batch) std::abort();
      if (d && !filter_problem(d->filter).empty()) std::abort();
      break;
    }
    case 3:
      // What the parser accepts, the shard's check accepts too.
      if (auto q = parse_search(format, body); q && !filter_problem(q->options.filter).empty())
        std::abort();
      break;
    case 4: {
      auto queries = parse_search_batch(format, body, max_batch);
      if (queries && queries->size() > max_batch) std::abort();
      break;
    }
    case 5:
      if (auto p = parse_create_index(format, body))
        render_index(format, index_description{{}, *p});
      break;
    case 6:
      parse_merge(format, body);
      if (auto f = parse_count(format, body); f && !filter_problem(*f).empty()) std::abort();
      break;
    default:
      // Accepted quotas are stored as their JSON rendering: it must read back.
      if (auto t = parse_create_tenant(format, body))
        if (!parse_quotas_json(render_quotas(body_format::json, t->quotas))) std::abort();
      break;
  }
  return 0;
}
