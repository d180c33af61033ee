// The daemon's own counters and gauges, in a prometheus-cpp Registry: what
// syslensd knows about itself (build and program variant, the HTTP
// listener, the overhead budget, the cgroup cache, the runtimes, reclaim,
// its seccomp filter, BPF run statistics). The kernel-derived families are
// not here: SyscallCollector writes them with the fast text writer.
//
// Each component keeps counting in its own plain integers (some count on
// other threads or in a signal handler); update() takes one sample of all
// of them per scrape and moves it into the registry, counters by their
// increase, so the registry's counters never go down.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "syslens/collect/collect.h"
#include "syslens/kernel/cgroup_paths.h"
#include "syslens/kernel/program_stats.h"
#include "syslens/workloads/metadata.h"

namespace syslens {

struct SelfInfo {
  std::string mode;                     // full | count
  std::string attach;                   // tp_btf | raw_tp
  std::string thread_store;             // task_storage | tid_hash | none
  std::string kernel;                   // uname release
  std::string hierarchy = "v2";         // cgroup hierarchy keyed by: v2 or v1:<controller>
  std::string current_task = "helper";  // or switch: bpf.current_task, as the loader could
};

// One sample of every component's own numbers, taken at a scrape.
struct SelfSample {
  // Each HTTP listener's numbers, by its label: "tcp" (--web.listen-address),
  // "unix" (the API socket).
  struct HttpListener {
    std::string name;
    std::uint64_t rejected = 0, evicted = 0, accept_errors = 0;
    std::size_t open = 0, limit = 0;
    std::vector<std::pair<std::string, std::uint64_t>> closed;  // why, how many
  };
  std::vector<HttpListener> http;
  std::uint64_t seccomp_refusals = 0;
  std::optional<double> overhead_ns;  // last run-stats window's cost per syscall
  double budget_ns = 0;
  bool latency_degraded = false;
  std::uint32_t latency_sample_every = 0;  // 0: count mode, no latency
  std::uint64_t degradations = 0;
  std::optional<std::vector<ProgramStats>> programs;  // none: run statistics off
  double run_stats_seconds = 0;
  std::optional<CgroupPathStats> cgroups;
  std::vector<MetadataSourceStats> runtimes;
  std::size_t metadata_entries = 0;
  ReclaimStats reclaim;
  std::optional<bool> maps_pinned;  // none: pinning off
  std::uint64_t pins_lost = 0;
  // Live windows of the API, by kind (trace, processes).
  struct Live {
    std::string kind;
    std::uint64_t opened, closed, refused, preempted;
    std::size_t open;
  };
  std::vector<Live> live;
};

class SelfMetrics {
 public:
  explicit SelfMetrics(const SelfInfo& info);
  void update(const SelfSample& s);
  // The time the scrape took until the daemon's own families.
  void set_scrape_duration(double seconds) { scrape_->Set(seconds); }
  std::vector<prometheus::MetricFamily> collect() const { return registry_.Collect(); }

 private:
  static void advance(prometheus::Counter& c, double total);
  prometheus::Family<prometheus::Counter>& counter(const std::string& name, const std::string& help);
  prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help);

  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>*http_rejected_, *http_evicted_, *http_accept_errors_;
  prometheus::Family<prometheus::Gauge>*http_open_, *http_limit_;
  prometheus::Counter *seccomp_refusals_, *degradations_, *reclaimed_cgroups_, *reclaimed_entries_, *reclaim_recovered_,
      *reclaim_deferred_, *run_stats_seconds_, *cache_evictions_, *cache_unresolved_, *pins_lost_;
  prometheus::Family<prometheus::Counter>*http_closed_, *groups_dropped_;
  prometheus::Gauge *overhead_ = nullptr, *budget_, *degraded_, *cache_entries_, *cache_capacity_, *metadata_entries_,
                    *in_grace_, *retired_rows_, *retired_unpersisted_, *scrape_, *pinned_, *groups_,
                    *groups_unpersisted_, *sample_every_;
  prometheus::Family<prometheus::Gauge>* overhead_family_;
  prometheus::Family<prometheus::Counter>*program_runs_, *program_seconds_, *runtime_errors_;
  prometheus::Family<prometheus::Gauge>*runtime_up_, *live_open_;
  prometheus::Family<prometheus::Counter>* live_events_;
};

}  // namespace syslens
