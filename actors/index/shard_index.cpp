#include "actors/index/shard_index.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_set>

#include "actors/index/detail/hnsw_graph.hpp"
#include "common/filter.hpp"
#include "common/vector_validation.hpp"

namespace quiver {

shard_index::shard_index(index_params params, shard_index_options options)
    : params_(std::move(params)), options_(options) {}

shard_index::~shard_index() = default;

const float* shard_index::to_stored(const std::vector<float>& v, std::vector<float>& buffer,
                                    float& norm) const {
  norm = 1;
  if (params_.distance != distance_kind::cosine) return v.data();
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  norm = static_cast<float>(std::sqrt(sum));
  double inverse = 1 / std::sqrt(sum);
  buffer.resize(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) buffer[i] = static_cast<float>(v[i] * inverse);
  return buffer.data();
}

status shard_index::ensure_graph(std::size_t needed_capacity) {
  if (!graph_) {
    auto capacity = std::max(options_.initial_capacity, needed_capacity);
    try {
      graph_ = std::make_unique<detail::hnsw_graph>(
          params_.distance, params_.dimension, params_.m, params_.ef_construction, capacity,
          options_.update_probability, options_.flat_limit);
    } catch (const std::exception& e) {
      return make_status(errc::internal, std::string("cannot allocate the graph: ") + e.what());
    }
    return status::success();
  }
  if (needed_capacity <= graph_->capacity()) return status::success();
  auto capacity = graph_->capacity();
  while (capacity < needed_capacity) capacity *= 2;
  return graph_->resize(capacity);
}

expected<seq_no> shard_index::upsert(upsert_item item) {
  std::vector<upsert_item> items;
  items.push_back(std::move(item));
  auto r = upsert_batch(std::move(items));
  if (!r) return std::move(r).error();
  return r->seq;
}

expected<batch_result> shard_index::upsert_batch(std::vector<upsert_item> items) {
  if (auto st = validate_batch(items, params_.dimension, params_.distance); !st.ok()) return st;
  dedup_last_wins(items);
  for (std::size_t begin = 0; begin < items.size(); begin += options_.batch_section) {
    auto end = std::min(items.size(), begin + options_.batch_section);
    if (auto st = apply_section(items, begin, end); !st.ok()) return st;
  }
  std::shared_lock lock(mutex_);
  return batch_result{seq_no{applied_seq_}, items.size()};
}

status shard_index::apply_section(std::vector<upsert_item>& items, std::size_t begin,
                                  std::size_t end) {
  std::unique_lock lock(mutex_);
  // Assign labels first: existing ids keep theirs, new ids reuse freed labels
  // (hnswlib revives a deleted label in place) before taking fresh ones.
  std::vector<prepared> work;
  work.reserve(end - begin);
  std::vector<float> norms(end - begin);
  std::size_t fresh = 0;
  auto reusable = free_labels_.size();
  for (auto i = begin; i < end; ++i) {
    auto& item = items[i];
    auto it = by_id_.find(item.id);
    if (it != by_id_.end()) {
      work.push_back({&item, it->second, false, {}});
    } else if (reusable > 0) {
      work.push_back({&item, free_labels_[--reusable], true, {}});
    } else {
      work.push_back({&item, slots_.size() + fresh++, true, {}});
    }
    to_stored(item.vector, work.back().normalized, norms[i - begin]);
  }
  if (auto st = ensure_graph(slots_.size() + fresh); !st.ok()) return st;
  free_labels_.resize(reusable);
  slots_.resize(slots_.size() + fresh);

  std::vector<std::pair<detail::hnsw_label, const float*>> points;
  points.reserve(work.size());
  for (auto& w : work)
    points.emplace_back(w.label,
                        w.normalized.empty() ? w.item->vector.data() : w.normalized.data());
  // Threads pay off only for sections large enough to keep them busy.
  auto threads = work.size() >= 64 ? options_.insert_threads : 1u;
  auto results = graph_->add_parallel(points, threads);

  status first_failure;
  for (std::size_t i = 0; i < work.size(); ++i) {
    auto& w = work[i];
    if (!results[i].ok()) {
      if (first_failure.ok()) first_failure = results[i];
      if (w.is_new) {
        graph_->mark_deleted(w.label);  // it may or may not have entered the graph
        free_labels_.push_back(w.label);
      }
      continue;
    }
    auto& s = slots_[w.label];
    if (w.is_new) {
      auto [it, inserted] = by_id_.emplace(w.item->id, w.label);
      s.id = &it->first;
      s.metadata.clear();
    }
    s.norm = norms[i];
    bool changed = w.is_new || !w.item->metadata.empty();
    if (!w.item->metadata.empty()) s.metadata = std::move(w.item->metadata);
    if (changed) payload_.set(w.label, s.metadata);
    ++applied_seq_;
  }
  return first_failure;
}

expected<shard_index::logged_result> shard_index::apply_logged(std::vector<log_record>&& records) {
  logged_result out;
  std::vector<upsert_item> items;
  std::unordered_set<std::string> in_batch;
  std::vector<std::string> removals;
  // Consecutive upserts of distinct ids go in one batch; a repeated id or a delete
  // ends it, so the log's order is kept exactly (a batch would dedup, last wins).
  auto flush_upserts = [&]() -> status {
    if (items.empty()) return status::success();
    out.upserted += items.size();
    for (std::size_t begin = 0; begin < items.size(); begin += options_.batch_section) {
      auto end = std::min(items.size(), begin + options_.batch_section);
      if (auto st = apply_section(items, begin, end); !st.ok()) return st;
    }
    items.clear();
    in_batch.clear();
    return status::success();
  };
  auto flush_removals = [&] {
    if (removals.empty()) return;
    out.removed += remove_batch(removals);
    removals.clear();
  };
  seq_no last;
  for (auto& r : records) {
    last = r.seq;
    if (r.type == log_record_type::upsert) {
      flush_removals();
      if (in_batch.count(r.id))
        if (auto st = flush_upserts(); !st.ok()) return st;
      in_batch.insert(r.id);
      items.push_back({std::move(r.id), std::move(r.vector), std::move(r.metadata)});
    } else if (r.type == log_record_type::remove) {
      if (auto st = flush_upserts(); !st.ok()) return st;
      removals.push_back(std::move(r.id));
    } else if (r.type == log_record_type::set_field_index ||
               r.type == log_record_type::drop_field_index) {
      if (auto st = flush_upserts(); !st.ok()) return st;
      flush_removals();
      field_def def{r.id, field_type::keyword};
      if (r.type == log_record_type::set_field_index && !parse_field_type(r.metadata, def.type))
        return make_status(errc::internal, "log record " + std::to_string(r.seq.value) +
                                               ": unknown field type '" + r.metadata + "'");
      std::unique_lock lock(mutex_);
      if (r.type == log_record_type::set_field_index) {
        set_field_index_locked(def);
      } else {
        payload_.drop(def.name);
      }
    }
  }
  if (auto st = flush_upserts(); !st.ok()) return st;
  flush_removals();
  std::unique_lock lock(mutex_);
  applied_seq_ = std::max(applied_seq_, last.value);
  return out;
}

bool shard_index::set_field_index(const field_def& def) {
  std::unique_lock lock(mutex_);
  return set_field_index_locked(def);
}

bool shard_index::set_field_index_locked(const field_def& def) {
  if (auto* t = payload_.type_of(def.name); t && *t == def.type) return false;
  payload_.add(def, slots_.size(), [this](label_t l) -> std::string_view {
    return slots_[l].id ? std::string_view(slots_[l].metadata) : std::string_view();
  });
  return true;
}

bool shard_index::drop_field_index(const std::string& field) {
  std::unique_lock lock(mutex_);
  return payload_.drop(field);
}

std::optional<field_type> shard_index::field_type_of(const std::string& field) const {
  std::shared_lock lock(mutex_);
  if (const auto* t = payload_.type_of(field)) return *t;
  return std::nullopt;
}

std::vector<field_def> shard_index::field_indexes() const {
  std::shared_lock lock(mutex_);
  return payload_.list();
}

bool shard_index::remove(const std::string& id) {
  std::unique_lock lock(mutex_);
  return remove_locked(id);
}

std::size_t shard_index::remove_batch(const std::vector<std::string>& ids) {
  std::unique_lock lock(mutex_);
  std::size_t removed = 0;
  for (const auto& id : ids) removed += remove_locked(id) ? 1 : 0;
  return removed;
}

bool shard_index::remove_locked(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  auto label = it->second;
  // A label in by_id_ is live in the graph, so this cannot fail; if it ever did, the
  // slot must stay free rather than be reused while still searchable.
  graph_->mark_deleted(label);
  slots_[label] = slot{};
  payload_.clear(label);
  free_labels_.push_back(label);
  by_id_.erase(it);
  ++applied_seq_;
  return true;
}

std::optional<vector_record> shard_index::get(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  vector_record out;
  out.id = id;
  out.vector.resize(params_.dimension);
  if (!graph_->read(it->second, out.vector.data())) return std::nullopt;
  const auto& s = slots_[it->second];
  if (params_.distance == distance_kind::cosine)
    for (auto& x : out.vector) x *= s.norm;
  out.metadata = s.metadata;
  return out;
}

id_page shard_index::ids_after(const std::string& after, std::size_t limit) const {
  std::shared_lock lock(mutex_);
  id_page page;
  auto it = after.empty() ? by_id_.begin() : by_id_.upper_bound(after);
  for (; it != by_id_.end() && page.ids.size() < limit; ++it) page.ids.push_back(it->first);
  page.more = it != by_id_.end();
  return page;
}

float shard_index::to_api_distance(float raw) const {
  switch (params_.distance) {
    case distance_kind::cosine:
      return raw;  // 1 - cos
    case distance_kind::euclidean:
      return std::sqrt(std::max(raw, 0.f));  // hnswlib: squared
    case distance_kind::dot:
      return raw - 1;  // hnswlib: 1 - <a,b>
  }
  return raw;
}

void shard_index::fill_hit(search_hit& hit, label_t label, const search_options& options) const {
  const auto& s = slots_[label];
  hit.id = *s.id;
  if (options.include_metadata) hit.metadata = s.metadata;
  if (options.include_vectors) {
    hit.vector.resize(params_.dimension);
    graph_->read(label, hit.vector.data());
    if (params_.distance == distance_kind::cosine)
      for (auto& x : hit.vector) x *= s.norm;
  }
}

expected<std::vector<search_hit>> shard_index::search(const std::vector<float>& query,
                                                      const search_options& options) const {
  if (auto st = validate_search(query, options, params_.dimension, params_.distance, 0); !st.ok())
    return st;
  float norm = 1;
  std::vector<float> buffer;
  const float* q = to_stored(query, buffer, norm);
  std::shared_lock lock(mutex_);
  return search_locked(q, options);
}

std::optional<expected<std::vector<search_hit>>> shard_index::try_search(
    const std::vector<float>& query, const search_options& options) const {
  if (auto st = validate_search(query, options, params_.dimension, params_.distance, 0); !st.ok())
    return expected<std::vector<search_hit>>(st);
  std::shared_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  float norm = 1;
  std::vector<float> buffer;
  const float* q = to_stored(query, buffer, norm);
  return search_locked(q, options);
}

expected<std::vector<search_hit>> shard_index::search_locked(const float* q,
                                                             const search_options& options) const {
  std::vector<search_hit> hits;
  if (by_id_.empty()) return hits;
  std::unordered_set<label_t> excluded;
  for (const auto& id : options.exclude_ids)
    if (auto it = by_id_.find(id); it != by_id_.end()) excluded.insert(it->second);
  std::size_t live = by_id_.size() - excluded.size();
  std::size_t want = std::min<std::size_t>(options.k, live);
  if (want == 0) return hits;

  detail::raw_hits raw;
  if (!options.filter.empty()) {
    raw = filtered_search(q, options, excluded, want);
  } else {
    raw = unfiltered_search(q, options, excluded, want);
  }
  if (raw.size() > want) raw.resize(want);

  hits.resize(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    hits[i].distance = to_api_distance(raw[i].first);
    fill_hit(hits[i], raw[i].second, options);
  }
  // Equal distances are ordered by id so that a repeated query gives identical results.
  std::stable_sort(hits.begin(), hits.end(), [](const search_hit& a, const search_hit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  });
  return hits;
}

detail::raw_hits shard_index::unfiltered_search(const float* q, const search_options& options,
                                                const std::unordered_set<label_t>& excluded,
                                                std::size_t want) const {
  // Over-fetch by the number of excluded live ids so that k results survive the filter.
  std::size_t fetch = want + excluded.size();
  detail::raw_hits raw;
  if (fetch * 2 < by_id_.size()) {
    std::size_t ef = options.ef ? options.ef : params_.ef_search;
    raw = graph_->search(q, fetch, std::max(ef, fetch));
    raw.erase(std::remove_if(raw.begin(), raw.end(),
                             [&](const auto& h) { return excluded.count(h.second) > 0; }),
              raw.end());
  }
  // HNSW returns fewer than asked near deletions or when most points are excluded;
  // an exact scan keeps the contract "fewer than k only when fewer qualify".
  if (raw.size() < want)
    raw = graph_->exact(q, want, [&](detail::hnsw_label l) { return excluded.count(l) > 0; });
  return raw;
}

// The plan: a sample of the shard estimates how many live vectors match. Few
// matches are found faster by testing every vector's metadata and measuring only
// the matches (no graph walk wades through thousands of misses); many are found by
// walking the graph, testing each point it reaches. Either way a walk that returns
// fewer than `want` is redone exactly, so fewer than k results means fewer match.
detail::raw_hits shard_index::filtered_search(const float* q, const search_options& options,
                                              const std::unordered_set<label_t>& excluded,
                                              std::size_t want) const {
  payload_indexes::matcher matcher(payload_, options.filter);
  // The matcher first: on columns it reads a few compact arrays, while a slot is
  // a cache miss of its own (a free label's columns hold nothing, its metadata is
  // empty).
  auto accept = [&](detail::hnsw_label l) {
    return l < slots_.size() && matcher.matches(l, slots_[l].metadata) && slots_[l].id &&
           (excluded.empty() || !excluded.count(l));
  };
  std::size_t ef = std::max<std::size_t>(options.ef ? options.ef : params_.ef_search, want);
  detail::raw_hits raw;
  auto walk = matcher.indexed() ? detail::hnsw_graph::filter_walk::bridged
                                : detail::hnsw_graph::filter_walk::through;
  if (!graph_->is_flat() && walk_pays(matcher, ef))
    raw = graph_->search_filtered(q, want, ef, accept, walk);
  if (raw.size() < want) {
    // The matches from our own slots (a sequential pass; testing through the
    // graph would touch every point's block), then their distances.
    std::vector<detail::hnsw_label> matching;
    for (label_t l = 0; l < slots_.size(); ++l)
      if (accept(l)) matching.push_back(l);
    raw = graph_->exact_among(q, want, matching);
  }
  return raw;
}

bool shard_index::walk_pays(payload_indexes::matcher& matcher, std::size_t ef) const {
  constexpr std::size_t samples = 512;
  std::size_t step = std::max<std::size_t>(1, slots_.size() / samples), seen = 0, matched = 0;
  for (std::size_t l = 0; l < slots_.size(); l += step) {
    if (!slots_[l].id) continue;
    ++seen;
    if (matcher.matches(l, slots_[l].metadata)) ++matched;
  }
  if (seen == 0 || matched == 0) return false;
  // Costs in nanoseconds, roughly (fitted with tests/bench/filter_bench): a
  // distance ~0.15 ns per dimension; a filter test ~20 ns on columns (with its
  // cache misses), ~300 ns when it parses metadata; a link list read ~100 ns. A
  // scan tests every live vector and measures the matches, each a fetch from
  // anywhere in the graph (~350 ns). A walk expands about ef points. Through
  // rejected points (costly tests), it expands ef / selectivity of them, each
  // measuring and testing its 2M neighbours. Bridged (column tests), each
  // expansion measures M accepted points and tests about M / selectivity points
  // (at most the 4M² within two hops) to find them, reading a link list per 2M.
  double selectivity = double(matched) / double(seen);
  double live = double(by_id_.size());
  double distance = 0.15 * params_.dimension;
  double m = params_.m;
  double scan = live * (matcher.indexed() ? 5 : 300) + selectivity * live * (distance + 350);
  double walk = 0;
  if (matcher.indexed()) {
    double tests = std::min(m / selectivity, 4 * m * m);
    walk = double(ef) * (m * distance + tests * 20 + tests / (2 * m) * 100);
  } else {
    walk = double(ef) / selectivity * 2.0 * m * (distance + 300);
  }
  return walk < scan;
}

std::size_t shard_index::count_matching(const metadata_filter& filter) const {
  std::shared_lock lock(mutex_);
  if (filter.empty()) return by_id_.size();
  payload_indexes::matcher matcher(payload_, filter);
  std::size_t n = 0;
  for (label_t l = 0; l < slots_.size(); ++l)
    if (slots_[l].id && matcher.matches(l, slots_[l].metadata)) ++n;
  return n;
}

std::vector<std::string> shard_index::ids_matching(const metadata_filter& filter) const {
  std::shared_lock lock(mutex_);
  payload_indexes::matcher matcher(payload_, filter);
  std::vector<std::string> out;
  for (const auto& [id, label] : by_id_)
    if (matcher.matches(label, slots_[label].metadata)) out.push_back(id);
  return out;
}

std::size_t shard_index::count() const {
  std::shared_lock lock(mutex_);
  return by_id_.size();
}

std::size_t shard_index::memory_bytes() const {
  std::shared_lock lock(mutex_);
  std::size_t bytes = graph_ ? graph_->memory_bytes() : 0;
  for (const auto& [id, label] : by_id_) bytes += id.size() + 64;  // map node + key
  for (const auto& s : slots_) bytes += sizeof(slot) + s.metadata.size();
  bytes += free_labels_.capacity() * sizeof(label_t);
  bytes += payload_.memory_bytes();
  return bytes;
}

std::uint64_t shard_index::stored_bytes() const {
  std::shared_lock lock(mutex_);
  std::uint64_t bytes = by_id_.size() * std::uint64_t{params_.dimension} * sizeof(float);
  for (const auto& [id, label] : by_id_) bytes += slots_[label].metadata.size();
  return bytes;
}

std::optional<std::size_t> shard_index::metadata_size(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return slots_[it->second].metadata.size();
}

seq_no shard_index::applied_seq() const {
  std::shared_lock lock(mutex_);
  return seq_no{applied_seq_};
}

}  // namespace quiver
