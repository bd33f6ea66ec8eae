#include "actors/index/replica_set.hpp"

#include <algorithm>

namespace quiver {

replica_set::assignment replica_set::assign(const std::vector<std::string>& replicas,
                                            const std::vector<std::string>& in_sync) {
  assignment out;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (std::find(replicas.begin(), replicas.end(), it->first) != replicas.end()) {
      ++it;
      continue;
    }
    it->second.listed = false;
    if (it->second.in_sync || it->second.leaving) {
      if (!it->second.leaving) {
        it->second.leaving = true;
        out.leave.push_back(it->first);
      }
      ++it;
      continue;
    }
    auto name = it->first;
    it = peers_.erase(it);
    for (auto t : release(name)) out.done.push_back(t);
  }
  for (auto& r : replicas) {
    auto& p = peers_[r];
    p.listed = true;
    bool member = std::find(in_sync.begin(), in_sync.end(), r) != in_sync.end();
    // Only a confirmed leave takes a member out.
    if (!member) {
      if (p.in_sync && !p.leaving) out.rejoin.push_back(r);
      continue;
    }
    if (p.in_sync) continue;
    p.in_sync = true;
    p.joining = p.join_asked = false;
  }
  return out;
}

replica_set::ticket replica_set::begin(seq_no last) {
  write w;
  w.last = last;
  for (auto& [name, p] : peers_)
    if (p.in_sync || p.joining || p.leaving) w.awaiting.insert(name);
  auto t = next_++;
  writes_.emplace(t, std::move(w));
  return t;
}

std::uint32_t replica_set::in_sync_copies() const {
  std::uint32_t n = 1;
  for (auto& [name, p] : peers_)
    if (p.in_sync && !p.leaving) ++n;
  return n;
}

replica_set::progress replica_set::local_done(ticket t) {
  auto it = writes_.find(t);
  if (it == writes_.end()) return progress::abandoned;
  it->second.local = true;
  if (!it->second.awaiting.empty()) return progress::waiting;
  bool enough = it->second.copies >= quorum_;
  writes_.erase(it);
  return enough ? progress::complete : progress::short_of_quorum;
}

bool replica_set::take_short(ticket t) { return short_.erase(t) > 0; }

void replica_set::finish(ticket t, const write& w) {
  if (w.copies < quorum_) short_.insert(t);
}

std::vector<replica_set::ticket> replica_set::acked(const std::string& node, seq_no last,
                                                    seq_no stamped) {
  auto p = peers_.find(node);
  if (p == peers_.end()) return {};
  auto& peer = p->second;
  peer.heard = true;
  if (peer.acked < last) peer.acked = last;
  if (!peer.in_sync && !peer.joining && !peer.leaving) {
    peer.joining = true;
    peer.join_asked = false;
    peer.join_from = stamped;
  }
  return release(node, peer.acked, true);
}

bool replica_set::wants_join(const std::string& node) const {
  auto p = peers_.find(node);
  return p != peers_.end() && p->second.joining && !p->second.join_asked &&
         !(p->second.acked < p->second.join_from);
}

void replica_set::join_requested(const std::string& node) {
  if (auto p = peers_.find(node); p != peers_.end()) p->second.join_asked = true;
}

void replica_set::joined(const std::string& node) {
  auto p = peers_.find(node);
  if (p == peers_.end() || !p->second.joining) return;
  p->second.in_sync = true;
  p->second.joining = p->second.join_asked = false;
}

void replica_set::join_failed(const std::string& node) {
  auto p = peers_.find(node);
  if (p == peers_.end()) return;
  p->second.join_asked = false;
}

replica_set::failure replica_set::failed(const std::string& node) {
  failure out;
  auto p = peers_.find(node);
  if (p == peers_.end() || p->second.leaving) return out;
  auto& peer = p->second;
  if (peer.in_sync || (peer.joining && peer.join_asked)) {
    // A join in flight may land: writes keep waiting until a leave is confirmed
    // (joined() no longer makes it a member).
    peer.leaving = true;
    peer.joining = peer.join_asked = false;
    out.leave = true;
    return out;
  }
  peer.joining = false;
  out.done = release(node);
  return out;
}

replica_set::hold replica_set::hold_failure(const std::string& node, bool unreached) {
  auto p = peers_.find(node);
  if (p == peers_.end()) return hold::no;
  auto& peer = p->second;
  if (!peer.in_sync || peer.leaving || (peer.heard && !unreached) ||
      peer.grace == grace_state::over)
    return hold::no;
  for (auto& [t, w] : writes_)
    if (w.awaiting.count(node) && peer.held_through < w.last) peer.held_through = w.last;
  if (peer.grace == grace_state::running) return hold::already;
  peer.grace = grace_state::running;
  return hold::start;
}

bool replica_set::grace_over(const std::string& node) {
  auto p = peers_.find(node);
  if (p == peers_.end()) return false;
  auto& peer = p->second;
  peer.grace = grace_state::over;
  if (!peer.in_sync || peer.leaving) return false;
  // Writes sent later are on their way as usual; one held is owed by now.
  for (auto& [t, w] : writes_)
    if (w.awaiting.count(node) && !(peer.held_through < w.last)) return true;
  return false;
}

std::vector<replica_set::ticket> replica_set::left(const std::string& node) {
  auto p = peers_.find(node);
  if (p != peers_.end()) {
    p->second.in_sync = p->second.leaving = false;
    p->second.joining = p->second.join_asked = false;
    if (!p->second.listed) peers_.erase(p);
  }
  return release(node);
}

std::vector<std::string> replica_set::nodes() const {
  std::vector<std::string> out;
  for (auto& [name, p] : peers_) out.push_back(name);
  return out;
}

bool replica_set::leaving(const std::string& node) const {
  auto p = peers_.find(node);
  return p != peers_.end() && p->second.leaving;
}

std::vector<replica_set::ticket> replica_set::abandon() {
  std::vector<ticket> out;
  for (auto& [t, w] : writes_) out.push_back(t);
  writes_.clear();
  short_.clear();
  for (auto& [name, p] : peers_) p.leaving = p.joining = p.join_asked = false;
  return out;
}

bool replica_set::in_sync(const std::string& node) const {
  auto p = peers_.find(node);
  return p != peers_.end() && p->second.in_sync;
}

bool replica_set::joining(const std::string& node) const {
  auto p = peers_.find(node);
  return p != peers_.end() && p->second.joining;
}

std::vector<replica_set::ticket> replica_set::release(const std::string& node, seq_no through,
                                                      bool acked) {
  std::vector<ticket> done;
  for (auto it = writes_.begin(); it != writes_.end();) {
    auto& w = it->second;
    if (!(through < w.last) && w.awaiting.erase(node) > 0 && acked) ++w.copies;
    if (w.local && w.awaiting.empty()) {
      finish(it->first, w);
      done.push_back(it->first);
      it = writes_.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

}  // namespace quiver
