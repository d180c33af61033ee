// One snapshot of the kernel maps decoded into labelled aggregates: cgroup
// path and syscall label per series, errno names, workload labels per cgroup.
// Keys that decode to the same labels are summed. Shared by the Prometheus
// collector and the workload store behind the JSON API.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "syslens/kernel/cgroup_paths.h"
#include "syslens/kernel/snapshot.h"
#include "syslens/kernel/syscall_table.h"
#include "syslens/collect/labels.h"

namespace syslens {

// Label value of the cgroup label for calls that could not be attributed.
inline constexpr const char* kCgroupOverflow = "(overflow)";      // stats map was full
inline constexpr const char* kCgroupUnresolved = "(unresolved)";  // cgroup gone before it was named

// A cgroup label that names a cgroup (a path), not (overflow) or (unresolved).
inline bool is_cgroup_path(const std::string& label) { return !label.empty() && label.front() == '/'; }

struct SeriesAgg {
  std::uint64_t calls = 0;
  std::uint64_t returns = 0;
  std::uint64_t sum_ns = 0;
  std::array<std::uint64_t, SYSLENS_HIST_SLOTS> hist{};
  void add(const syslens_stats_val& v);
  void add(const SeriesAgg& o);
};

// A series names its labels by index into the snapshot's label table, which
// is sorted and holds each string once: ordering series by index is ordering
// them by label, and tens of thousands of series cost no string copies.
using LabelIndex = std::uint32_t;

struct Series {
  LabelIndex cgroup;
  LabelIndex syscall;
  SeriesAgg agg;
};

struct HostSeries {
  LabelIndex syscall;
  SeriesAgg agg;
};

struct ErrorSeries {
  LabelIndex cgroup;
  LabelIndex syscall;
  LabelIndex err;  // errno name
  std::uint64_t count;
};

class AggregatedSnapshot {
 public:
  std::vector<Series> series;       // sorted by (cgroup, syscall), unique
  std::vector<ErrorSeries> errors;  // sorted by (cgroup, syscall, errno), unique
  std::vector<ErrorSeries> denied;  // refused by seccomp; sorted and unique as errors
  // Per syscall, host-wide: every live key plus what reclaimed cgroups
  // contributed (not the sum of `series`, which leaves removed paths out).
  std::vector<HostSeries> host;                               // sorted by syscall, unique
  std::unordered_map<std::string, WorkloadLabels> workloads;  // cgroup path -> labels

  const std::string& label(LabelIndex i) const { return labels_[i]; }
  std::size_t label_count() const { return labels_.size(); }
  const WorkloadLabels& labels_of(const std::string& cgroup) const;

  // Building one (aggregate() does; tests may): intern the label strings,
  // add rows in any order, duplicates included, then finish() once to sort
  // the labels and the rows and sum the duplicates. Indices returned by
  // intern() change at finish(); a syslens_stats_val added by reference must
  // live until then.
  LabelIndex intern(std::string_view s);
  void add(LabelIndex cgroup, LabelIndex syscall, const syslens_stats_val& v);
  void add(LabelIndex cgroup, LabelIndex syscall, const SeriesAgg& v);
  void add_error(LabelIndex cgroup, LabelIndex syscall, LabelIndex err, std::uint64_t n);
  void add_denied(LabelIndex cgroup, LabelIndex syscall, LabelIndex err, std::uint64_t n);
  void add_host(LabelIndex syscall, const SeriesAgg& v);
  void finish();

 private:
  std::vector<std::string> labels_;
  std::unordered_map<std::string, LabelIndex> index_;  // until finish()
  struct Pending {
    std::uint64_t key;  // cgroup << 32 | syscall
    const syslens_stats_val* val;
    const SeriesAgg* agg;  // when val is null: in owned_
  };
  std::vector<Pending> pending_;
  std::deque<SeriesAgg> owned_;
  std::unordered_map<LabelIndex, SeriesAgg> pending_host_;
};

// The key of a cgroup label in the retired totals: FNV-1a 64, never 0 (0 is
// the host-wide key). Stable across versions: it is stored in pinned maps.
std::uint64_t retired_label_key(std::string_view label);

// workloads may be null (workload labels then stay empty). A snapshot that
// meets new containers may wait up to metadata_wait for their metadata.
// retired: totals of reclaimed cgroups, added to the host-wide series, to
// "(unresolved)", and to the series of a path that is in the snapshot (a
// path created again); those of paths not in it are not exported.
AggregatedSnapshot aggregate(const Snapshot& snap, const std::vector<RetiredRow>& retired, CgroupNamer& cgroups,
                             WorkloadNamer* workloads, Arch arch, std::chrono::milliseconds metadata_wait);
inline AggregatedSnapshot aggregate(const Snapshot& snap, CgroupNamer& cgroups, WorkloadNamer* workloads, Arch arch,
                                    std::chrono::milliseconds metadata_wait) {
  return aggregate(snap, {}, cgroups, workloads, arch, metadata_wait);
}

}  // namespace syslens
