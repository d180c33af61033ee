#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "kernel_fakes.h"
#include "log_capture.h"
#include "syslens/collect/collect.h"
#include "syslens/export/collector.h"

using namespace syslens;
using namespace syslens::test;

namespace {

double value_of(const std::string& text, const std::string& name, const std::string& cgroup,
                const std::string& syscall = "getppid") {
  for (const auto& smp : samples(text, name)) {
    if (label(smp, "cgroup") == cgroup && label(smp, "syscall") == syscall) return smp.value;
  }
  return -1;  // absent
}

double host_count(const std::string& text, const std::string& syscall = "getppid") {
  for (const auto& smp : samples(text, "syslens_host_syscall_duration_seconds_count")) {
    if (label(smp, "syscall") == syscall) return smp.value;
  }
  return -1;
}

CollectOptions quick_reclaim() {
  CollectOptions o;
  o.arch = Arch::x86_64;  // the rows below carry x86_64 numbers, on any build host
  o.metadata_wait = std::chrono::milliseconds(0);
  o.removed_grace = std::chrono::milliseconds(20);
  o.reclaim_every = std::chrono::milliseconds(0);
  return o;
}

}  // namespace

// Reclaiming deletes a removed cgroup's kernel entries; what it contributed
// to series that outlive it stays in them: host-wide, "(unresolved)", and a
// path that another cgroup uses now. Across a restart too (a new Collect on
// the same maps).
TEST(Collect, ReclaimedCgroupsLeaveEveryOutlivingSeriesWhereItWas) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/a"}, {2, "/a"}};  // /a created again: 2 is its first cgroup
  names.removed = {2};
  src.snap.stats = {row(1, 110, 5), row(2, 110, 7), row(3, 110, 4)};  // 3: removed before it was named
  src.snap.errors = {enoent(2, 257, 2), enoent(3, 257, 1)};
  SyscallCollector render{CollectorOptions{}};
  auto check = [&](Collect& c) {
    const auto text = render.Render(*c.latest(Collect::Clock::duration::zero()));
    EXPECT_EQ(value_of(text, "syslens_syscalls_total", "/a"), 12);
    EXPECT_EQ(value_of(text, "syslens_syscalls_total", kCgroupUnresolved), 4);
    EXPECT_EQ(value_of(text, "syslens_syscall_errors_total", "/a", "openat"), 2);
    EXPECT_EQ(value_of(text, "syslens_syscall_errors_total", kCgroupUnresolved, "openat"), 1);
    EXPECT_EQ(host_count(text), 16);
    return text;
  };
  Collect collect(src, names, nullptr, quick_reclaim());
  check(collect);  // 2 and 3 noticed gone
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  check(collect);  // reclaimed
  EXPECT_EQ(src.snap.stats.size(), 1U) << "the removed cgroups' entries were not deleted";
  EXPECT_TRUE(src.snap.errors.empty());
  const auto rs = collect.reclaim_stats();
  EXPECT_EQ(rs.cgroups_reclaimed, 2U);
  EXPECT_EQ(rs.entries_reclaimed, 4U);
  // getppid of /a, of (unresolved) and host-wide; openat's ENOENT of both.
  EXPECT_EQ(rs.retired_rows, 5U);
  EXPECT_EQ(src.retired.size(), 5U);
  EXPECT_EQ(rs.retired_unpersisted, 0U);
  // New calls add on top.
  src.snap.stats[0].val.calls += 10;
  src.snap.stats[0].val.returns += 10;
  const auto more = render.Render(*collect.latest(Collect::Clock::duration::zero()));
  EXPECT_EQ(value_of(more, "syslens_syscalls_total", "/a"), 22);
  EXPECT_EQ(host_count(more), 26);
  src.snap.stats[0].val.calls -= 10;
  src.snap.stats[0].val.returns -= 10;
  Collect restarted(src, names, nullptr, quick_reclaim());
  check(restarted);
}

