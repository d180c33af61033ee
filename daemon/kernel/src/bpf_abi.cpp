// The daemon's side of the boundary header: size checks and counter names.
#include <cstddef>

#include "syslens/kernel/snapshot.h"

namespace syslens {

static_assert(sizeof(syslens_stats_key) == 16, "stats key layout changed");
static_assert(offsetof(syslens_stats_key, nr) == 8);
static_assert(sizeof(syslens_stats_val) == 8 * (3 + SYSLENS_HIST_SLOTS), "stats value layout changed");
static_assert(sizeof(syslens_cpu_slot) == 16 + sizeof(syslens_stats_val), "slot layout changed");
static_assert(sizeof(syslens_errno_key) == 16, "errno key layout changed");
static_assert(offsetof(syslens_errno_key, err) == 14);
static_assert(sizeof(syslens_retired_key) == 16, "retired key layout changed");
static_assert(offsetof(syslens_retired_key, err) == 14);
static_assert(sizeof(syslens_reclaim_state) == 8, "reclaim state layout changed");
static_assert(sizeof(syslens_reclaim_undo) == 8 + sizeof(syslens_stats_val), "reclaim undo layout changed");
static_assert(sizeof(syslens_enter_rec) == 32, "enter record layout changed");
static_assert(sizeof(syslens_cpu_rec) == 64, "per-CPU record layout changed: one cache line each");
static_assert(sizeof(syslens_trace_event) == 64, "trace event layout changed");
static_assert(sizeof(syslens_trace_filter) == 16, "trace filter layout changed");
static_assert(SYSLENS_CNT__MAX <= SYSLENS_CNT_SLOTS, "more counters than the pinned map holds");
static_assert(sizeof(syslens_proc_count) == 32, "process count layout changed");

namespace {
constexpr CounterInfo kCounters[SYSLENS_CNT__MAX] = {
    {"stats_map_full", true,
     "the syslens_stats map is full: new (cgroup, syscall) pairs are counted in the cgroup=\"(overflow)\" series, "
     "totals stay exact; raise bpf.max_stats_entries",
     "syslens_stats"},
    {"errno_map_full", true,
     "the syslens_errors map is full: failures of new (cgroup, syscall, errno) are not counted by errno; raise "
     "bpf.max_errno_entries",
     "syslens_errors"},
    {"enter_store_failed", true,
     "no room for a thread's enter record: those calls are counted but not timed; raise bpf.max_threads"},
    {"overflow_lookup_failed", true, "a lookup of the overflow rows failed: calls were lost"},
    {"exit_without_enter", false},
    {"ignored_syscall_id", false},
    {"enter_overwritten", false},
    {"new_key_event_lost", true,
     "the new-key ring buffer was full: a short-lived cgroup may stay unnamed (cgroup=\"(unresolved)\")"},
    {"trace_event_lost", true, "a live trace lost events: its client reads too slowly or its filter is too wide"},
    {"proc_map_full", true, "the processes window's map is full: calls of further processes were not counted"},
    {"cpu_slot_taken", false},
    {"denied_map_full", true,
     "the syslens_denied map is full: seccomp denials of new (cgroup, syscall, errno) are counted as calls and "
     "failures but not as denials",
     "syslens_denied"},
    {"map_update_failed", true,
     "the kernel refused a new key in a map that had room (-EBUSY or -ENOMEM, not a full map): that call went to the "
     "cgroup=\"(overflow)\" series or its errno, denial or process was not counted; a larger map does not help"},
    {"switch_untraced", false},
    {"stack_task_miss", false},
};
}  // namespace

const CounterInfo& counter_info(unsigned index) { return kCounters[index]; }

}  // namespace syslens
