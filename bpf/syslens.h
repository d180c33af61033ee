/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel/user boundary of syslens: every struct that crosses it lives
 * here, once. Both syslens.bpf.c and the daemon include this header; the
 * daemon static_asserts the sizes (daemon/kernel/src/bpf_abi.cpp).
 *
 * Fixed-width types, explicit padding, no pointers.
 */
#ifndef SYSLENS_BOUNDARY_H
#define SYSLENS_BOUNDARY_H

#ifdef __bpf__
/* BPF side: the fixed-width types come from syslens_core.bpf.h. */
#else
#include <linux/types.h>
#endif

/*
 * Latency histogram: slot i counts calls whose latency in nanoseconds lies in
 * (2^(i-1), 2^i], slot 0 counts latencies of 0 and 1 ns. The upper bound of
 * slot i is exactly 2^i ns, so the daemon can fold slots into Prometheus
 * "le" buckets without rounding. The last slot also takes everything above
 * 2^(SYSLENS_HIST_SLOTS-1) ns (about 36 minutes for 42 slots).
 */
#define SYSLENS_HIST_SLOTS 42

/* ABI a syscall was made through; the syscall number is only meaningful
 * together with it. */
enum syslens_abi {
	SYSLENS_ABI_NATIVE = 0, /* x86_64 (incl. x32, bit 30 of nr) / arm64 */
	SYSLENS_ABI_COMPAT = 1, /* ia32 on x86_64, aarch32 on arm64 */
};

/* Key of the per-(cgroup, syscall) statistics map. */
struct syslens_stats_key {
	__u64 cgroup_id; /* cgroup v2 id (= inode of the cgroup2 directory) */
	__u32 nr;	 /* syscall number as the kernel saw it */
	__u32 abi;	 /* enum syslens_abi */
};

/* Value of the statistics map. Updated with atomic adds from every CPU. */
struct syslens_stats_val {
	__u64 calls;   /* every sys_enter, including calls that never return */
	__u64 returns; /* sys_exit matched to an enter (full mode only) */
	__u64 sum_ns;  /* sum of latencies of the returned calls */
	__u64 hist[SYSLENS_HIST_SLOTS];
};

/* Key of the failures-by-errno map; value is a __u64 count. */
struct syslens_errno_key {
	__u64 cgroup_id;
	__u32 nr;
	__u16 abi;
	__u16 err; /* positive errno, 1..4095 */
};

/*
 * Key of "syslens_retired": what reclaimed cgroups contributed to series that
 * outlive them (host-wide, "(unresolved)", a cgroup path created again), so
 * that no exported counter goes down. Written by the daemon only, never by a
 * program; pinned with the other aggregation maps. Value: a
 * struct syslens_stats_val (for an errno row, calls holds the count).
 */
#define SYSLENS_RETIRED_MAX 16384

struct syslens_retired_key {
	__u64 label; /* FNV-1a 64 of the cgroup label; 0: host-wide */
	__u32 nr;
	__u16 abi;
	__u16 err; /* 0: the calls row; else the errno of an errors row, with
		    * SYSLENS_RETIRED_DENIED set for a seccomp denials row */
};

#define SYSLENS_RETIRED_DENIED 0x8000

/*
 * "syslens_groups": what the reclaimed cgroups of each workload group used,
 * for profiles of a whole group (a Kubernetes owner's pods, an image's
 * containers, a systemd unit's runs) over all the time syslens has watched.
 * Key: FNV-1a 64 of name. A bit per syscall number and ABI: made and not
 * only refused by seccomp. The daemon's alone; never expired.
 */
#define SYSLENS_GROUPS_MAX 4096
#define SYSLENS_GROUP_NAME_BYTES 256
#define SYSLENS_GROUP_NRS 1024 /* syscall numbers 0..1023 of each ABI */
struct syslens_group {
	char name[SYSLENS_GROUP_NAME_BYTES];   /* "<kind>\t<group>", NUL-terminated */
	__u64 used[2][SYSLENS_GROUP_NRS / 64]; /* [abi][nr / 64] bit nr % 64 */
};

/*
 * The reclaim journal. Reclaiming a removed cgroup adds its counts to
 * syslens_retired, then deletes its entries: two steps that no single map
 * update makes atomic, so a syslensd killed between them would count the
 * cgroup twice after a restart, or lose it. The daemon therefore first
 * records the batch: phase PREPARING, the cgroups and the label each is
 * retired under (syslens_reclaim_ids), and the value every retired row it
 * will change had before (syslens_reclaim_undo); then FOLDING while it
 * updates syslens_retired, DELETING while it deletes the cgroups' entries,
 * IDLE when done. A restart that finds PREPARING or FOLDING puts the rows
 * back as they were and runs the batch again; DELETING, it finishes the
 * deletion. Written by the daemon only; pinned with the aggregation maps.
 */
