#include "cluster/placement.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "cluster/sharding.hpp"

namespace quiver {

namespace {

std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::uint64_t rendezvous_score(std::string_view node, std::string_view shard_key) {
  std::string key;
  key.reserve(node.size() + 1 + shard_key.size());
  key.append(node);
  key.push_back('\0');
  key.append(shard_key);
  return mix64(hash64(key));
}

std::vector<std::string> rendezvous_place(std::string_view shard_key,
                                          const std::vector<std::string>& nodes,
                                          std::size_t count) {
  std::vector<std::pair<std::uint64_t, const std::string*>> scored;
  scored.reserve(nodes.size());
  for (const auto& n : nodes) scored.emplace_back(rendezvous_score(n, shard_key), &n);
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && out.size() < count; ++i) {
    if (!out.empty() && out.back() == *scored[i].second) continue;  // duplicate name
    out.push_back(*scored[i].second);
  }
  return out;
}

std::map<std::string, std::vector<std::string>> rendezvous_assign(
    const std::vector<std::pair<std::string, std::size_t>>& shards,
    const std::vector<std::string>& nodes, double slack) {
  std::map<std::string, std::vector<std::string>> out;
  if (nodes.empty()) {
    for (auto& [key, count] : shards) out[key];
    return out;
  }
  std::size_t placements = 0;
  for (auto& [key, count] : shards) placements += std::min(count, nodes.size());
  auto cap = static_cast<std::size_t>(
      std::ceil(static_cast<double>(placements) / static_cast<double>(nodes.size()) * (1 + slack)));
  std::map<std::string, std::size_t> load;
  std::vector<std::pair<std::string, std::size_t>> ordered(shards);
  std::sort(ordered.begin(), ordered.end());
  for (auto& [key, count] : ordered) {
    auto& chosen = out[key];
    auto ranked = rendezvous_place(key, nodes, nodes.size());
    for (auto& n : ranked) {
      if (chosen.size() >= count) break;
      if (load[n] < cap) {
        ++load[n];
        chosen.push_back(n);
      }
    }
    // Every node full (rounding): the best remaining ones take it anyway.
    for (auto& n : ranked) {
      if (chosen.size() >= count) break;
      if (std::find(chosen.begin(), chosen.end(), n) == chosen.end()) {
        ++load[n];
        chosen.push_back(n);
      }
    }
  }
  return out;
}

}  // namespace quiver