// A removed path's series ends with its last cgroup. Its retired totals stay
// for one more grace period, so a path created again at once continues its
// counts, and then go (the host-wide series keeps them).
TEST(Collect, ARemovedPathsTotalsOutliveItForOneGracePeriod) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/b"}};
  names.removed = {1};
  src.snap.stats = {row(1, 110, 5)};
  SyscallCollector render{CollectorOptions{}};
  Collect collect(src, names, nullptr, quick_reclaim());
  auto text = [&] { return render.Render(*collect.latest(Collect::Clock::duration::zero())); };
  text();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto t = text();  // reclaimed: no series for /b, host-wide keeps the 5
  EXPECT_EQ(value_of(t, "syslens_syscalls_total", "/b"), -1);
  EXPECT_EQ(host_count(t), 5);
  // /b again, within the grace period: its series goes on from 5.
  names.paths[2] = "/b";
  src.snap.stats = {row(2, 110, 3)};
  t = text();
  EXPECT_EQ(value_of(t, "syslens_syscalls_total", "/b"), 8);
  EXPECT_EQ(host_count(t), 8);
  // Removed again, reclaimed, and gone for longer than the grace period: the
  // path's retired rows are dropped, the host-wide ones stay.
  names.removed.insert(2);
  text();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  text();  // reclaimed
  text();  // absent: noted
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  t = text();  // absent for the grace period: expired
  EXPECT_EQ(collect.reclaim_stats().retired_expired, 1U);
  EXPECT_EQ(collect.reclaim_stats().retired_rows, 1U);
  EXPECT_EQ(host_count(t), 8);
  // After that, /b starts again from zero (its series was absent meanwhile).
  names.paths[3] = "/b";
  src.snap.stats = {row(3, 110, 1)};
  EXPECT_EQ(value_of(text(), "syslens_syscalls_total", "/b"), 1);
}

// The retired map full: totals stay exact in memory, counted as not
// persisted (they would not survive a restart).
TEST(Collect, AFullRetiredMapKeepsTotalsInMemoryAndSaysSo) {
  FakeSource src;
  src.capacity = 1;
  FakeNamer names;
  names.paths = {{1, "/c"}, {2, "/c"}};
  names.removed = {2};
  src.snap.stats = {row(1, 110, 5), row(2, 110, 7)};
  SyscallCollector render{CollectorOptions{}};
  Collect collect(src, names, nullptr, quick_reclaim());
  collect.latest(Collect::Clock::duration::zero());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto c = collect.latest(Collect::Clock::duration::zero());
  const auto t = render.Render(*c);
  EXPECT_EQ(value_of(t, "syslens_syscalls_total", "/c"), 12);
  EXPECT_EQ(host_count(t), 12);
  EXPECT_EQ(collect.reclaim_stats().retired_unpersisted, 1U);
  EXPECT_EQ(src.retired.size(), 1U);
  bool filled = false;
  for (const auto& f : c->fill) filled |= std::string(f.map) == "syslens_retired" && f.entries == 1 && f.capacity == 1;
  EXPECT_TRUE(filled);
}

