#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <sstream>
#include <thread>

#include "kernel_fakes.h"
#include "syslens/export/collector.h"
#include "syslens/export/exposition.h"
#include "syslens/export/self_metrics.h"
#include "syslens/workloads/workload.h"

using namespace syslens;
using namespace syslens::test;

namespace {

// A scrape as the daemon does it: the collect layer's latest read, rendered.
class Scraper {
 public:
  Scraper(KernelMaps& src, CgroupNamer& names, WorkloadNamer* workloads, CollectorOptions o,
          std::chrono::milliseconds metadata_wait = std::chrono::milliseconds(250))
      : collect_(src, names, workloads, collect_options(metadata_wait)), render_(o) {}
  std::string Render(const std::vector<prometheus::MetricFamily>& extra = {}) {
    return render_.Render(*collect_.latest(Collect::Clock::duration::zero()), extra);
  }

 private:
  static CollectOptions collect_options(std::chrono::milliseconds wait) {
    CollectOptions c;
    c.arch = Arch::x86_64;  // the rows carry x86_64 numbers, on any build host
    c.metadata_wait = wait;
    return c;
  }
  Collect collect_;
  SyscallCollector render_;
};

}  // namespace

TEST(Collector, ExportsCountsErrorsAndHistogramsPerCgroupAndSyscall) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/"}, {42, "/system.slice/a.service"}};
  src.snap.stats = {row(1, 110, 5), row(42, 257, 7)};
  src.snap.errors = {enoent(42, 257, 3)};
  CollectorOptions o;
  o.latency_buckets = true;
  Scraper c(src, names, nullptr, o);
  const auto text = c.Render();

  const auto calls = samples(text, "syslens_syscalls_total");
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(label(calls[0], "cgroup"), "/");
  EXPECT_EQ(label(calls[0], "syscall"), "getppid");
  EXPECT_EQ(calls[0].value, 5);
  EXPECT_EQ(label(calls[1], "cgroup"), "/system.slice/a.service");
  EXPECT_EQ(label(calls[1], "syscall"), "openat");

  const auto errs = samples(text, "syslens_syscall_errors_total");
  ASSERT_EQ(errs.size(), 1U);
  EXPECT_EQ(label(errs[0], "errno"), "ENOENT");
  EXPECT_EQ(errs[0].value, 3);

  EXPECT_NE(text.find("# TYPE syslens_syscall_duration_seconds histogram"), std::string::npos);
  const auto count = samples(text, "syslens_syscall_duration_seconds_count");
  const auto sum = samples(text, "syslens_syscall_duration_seconds_sum");
  ASSERT_EQ(count.size(), 2U);
  EXPECT_EQ(count[1].value, 7);
  EXPECT_DOUBLE_EQ(sum[1].value, 7e-6);
  std::vector<Sample> b;  // the openat series' buckets
  for (const auto& x : samples(text, "syslens_syscall_duration_seconds_bucket")) {
    if (label(x, "syscall") == "openat") b.push_back(x);
  }
  ASSERT_EQ(b.size(), 15U);
  EXPECT_EQ(label(b.front(), "le"), "2.56e-07");
  EXPECT_EQ(b.front().value, 0);  // le=256ns
  EXPECT_EQ(label(b[1], "le"), "1.024e-06");
  EXPECT_EQ(b[1].value, 7);  // le=1024ns
  EXPECT_EQ(label(b.back(), "le"), "+Inf");
  EXPECT_EQ(b.back().value, 7);

  // Host-wide, per syscall: always with buckets.
  EXPECT_NE(text.find("# TYPE syslens_host_syscall_duration_seconds histogram"), std::string::npos);
  const auto host = samples(text, "syslens_host_syscall_duration_seconds_count");
  ASSERT_EQ(host.size(), 2U);
  EXPECT_EQ(label(host[0], "syscall"), "getppid");
  EXPECT_EQ(host[0].labels.size(), 1U);
}

