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

struct CollectorOptions {
  bool latency = true;           // full mode: export errors and durations
  bool latency_buckets = false;  // duration buckets per (cgroup, syscall), not only sum and count
  BucketLayout buckets = make_bucket_layout(8, 34, 2);
};

BucketLayout bucket_layout_from(const Config& cfg);

// The one collector of the kernel-derived families: renders a collection
// (syscalls, errors, durations, BPF failures and events, map fill) with the
// fast text writer, then `extra` (the daemon's own registry, the process
// and per-workload families) in the same exposition.
class SyscallCollector final {
 public:
  explicit SyscallCollector(CollectorOptions opts) : opts_(std::move(opts)) {}

  // The text exposition (0.0.4), then extra's families.
  std::string Render(const Collection& c, const std::vector<prometheus::MetricFamily>& extra = {}) const;
  // The same families in the protobuf exposition (delimited MetricFamily
  // messages), plus syslens_syscall_duration_nanoseconds: each (cgroup,
  // syscall)'s latency as a native histogram.
  std::string RenderProtobuf(const Collection& c, const std::vector<prometheus::MetricFamily>& extra = {}) const;

 private:
  CollectorOptions opts_;
};

}  // namespace syslens
