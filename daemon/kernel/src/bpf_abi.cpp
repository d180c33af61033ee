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
static_assert(sizeof(syslens_enter_rec) == 24, "enter record layout changed");
static_assert(sizeof(syslens_trace_event) == 56, "trace event layout changed");
static_assert(sizeof(syslens_trace_filter) == 16, "trace filter layout changed");
static_assert(sizeof(syslens_proc_count) == 24, "process count layout changed");

namespace {
constexpr CounterInfo kCounters[SYSLENS_CNT__MAX] = {
    {"stats_map_full", true},         {"errno_map_full", true},      {"enter_store_failed", true},
    {"overflow_lookup_failed", true}, {"exit_without_enter", false}, {"ignored_syscall_id", false},
    {"enter_overwritten", false},     {"new_key_event_lost", true},  {"trace_event_lost", true},
    {"proc_map_full", true},          {"cpu_slot_taken", false},
};
}  // namespace

const CounterInfo& counter_info(unsigned index) { return kCounters[index]; }

}  // namespace syslens
