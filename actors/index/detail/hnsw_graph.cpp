#include "actors/index/detail/hnsw_graph.hpp"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
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

// A flat graph's file: magic, u32 dimension, m, ef_construction, u64 labels,
// one state byte per label, then every label's vector (float32, host order).
constexpr char flat_magic[8] = {'Q', 'V', 'F', 'L', 'A', 'T', '0', '1'};

enum flat_state : std::uint8_t { flat_absent = 0, flat_live = 1, flat_deleted = 2 };

using raw_hit = std::pair<float, hnsw_label>;

// Keeps the k nearest seen so far; `out` ends nearest first.
class top_k {
 public:
  explicit top_k(std::size_t k) : k_(k) {}
  void offer(float d, hnsw_label label) {
    if (heap_.size() < k_) {
      heap_.emplace(d, label);
    } else if (k_ > 0 && d < heap_.top().first) {
      heap_.pop();
      heap_.emplace(d, label);
    }
  }
  raw_hits take() {
    raw_hits out(heap_.size());
    for (auto i = heap_.size(); i > 0; --i) {
      out[i - 1] = heap_.top();
      heap_.pop();
    }
    return out;
  }

 private:
  std::size_t k_;
  std::priority_queue<raw_hit> heap_;
};

}  // namespace

struct hnsw_graph::impl {
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  std::unique_ptr<graph_t> graph;  // null while flat
  std::uint32_t dimension = 0;
  std::uint32_t m = 16;
  std::uint32_t ef_construction = 200;
  float update_probability = 1;
  std::size_t flat_limit = 0;
  // Flat mode: label L's vector at flat[L * dimension], its state in state[L].
  std::size_t flat_capacity = 0;
  std::vector<float> flat;
  std::vector<std::uint8_t> state;
  // Graph mode: each internal id's label, so that a filtered walk tests
  // neighbours' neighbours without touching their 3 KB blocks (hnswlib keeps the
  // label at the end of one). no_label: read it from the block.
  static constexpr std::uint32_t no_label = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> label_of;

  void note_label(hnswlib::tableint id, hnsw_label label) {
    label_of[id] = label < no_label ? static_cast<std::uint32_t>(label) : no_label;
  }
  hnsw_label label_at(hnswlib::tableint id) const {
    auto l = label_of[id];
    return l != no_label ? l : graph->getExternalLabel(id);
  }

  const float* flat_vector(hnsw_label label) const { return flat.data() + label * dimension; }
  float distance(const float* a, const float* b) const {
    return space->get_dist_func()(a, b, space->get_dist_func_param());
  }
};

hnsw_graph::hnsw_graph(distance_kind distance, std::uint32_t dimension, std::uint32_t m,
                       std::uint32_t ef_construction, std::size_t capacity,
                       float update_probability, std::size_t flat_limit)
    : impl_(std::make_unique<impl>()) {
  impl_->update_probability = update_probability;
  impl_->space = make_space(distance, dimension);
  impl_->dimension = dimension;
  impl_->m = m;
  impl_->ef_construction = ef_construction;
  impl_->flat_limit = flat_limit;
  capacity = std::max<std::size_t>(capacity, 1);
  if (capacity <= flat_limit) {
    impl_->flat_capacity = capacity;
  } else {
    impl_->graph = std::make_unique<graph_t>(impl_->space.get(), capacity, m, ef_construction);
    impl_->label_of.assign(capacity, impl::no_label);
  }
}

hnsw_graph::hnsw_graph() : impl_(std::make_unique<impl>()) {}

hnsw_graph::~hnsw_graph() = default;

bool hnsw_graph::is_flat() const { return !impl_->graph; }

status hnsw_graph::build_from_flat(std::size_t capacity) {
  auto& d = *impl_;
  try {
    d.graph = std::make_unique<graph_t>(d.space.get(), capacity, d.m, d.ef_construction);
    d.label_of.assign(capacity, impl::no_label);
  } catch (const std::exception& e) {
    return internal_error("hnsw allocation failed", e);
  }
  std::vector<std::pair<hnsw_label, const float*>> points;
  for (hnsw_label label = 0; label < d.state.size(); ++label)
    if (d.state[label] == flat_live) points.emplace_back(label, d.flat_vector(label));
  for (auto& st : add_parallel(points, 2)) {
    if (!st.ok()) {
      d.graph.reset();
      return st;
    }
  }
  d.flat = {};
  d.state = {};
  d.flat_capacity = 0;
  return status::success();
}