// The default: per (cgroup, syscall) a summary (sum and count), buckets only
// host-wide per syscall. 1,000 cgroups x 40 syscalls stay a few MiB.
TEST(Collector, ByDefaultDurationsPerCgroupAreSumAndCount) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/a"}, {2, "/b"}};
  src.snap.stats = {row(1, 110, 5), row(2, 110, 7)};
  Scraper c(src, names, nullptr, {});
  const auto text = c.Render();
  EXPECT_NE(text.find("# TYPE syslens_syscall_duration_seconds summary"), std::string::npos);
  EXPECT_TRUE(samples(text, "syslens_syscall_duration_seconds_bucket").empty());
  ASSERT_EQ(samples(text, "syslens_syscall_duration_seconds_count").size(), 2U);
  const auto host = samples(text, "syslens_host_syscall_duration_seconds_bucket");
  ASSERT_EQ(host.size(), 15U);  // one syscall
  EXPECT_EQ(host.back().value, 12);
}

TEST(Exposition, LabelValuesAreEscapedAndEmptyOnesLeftOut) {
  std::string l;
  append_label(l, "a", "x\"y\\z\nw");
  append_label(l, "empty", "");
  append_label(l, "b", "2");
  EXPECT_EQ(l, "a=\"x\\\"y\\\\z\\nw\",b=\"2\"");
  EXPECT_EQ(format_double(7e-6), "7e-06");
  EXPECT_EQ(format_double(0.5), "0.5");
  EXPECT_EQ(format_double(INFINITY), "+Inf");
  std::string out;
  TextWriter w(out);
  w.family("m", "help with \\ and\nnewline", "counter");
  w.sample("m", "", "", std::uint64_t{18446744073709551615ULL});
  w.sample("m", "a=\"1\"", "le=\"2\"", 1.5);
  EXPECT_EQ(out,
            "# HELP m help with \\\\ and\\nnewline\n# TYPE m counter\n"
            "m 18446744073709551615\nm{a=\"1\",le=\"2\"} 1.5\n");
}

TEST(Collector, SumsKeysThatDecodeToTheSameLabels) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{10, "/a"}, {11, "/a"}};  // e.g. the same path seen through two ids
  src.snap.stats = {row(10, 39, 2), row(11, 39, 3), row(12, 39, 4), row(13, 39, 5)};  // 12, 13: gone
  Scraper c(src, names, nullptr, {});
  const auto calls = samples(c.Render(), "syslens_syscalls_total");
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(label(calls[0], "cgroup"), kCgroupUnresolved);
  EXPECT_EQ(calls[0].value, 9);
  EXPECT_EQ(label(calls[1], "cgroup"), "/a");
  EXPECT_EQ(calls[1].value, 5);
  EXPECT_EQ(names.lookups, 4);  // each id once per scrape
}

TEST(AggregatedSnapshot, FinishSortsByLabelAndSumsDuplicates) {
  AggregatedSnapshot a;
  SeriesAgg one;
  one.calls = one.returns = 1;
  one.hist[3] = 1;
  // Interned out of order, rows added out of order and twice.
  const auto z = a.intern("/z"), b = a.intern("/b"), write = a.intern("write"), read = a.intern("read");
  const auto enoent = a.intern("ENOENT"), eagain = a.intern("EAGAIN");
  a.add(z, read, one);
  a.add(b, write, one);
  a.add(b, read, one);
  a.add(b, write, one);
  a.add_error(b, write, enoent, 2);
  a.add_error(b, write, eagain, 1);
  a.add_error(b, write, enoent, 3);
  EXPECT_EQ(a.intern("/z"), z);  // each string once
  a.finish();
  ASSERT_EQ(a.series.size(), 3U);
  auto name = [&](const Series& s) { return a.label(s.cgroup) + " " + a.label(s.syscall); };
  EXPECT_EQ(name(a.series[0]), "/b read");
  EXPECT_EQ(name(a.series[1]), "/b write");
  EXPECT_EQ(name(a.series[2]), "/z read");
  EXPECT_EQ(a.series[1].agg.calls, 2U);
  EXPECT_EQ(a.series[1].agg.hist[3], 2U);
  EXPECT_EQ(a.series[0].agg.calls, 1U);
  ASSERT_EQ(a.errors.size(), 2U);
  EXPECT_EQ(a.label(a.errors[0].err), "EAGAIN");
  EXPECT_EQ(a.errors[0].count, 1U);
  EXPECT_EQ(a.label(a.errors[1].err), "ENOENT");
  EXPECT_EQ(a.errors[1].count, 5U);
  EXPECT_EQ(a.label(a.errors[1].cgroup), "/b");
  EXPECT_EQ(a.label_count(), 6U);
}

