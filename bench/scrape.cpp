// syslens-bench-scrape [--cgroups=N] [--rounds=R]: the daemon's scrape path
// (aggregate, syscall families, workload families, self-metrics) on a
// synthetic snapshot shaped like the scale bench's (N cgroups x 40 syscalls,
// 5 of them failing), without BPF: what /metrics costs the daemon itself,
// repeatable and cheap to profile (perf record -- syslens-bench-scrape).
// Prints the median and spread over R scrapes; then, per exposition format
// (text with sum and count, text with buckets per cgroup, protobuf with
// native histograms), the time to write it and its size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "syslens/api/api.h"
#include "syslens/export/collector.h"
#include "syslens/export/self_metrics.h"
#include "syslens/http_util.h"

namespace {

using namespace syslens;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kFirstId = 1000;

class Source final : public KernelMaps {
 public:
  explicit Source(unsigned cgroups) {
    for (unsigned c = 0; c < cgroups; ++c) {
      for (std::uint32_t nr = 0; nr < 40; ++nr) {
        StatsRow r{};
        r.key.cgroup_id = kFirstId + c;
        r.key.nr = 90 + nr;
        // Latencies spread over four log2 slots, (256 ns, 4 us], as real
        // calls are: what a native histogram's size depends on.
        r.val.calls = r.val.returns = 100 + nr;
        r.val.sum_ns = 1500 * r.val.calls;
        for (unsigned slot = 9; slot < 13; ++slot) r.val.hist[slot] = r.val.calls / 4;
        r.val.hist[9] += r.val.calls % 4;
        snap_.stats.push_back(r);
        if (nr % 8 == 0) snap_.errors.push_back({{kFirstId + c, 90 + nr, 0, 22}, 1});
      }
    }
  }
  Snapshot read() override { return snap_; }
  std::uint64_t forget_cgroups(const std::vector<std::uint64_t>&, const Snapshot&) override { return 0; }
  std::vector<RetiredRow> read_retired() override { return {}; }
  bool put_retired(const syslens_retired_key&, const syslens_stats_val&) override { return true; }
  void erase_retired(const syslens_retired_key&) override {}
  std::uint64_t retired_capacity() const override { return SYSLENS_RETIRED_MAX; }
  ReclaimJournal read_journal() override { return {}; }
  bool record_batch(const std::vector<std::pair<std::uint64_t, std::uint64_t>>&,
                    const std::vector<std::pair<syslens_retired_key, syslens_reclaim_undo>>&) override {
    return true;
  }
  void set_reclaim_phase(std::uint32_t) override {}
  void end_batch() override {}
  std::vector<std::pair<std::uint64_t, syslens_group>> read_groups() override { return {}; }
  bool put_group(std::uint64_t, const syslens_group&) override { return true; }
  std::uint64_t groups_capacity() const override { return SYSLENS_GROUPS_MAX; }

