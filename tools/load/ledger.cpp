#include "tools/load/ledger.hpp"

#include <algorithm>

namespace quiver::load {

namespace {
const std::vector<id_state>& absent_only() {
  static const std::vector<id_state> v{id_state{}};
  return v;
}
}  // namespace

void ledger::begin(const std::string& index, const std::string& id) {
  states_.try_emplace({index, id}, absent_only());
}

void ledger::acknowledged(const std::string& index, const std::string& id, const id_state& next) {
  states_[{index, id}] = {next};
  ++acked_;
}

void ledger::uncertain(const std::string& index, const std::string& id, const id_state& next) {
  auto& v = states_.try_emplace({index, id}, absent_only()).first->second;
  if (std::find(v.begin(), v.end(), next) == v.end()) v.push_back(next);
  ++uncertain_;
}

const std::vector<id_state>& ledger::possible(const std::string& index,
                                              const std::string& id) const {
  auto it = states_.find({index, id});
  return it == states_.end() ? absent_only() : it->second;
}

bool ledger::resolve(const std::string& index, const std::string& id, const id_state& seen) {
  auto& v = states_.try_emplace({index, id}, absent_only()).first->second;
  if (std::find(v.begin(), v.end(), seen) == v.end()) return false;
  v = {seen};
  return true;
}

bool ledger::certain(const std::string& index, const std::string& id) const {
  return possible(index, id).size() == 1;
}

}  // namespace quiver::load
