// The API's handlers called directly, over the collect layer and fakes of
// the kernel edge: what each answers, errors included.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "kernel_fakes.h"
#include "syslens/api/api.h"
#include "syslens/api/trace.h"

using namespace syslens;
using namespace syslens::test;
using nlohmann::json;

namespace {

// The workload: its cgroup path, percent-encoded.
const std::string kRef = "%2Fsystem.slice%2Fweb.service";

// Live windows that record what was asked.
class FakeLive final : public LiveWindows {
 public:
  Mode m = Mode::full;
  int fd = -1;
  Mode mode() const override { return m; }
  std::uint64_t counter(unsigned) const override { return 0; }
  void set_trace(const std::vector<std::uint64_t>& ids, const syslens_trace_filter&) override {
    traces += !ids.empty();
  }
  int trace_fd() const override { return fd; }
  void consume_trace(const std::function<void(const syslens_trace_event&)>&) override {}
  void set_processes(const std::vector<std::uint64_t>&) override {}
  std::vector<ProcessCount> read_processes() const override { return {}; }
  int traces = 0;
};

struct ApiFixture {
  FakeSource src;
  FakeNamer names;
  Collect collect{src, names, nullptr, quiet()};
  Api api{collect, Arch::x86_64, std::nullopt};
  ApiFixture() {
    names.paths = {{7, "/system.slice/web.service"}};
    src.snap.stats = {row(7, 39, 5), row(7, 257, 2)};  // getpid, openat
  }
  static CollectOptions quiet() {
    CollectOptions o;
    o.arch = Arch::x86_64;
    o.metadata_wait = std::chrono::milliseconds(0);
    return o;
  }
  json get(const std::string& target, unsigned want) {
    const auto r = api.handle(target);
    EXPECT_EQ(r.status, want) << target << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    return json::parse(r.body, nullptr, false);
  }
};

}  // namespace

TEST(Api, ListsProfilesAndWritesSeccompOfAWorkload) {
  ApiFixture f;
  const auto list = f.get("/api/v1/workloads", 200);
  ASSERT_EQ(list["workloads"].size(), 1U);
  EXPECT_EQ(list["workloads"][0]["key"], "/system.slice/web.service");
  EXPECT_EQ(list["workloads"][0]["calls"], 7);
  const auto prof = f.get("/api/v1/workloads/" + kRef + "/profile", 200);
  EXPECT_EQ(prof["workload"]["calls"], 7);
  const auto sc = f.get("/api/v1/workloads/" + kRef + "/seccomp?format=oci&runtime_syscalls=false", 200);
  EXPECT_EQ(sc["syscalls"][0]["names"], json({"getpid", "openat"}));
  // New calls show at the next request: each request reads the maps.
  f.src.snap.stats[0].val.calls += 3;
  EXPECT_EQ(f.get("/api/v1/workloads", 200)["workloads"][0]["calls"], 10);
}

TEST(Api, EveryErrorIsJsonWithItsStatus) {
  ApiFixture f;
  EXPECT_NE(f.get("/api/v1/workloads/nope/profile", 404)["error"].get<std::string>().find("no workload matches"),
            std::string::npos);
  f.get("/api/v1/workloads/" + kRef + "/frobnicate", 404);
  f.get("/api/v1/workloads/%zz/profile", 400);
  f.get("/api/v1/workloads/" + kRef + "/seccomp?format=yaml", 400);
  f.get("/api/v1/workloads/" + kRef + "/seccomp?runtime_syscalls=maybe", 400);
  // Without a live hub, trace and processes are unavailable.
  f.get("/api/v1/workloads/" + kRef + "/trace", 503);
}

TEST(Api, TracesNeedFullModeAndARingBufferAndAreOneAtATime) {
  ApiFixture f;
  boost::asio::io_context io;
  FakeLive live;
  live.m = Mode::count;
  TraceHub hub(io, live, Arch::x86_64, [](const std::string&) { return std::optional<std::uint64_t>(7); });
  f.api.serve_live(&hub);
  EXPECT_NE(f.get("/api/v1/workloads/" + kRef + "/trace", 409)["error"].get<std::string>().find("mode: full"),
            std::string::npos);
  live.m = Mode::full;
  f.get("/api/v1/workloads/" + kRef + "/trace", 503);  // no ring buffer
  EXPECT_EQ(live.traces, 0);
  f.get("/api/v1/workloads/" + kRef + "/processes?window=1ms", 400);
  f.get("/api/v1/workloads/" + kRef + "/processes?limit=x", 400);
}