enum syslens_reclaim_phase {
	SYSLENS_RECLAIM_IDLE = 0,
	SYSLENS_RECLAIM_PREPARING = 1,
	SYSLENS_RECLAIM_FOLDING = 2,
	SYSLENS_RECLAIM_DELETING = 3,
};

/* The one entry of "syslens_reclaim_state". */
struct syslens_reclaim_state {
	__u32 phase; /* enum syslens_reclaim_phase */
	__u32 pad;
};

/* Value of "syslens_reclaim_undo" (key: struct syslens_retired_key). */
struct syslens_reclaim_undo {
	struct syslens_stats_val val;
	__u64 present; /* 0: the row did not exist before the batch */
};

/* Cgroups per batch ("syslens_reclaim_ids": cgroup id -> retired label). */
#define SYSLENS_RECLAIM_BATCH 256

/*
 * One entry of the per-CPU slot table "syslens_cpu_slots": the fast path for
 * the statistics. Entry index = cpu * slots_per_cpu + hash(key) % slots_per_cpu,
 * so every entry has exactly one writer (programs on that CPU, which run with
 * preemption off) and is updated with plain adds, no atomics and no shared
 * cache lines. key.cgroup_id == 0 marks a free entry; BPF writes it last when
 * it claims one. A key whose entry holds another key goes to syslens_stats.
 * The daemon sums a key over every CPU's entry and syslens_stats.
 */
struct syslens_cpu_slot {
	struct syslens_stats_key key;
	struct syslens_stats_val val;
};

/*
 * Per-thread record written at every sys_enter (full mode) and consumed at
 * sys_exit: the mark that the call entered (what tells a seccomp denial
 * apart), its key, and the enter time when the call is timed.
 */
struct syslens_enter_rec {
	__u64 ts_ns;	 /* 0 = no syscall in flight */
	__u64 cgroup_id; /* cgroup at enter: the call is attributed there */
	__u32 nr;
	__u16 abi;
	__u16 pad;
	__u32 flags; /* SYSLENS_REC_* */
	__u32 slot;  /* 1 + the syslens_cpu_slots index the call was counted in,
		      * 0: none; set only in a CPU's own record (syslens_cpu_recs) */
};

/*
 * The enter record's fast path with task storage: one record per CPU, owned
 * by the task that entered a syscall there last. A syscall that returns
 * without leaving the CPU (most of them) never touches task storage. When a
 * task is switched out with its record pending, the sched_switch program
 * moves the record into its task storage, where the exit then finds it.
 * Also this CPU's sampler state (both thread stores).
 * Padded to a cache line: each CPU writes only its own.
 */
struct syslens_cpu_rec {
	__u64 task; /* the task_struct pointer: compared; read only to check that
		     * it is current (tpbtf_enter_cur's object, 6.2+) */
	struct syslens_enter_rec rec;
	__u32 rng;	 /* xorshift32 state of the latency sampler; 0: not seeded */
	__u32 countdown; /* untimed calls until this CPU times one, + 1; 0: not drawn */
	__u64 current;	 /* the task switched in here last (tp_btf sched_switch), 0: none
			  * yet; what tpbtf_enter_cur reads instead of asking a helper */
	__u8 pad[8];
};

/*
 * ts_ns of a call entered but not timed (the sampler passed it over, or
 * latency is off): its exit counts a failure, not a latency.
 */
#define SYSLENS_TS_UNTIMED 1

/*
 * The thread was asleep in a syscall when the exit program was attached
 * (set by the syslens_mark_in_flight task iterator): its next exit without
 * an enter record is that call returning, not a seccomp denial.
 */
#define SYSLENS_REC_IN_FLIGHT 1

/*
 * Indexes of the per-CPU counter array "syslens_counters". Failures are
 * things that lost or degraded data; events are expected and informational.
 * Append only: the daemon exports them by name (daemon/kernel/src/bpf_abi.cpp).
 */
