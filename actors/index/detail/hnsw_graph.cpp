#include "actors/index/detail/hnsw_graph.hpp"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <queue>
#include <string>
#include <thread>

namespace quiver::detail {

namespace {

using graph_t = hnswlib::HierarchicalNSW<float>;

std::unique_ptr<hnswlib::SpaceInterface<float>> make_space(distance_kind d, std::uint32_t dim) {
  if (d == distance_kind::euclidean) return std::make_unique<hnswlib::L2Space>(dim);
  return std::make_unique<hnswlib::InnerProductSpace>(dim);
}

status internal_error(const char* what, const std::exception& e) {
  return make_status(errc::internal, std::string(what) + ": " + e.what());
}

}  // namespace

struct hnsw_graph::impl {
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  std::unique_ptr<graph_t> graph;
  std::uint32_t dimension;
  float update_probability;
};

hnsw_graph::hnsw_graph(distance_kind distance, std::uint32_t dimension, std::uint32_t m,
                       std::uint32_t ef_construction, std::size_t capacity,
                       float update_probability)
    : impl_(std::make_unique<impl>()) {
  impl_->update_probability = update_probability;
  impl_->space = make_space(distance, dimension);
  impl_->dimension = dimension;
  impl_->graph = std::make_unique<graph_t>(impl_->space.get(), std::max<std::size_t>(capacity, 1),
                                           m, ef_construction);
}

hnsw_graph::hnsw_graph() : impl_(std::make_unique<impl>()) {}

hnsw_graph::~hnsw_graph() = default;

status hnsw_graph::save(const std::string& path) const {
  try {
    impl_->graph->saveIndex(path);
    return status::success();
  } catch (const std::exception& e) {
    return internal_error("hnsw save failed", e);
  }
}

expected<std::unique_ptr<hnsw_graph>> hnsw_graph::load(const std::string& path,
                                                       distance_kind distance,
                                                       std::uint32_t dimension,
                                                       float update_probability) {
  std::unique_ptr<hnsw_graph> out(new hnsw_graph());
  out->impl_->space = make_space(distance, dimension);
  out->impl_->dimension = dimension;
  out->impl_->update_probability = update_probability;
  try {
    out->impl_->graph = std::make_unique<graph_t>(out->impl_->space.get(), path);
  } catch (const std::exception& e) {
    return internal_error("hnsw load failed", e);
  }
  auto& g = *out->impl_->graph;
  // loadIndex() takes the vector size from the space, not the file: check they agree.
  if (g.label_offset_ - g.offsetData_ != std::size_t(dimension) * sizeof(float))
    return make_status(errc::internal, "hnsw load: the graph's vectors are not " +
                                           std::to_string(dimension) + "-dimensional");
  // loadIndex() adds to num_deleted_ without initializing it.
  g.num_deleted_ = 0;
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id)
    if (g.isMarkedDeleted(id)) ++g.num_deleted_;
  return out;
}

status hnsw_graph::add(hnsw_label label, const float* vector) {
  try {
    auto& g = *impl_->graph;
    hnswlib::tableint existing = 0;
    bool exists = false;
    {
      std::unique_lock<std::mutex> lock(g.cur_element_count_guard_);
      auto it = g.label_lookup_.find(label);
      if (it != g.label_lookup_.end()) {
        existing = it->second;
        exists = true;
      }
    }
    if (!exists) {
      g.addPoint(vector, label);
      return status::success();
    }
    // addPoint() would re-link every neighbour's neighbourhood (probability 1.0),
    // about ten fresh inserts' worth of work; a sample of them keeps recall.
    std::unique_lock<std::mutex> lock(
        g.link_list_update_locks_[existing & (graph_t::max_update_element_locks - 1)]);
    if (g.isMarkedDeleted(existing)) g.unmarkDeletedInternal(existing);
    g.updatePoint(vector, existing, impl_->update_probability);
    return status::success();
  } catch (const std::exception& e) {
    return internal_error("hnsw add failed", e);
  }
}

std::vector<status> hnsw_graph::add_parallel(
    const std::vector<std::pair<hnsw_label, const float*>>& points, unsigned threads) {
  std::vector<status> out(points.size());
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(points.size())));
  if (threads == 1) {
    for (std::size_t i = 0; i < points.size(); ++i) out[i] = add(points[i].first, points[i].second);
    return out;
  }
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < points.size(); i = next++)
      out[i] = add(points[i].first, points[i].second);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