namespace {

class UnitNamer final : public WorkloadNamer {
 public:
  WorkloadLabels labels_for(const std::string& path) override {
    WorkloadLabels l;
    if (path.rfind("/system.slice/", 0) == 0) l.unit = path.substr(14);
    return l;
  }
};

}  // namespace

// A unit's profile over its runs: the live one's syscalls with counts (its
// path's series go on across runs), what seccomp refused, and what a
// reclaimed run made; and a unit gone for longer than its series last.
TEST(Api, GroupProfilesJoinLiveWorkloadsAndPastMembers) {
  FakeSource src;
  FakeNamer names;
  UnitNamer units;
  names.paths = {{7, "/system.slice/web.service"}, {8, "/system.slice/web.service"}, {9, "/system.slice/db.service"}};
  names.removed = {8};
  src.snap.stats = {row(7, 39, 5), row(8, 0, 4), row(8, 83, 2), row(9, 1, 1)};  // getpid | read, mkdir | write
  ErrnoRow refused{};
  refused.key = {8, 83, 0, 1};
  refused.count = 2;
  src.snap.denied = {refused};
  auto o = ApiFixture::quiet();
  o.removed_grace = std::chrono::milliseconds(20);
  o.reclaim_every = std::chrono::milliseconds(0);
  Collect collect{src, names, &units, o};
  Api api{collect, Arch::x86_64, std::nullopt};
  auto get = [&](const std::string& target, unsigned want) {
    const auto r = api.groups(target);
    EXPECT_EQ(r.status, want) << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  };
  get("/api/v1/profiles?group_by=unit", 200);  // 8 noticed gone
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto list = get("/api/v1/profiles?group_by=unit", 200);  // 8 reclaimed
  ASSERT_EQ(list["groups"].size(), 2U) << list.dump();
  EXPECT_EQ(list["groups"][1]["group"], "web.service");
  EXPECT_EQ(list["groups"][1]["live_workloads"], 1);
  EXPECT_EQ(list["groups"][1]["distinct_syscalls"], 2);
  EXPECT_EQ(list["groups"][1]["calls"], 11);
  const auto web = get("/api/v1/profiles?group_by=unit&group=web.service", 200);
  ASSERT_EQ(web["syscalls"].size(), 3U) << web.dump();
  EXPECT_EQ(web["syscalls"][0],
            json({{"syscall", "getpid"}, {"calls", 5}, {"seccomp_denied", json::object()}, {"past_members", false}}));
  EXPECT_EQ(web["syscalls"][1],
            json({{"syscall", "mkdir"}, {"calls", 2}, {"seccomp_denied", {{"EPERM", 2}}}, {"past_members", false}}));
  EXPECT_EQ(web["syscalls"][2],
            json({{"syscall", "read"}, {"calls", 4}, {"seccomp_denied", json::object()}, {"past_members", true}}));
  EXPECT_EQ(web["live_workloads"], json({"/system.slice/web.service"}));
  const auto oci = get("/api/v1/profiles?group_by=unit&group=web.service&format=oci&runtime_syscalls=false", 200);
  EXPECT_EQ(oci["syscalls"][0]["names"], json({"getpid", "read"}));
  const auto spo = api.groups("/api/v1/profiles?group_by=unit&group=web.service&format=spo&runtime_syscalls=false");
  EXPECT_EQ(spo.content_type, "application/yaml");
  EXPECT_NE(spo.body.find("- read"), std::string::npos) << spo.body;
  EXPECT_NE(get("/api/v1/profiles?group_by=unit&group=nope.service", 404)["error"].get<std::string>().find(
                "unit 'nope.service' is not known"),
            std::string::npos);
  // db.service stops: reclaimed, then its series expire; its profile stays.
  names.removed.insert(9);
  get("/api/v1/profiles?group_by=unit", 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  get("/api/v1/profiles?group_by=unit", 200);  // reclaimed
  get("/api/v1/profiles?group_by=unit", 200);  // absent: noted
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto db = get("/api/v1/profiles?group_by=unit&group=db.service", 200);  // expired
  EXPECT_EQ(db["live_workloads"], json::array());
  EXPECT_EQ(
      db["syscalls"],
      json::array({{{"syscall", "write"}, {"calls", 0}, {"seccomp_denied", json::object()}, {"past_members", true}}}));
  EXPECT_EQ(collect.reclaim_stats().retired_expired, 1U);
  get("/api/v1/profiles?group_by=pod", 400);
  get("/api/v1/profiles", 400);
  get("/api/v1/profiles?group_by=unit&group=web.service&format=yaml", 400);
  get("/api/v1/profiles?group_by=unit&group=web.service&format=spo&name=Web_Service", 400);  // not DNS-1123
}

// Who may open a live window: one per identity (anonymous callers share
// ""), a cap in all, and at the cap an authorized caller takes the
// anonymous one's slot, never another authorized caller's.
TEST(LiveWindows, AdmitOnePerCallerACapAndAnonymousMakesRoom) {
  using V = Admission::Verdict;
  Caller anon, root, alice;
  root.identity = "uid:0";
  alice.identity = "user:alice";
  EXPECT_EQ(admit({}, anon, 2).verdict, V::open);
  EXPECT_EQ(admit({""}, anon, 2).verdict, V::own);
  EXPECT_EQ(admit({"uid:0"}, root, 2).verdict, V::own);
  EXPECT_EQ(admit({""}, root, 2).verdict, V::open);
  const auto a = admit({"uid:0", ""}, alice, 2);
  EXPECT_EQ(a.verdict, V::preempt);
  EXPECT_EQ(a.preempt, 1U);
  EXPECT_EQ(admit({"uid:0", "user:bob"}, alice, 2).verdict, V::cap);
  EXPECT_EQ(admit({"uid:0", "user:bob"}, anon, 2).verdict, V::cap);
  EXPECT_EQ(admit({"uid:0", ""}, anon, 2).verdict, V::own);
}

// The shared kernel feed passes everything any trace wants; each trace
// keeps what its own filter says.
TEST(LiveWindows, TheFeedsFilterIsTheLoosestAndEachTraceFiltersItsOwn) {
  syslens_trace_filter getppid_slow{};
  getppid_slow.nr_plus_one = 110 + 1;
  getppid_slow.min_latency_ns = 5000;
  syslens_trace_filter failed{};
  failed.failed_only = 1;
  failed.min_latency_ns = 100;
  const auto f = loosest({getppid_slow, failed});
  EXPECT_EQ(f.nr_plus_one, 0U);
  EXPECT_EQ(f.failed_only, 0U);
  EXPECT_EQ(f.min_latency_ns, 100U);
  const auto same = loosest({failed, failed});
  EXPECT_EQ(same.failed_only, 1U);
  syslens_trace_filter denied{};
  denied.denied_only = 1;
  EXPECT_EQ(loosest({denied, denied}).denied_only, 1U);
  EXPECT_EQ(loosest({denied, failed}).denied_only, 0U);
  syslens_trace_event e{};
  e.nr = 110;
  e.latency_ns = 6000;
  e.ret = 7;
  EXPECT_TRUE(passes(getppid_slow, e));
  EXPECT_FALSE(passes(failed, e));
  e.ret = -2;
  EXPECT_TRUE(passes(failed, e));
  EXPECT_FALSE(passes(denied, e));
  e.flags = SYSLENS_TRACE_DENIED;
  EXPECT_TRUE(passes(denied, e));
  e.latency_ns = 4999;
  EXPECT_FALSE(passes(getppid_slow, e));
  e.nr = 39;
  e.latency_ns = 6000;
  EXPECT_FALSE(passes(getppid_slow, e));
  EXPECT_TRUE(passes(syslens_trace_filter{}, e));
}
