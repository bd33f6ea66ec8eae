#include "actors/index/replica_set.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace quiver {
namespace {

using tickets = std::vector<replica_set::ticket>;

bool has(const tickets& v, replica_set::ticket t) {
  return std::find(v.begin(), v.end(), t) != v.end();
}

TEST(ReplicaSet, AWriteWaitsForItselfAndEveryInSyncReplica) {
  replica_set r;
  r.assign({"b", "c"}, {"a", "b"});  // c is outside the set
  auto t = r.begin(seq_no{5});
  EXPECT_TRUE(r.acked("c", seq_no{5}, seq_no{5}).empty());  // c does not count (yet)
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(t));
  auto done = r.acked("b", seq_no{5}, seq_no{5});
  EXPECT_TRUE(has(done, t));
  // Without replicas in sync, applying it here is all it takes.
  replica_set alone;
  alone.assign({"b"}, {"a"});
  EXPECT_EQ(alone.local_done(alone.begin(seq_no{1})), replica_set::progress::complete);
}

TEST(ReplicaSet, AnAckCoversEveryEarlierWrite) {
  replica_set r;
  r.assign({"b"}, {"b"});
  auto t1 = r.begin(seq_no{1});
  auto t2 = r.begin(seq_no{3});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(t1));
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(t2));
  auto done = r.acked("b", seq_no{3}, seq_no{3});
  EXPECT_TRUE(has(done, t1));
  EXPECT_TRUE(has(done, t2));
  EXPECT_EQ(r.waiting(), 0u);
}

TEST(ReplicaSet, AFailingMemberHoldsItsWritesUntilItHasLeft) {
  replica_set r;
  r.assign({"b", "c"}, {"b", "c"});
  auto t = r.begin(seq_no{2});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(t));
  EXPECT_TRUE(r.acked("c", seq_no{2}, seq_no{2}).empty());
  EXPECT_TRUE(r.failed("b").leave);
  EXPECT_FALSE(r.failed("b").leave);  // one leave at a time
  EXPECT_TRUE(r.leaving("b"));
  // A role that still lists b does not cancel the leave; writes keep waiting.
  EXPECT_TRUE(r.assign({"b", "c"}, {"b", "c"}).done.empty());
  auto later = r.begin(seq_no{3});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(later));
  auto done = r.left("b");
  EXPECT_TRUE(has(done, t));
  EXPECT_FALSE(r.in_sync("b"));
  EXPECT_TRUE(r.acked("c", seq_no{3}, seq_no{3}).size() == 1u);
}

TEST(ReplicaSet, AReplicaJoinsOnceItAckedEverythingStampedWhenItCaughtUp) {
  replica_set r;
  r.assign({"b"}, {});
  auto early = r.begin(seq_no{10});  // not waiting for b
  EXPECT_EQ(r.local_done(early), replica_set::progress::complete);
  // b's log takes seq 8 while the primary has stamped up to 10: b is joining,
  // later writes wait for it, but it may join only once it has 10.
  EXPECT_TRUE(r.acked("b", seq_no{8}, seq_no{10}).empty());
  EXPECT_TRUE(r.joining("b"));
  EXPECT_FALSE(r.wants_join("b"));
  auto t = r.begin(seq_no{11});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(t));
  EXPECT_TRUE(r.acked("b", seq_no{10}, seq_no{11}).empty());
  EXPECT_TRUE(r.wants_join("b"));
  r.join_requested("b");
  EXPECT_FALSE(r.wants_join("b"));  // asked once
  auto done = r.acked("b", seq_no{11}, seq_no{11});
  EXPECT_TRUE(has(done, t));
  r.joined("b");
  EXPECT_TRUE(r.in_sync("b"));
}

