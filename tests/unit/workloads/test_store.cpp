#include <gtest/gtest.h>

#include "store_fixture.h"
#include "syslens/seccomp/profiles.h"  // the scrape view's denial counts
#include "syslens/workloads/store.h"

using namespace syslens;
using namespace syslens::test;

TEST(WorkloadStore, GroupsCgroupsIntoWorkloadsAndTracksSeen) {
  WorkloadStore st;
  st.update(fixture(10), 1000);
  ASSERT_EQ(st.workloads().size(), 3U);  // (overflow) is not a workload
  const auto& web = st.workloads()[0].key == "container/" + A ? st.workloads()[0] : st.workloads()[1];
  EXPECT_EQ(web.cgroups.size(), 2U);
  EXPECT_EQ(web.calls(), 15U);
  EXPECT_EQ(web.syscalls.at("read").first_seen, 1000);
  st.update(fixture(12), 1010);  // read grew, write did not
  for (const auto& w : st.workloads()) {
    if (w.key != "container/" + A) continue;
    EXPECT_EQ(w.syscalls.at("read").first_seen, 1000);
    EXPECT_EQ(w.syscalls.at("read").last_seen, 1010);
    EXPECT_EQ(w.syscalls.at("write").last_seen, 1000);
    EXPECT_EQ(w.last_seen, 1010);
    EXPECT_EQ(w.first_seen, 1000);
  }
}

TEST(WorkloadSyscalls, WhatAScrapeNeedsAgreesWithTheStore) {
  auto a = unfinished_fixture();
  add(a, "/kubepods/burstable/pod1/" + A + "/sub", "read", calls(1));  // in both cgroups: counted once
  add(a, "(unresolved)", "close", calls(1));
  a.finish();
  const auto ws = workload_syscalls(a);
  WorkloadStore st;
  st.update(a, 1000);
  ASSERT_EQ(ws.size(), 3U);  // (overflow), (unresolved) are not workloads
  ASSERT_EQ(st.workloads().size(), ws.size());
  const auto ref = parse_reference_profile(
      R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]})", "test",
      Arch::x86_64);
  for (std::size_t i = 0; i < ws.size(); ++i) {
    const auto& w = st.workloads()[i];
    SCOPED_TRACE(w.key);
    EXPECT_EQ(ws[i].key, w.key);  // same order: by key
    EXPECT_EQ(ws[i].labels->image, w.labels.image);
    std::vector<std::string> names;
    for (const auto* n : ws[i].syscalls) names.push_back(*n);
    std::vector<std::string> want;
    for (const auto& [n, _] : w.syscalls) want.push_back(n);
    EXPECT_EQ(names, want);
    EXPECT_EQ(denied_count(ref, ws[i]), denied_by(ref, w).size());
  }
  EXPECT_EQ(ws[0].key, "/system.slice/sshd.service");
  EXPECT_EQ(denied_count(ref, ws[0]), 1U);  // accept4
  EXPECT_EQ(ws[1].key, "container/" + A);
  EXPECT_EQ(ws[1].syscalls.size(), 2U);  // read, write
  EXPECT_EQ(denied_count(ref, ws[1]), 0U);
  EXPECT_EQ(ws[2].key, "container/" + B);
  EXPECT_EQ(denied_count(ref, ws[2]), 1U);  // openat (i386:getppid is not judged)
}

TEST(ResolveRef, EveryForm) {
  WorkloadStore st;
  st.update(fixture(), 1000);
  const auto& ws = st.workloads();
  EXPECT_EQ(resolve_ref(ws, A).workload->labels.container, "web");
  EXPECT_EQ(resolve_ref(ws, A.substr(0, 12)).workload->labels.container, "web");
  EXPECT_EQ(resolve_ref(ws, "shop/shop-web-0/web").workload->labels.container_id, A);
  EXPECT_EQ(resolve_ref(ws, "api").workload->labels.container_id, B);
  EXPECT_EQ(resolve_ref(ws, "sshd.service").workload->labels.unit, "sshd.service");
  EXPECT_EQ(resolve_ref(ws, "/system.slice/sshd.service").workload->labels.unit, "sshd.service");
  EXPECT_EQ(resolve_ref(ws, "/kubepods/burstable/pod1/" + A + "/sub").workload->labels.container, "web");
}

TEST(ResolveRef, Errors) {
  WorkloadStore st;
  st.update(fixture(), 1000);
  const auto& ws = st.workloads();
  auto amb = resolve_ref(ws, "2f0a");  // prefix of both A and B
  EXPECT_EQ(amb.status, 409U);
  EXPECT_EQ(amb.candidates.size(), 2U);
  EXPECT_EQ(resolve_ref(ws, "nope").status, 404U);
  EXPECT_EQ(resolve_ref(ws, "/no/such").status, 404U);
  EXPECT_EQ(resolve_ref(ws, "shop/x/web").status, 404U);
  EXPECT_EQ(resolve_ref(ws, "").status, 400U);
  EXPECT_EQ(resolve_ref(ws, std::string(600, 'a')).status, 400U);
  EXPECT_EQ(resolve_ref(ws, "a\nb").status, 400U);
}

// Two members of a group, one syscall: everything adds up, the seen times
// span both, and made-by-a-past-member sticks.
TEST(SyscallRecord, MergeAddsCountsAndSpansTimes) {
  SyscallRecord a;
  a.totals = calls(5);
  a.errors = {{"ENOENT", 2}};
  a.denied = {{"EPERM", 1}};
  a.first_seen = 100;
  a.last_seen = 200;
  SyscallRecord b;
  b.totals = calls(3);
  b.errors = {{"ENOENT", 1}, {"EPERM", 1}};
  b.denied = {{"EPERM", 1}};
  b.past = true;
  b.first_seen = 50;
  b.last_seen = 150;
  a.merge(b);
  EXPECT_EQ(a.totals.calls, 8U);
  EXPECT_EQ(a.totals.hist[10], 8U);
  EXPECT_EQ(a.errors, (std::map<std::string, std::uint64_t>{{"ENOENT", 3}, {"EPERM", 1}}));
  EXPECT_EQ(a.denied, (std::map<std::string, std::uint64_t>{{"EPERM", 2}}));
  EXPECT_TRUE(a.past);
  EXPECT_EQ(a.first_seen, 50);
  EXPECT_EQ(a.last_seen, 200);
}
