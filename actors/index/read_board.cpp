#include "actors/index/read_board.hpp"

#include "common/vector_validation.hpp"

namespace quiver {

void read_slot::serve(std::shared_ptr<const shard_index> index) {
  std::lock_guard lock(mutex_);
  if (!closed_) index_ = std::move(index);
}

void read_slot::withdraw() {
  std::lock_guard lock(mutex_);
  index_.reset();
}

void read_slot::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  index_.reset();
}

std::shared_ptr<const shard_index> read_slot::current() const {
  std::lock_guard lock(mutex_);
  return index_;
}

std::shared_ptr<read_slot> read_board::open(const std::string& tenant, const std::string& index) {
  auto slot = std::make_shared<read_slot>();
  std::unique_lock lock(mutex_);
  auto& at = slots_[tenant][index];
  if (at) at->close();
  at = slot;
  return slot;
}

void read_board::close(const std::string& tenant, const std::string& index) {
  std::unique_lock lock(mutex_);
  auto of = slots_.find(tenant);
  if (of == slots_.end()) return;
  auto it = of->second.find(index);
  if (it == of->second.end()) return;
  it->second->close();
  of->second.erase(it);
  if (of->second.empty()) slots_.erase(of);
}

std::size_t read_board::size() const {
  std::shared_lock lock(mutex_);
  std::size_t n = 0;
  for (const auto& [tenant, indexes] : slots_) n += indexes.size();
  return n;
}

std::shared_ptr<const shard_index> read_board::find(const tenant_id& tenant,
                                                    const std::string& index) const {
  std::shared_lock lock(mutex_);
  auto of = slots_.find(tenant.value);
  if (of == slots_.end()) return nullptr;
  auto it = of->second.find(index);
  if (it == of->second.end()) return nullptr;
  return it->second->current();
}

std::optional<expected<search_reply>> read_board::try_search(const search_request& r) const {
  auto shard = find(r.tenant, r.index);
  if (!shard) return std::nullopt;
  const auto& p = shard->params();
  if (auto st = validate_search(r.query, r.options, p.dimension, p.distance, 0); !st.ok())
    return expected<search_reply>(std::move(st));
  auto hits = shard->try_search(r.query, r.options);
  if (!hits) return std::nullopt;
  answered_.fetch_add(1, std::memory_order_relaxed);
  if (!*hits) return expected<search_reply>(std::move(hits->error()));
  return expected<search_reply>(search_reply{std::move(**hits), {}});
}

std::optional<read_board::batch_outcome> read_board::try_search_batch(
    const search_batch_request& r) const {
  auto shard = find(r.tenant, r.index);
  if (!shard) return std::nullopt;
  const auto& p = shard->params();
  batch_outcome out;
  // Every query is checked first, so that details.index names the first bad one.
  for (std::size_t i = 0; i < r.queries.size(); ++i)
    if (auto st = validate_search(r.queries[i], r.options[i], p.dimension, p.distance, i);
        !st.ok()) {
      out.reply = std::move(st);
      out.done = r.queries.size();
      return out;
    }
  auto& results = out.reply->results;
  for (; out.done < r.queries.size(); ++out.done) {
    auto hits = shard->try_search(r.queries[out.done], r.options[out.done]);
    if (!hits) break;
    if (!*hits) {
      out.reply = std::move(hits->error());
      out.done = r.queries.size();
      return out;
    }
    results.push_back(std::move(**hits));
  }
  answered_.fetch_add(out.done, std::memory_order_relaxed);
  return out;
}

}  // namespace quiver