// syslensd killed at every point of a reclaim, one run per point: the next
// run (a new process: it knows no removed cgroup's path) finds the journal
// and finishes the batch, and every call is counted exactly once: host-wide,
// and under the path it was made in for each cgroup the journal held (the
// others, which the killed run had not recorded yet, are named by nobody
// now: "(unresolved)"). The last run is not killed at all.
TEST(Collect, AReclaimKilledAtAnyPointIsFinishedByTheNextRun) {
  SyscallCollector render{CollectorOptions{}};
  int points = 0;
  for (long k = 0;; ++k) {
    FakeSource src;
    FakeNamer names;
    names.paths = {{1, "/a"}, {2, "/b"}, {3, "/keep"}};
    names.removed = {1, 2};
    src.snap.stats = {row(1, 110, 5), row(1, 39, 2), row(2, 110, 7), row(3, 110, 4)};
    src.snap.errors = {enoent(1, 257, 2), enoent(2, 257, 3)};
    // 3 calls of a cgroup reclaimed before, host-wide.
    syslens_retired_key earlier{0, 110, 0, 0};
    src.retired[FakeSource::key(earlier)] = {earlier, row(9, 110, 3).val};
    src.kill_after = k;
    bool killed = false;
    try {
      Collect first(src, names, nullptr, quick_reclaim());
      first.latest(Collect::Clock::duration::zero());  // 1 and 2 noticed gone
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      first.latest(Collect::Clock::duration::zero());  // reclaimed
    } catch (const FakeSource::Killed&) {
      killed = true;
    }
    // The cgroups whose reclaim the next run must finish: those the journal
    // holds, or both once the batch was done.
    const bool done = !killed || (src.phase == SYSLENS_RECLAIM_IDLE && src.retired.size() > 1);
    std::set<std::uint64_t> journaled;
    if (done) {
      journaled = {1, 2};
    } else if (src.phase != SYSLENS_RECLAIM_IDLE) {
      for (const auto& [id, label] : src.ids) journaled.insert(id);
    }
    const bool has1 = journaled.count(1) > 0, has2 = journaled.count(2) > 0;
    src.kill_after = -1;
    // The next run: /a created again, with 1 call of its own.
    FakeNamer next;
    next.paths = {{3, "/keep"}, {4, "/a"}};
    src.snap.stats.push_back(row(4, 110, 1));
    Collect second(src, next, nullptr, quick_reclaim());
    const auto text = render.Render(*second.latest(Collect::Clock::duration::zero()));
    SCOPED_TRACE("killed before change " + std::to_string(k) + (killed ? "" : " (not killed)") + "; journaled " +
                 std::to_string(journaled.size()));
    EXPECT_EQ(host_count(text), 20);
    EXPECT_EQ(host_count(text, "getpid"), 2);
    EXPECT_EQ(value_of(text, "syslens_syscalls_total", "/keep"), 4);
    EXPECT_EQ(value_of(text, "syslens_syscalls_total", "/a"), has1 ? 6 : 1);
    EXPECT_EQ(value_of(text, "syslens_syscall_errors_total", "/a", "openat"), has1 ? 2 : -1);
    const double unresolved = (has1 ? 0 : 5) + (has2 ? 0 : 7);
    EXPECT_EQ(value_of(text, "syslens_syscalls_total", kCgroupUnresolved), unresolved ? unresolved : -1);
    const double unresolved_errors = (has1 ? 0 : 2) + (has2 ? 0 : 3);
    EXPECT_EQ(value_of(text, "syslens_syscall_errors_total", kCgroupUnresolved, "openat"),
              unresolved_errors ? unresolved_errors : -1);
    // /b has no cgroup now: its 7 calls wait in its retired row.
    const auto b = src.retired.find({retired_label_key("/b"), 110, 0, 0});
    EXPECT_EQ(b == src.retired.end() ? 0 : b->second.val.calls, has2 ? 7U : 0U);
    // Nothing of the journaled cgroups is left in the maps, nor in the journal.
    for (const auto& r : src.snap.stats) EXPECT_FALSE(journaled.count(r.key.cgroup_id)) << r.key.cgroup_id;
    for (const auto& r : src.snap.errors) EXPECT_FALSE(journaled.count(r.key.cgroup_id)) << r.key.cgroup_id;
    EXPECT_EQ(second.reclaim_stats().batches_recovered, !journaled.empty() && !done ? 1U : 0U);
    EXPECT_EQ(src.phase, SYSLENS_RECLAIM_IDLE);
    EXPECT_TRUE(src.ids.empty());
    EXPECT_TRUE(src.undo.empty());
    if (!killed) break;
    ++points;
  }
  // Every change of a two-cgroup batch: the journal (phase, its clearing,
  // 2 ids, 7 undo rows), phase, 7 retired rows, phase, 5 entries deleted,
  // the end (phase, clearing).
  EXPECT_EQ(points, 27);
}

// Denials of a reclaimed cgroup stay with its path, like its calls and
// failures: a path created again goes on from them, across a restart too.
TEST(Collect, DenialsOfAReclaimedCgroupStayWithItsPath) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/c"}, {2, "/c"}};
  names.removed = {1};
  ErrnoRow d1{};
  d1.key = {1, 83, 0, 1};  // mkdir, EPERM
  d1.count = 7;
  ErrnoRow d2 = d1;
  d2.key.cgroup_id = 2;
  d2.count = 2;
  src.snap.stats = {row(1, 83, 7), row(2, 83, 2)};
  src.snap.denied = {d1, d2};
  SyscallCollector render{CollectorOptions{}};
  auto denied = [&](Collect& c) {
    return value_of(render.Render(*c.latest(Collect::Clock::duration::zero())), "syslens_seccomp_denied_total", "/c",
                    "mkdir");
  };
  Collect collect(src, names, nullptr, quick_reclaim());
  EXPECT_EQ(denied(collect), 9);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(denied(collect), 9);  // 1 reclaimed: its 7 are retired rows now
  EXPECT_EQ(src.snap.denied.size(), 1U);
  EXPECT_EQ(src.retired.count({retired_label_key("/c"), 83, 0, 1 | SYSLENS_RETIRED_DENIED}), 1U);
  Collect restarted(src, names, nullptr, quick_reclaim());
  EXPECT_EQ(denied(restarted), 9);
}