TEST(Collector, OverflowRowsKeepTotalsExact) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/"}};
  src.snap.stats = {row(1, 110, 5)};
  src.snap.overflow = {row(0, 110, 6), row(0, 64, 1, SYSLENS_ABI_COMPAT)};
  src.snap.counters[SYSLENS_CNT_STATS_MAP_FULL] = 7;
  Scraper c(src, names, nullptr, {});
  const auto text = c.Render();
  const auto calls = samples(text, "syslens_syscalls_total");
  ASSERT_EQ(calls.size(), 3U);
  double total = 0;
  for (const auto& m : calls) total += m.value;
  EXPECT_EQ(total, 12);
  EXPECT_EQ(label(calls[0], "cgroup"), kCgroupOverflow);
  EXPECT_EQ(label(calls[0], "syscall"), "getppid");
  EXPECT_EQ(label(calls[1], "syscall"), "i386:getppid");
  bool seen = false;
  for (const auto& m : samples(text, "syslens_bpf_failures_total")) {
    if (label(m, "reason") == "stats_map_full") {
      EXPECT_EQ(m.value, 7);
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
  Scraper c(src, names, nullptr, o);
  const auto text = c.Render();
  EXPECT_TRUE(has_family(text, "syslens_syscalls_total"));
  EXPECT_FALSE(has_family(text, "syslens_syscall_errors_total"));
  EXPECT_FALSE(has_family(text, "syslens_syscall_duration_seconds"));
  EXPECT_FALSE(has_family(text, "syslens_host_syscall_duration_seconds"));
}

TEST(Collector, KernelAndSelfFamiliesAreAllPresent) {
  FakeSource src;
  FakeNamer names;
  src.snap.fill = {{"syslens_stats", 3, 64}};
  SelfMetrics self({"full", "tp_btf", "task_storage", "6.18", "v2", "switch"});
  SelfSample smp;
  smp.programs = std::vector<ProgramStats>{{"tpbtf_enter_task", 100, 5000}};
  smp.run_stats_seconds = 1.5;
  smp.http = {{"tcp", 0, 0, 0, 1, 1024, {}}};
  smp.cgroups = CgroupPathStats{};
  self.update(smp);
  Scraper c(src, names, nullptr, {});
  const auto text = c.Render(self.collect());
  for (const char* n : {"syslens_build_info",
                        "syslens_bpf_info",
                        "syslens_bpf_failures_total",
                        "syslens_bpf_events_total",
                        "syslens_bpf_map_entries",
                        "syslens_bpf_map_capacity",
                        "syslens_tracked_cgroups",
                        "syslens_bpf_program_runs_total",
                        "syslens_bpf_program_run_seconds_total",
                        "syslens_bpf_run_stats_enabled_seconds_total",
                        "syslens_cgroup_cache_entries",
                        "syslens_scrape_duration_seconds",
                        "syslens_http_rejected_connections_total",
                        "syslens_http_evicted_connections_total",
                        "syslens_degradations_total",
                        "syslens_cgroups_reclaimed_total",
                        "syslens_retired_rows",
                        "syslens_seccomp_denied_total",
                        "syslens_http_connection_limit",
                        "syslens_reclaim_batches_recovered_total"}) {
    EXPECT_TRUE(has_family(text, n)) << n;
  }
  EXPECT_DOUBLE_EQ(samples(text, "syslens_bpf_program_run_seconds_total")[0].value, 5e-6);
  EXPECT_EQ(label(samples(text, "syslens_bpf_info")[0], "attach"), "tp_btf");
  EXPECT_EQ(label(samples(text, "syslens_bpf_info")[0], "current_task"), "switch");
  // The failure counters are all there, zero or not, so alerts can use them.
  EXPECT_EQ(samples(text, "syslens_bpf_failures_total").size(), 9U);
  EXPECT_NE(text.find("syslens_bpf_map_capacity{map=\"syslens_stats\"} 64"), std::string::npos) << text;
}

// The registry's counters follow each component's totals exactly and never
// go down, whatever a sample says.
TEST(SelfMetrics, CountersFollowTheTotalsAndNeverGoDown) {
  SelfMetrics self({"full", "tp_btf", "task_storage", "6.18", "v2"});
  auto value = [&](const std::string& name, const std::string& source = "") {
    SyscallCollector r{CollectorOptions{}};
    FakeSource src;
    FakeNamer names;
    Collect collect(src, names, nullptr, {});
    for (const auto& smp : samples(r.Render(*collect.latest({}), self.collect()), name)) {
      if (source.empty() || label(smp, "source") == source) return smp.value;
    }
    return -1.0;
  };
  SelfSample s;
  s.http = {{"tcp", 5, 11, 0, 0, 0, {}}};
  s.degradations = 2;
  s.reclaim.cgroups_reclaimed = 40;
  s.runtimes = {{"docker", 10, 3, false, "down"}};
  self.update(s);
  EXPECT_EQ(value("syslens_http_rejected_connections_total"), 5);
  EXPECT_EQ(value("syslens_http_evicted_connections_total"), 11);
  EXPECT_EQ(value("syslens_degradations_total"), 2);
  EXPECT_EQ(value("syslens_cgroups_reclaimed_total"), 40);
  EXPECT_EQ(value("syslens_runtime_errors_total", "docker"), 3);
  EXPECT_EQ(value("syslens_runtime_up", "docker"), 0);
  s.http[0].rejected = 7;
  s.reclaim.cgroups_reclaimed = 10;  // a component restarted its count: no decrease
  s.runtimes[0].up = true;
  self.update(s);
  EXPECT_EQ(value("syslens_http_rejected_connections_total"), 7);
  EXPECT_EQ(value("syslens_cgroups_reclaimed_total"), 40);
  EXPECT_EQ(value("syslens_runtime_up", "docker"), 1);
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
  Scraper c(src, names, &workloads, {});
  const auto text = c.Render();
  // The container's series carry every workload label; the others only what
  // they have (an empty label is an absent one).
  for (const char* fam :
       {"syslens_syscalls_total", "syslens_syscall_errors_total", "syslens_syscall_duration_seconds_count"}) {
    for (const auto& mt : samples(text, fam)) {
      if (label(mt, "cgroup") != path) continue;
      for (const char* l : {"cgroup", "container_id", "container", "pod", "namespace", "image", "unit", "syscall"}) {
        EXPECT_NE(label(mt, l), "") << fam << " lacks " << l;
      }
    }
  }
  const auto all = samples(text, "syslens_syscalls_total");
  ASSERT_EQ(all.size(), 2U);
  const auto& web = all[0];
  EXPECT_EQ(label(web, "container_id"), kId);
  EXPECT_EQ(label(web, "container"), "web");
  EXPECT_EQ(label(web, "pod"), "web-7d9f");
  EXPECT_EQ(label(web, "namespace"), "shop");
  EXPECT_EQ(label(web, "image"), "nginx:1.25");
  EXPECT_EQ(label(web, "unit"), "cri-containerd-" + kId + ".scope");
  const auto& sshd = all[1];
  EXPECT_FALSE(sshd.labels.count("container_id"));
  EXPECT_EQ(label(sshd, "unit"), "sshd.service");
  EXPECT_EQ(label(samples(text, "syslens_syscall_errors_total")[0], "errno"), "EAGAIN");
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
  Scraper c(src, names, &workloads, {}, std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  const auto text = c.Render();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  EXPECT_EQ(label(samples(text, "syslens_syscalls_total")[0], "container_id"), kId);
  EXPECT_EQ(label(samples(text, "syslens_syscalls_total")[0], "container"), "");
  EXPECT_GE(raw->calls.load(), 1);
  // Once a refresh has come back without it, the id is not waited for again:
  // an unknown container costs one scrape the budget, not every scrape.
  const auto t1 = std::chrono::steady_clock::now();
  c.Render();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::milliseconds(50));
  const auto st = cache.stats();
  ASSERT_EQ(st.size(), 1U);
  EXPECT_FALSE(st[0].up);
  EXPECT_EQ(st[0].last_error, "fake runtime down");
}

// The cache's worker refreshes while scrapes read: run under ThreadSanitizer
// (make unit-tsan) this is where a data race would show.
TEST(MetadataCacheThreads, ConcurrentReadersAndRefreshesAgree) {
  auto rt = std::make_unique<FakeRuntime>();
  ContainerMeta m;
  m.name = "web";
  rt->containers = {{kId, m}};
  std::vector<std::unique_ptr<MetadataSource>> sources;
  sources.push_back(std::move(rt));
  MetadataCache cache(std::move(sources), {64, std::chrono::milliseconds(1), std::chrono::milliseconds(100)});
  std::atomic<int> found{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        bool wait = false;
        // Unknown ids keep the worker refreshing (and the unknown set full).
        cache.get("unknown-" + std::to_string(t) + "-" + std::to_string(i), &wait);
        if (wait) cache.wait_for_refresh(std::chrono::milliseconds(5));
        if (auto got = cache.get(kId)) found += got->name == "web";
        cache.stats();
        cache.size();
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_GT(found.load(), 0);
  EXPECT_EQ(cache.size(), 1U);
}

namespace {
// A runtime whose listing never answers until released (a socket that
// accepts and never writes, with a long timeout).
class HangingRuntime final : public MetadataSource {
 public:
  std::string name() const override { return "hanging"; }
  std::vector<std::pair<std::string, ContainerMeta>> list(std::chrono::milliseconds) override {
    std::unique_lock lock(mu);
    ++calls;
    cv.notify_all();
    cv.wait(lock, [&] { return released; });
    throw std::runtime_error("timed out");
  }
  void release() {
    std::lock_guard lock(mu);
    released = true;
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  bool released = false;
};
}  // namespace

// Each runtime is asked on its own: one that hangs holds back no other's
// answers, and says it is down once it gives up.
TEST(MetadataCacheThreads, AHangingRuntimeDelaysNoOther) {
  auto hang = std::make_unique<HangingRuntime>();
  auto* hanging = hang.get();
  auto good = std::make_unique<FakeRuntime>();
  ContainerMeta m;
  m.name = "web";
  good->containers = {{kId, m}};
  std::vector<std::unique_ptr<MetadataSource>> sources;
  sources.push_back(std::move(hang));  // first: asked before the good one by a serial refresh
  sources.push_back(std::move(good));
  MetadataCache cache(std::move(sources), {64, std::chrono::milliseconds(1), std::chrono::milliseconds(100)});
  std::optional<ContainerMeta> got;
  for (int i = 0; i < 500 && !got; ++i) {
    got = cache.get(kId);
    if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(got) << "the good runtime's answer waited for the hanging one";
  EXPECT_EQ(got->name, "web");
  EXPECT_EQ(got->source, "fake");
  {
    std::lock_guard lock(hanging->mu);
    EXPECT_EQ(hanging->calls, 1);
    EXPECT_FALSE(hanging->released);
  }
  auto st = cache.stats();
  ASSERT_EQ(st.size(), 2U);
  EXPECT_FALSE(st[0].up);
  EXPECT_EQ(st[0].refreshes + st[0].errors, 0U);
  EXPECT_TRUE(st[1].up);
  hanging->release();
  for (int i = 0; i < 500 && cache.stats()[0].errors == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  st = cache.stats();
  EXPECT_EQ(st[0].errors, 1U);
  EXPECT_EQ(st[0].last_error, "timed out");
  EXPECT_EQ(cache.get(kId)->name, "web");  // still known
}
