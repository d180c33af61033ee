#include <gtest/gtest.h>

#include <thread>

#include "kernel_fakes.h"
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

ErrnoRow enoent(std::uint64_t cg, std::uint32_t nr, std::uint64_t n) {
  ErrnoRow e{};
  e.key.cgroup_id = cg;
  e.key.nr = nr;
  e.key.err = 2;
  e.count = n;
  return e;
}

CollectOptions quick_reclaim() {
  CollectOptions o;
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
