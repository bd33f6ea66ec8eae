#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/ids.hpp"

namespace quiver {

// A primary's replicas when each keeps its own log, as plain state: which of
// them a write waits for before its client hears of it, and when to ask the
// coordinator to move one into or out of the shard's in-sync set. The index
// actor sends the records and the requests and tells this class the answers.
//
// A write waits for every in-sync replica, and for every replica that is
// joining. A replica outside the set whose log takes a write (its log was
// contiguous with it) is joining from then on: later writes wait for it too, and
// once it has acknowledged everything stamped by then it may join the set (it
// holds every write acknowledged so far, and every later one waits for it). A
// replica of the set that fails a write must leave the set before any write
// waiting for it is acknowledged; so must a joining one whose join was asked
// for (the coordinator may hold it already); one not yet asked stops joining.
class replica_set {
 public:
  using ticket = std::uint64_t;

  // The role's replicas (every node the primary sends to: hosts of a replica
  // and members of the in-sync set) and the coordinator's in-sync set. It adds
  // members, never removes one: a role sent before a join was confirmed may
  // arrive after it, and one that no longer lists a member may not be durable
  // yet. A replica no longer listed stops being waited for at once when it is
  // not a member (`done`: writes that may be complete now); a member no longer
  // listed must leave first (`leave`, as failed() would say).
  struct assignment {
    std::vector<ticket> done;
    std::vector<std::string> leave;
    // Members here that the coordinator's set lacks (it dropped a node it lost
    // that is back): every write waited for them, so they may be added again.
    std::vector<std::string> rejoin;
  };
  assignment assign(const std::vector<std::string>& replicas,
                    const std::vector<std::string>& in_sync);

  // How many copies (this one included) a write must reach besides every
  // in-sync replica: with fewer members in the set, writes are refused
  // (can_write) and one that ends up with fewer copies fails. 1: whatever the
  // set holds.
  void set_quorum(std::uint32_t copies) { quorum_ = copies < 1 ? 1 : copies; }
  std::uint32_t quorum() const { return quorum_; }
  // Copies a write begun now would wait for: this one and every member.
  std::uint32_t in_sync_copies() const;
  bool can_write() const { return in_sync_copies() >= quorum_; }

  // A write up to `last` is logged here and sent to every replica: the ticket to
  // report its progress with.
  ticket begin(seq_no last);
  enum class progress { complete, waiting, abandoned, short_of_quorum };
  // Applied here. complete: nothing else holds it (answer its client now);
  // abandoned: the role ended before its replicas confirmed it (fail it);
  // short_of_quorum: no one else is awaited, but fewer than quorum() copies
  // acknowledged it (members left the set meanwhile: fail it).
  progress local_done(ticket t);
  // For each ticket a call here reported done: whether it ended short of the
  // quorum (fail it rather than answer). Asked once per ticket.
  bool take_short(ticket t);
  // `node` has every record up to `last` durably. Returns the writes that are now
  // complete. `stamped`: the primary's newest seq.
  std::vector<ticket> acked(const std::string& node, seq_no last, seq_no stamped);
  // Whether `node` should be asked into the set now (once per joining).
  bool wants_join(const std::string& node) const;
  void join_requested(const std::string& node);
  // The coordinator made it a member (durably).
  void joined(const std::string& node);
  // The coordinator refused the join: it joins again from the start.
  void join_failed(const std::string& node);

  // What a failed write (or an unreachable replica) means for `node`.
  struct failure {
    // Ask the coordinator to remove it from the set: it is a member, or its
    // join may be one. Until the leave is confirmed, writes wait for it.
    bool leave = false;
    // Writes that no longer wait for it (a joining replica whose join was not
    // asked for yet just stops joining): complete now.
    std::vector<ticket> done;
  };
  failure failed(const std::string& node);
  // The coordinator removed it (durably): the writes that are now complete.
  std::vector<ticket> left(const std::string& node);
  // Whether a leave for `node` is out.
  bool leaving(const std::string& node) const;
  // Every write still waiting (the epoch ended: they fail), forgotten.
  std::vector<ticket> abandon();

  // A member is given a while before a failure takes it out of the set when
  // the primary cannot reach it yet (`unreached`: its node has not reported
  // the replica's actor, as for a new index) or has not heard from it in this
  // role (a new primary, whose replica still agrees with its log): its follow
  // ends by telling the primary how far it holds, which covers the writes it
  // missed. Whether a failure of `node` should wait: `start` the first time
  // (the caller arms a timer that calls grace_over), `already` while that
  // runs; `no` otherwise, and after the while, which is given once per role.
  enum class hold { no, start, already };
  hold hold_failure(const std::string& node, bool unreached);
  // The while is over: whether `node` must be failed now (a write that waited
  // for it when a failure was held still does).
  bool grace_over(const std::string& node);

  // Every replica it sends to.
  std::vector<std::string> nodes() const;
  bool in_sync(const std::string& node) const;
  bool joining(const std::string& node) const;
  std::size_t waiting() const { return writes_.size(); }

 private:
  enum class grace_state { none, running, over };
  struct peer {
    bool in_sync = false;
    bool joining = false;
    bool join_asked = false;
    bool leaving = false;
    bool listed = true;                     // in the latest assignment
    bool heard = false;                     // acknowledged something in this role
    grace_state grace = grace_state::none;  // hold_failure's while
    seq_no held_through;                    // the newest write waiting when a failure was held
    seq_no join_from;                       // joining: the newest seq stamped when it started
    seq_no acked;
  };
  struct write {
    seq_no last;
    bool local = false;
    std::uint32_t copies = 1;  // this log's, then every replica's that acknowledged it
    std::set<std::string> awaiting;
  };
  // Removes `node` from the awaited set of every write up to `through` (`acked`:
  // it holds them, a copy each); returns the writes that completes.
  std::vector<ticket> release(const std::string& node, seq_no through = seq_no{~0ull},
                              bool acked = false);
  // A write no one else is awaited for: done (short_ if it lacks copies).
  void finish(ticket t, const write& w);

  std::map<std::string, peer> peers_;
  std::map<ticket, write> writes_;
  std::set<ticket> short_;  // done, short of the quorum, not yet taken
  std::uint32_t quorum_ = 1;
  ticket next_ = 1;
};

}  // namespace quiver
