// Per-workload syscall profiles behind the JSON API: a store of what each
// workload called (first and last seen), references to workloads, and the
// profile and seccomp documents built from them. Pure: unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "syslens/aggregate.h"
#include "syslens/syscall_table.h"

namespace syslens {

struct SyscallRecord {
  SeriesAgg totals;
  std::map<std::string, std::uint64_t> errors;  // errno name -> count
  double first_seen = 0;                        // unix seconds
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
  const WorkloadLabels* labels = nullptr;  // into the snapshot
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

// Syscalls a reference seccomp profile allows on an architecture (Docker /
// containers-common JSON): names in SCMP_ACT_ALLOW rules whose conditions
// do not exclude the arch and do not require a capability.
struct ReferenceProfile {
  std::string name;
  std::set<std::string> allowed;
};
ReferenceProfile parse_reference_profile(std::string_view json_text, std::string name, Arch arch);

// Native-ABI syscall names seen that the reference would deny, sorted.
std::vector<std::string> denied_by(const ReferenceProfile& ref, const WorkloadRecord& w);
std::size_t denied_count(const ReferenceProfile& ref, const WorkloadSyscalls& w);

std::string iso8601(double unix_seconds);

nlohmann::json workload_summary_json(const WorkloadRecord& w);
nlohmann::json profile_json(const WorkloadRecord& w, const ReferenceProfile* ref);

// The syscalls a runtime (runc, crun) may make after installing the filter
// and before the workload's own code runs: always allowed, documented in
// docs/seccomp.md.
const std::vector<std::string>& runtime_start_syscalls(Arch arch);

enum class SeccompFormat { docker, oci };
// Allows exactly the syscalls seen (plus the runtime start set unless
// include_runtime is false); everything else fails with EPERM.
nlohmann::json seccomp_json(const WorkloadRecord& w, Arch arch, SeccompFormat format, bool include_runtime);

}  // namespace syslens
