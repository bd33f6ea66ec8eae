// shard_control: a shard replica's phase, role, epoch, numbering and snapshot
// schedule, as the index actor drives it through recovery, promotion, fencing,
// full disks and replication.

#include <gtest/gtest.h>

#include "actors/index/shard_control.hpp"

namespace quiver {
namespace {

using clock_type = shard_control::clock;

shard_lease lease_at(std::uint64_t epoch, std::uint64_t last) {
  shard_lease l;
  l.epoch = epoch;
  l.last_seq = seq_no{last};
  l.first_seq = seq_no{1};
  l.dir = "/d";
  return l;
}

std::vector<log_record> records(std::uint64_t from, std::uint64_t to) {
  std::vector<log_record> out;
  for (auto s = from; s <= to; ++s) {
    log_record r;
    r.id = "v" + std::to_string(s);
    r.seq = seq_no{s};
    out.push_back(r);
  }
  return out;
}

shard_ref ref() { return shard_ref{tenant_id{"t"}, "docs", 1, shard_id{3}}; }

// A standalone shard recovered from a log ending at `last` under `epoch`.
shard_control standalone(std::uint64_t epoch = 7, std::uint64_t last = 10) {
  shard_control c("index 'docs' shard 3", false, snapshot_policy{});
  c.begin_recovery();
  auto open = c.open_request(ref());
  c.opened(open.mode, lease_at(epoch, last));
  c.recovered(seq_no{last});
  return c;
}

// A clustered replica serving, applied up to `last`.
shard_control replica(std::uint64_t last = 10) {
  shard_control c("index 'docs' shard 3", true, snapshot_policy{});
  c.begin_recovery();
  auto open = c.open_request(ref());
  EXPECT_EQ(open.mode, open_mode::follow);
  c.opened(open.mode, lease_at(0, last));
  c.recovered(seq_no{last});
  return c;
}

TEST(ShardControl, RecoveringRefusesReadsAndWritesThenServesUnderTheClaimedEpoch) {
  shard_control c("index 'docs' shard 3", false, snapshot_policy{});
  EXPECT_EQ(c.not_serving().code, errc::unavailable);
  EXPECT_NE(c.not_serving().message.find("index 'docs' shard 3 is recovering"), std::string::npos);
  EXPECT_STREQ(c.state_name(), "recovering");
  auto open = c.open_request(ref());
  EXPECT_EQ(open.mode, open_mode::claim);
  c.opened(open.mode, lease_at(7, 10));
  c.recovered(seq_no{10});
  EXPECT_TRUE(c.not_serving().ok());
  EXPECT_TRUE(c.not_writable(false).ok());
  EXPECT_STREQ(c.state_name(), "ready");
  EXPECT_FALSE(c.reports_primary());  // standalone: no cluster role to report
  auto batch = records(0, 1);
  c.stamp(batch, shard_id{3});
  EXPECT_EQ(batch[0].seq.value, 11u);
  EXPECT_EQ(batch[1].seq.value, 12u);
  EXPECT_EQ(batch[0].epoch, 7u);
  EXPECT_EQ(batch[1].shard.value, 3u);
  EXPECT_EQ(c.next_seq(), 13u);
}

TEST(ShardControl, NumberingNeverGoesBackBelowWhatTheGraphApplied) {
  shard_control c("s", false, snapshot_policy{});
  c.opened(open_mode::claim, lease_at(1, 4));
  c.recovered(seq_no{9});  // a snapshot newer than the log's end
  EXPECT_EQ(c.next_seq(), 10u);
}

TEST(ShardControl, QuarantineKeepsItsReason) {
  auto c = standalone();
  c.quarantine("snapshot checksum mismatch");
  EXPECT_STREQ(c.state_name(), "quarantined");
  EXPECT_NE(c.not_serving().message.find("quarantined: snapshot checksum mismatch"),
            std::string::npos);
  EXPECT_FALSE(c.snapshot_due(seq_no{20}, clock_type::now(), true));
}

TEST(ShardControl, AFullDiskAtClaimServesReadsAndRefusesWritesUntilReclaimed) {
  shard_control c("s", false, snapshot_policy{});
  c.claim_refused(make_status(errc::insufficient_storage, "disk full"));
  c.opened(open_mode::follow, lease_at(0, 5));  // reads only: no claim
  c.recovered(seq_no{5});
  EXPECT_TRUE(c.not_serving().ok());
  EXPECT_EQ(c.not_writable(false).code, errc::insufficient_storage);
  // Not claimed: the reopen claims afresh rather than hold an epoch it never had.
  EXPECT_EQ(c.reclaim(), shard_control::reclaim_step::reopen);
  EXPECT_EQ(c.reopen_request(ref()).mode, open_mode::claim);
  EXPECT_TRUE(c.reclaiming());
  EXPECT_TRUE(c.reclaimed(lease_at(8, 5), seq_no{5}));
  EXPECT_FALSE(c.reclaiming());
  EXPECT_TRUE(c.not_writable(false).ok());
  EXPECT_EQ(c.epoch(), 8u);
  EXPECT_EQ(c.next_seq(), 6u);
  // Claimed now: a later reopen holds that epoch.
  EXPECT_TRUE(c.storage_refused(make_status(errc::insufficient_storage, "full again")));
  auto reopen = c.reopen_request(ref());
  EXPECT_EQ(reopen.mode, open_mode::hold);
  EXPECT_EQ(reopen.epoch, 8u);
}

TEST(ShardControl, AReclaimFindingRecordsTheGraphLacksAsksForARebuild) {
  auto c = standalone(7, 10);
  EXPECT_TRUE(c.storage_refused(make_status(errc::insufficient_storage, "full")));
  EXPECT_FALSE(c.storage_refused(make_status(errc::insufficient_storage, "still full")));
  EXPECT_EQ(c.not_writable(false).message, "still full");
  EXPECT_FALSE(c.reclaimed(lease_at(7, 12), seq_no{10}));
}

TEST(ShardControl, AReclaimThatFailsRetriesRecoversOrFencesByCode) {
  auto c = standalone();
  c.storage_refused(make_status(errc::insufficient_storage, "full"));
  EXPECT_EQ(c.reclaim_failed(make_status(errc::insufficient_storage, "fresh")),
            shard_control::reclaim_failure::retry);
  EXPECT_EQ(c.not_writable(false).message, "fresh");
  EXPECT_EQ(c.reclaim_failed(make_status(errc::unavailable, "storage restarting")),
            shard_control::reclaim_failure::retry);
  EXPECT_EQ(c.reclaim_failed(make_status(errc::stale_epoch, "epoch 9 > 7")),
            shard_control::reclaim_failure::recover);

  auto r = replica();
  ASSERT_EQ(r.assign_role(true, 4, seq_no{}, false, false), shard_control::role_step::promote);
  r.begin_promotion();
  r.epoch_confirmed();
  r.finish_catch_up();
  r.storage_refused(make_status(errc::insufficient_storage, "full"));
  EXPECT_EQ(r.reclaim_failed(make_status(errc::stale_epoch, "newer")),
            shard_control::reclaim_failure::fenced);
  EXPECT_STREQ(r.state_name(), "fenced");
  EXPECT_FALSE(r.reclaiming());
  EXPECT_EQ(r.not_writable(false).code, errc::unavailable);
}

TEST(ShardControl, AClusteredShardIsAReplicaUntilPromotedAndWritesOnlyOnceCaughtUp) {
  auto c = replica(10);
  EXPECT_EQ(c.not_writable(false).message, "index 'docs' shard 3: this replica is not the primary");
  EXPECT_FALSE(c.reports_primary());
  EXPECT_FALSE(c.snapshots_here());
  EXPECT_EQ(c.assign_role(true, 5, seq_no{10}, false, false), shard_control::role_step::promote);
  c.begin_promotion();
  EXPECT_STREQ(c.state_name(), "recovering");
  EXPECT_EQ(c.not_writable(false).message, "index 'docs' shard 3: the new primary is catching up");
  // A catch-up that ends before storage confirmed the epoch has not seen the
  // log's final end.
  EXPECT_TRUE(c.begin_catch_up());
  EXPECT_FALSE(c.finish_catch_up());
  EXPECT_TRUE(c.promoting());
  EXPECT_TRUE(c.epoch_confirmed());  // no catch-up runs: start one
  EXPECT_TRUE(c.begin_catch_up());
  c.following(seq_no{14});
  EXPECT_TRUE(c.finish_catch_up());
  EXPECT_TRUE(c.not_writable(false).ok());
  EXPECT_STREQ(c.state_name(), "ready");
  EXPECT_TRUE(c.reports_primary());
  EXPECT_EQ(c.reported_epoch(), 5u);
  EXPECT_TRUE(c.snapshots_here());
  auto batch = records(0, 0);
  c.stamp(batch, shard_id{3});
  EXPECT_EQ(batch[0].seq.value, 15u);
  EXPECT_EQ(batch[0].epoch, 5u);
}

TEST(ShardControl, AConfirmationDuringARunningCatchUpLetsThatCatchUpFinishThePromotion) {
  auto c = replica();
  ASSERT_TRUE(c.begin_catch_up());
  ASSERT_EQ(c.assign_role(true, 2, seq_no{}, false, false), shard_control::role_step::promote);
  c.begin_promotion();
  EXPECT_FALSE(c.epoch_confirmed());  // one runs already
  EXPECT_TRUE(c.finish_catch_up());
}

TEST(ShardControl, APromotionRefusedAsStaleFencesAnyOtherRefusalRecovers) {
  auto c = replica();
  c.assign_role(true, 2, seq_no{}, false, false);
  c.begin_promotion();
  EXPECT_TRUE(c.promotion_refused(make_status(errc::stale_epoch, "epoch 3 holds")));
  EXPECT_STREQ(c.state_name(), "fenced");
  EXPECT_FALSE(c.promoting());
  auto d = replica();
  d.assign_role(true, 2, seq_no{}, false, false);
  d.begin_promotion();
  EXPECT_FALSE(d.promotion_refused(make_status(errc::unavailable, "storage down")));
  EXPECT_STREQ(d.state_name(), "ready");
}

TEST(ShardControl, RolesThatChangeRebuildUnlessAServingShardWithNothingInFlightIsPromoted) {
  auto c = replica();
  EXPECT_EQ(c.assign_role(true, 3, seq_no{}, true, false), shard_control::role_step::recover);
  EXPECT_TRUE(c.primary());
  EXPECT_EQ(c.held_epoch(), 3u);
  // The same role again: nothing to do.
  EXPECT_EQ(c.assign_role(true, 3, seq_no{}, false, false), shard_control::role_step::none);
  // A new epoch for the primary: promoted again under it.
  EXPECT_EQ(c.assign_role(true, 4, seq_no{}, false, false), shard_control::role_step::promote);
  // Demoted: rebuilt as a replica, which follows the log rather than hold it.
  EXPECT_EQ(c.assign_role(false, 0, seq_no{}, false, false), shard_control::role_step::recover);
  c.begin_recovery();
  EXPECT_EQ(c.open_request(ref()).mode, open_mode::follow);
  // Not serving: a primary role means a rebuild that holds the epoch.
  EXPECT_EQ(c.assign_role(true, 6, seq_no{}, false, false), shard_control::role_step::recover);
  auto open = c.open_request(ref());
  EXPECT_EQ(open.mode, open_mode::hold);
  EXPECT_EQ(open.epoch, 6u);
  c.opened(open.mode, lease_at(99, 10));
  EXPECT_EQ(c.epoch(), 6u);  // clustered: the held epoch, never storage's own
}

TEST(ShardControl, AnIdleReplicaBehindItsPrimaryCatchesUpFromTheLog) {
  auto c = replica(10);  // next seq 11
  EXPECT_EQ(c.assign_role(false, 0, seq_no{10}, false, false), shard_control::role_step::none);
  EXPECT_EQ(c.assign_role(false, 0, seq_no{11}, false, false), shard_control::role_step::catch_up);
  EXPECT_EQ(c.assign_role(false, 0, seq_no{11}, false, true), shard_control::role_step::none);
  ASSERT_TRUE(c.begin_catch_up());
  EXPECT_FALSE(c.begin_catch_up());
  EXPECT_EQ(c.assign_role(false, 0, seq_no{11}, false, false), shard_control::role_step::none);
}

TEST(ShardControl, AReplicaAppliesForwardedRecordsInOrderAndCatchesUpAcrossAGap) {
  auto c = replica(10);
  EXPECT_EQ(c.on_forwarded({}), shard_control::replica_step::ignore);
  EXPECT_EQ(c.on_forwarded(records(13, 14)), shard_control::replica_step::catch_up);
  auto overlap = records(9, 12);
  ASSERT_EQ(c.on_forwarded(overlap), shard_control::replica_step::apply);
  c.drop_known(overlap);
  ASSERT_EQ(overlap.size(), 2u);
  EXPECT_EQ(overlap.front().seq.value, 11u);
  c.following(overlap.back().seq);
  EXPECT_EQ(c.next_seq(), 13u);
  auto old = records(5, 12);
  c.drop_known(old);
  EXPECT_TRUE(old.empty());
  ASSERT_TRUE(c.begin_catch_up());
  EXPECT_EQ(c.on_forwarded(records(13, 13)), shard_control::replica_step::ignore);
  // A primary and a standalone shard take no forwarded records.
  EXPECT_EQ(standalone().on_forwarded(records(11, 11)), shard_control::replica_step::ignore);
}

TEST(ShardControl, AStaleAppendFencesOnlyUnderTheEpochItWasWrittenIn) {
  auto c = replica();
  c.assign_role(true, 5, seq_no{}, false, false);
  c.begin_promotion();
  c.epoch_confirmed();
  c.finish_catch_up();
  EXPECT_FALSE(c.append_fenced(4));  // a write of an earlier epoch
  EXPECT_TRUE(c.append_fenced(5));
  EXPECT_FALSE(c.append_fenced(5));  // already known
  EXPECT_STREQ(c.state_name(), "fenced");
  EXPECT_FALSE(c.snapshots_here());
  // A new role lifts the fence.
  EXPECT_EQ(c.assign_role(true, 6, seq_no{}, false, false), shard_control::role_step::promote);
  EXPECT_STRNE(c.state_name(), "fenced");
  // Standalone shards rebuild instead.
  EXPECT_FALSE(standalone().append_fenced(7));
}

TEST(ShardControl, ALapsedLeaseStopsAPrimaryButNotAReplicasReads) {
  auto c = standalone();
  auto st = c.not_writable(true);
  EXPECT_EQ(st.code, errc::unavailable);
  EXPECT_NE(st.message.find("etcd lease lapsed"), std::string::npos);
  EXPECT_TRUE(c.not_serving().ok());
  auto r = replica();
  EXPECT_EQ(r.not_writable(true).message, "index 'docs' shard 3: this replica is not the primary");
}

TEST(ShardControl, SnapshotsComeByCountOrIntervalOnlyForWhatTheLastOneLacks) {
  snapshot_policy p;
  p.every_records = 3;
  p.interval = std::chrono::seconds(60);
  shard_control c("s", false, p);
  auto t0 = clock_type::now();
  c.opened(open_mode::claim, lease_at(1, 10));
  c.recovered(seq_no{10});
  c.snapshot_base(seq_no{8}, 2, t0);
  EXPECT_TRUE(c.wants_tick(seq_no{10}));
  EXPECT_FALSE(c.snapshot_due(seq_no{10}, t0, false));
  EXPECT_TRUE(c.snapshot_due(seq_no{10}, t0, true));
  c.applied(1);  // 3 since the snapshot
  EXPECT_TRUE(c.snapshot_due(seq_no{11}, t0, false));
  c.snapshot_taken(seq_no{11}, t0);
  EXPECT_FALSE(c.snapshot_due(seq_no{11}, t0 + std::chrono::hours(1), true));  // covered
  EXPECT_FALSE(c.wants_tick(seq_no{11}));
  EXPECT_FALSE(c.snapshot_due(seq_no{12}, t0 + std::chrono::seconds(59), false));
  EXPECT_TRUE(c.snapshot_due(seq_no{12}, t0 + std::chrono::seconds(60), false));
  c.snapshot_failed(t0 + std::chrono::seconds(60));  // the next try waits an interval
  EXPECT_FALSE(c.snapshot_due(seq_no{12}, t0 + std::chrono::seconds(61), false));
  shard_control never("s", false,
                      snapshot_policy{0, std::chrono::seconds(0), std::chrono::milliseconds(0)});
  never.opened(open_mode::claim, lease_at(1, 10));
  never.recovered(seq_no{10});
  EXPECT_FALSE(never.wants_tick(seq_no{10}));
  EXPECT_FALSE(never.snapshot_due(seq_no{10}, t0 + std::chrono::hours(24), false));
  never.applied(1000);
  never.apply_took(3600);
  EXPECT_FALSE(never.snapshot_due(seq_no{11}, t0 + std::chrono::hours(24), false));
}

TEST(ShardControl, ASnapshotComesOnceTheTailWouldReplayPastTheBudgetPacedByTheLastOne) {
  snapshot_policy p;
  p.every_records = 0;
  p.interval = std::chrono::seconds(0);
  p.replay_budget = std::chrono::milliseconds(2000);
  shard_control c("s", false, p);
  auto t0 = clock_type::now();
  c.opened(open_mode::claim, lease_at(1, 10));
  c.recovered(seq_no{10});
  // The recovery replayed 1.5 s of records: half a second more and it is due.
  c.snapshot_base(seq_no{4}, 6, t0, 1.5);
  EXPECT_DOUBLE_EQ(c.replay_cost(), 1.5);
  EXPECT_FALSE(c.snapshot_due(seq_no{10}, t0, false));
  c.applied(100);
  c.apply_took(0.5);
  EXPECT_TRUE(c.snapshot_due(seq_no{110}, t0, false));
  // That snapshot took 10 s; the next waits as long after it, however costly the tail.
  c.snapshot_started(t0);
  c.snapshot_taken(seq_no{110}, t0 + std::chrono::seconds(10));
  EXPECT_DOUBLE_EQ(c.replay_cost(), 0);
  c.applied(1000);
  c.apply_took(5);
  EXPECT_FALSE(c.snapshot_due(seq_no{1110}, t0 + std::chrono::seconds(19), false));
  EXPECT_TRUE(c.snapshot_due(seq_no{1110}, t0 + std::chrono::seconds(20), false));
}

}  // namespace
}  // namespace quiver
