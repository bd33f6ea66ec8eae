#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quiver {

// Rendezvous (highest-random-weight) hashing: every node gets a score for a shard,
// score = mix64(hash64(node + '\0' + shard key)) (mix64: the splitmix64
// finalizer, which spreads FNV's weak high bits), and the shard goes to the
// highest-scoring nodes, first = primary (ties: smaller name). A node joining
// takes only the shards it now wins (about 1/N); a node leaving moves only its own.
std::uint64_t rendezvous_score(std::string_view node, std::string_view shard_key);

// The `count` best nodes for the shard, best first (fewer if there are fewer nodes).
// Deterministic: depends only on the names, not on their order.
std::vector<std::string> rendezvous_place(std::string_view shard_key,
                                          const std::vector<std::string>& nodes, std::size_t count);

// Places many shards at once: rendezvous order, but no node takes more than
// ceil(placements / nodes * (1 + slack)) replicas; a shard whose best node is full
// takes its next best. Pure rendezvous leaves nodes +-15% apart at 100 shards a
// node (binomial spread); with slack 0 loads differ by at most one, and a node
// joining still moves only about 1.1/N of the shards. Shards are placed in key
// order, so the result is deterministic. `shards`: (placement key, replicas).
std::map<std::string, std::vector<std::string>> rendezvous_assign(
    const std::vector<std::pair<std::string, std::size_t>>& shards,
    const std::vector<std::string>& nodes, double slack = 0);

}  // namespace quiver