 private:
  Snapshot snap_;
};

class Namer final : public CgroupNamer {
 public:
  std::optional<std::string> path_of(std::uint64_t id) override {
    return "/syslens-scale-bench/live" + std::to_string(id - kFirstId);
  }
};

class NoWorkloads final : public WorkloadNamer {
 public:
  WorkloadLabels labels_for(const std::string&) override { return {}; }
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int usage() {
  std::fprintf(stderr, "usage: syslens-bench-scrape [--cgroups=N] [--rounds=R]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned cgroups = 1000, rounds = 15;
  for (int i = 1; i < argc; ++i) {
    char* end = nullptr;
    if (std::strncmp(argv[i], "--cgroups=", 10) == 0) {
      cgroups = static_cast<unsigned>(std::strtoul(argv[i] + 10, &end, 10));
    } else if (std::strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = static_cast<unsigned>(std::strtoul(argv[i] + 9, &end, 10));
    } else {
      return usage();
    }
    if (!end || *end || cgroups == 0 || rounds == 0) return usage();
  }

  Source source(cgroups);
  Namer namer;
  NoWorkloads workloads;
  CollectOptions copts;
  copts.metadata_wait = std::chrono::milliseconds(0);
  Collect collect(source, namer, &workloads, copts);
  Api api(collect, host_arch(), std::nullopt);
  SelfMetrics self({"full", "tp_btf", "task_storage", "bench", "v2"});
  SyscallCollector collector(CollectorOptions{});

  std::vector<double> agg_ms, render_ms, gzip1_ms, gzip6_ms;
  std::size_t bytes = 0, gzip1_bytes = 0, gzip6_bytes = 0;
  for (unsigned r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    const auto c = collect.latest(Clock::duration::zero());
    const auto t1 = Clock::now();
    // What the daemon's scrape does: the kernel families, then its own and
    // the per-workload ones.
    auto extra = self.collect();
    for (auto& f : api.workload_families(c->agg)) extra.push_back(std::move(f));
    const auto text = collector.Render(*c, extra);
    const auto t2 = Clock::now();
    agg_ms.push_back(ms(t1 - t0));
    render_ms.push_back(ms(t2 - t0));
    bytes = text.size();
    // What the daemon sends a scraper that accepts gzip (level 1), and level 6.
    const auto t3 = Clock::now();
    gzip1_bytes = gzip_compress(text, 1).size();
    const auto t4 = Clock::now();
    gzip6_bytes = gzip_compress(text, 6).size();
    gzip1_ms.push_back(ms(t4 - t3));
    gzip6_ms.push_back(ms(Clock::now() - t4));
  }
  auto stats = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return std::array<double, 3>{v[v.size() / 2], v.front(), v.back()};
  };
  const auto a = stats(agg_ms), s = stats(render_ms), g1 = stats(gzip1_ms), g6 = stats(gzip6_ms);
  std::printf("scrape (synthetic, no BPF): %u cgroups x 40 syscalls, %u rounds, %.1f MiB of text\n", cgroups, rounds,
              static_cast<double>(bytes) / (1 << 20));
  std::printf("%-40s %10s %18s\n", "phase", "median", "min..max");
  std::printf("%-40s %7.1f ms %8.1f..%-6.1f ms\n", "collect (read, aggregate)", a[0], a[1], a[2]);
  std::printf("%-40s %7.1f ms %8.1f..%-6.1f ms\n", "whole scrape (collect, text)", s[0], s[1], s[2]);
  std::printf("%-40s %7.1f ms %8.1f..%-6.1f ms  %.2f MiB (%.1f%% of the text)\n", "gzip level 1 (what is sent)", g1[0],
              g1[1], g1[2], static_cast<double>(gzip1_bytes) / (1 << 20),
              100.0 * static_cast<double>(gzip1_bytes) / static_cast<double>(bytes));
  std::printf("%-40s %7.1f ms %8.1f..%-6.1f ms  %.2f MiB (%.1f%% of the text)\n", "gzip level 6", g6[0], g6[1], g6[2],
              static_cast<double>(gzip6_bytes) / (1 << 20),
              100.0 * static_cast<double>(gzip6_bytes) / static_cast<double>(bytes));

  // The three ways the latency per (cgroup, syscall) can leave: the default
  // text (sum and count), text with buckets (metrics.latency: histogram),
  // and the protobuf exposition with native histograms (Prometheus with
  // native histograms on).
  CollectorOptions with_buckets;
  with_buckets.latency_buckets = true;
  const SyscallCollector bucketed(with_buckets);
  struct Format {
    const char* name;
    std::function<std::string(const Collection&, const std::vector<prometheus::MetricFamily>&)> render;
    std::vector<double> ms;
    std::size_t bytes = 0, gzip_bytes = 0;
  };
  std::vector<Format> formats = {
      {"text, sum and count (default)", [&](const auto& c, const auto& e) { return collector.Render(c, e); }, {}},
      {"text, buckets per cgroup", [&](const auto& c, const auto& e) { return bucketed.Render(c, e); }, {}},
      {"protobuf, native histograms", [&](const auto& c, const auto& e) { return collector.RenderProtobuf(c, e); }, {}},
  };
  const auto c = collect.latest(Clock::duration::zero());
  auto extra = self.collect();
  for (auto& f : api.workload_families(c->agg)) extra.push_back(std::move(f));
  for (unsigned r = 0; r < rounds; ++r) {
    for (auto& f : formats) {
      const auto t0 = Clock::now();
      const auto body = f.render(*c, extra);
      f.ms.push_back(ms(Clock::now() - t0));
      f.bytes = body.size();
      f.gzip_bytes = gzip_compress(body, 1).size();
    }
  }
  std::printf("\n%-40s %10s %18s %10s %10s\n", "format (write only)", "median", "min..max", "MiB", "gzip MiB");
  for (const auto& f : formats) {
    const auto t = stats(f.ms);
    std::printf("%-40s %7.1f ms %8.1f..%-6.1f ms %10.2f %10.2f\n", f.name, t[0], t[1], t[2],
                static_cast<double>(f.bytes) / (1 << 20), static_cast<double>(f.gzip_bytes) / (1 << 20));
  }
  return 0;
}
