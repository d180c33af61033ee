#include "syslens/export/collector.h"

#include <spdlog/spdlog.h>

#include <array>
#include <bit>
#include <map>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "syslens/kernel/errno_name.h"
#include "syslens/export/exposition.h"
#include "syslens/export/protobuf_exposition.h"
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

constexpr const char* kCallsHelp =
    "Syscalls entered, per cgroup and syscall (what strace -c counts, including calls that never return).";
constexpr const char* kErrorsHelp = "Syscalls that returned an error, per cgroup, syscall and errno.";
constexpr const char* kDeniedHelp =
    "Syscalls a seccomp filter refused with an errno, per cgroup, syscall and errno (also counted in "
    "syslens_syscalls_total and syslens_syscall_errors_total, as strace counts them).";
constexpr const char* kDurationHelpBuckets = "Time from syscall entry to return, per cgroup and syscall.";
constexpr const char* kDurationHelp =
    "Time from syscall entry to return, per cgroup and syscall (sum and count: buckets are in "
    "syslens_host_syscall_duration_seconds, or per cgroup with metrics.latency: histogram).";
constexpr const char* kHostDurationHelp = "Time from syscall entry to return, per syscall, host-wide.";
constexpr const char* kNativeDurationHelp =
    "Time from syscall entry to return in nanoseconds, per cgroup and syscall: a native histogram whose schema 0 "
    "buckets are the kernel's log2 slots (protobuf exposition only).";

// The labels every syscall series of a cgroup carries, in exposition order,
// for both writers; each leaves out the empty ones (to Prometheus an empty
// label and an absent one are the same series).
std::array<std::pair<const char*, const std::string*>, 7> series_labels(const std::string& path,
                                                                        const WorkloadLabels& wl) {
  return {{{"cgroup", &path},
           {"container_id", &wl.container_id},
           {"container", &wl.container},
           {"pod", &wl.pod},
           {"namespace", &wl.pod_namespace},
           {"image", &wl.image},
           {"unit", &wl.unit}}};
}

// The BPF programs' own families: failures, events, map fill, cgroups.
std::vector<MetricFamily> bpf_families(const Collection& c) {
  std::vector<MetricFamily> out;
  auto failures =
      family("syslens_bpf_failures_total", "Failures inside the BPF programs that lost or degraded data, by reason.",
             MetricType::Counter);
  auto events =
      family("syslens_bpf_events_total",
             "Expected, informational events inside the BPF programs (see docs/metrics.md).", MetricType::Counter);
  for (unsigned i = 0; i < SYSLENS_CNT__MAX; ++i) {
    const auto& ci = counter_info(i);
    add_counter(ci.failure ? failures : events, {{ci.failure ? "reason" : "event", ci.name}},
                static_cast<double>(c.counters[i]));
  }
  out.push_back(std::move(failures));
  out.push_back(std::move(events));

  auto entries = family("syslens_bpf_map_entries", "Entries in each bounded BPF map.", MetricType::Gauge);
  auto capacity = family("syslens_bpf_map_capacity", "Maximum entries of each bounded BPF map.", MetricType::Gauge);
  for (const auto& f : c.fill) {
    add_gauge(entries, {{"map", f.map}}, static_cast<double>(f.entries));
    add_gauge(capacity, {{"map", f.map}}, static_cast<double>(f.capacity));
  }
  out.push_back(std::move(entries));
  out.push_back(std::move(capacity));

  auto tracked =
      family("syslens_tracked_cgroups", "Distinct cgroups with syscalls in the kernel's stats map.", MetricType::Gauge);
  add_gauge(tracked, {}, static_cast<double>(c.tracked_cgroups));
  out.push_back(std::move(tracked));
  return out;
}

}  // namespace

std::string SyscallCollector::Render(const Collection& c, const std::vector<MetricFamily>& extra) const {
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
    for (const auto& [name, value] : series_labels(path, agg.labels_of(path))) append_label(l, name, *value);
    return l;
  };
  std::string own;
  w.family("syslens_syscalls_total", kCallsHelp, "counter");
  for (const auto& s : per_series) {
    own.clear();
    append_label(own, "syscall", agg.label(s.syscall));
    w.sample("syslens_syscalls_total", prefix_of(s.cgroup), own, s.agg.calls);
  }

  if (opts_.latency) {
    w.family("syslens_syscall_errors_total", kErrorsHelp, "counter");
    for (const auto& e : per_errno) {
      own.clear();
      append_label(own, "syscall", agg.label(e.syscall));
      append_label(own, "errno", agg.label(e.err));
      w.sample("syslens_syscall_errors_total", prefix_of(e.cgroup), own, e.count);
    }

    w.family("syslens_seccomp_denied_total", kDeniedHelp, "counter");
    for (const auto& e : agg.denied) {
      own.clear();
      append_label(own, "syscall", agg.label(e.syscall));
      append_label(own, "errno", agg.label(e.err));
      w.sample("syslens_seccomp_denied_total", prefix_of(e.cgroup), own, e.count);
    }

    // Per (cgroup, syscall): sum and count always, buckets only when asked
    // for (15 more series each). Per syscall, host-wide: always buckets.
    std::vector<std::string> le;
    for (double b : opts_.buckets.upper_seconds) le.push_back("le=\"" + format_double(b) + "\"");
    le.push_back("le=\"+Inf\"");
    auto write_histogram = [&](const std::string& name, const std::string& labels, const SeriesAgg& sa, bool buckets) {
      const std::string bucket = name + "_bucket", sum = name + "_sum", count = name + "_count";
      if (buckets) {
        const auto cum = cumulative_counts(opts_.buckets, sa.hist);
        for (std::size_t i = 0; i < cum.size(); ++i) w.sample(bucket, labels, le[i], cum[i]);
        w.sample(bucket, labels, le.back(), sa.returns);
      }
      w.sample(sum, labels, "", static_cast<double>(sa.sum_ns) / 1e9);
      w.sample(count, labels, "", sa.returns);
    };
    w.family("syslens_syscall_duration_seconds", opts_.latency_buckets ? kDurationHelpBuckets : kDurationHelp,
             opts_.latency_buckets ? "histogram" : "summary");
    std::string labels;
    for (const auto& s : per_series) {
      labels = prefix_of(s.cgroup);
      append_label(labels, "syscall", agg.label(s.syscall));
      write_histogram("syslens_syscall_duration_seconds", labels, s.agg, opts_.latency_buckets);
    }
    // Every live key plus what reclaimed cgroups contributed (label order is
    // name order).
    w.family("syslens_host_syscall_duration_seconds", kHostDurationHelp, "histogram");
    for (const auto& h : agg.host) {
      labels.clear();
      append_label(labels, "syscall", agg.label(h.syscall));
      write_histogram("syslens_host_syscall_duration_seconds", labels, h.agg, true);
    }
  }

  const auto t_text = std::chrono::steady_clock::now();
  std::vector<MetricFamily> out_families = bpf_families(c);
  out_families.insert(out_families.end(), extra.begin(), extra.end());
  append_families(out, out_families);
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  spdlog::debug("scrape: {} series, {} bytes; syscall families {:.1f} ms, the rest {:.1f} ms", per_series.size(),
                out.size(), ms(t_agg, t_text), ms(t_text, std::chrono::steady_clock::now()));
  return out;
}

