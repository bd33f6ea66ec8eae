#include "common/index_params.hpp"

#include <cctype>

namespace quiver {

std::string_view distance_name(distance_kind d) {
  switch (d) {
    case distance_kind::cosine:
      return "cosine";
    case distance_kind::euclidean:
      return "euclidean";
    case distance_kind::dot:
      return "dot";
  }
  return "cosine";
}

expected<distance_kind> parse_distance(std::string_view name) {
  if (name == "cosine") return distance_kind::cosine;
  if (name == "euclidean") return distance_kind::euclidean;
  if (name == "dot") return distance_kind::dot;
  return make_status(errc::invalid_argument, "unknown distance '" + std::string(name) +
                                                 "' (want cosine, euclidean or dot)");
}

status validate_index_name(std::string_view name) {
  auto valid_char = [](unsigned char c, bool first) {
    if (std::isalnum(c)) return true;
    return !first && (c == '_' || c == '.' || c == '-');
  };
  bool ok = !name.empty() && name.size() <= index_limits::max_name_bytes;
  for (std::size_t i = 0; ok && i < name.size(); ++i)
    ok = valid_char(static_cast<unsigned char>(name[i]), i == 0);
  if (ok) return status::success();
  return make_status(errc::invalid_argument,
                     "invalid index name: must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
}

namespace {

status out_of_range(std::string_view field, std::uint64_t lo, std::uint64_t hi) {
  return make_status(errc::invalid_argument, std::string(field) + " must be between " +
                                                 std::to_string(lo) + " and " + std::to_string(hi));
}

}  // namespace

bool embedder_name_ok(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
  }
  return true;
}

status validate_params(const index_params& p) {
  if (auto st = validate_index_name(p.name); !st.ok()) return st;
  if (p.dimension < 1 || p.dimension > index_limits::max_dimension)
    return out_of_range("dimension", 1, index_limits::max_dimension);
  if (p.m < index_limits::min_m || p.m > index_limits::max_m)
    return out_of_range("m", index_limits::min_m, index_limits::max_m);
  if (p.ef_construction < 1 || p.ef_construction > index_limits::max_ef)
    return out_of_range("ef_construction", 1, index_limits::max_ef);
  if (p.ef_search < 1 || p.ef_search > index_limits::max_ef)
    return out_of_range("ef_search", 1, index_limits::max_ef);
  if (p.shards < 1 || p.shards > index_limits::max_shards)
    return out_of_range("shards", 1, index_limits::max_shards);
  if (p.replicas < 1 || p.replicas > index_limits::max_replicas)
    return out_of_range("replicas", 1, index_limits::max_replicas);
  if (!p.embedder.empty() && !embedder_name_ok(p.embedder))
    return make_status(errc::invalid_argument,
                       "embedder '" + p.embedder +
                           "' is not an embedder's name (1-64 of a-z, 0-9, '_', '.', '-')");
  if (p.embedder == embedder_limits::hash_v1) {
    if (p.dimension < embedder_limits::min_dimension ||
        p.dimension > embedder_limits::max_dimension)
      return make_status(errc::invalid_argument,
                         "embedder hash-v1 makes vectors of 8 to 4096 dimensions; dimension is " +
                             std::to_string(p.dimension));
  }
  return status::success();
}

}  // namespace quiver
