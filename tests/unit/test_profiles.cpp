#include <gtest/gtest.h>

#include "syslens/profiles.h"

using namespace syslens;

namespace {

const std::string A = "2f0aa5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a0";
const std::string B = "2f0ab5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a1";

SeriesAgg calls(std::uint64_t n) {
  SeriesAgg s;
  s.calls = n;
  s.returns = n;
  s.sum_ns = n * 1000;
  s.hist[10] = n;
  return s;
}

void add(AggregatedSnapshot& a, const std::string& cgroup, const std::string& syscall, const SeriesAgg& v) {
  a.add(a.intern(cgroup), a.intern(syscall), v);
}

// Unfinished: callers add what they need, then finish().
AggregatedSnapshot unfinished_fixture(std::uint64_t web_reads = 10) {
  AggregatedSnapshot a;
  const std::string web = "/kubepods/burstable/pod1/" + A, api = "/docker/" + B, sshd = "/system.slice/sshd.service";
  add(a, web, "read", calls(web_reads));
  add(a, web + "/sub", "write", calls(5));  // nested below the container: same workload
  add(a, api, "openat", calls(7));
  add(a, api, "i386:getppid", calls(2));
  add(a, sshd, "accept4", calls(3));
  add(a, "(overflow)", "read", calls(99));
  a.add_error(a.intern(api), a.intern("openat"), a.intern("ENOENT"), 4);
  WorkloadLabels w{A, "web", "shop-web-0", "shop", "nginx:1.25", ""};
  a.workloads[web] = w;
  a.workloads[web + "/sub"] = w;
  a.workloads[api] = {B, "api", "", "", "api:2", ""};
  a.workloads[sshd] = {"", "", "", "", "", "sshd.service"};
  return a;
}

AggregatedSnapshot fixture(std::uint64_t web_reads = 10) {
  auto a = unfinished_fixture(web_reads);
  a.finish();
  return a;
}

}  // namespace

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
  ReferenceProfile ref{"test", {"read", "write"}};
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

TEST(Profile, PerSyscallCountsErrnoLatencyAndDrift) {
  WorkloadStore st;
  st.update(fixture(), 1000);
  const auto* api = resolve_ref(st.workloads(), "api").workload;
  ReferenceProfile ref{"test", {"read", "write"}};
  auto j = profile_json(*api, &ref);
  EXPECT_EQ(j["workload"]["labels"]["image"], "api:2");
  EXPECT_EQ(j["workload"]["distinct_syscalls"], 2);
  ASSERT_EQ(j["syscalls"].size(), 2U);
  const auto& openat = j["syscalls"][1];
  EXPECT_EQ(openat["syscall"], "openat");
  EXPECT_EQ(openat["calls"], 7);
  EXPECT_EQ(openat["failures"]["ENOENT"], 4);
  EXPECT_DOUBLE_EQ(openat["latency_seconds"]["p99"].get<double>(), 1024e-9);
  EXPECT_EQ(openat["first_seen"], "1970-01-01T00:16:40Z");
  EXPECT_EQ(j["seccomp_drift"]["denied"], nlohmann::json::array({"openat"}));  // i386 calls are not judged
}

TEST(Seccomp, AllowsExactlyWhatWasSeenPlusTheRuntimeSet) {
  WorkloadStore st;
  st.update(fixture(), 1000);
  const auto* api = resolve_ref(st.workloads(), "api").workload;
  auto d = seccomp_json(*api, Arch::x86_64, SeccompFormat::docker, false);
  EXPECT_EQ(d["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(d["defaultErrnoRet"], 1);
  EXPECT_EQ(d["syscalls"][0]["names"], nlohmann::json::array({"getppid", "openat"}));
  EXPECT_EQ(d["archMap"][0]["subArchitectures"], nlohmann::json::array({"SCMP_ARCH_X86"}));
  auto o = seccomp_json(*api, Arch::x86_64, SeccompFormat::oci, true);
  EXPECT_EQ(o["architectures"], nlohmann::json::array({"SCMP_ARCH_X86", "SCMP_ARCH_X86_64"}));
  const auto names = o["syscalls"][0]["names"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(names.begin(), names.end(), "execve"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "openat"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "ptrace"), names.end());
}

TEST(ReferenceProfile, AllowRulesByArchAndCapability) {
  const char* text = R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
    {"names":["reboot","uselib"],"action":"SCMP_ACT_ERRNO"},
    {"names":["read","write","clone"],"action":"SCMP_ACT_ALLOW"},
    {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}},
    {"names":["arm_fadvise64_64"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm","arm64"]}},
    {"names":["bpf"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]})";
  auto r = parse_reference_profile(text, "ref", Arch::x86_64);
  EXPECT_EQ(r.allowed, (std::set<std::string>{"arch_prctl", "clone", "read", "write"}));
  auto arm = parse_reference_profile(text, "ref", Arch::arm64);
  EXPECT_TRUE(arm.allowed.count("arm_fadvise64_64"));
  EXPECT_FALSE(arm.allowed.count("arch_prctl"));
  EXPECT_THROW(parse_reference_profile("[1,2]", "x", Arch::x86_64), std::runtime_error);
  EXPECT_THROW(parse_reference_profile("{", "x", Arch::x86_64), std::runtime_error);
}