TEST(ReplicaSet, AJoiningReplicaThatFailsReleasesItsWritesUnlessItsJoinWasAsked) {
  // Not asked yet: it stops joining, and what waited for it completes at once.
  replica_set j;
  j.assign({"b"}, {});
  j.acked("b", seq_no{1}, seq_no{1});
  auto w = j.begin(seq_no{2});
  EXPECT_EQ(replica_set::progress::waiting, j.local_done(w));
  auto f = j.failed("b");
  EXPECT_FALSE(f.leave);
  EXPECT_EQ(f.done, tickets{w});
  EXPECT_FALSE(j.joining("b"));
  EXPECT_EQ(j.waiting(), 0u);
  auto next = j.begin(seq_no{3});  // no longer waited for
  EXPECT_EQ(j.local_done(next), replica_set::progress::complete);

  // Asked: the coordinator may hold it already, so it must leave first, and
  // writes (also later ones) wait for that; the join's answer no longer counts.
  replica_set a;
  a.assign({"b"}, {});
  a.acked("b", seq_no{1}, seq_no{1});
  ASSERT_TRUE(a.wants_join("b"));
  a.join_requested("b");
  auto t = a.begin(seq_no{2});
  EXPECT_EQ(replica_set::progress::waiting, a.local_done(t));
  auto g = a.failed("b");
  EXPECT_TRUE(g.leave);
  EXPECT_TRUE(g.done.empty());
  EXPECT_TRUE(a.leaving("b"));
  EXPECT_FALSE(a.failed("b").leave);  // one leave at a time
  auto later = a.begin(seq_no{3});
  EXPECT_EQ(replica_set::progress::waiting, a.local_done(later));
  a.joined("b");
  EXPECT_FALSE(a.in_sync("b"));
  EXPECT_TRUE(a.acked("b", seq_no{1}, seq_no{3}).empty());
  EXPECT_FALSE(a.joining("b"));  // an ack does not start another join while it leaves
  // A role that drops it does not release the writes either.
  auto dropped = a.assign({}, {});
  EXPECT_TRUE(dropped.done.empty());
  EXPECT_TRUE(dropped.leave.empty());  // its leave is out already
  EXPECT_EQ(a.left("b"), (tickets{t, later}));
  EXPECT_EQ(a.waiting(), 0u);
  EXPECT_TRUE(a.nodes().empty());
}

TEST(ReplicaSet, AWriteQuorumRefusesWritesTheSetCannotHoldAndFailsOnesThatLostTheirCopies) {
  replica_set r;
  r.set_quorum(3);
  r.assign({"b", "c"}, {"b"});
  EXPECT_EQ(r.in_sync_copies(), 2u);
  EXPECT_FALSE(r.can_write());  // refused before the log takes it
  r.assign({"b", "c"}, {"b", "c"});
  EXPECT_TRUE(r.can_write());

  // Every member acknowledged: three copies, complete.
  auto ok = r.begin(seq_no{1});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(ok));
  EXPECT_TRUE(r.acked("b", seq_no{1}, seq_no{1}).empty());
  EXPECT_EQ(r.acked("c", seq_no{1}, seq_no{1}), tickets{ok});
  EXPECT_FALSE(r.take_short(ok));

  // c fails and leaves: the write it did not acknowledge has two copies, short.
  auto lost = r.begin(seq_no{2});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(lost));
  EXPECT_TRUE(r.acked("b", seq_no{2}, seq_no{2}).empty());
  EXPECT_TRUE(r.failed("c").leave);
  EXPECT_FALSE(r.can_write());  // a leaving member no longer counts
  EXPECT_EQ(r.left("c"), tickets{lost});
  EXPECT_TRUE(r.take_short(lost));
  EXPECT_FALSE(r.take_short(lost));  // asked once

  // Short already when applied here (no one else awaited).
  replica_set alone;
  alone.set_quorum(2);
  alone.assign({}, {});
  EXPECT_EQ(alone.local_done(alone.begin(seq_no{1})), replica_set::progress::short_of_quorum);
  alone.set_quorum(1);  // the default: whatever the set holds
  EXPECT_EQ(alone.local_done(alone.begin(seq_no{2})), replica_set::progress::complete);
}

