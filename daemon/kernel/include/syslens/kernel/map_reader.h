// The map reader: the collect layer's view of the kernel maps (KernelMaps):
// one read of the counts (hash, per-CPU slots, overflow rows, counters),
// deletion of a reclaimed cgroup's entries, the retired totals and the
// reclaim journal.
#pragma once

#include "syslens/config.h"
#include "syslens/kernel/loader.h"
#include "syslens/kernel/snapshot.h"

namespace syslens {

class MapReader final : public KernelMaps {
 public:
  explicit MapReader(Loader& loader);

  Snapshot read() override;
  std::uint64_t forget_cgroups(const std::vector<std::uint64_t>& ids, const Snapshot& snap) override;
  std::vector<RetiredRow> read_retired() override;
  bool put_retired(const syslens_retired_key& key, const syslens_stats_val& val) override;
  void erase_retired(const syslens_retired_key& key) override;
  std::uint64_t retired_capacity() const override { return SYSLENS_RETIRED_MAX; }
  ReclaimJournal read_journal() override;
  bool record_batch(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ids,
                    const std::vector<std::pair<syslens_retired_key, syslens_reclaim_undo>>& undo) override;
  void set_reclaim_phase(std::uint32_t phase) override;
  void end_batch() override;
  std::vector<std::pair<std::uint64_t, syslens_group>> read_groups() override;
  bool put_group(std::uint64_t key, const syslens_group& g) override;
  std::uint64_t groups_capacity() const override { return SYSLENS_GROUPS_MAX; }

 private:
  // Adds every used slot to stats (summing keys found in several places);
  // returns how many slots are in use.
  std::uint64_t merge_cpu_slots(std::vector<StatsRow>& stats) const;

  struct ::syslens_bpf* skel_;
  Mode mode_;
  ThreadStore store_;
  std::uint32_t max_stats_, max_errno_, max_threads_;
  struct syslens_cpu_slot* slots_;
  std::uint32_t cpu_slots_;
  int ncpus_;
};

}  // namespace syslens
