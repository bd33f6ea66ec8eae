#include "actors/router/search_merge.hpp"

#include <algorithm>
#include <map>

namespace quiver {

std::vector<search_hit> merge_hits(std::vector<std::vector<search_hit>> per_shard, std::size_t k) {
  if (per_shard.size() == 1) {
    auto& only = per_shard.front();
    if (only.size() > k) only.resize(k);
    return std::move(only);
  }
  std::vector<search_hit> all;
  for (auto& hits : per_shard)
    for (auto& h : hits) all.push_back(std::move(h));
  auto closer = [](const search_hit& a, const search_hit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  };
  if (all.size() > k) {
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), closer);
    all.resize(k);
  } else {
    std::sort(all.begin(), all.end(), closer);
  }
  return all;
}

list_fields_reply merge_field_lists(std::vector<list_fields_reply> per_shard) {
  std::map<std::pair<std::string, field_type>, std::uint32_t> seen;
  list_fields_reply out;
  for (auto& r : per_shard) {
    out.shards += r.shards;
    for (auto& f : r.fields) seen[{f.field.name, f.field.type}] += f.shards;
  }
  for (auto& [key, shards] : seen) out.fields.push_back({{key.first, key.second}, shards});
  return out;
}

id_page merge_id_pages(std::vector<id_page> per_shard, std::size_t limit) {
  id_page out;
  bool more = false;
  for (auto& page : per_shard) {
    more = more || page.more;
    for (auto& id : page.ids) out.ids.push_back(std::move(id));
  }
  std::sort(out.ids.begin(), out.ids.end());
  if (out.ids.size() > limit) {
    out.ids.resize(limit);
    more = true;
  }
  out.more = more;
  return out;
}

}  // namespace quiver