TEST(ReplicaSet, ARoleNeverDropsAMemberAMemberNoLongerListedMustLeave) {
  replica_set r;
  r.assign({"b", "c", "d"}, {"b", "c"});
  auto t = r.begin(seq_no{1});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(t));
  auto stale = r.assign({"b", "c", "d"}, {});  // b and c stay members
  EXPECT_TRUE(stale.done.empty());
  EXPECT_TRUE(stale.leave.empty());
  // ... and the coordinator is asked to hold them again.
  EXPECT_EQ(stale.rejoin, (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(r.in_sync("b"));
  EXPECT_TRUE(r.acked("b", seq_no{1}, seq_no{1}).empty());
  // c and d are no longer listed: d (no member) is dropped at once, c must leave.
  auto moved = r.assign({"b"}, {"b"});
  EXPECT_TRUE(moved.done.empty());
  EXPECT_EQ(moved.leave, std::vector<std::string>{"c"});
  EXPECT_EQ(r.nodes(), (std::vector<std::string>{"b", "c"}));
  auto done = r.left("c");
  EXPECT_TRUE(has(done, t));
  EXPECT_EQ(r.nodes(), std::vector<std::string>{"b"});  // gone once it left
  auto rest = r.begin(seq_no{2});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(rest));
  EXPECT_EQ(r.abandon(), tickets{rest});
  EXPECT_EQ(r.waiting(), 0u);
  // A write abandoned before it was applied here fails once it is.
  auto late = r.begin(seq_no{3});
  r.abandon();
  EXPECT_EQ(r.local_done(late), replica_set::progress::abandoned);
}

TEST(ReplicaSet, AMemberNotYetReachedOrHeardFromGetsAWhileBeforeAFailureTakesItOut) {
  using hold = replica_set::hold;
  replica_set r;
  r.assign({"b", "c", "d"}, {"b", "c"});
  auto t = r.begin(seq_no{2});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(t));
  // b fails before it acknowledged anything: the write keeps waiting for it.
  EXPECT_EQ(r.hold_failure("b", false), hold::start);
  EXPECT_EQ(r.hold_failure("b", false), hold::already);
  EXPECT_FALSE(r.leaving("b"));
  // d is outside the set: nothing waits for it, and its failures count at once.
  EXPECT_EQ(r.hold_failure("d", true), hold::no);
  // c was heard from: a failure of its replica is a failure; not reaching it
  // (no actor for it here yet) is not.
  EXPECT_TRUE(r.acked("c", seq_no{2}, seq_no{2}).empty());
  EXPECT_EQ(r.hold_failure("c", false), hold::no);
  EXPECT_EQ(r.hold_failure("c", true), hold::start);
  // b catches up within the while (its follow says how far it holds): done.
  EXPECT_TRUE(has(r.acked("b", seq_no{2}, seq_no{2}), t));
  // A write sent after the failures were held is on its way as usual: the
  // while's end holds it against no one, and the while is given once.
  auto later = r.begin(seq_no{3});
  EXPECT_EQ(replica_set::progress::waiting, r.local_done(later));
  EXPECT_FALSE(r.grace_over("b"));
  EXPECT_FALSE(r.grace_over("c"));
  EXPECT_EQ(r.hold_failure("b", true), hold::no);
  EXPECT_EQ(r.hold_failure("c", true), hold::no);

  // One that still owes a held write when the while is over must be failed.
  replica_set q;
  q.assign({"b"}, {"b"});
  auto w = q.begin(seq_no{1});
  EXPECT_EQ(replica_set::progress::waiting, q.local_done(w));
  EXPECT_EQ(q.hold_failure("b", true), hold::start);
  EXPECT_TRUE(q.grace_over("b"));
  EXPECT_EQ(q.hold_failure("b", true), hold::no);
  EXPECT_TRUE(q.failed("b").leave);
  EXPECT_TRUE(has(q.left("b"), w));
  // With no write waiting for it, the end of the while fails nothing.
  replica_set idle;
  idle.assign({"b"}, {"b"});
  EXPECT_EQ(idle.hold_failure("b", false), hold::start);
  EXPECT_FALSE(idle.grace_over("b"));
}

}  // namespace
}  // namespace quiver