status hnsw_graph::mark_deleted(hnsw_label label) {
  try {
    impl_->graph->markDelete(label);
    return status::success();
  } catch (const std::exception& e) {
    return internal_error("hnsw delete failed", e);
  }
}

status hnsw_graph::resize(std::size_t capacity) {
  try {
    impl_->graph->resizeIndex(capacity);
    return status::success();
  } catch (const std::exception& e) {
    return internal_error("hnsw resize failed", e);
  }
}

bool hnsw_graph::read(hnsw_label label, float* out) const {
  auto& g = *impl_->graph;
  auto it = g.label_lookup_.find(label);
  if (it == g.label_lookup_.end() || g.isMarkedDeleted(it->second)) return false;
  const auto* data = reinterpret_cast<const float*>(g.getDataByInternalId(it->second));
  std::copy(data, data + impl_->dimension, out);
  return true;
}

raw_hits hnsw_graph::search(const float* query, std::size_t k, std::size_t ef) const {
  // searchKnn's logic with a per-call ef: setEf() would race between concurrent readers.
  const auto& g = *impl_->graph;
  raw_hits out;
  if (g.cur_element_count == 0) return out;
  auto dist = g.fstdistfunc_;
  auto* param = g.dist_func_param_;
  hnswlib::tableint current = g.enterpoint_node_;
  float current_dist = dist(query, g.getDataByInternalId(current), param);
  for (int level = g.maxlevel_; level > 0; --level) {
    bool changed = true;
    while (changed) {
      changed = false;
      auto* links = reinterpret_cast<unsigned int*>(g.get_linklist(current, level));
      int size = g.getListCount(links);
      auto* candidates = reinterpret_cast<hnswlib::tableint*>(links + 1);
      for (int i = 0; i < size; ++i) {
        float d = dist(query, g.getDataByInternalId(candidates[i]), param);
        if (d < current_dist) {
          current_dist = d;
          current = candidates[i];
          changed = true;
        }
      }
    }
  }
  ef = std::max(ef, k);
  auto top = g.num_deleted_ ? g.searchBaseLayerST<true>(current, query, ef)
                            : g.searchBaseLayerST<false>(current, query, ef);
  while (top.size() > k) top.pop();
  out.resize(top.size());
  for (auto i = top.size(); i > 0; --i) {
    out[i - 1] = {top.top().first, g.getExternalLabel(top.top().second)};
    top.pop();
  }
  return out;
}

raw_hits hnsw_graph::exact(const float* query, std::size_t k,
                           const std::function<bool(hnsw_label)>& skip) const {
  const auto& g = *impl_->graph;
  std::priority_queue<std::pair<float, hnsw_label>> top;
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id) {
    if (g.isMarkedDeleted(id)) continue;
    auto label = g.getExternalLabel(id);
    if (skip(label)) continue;
    float d = g.fstdistfunc_(query, g.getDataByInternalId(id), g.dist_func_param_);
    if (top.size() < k) {
      top.emplace(d, label);
    } else if (d < top.top().first) {
      top.pop();
      top.emplace(d, label);
    }
  }
  raw_hits out(top.size());
  for (auto i = top.size(); i > 0; --i) {
    out[i - 1] = top.top();
    top.pop();
  }
  return out;
}

std::size_t hnsw_graph::capacity() const { return impl_->graph->max_elements_; }

std::size_t hnsw_graph::memory_bytes() const {
  const auto& g = *impl_->graph;
  std::size_t bytes = g.max_elements_ * g.size_data_per_element_;  // level 0 + vectors
  bytes += g.max_elements_ * (sizeof(void*) + sizeof(int));        // link list pointers, levels
  bytes += g.max_elements_ * sizeof(std::mutex);                   // per-element locks
  bytes += g.max_elements_ * sizeof(hnswlib::vl_type);             // visited list
  bytes += graph_t::max_update_element_locks * sizeof(std::mutex);
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id)
    bytes += static_cast<std::size_t>(g.element_levels_[id]) * g.size_links_per_element_;
  bytes += g.label_lookup_.size() * (sizeof(hnsw_label) + sizeof(hnswlib::tableint) + 16);
  return bytes;
}

}  // namespace quiver::detail