std::string SyscallCollector::RenderProtobuf(const Collection& c, const std::vector<MetricFamily>& extra) const {
  const AggregatedSnapshot& agg = c.agg;
  std::string out;
  out.reserve(agg.series.size() * (opts_.latency ? 900 : 200) + 65536);
  // Each cgroup's label pairs, built once (never empty once built: the
  // cgroup label is always there).
  std::vector<std::vector<std::pair<const char*, const std::string*>>> cgroup_labels(agg.label_count());
  auto labels_of = [&](LabelIndex cgroup) -> const auto& {
    auto& l = cgroup_labels[cgroup];
    if (!l.empty()) return l;
    const std::string& path = agg.label(cgroup);
    for (const auto& [name, value] : series_labels(path, agg.labels_of(path))) {
      if (!value->empty()) l.emplace_back(name, value);
    }
    return l;
  };
  ProtobufWriter w(out);
  auto metric = [&](LabelIndex cgroup, std::initializer_list<std::pair<const char*, LabelIndex>> own) {
    w.begin_metric();
    for (const auto& [name, value] : labels_of(cgroup)) w.label(name, *value);
    for (const auto& [name, index] : own) w.label(name, agg.label(index));
  };
  w.begin_family("syslens_syscalls_total", kCallsHelp, FamilyType::counter);
  for (const auto& sr : agg.series) {
    metric(sr.cgroup, {{"syscall", sr.syscall}});
    w.counter(static_cast<double>(sr.agg.calls));
    w.end_metric();
  }
  w.end_family();

  if (opts_.latency) {
    // Failures, and seccomp denials, by errno.
    for (const auto& [name, help, rows] : {std::tuple{"syslens_syscall_errors_total", kErrorsHelp, &agg.errors},
                                           std::tuple{"syslens_seccomp_denied_total", kDeniedHelp, &agg.denied}}) {
      w.begin_family(name, help, FamilyType::counter);
      for (const auto& e : *rows) {
        metric(e.cgroup, {{"syscall", e.syscall}, {"errno", e.err}});
        w.counter(static_cast<double>(e.count));
        w.end_metric();
      }
      w.end_family();
    }

    // The classic families as in the text format, so that the same queries
    // and dashboards work whichever format Prometheus asked for.
    auto classic = [&](const SeriesAgg& sa) {
      w.histogram(sa.returns, static_cast<double>(sa.sum_ns) / 1e9, cumulative_counts(opts_.buckets, sa.hist),
                  opts_.buckets.upper_seconds);
    };
    w.begin_family("syslens_syscall_duration_seconds", opts_.latency_buckets ? kDurationHelpBuckets : kDurationHelp,
                   opts_.latency_buckets ? FamilyType::histogram : FamilyType::summary);
    for (const auto& sr : agg.series) {
      metric(sr.cgroup, {{"syscall", sr.syscall}});
      if (opts_.latency_buckets) {
        classic(sr.agg);
      } else {
        w.summary(sr.agg.returns, static_cast<double>(sr.agg.sum_ns) / 1e9);
      }
      w.end_metric();
    }
    w.end_family();

    w.begin_family("syslens_host_syscall_duration_seconds", kHostDurationHelp, FamilyType::histogram);
    for (const auto& h : agg.host) {
      w.begin_metric();
      w.label("syscall", agg.label(h.syscall));
      classic(h.agg);
      w.end_metric();
    }
    w.end_family();

    // Native: one series per (cgroup, syscall) with a timed call, every slot.
    w.begin_family("syslens_syscall_duration_nanoseconds", kNativeDurationHelp, FamilyType::histogram);
    for (const auto& sr : agg.series) {
      if (sr.agg.returns == 0) continue;
      metric(sr.cgroup, {{"syscall", sr.syscall}});
      w.native_histogram(sr.agg.hist, sr.agg.returns, static_cast<double>(sr.agg.sum_ns));
      w.end_metric();
    }
    w.end_family();
  }

  std::vector<MetricFamily> rest = bpf_families(c);
  rest.insert(rest.end(), extra.begin(), extra.end());
  append_families_protobuf(out, rest);
  return out;
}

}  // namespace syslens
