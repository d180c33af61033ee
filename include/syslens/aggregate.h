// One snapshot of the kernel maps decoded into labelled aggregates: cgroup
// path and syscall label per series, errno names, workload labels per cgroup.
// Keys that decode to the same labels are summed. Shared by the Prometheus
// collector and the workload store behind the JSON API.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>

#include "syslens/cgroup_paths.h"
#include "syslens/snapshot.h"
#include "syslens/syscall_table.h"
#include "syslens/workload.h"

namespace syslens {

// Label value of the cgroup label for calls that could not be attributed.
inline constexpr const char* kCgroupOverflow = "(overflow)";      // stats map was full
inline constexpr const char* kCgroupUnresolved = "(unresolved)";  // cgroup gone before it was named

struct SeriesAgg {
  std::uint64_t calls = 0;
  std::uint64_t returns = 0;
  std::uint64_t sum_ns = 0;
  std::array<std::uint64_t, SYSLENS_HIST_SLOTS> hist{};
  void add(const syslens_stats_val& v);
  void add(const SeriesAgg& o);
};

struct AggregatedSnapshot {
  std::map<std::pair<std::string, std::string>, SeriesAgg> series;  // (cgroup, syscall)
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> errors;  // (cgroup, syscall, errno)
  std::unordered_map<std::string, WorkloadLabels> workloads;  // cgroup path -> labels
  const WorkloadLabels& labels_of(const std::string& cgroup) const;
};

// workloads may be null (workload labels then stay empty). A snapshot that
// meets new containers may wait up to metadata_wait for their metadata.
AggregatedSnapshot aggregate(const Snapshot& snap, CgroupNamer& cgroups, WorkloadNamer* workloads, Arch arch,
                             std::chrono::milliseconds metadata_wait);

}  // namespace syslens
