#pragma once
// The harness's record of every write it sent, per (index, id): the set of states
// the id may be in. An acknowledged write narrows the set to its own result; a
// write whose outcome is unknown (no response, a 5xx) adds its result to the set.
// Verification reads every id back and checks its state is one of the set:
// anything else is an acknowledged write lost (or a phantom write).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace quiver::load {

struct id_state {
  bool present = false;
  std::uint64_t vector_key = 0;  // the corpus_model key the vector was made from
  std::string metadata;          // JSON text (present only)
  bool operator==(const id_state& o) const {
    return present == o.present &&
           (!present || (vector_key == o.vector_key && metadata == o.metadata));
  }
};

class ledger {
 public:
  using key = std::pair<std::string, std::string>;  // (index, id)

  // Before sending a write: the id is known to the ledger (ids start absent).
  void begin(const std::string& index, const std::string& id);
  // The write was acknowledged (2xx): the id is now exactly `next`.
  void acknowledged(const std::string& index, const std::string& id, const id_state& next);
  // No answer, or an answer that does not say whether it applied.
  void uncertain(const std::string& index, const std::string& id, const id_state& next);

  const std::vector<id_state>& possible(const std::string& index, const std::string& id) const;
  // Narrows an uncertain id to what was read back (it must be one of the possible states).
  bool resolve(const std::string& index, const std::string& id, const id_state& seen);
  bool certain(const std::string& index, const std::string& id) const;

  const std::map<key, std::vector<id_state>>& entries() const { return states_; }
  std::size_t acknowledged_writes() const { return acked_; }
  std::size_t uncertain_writes() const { return uncertain_; }

 private:
  std::map<key, std::vector<id_state>> states_;
  std::size_t acked_ = 0;
  std::size_t uncertain_ = 0;
};

}  // namespace quiver::load
