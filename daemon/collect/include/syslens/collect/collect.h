// The collect layer: the one owner of the kernel's numbers. Reads the maps
// at most once per interval for every consumer (the scrape, the API, the
// workload observer, the reclaimer), reclaims removed cgroups, and keeps
// monotonic totals: what a reclaimed cgroup contributed is folded into
// retired totals (kept in a pinned map beside the counts, so they survive a
// restart with them), and no exported counter goes down.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "syslens/collect/aggregate.h"
#include "syslens/collect/reclaimer.h"
#include "syslens/kernel/snapshot.h"

namespace syslens {

// The syscalls (number, ABI) the reclaimed cgroups of each workload group
// made and were not only refused, by (kind, name) as workload_groups() names
// them: kept in the syslens_groups map (bpf/syslens.h), so what a group's
// past members did survives a restart like the counts.
using GroupSyscalls = std::set<std::pair<std::uint32_t, std::uint16_t>>;
using PastGroups = std::map<std::pair<std::string, std::string>, GroupSyscalls>;

// One read of the maps, decoded: what every consumer shares.
struct Collection {
  AggregatedSnapshot agg;  // retired totals included
  std::array<std::uint64_t, SYSLENS_CNT__MAX> counters{};
  std::vector<MapFill> fill;
  std::size_t tracked_cgroups = 0;  // distinct cgroups in the stats map
  std::shared_ptr<const PastGroups> past_groups;
  std::chrono::steady_clock::time_point at;
};

struct CollectOptions {
  Arch arch = host_arch();
  // How long one read may wait for container metadata of new containers.
  std::chrono::milliseconds metadata_wait{250};
  // A removed cgroup's series stay this long, then its entries are reclaimed.
  std::chrono::milliseconds removed_grace{std::chrono::minutes(5)};
  // How often a read also looks for removed cgroups and reclaims them.
  std::chrono::milliseconds reclaim_every{std::chrono::seconds(30)};
};

struct ReclaimStats {
  std::uint64_t in_grace = 0;             // removed cgroups still exported
  std::uint64_t cgroups_reclaimed = 0;    // removed cgroups whose entries were deleted
  std::uint64_t entries_reclaimed = 0;    // kernel map entries deleted with them
  std::uint64_t batches_recovered = 0;    // batches a killed syslensd left in flight, finished at start
  std::uint64_t batches_deferred = 0;     // batches the journal could not hold, left for the next reclaim
  std::uint64_t retired_rows = 0;         // retired totals kept
  std::uint64_t retired_unpersisted = 0;  // of those, not in the kernel map (it was full)
  std::uint64_t retired_expired = 0;      // rows of removed paths dropped after the grace period
  std::uint64_t groups = 0;               // workload groups whose past members' syscalls are kept
  std::uint64_t groups_unpersisted = 0;   // of those, not in the kernel map (it was full)
  // Members of groups not kept: "<kind>\t<name>" of 256 bytes or more; a new
  // group while as many as the map holds are kept in memory already.
  std::uint64_t groups_dropped_name_too_long = 0;
  std::uint64_t groups_dropped_full = 0;
};

class Collect {
 public:
  using Clock = std::chrono::steady_clock;
  // workloads may be null (workload labels then stay empty). Loads the
  // retired totals the maps hold (a previous run's, when they were pinned),
  // first finishing the reclaim a killed run left in flight, if any.
  Collect(KernelMaps& maps, CgroupNamer& cgroups, WorkloadNamer* workloads, CollectOptions opts);

  // The latest collection, read anew when it is older than max_age (0:
  // always). Called on the daemon's io thread; safe from others too.
  std::shared_ptr<const Collection> latest(Clock::duration max_age);
  ReclaimStats reclaim_stats() const;

 private:
  std::shared_ptr<Collection> read(Clock::time_point now);
  using Batch = std::vector<std::pair<std::uint64_t, std::uint64_t>>;  // cgroup id, retired label
  void reclaim(Snapshot& snap, const std::vector<std::uint64_t>& due);
  // Moves a batch's counts into the retired totals and deletes its entries,
  // through the journal (bpf/syslens.h). False when the journal could not
  // hold it (nothing changed).
  bool reclaim_batch(Snapshot& snap, const Batch& batch);
  void recover(Snapshot& snap);
  void load_retired();
  void fold(const syslens_retired_key& key, const syslens_stats_val& v);
  // Records what the cgroups about to be reclaimed used in their groups
  // (idempotent: a row says a syscall was used, not how often).
  void remember_groups(const Snapshot& snap, const std::vector<std::uint64_t>& due);
  void load_groups();
  void publish_groups();
  void expire_tombstones(const AggregatedSnapshot& agg, Clock::time_point now);

  struct KeyHash {
    std::size_t operator()(const syslens_retired_key& k) const;
  };
  struct KeyEq {
    bool operator()(const syslens_retired_key& a, const syslens_retired_key& b) const;
  };

  KernelMaps& maps_;
  CgroupNamer& cgroups_;
  WorkloadNamer* workloads_;
  CollectOptions opts_;
  CgroupReclaimer reclaimer_;
  mutable std::mutex mu_;
  std::shared_ptr<const Collection> latest_;
  std::optional<Clock::time_point> last_reclaim_;
  std::vector<RetiredRow> retired_;
  std::unordered_map<syslens_retired_key, std::size_t, KeyHash, KeyEq> index_;  // into retired_
  std::unordered_set<syslens_retired_key, KeyHash, KeyEq> unpersisted_;         // not in the kernel map: it was full
  bool warned_full_ = false;
  bool warned_journal_ = false;
  bool warned_groups_ = false;
  std::map<std::uint64_t, syslens_group> groups_;  // as in the kernel map, and those it had no room for
  std::set<std::uint64_t> groups_unpersisted_;
  // The groups each exported path was last seen in.
  std::unordered_map<std::string, std::vector<std::pair<std::string, std::string>>> groups_of_path_;
  std::shared_ptr<const PastGroups> past_groups_;  // groups_ decoded, for collections; renewed on change
  // The kernel's failure counters at start, and which have grown since
  // (each logged once).
  std::array<std::uint64_t, SYSLENS_CNT__MAX> first_counters_{};
  std::array<bool, SYSLENS_CNT__MAX> warned_counter_{};
  void warn_failures(const std::array<std::uint64_t, SYSLENS_CNT__MAX>& counters, const std::vector<MapFill>& fill);
  // Labels of retired rows whose path has no series now, since when.
  std::unordered_map<std::uint64_t, Clock::time_point> absent_since_;
  ReclaimStats stats_;
};

}  // namespace syslens
