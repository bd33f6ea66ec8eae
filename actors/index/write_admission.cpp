#include "actors/index/write_admission.hpp"

#include <utility>

namespace quiver {

write_admission::write_admission(usage_book* book, std::string tenant, std::int64_t vector_bytes)
    : book_(book), tenant_(std::move(tenant)), vector_bytes_(vector_bytes) {}

write_admission::write_admission(write_admission&& other) noexcept
    : book_(std::exchange(other.book_, nullptr)),
      tenant_(std::move(other.tenant_)),
      vector_bytes_(other.vector_bytes_),
      contribution_(std::exchange(other.contribution_, {})),
      counting_(other.counting_),
      uncounted_(std::exchange(other.uncounted_, false)),
      in_flight_(std::move(other.in_flight_)) {}

write_admission& write_admission::operator=(write_admission&& other) noexcept {
  if (this == &other) return *this;
  leave();
  book_ = std::exchange(other.book_, nullptr);
  tenant_ = std::move(other.tenant_);
  vector_bytes_ = other.vector_bytes_;
  contribution_ = std::exchange(other.contribution_, {});
  counting_ = other.counting_;
  uncounted_ = std::exchange(other.uncounted_, false);
  in_flight_ = std::move(other.in_flight_);
  return *this;
}

write_admission::~write_admission() { leave(); }

void write_admission::leave() {
  if (!book_) return;
  if (counting_) book_->add(tenant_, {-contribution_.vectors, -contribution_.bytes});
  contribution_ = {};
  if (uncounted_) book_->uncounted_shards(tenant_, -1);
  uncounted_ = false;
}

write_admission::projected write_admission::projection(const std::string& id,
                                                       const stored_lookup& stored) const {
  if (auto it = in_flight_.find(id); it != in_flight_.end()) return it->second;
  projected p;
  if (auto size = stored(id)) {
    p.present = true;
    p.metadata = *size;
  }
  return p;
}

expected<stored_usage> write_admission::admit(const std::vector<log_record>& records,
                                              const stored_lookup& stored) {
  stored_usage change;
  std::unordered_map<std::string, projected> after;
  auto bytes = [&](const projected& p) {
    return p.present ? vector_bytes_ + static_cast<std::int64_t>(p.metadata) : 0;
  };
  for (const auto& r : records) {
    // Payload-index records name a field, not a vector.
    if (r.type != log_record_type::upsert && r.type != log_record_type::remove) continue;
    auto it = after.find(r.id);
    auto before = it != after.end() ? it->second : projection(r.id, stored);
    auto next = before;
    if (r.type == log_record_type::upsert) {
      next.present = true;
      // No metadata keeps what is stored; a new id then has none.
      next.metadata = !r.metadata.empty() ? r.metadata.size()
                      : before.present    ? before.metadata
                                          : 0;
    } else {
      next.present = false;
      next.metadata = 0;
    }
    change.vectors += (next.present ? 1 : 0) - (before.present ? 1 : 0);
    change.bytes += bytes(next) - bytes(before);
    after[r.id] = next;
  }
  if (auto st = book_->reserve(tenant_, change); !st.ok()) return st;
  for (auto& [id, p] : after) {
    auto& slot = in_flight_[id];
    auto writes = slot.writes;
    slot = p;
    slot.writes = writes + 1;
  }
  return change;
}

void write_admission::settle(const std::vector<std::string>& ids, stored_usage change,
                             bool applied) {
  if (applied && !counting_) {
    // The shard stopped counting (a replica now) while the write was out: its
    // reservation goes, and a later promotion counts what the shard holds.
    book_->release(tenant_, change);
  } else if (applied) {
    book_->commit(tenant_, change);
    contribution_.vectors += change.vectors;
    contribution_.bytes += change.bytes;
  } else {
    book_->release(tenant_, change);
  }
  for (const auto& id : ids) {
    auto it = in_flight_.find(id);
    if (it != in_flight_.end() && --it->second.writes == 0) in_flight_.erase(it);
  }
}

void write_admission::release(stored_usage change) { book_->release(tenant_, change); }

void write_admission::recovering() {
  if (counting_) book_->add(tenant_, {-contribution_.vectors, -contribution_.bytes});
  contribution_ = {};
  in_flight_.clear();
  if (!counting_) return;
  if (!uncounted_) {
    uncounted_ = true;
    book_->uncounted_shards(tenant_, 1);
  }
}

void write_admission::recovered(stored_usage contents) {
  contribution_ = contents;
  if (counting_) book_->add(tenant_, contribution_);
  counted();
}

void write_admission::set_counting(bool on, stored_usage contents) {
  if (on == counting_) return;
  if (on) {
    contribution_ = contents;
    book_->add(tenant_, contribution_);
  } else {
    book_->add(tenant_, {-contribution_.vectors, -contribution_.bytes});
    contribution_ = {};
    counted();
  }
  counting_ = on;
}

void write_admission::counted() {
  if (!uncounted_) return;
  uncounted_ = false;
  book_->uncounted_shards(tenant_, -1);
}

}  // namespace quiver