status hnsw_graph::save(const std::string& path) const {
  const auto& d = *impl_;
  if (d.graph) {
    try {
      d.graph->saveIndex(path);
      return status::success();
    } catch (const std::exception& e) {
      return internal_error("hnsw save failed", e);
    }
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::uint32_t head[3] = {d.dimension, d.m, d.ef_construction};
  std::uint64_t labels = d.state.size();
  out.write(flat_magic, sizeof flat_magic);
  out.write(reinterpret_cast<const char*>(head), sizeof head);
  out.write(reinterpret_cast<const char*>(&labels), sizeof labels);
  out.write(reinterpret_cast<const char*>(d.state.data()), static_cast<std::streamsize>(labels));
  out.write(reinterpret_cast<const char*>(d.flat.data()),
            static_cast<std::streamsize>(labels * d.dimension * sizeof(float)));
  out.flush();
  if (!out) return make_status(errc::internal, "cannot write " + path);
  return status::success();
}

expected<std::unique_ptr<hnsw_graph>> hnsw_graph::load(const std::string& path,
                                                       distance_kind distance,
                                                       std::uint32_t dimension,
                                                       float update_probability,
                                                       std::size_t flat_limit) {
  std::unique_ptr<hnsw_graph> out(new hnsw_graph());
  auto& d = *out->impl_;
  d.space = make_space(distance, dimension);
  d.dimension = dimension;
  d.update_probability = update_probability;
  d.flat_limit = flat_limit;
  {
    std::ifstream in(path, std::ios::binary);
    char magic[sizeof flat_magic] = {};
    in.read(magic, sizeof magic);
    if (in && std::memcmp(magic, flat_magic, sizeof magic) == 0) {
      std::uint32_t head[3] = {};
      std::uint64_t labels = 0;
      in.read(reinterpret_cast<char*>(head), sizeof head);
      in.read(reinterpret_cast<char*>(&labels), sizeof labels);
      if (!in || head[0] != dimension)
        return make_status(errc::internal, "flat graph: the vectors are not " +
                                               std::to_string(dimension) + "-dimensional");
      if (labels > (std::uint64_t{1} << 32))
        return make_status(errc::internal, "flat graph: implausible size");
      d.m = head[1];
      d.ef_construction = head[2];
      d.state.resize(labels);
      d.flat.resize(labels * dimension);
      in.read(reinterpret_cast<char*>(d.state.data()), static_cast<std::streamsize>(labels));
      in.read(reinterpret_cast<char*>(d.flat.data()),
              static_cast<std::streamsize>(labels * dimension * sizeof(float)));
      if (!in) return make_status(errc::internal, "flat graph: truncated");
      for (auto st : d.state)
        if (st > flat_deleted) return make_status(errc::internal, "flat graph: bad label state");
      d.flat_capacity = std::max<std::size_t>(labels, 1);
      return out;
    }
  }
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
  try {
    d.label_of.assign(g.max_elements_, impl::no_label);
  } catch (const std::exception& e) {
    return internal_error("hnsw load failed", e);
  }
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id)
    d.note_label(id, g.getExternalLabel(id));
  return out;
}

