#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "actors/index/payload_index.hpp"
#include "common/env.hpp"
#include "common/ids.hpp"
#include "common/index_params.hpp"
#include "common/log_record.hpp"
#include "common/records.hpp"
#include "common/status.hpp"

namespace quiver {

namespace detail {
class hnsw_graph;
using raw_hits = std::vector<std::pair<float, std::size_t>>;
}  // namespace detail

// Tuning of one shard_index; the defaults suit a 2-core machine.
struct shard_index_options {
  // First graph capacity; it doubles on demand, so an empty index costs little.
  std::size_t initial_capacity = 64;
  // Up to this many points a shard is searched exactly from a flat array and no
  // hnswlib graph exists (see hnsw_graph): small indexes cost little and are exact.
  std::size_t flat_limit = 1024;
  // Threads for inserting one large batch (hnswlib inserts distinct labels concurrently).
  unsigned insert_threads = 2;
  // Items applied per exclusive-lock section of a batch: searches interleave between
  // sections instead of waiting for a whole 10,000-item batch.
  std::size_t batch_section = 256;
  // Share of a replaced vector's neighbours whose links are rebuilt. 1.0 costs about
  // ten inserts per replace; lower values trade a little recall under churn for speed.
  float update_probability = 0.25f;
};

// The vectors, ids and metadata of one shard replica, over an hnswlib graph.
// The outcome of an applied batch.
struct batch_result {
  seq_no seq;               // of the last record applied
  std::size_t applied = 0;  // items after intra-batch dedup
};

// One per shard replica, owned by its index actor. Mutations come from one thread at
// a time (the actor's mailbox serializes them); const methods may run on any thread
// concurrently with each other and with the writer: a reader-writer lock keeps a
// reader from seeing a half-applied item.
class shard_index {
 public:
  explicit shard_index(index_params params, shard_index_options options = {});
  ~shard_index();
  shard_index(const shard_index&) = delete;
  shard_index& operator=(const shard_index&) = delete;

  const index_params& params() const { return params_; }

  // Inserts or replaces one vector. Metadata: empty keeps what is stored, "{}" clears.
  // Returns the sequence number of the applied mutation.
  expected<seq_no> upsert(upsert_item item);
  // Validates the whole batch first (the first bad item rejects it, nothing applied),
  // then applies it with intra-batch last-write-wins.
  expected<batch_result> upsert_batch(std::vector<upsert_item> items);
  // Returns whether the id existed.
  bool remove(const std::string& id);
  // Returns how many of the ids existed.
  std::size_t remove_batch(const std::vector<std::string>& ids);

  // Applies records from the shard log, in their order (the write path after the log
  // made them durable, and recovery). Afterwards applied_seq() is the last record's
  // seq. `removed` counts deletes of ids that existed.
  struct logged_result {
    std::size_t upserted = 0;
    std::size_t removed = 0;
  };
  expected<logged_result> apply_logged(std::vector<log_record>&& records);

  std::optional<vector_record> get(const std::string& id) const;
  // Up to `limit` ids greater than `after` (bytewise), ascending.
  id_page ids_after(const std::string& after, std::size_t limit) const;
  expected<std::vector<search_hit>> search(const std::vector<float>& query,
                                           const search_options& options) const;
  // The same, but nothing (at once) when a mutation holds the shard: the caller
  // retries later instead of blocking its thread.
  std::optional<expected<std::vector<search_hit>>> try_search(const std::vector<float>& query,
                                                              const search_options& options) const;

  // Payload indexes (payload_indexes): a filter reads an indexed field's column
  // instead of parsing metadata; results are the same. They return whether
  // anything changed and count as mutations (applied_seq) only through
  // apply_logged, like every write.
  bool set_field_index(const field_def& def);
  bool drop_field_index(const std::string& field);
  std::vector<field_def> field_indexes() const;
  std::optional<field_type> field_type_of(const std::string& field) const;

  std::size_t count() const;
  // How many live vectors the filter matches (all of them for an empty one).
  std::size_t count_matching(const metadata_filter& filter) const;
  // The ids of the live vectors it matches, ascending.
  std::vector<std::string> ids_matching(const metadata_filter& filter) const;
  std::size_t memory_bytes() const;
  // What quotas count: 4 bytes per vector component plus the metadata text.
  std::uint64_t stored_bytes() const;
  // The stored metadata's size, or nothing when the id is not here.
  std::optional<std::size_t> metadata_size(const std::string& id) const;
  seq_no applied_seq() const;

  // Writes a snapshot covering applied_seq() to `path`, atomically (temp file,
  // fsync, rename). Searches go on meanwhile; mutations wait. Format: see
  // shard_index_snapshot.cpp.
  status save_snapshot(env& e, const std::string& path) const;
  // The same, to path_for(the seq it covers). Mutations wait only while the shard
  // is read: `captured` runs once it no longer is, before the copy and the fsync.
  expected<seq_no> save_snapshot(env& e, const std::function<std::string(seq_no)>& path_for,
                                 const std::function<void()>& captured) const;
  // Rebuilds a shard from a snapshot. Rejects damaged files (checksum), unknown
  // future versions, and reads every version this code ever wrote.
  static expected<std::unique_ptr<shard_index>> load_snapshot(env& e, const std::string& path,
                                                              shard_index_options options = {});

 private:
  using label_t = std::size_t;
  struct slot {
    const std::string* id = nullptr;  // key in by_id_; null while the label is free
    metadata_json metadata;
    float norm = 1;  // cosine: the vector's norm, to give back the vector as given
  };
  struct prepared {
    upsert_item* item;
    label_t label;
    bool is_new;
    std::vector<float> normalized;  // cosine only: the vector as the graph stores it
  };

  // The vector as the graph stores it: `v` itself, or (cosine) a normalized copy
  // in `buffer`. Sets `norm` (1 unless cosine).
  const float* to_stored(const std::vector<float>& v, std::vector<float>& buffer,
                         float& norm) const;
  status ensure_graph(std::size_t needed_capacity);
  status apply_section(std::vector<upsert_item>& items, std::size_t begin, std::size_t end);
  bool remove_locked(const std::string& id);
  float to_api_distance(float raw) const;
  expected<std::vector<search_hit>> search_locked(const float* query,
                                                  const search_options& options) const;
  void fill_hit(search_hit& hit, label_t label, const search_options& options) const;
  detail::raw_hits unfiltered_search(const float* q, const search_options& options,
                                     const std::unordered_set<label_t>& excluded,
                                     std::size_t want) const;
  detail::raw_hits filtered_search(const float* q, const search_options& options,
                                   const std::unordered_set<label_t>& excluded,
                                   std::size_t want) const;
  // Whether walking the graph beats testing every vector, for `ef` matches.
  bool walk_pays(payload_indexes::matcher& matcher, std::size_t ef) const;
  bool set_field_index_locked(const field_def& def);

  const index_params params_;
  const shard_index_options options_;
  mutable std::shared_mutex mutex_;
  std::unique_ptr<detail::hnsw_graph> graph_;  // created on first insert
  std::map<std::string, label_t> by_id_;       // ordered: ids_after() pages by key
  std::vector<slot> slots_;                    // indexed by label
  std::vector<label_t> free_labels_;
  payload_indexes payload_;
  std::uint64_t applied_seq_ = 0;
};

}  // namespace quiver
