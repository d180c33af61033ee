// What the collect layer hands to exporters: one consistent-enough read of the
// kernel's aggregation maps. Knows nothing of labels or cgroup paths.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "syslens.h"  // the kernel/user boundary (bpf/syslens.h)

namespace syslens {

struct StatsRow {
  syslens_stats_key key;
  syslens_stats_val val;
};

// Adds one set of counts to another: a kernel value (syslens_stats_val) or an
// aggregate of them (SeriesAgg), in either direction.
template <class Dst, class Src>
void add_counts(Dst& dst, const Src& v) {
  dst.calls += v.calls;
  dst.returns += v.returns;
  dst.sum_ns += v.sum_ns;
  for (std::size_t i = 0; i < SYSLENS_HIST_SLOTS; ++i) dst.hist[i] += v.hist[i];
}

struct ErrnoRow {
  syslens_errno_key key;
  std::uint64_t count;
};

struct MapFill {
  const char* map;
  std::uint64_t entries;
  std::uint64_t capacity;
};

struct Snapshot {
  std::vector<StatsRow> stats;
  // Non-empty rows of the overflow array: key.cgroup_id is 0, key.nr and
  // key.abi say which syscall. Calls land here when the stats map is full.
  std::vector<StatsRow> overflow;
  std::vector<ErrnoRow> errors;
  std::vector<ErrnoRow> denied;                            // calls a seccomp filter refused, by errno
  std::array<std::uint64_t, SYSLENS_CNT__MAX> counters{};  // summed over CPUs
  std::vector<MapFill> fill;
};

// Where snapshots come from: the BPF maps in the daemon, a fixture in tests.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  virtual Snapshot read() = 0;
};

struct RetiredRow {
  syslens_retired_key key;
  syslens_stats_val val;
};

// The reclaim journal (bpf/syslens.h): the batch a killed syslensd left in
// flight, for the next one to finish.
struct ReclaimJournal {
  std::uint32_t phase = SYSLENS_RECLAIM_IDLE;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ids;  // cgroup id, retired label
  std::vector<std::pair<syslens_retired_key, syslens_reclaim_undo>> undo;
};

// The kernel's aggregation maps as the collect layer uses them: read, delete
// a reclaimed cgroup's entries, and keep the retired totals beside them
// (pinned with them, so they survive a restart with the counts), with the
// journal that makes a reclaim survive a kill.
class KernelMaps : public SnapshotSource {
 public:
  virtual ReclaimJournal read_journal() = 0;
  // Phase PREPARING, then the batch's cgroups and undo rows (any left from
  // an earlier batch deleted first). False when they did not fit: the
  // journal is then back to IDLE and empty.
  virtual bool record_batch(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ids,
                            const std::vector<std::pair<syslens_retired_key, syslens_reclaim_undo>>& undo) = 0;
  virtual void set_reclaim_phase(std::uint32_t phase) = 0;
  // Phase IDLE, then the batch's records deleted.
  virtual void end_batch() = 0;
  // What workload groups' past members used (syslens_groups).
  virtual std::vector<std::pair<std::uint64_t, syslens_group>> read_groups() = 0;
  // Adds or replaces a group; false when the map is full.
  virtual bool put_group(std::uint64_t key, const syslens_group& g) = 0;
  virtual std::uint64_t groups_capacity() const = 0;
  // Deletes every stats and errno entry of these cgroups (found in snap).
  // Returns how many entries were deleted.
  virtual std::uint64_t forget_cgroups(const std::vector<std::uint64_t>& ids, const Snapshot& snap) = 0;
  virtual std::vector<RetiredRow> read_retired() = 0;
  // False when the map is full (the total then lives in memory only).
  virtual bool put_retired(const syslens_retired_key& key, const syslens_stats_val& val) = 0;
  virtual void erase_retired(const syslens_retired_key& key) = 0;
  virtual std::uint64_t retired_capacity() const = 0;
};

// Names of the counters of enum syslens_counter, and whether each is a
// failure (data lost or degraded) or an expected event.
struct CounterInfo {
  const char* name;
  bool failure;
  const char* what = "";      // a failure's log line: what was lost, and what to do
  const char* map = nullptr;  // a full map's name (MapFill::map): its fill goes in the log line
};
const CounterInfo& counter_info(unsigned index);

}  // namespace syslens