// A batch the journal cannot hold is not started: nothing changes, and the
// cgroups are reclaimed later.
TEST(Collect, ABatchTheJournalCannotHoldIsDeferred) {
  FakeSource src;
  src.undo_capacity = 1;
  FakeNamer names;
  names.paths = {{1, "/e"}};
  names.removed = {1};
  src.snap.stats = {row(1, 110, 5)};
  SyscallCollector render{CollectorOptions{}};
  Collect collect(src, names, nullptr, quick_reclaim());
  collect.latest(Collect::Clock::duration::zero());
  std::this_thread::sleep_for(std::chrono::milliseconds(25));
  const auto t = render.Render(*collect.latest(Collect::Clock::duration::zero()));
  EXPECT_EQ(collect.reclaim_stats().batches_deferred, 1U);
  EXPECT_EQ(collect.reclaim_stats().cgroups_reclaimed, 0U);
  EXPECT_EQ(value_of(t, "syslens_syscalls_total", "/e"), 5);
  EXPECT_EQ(host_count(t), 5);
  EXPECT_TRUE(src.retired.empty());
  EXPECT_EQ(src.snap.stats.size(), 1U);
  EXPECT_EQ(src.phase, SYSLENS_RECLAIM_IDLE);
  src.undo_capacity = 2;
  collect.latest(Collect::Clock::duration::zero());  // in its grace period again
  std::this_thread::sleep_for(std::chrono::milliseconds(25));
  collect.latest(Collect::Clock::duration::zero());
  EXPECT_EQ(collect.reclaim_stats().cgroups_reclaimed, 1U);
  EXPECT_TRUE(src.snap.stats.empty());
  EXPECT_EQ(host_count(render.Render(*collect.latest(Collect::Clock::duration::zero()))), 5);
}

// A kernel failure counter that grows while syslensd runs is said once (it
// is counted always); one that only holds a previous run's count is not.
TEST(Collect, AFailureCounterThatGrowsIsLoggedOnce) {
  FakeSource src;
  FakeNamer names;
  src.snap.counters[SYSLENS_CNT_ERRNO_MAP_FULL] = 7;  // from before a restart (pinned)
  test::LogCapture log;
  Collect collect(src, names, nullptr, quick_reclaim());
  collect.latest(Collect::Clock::duration::zero());
  EXPECT_EQ(log.lines_with("syslens_bpf_failures_total"), 0U) << log.text();
  for (int i = 0; i < 3; ++i) {
    src.snap.counters[SYSLENS_CNT_STATS_MAP_FULL] += 5;
    src.snap.counters[SYSLENS_CNT_CPU_SLOT_TAKEN] += 5;  // an event, not a failure
    collect.latest(Collect::Clock::duration::zero());
  }
  EXPECT_EQ(log.lines_with("the syslens_stats map is full"), 1U) << log.text();
  EXPECT_EQ(log.lines_with("reason=\"stats_map_full\""), 1U) << log.text();
  EXPECT_EQ(log.lines_with("syslens_bpf_failures_total"), 1U) << log.text();
  src.snap.counters[SYSLENS_CNT_ERRNO_MAP_FULL] += 1;
  src.snap.fill = {{"syslens_stats", 3, 65536}, {"syslens_errors", 269, 16384}};
  collect.latest(Collect::Clock::duration::zero());
  EXPECT_EQ(log.lines_with("the syslens_errors map is full"), 1U) << log.text();
  // How full it is now, so a map "full" far below capacity shows.
  EXPECT_EQ(log.lines_with("reason=\"errno_map_full\"}) [269 of 16384 entries now]"), 1U) << log.text();
  // A key refused by a map with room is its own reason, not "raise the size".
  src.snap.counters[SYSLENS_CNT_MAP_UPDATE_FAILED] += 1;
  collect.latest(Collect::Clock::duration::zero());
  EXPECT_EQ(log.lines_with("a map that had room"), 1U) << log.text();
  EXPECT_EQ(log.lines_with("reason=\"map_update_failed\"})"), 1U) << log.text();
  EXPECT_EQ(log.lines_with("syslens_bpf_failures_total"), 3U) << log.text();
}