status hnsw_graph::add(hnsw_label label, const float* vector) {
  auto& d = *impl_;
  if (!d.graph) {
    if (label >= d.flat_capacity)
      return make_status(errc::internal, "flat graph: label past capacity");
    if (label >= d.state.size()) {
      // Grow by a quarter at most: a small index's slack is part of its overhead.
      auto labels =
          std::min(d.flat_capacity, std::max(label + 1, d.state.size() + d.state.size() / 4));
      d.flat.reserve(labels * d.dimension);
      d.state.reserve(labels);
      d.flat.resize(labels * d.dimension);
      d.state.resize(labels, flat_absent);
    }
    std::memcpy(d.flat.data() + label * d.dimension, vector, d.dimension * sizeof(float));
    d.state[label] = flat_live;
    return status::success();
  }
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
      std::unique_lock<std::mutex> lock(g.cur_element_count_guard_);
      d.note_label(g.label_lookup_.at(label), label);
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
  if (threads == 1 || !impl_->graph) {
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
  auto& d = *impl_;
  if (!d.graph) {
    if (label >= d.state.size() || d.state[label] != flat_live)
      return make_status(errc::internal,
                         "flat graph: label " + std::to_string(label) + " is not live");
    d.state[label] = flat_deleted;
    return status::success();
  }
  try {
    impl_->graph->markDelete(label);
    return status::success();
  } catch (const std::exception& e) {
    return internal_error("hnsw delete failed", e);
  }
}

status hnsw_graph::resize(std::size_t capacity) {
  auto& d = *impl_;
  if (!d.graph) {
    if (capacity > d.flat_limit) return build_from_flat(capacity);
    d.flat_capacity = std::max(d.flat_capacity, capacity);
    return status::success();
  }
  try {
    impl_->graph->resizeIndex(capacity);
    impl_->label_of.resize(capacity, impl::no_label);
    return status::success();
  } catch (const std::exception& e) {
    return internal_error("hnsw resize failed", e);
  }
}

bool hnsw_graph::read(hnsw_label label, float* out) const {
  const auto& d = *impl_;
  if (!d.graph) {
    if (label >= d.state.size() || d.state[label] != flat_live) return false;
    std::copy(d.flat_vector(label), d.flat_vector(label) + d.dimension, out);
    return true;
  }
  auto& g = *d.graph;
  auto it = g.label_lookup_.find(label);
  if (it == g.label_lookup_.end() || g.isMarkedDeleted(it->second)) return false;
  const auto* data = reinterpret_cast<const float*>(g.getDataByInternalId(it->second));
  std::copy(data, data + impl_->dimension, out);
  return true;
}

namespace {

// A visited list of the graph's pool, given back when the walk ends.
struct pooled_visits {
  hnswlib::VisitedListPool* pool;
  hnswlib::VisitedList* list = pool->getFreeVisitedList();
  ~pooled_visits() { pool->releaseVisitedList(list); }
  pooled_visits(const pooled_visits&) = delete;
  pooled_visits& operator=(const pooled_visits&) = delete;
};

// The greedy descent through the upper layers: the base layer's entry point.
hnswlib::tableint descend(const graph_t& g, const float* query) {
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
  return current;
}

}  // namespace

raw_hits hnsw_graph::search(const float* query, std::size_t k, std::size_t ef) const {
  if (!impl_->graph) return exact(query, k, [](hnsw_label) { return false; });
  // searchKnn's logic with a per-call ef: setEf() would race between concurrent readers.
  const auto& g = *impl_->graph;
  raw_hits out;
  if (g.cur_element_count == 0) return out;
  auto current = descend(g, query);
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

// hnswlib's base-layer search over the accepted points only, bridged ACORN-style
// (Patel et al., SIGMOD 2024): expanding a point reaches its accepted neighbours
// and, through each neighbour that is not accepted, that one's accepted
// neighbours, up to the base layer's degree. Only accepted points are measured
// and enter the walk, so a selective filter costs tests (a column read each),
// not distances; the walk ends when `ef` accepted ones bound it, as hnswlib's.
raw_hits hnsw_graph::search_filtered(const float* query, std::size_t k, std::size_t ef,
                                     const std::function<bool(hnsw_label)>& accept,
                                     filter_walk walk) const {
  if (!impl_->graph) return exact(query, k, [&](hnsw_label l) { return !accept(l); });
  if (impl_->graph->cur_element_count == 0) return {};
  return walk == filter_walk::bridged ? walk_bridged(query, k, ef, accept)
                                      : walk_through(query, k, ef, accept);
}

// hnswlib's base-layer search with two changes: only accepted points enter the
// results, and the walk goes on through points that are not accepted (they still
// lead to ones that are) until `ef` accepted ones bound it or the graph is spent.
raw_hits hnsw_graph::walk_through(const float* query, std::size_t k, std::size_t ef,
                                  const std::function<bool(hnsw_label)>& accept) const {
  const auto& d = *impl_;
  const auto& g = *d.graph;
  ef = std::max(ef, k);
  auto dist = g.fstdistfunc_;
  auto* param = g.dist_func_param_;
  auto take = [&](hnswlib::tableint id) {
    return !g.isMarkedDeleted(id) && accept(d.label_at(id));
  };
  using entry = std::pair<float, hnswlib::tableint>;
  std::priority_queue<entry> results;                                              // worst on top
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> candidates;  // nearest on top
  pooled_visits visited{g.visited_list_pool_};
  auto* mark = visited.list->mass;
  auto tag = visited.list->curV;
  auto bound = [&] {
    return results.size() < ef ? std::numeric_limits<float>::max() : results.top().first;
  };
  auto start = descend(g, query);
  float d0 = dist(query, g.getDataByInternalId(start), param);
  candidates.emplace(d0, start);
  if (take(start)) results.emplace(d0, start);
  mark[start] = tag;
  while (!candidates.empty()) {
    auto [d, id] = candidates.top();
    if (d > bound()) break;
    candidates.pop();
    auto* links = g.get_linklist0(id);
    auto size = g.getListCount(links);
    auto* neighbours = reinterpret_cast<hnswlib::tableint*>(links + 1);
    for (std::size_t j = 0; j < size; ++j) {
      auto n = neighbours[j];
      if (mark[n] == tag) continue;
      mark[n] = tag;
      float dn = dist(query, g.getDataByInternalId(n), param);
      if (!(dn < bound())) continue;
      candidates.emplace(dn, n);
      if (!take(n)) continue;
      results.emplace(dn, n);
      if (results.size() > ef) results.pop();
    }
  }
  while (results.size() > k) results.pop();
  raw_hits out(results.size());
  for (auto i = results.size(); i > 0; --i) {
    out[i - 1] = {results.top().first, d.label_at(results.top().second)};
    results.pop();
  }
  return out;
}

raw_hits hnsw_graph::walk_bridged(const float* query, std::size_t k, std::size_t ef,
                                  const std::function<bool(hnsw_label)>& accept) const {
  const auto& d = *impl_;
  const auto& g = *d.graph;
  ef = std::max(ef, k);
  auto dist = g.fstdistfunc_;
  auto* param = g.dist_func_param_;
  auto take = [&](hnswlib::tableint id) { return accept(d.label_at(id)); };
  using entry = std::pair<float, hnswlib::tableint>;
  std::priority_queue<entry> results;                                              // worst on top
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> candidates;  // nearest on top
  pooled_visits visited{g.visited_list_pool_}, tested{g.visited_list_pool_};
  // mark: reached (accepted), or bridged (not accepted, its neighbours tested).
  // rejected: tested and not accepted. So each point is tested once per query and
  // bridged at most once.
  auto* mark = visited.list->mass;
  auto tag = visited.list->curV;
  auto* rejected = tested.list->mass;
  auto rtag = tested.list->curV;
  auto bound = [&] {
    return results.size() < ef ? std::numeric_limits<float>::max() : results.top().first;
  };
  auto links_of = [&](hnswlib::tableint id) {
    auto* links = g.get_linklist0(id);
    return std::make_pair(reinterpret_cast<const hnswlib::tableint*>(links + 1),
                          std::size_t{g.getListCount(links)});
  };
  // The start need not be accepted: it only leads to ones that are.
  auto start = descend(g, query);
  float d0 = dist(query, g.getDataByInternalId(start), param);
  candidates.emplace(d0, start);
  if (take(start)) results.emplace(d0, start);
  mark[start] = tag;
  // Bridging stops at M points an expansion (half the base layer's degree):
  // filling to 2M measured twice the distances for no better recall.
  const std::size_t fill = g.maxM_;
  std::vector<hnswlib::tableint> reached, bridges;
  reached.reserve(g.maxM0_);
  bridges.reserve(g.maxM0_);
  while (!candidates.empty()) {
    auto [dc, id] = candidates.top();
    if (dc > bound()) break;
    candidates.pop();
    reached.clear();
    bridges.clear();
    auto [neighbours, size] = links_of(id);
    for (std::size_t j = 0; j < size; ++j) {
      auto n = neighbours[j];
      if (mark[n] == tag) continue;
      if (rejected[n] != rtag) {
        if (take(n)) {
          mark[n] = tag;
          reached.push_back(n);
          continue;
        }
        rejected[n] = rtag;
      }
      bridges.push_back(n);
    }
    for (std::size_t b = 0; b < bridges.size() && reached.size() < fill; ++b) {
      auto [second, count] = links_of(bridges[b]);
      std::size_t j = 0;
      for (; j < count && reached.size() < fill; ++j) {
        auto n = second[j];
        if (mark[n] == tag || rejected[n] == rtag) continue;
        if (take(n)) {
          mark[n] = tag;
          reached.push_back(n);
        } else {
          rejected[n] = rtag;
        }
      }
      // Cut short: bridged again later for the rest.
      if (j == count) mark[bridges[b]] = tag;
    }
    for (auto n : reached) __builtin_prefetch(g.getDataByInternalId(n));
    for (auto n : reached) {
      float dn = dist(query, g.getDataByInternalId(n), param);
      if (!(dn < bound())) continue;
      candidates.emplace(dn, n);
      results.emplace(dn, n);
      if (results.size() > ef) results.pop();
    }
  }
  // Deleted points are told apart here, not per test: their labels are free, so
  // accept() rejects them already, and reading the mark is a miss of its own.
  std::vector<entry> kept;
  for (; !results.empty(); results.pop())
    if (!g.isMarkedDeleted(results.top().second)) kept.push_back(results.top());
  if (kept.size() > k) kept.erase(kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(k));
  raw_hits out(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i)
    out[kept.size() - 1 - i] = {kept[i].first, d.label_at(kept[i].second)};
  return out;
}

raw_hits hnsw_graph::exact_among(const float* query, std::size_t k,
                                 const std::vector<hnsw_label>& labels) const {
  const auto& d = *impl_;
  top_k top(k);
  if (!d.graph) {
    for (auto label : labels)
      if (label < d.state.size() && d.state[label] == flat_live)
        top.offer(d.distance(query, d.flat_vector(label)), label);
    return top.take();
  }
  const auto& g = *d.graph;
  for (auto label : labels) {
    auto it = g.label_lookup_.find(label);
    if (it == g.label_lookup_.end() || g.isMarkedDeleted(it->second)) continue;
    top.offer(g.fstdistfunc_(query, g.getDataByInternalId(it->second), g.dist_func_param_), label);
  }
  return top.take();
}

raw_hits hnsw_graph::exact(const float* query, std::size_t k,
                           const std::function<bool(hnsw_label)>& skip) const {
  const auto& d = *impl_;
  top_k top(k);
  if (!d.graph) {
    for (hnsw_label label = 0; label < d.state.size(); ++label)
      if (d.state[label] == flat_live && !skip(label))
        top.offer(d.distance(query, d.flat_vector(label)), label);
    return top.take();
  }
  const auto& g = *d.graph;
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id) {
    if (g.isMarkedDeleted(id)) continue;
    auto label = g.getExternalLabel(id);
    if (skip(label)) continue;
    top.offer(g.fstdistfunc_(query, g.getDataByInternalId(id), g.dist_func_param_), label);
  }
  return top.take();
}

std::size_t hnsw_graph::capacity() const {
  return impl_->graph ? impl_->graph->max_elements_ : impl_->flat_capacity;
}

std::size_t hnsw_graph::memory_bytes() const {
  const auto& d = *impl_;
  if (!d.graph) return d.flat.capacity() * sizeof(float) + d.state.capacity();
  const auto& g = *d.graph;
  std::size_t bytes = g.max_elements_ * g.size_data_per_element_;  // level 0 + vectors
  bytes += g.max_elements_ * (sizeof(void*) + sizeof(int));        // link list pointers, levels
  bytes += g.max_elements_ * sizeof(std::mutex);                   // per-element locks
  bytes += g.max_elements_ * sizeof(hnswlib::vl_type);             // visited list
  bytes += graph_t::max_update_element_locks * sizeof(std::mutex);
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id)
    bytes += static_cast<std::size_t>(g.element_levels_[id]) * g.size_links_per_element_;
  bytes += g.label_lookup_.size() * (sizeof(hnsw_label) + sizeof(hnswlib::tableint) + 16);
  bytes += d.label_of.capacity() * sizeof(std::uint32_t);
  return bytes;
}

}  // namespace quiver::detail
