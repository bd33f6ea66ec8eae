#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/index/usage_book.hpp"
#include "common/log_record.hpp"
#include "common/status.hpp"

namespace quiver {

// One shard's part in its tenant's usage, and the admission of its writes
// against the tenant's quota. A write's exact change to the stored vectors and
// bytes is known when it is admitted: this tracks what the writes still in
// flight will leave behind for each id they touch, reserves a write's growth in
// the usage book before it is logged (so one over quota is refused whole and
// nothing of it is written), and commits or releases the reservation once the
// write is applied or left to a recovery.
class write_admission {
 public:
  // What the shard stores for an id now: the size of its metadata, or nothing.
  using stored_lookup = std::function<std::optional<std::size_t>(const std::string& id)>;

  write_admission() = default;
  // `book` outlives this; `vector_bytes`: what one vector takes (dimension × 4).
  write_admission(usage_book* book, std::string tenant, std::int64_t vector_bytes);
  write_admission(write_admission&& other) noexcept;
  write_admission& operator=(write_admission&& other) noexcept;
  write_admission(const write_admission&) = delete;
  write_admission& operator=(const write_admission&) = delete;
  // What the shard added to its tenant's usage goes with it.
  ~write_admission();

  // The change `records` (applied in order) make after the writes in flight, now
  // reserved; or quota_exceeded / unavailable from the book, reserving nothing.
  // On success the records join the writes in flight.
  expected<stored_usage> admit(const std::vector<log_record>& records, const stored_lookup& stored);
  // An admitted write (its ids, its change) was applied, or was not (failed).
  void settle(const std::vector<std::string>& ids, stored_usage change, bool applied);
  // An admitted write is durable but left to a recovery, which counts it.
  void release(stored_usage change);
  bool writes_in_flight() const { return !in_flight_.empty(); }

  // The shard is being rebuilt: what it held leaves the usage, which the book
  // knows to be incomplete until recovered() or quarantined().
  void recovering();
  // The rebuilt shard holds `contents`.
  void recovered(stored_usage contents);
  // Quarantined, the shard serves nothing, so it holds nothing.
  void quarantined() { counted(); }
  // Whether the shard counts in its node's usage book. In a cluster only a
  // primary does (each shard counted once; the coordinator adds up the nodes):
  // it starts counting with what it holds then (`contents`: a replica's
  // contribution is not kept up to date), and a replica stops.
  void set_counting(bool on, stored_usage contents);
  bool counting() const { return counting_; }
  stored_usage contribution() const { return contribution_; }

 private:
  struct projected {
    bool present = false;
    std::size_t metadata = 0;
    std::uint32_t writes = 0;  // in-flight writes touching the id
  };
  projected projection(const std::string& id, const stored_lookup& stored) const;
  void counted();
  void leave();

  usage_book* book_ = nullptr;
  std::string tenant_;
  std::int64_t vector_bytes_ = 0;
  stored_usage contribution_;
  bool counting_ = true;
  bool uncounted_ = false;
  std::unordered_map<std::string, projected> in_flight_;
};

}  // namespace quiver
