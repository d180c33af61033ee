// The Prometheus collector: reads a snapshot of the kernel maps when
// Prometheus scrapes and turns it into metric families. Never deletes from
// the maps; sums key sets that decode to the same labels.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "syslens/collect/aggregate.h"
#include "syslens/kernel/cgroup_paths.h"
#include "syslens/kernel/program_stats.h"
#include "syslens/collect/collect.h"
#include "syslens/config.h"
#include "syslens/collect/histogram.h"
#include "syslens/kernel/snapshot.h"
#include "syslens/kernel/syscall_table.h"
#include "syslens/workloads/workload.h"

namespace syslens {


// What the daemon knows about itself, supplied at scrape time.
struct SelfInfo {
  std::string mode;          // full | count
  std::string attach;        // tp_btf | raw_tp
  std::string thread_store;  // task_storage | tid_hash | none
  std::string kernel;        // uname release
  std::string hierarchy = "v2";  // cgroup hierarchy keyed by: v2 or v1:<controller>
  std::function<std::vector<ProgramStats>()> program_stats;
  std::function<double()> run_stats_enabled_seconds;
  std::function<CgroupPathStats()> cgroup_stats;
  std::function<std::vector<MetadataSourceStats>()> runtime_stats;
  std::function<std::size_t()> metadata_entries;
  std::function<ReclaimStats()> reclaim_stats;
  // Families derived from the scrape's aggregate (per-workload metrics).
  std::function<std::vector<prometheus::MetricFamily>(const AggregatedSnapshot&)> workload_families;
};

struct CollectorOptions {
  bool latency = true;           // full mode: export errors and durations
  bool latency_buckets = false;  // duration buckets per (cgroup, syscall), not only sum and count
  BucketLayout buckets = make_bucket_layout(8, 34, 2);
};

BucketLayout bucket_layout_from(const Config& cfg);

// Renders a scrape in the text exposition format from the collect layer's
// latest collection.
class SyscallCollector final {
 public:
  SyscallCollector(CollectorOptions opts, SelfInfo self);

  // One scrape: syslens's families, then `extra` (e.g. process metrics).
  // started: when the scrape began (its duration is exported).
  std::string Render(const Collection& c, std::vector<prometheus::MetricFamily> extra = {},
                     std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now()) const;

 private:
  CollectorOptions opts_;
  SelfInfo self_;
};

}  // namespace syslens
