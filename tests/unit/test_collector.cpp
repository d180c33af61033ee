#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <cmath>
#include <map>

#include "syslens/collector.h"

using namespace syslens;

namespace {

class FakeSource final : public SnapshotSource {
 public:
  Snapshot snap;
  Snapshot read() override { return snap; }
};

class FakeNamer final : public CgroupNamer {
 public:
  std::map<std::uint64_t, std::string> paths;
  int lookups = 0;
  std::optional<std::string> path_of(std::uint64_t id) override {
    ++lookups;
    auto it = paths.find(id);
    if (it == paths.end()) return std::nullopt;
    return it->second;
  }
};

StatsRow row(std::uint64_t cg, std::uint32_t nr, std::uint64_t calls, std::uint32_t abi = 0) {
  StatsRow r{};
  r.key.cgroup_id = cg;
  r.key.nr = nr;
  r.key.abi = abi;
  r.val.calls = calls;
  r.val.returns = calls;
  r.val.sum_ns = calls * 1000;
  r.val.hist[10] = calls;  // <= 1024 ns
  return r;
}

const prometheus::MetricFamily* find(const std::vector<prometheus::MetricFamily>& fs, const std::string& name) {
  for (const auto& f : fs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string label(const prometheus::ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return "<none>";
}

}  // namespace

TEST(Collector, ExportsCountsErrorsAndHistogramsPerCgroupAndSyscall) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/"}, {42, "/system.slice/a.service"}};
  src.snap.stats = {row(1, 110, 5), row(42, 257, 7)};
  ErrnoRow e{};
  e.key.cgroup_id = 42;
  e.key.nr = 257;
  e.key.err = 2;
  e.count = 3;
  src.snap.errors = {e};
  SyscallCollector c(src, names, nullptr, {}, {});
  auto fs = c.Collect();

  auto* calls = find(fs, "syslens_syscalls_total");
  ASSERT_TRUE(calls);
  ASSERT_EQ(calls->metric.size(), 2U);
  EXPECT_EQ(label(calls->metric[0], "cgroup"), "/");
  EXPECT_EQ(label(calls->metric[0], "syscall"), "getppid");
  EXPECT_EQ(calls->metric[0].counter.value, 5);
  EXPECT_EQ(label(calls->metric[1], "cgroup"), "/system.slice/a.service");
  EXPECT_EQ(label(calls->metric[1], "syscall"), "openat");

  auto* errs = find(fs, "syslens_syscall_errors_total");
  ASSERT_TRUE(errs);
  ASSERT_EQ(errs->metric.size(), 1U);
  EXPECT_EQ(label(errs->metric[0], "errno"), "ENOENT");
  EXPECT_EQ(errs->metric[0].counter.value, 3);

  auto* dur = find(fs, "syslens_syscall_duration_seconds");
  ASSERT_TRUE(dur);
  const auto& h = dur->metric[1].histogram;
  EXPECT_EQ(h.sample_count, 7U);
  EXPECT_DOUBLE_EQ(h.sample_sum, 7e-6);
  EXPECT_EQ(h.bucket.front().cumulative_count, 0U);  // le=256ns
  EXPECT_EQ(h.bucket[1].cumulative_count, 7U);       // le=1024ns
  EXPECT_TRUE(std::isinf(h.bucket.back().upper_bound));
  EXPECT_EQ(h.bucket.back().cumulative_count, 7U);
}

TEST(Collector, SumsKeysThatDecodeToTheSameLabels) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{10, "/a"}, {11, "/a"}};  // e.g. the same path seen through two ids
  src.snap.stats = {row(10, 39, 2), row(11, 39, 3), row(12, 39, 4), row(13, 39, 5)};  // 12, 13: gone
  SyscallCollector c(src, names, nullptr, {}, {});
  auto fs = c.Collect();
  auto* calls = find(fs, "syslens_syscalls_total");
  ASSERT_EQ(calls->metric.size(), 2U);
  EXPECT_EQ(label(calls->metric[0], "cgroup"), kCgroupUnresolved);
  EXPECT_EQ(calls->metric[0].counter.value, 9);
  EXPECT_EQ(label(calls->metric[1], "cgroup"), "/a");
  EXPECT_EQ(calls->metric[1].counter.value, 5);
  EXPECT_EQ(names.lookups, 4);  // each id once per scrape
}