// Consumers on a schedule share a recent read; max_age 0 always reads.
TEST(Collect, ReadsAtMostOncePerMaxAge) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/d"}};
  src.snap.stats = {row(1, 110, 5)};
  Collect collect(src, names, nullptr, quick_reclaim());
  const auto a = collect.latest(std::chrono::seconds(10));
  const auto b = collect.latest(std::chrono::seconds(10));
  EXPECT_EQ(a.get(), b.get());
  const auto c = collect.latest(Collect::Clock::duration::zero());
  EXPECT_NE(a.get(), c.get());
}

namespace {

// Two replicas of one Deployment, an image shared with a third container
// elsewhere, and a systemd unit.
class GroupNamer final : public WorkloadNamer {
 public:
  bool forgotten = false;  // the runtime no longer lists the containers
  WorkloadLabels labels_for(const std::string& path) override {
    WorkloadLabels l;
    if (forgotten) return l;
    if (path == "/pod/a" || path == "/pod/b") {
      l.pod_namespace = "shop";
      l.owner = "deployment/web";
      l.container = "web";
      l.image = "nginx:1.25";
    } else if (path == "/other") {
      l.image = "nginx:1.25";
    } else if (path == "/unit") {
      l.unit = "cron.service";
    } else if (path == "/unit2") {
      l.unit = "anacron.service";
    } else if (path == "/long") {
      l.image = "registry.example/" + std::string(240, 'x');  // 6 + 1 + 257 bytes
    }
    return l;
  }
};

std::set<std::pair<std::uint32_t, std::uint16_t>> past(const Collection& c, const std::string& kind,
                                                       const std::string& name) {
  if (!c.past_groups) return {};
  const auto it = c.past_groups->find({kind, name});
  return it == c.past_groups->end() ? std::set<std::pair<std::uint32_t, std::uint16_t>>{} : it->second;
}

}  // namespace

// What the reclaimed members of a workload group made stays with the group,
// across a restart: a syscall each, not counts. A call seccomp refused every
// time is no use of it; one refused only sometimes is.
TEST(Collect, ReclaimedMembersSyscallsStayWithTheirGroups) {
  FakeSource src;
  FakeNamer names;
  GroupNamer workloads;
  names.paths = {{1, "/pod/a"}, {2, "/pod/b"}, {3, "/other"}, {4, "/unit"}};
  names.removed = {1, 3, 4};
  ErrnoRow refused{};
  refused.key = {1, 83, 0, 1};  // mkdir, EPERM: each of its 3 calls
  refused.count = 3;
  ErrnoRow sometimes = refused;
  sometimes.key.nr = 84;  // rmdir: 1 of 2
  sometimes.count = 1;
  auto compat = row(1, 20, 1);
  compat.key.abi = SYSLENS_ABI_COMPAT;
  src.snap.stats = {row(1, 0, 5), row(1, 83, 3), row(1, 84, 2), compat, row(2, 1, 1), row(3, 2, 1), row(4, 3, 1)};
  src.snap.denied = {refused, sometimes};
  Collect collect(src, names, &workloads, quick_reclaim());
  EXPECT_TRUE(past(*collect.latest(Collect::Clock::duration::zero()), "owner", "shop/deployment/web").empty());
  workloads.forgotten = true;  // gone from the runtime before the reclaim: grouped as last seen
  collect.latest(Collect::Clock::duration::zero());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto c = collect.latest(Collect::Clock::duration::zero());  // 1, 3 and 4 reclaimed
  workloads.forgotten = false;
  using S = std::set<std::pair<std::uint32_t, std::uint16_t>>;
  const S a = {{0, 0}, {84, 0}, {20, 1}};
  EXPECT_EQ(past(*c, "owner", "shop/deployment/web"), a) << "2 is live: its calls are not past ones";
  S image = a;
  image.insert({2, 0});
  EXPECT_EQ(past(*c, "image", "nginx:1.25"), image);
  EXPECT_EQ(past(*c, "unit", "cron.service"), S({{3, 0}}));
  EXPECT_EQ(c->past_groups->size(), 3U);
  EXPECT_EQ(src.groups.size(), 3U);
  EXPECT_TRUE(src.retired.count({retired_label_key("/pod/a"), 0, 0, 0})) << "the counts are retired as before";
  bool filled = false;
  for (const auto& f : c->fill) filled |= std::string(f.map) == "syslens_groups" && f.entries == 3;
  EXPECT_TRUE(filled);
  EXPECT_EQ(collect.reclaim_stats().groups, 3U);
  // The replica goes too, and then syslensd restarts: both replicas' calls.
  names.removed.insert(2);
  collect.latest(Collect::Clock::duration::zero());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  collect.latest(Collect::Clock::duration::zero());
  FakeNamer fresh;  // a new process knows no removed cgroup
  Collect restarted(src, fresh, &workloads, quick_reclaim());
  const auto r = restarted.latest(Collect::Clock::duration::zero());
  S both = a;
  both.insert({1, 0});
  EXPECT_EQ(past(*r, "owner", "shop/deployment/web"), both);
  EXPECT_EQ(past(*r, "unit", "cron.service"), S({{3, 0}}));
  EXPECT_EQ(restarted.reclaim_stats().groups_unpersisted, 0U);
}

