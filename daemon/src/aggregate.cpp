#include "syslens/aggregate.h"

#include "syslens/errno_name.h"

namespace syslens {

void SeriesAgg::add(const syslens_stats_val& v) {
  calls += v.calls;
  returns += v.returns;
  sum_ns += v.sum_ns;
  for (std::size_t i = 0; i < hist.size(); ++i) hist[i] += v.hist[i];
}

void SeriesAgg::add(const SeriesAgg& o) {
  calls += o.calls;
  returns += o.returns;
  sum_ns += o.sum_ns;
  for (std::size_t i = 0; i < hist.size(); ++i) hist[i] += o.hist[i];
}

const WorkloadLabels& AggregatedSnapshot::labels_of(const std::string& cgroup) const {
  static const WorkloadLabels none;
  auto it = workloads.find(cgroup);
  return it == workloads.end() ? none : it->second;
}

AggregatedSnapshot aggregate(const Snapshot& snap, CgroupNamer& cgroups, WorkloadNamer* workloads, Arch arch,
                             std::chrono::milliseconds metadata_wait) {
  AggregatedSnapshot a;
  std::unordered_map<std::uint64_t, std::string> cgroup_label;
  std::unordered_map<std::uint64_t, std::string> syscall_label_cache;
  auto cgroup_of = [&](std::uint64_t id) -> const std::string& {
    auto it = cgroup_label.find(id);
    if (it != cgroup_label.end()) return it->second;
    auto p = cgroups.path_of(id);
    return cgroup_label.emplace(id, p ? *p : std::string(kCgroupUnresolved)).first->second;
  };
  auto syscall_of = [&](std::uint32_t nr, std::uint32_t abi) -> const std::string& {
    const std::uint64_t k = (std::uint64_t{abi} << 32) | nr;
    auto it = syscall_label_cache.find(k);
    if (it != syscall_label_cache.end()) return it->second;
    return syscall_label_cache.emplace(k, syscall_label(arch, nr, abi == SYSLENS_ABI_COMPAT)).first->second;
  };

  for (const auto& row : snap.stats) {
    a.series[{cgroup_of(row.key.cgroup_id), syscall_of(row.key.nr, row.key.abi)}].add(row.val);
  }
  for (const auto& row : snap.overflow) {
    a.series[{kCgroupOverflow, syscall_of(row.key.nr, row.key.abi)}].add(row.val);
  }
  for (const auto& row : snap.errors) {
    a.errors[{cgroup_of(row.key.cgroup_id), syscall_of(row.key.nr, row.key.abi), errno_name(row.key.err)}] +=
        row.count;
  }

  auto label_all = [&] {
    for (const auto& [id, path] : cgroup_label) {
      if (path.empty() || path.front() != '/') continue;  // (unresolved)
      a.workloads[path] = workloads ? workloads->labels_for(path) : WorkloadLabels{};
    }
  };
  label_all();
  if (workloads && workloads->settle(metadata_wait)) label_all();
  return a;
}

}  // namespace syslens