TEST(Collector, OverflowRowsKeepTotalsExact) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/"}};
  src.snap.stats = {row(1, 110, 5)};
  src.snap.overflow = {row(0, 110, 6), row(0, 64, 1, SYSLENS_ABI_COMPAT)};
  src.snap.counters[SYSLENS_CNT_STATS_MAP_FULL] = 7;
  SyscallCollector c(src, names, nullptr, {}, {});
  auto fs = c.Collect();
  auto* calls = find(fs, "syslens_syscalls_total");
  ASSERT_EQ(calls->metric.size(), 3U);
  double total = 0;
  for (const auto& m : calls->metric) total += m.counter.value;
  EXPECT_EQ(total, 12);
  EXPECT_EQ(label(calls->metric[0], "cgroup"), kCgroupOverflow);
  EXPECT_EQ(label(calls->metric[0], "syscall"), "getppid");
  EXPECT_EQ(label(calls->metric[1], "syscall"), "i386:getppid");
  auto* fails = find(fs, "syslens_bpf_failures_total");
  ASSERT_TRUE(fails);
  bool seen = false;
  for (const auto& m : fails->metric) {
    if (label(m, "reason") == "stats_map_full") {
      EXPECT_EQ(m.counter.value, 7);
      seen = true;
    }
  }
  EXPECT_TRUE(seen);
}

TEST(Collector, CountModeHasNoLatencyOrErrnoFamilies) {
  FakeSource src;
  FakeNamer names;
  src.snap.stats = {row(1, 110, 5)};
  CollectorOptions o;
  o.latency = false;
  SyscallCollector c(src, names, nullptr, o, {});
  auto fs = c.Collect();
  EXPECT_TRUE(find(fs, "syslens_syscalls_total"));
  EXPECT_FALSE(find(fs, "syslens_syscall_errors_total"));
  EXPECT_FALSE(find(fs, "syslens_syscall_duration_seconds"));
}

TEST(Collector, SelfMetricsArePresent) {
  FakeSource src;
  FakeNamer names;
  src.snap.fill = {{"syslens_stats", 3, 64}};
  SelfInfo self;
  self.mode = "full";
  self.attach = "tp_btf";
  self.thread_store = "task_storage";
  self.program_stats = [] { return std::vector<ProgramStats>{{"tpbtf_enter_task", 100, 5000}}; };
  self.run_stats_enabled_seconds = [] { return 1.5; };
  self.cgroup_stats = [] { return CgroupPathStats{}; };
  SyscallCollector c(src, names, nullptr, {}, self);
  auto fs = c.Collect();
  for (const char* n : {"syslens_build_info", "syslens_bpf_info", "syslens_bpf_failures_total", "syslens_bpf_events_total",
                        "syslens_bpf_map_entries", "syslens_bpf_map_capacity", "syslens_tracked_cgroups",
                        "syslens_bpf_program_runs_total", "syslens_bpf_program_run_seconds_total",
                        "syslens_bpf_run_stats_enabled_seconds_total", "syslens_cgroup_cache_entries",
                        "syslens_scrape_duration_seconds"}) {
    EXPECT_TRUE(find(fs, n)) << n;
  }
  EXPECT_DOUBLE_EQ(find(fs, "syslens_bpf_program_run_seconds_total")->metric[0].counter.value, 5e-6);
  // The failure counters are all there, zero or not, so alerts can use them.
  EXPECT_EQ(find(fs, "syslens_bpf_failures_total")->metric.size(), 7U);
  auto text = prometheus::TextSerializer().Serialize(fs);
  EXPECT_NE(text.find("syslens_bpf_map_capacity{map=\"syslens_stats\"} 64"), std::string::npos) << text;
}

