#include "actors/index/detail/hnsw_graph.hpp"

#include <hnswlib/hnswlib.h>
#include <sys/mman.h>

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

// Asks the kernel to back the graph's level 0 (every point's vector and
// neighbours, read at random by every search) with 2 MB pages where it can: a
// search touches a few hundred 3 KB blocks spread over the whole array, and with
// 4 KB pages nearly each one costs a TLB miss. Transparent huge pages are
// commonly "madvise"-only; elsewhere this is a no-op. Advised: the points' part
// and a little past it, so that the next inserts fault whole huge pages in;
// not the rest of the capacity, which the kernel may otherwise back in full
// while it takes no memory until used.
void advise_huge_pages(const graph_t& g) {
  constexpr std::uintptr_t huge = 2u << 20, ahead = 8u << 20;
  auto begin = reinterpret_cast<std::uintptr_t>(g.data_level0_memory_);
  auto capacity_end = begin + g.max_elements_ * g.size_data_per_element_;
  auto end = std::min(capacity_end, begin + g.cur_element_count * g.size_data_per_element_ + ahead);
  begin = (begin + huge - 1) & ~(huge - 1);
  end &= ~(huge - 1);
  if (begin < end) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// hnswlib 0.6.2's saveIndex() header after offsetLevel0_ and max_elements_, in its
// order and types: the one list save(), saved_size() and load() go by.
template <class Graph, class F>
void header_fields(Graph& g, F&& f) {
  f(g.cur_element_count);
  f(g.size_data_per_element_);
  f(g.label_offset_);
  f(g.offsetData_);
  f(g.maxlevel_);
  f(g.enterpoint_node_);
  f(g.maxM_);
  f(g.maxM0_);
  f(g.M_);
  f(g.mult_);
  f(g.ef_construction_);
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
    advise_huge_pages(*impl_->graph);
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
    advise_huge_pages(*d.graph);
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

std::uint64_t hnsw_graph::saved_size() const {
  const auto& d = *impl_;
  if (!d.graph) {
    return sizeof flat_magic + 3 * sizeof(std::uint32_t) + sizeof(std::uint64_t) +
           d.state.size() * (1 + std::uint64_t{d.dimension} * sizeof(float));
  }
  const auto& g = *d.graph;
  std::uint64_t size = sizeof g.offsetLevel0_ + sizeof g.max_elements_ +
                       g.cur_element_count * g.size_data_per_element_;
  header_fields(g, [&](const auto& x) { size += sizeof x; });
  for (std::size_t i = 0; i < g.cur_element_count; ++i)
    size += sizeof(hnswlib::linklistsizeint) +
            (g.element_levels_[i] > 0 ? g.size_links_per_element_ * g.element_levels_[i] : 0);
  return size;
}

status hnsw_graph::save(byte_sink& out) const {
  const auto& d = *impl_;
  status st;
  auto bytes = [&](const void* p, std::size_t n) {
    if (st.ok()) st = out.write(static_cast<const char*>(p), n);
  };
  auto pod = [&](const auto& x) { bytes(&x, sizeof x); };
  if (!d.graph) {
    std::uint32_t head[3] = {d.dimension, d.m, d.ef_construction};
    std::uint64_t labels = d.state.size();
    bytes(flat_magic, sizeof flat_magic);
    bytes(head, sizeof head);
    pod(labels);
    bytes(d.state.data(), labels);
    bytes(d.flat.data(), labels * d.dimension * sizeof(float));
    return st;
  }
  const auto& g = *d.graph;
  pod(g.offsetLevel0_);
  pod(g.max_elements_);
  header_fields(g, pod);
  bytes(g.data_level0_memory_, g.cur_element_count * g.size_data_per_element_);
  for (std::size_t i = 0; i < g.cur_element_count && st.ok(); ++i) {
    hnswlib::linklistsizeint size =
        g.element_levels_[i] > 0 ? g.size_links_per_element_ * g.element_levels_[i] : 0;
    pod(size);
    if (size) bytes(g.linkLists_[i], size);
  }
  return st;
}

namespace {

template <class T>
status read_pod(hnsw_graph::byte_source& in, T& out) {
  return in.read(reinterpret_cast<char*>(&out), sizeof out);
}

status bad_graph(const std::string& why) {
  return make_status(errc::internal, "hnsw load: " + why);
}

// The flat format after its magic.
status load_flat(hnsw_graph::byte_source& in, std::uint32_t dimension, std::uint32_t& m,
                 std::uint32_t& ef_construction, std::vector<std::uint8_t>& state,
                 std::vector<float>& flat) {
  std::uint32_t head[3] = {};
  std::uint64_t labels = 0;
  if (auto st = in.read(reinterpret_cast<char*>(head), sizeof head); !st.ok()) return st;
  if (auto st = read_pod(in, labels); !st.ok()) return st;
  if (head[0] != dimension)
    return make_status(errc::internal, "flat graph: the vectors are not " +
                                           std::to_string(dimension) + "-dimensional");
  if (labels > in.remaining() ||
      labels * (1 + std::uint64_t{dimension} * sizeof(float)) != in.remaining())
    return make_status(errc::internal, "flat graph: its size does not match its length");
  m = head[1];
  ef_construction = head[2];
  state.resize(labels);
  flat.resize(labels * dimension);
  if (auto st = in.read(reinterpret_cast<char*>(state.data()), labels); !st.ok()) return st;
  if (auto st = in.read(reinterpret_cast<char*>(flat.data()), labels * dimension * sizeof(float));
      !st.ok())
    return st;
  for (auto x : state)
    if (x > flat_deleted) return make_status(errc::internal, "flat graph: bad label state");
  return status::success();
}

// hnswlib 0.6.2's saveIndex() layout, read as its loadIndex() reads it.
status load_hnsw(hnsw_graph::byte_source& in, std::size_t first_word, std::uint32_t dimension,
                 hnswlib::SpaceInterface<float>& space, graph_t& g) {
  std::size_t saved_max = 0;
  g.offsetLevel0_ = first_word;
  status st;
  auto pod = [&](auto& x) {
    if (st.ok()) st = read_pod(in, x);
  };
  pod(saved_max);
  header_fields(g, pod);
  if (!st.ok()) return st;
  // The layout follows from M and the dimension; anything else is damage.
  constexpr std::size_t max_m = 4096;
  auto links0 = g.maxM0_ * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  auto vector_bytes = std::size_t{dimension} * sizeof(float);
  if (g.offsetLevel0_ != 0 || g.M_ < 2 || g.M_ > max_m || g.maxM_ != g.M_ || g.maxM0_ != 2 * g.M_ ||
      g.offsetData_ != links0 || g.label_offset_ != links0 + vector_bytes ||
      g.size_data_per_element_ != links0 + vector_bytes + sizeof(hnswlib::labeltype))
    return bad_graph("the layout does not match M and the dimension");
  // An empty graph (maxlevel -1) has no entry point.
  bool empty = g.cur_element_count == 0;
  if (!(g.mult_ > 0) || !(g.mult_ < 100) || g.ef_construction_ == 0 || g.maxlevel_ > 64 ||
      (empty ? g.maxlevel_ != -1 : g.maxlevel_ < 0 || g.enterpoint_node_ >= g.cur_element_count) ||
      saved_max < g.cur_element_count)
    return bad_graph("implausible header");
  if (g.cur_element_count > in.remaining() / g.size_data_per_element_)
    return bad_graph("more points than bytes");
  g.max_elements_ = std::max<std::size_t>(g.cur_element_count, 1);
  g.data_size_ = space.get_data_size();
  g.fstdistfunc_ = space.get_dist_func();
  g.dist_func_param_ = space.get_dist_func_param();
  g.size_links_per_element_ =
      g.maxM_ * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  g.size_links_level0_ = links0;
  g.revSize_ = 1.0 / g.mult_;
  g.ef_ = 10;
  g.num_deleted_ = 0;
  g.element_levels_.assign(g.max_elements_, 0);
  g.data_level0_memory_ = static_cast<char*>(malloc(g.max_elements_ * g.size_data_per_element_));
  g.linkLists_ = static_cast<char**>(calloc(g.max_elements_, sizeof(void*)));
  if (!g.data_level0_memory_ || !g.linkLists_) return bad_graph("out of memory");
  advise_huge_pages(g);  // before the read below faults the pages in
  std::vector<std::mutex>(g.max_elements_).swap(g.link_list_locks_);
  std::vector<std::mutex>(graph_t::max_update_element_locks).swap(g.link_list_update_locks_);
  g.visited_list_pool_ = new hnswlib::VisitedListPool(1, g.max_elements_);
  if (auto st = in.read(g.data_level0_memory_, g.cur_element_count * g.size_data_per_element_);
      !st.ok())
    return st;
  for (std::size_t i = 0; i < g.cur_element_count; ++i) {
    hnswlib::linklistsizeint size = 0;
    if (auto st = read_pod(in, size); !st.ok()) return st;
    if (size == 0) continue;
    if (size % g.size_links_per_element_ != 0 || size > in.remaining() ||
        size / g.size_links_per_element_ > static_cast<std::size_t>(g.maxlevel_))
      return bad_graph("bad link list size");
    g.element_levels_[i] = static_cast<int>(size / g.size_links_per_element_);
    g.linkLists_[i] = static_cast<char*>(malloc(size));
    if (!g.linkLists_[i]) return bad_graph("out of memory");
    if (auto st = in.read(g.linkLists_[i], size); !st.ok()) return st;
  }
  if (in.remaining() != 0) return bad_graph("bytes after the graph");
  for (std::size_t i = 0; i < g.cur_element_count; ++i) {
    g.label_lookup_[g.getExternalLabel(static_cast<hnswlib::tableint>(i))] =
        static_cast<hnswlib::tableint>(i);
    if (g.isMarkedDeleted(static_cast<hnswlib::tableint>(i))) ++g.num_deleted_;
  }
  return status::success();
}

}  // namespace

expected<std::unique_ptr<hnsw_graph>> hnsw_graph::load(byte_source& in, distance_kind distance,
                                                       std::uint32_t dimension,
                                                       float update_probability,
                                                       std::size_t flat_limit) {
  std::unique_ptr<hnsw_graph> out(new hnsw_graph());
  auto& d = *out->impl_;
  d.space = make_space(distance, dimension);
  d.dimension = dimension;
  d.update_probability = update_probability;
  d.flat_limit = flat_limit;
  char first[sizeof flat_magic] = {};
  if (auto st = in.read(first, sizeof first); !st.ok()) return st;
  if (std::memcmp(first, flat_magic, sizeof first) == 0) {
    if (auto st = load_flat(in, dimension, d.m, d.ef_construction, d.state, d.flat); !st.ok())
      return st;
    d.flat_capacity = std::max<std::size_t>(d.state.size(), 1);
    return out;
  }
  // An empty graph whose members the destructor can free at any point of the load.
  auto graph = std::make_unique<graph_t>(d.space.get());
  graph->cur_element_count = 0;
  graph->data_level0_memory_ = nullptr;
  graph->linkLists_ = nullptr;
  graph->visited_list_pool_ = nullptr;
  std::size_t first_word = 0;
  std::memcpy(&first_word, first, sizeof first_word);
  status st;
  try {
    st = load_hnsw(in, first_word, dimension, *d.space, *graph);
  } catch (const std::exception& e) {
    st = internal_error("hnsw load failed", e);
  }
  if (!st.ok()) {
    // The destructor walks cur_element_count link lists: only once they exist.
    if (!graph->linkLists_ || graph->element_levels_.size() < graph->cur_element_count)
      graph->cur_element_count = 0;
    return st;
  }
  d.graph = std::move(graph);
  auto& g = *d.graph;
  d.m = static_cast<std::uint32_t>(g.M_);
  d.ef_construction = static_cast<std::uint32_t>(g.ef_construction_);
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
    if (impl_->graph) advise_huge_pages(*impl_->graph);
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
  advise_huge_pages(*impl_->graph);
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
    advise_huge_pages(*impl_->graph);
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
  // Level 0 and the vectors: the points'. The capacity past them is allocated but
  // never touched, so it takes no memory until points arrive.
  std::size_t bytes = g.cur_element_count * g.size_data_per_element_;
  bytes += g.max_elements_ * (sizeof(void*) + sizeof(int));  // link list pointers, levels
  bytes += g.max_elements_ * sizeof(std::mutex);             // per-element locks
  bytes += g.max_elements_ * sizeof(hnswlib::vl_type);       // visited list
  bytes += graph_t::max_update_element_locks * sizeof(std::mutex);
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id)
    bytes += static_cast<std::size_t>(g.element_levels_[id]) * g.size_links_per_element_;
  bytes += g.label_lookup_.size() * (sizeof(hnsw_label) + sizeof(hnswlib::tableint) + 16);
  bytes += d.label_of.capacity() * sizeof(std::uint32_t);
  return bytes;
}

}  // namespace quiver::detail