// The groups map full: new groups are kept in memory, said once and counted,
// and persisted when room comes; names too long for the map are counted.
TEST(Collect, AFullGroupsMapKeepsGroupsInMemoryAndSaysSo) {
  test::LogCapture log;
  FakeSource src;
  src.groups_room = 1;
  FakeNamer names;
  GroupNamer workloads;
  names.paths = {{1, "/pod/a"}, {4, "/unit"}, {6, "/long"}};
  names.removed = {1, 4, 6};
  src.snap.stats = {row(1, 0, 1), row(4, 3, 1), row(6, 0, 1)};
  Collect collect(src, names, &workloads, quick_reclaim());
  collect.latest(Collect::Clock::duration::zero());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto c = collect.latest(Collect::Clock::duration::zero());
  EXPECT_EQ(c->past_groups->size(), 3U) << "owner, image and unit, whatever the map holds";
  EXPECT_EQ(src.groups.size(), 1U);
  const auto rs = collect.reclaim_stats();
  EXPECT_EQ(rs.groups, 3U);
  EXPECT_EQ(rs.groups_unpersisted, 2U);
  EXPECT_EQ(rs.groups_dropped_name_too_long, 1U);
  EXPECT_EQ(log.lines_with("the syslens_groups map is full"), 1U);
  // Memory holds as many unpersisted groups as the map holds: with that many
  // waiting, a new group is dropped and counted; a known one still learns.
  names.paths[7] = "/other";  // image nginx:1.25: known
  names.paths[8] = "/unit2";  // anacron.service: new
  names.removed.insert({7, 8});
  src.snap.stats = {row(7, 5, 1), row(8, 3, 1)};
  collect.latest(Collect::Clock::duration::zero());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto full = collect.latest(Collect::Clock::duration::zero());
  EXPECT_EQ(collect.reclaim_stats().groups_dropped_full, 1U);
  EXPECT_TRUE(past(*full, "image", "nginx:1.25").count({5, 0}));
  EXPECT_TRUE(past(*full, "unit", "anacron.service").empty());
  // Room again: the next reclaim persists them.
  src.groups_room = 10;
  names.paths[5] = "/unit";
  names.removed.insert(5);
  src.snap.stats = {row(5, 3, 1)};
  collect.latest(Collect::Clock::duration::zero());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  collect.latest(Collect::Clock::duration::zero());
  EXPECT_EQ(src.groups.size(), 3U);
  EXPECT_EQ(collect.reclaim_stats().groups_unpersisted, 0U);
}

// Which groups a workload is in: a pod's container in its owner's and its
// image's (the sandbox in neither owner nor unit); a service in its unit's;
// a container's own scope and a session scope are groups of one, no group.
TEST(WorkloadGroups, OwnersImagesAndServices) {
  using G = std::vector<std::pair<std::string, std::string>>;
  WorkloadLabels web{"abc",           "web", "web-7d4b9c8f6-x2x7q", "shop", "nginx:1.25", "cri-containerd-abc.scope",
                     "deployment/web"};
  EXPECT_EQ(workload_groups(web), G({{"owner", "shop/deployment/web"}, {"image", "nginx:1.25"}}));
  WorkloadLabels pause = web;
  pause.container = "POD";
  pause.image = "registry.k8s.io/pause:3.9";
  EXPECT_EQ(workload_groups(pause), G({{"image", "registry.k8s.io/pause:3.9"}}));
  EXPECT_EQ(workload_groups({"", "", "", "", "", "cron.service", ""}), G({{"unit", "cron.service"}}));
  EXPECT_EQ(workload_groups({"", "", "", "", "", "session-4.scope", ""}), G());
  EXPECT_EQ(workload_groups({"", "", "", "", "", "user.slice", ""}), G());
  EXPECT_EQ(workload_groups({}), G());
}