namespace {
class FakeRuntime final : public MetadataSource {
 public:
  std::vector<std::pair<std::string, ContainerMeta>> containers;
  std::atomic<int> calls{0};
  bool fail = false;
  std::string name() const override { return "fake"; }
  std::vector<std::pair<std::string, ContainerMeta>> list(std::chrono::milliseconds) override {
    ++calls;
    if (fail) throw std::runtime_error("fake runtime down");
    return containers;
  }
};
const std::string kId = "2f0aa5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a0";
}  // namespace

TEST(Collector, EverySeriesCarriesTheWorkloadLabels) {
  auto rt = std::make_unique<FakeRuntime>();
  ContainerMeta m;
  m.name = "web";
  m.image = "nginx:1.25";
  m.pod = "web-7d9f";
  m.pod_namespace = "shop";
  rt->containers = {{kId, m}};
  std::vector<std::unique_ptr<MetadataSource>> sources;
  sources.push_back(std::move(rt));
  MetadataCache cache(std::move(sources));
  WorkloadResolver workloads(&cache, 64);

  FakeSource src;
  FakeNamer names;
  const std::string path = "/kubepods.slice/kubepods-burstable.slice/cri-containerd-" + kId + ".scope";
  names.paths = {{7, path}, {8, "/system.slice/sshd.service"}};
  src.snap.stats = {row(7, 0, 3), row(8, 0, 4)};
  ErrnoRow e{};
  e.key.cgroup_id = 7;
  e.key.err = 11;
  e.count = 2;
  src.snap.errors = {e};
  SyscallCollector c(src, names, &workloads, {}, {});
  auto fs = c.Collect();
  for (const char* fam : {"syslens_syscalls_total", "syslens_syscall_errors_total", "syslens_syscall_duration_seconds"}) {
    for (const auto& mt : find(fs, fam)->metric) {
      for (const char* l : {"cgroup", "container_id", "container", "pod", "namespace", "image", "unit", "syscall"}) {
        EXPECT_NE(label(mt, l), "<none>") << fam << " lacks " << l;
      }
    }
  }
  const auto& web = find(fs, "syslens_syscalls_total")->metric[0];
  EXPECT_EQ(label(web, "container_id"), kId);
  EXPECT_EQ(label(web, "container"), "web");
  EXPECT_EQ(label(web, "pod"), "web-7d9f");
  EXPECT_EQ(label(web, "namespace"), "shop");
  EXPECT_EQ(label(web, "image"), "nginx:1.25");
  EXPECT_EQ(label(web, "unit"), "cri-containerd-" + kId + ".scope");
  const auto& sshd = find(fs, "syslens_syscalls_total")->metric[1];
  EXPECT_EQ(label(sshd, "container_id"), "");
  EXPECT_EQ(label(sshd, "unit"), "sshd.service");
  EXPECT_EQ(label(find(fs, "syslens_syscall_errors_total")->metric[0], "errno"), "EAGAIN");
}

TEST(Collector, ARuntimeThatIsDownCostsEmptyLabelsNotAStall) {
  auto rt = std::make_unique<FakeRuntime>();
  rt->fail = true;
  auto* raw = rt.get();
  std::vector<std::unique_ptr<MetadataSource>> sources;
  sources.push_back(std::move(rt));
  MetadataCache cache(std::move(sources), {65536, std::chrono::milliseconds(50), std::chrono::milliseconds(100)});
  WorkloadResolver workloads(&cache, 64);
  FakeSource src;
  FakeNamer names;
  names.paths = {{7, "/docker/" + kId}};
  src.snap.stats = {row(7, 0, 3)};
  CollectorOptions o;
  o.metadata_wait = std::chrono::milliseconds(100);
  SyscallCollector c(src, names, &workloads, o, {});
  const auto t0 = std::chrono::steady_clock::now();
  auto fs = c.Collect();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  EXPECT_EQ(label(find(fs, "syslens_syscalls_total")->metric[0], "container_id"), kId);
  EXPECT_EQ(label(find(fs, "syslens_syscalls_total")->metric[0], "container"), "");
  EXPECT_GE(raw->calls.load(), 1);
  const auto st = cache.stats();
  ASSERT_EQ(st.size(), 1U);
  EXPECT_FALSE(st[0].up);
  EXPECT_EQ(st[0].last_error, "fake runtime down");
}
