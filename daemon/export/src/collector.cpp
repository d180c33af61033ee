#include "syslens/export/collector.h"

#include <spdlog/spdlog.h>

#include <bit>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "syslens/kernel/errno_name.h"
#include "syslens/export/exposition.h"
#include "syslens/version.h"

namespace syslens {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

BucketLayout bucket_layout_from(const Config& cfg) {
  const auto first = static_cast<unsigned>(std::countr_zero(cfg.latency_first_bucket_ns));
  const auto last = static_cast<unsigned>(std::countr_zero(cfg.latency_last_bucket_ns));
  const auto step = static_cast<unsigned>(std::countr_zero(std::uint64_t{cfg.latency_bucket_factor}));
  return make_bucket_layout(first, std::min(last, static_cast<unsigned>(SYSLENS_HIST_SLOTS - 2)), step);
}

SyscallCollector::SyscallCollector(CollectorOptions opts, SelfInfo self)
    : opts_(std::move(opts)), self_(std::move(self)) {}

namespace {

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric metric(std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  return m;
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  auto m = metric(std::move(labels));
  m.counter.value = v;
  f.metric.push_back(std::move(m));
}

void add_gauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
  auto m = metric(std::move(labels));
  m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

}  // namespace

std::string SyscallCollector::Render(const Collection& c, std::vector<MetricFamily> extra,
                                     std::chrono::steady_clock::time_point started) const {
  const auto t0 = started;
  const auto t_agg = std::chrono::steady_clock::now();
  const AggregatedSnapshot& agg = c.agg;
  const auto& per_series = agg.series;
  const auto& per_errno = agg.errors;

  // The syscall families, written directly: each cgroup's labels (cgroup and
  // workload) are rendered once.
  std::string out;
  out.reserve(per_series.size() * (opts_.latency ? (opts_.latency_buckets ? 1800 : 300) : 120) + 65536);
  TextWriter w(out);
  // Each cgroup's labels (cgroup and workload) are rendered once.
  std::vector<std::string> prefixes(agg.label_count());
  auto prefix_of = [&](LabelIndex cgroup) -> const std::string& {
    std::string& l = prefixes[cgroup];
    if (!l.empty()) return l;
    const std::string& path = agg.label(cgroup);
    const auto& wl = agg.labels_of(path);
    append_label(l, "cgroup", path);
    append_label(l, "container_id", wl.container_id);
    append_label(l, "container", wl.container);
    append_label(l, "pod", wl.pod);
    append_label(l, "namespace", wl.pod_namespace);
    append_label(l, "image", wl.image);
    append_label(l, "unit", wl.unit);
    return l;
  };
  std::string own;
  w.family("syslens_syscalls_total",
           "Syscalls entered, per cgroup and syscall (what strace -c counts, including calls that never return).",
           "counter");
  for (const auto& s : per_series) {
    own.clear();
    append_label(own, "syscall", agg.label(s.syscall));
    w.sample("syslens_syscalls_total", prefix_of(s.cgroup), own, s.agg.calls);
  }

  if (opts_.latency) {
    w.family("syslens_syscall_errors_total", "Syscalls that returned an error, per cgroup, syscall and errno.",
             "counter");
    for (const auto& e : per_errno) {
      own.clear();
      append_label(own, "syscall", agg.label(e.syscall));
      append_label(own, "errno", agg.label(e.err));
      w.sample("syslens_syscall_errors_total", prefix_of(e.cgroup), own, e.count);
    }

    // Per (cgroup, syscall): sum and count always, buckets only when asked
    // for (15 more series each). Per syscall, host-wide: always buckets.
    std::vector<std::string> le;
    for (double b : opts_.buckets.upper_seconds) le.push_back("le=\"" + format_double(b) + "\"");
    le.push_back("le=\"+Inf\"");
    auto write_histogram = [&](const std::string& name, const std::string& labels, const SeriesAgg& sa,
                               bool buckets) {
      const std::string bucket = name + "_bucket", sum = name + "_sum", count = name + "_count";
      if (buckets) {
        const auto cum = cumulative_counts(opts_.buckets, sa.hist);
        for (std::size_t i = 0; i < cum.size(); ++i) w.sample(bucket, labels, le[i], cum[i]);
        w.sample(bucket, labels, le.back(), sa.returns);
      }
      w.sample(sum, labels, "", static_cast<double>(sa.sum_ns) / 1e9);
      w.sample(count, labels, "", sa.returns);
    };
    w.family("syslens_syscall_duration_seconds",
             opts_.latency_buckets ? "Time from syscall entry to return, per cgroup and syscall."
                                   : "Time from syscall entry to return, per cgroup and syscall (sum and count: "
                                     "buckets are in syslens_host_syscall_duration_seconds, or per cgroup with "
                                     "metrics.latency: histogram).",
             opts_.latency_buckets ? "histogram" : "summary");
    std::string labels;
    for (const auto& s : per_series) {
      labels = prefix_of(s.cgroup);
      append_label(labels, "syscall", agg.label(s.syscall));
      write_histogram("syslens_syscall_duration_seconds", labels, s.agg, opts_.latency_buckets);
    }
    // Every live key plus what reclaimed cgroups contributed (label order is
    // name order).
    w.family("syslens_host_syscall_duration_seconds", "Time from syscall entry to return, per syscall, host-wide.",
             "histogram");
    for (const auto& h : agg.host) {
      labels.clear();
      append_label(labels, "syscall", agg.label(h.syscall));
      write_histogram("syslens_host_syscall_duration_seconds", labels, h.agg, true);
    }
  }

  const auto t_text = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point t_workloads;
  std::vector<MetricFamily> fams;
  auto& out_families = fams;
  // Self-metrics.
  auto build = family("syslens_build_info", "A metric with a constant '1' value labeled by version and commit.",
                      MetricType::Gauge);
  add_gauge(build, {{"commit", kGitCommit}, {"kernel", self_.kernel}, {"version", kVersion}}, 1);
  out_families.push_back(std::move(build));

  auto bpfinfo = family("syslens_bpf_info",
                        "How the BPF programs were loaded: mode, attach type, per-thread store, cgroup hierarchy.",
                        MetricType::Gauge);
  add_gauge(bpfinfo,
            {{"attach", self_.attach},
             {"cgroup_hierarchy", self_.hierarchy},
             {"mode", self_.mode},
             {"thread_store", self_.thread_store}},
            1);
  out_families.push_back(std::move(bpfinfo));

  auto failures = family("syslens_bpf_failures_total",
                         "Failures inside the BPF programs that lost or degraded data, by reason.", MetricType::Counter);
  auto events = family("syslens_bpf_events_total",
                       "Expected, informational events inside the BPF programs (see docs/metrics.md).",
                       MetricType::Counter);
  for (unsigned i = 0; i < SYSLENS_CNT__MAX; ++i) {
    const auto& ci = counter_info(i);
    add_counter(ci.failure ? failures : events, {{ci.failure ? "reason" : "event", ci.name}},
                static_cast<double>(c.counters[i]));
  }
  out_families.push_back(std::move(failures));
  out_families.push_back(std::move(events));

  auto entries = family("syslens_bpf_map_entries", "Entries in each bounded BPF map.", MetricType::Gauge);
  auto capacity = family("syslens_bpf_map_capacity", "Maximum entries of each bounded BPF map.", MetricType::Gauge);
  for (const auto& f : c.fill) {
    add_gauge(entries, {{"map", f.map}}, static_cast<double>(f.entries));
    add_gauge(capacity, {{"map", f.map}}, static_cast<double>(f.capacity));
  }
  out_families.push_back(std::move(entries));
  out_families.push_back(std::move(capacity));

  auto tracked = family("syslens_tracked_cgroups", "Distinct cgroups with syscalls in the kernel's stats map.",
                        MetricType::Gauge);
  add_gauge(tracked, {}, static_cast<double>(c.tracked_cgroups));
  out_families.push_back(std::move(tracked));

  if (self_.program_stats) {
    auto runs = family("syslens_bpf_program_runs_total",
                       "Runs of each BPF program counted by the kernel while its run-time statistics were enabled "
                       "(sampled windows, see syslens_bpf_run_stats_enabled_seconds_total).",
                       MetricType::Counter);
    auto secs = family("syslens_bpf_program_run_seconds_total",
                       "Run time of each BPF program counted by the kernel while run-time statistics were enabled.",
                       MetricType::Counter);
    for (const auto& p : self_.program_stats()) {
      add_counter(runs, {{"program", p.name}}, static_cast<double>(p.run_count));
      add_counter(secs, {{"program", p.name}}, static_cast<double>(p.run_time_ns) / 1e9);
    }
    out_families.push_back(std::move(runs));
    out_families.push_back(std::move(secs));
  }
  if (self_.run_stats_enabled_seconds) {
    auto en = family("syslens_bpf_run_stats_enabled_seconds_total",
                     "Time the kernel's BPF run-time statistics were enabled by syslens.", MetricType::Counter);
    add_counter(en, {}, self_.run_stats_enabled_seconds());
    out_families.push_back(std::move(en));
  }
  if (self_.cgroup_stats) {
    const auto cs = self_.cgroup_stats();
    auto ce = family("syslens_cgroup_cache_entries", "cgroup id to path cache entries.", MetricType::Gauge);
    add_gauge(ce, {}, static_cast<double>(cs.entries));
    out_families.push_back(std::move(ce));
    auto cc = family("syslens_cgroup_cache_capacity", "cgroup id to path cache capacity.", MetricType::Gauge);
    add_gauge(cc, {}, static_cast<double>(cs.capacity));
    out_families.push_back(std::move(cc));
    auto cev = family("syslens_cgroup_cache_evictions_total",
                      "cgroup paths evicted from the full cache (raise cgroup.cache_size if this grows).",
                      MetricType::Counter);
    add_counter(cev, {}, static_cast<double>(cs.evictions));
    out_families.push_back(std::move(cev));
    auto cu = family("syslens_cgroup_unresolved_total",
                     "cgroup ids that could not be resolved to a path (the cgroup was already removed).",
                     MetricType::Counter);
    add_counter(cu, {}, static_cast<double>(cs.unresolved));
    out_families.push_back(std::move(cu));
  }

  if (self_.runtime_stats) {
    auto up = family("syslens_runtime_up", "Whether a container runtime's API answered at its last refresh.",
                     MetricType::Gauge);
    auto errs = family("syslens_runtime_errors_total", "Failed metadata refreshes per container runtime API.",
                       MetricType::Counter);
    for (const auto& st : self_.runtime_stats()) {
      add_gauge(up, {{"source", st.name}}, st.up ? 1 : 0);
      add_counter(errs, {{"source", st.name}}, static_cast<double>(st.errors));
    }
    out_families.push_back(std::move(up));
    out_families.push_back(std::move(errs));
  }
  if (self_.metadata_entries) {
    auto me = family("syslens_container_metadata_entries", "Containers known from the runtimes' APIs.",
                     MetricType::Gauge);
    add_gauge(me, {}, static_cast<double>(self_.metadata_entries()));
    out_families.push_back(std::move(me));
  }

  if (self_.reclaim_stats) {
    const auto rs = self_.reclaim_stats();
    auto g = family("syslens_removed_cgroups_in_grace",
                    "Removed cgroups whose final counts are still exported (cgroup.removed_grace).", MetricType::Gauge);
    add_gauge(g, {}, static_cast<double>(rs.in_grace));
    out_families.push_back(std::move(g));
    auto rc = family("syslens_cgroups_reclaimed_total",
                     "Removed cgroups whose series and kernel map entries were deleted after the grace period.",
                     MetricType::Counter);
    add_counter(rc, {}, static_cast<double>(rs.cgroups_reclaimed));
    out_families.push_back(std::move(rc));
    auto re = family("syslens_bpf_map_entries_reclaimed_total",
                     "Kernel map entries deleted with removed cgroups.", MetricType::Counter);
    add_counter(re, {}, static_cast<double>(rs.entries_reclaimed));
    out_families.push_back(std::move(re));
    auto rr = family("syslens_retired_rows",
                     "Totals of reclaimed cgroups kept so that the series that outlive them (host-wide, "
                     "(unresolved), a path created again) never go down.",
                     MetricType::Gauge);
    add_gauge(rr, {}, static_cast<double>(rs.retired_rows));
    out_families.push_back(std::move(rr));
    auto ru = family("syslens_retired_rows_unpersisted",
                     "Retired totals kept in memory only because the syslens_retired map is full: they do not "
                     "survive a restart.",
                     MetricType::Gauge);
    add_gauge(ru, {}, static_cast<double>(rs.retired_unpersisted));
    out_families.push_back(std::move(ru));
  }

  const auto t_self = std::chrono::steady_clock::now();
  if (self_.workload_families) {
    auto wf = self_.workload_families(agg);
    out_families.insert(out_families.end(), std::make_move_iterator(wf.begin()), std::make_move_iterator(wf.end()));
  }
  t_workloads = std::chrono::steady_clock::now();

  auto scrape = family("syslens_scrape_duration_seconds",
                       "Time this scrape spent reading the BPF maps and building the metrics.", MetricType::Gauge);
  add_gauge(scrape, {},
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  out_families.insert(out_families.end(), std::make_move_iterator(extra.begin()), std::make_move_iterator(extra.end()));
  out_families.push_back(std::move(scrape));
  append_families(out, out_families);
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  spdlog::debug(
      "scrape: {} series, {} bytes; collect {:.1f} ms, syscall families {:.1f} ms, workload "
      "families {:.1f} ms, rest {:.1f} ms",
      per_series.size(), out.size(), ms(t0, t_agg), ms(t_agg, t_text), ms(t_self, t_workloads),
      ms(t_text, std::chrono::steady_clock::now()) - ms(t_self, t_workloads));
  return out;
}

}  // namespace syslens
