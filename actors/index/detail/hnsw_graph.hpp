#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/index_params.hpp"
#include "common/status.hpp"

namespace quiver::detail {

using hnsw_label = std::size_t;
// (raw distance as hnswlib computes it, label), nearest first.
using raw_hits = std::vector<std::pair<float, hnsw_label>>;

// Adapter over hnswlib 0.6.2's HierarchicalNSW; the only code that includes hnswlib.
// One per shard_index, which provides the synchronization: const methods may run
// concurrently with each other, never with a non-const one. Every hnswlib exception
// is caught here and turned into a status.
//
// A small graph starts flat: up to `flat_limit` points are kept in one array and
// searched exactly (hnswlib 0.6.2 allocates 65,536 mutexes, 2.6 MB, per graph
// whatever its size, which would cap a node at a few thousand small indexes).
// Growing past the limit builds the HNSW graph from the flat points once.
class hnsw_graph {
 public:
  // Distances are hnswlib's: squared L2 for euclidean, 1 - <a,b> for cosine and dot.
  // update_probability: the share of a replaced point's neighbours whose links are
  // recomputed (hnswlib's addPoint uses 1.0).
  hnsw_graph(distance_kind distance, std::uint32_t dimension, std::uint32_t m,
             std::uint32_t ef_construction, std::size_t capacity, float update_probability,
             std::size_t flat_limit = 0);
  ~hnsw_graph();
  hnsw_graph(const hnsw_graph&) = delete;
  hnsw_graph& operator=(const hnsw_graph&) = delete;

  // Inserts `label`, replaces its vector, or revives it when it was deleted.
  // REQUIRES: a new label fits in capacity().
  status add(hnsw_label label, const float* vector);
  // Adds points on `threads` threads at once (hnswlib supports concurrent inserts of
  // distinct labels). Returns one status per point.
  std::vector<status> add_parallel(const std::vector<std::pair<hnsw_label, const float*>>& points,
                                   unsigned threads);
  status mark_deleted(hnsw_label label);
  status resize(std::size_t capacity);

  // Copies the stored vector of a live label into out[0..dimension).
  bool read(hnsw_label label, float* out) const;
  // Approximate k nearest with search breadth ef (≥ k), skipping deleted points.
  raw_hits search(const float* query, std::size_t k, std::size_t ef) const;
  // How a filtered walk gets past points the filter rejects.
  enum class filter_walk {
    // Measures them and walks on through them: for costly tests (each one costs
    // what a distance does), or filters most points pass.
    through,
    // Tests their neighbours instead (ACORN-1's two hops) and measures accepted
    // points only: for cheap tests (payload index columns).
    bridged,
  };
  // Approximate k nearest among live points for which accept(label) holds (it
  // must reject free labels). Selective filters cost more; the walk may still
  // return fewer than k when the accepted points it reached are fewer. Flat: exact.
  raw_hits search_filtered(const float* query, std::size_t k, std::size_t ef,
                           const std::function<bool(hnsw_label)>& accept, filter_walk walk) const;
  // Exact k nearest among the given labels (live ones; others are skipped).
  raw_hits exact_among(const float* query, std::size_t k,
                       const std::vector<hnsw_label>& labels) const;
  // Exact k nearest among live points for which skip(label) is false.
  raw_hits exact(const float* query, std::size_t k,
                 const std::function<bool(hnsw_label)>& skip) const;

  std::size_t capacity() const;
  std::size_t memory_bytes() const;
  bool is_flat() const;

  // Where save() writes, in order.
  class byte_sink {
   public:
    virtual ~byte_sink() = default;
    virtual status write(const char* data, std::size_t n) = 0;
  };
  // Writes the graph in hnswlib 0.6.2's saveIndex() layout (which hnswlib's
  // loadIndex() reads), straight from the graph's memory: hnswlib's own writer
  // takes a file path only. A flat graph is saved in a format of its own, told
  // apart by its first 8 bytes. saved_size() is what save() writes now.
  // REQUIRES: no concurrent mutation.
  std::uint64_t saved_size() const;
  status save(byte_sink& out) const;

  // Where load() reads what save() wrote, in order.
  class byte_source {
   public:
    virtual ~byte_source() = default;
    // Exactly n bytes into dst; an error when fewer are left or reading fails.
    virtual status read(char* dst, std::size_t n) = 0;
    virtual std::uint64_t remaining() const = 0;
  };
  // Reads the whole source (save()'s format) straight into the graph's memory:
  // hnswlib's own loadIndex() takes a file of its own by path. Every size is
  // checked against what the source holds before it is allocated, so damaged
  // input fails cleanly; the caller checks the checksum. The graph's capacity is
  // its point count (it grows on the next insert).
  static expected<std::unique_ptr<hnsw_graph>> load(byte_source& in, distance_kind distance,
                                                    std::uint32_t dimension,
                                                    float update_probability,
                                                    std::size_t flat_limit = 0);

 private:
  hnsw_graph();
  // Builds the HNSW graph from the flat points (leaving flat mode).
  status build_from_flat(std::size_t capacity);
  raw_hits walk_through(const float* query, std::size_t k, std::size_t ef,
                        const std::function<bool(hnsw_label)>& accept) const;
  raw_hits walk_bridged(const float* query, std::size_t k, std::size_t ef,
                        const std::function<bool(hnsw_label)>& accept) const;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace quiver::detail
