// The workload store: what each workload (a container, else a cgroup) called,
// first and last seen, and references to workloads. Pure: unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "syslens/collect/aggregate.h"
#include "syslens/kernel/syscall_table.h"

namespace syslens {

struct SyscallRecord {
  SeriesAgg totals;
  std::map<std::string, std::uint64_t> errors;  // errno name -> count
  std::map<std::string, std::uint64_t> denied;  // errno name -> calls refused by seccomp (in errors too)
  // Made by a past member of a workload group (a reclaimed cgroup, counts
  // gone): group profiles only.
  bool past = false;
  // Made and not only refused by seccomp: what a profile must allow.
  bool used() const;
  // Adds another workload's record of the same syscall (a group's members).
  void merge(const SyscallRecord& other);
  double first_seen = 0;  // unix seconds
  double last_seen = 0;
};

struct WorkloadRecord {
  std::string key;  // "container/<id>" or the cgroup path
  WorkloadLabels labels;
  std::set<std::string> cgroups;
  std::map<std::string, SyscallRecord> syscalls;  // by syscall label
  double first_seen = 0;
  double last_seen = 0;
  std::uint64_t calls() const;
  std::uint64_t failures() const;
};

// Workloads are containers (all cgroups with one container id) or, outside
// containers, cgroups. Built from aggregated snapshots; counts are the
// kernel's cumulative ones, first/last seen are when a count first appeared
// and last grew. Workloads whose entries were reclaimed drop out.
class WorkloadStore {
 public:
  void update(const AggregatedSnapshot& agg, double now_unix);
  const std::vector<WorkloadRecord>& workloads() const { return workloads_; }

 private:
  std::vector<WorkloadRecord> workloads_;
};

// What a scrape needs of each workload, straight from one aggregated
// snapshot, without the store's bookkeeping (first/last seen, totals): its
// labels and the distinct syscall labels its cgroups made, sorted. Ordered by
// workload key; (overflow) and (unresolved) are not workloads.
struct WorkloadSyscalls {
  std::string key;
  const WorkloadLabels* labels = nullptr;    // into the snapshot
  std::vector<const std::string*> syscalls;  // into the snapshot
};
std::vector<WorkloadSyscalls> workload_syscalls(const AggregatedSnapshot& agg);

// A reference to one workload: a container id or unique prefix,
// namespace/pod/container, a container name, a systemd unit or a cgroup path.
struct RefResult {
  const WorkloadRecord* workload = nullptr;
  unsigned status = 200;  // 400 malformed, 404 unknown, 409 ambiguous
  std::string error;
  std::vector<std::string> candidates;  // for 409
};
RefResult resolve_ref(const std::vector<WorkloadRecord>& workloads, std::string_view ref);

}  // namespace syslens
