#include "common/vector_validation.hpp"

#include <cmath>
#include <string>
#include <unordered_map>

#include "common/filter.hpp"

namespace quiver {

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t j = 1; j < len; ++j) {
      auto cc = static_cast<unsigned char>(s[i + j]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

status validate_id(std::string_view id, std::size_t index) {
  auto idx = static_cast<std::int64_t>(index);
  if (id.empty()) return make_status(errc::invalid_argument, "empty id", {{"index", idx}});
  if (id.size() > request_limits::max_id_bytes)
    return make_status(errc::invalid_argument,
                       "id longer than " + std::to_string(request_limits::max_id_bytes) + " bytes",
                       {{"index", idx}});
  if (!is_valid_utf8(id))
    return make_status(errc::invalid_argument, "id is not valid UTF-8", {{"index", idx}});
  return status::success();
}

status validate_vector(const std::vector<float>& v, std::uint32_t dimension, distance_kind d,
                       std::size_t index) {
  auto idx = static_cast<std::int64_t>(index);
  if (v.size() != dimension)
    return make_status(
        errc::dimension_mismatch,
        "vector has " + std::to_string(v.size()) + " components, index has " +
            std::to_string(dimension),
        {{"expected", dimension}, {"got", static_cast<std::int64_t>(v.size())}, {"index", idx}});
  double sum_sq = 0;
  for (std::size_t j = 0; j < v.size(); ++j) {
    if (!std::isfinite(v[j]))
      return make_status(errc::non_finite_vector,
                         "vector component " + std::to_string(j) + " is not finite",
                         {{"component", static_cast<std::int64_t>(j)}, {"index", idx}});
    sum_sq += static_cast<double>(v[j]) * v[j];
  }
  // A zero vector has no direction: its cosine distance to anything is NaN.
  if (d == distance_kind::cosine && sum_sq == 0)
    return make_status(errc::zero_vector, "zero vector under cosine distance", {{"index", idx}});
  return status::success();
}

status validate_item(const upsert_item& item, std::uint32_t dimension, distance_kind d,
                     std::size_t index) {
  if (auto st = validate_id(item.id, index); !st.ok()) return st;
  return validate_vector(item.vector, dimension, d, index);
}

status validate_batch(const std::vector<upsert_item>& items, std::uint32_t dimension,
                      distance_kind d) {
  for (std::size_t i = 0; i < items.size(); ++i)
    if (auto st = validate_item(items[i], dimension, d, i); !st.ok()) return st;
  return status::success();
}

status validate_search(const std::vector<float>& query, const search_options& opts,
                       std::uint32_t dimension, distance_kind d, std::size_t index) {
  auto idx = static_cast<std::int64_t>(index);
  if (opts.k < 1 || opts.k > request_limits::max_k)
    return make_status(errc::invalid_argument,
                       "k must be between 1 and " + std::to_string(request_limits::max_k),
                       {{"index", idx}});
  if (opts.ef > index_limits::max_ef)
    return make_status(errc::invalid_argument,
                       "ef must be between 1 and " + std::to_string(index_limits::max_ef),
                       {{"index", idx}});
  if (auto problem = filter_problem(opts.filter); !problem.empty())
    return make_status(errc::invalid_argument, problem, {{"index", idx}});
  return validate_vector(query, dimension, d, index);
}

void dedup_last_wins(std::vector<upsert_item>& items) {
  std::unordered_map<std::string_view, std::size_t> last;
  last.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) last[items[i].id] = i;
  if (last.size() == items.size()) return;
  // Decide first, move after: the map's keys point into the items.
  std::vector<bool> keep(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) keep[i] = last[items[i].id] == i;
  std::vector<upsert_item> kept;
  kept.reserve(last.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    if (keep[i]) kept.push_back(std::move(items[i]));
  items = std::move(kept);
}

}  // namespace quiver