enum syslens_counter {
	/* failures */
	SYSLENS_CNT_STATS_MAP_FULL = 0,	    /* new (cgroup, syscall) did not fit:
					   * counted in the overflow row */
	SYSLENS_CNT_ERRNO_MAP_FULL,	    /* new (cgroup, syscall, errno) did not fit */
	SYSLENS_CNT_ENTER_STORE_FAILED,	    /* no per-thread slot: latency lost */
	SYSLENS_CNT_OVERFLOW_LOOKUP_FAILED, /* cannot happen (array) but counted */
	/* events */
	SYSLENS_CNT_EXIT_WITHOUT_ENTER, /* clone child, seccomp-skipped call,
					   * or call in flight at attach */
	SYSLENS_CNT_IGNORED_NR,		/* sys_enter/exit with id -1 */
	SYSLENS_CNT_ENTER_OVERWRITTEN,	/* enter while another is in flight */
	SYSLENS_CNT_NEW_KEY_EVENT_LOST, /* failure: the new-key ring buffer was
					   * full; a short-lived cgroup may go unnamed */
	SYSLENS_CNT_TRACE_EVENT_LOST,	/* failure: a live-trace event did not fit */
	SYSLENS_CNT_PROC_MAP_FULL,	/* failure: a process did not fit the
					   * processes window's map */
	SYSLENS_CNT_CPU_SLOT_TAKEN,	/* event: this CPU's slot for the key
					   * holds another key; the shared hash
					   * took the update instead */
	SYSLENS_CNT_DENIED_MAP_FULL,	/* failure: a new (cgroup, syscall, errno)
					   * of seccomp denials did not fit */
	SYSLENS_CNT_MAP_UPDATE_FAILED,	/* failure: a new key was refused by a
					   * map with room (-EBUSY, -ENOMEM) */
	SYSLENS_CNT_SWITCH_UNTRACED,	/* event: a call entered on a CPU whose
					   * last switched-in task is not current:
					   * the kernel switched without the
					   * sched_switch tracepoint; the enter
					   * asked a helper instead */
	SYSLENS_CNT_STACK_TASK_MISS,	/* event: tpbtf_enter_stack's table had
					   * not the current task for its kernel
					   * stack (the task's first call, or
					   * another task's stack in the entry):
					   * it asked a helper and wrote it in */
	SYSLENS_CNT__MAX,
};

/* Entries of syslens_stack_tasks (tpbtf_enter_stack): 16384 kernel stacks,
 * 128 KiB. More threads making calls at once than that share entries, and
 * each shared one costs a helper call when its owner changes. */
#define SYSLENS_STACK_TASKS_BITS 14
#define SYSLENS_STACK_TASKS (1U << SYSLENS_STACK_TASKS_BITS)

/* Entries of syslens_counters: more than SYSLENS_CNT__MAX. */
#define SYSLENS_CNT_SLOTS 32

/* Size of the ring buffer that carries the cgroup id of every new
 * (cgroup, syscall) key to the daemon, so it can name a cgroup while it
 * still exists. Rare: a few dozen events per new cgroup. */
#define SYSLENS_NEW_KEY_RINGBUF_BYTES (256 * 1024)

/* One syscall of a traced workload, streamed while someone listens. */
struct syslens_trace_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() at exit */
	__u64 latency_ns;
	__u64 cgroup_id; /* whose call: the daemon hands it to each trace of it */
	__s64 ret;	 /* return value; -errno on failure */
	__u32 pid;	 /* tgid */
	__u32 tid;
	__u32 nr;
	__u16 abi;
	__u16 flags; /* SYSLENS_TRACE_* */
	char comm[16];
};

/* Refused by a seccomp filter: never entered, latency 0. */
#define SYSLENS_TRACE_DENIED 1

/* What the daemon sets (in .bss) while a live trace runs. */
struct syslens_trace_filter {
	__u64 min_latency_ns; /* 0: any */
	__u32 nr_plus_one;    /* 0: any syscall, else nr + 1 */
	__u16 failed_only;
	__u16 denied_only;
};

/*
 * Calls a seccomp filter refused with an errno ("syslens_denied", key
 * struct syslens_errno_key, value a __u64 count). Such a call never reaches
 * sys_enter (seccomp runs before the tracepoint) but does reach sys_exit,
 * with its number and -errno: an exit with no enter record, from a thread
 * in seccomp filter mode, that was not asleep in a call at attach.
 */
#define SYSLENS_DENIED_MAX 8192

#define SYSLENS_TRACE_RINGBUF_BYTES (1024 * 1024)

/* Calls per process of a workload, counted while a processes window is open. */
struct syslens_proc_count {
	__u64 calls;
	__u64 cgroup_id; /* where the process made its first counted call */
	char comm[16];
};
#define SYSLENS_PROC_MAX 4096
#define SYSLENS_TRACE_MAX_CGROUPS 64

/* Rows of the overflow array: one per syscall number and ABI, used when the
 * stats map is full so that totals stay exact even when attribution is lost. */
#define SYSLENS_OVERFLOW_NR_MAX 1024 /* numbers >= this share the last row */

#endif /* SYSLENS_BOUNDARY_H */
