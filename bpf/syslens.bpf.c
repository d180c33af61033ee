// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syslens: per-(cgroup, syscall) aggregation on the raw_syscalls tracepoints.
 *
 * sys_enter counts every call (what strace -c counts, including calls that
 * never return) and, in full mode, leaves a per-thread enter record, with the
 * enter time only for the calls the sampler picks. sys_exit counts failures
 * by errno for every call and turns a timed record into a latency
 * observation. Nothing is streamed: the daemon reads the maps when scraped.
 *
 * Each program exists once per attach type (tp_btf, raw_tp) and per
 * per-thread store (task storage on 5.11+, a tid hash before); the daemon
 * autoloads exactly the set its runtime probes chose. The entry points are
 * thin and forward to one always-inline handler.
 */
#include "syslens_core.bpf.h"
#include "syslens.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the daemon between open() and load(); the verifier prunes what is
 * off, so count-only mode pays nothing for latency tracking. */
const volatile bool track_latency = true;
/* Entries per CPU in syslens_cpu_slots, a power of two; 0: no slot table. */
const volatile __u32 cpu_slots = 0;
/* >= 0: key by the cgroup of this cgroup v1 subsystem instead of cgroup v2. */
const volatile int cgroup_v1_subsys = -1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by the daemon */
	__type(key, struct syslens_stats_key);
	__type(value, struct syslens_stats_val);
} syslens_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syslens_errno_key);
	__type(value, __u64);
} syslens_errors SEC(".maps");

/* Calls refused by seccomp, by errno (see syslens.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYSLENS_DENIED_MAX);
	__type(key, struct syslens_errno_key);
	__type(value, __u64);
} syslens_denied SEC(".maps");

/* Totals of reclaimed cgroups; the daemon's alone (see syslens.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYSLENS_RETIRED_MAX);
	__type(key, struct syslens_retired_key);
	__type(value, struct syslens_stats_val);
} syslens_retired SEC(".maps");

/* What workload groups' past members used (see syslens.h); the daemon's alone. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SYSLENS_GROUPS_MAX);
	__type(key, __u64);
	__type(value, struct syslens_group);
} syslens_groups SEC(".maps");

/* The reclaim journal; the daemon's alone (see syslens.h). Allocated only
 * while a batch is being reclaimed. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct syslens_reclaim_state);
} syslens_reclaim_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SYSLENS_RECLAIM_BATCH);
	__type(key, __u64);
	__type(value, __u64);
} syslens_reclaim_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SYSLENS_RETIRED_MAX);
	__type(key, struct syslens_retired_key);
	__type(value, struct syslens_reclaim_undo);
} syslens_reclaim_undo SEC(".maps");

/* The fast path: see struct syslens_cpu_slot. Sized cpus * cpu_slots by the
 * daemon, which reads it through mmap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* resized by the daemon */
	__type(key, __u32);
	__type(value, struct syslens_cpu_slot);
} syslens_cpu_slots SEC(".maps");

/* Where calls go when syslens_stats is full: totals stay exact, only the
 * cgroup is lost. Row = abi * SYSLENS_OVERFLOW_NR_MAX + min(nr, MAX - 1). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SYSLENS_OVERFLOW_NR_MAX);
	__type(key, __u32);
	__type(value, struct syslens_stats_val);
} syslens_overflow SEC(".maps");

/* Room for counters not yet defined: appending one leaves the pinned map's
 * size as it is, and so the counts an upgrade carries over. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSLENS_CNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} syslens_counters SEC(".maps");

/* Per-thread enter record, 5.11+: freed by the kernel with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct syslens_enter_rec);
} syslens_task_rec SEC(".maps");

/* struct syslens_cpu_rec (syslens.h), one per CPU. Mappable: the kernel
 * tests write a wrong switched-in task into it (tpbtf_enter_cur must see
 * through it). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* resized by the daemon to the number of CPUs */
	__type(key, __u32);
	__type(value, struct syslens_cpu_rec);
} syslens_cpu_recs SEC(".maps");

/*
 * Count-only's current task without a helper call or a context-switch
 * program (tpbtf_enter_stack): task pointers by where their kernel stack is,
 * SYSLENS_STACK_TASKS entries indexed by a hash of the syscall's register
 * address. Only a hint: the enter checks an entry against the registers
 * before it trusts it, so a stale, torn or colliding entry is a miss (the
 * enter asks the helper and writes the entry). Shared by all CPUs: a task's
 * entry is only written when it misses.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	/* Mappable: the kernel tests write wrong tasks in. */
	__uint(map_flags, BPF_F_MMAPABLE);
	/* SYSLENS_STACK_TASKS when tpbtf_enter_stack loads, else 1. */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} syslens_stack_tasks SEC(".maps");

/* Per-thread enter record before 5.11: keyed by tid, removed at thread exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by the daemon, 1 when unused */
	__type(key, __u32);
	__type(value, struct syslens_enter_rec);
} syslens_tid_rec SEC(".maps");

/* New (cgroup, syscall) keys, as their __u64 cgroup id: rare by design. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SYSLENS_NEW_KEY_RINGBUF_BYTES);
} syslens_new_keys SEC(".maps");

/*
 * The latency sampler (full mode, see sample_call()). 2^32 or more: every
 * call timed (bpf.latency_sample_every 1); 2^32 / N: one call in N on
 * average; 0: none (the overhead budget's degraded state). Untimed calls pay
 * no clock read; their exits still count failures and seccomp denials.
 */
volatile __u64 sample_below = 1ULL << 32;

/* Live trace, off unless the daemon has a listener: one load per exit. */
volatile __u32 trace_active;
volatile struct syslens_trace_filter trace_filter;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYSLENS_TRACE_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, __u8);
} syslens_trace_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SYSLENS_TRACE_RINGBUF_BYTES);
} syslens_trace_events SEC(".maps");

/* Processes window, off unless the daemon opened one: one load per enter. */
volatile __u32 procs_active;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYSLENS_TRACE_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, __u8);
} syslens_proc_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYSLENS_PROC_MAX);
	__type(key, __u32);
	__type(value, struct syslens_proc_count);
} syslens_proc_counts SEC(".maps");

static const struct syslens_stats_val zero_stats;
static const struct syslens_enter_rec zero_rec;

static __always_inline void count_event(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&syslens_counters, &idx);

	if (v)
		*v += 1; /* per-CPU: no atomic needed */
}

/* ceil(log2(ns)): slot i holds (2^(i-1), 2^i] ns. See syslens.h. */
static __always_inline __u32 hist_slot(__u64 v)
{
	__u32 r, shift;

	if (v <= 1)
		return 0;
	v -= 1;
	r = (v > 0xFFFFFFFFULL) << 5;
	v >>= r;
	shift = (v > 0xFFFF) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	r += 1;
	return r < SYSLENS_HIST_SLOTS ? r : SYSLENS_HIST_SLOTS - 1;
}

static __always_inline struct syslens_stats_val *overflow_row(const struct syslens_stats_key *key)
{
	__u32 nr = key->nr < SYSLENS_OVERFLOW_NR_MAX ? key->nr : SYSLENS_OVERFLOW_NR_MAX - 1;
	__u32 row = (key->abi ? SYSLENS_OVERFLOW_NR_MAX : 0) + nr;
	struct syslens_stats_val *v = bpf_map_lookup_elem(&syslens_overflow, &row);

	if (!v)
		count_event(SYSLENS_CNT_OVERFLOW_LOOKUP_FAILED);
	return v;
}

/*
 * Inserts a new key: 0, or -errno as an int. Before Linux 6.4 ("bpf: return
 * long from bpf_map_ops funcs") the verifier calls a map's update op directly
 * and that op returned int, so the upper half of the helper's long result is
 * not a sign extension (the C ABI leaves it to the callee; it is zero on
 * x86_64 and arm64 as built): compared as a long,
 * -EEXIST never matches on Debian 12's 6.1, and a key another CPU inserted
 * first was taken for a full map. The low 32 bits are right on every kernel.
 */
static __always_inline int map_insert(void *map, const void *key, const void *value)
{
	return (int)bpf_map_update_elem(map, key, value, BPF_NOEXIST);
}

/* A new key the kernel did not insert: a full map (-E2BIG), or one that had
 * room but refused it (-EBUSY, -ENOMEM), counted apart: only the first is
 * cured by a larger map. */
static __always_inline void count_insert_failure(int err, __u32 full_event)
{
	count_event(err == -E2BIG ? full_event : SYSLENS_CNT_MAP_UPDATE_FAILED);
}

/* A new (cgroup, syscall) key: tell the daemon the cgroup id, so it can name
 * a short-lived cgroup while it still exists. */
static __always_inline void announce_new_key(__u64 cgroup_id)
{
	if (bpf_ringbuf_output(&syslens_new_keys, &cgroup_id, sizeof(cgroup_id), 0))
		count_event(SYSLENS_CNT_NEW_KEY_EVENT_LOST);
}

static __always_inline struct syslens_stats_val *
stats_get_or_create(const struct syslens_stats_key *key)
{
	struct syslens_stats_val *v;
	int err;

	v = bpf_map_lookup_elem(&syslens_stats, key);
	if (v)
		return v;
	err = map_insert(&syslens_stats, key, &zero_stats);
	if (err && err != -EEXIST) {
		count_insert_failure(err, SYSLENS_CNT_STATS_MAP_FULL);
		return overflow_row(key);
	}
	if (!err)
		announce_new_key(key->cgroup_id);
	v = bpf_map_lookup_elem(&syslens_stats, key);
	return v ? v : overflow_row(key);
}

/*
 * This CPU's slot for key: found or claimed in one of its two ways (entries
 * way and way ^ 1 of this CPU's range, from one hash), NULL if both hold
 * other keys (the caller then uses the shared hash, with atomics). A slot is
 * held until its cgroup is removed, so a key that finds both ways taken
 * stays on the slower path: two ways make that rarer the fuller the table
 * (at a third full, about one key in nine instead of one in three). Only
 * programs on this CPU write the entry and they do not preempt each other,
 * so plain stores and adds are safe; the daemon only reads it, and frees
 * entries of removed cgroups, which no program writes any more.
 */
static __always_inline struct syslens_stats_val *cpu_slot(const struct syslens_stats_key *key,
							  __u32 cpu, __u32 *slot_idx)
{
	/* nr and abi as the one 64-bit word they are in the key (little
	 * endian, as every target is), so the hit test is two compares. The
	 * hash is one multiply: nr goes above a cgroup id's inode-number bits,
	 * and the product's high bits, which pick the entry, mix every bit
	 * below them. */
	__u64 cg = key->cgroup_id, nr_abi = (__u64)key->nr | (__u64)key->abi << 32;
	__u32 h = (__u32)(((cg ^ nr_abi << 21) * 0x9E3779B97F4A7C15ULL) >> 40);
	__u32 base = cpu * cpu_slots, way = h & (cpu_slots - 1);
	__u32 idx = base + way, other;
	struct syslens_cpu_slot *s = bpf_map_lookup_elem(&syslens_cpu_slots, &idx), *t;

	if (!s)
		return 0;
	if (s->key.cgroup_id == cg && *(const __u64 *)&s->key.nr == nr_abi) {
		*slot_idx = idx;
		return &s->val;
	}
	if (cpu_slots > 1) {
		other = base + (way ^ 1);
		t = bpf_map_lookup_elem(&syslens_cpu_slots, &other);
		if (!t)
			return 0;
		if (t->key.cgroup_id == cg && *(const __u64 *)&t->key.nr == nr_abi) {
			*slot_idx = other;
			return &t->val;
		}
		if (s->key.cgroup_id && !t->key.cgroup_id) {
			s = t;
			idx = other;
		}
	}
	if (s->key.cgroup_id) {
		count_event(SYSLENS_CNT_CPU_SLOT_TAKEN);
		return 0;
	}
	s->key.nr = key->nr;
	s->key.abi = key->abi;
	barrier(); /* a reader that sees the cgroup id sees nr and abi */
	s->key.cgroup_id = key->cgroup_id;
	announce_new_key(key->cgroup_id);
	*slot_idx = idx;
	return &s->val;
}

/* Adds 1 to (cgroup, syscall, errno) in an errno-keyed map: the failures
 * by errno, or the seccomp denials. */
static __always_inline void count_by_errno(void *map, const struct syslens_enter_rec *rec, long ret,
					   __u32 full_event)
{
	struct syslens_errno_key key = {
		.cgroup_id = rec->cgroup_id,
		.nr = rec->nr,
		.abi = (__u16)rec->abi,
		.err = (__u16)(-ret),
	};
	static const __u64 one = 1;
	__u64 *v;
	int err;

	v = bpf_map_lookup_elem(map, &key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	err = map_insert(map, &key, &one);
	if (!err)
		return;
	if (err == -EEXIST) {
		v = bpf_map_lookup_elem(map, &key);
		if (v) {
			__sync_fetch_and_add(v, 1);
			return;
		}
	}
	count_insert_failure(err, full_event);
}

static __always_inline void count_errno(const struct syslens_enter_rec *rec, long ret)
{
	count_by_errno(&syslens_errors, rec, ret, SYSLENS_CNT_ERRNO_MAP_FULL);
}

static __always_inline struct syslens_enter_rec *rec_for_enter(struct task_struct *task,
							       bool task_storage)
{
	if (task_storage) {
		return bpf_task_storage_get(&syslens_task_rec, task, 0,
					    BPF_LOCAL_STORAGE_GET_F_CREATE);
	} else {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		struct syslens_enter_rec *rec = bpf_map_lookup_elem(&syslens_tid_rec, &tid);

		if (rec)
			return rec;
		if (map_insert(&syslens_tid_rec, &tid, &zero_rec))
			return 0;
		return bpf_map_lookup_elem(&syslens_tid_rec, &tid);
	}
}

static __always_inline struct syslens_enter_rec *rec_for_exit(bool task_storage)
{
	if (task_storage) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();

		return bpf_task_storage_get(&syslens_task_rec, task, 0, 0);
	} else {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();

		return bpf_map_lookup_elem(&syslens_tid_rec, &tid);
	}
}

static __always_inline void count_process(__u64 cgroup_id)
{
	struct syslens_proc_count *c, fresh = {.calls = 1, .cgroup_id = cgroup_id};
	__u32 tgid;
	int err;

	if (!bpf_map_lookup_elem(&syslens_proc_cgroups, &cgroup_id))
		return;
	tgid = bpf_get_current_pid_tgid() >> 32;
	c = bpf_map_lookup_elem(&syslens_proc_counts, &tgid);
	if (c) {
		__sync_fetch_and_add(&c->calls, 1);
		return;
	}
	bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	err = map_insert(&syslens_proc_counts, &tgid, &fresh);
	if (err == -EEXIST) {
		c = bpf_map_lookup_elem(&syslens_proc_counts, &tgid);
		if (c)
			__sync_fetch_and_add(&c->calls, 1);
	} else if (err) {
		count_insert_failure(err, SYSLENS_CNT_PROC_MAP_FULL);
	}
}

/* The enter record of a call about to run; ts_ns last (it marks it pending). */
static __always_inline void start_rec(struct syslens_enter_rec *rec,
				      const struct syslens_stats_key *key, bool timed, __u32 slot)
{
	rec->cgroup_id = key->cgroup_id;
	rec->nr = key->nr;
	rec->abi = (__u16)key->abi;
	rec->flags = 0;
	rec->slot = slot;
	rec->ts_ns = timed ? bpf_ktime_get_ns() : SYSLENS_TS_UNTIMED;
}

/*
 * Whether the call entering now is timed. Per CPU, a countdown over gaps
 * drawn uniformly from [1, 2N - 1] (mean N, for 1 in N): an untimed call
 * costs a decrement. Drawn, not fixed: a fixed gap would pick the same call
 * of a loop that makes a multiple of N calls per turn every time. A traced
 * workload's calls are all timed (the live trace shows each call's latency).
 */
static __always_inline bool sample_call(struct syslens_cpu_rec *cr, __u64 cgroup_id)
{
	__u64 below = sample_below, every;
	__u32 n, x;

	if (below > 0xFFFFFFFFULL)
		return true;
	if (trace_active && bpf_map_lookup_elem(&syslens_trace_cgroups, &cgroup_id))
		return true;
	if (!below || !cr)
		return false;
	n = cr->countdown;
	if (n > 1) {
		cr->countdown = n - 1;
		return false;
	}
	/* This call is the one (n == 1), or no gap was drawn yet: draw. */
	x = cr->rng;
	if (!x)
		x = bpf_get_prandom_u32() | 1;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	cr->rng = x;
	every = (1ULL << 32) / below; /* N, as the daemon set it */
	cr->countdown = 1 + (__u32)(((__u64)x * (2 * every - 1)) >> 32);
	return n == 1;
}

#ifdef SYSLENS_RDONLY_CAST
/*
 * Linux 6.2+: a scalar as a read-only, untrusted BTF pointer (loads through
 * it are checked ones). Not a call: the verifier rewrites it into a register
 * move. Only in the syslens_bpf_cast object (bpf/CMakeLists.txt says why),
 * which the daemon loads only on kernels that have it.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#endif

static __always_inline struct task_struct *current_task(bool task_storage)
{
	/* Task storage implies 5.11+, so the BTF task pointer exists too. */
	if (task_storage)
		return (struct task_struct *)bpf_get_current_task_btf();
	return (struct task_struct *)bpf_get_current_task();
}

/* Whether task (the current one) has a seccomp filter. */
static __always_inline bool task_filtered(struct task_struct *task, bool task_storage)
{
	if (task_storage)
		return task->seccomp.mode == SYSLENS_SECCOMP_MODE_FILTER;
	return BPF_CORE_READ(task, seccomp.mode) == SYSLENS_SECCOMP_MODE_FILTER;
}

/* The current call's key: its cgroup, number and ABI. */
static __always_inline void current_key(struct syslens_stats_key *key, struct task_struct *task,
					long id, bool task_storage)
{
	if (cgroup_v1_subsys >= 0)
		key->cgroup_id = syslens_task_cgroup_v1_id(task, (__u32)cgroup_v1_subsys);
	else if (task_storage)
		/* What bpf_get_current_cgroup_id() returns, as four plain loads
		 * through the BTF task pointer (we run under RCU): about 25 ns
		 * cheaper than the helper call. */
		key->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	else
		key->cgroup_id = bpf_get_current_cgroup_id();
	key->nr = (__u32)id;
	key->abi = syslens_task_in_compat_syscall(task, task_storage) ? SYSLENS_ABI_COMPAT
								      : SYSLENS_ABI_NATIVE;
}

/* One call entered (or refused before it could be) under key, on cpu.
 * Returns 1 + the index of the CPU slot it was counted in, 0 for none. */
static __always_inline __u32 count_call(const struct syslens_stats_key *key, __u32 cpu)
{
	__u32 idx = 0;
	struct syslens_stats_val *v = cpu_slots ? cpu_slot(key, cpu, &idx) : 0;

	if (v) {
		v->calls += 1;
		return idx + 1;
	}
	v = stats_get_or_create(key);
	if (v)
		__sync_fetch_and_add(&v->calls, 1);
	return 0;
}

/*
 * Where the user registers a syscall's tracepoints are given sit, as an
 * offset from the current task's kernel stack (task_pt_regs()): the same for
 * every task of a kernel. Learnt by the enter program whenever it asks a
 * helper; 0: not yet.
 */
volatile __u64 regs_offset;

#ifdef SYSLENS_RDONLY_CAST
/*
 * task (a task_struct pointer) as a read-only BTF pointer if it is the task
 * making the syscall whose user registers are at regs: the one whose kernel
 * stack plus off (regs_offset, learnt) is regs. Else 0.
 */
static __always_inline struct task_struct *task_of_regs(__u64 task, __u64 off, __u64 regs)
{
	struct task_struct *t =
		bpf_rdonly_cast((void *)task, bpf_core_type_id_kernel(struct task_struct));

	return (__u64)t->stack + off == regs ? t : 0;
}
#endif

/*
 * The task the sched_switch program saw switched in on this CPU last, if it
 * is current: the one whose kernel stack the syscall's registers are on.
 * Every stock kernel switches through that tracepoint, so it always is, but
 * one kernel seen here switches some tasks in and out without it; then (or
 * before this CPU's first switch since attach) 0, and the caller asks.
 */
static __always_inline struct task_struct *switched_in_task(struct syslens_cpu_rec *cr, __u64 regs)
{
	__u64 off = regs_offset;
	struct task_struct *t = 0;

	if (!cr || !cr->current || !off)
		return 0;
#ifdef SYSLENS_RDONLY_CAST
	t = task_of_regs(cr->current, off, regs);
	if (!t)
		count_event(SYSLENS_CNT_SWITCH_UNTRACED);
#endif
	return t;
}

/*
 * This kernel stack's entry of syslens_stack_tasks (regs: the user registers
 * at its top). Stacks are at least 16 KiB apart: the bits above are the
 * stack's, mixed by one multiply. The verifier allows no shift of a pointer,
 * but one pointer less another is a number (given CAP_PERFMON): regs less
 * the table's address, the same for every stack.
 */
static __always_inline __u64 *stack_task_entry(__u64 regs)
{
	__u64 at = regs - (__u64)(void *)&syslens_stack_tasks;
	__u32 i = (__u32)(((at >> 14) * 0x9E3779B97F4A7C15ULL) >> (64 - SYSLENS_STACK_TASKS_BITS));

	return bpf_map_lookup_elem(&syslens_stack_tasks, &i);
}

/* The task whose kernel stack regs are on, if entry names it; else 0. */
static __always_inline struct task_struct *stack_task(const __u64 *entry, __u64 regs)
{
	__u64 off = regs_offset;

	if (!entry || !*entry || !off)
		return 0;
#ifdef SYSLENS_RDONLY_CAST
	return task_of_regs(*entry, off, regs);
#else
	return 0;
#endif
}

/* Where handle_enter finds the current task (bpf.current_task). */
enum task_from {
	TASK_FROM_HELPER,
	TASK_FROM_SWITCH, /* tpbtf_enter_cur */
	TASK_FROM_STACK,  /* tpbtf_enter_stack */
};

/*
 * lazy (tp_btf with task storage, the default): an enter leaves a record only
 * when the exit needs one, for a timed call or on a thread with a seccomp
 * filter (only its exits without an enter are denials); the exit counts any
 * other failure from its own syscall number and the current cgroup. The
 * sched_switch program moves a pending record out of the CPU's slot and back
 * in with its task, so the exit only ever looks at the slot.
 */
static __always_inline int handle_enter(long id, bool task_storage, bool lazy, __u64 regs,
					enum task_from from)
{
	struct syslens_stats_key key;
	struct syslens_enter_rec *rec;
	struct syslens_cpu_rec *cr = 0;
	struct task_struct *task = 0;
	__u64 *entry = 0;
	__u32 cpu = bpf_get_smp_processor_id(), slot;
	bool timed;

	if (id < 0) {
		count_event(SYSLENS_CNT_IGNORED_NR);
		return 0;
	}
	/*
	 * TASK_FROM_SWITCH and TASK_FROM_STACK (regs: the call's user
	 * registers) save the helper call (about 20 ns where returns are
	 * mitigated; the x86 JIT of 6.18 does not inline it) where they can:
	 * the task the sched_switch program saw switched in on this CPU last,
	 * or the one syslens_stack_tasks has for this kernel stack.
	 */
	if (from == TASK_FROM_SWITCH) {
		cr = bpf_map_lookup_elem(&syslens_cpu_recs, &cpu);
		task = switched_in_task(cr, regs);
	} else if (from == TASK_FROM_STACK) {
		entry = stack_task_entry(regs);
		task = stack_task(entry, regs);
		if (!task)
			count_event(SYSLENS_CNT_STACK_TASK_MISS);
	}
	if (!task) {
		task = current_task(task_storage);
		if (from != TASK_FROM_HELPER) {
			__u64 off = regs - (__u64)task->stack;

			if (regs_offset != off)
				regs_offset = off;
			if (entry)
				*entry = (__u64)task;
		}
	}
	current_key(&key, task, id, task_storage);

	slot = count_call(&key, cpu);
	if (procs_active)
		count_process(key.cgroup_id);

	if (!track_latency)
		return 0;
	if (from != TASK_FROM_SWITCH)
		cr = bpf_map_lookup_elem(&syslens_cpu_recs, &cpu);
	timed = sample_call(cr, key.cgroup_id);
	if (task_storage && cr) {
		if (cr->rec.ts_ns && cr->task == (__u64)task)
			count_event(SYSLENS_CNT_ENTER_OVERWRITTEN);
		if (lazy && !timed && !task_filtered(task, task_storage)) {
			cr->rec.ts_ns = 0; /* a stale record must not meet this exit */
			return 0;
		}
		cr->task = (__u64)task;
		start_rec(&cr->rec, &key, timed, slot);
		return 0;
	}
	rec = rec_for_enter(task, task_storage);
	if (!rec) {
		count_event(SYSLENS_CNT_ENTER_STORE_FAILED);
		return 0;
	}
	if (rec->ts_ns)
		count_event(SYSLENS_CNT_ENTER_OVERWRITTEN);
	start_rec(rec, &key, timed, 0);
	return 0;
}

static __always_inline void trace_event(const struct syslens_enter_rec *rec, long ret, __u64 now,
					__u64 delta, bool denied)
{
	struct syslens_trace_event *e;
	__u64 pid_tgid;

	if (!bpf_map_lookup_elem(&syslens_trace_cgroups, &rec->cgroup_id))
		return;
	if (trace_filter.nr_plus_one && trace_filter.nr_plus_one != rec->nr + 1)
		return;
	if (trace_filter.failed_only && !(ret < 0 && ret >= -SYSLENS_MAX_ERRNO))
		return;
	if (trace_filter.denied_only && !denied)
		return;
	if (delta < trace_filter.min_latency_ns)
		return;
	e = bpf_ringbuf_reserve(&syslens_trace_events, sizeof(*e), 0);
	if (!e) {
		count_event(SYSLENS_CNT_TRACE_EVENT_LOST);
		return;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	e->ts_ns = now ? now : bpf_ktime_get_ns();
	e->latency_ns = delta;
	e->cgroup_id = rec->cgroup_id;
	e->ret = ret;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->nr = rec->nr;
	e->abi = rec->abi;
	e->flags = denied ? SYSLENS_TRACE_DENIED : 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

/*
 * This CPU's record if it has a call pending: then it is the current task's.
 * Any other task that entered a call here was switched out since, and the
 * sched_switch program moved its pending record to its task storage, so the
 * exit need not ask for the current task (a helper call on every exit).
 * Where the enter checks the task it takes from context switches (6.2+), the
 * exit checks the record's task the same way: on a kernel that switches
 * tasks without the tracepoint the record can be another task's, left here
 * when it was switched out; then it is not this call's (regs: its registers).
 */
static __always_inline struct syslens_enter_rec *cpu_rec_of_current(__u32 cpu, __u64 regs)
{
	struct syslens_cpu_rec *cr = bpf_map_lookup_elem(&syslens_cpu_recs, &cpu);

	if (!cr || !cr->rec.ts_ns)
		return 0;
#ifdef SYSLENS_RDONLY_CAST
	__u64 off = regs_offset;

	if (off && cr->task && !task_of_regs(cr->task, off, regs)) {
		count_event(SYSLENS_CNT_SWITCH_UNTRACED);
		return 0;
	}
#endif
	return &cr->rec;
}

/*
 * A call that returned -errno with no enter record, keyed by the exit's own
 * syscall number and the current cgroup. denied: it never entered, refused by
 * a seccomp filter (seccomp runs before sys_enter, the errno is the filter's):
 * then also counted as a call, as strace counts it, and as a denial. Else an
 * untimed call of a thread without a filter (lazy): its call was counted at
 * enter.
 */
static __always_inline void count_unrecorded_failure(const struct pt_regs *regs, long ret,
						     struct task_struct *task, bool task_storage,
						     bool denied)
{
	struct syslens_stats_key key;
	struct syslens_enter_rec rec = {};
	__u32 cpu = bpf_get_smp_processor_id();
	long nr = SYSLENS_REGS_NR(regs);

	if (nr < 0) {
		if (denied)
			count_event(SYSLENS_CNT_IGNORED_NR);
		return;
	}
	current_key(&key, task, nr, task_storage);
	if (denied)
		count_call(&key, cpu);
	rec.cgroup_id = key.cgroup_id;
	rec.nr = key.nr;
	rec.abi = (__u16)key.abi;
	count_errno(&rec, ret);
	if (denied)
		count_by_errno(&syslens_denied, &rec, ret, SYSLENS_CNT_DENIED_MAP_FULL);
	if (trace_active)
		trace_event(&rec, ret, 0, 0, denied);
}

/* Adds a timed call's latency to its key: through the CPU slot its enter
 * was counted in when the enter ran on this CPU, else as the enter found it. */
static __always_inline void add_latency(const struct syslens_enter_rec *rec, __u64 delta, __u32 cpu)
{
	struct syslens_stats_key key = {
		.cgroup_id = rec->cgroup_id,
		.nr = rec->nr,
		.abi = rec->abi,
	};
	struct syslens_stats_val *v = 0;
	__u32 idx = rec->slot - 1, unused;

	if (rec->slot) {
		struct syslens_cpu_slot *s = bpf_map_lookup_elem(&syslens_cpu_slots, &idx);

		/* The daemon may have freed it (a removed cgroup): check. */
		if (s && s->key.cgroup_id == key.cgroup_id)
			v = &s->val;
	}
	if (!v && cpu_slots)
		v = cpu_slot(&key, cpu, &unused);
	if (v) {
		v->returns += 1;
		v->sum_ns += delta;
		v->hist[hist_slot(delta)] += 1;
	} else if ((v = stats_get_or_create(&key))) {
		__sync_fetch_and_add(&v->returns, 1);
		__sync_fetch_and_add(&v->sum_ns, delta);
		__sync_fetch_and_add(&v->hist[hist_slot(delta)], 1);
	}
}

static __always_inline int handle_exit(const struct pt_regs *regs, long ret, bool task_storage,
				       bool lazy)
{
	struct syslens_enter_rec *rec = 0;
	__u64 ts, now = 0, delta = 0;
	__u32 cpu = bpf_get_smp_processor_id();
	bool failed = ret < 0 && ret >= -SYSLENS_MAX_ERRNO;

	if (task_storage)
		rec = cpu_rec_of_current(cpu, (__u64)regs);
	if (!rec && !lazy)
		rec = rec_for_exit(task_storage);
	if (rec && (rec->flags & SYSLENS_REC_IN_FLIGHT)) {
		/* The call it was asleep in when we attached (lazy: brought
		 * into the slot, pending, by sched_switch). */
		rec->ts_ns = 0;
		rec->flags = 0;
		count_event(SYSLENS_CNT_EXIT_WITHOUT_ENTER);
		return 0;
	}
	if (!rec || !rec->ts_ns) {
		/* No record: lazy, an untimed call of a thread without a
		 * filter. Else nothing entered on this thread since its last
		 * exit: a new thread's first return (0), or a call seccomp
		 * refused. */
		if (failed) {
			struct task_struct *task = current_task(task_storage);
			bool denied = task_filtered(task, task_storage);

			if (denied || lazy)
				count_unrecorded_failure(regs, ret, task, task_storage, denied);
			if (denied)
				return 0;
		}
		if (!lazy)
			count_event(SYSLENS_CNT_EXIT_WITHOUT_ENTER);
		return 0;
	}
	ts = rec->ts_ns;
	rec->ts_ns = 0;
	if (ts != SYSLENS_TS_UNTIMED) {
		now = bpf_ktime_get_ns();
		delta = now - ts;
		/* Not necessarily where the enter went: it may have run on
		 * another CPU. The daemon sums a key over all places. */
		add_latency(rec, delta, cpu);
	}
	if (failed)
		count_errno(rec, ret);
	if (trace_active)
		trace_event(rec, ret, now, delta, false);
	return 0;
}

/*
 * task (current, being switched out) has a call pending in this CPU's
 * record: move it to the task's storage before another task's enter takes
 * the record. Runs on every context switch; does work only on those in the
 * middle of a syscall (blocking ones), which cost microseconds anyway.
 */
static __always_inline int handle_switch(struct task_struct *task, struct task_struct *next)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct syslens_cpu_rec *cr = bpf_map_lookup_elem(&syslens_cpu_recs, &cpu);
	struct syslens_enter_rec *rec;

	if (!cr)
		return 0;
	if (next)
		cr->current = (__u64)next;
	if (cr->rec.ts_ns && cr->task == (__u64)task) {
		rec = bpf_task_storage_get(&syslens_task_rec, task, 0,
					   BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (rec) {
			if (rec->ts_ns)
				count_event(SYSLENS_CNT_ENTER_OVERWRITTEN);
			*rec = cr->rec;
			rec->slot = 0; /* another CPU's slot, once the task runs elsewhere */
		} else {
			count_event(SYSLENS_CNT_ENTER_STORE_FAILED);
		}
		cr->rec.ts_ns = 0;
	}
	/* lazy (next known): the task switched in brings its pending record,
	 * or the mark of the call it was asleep in at attach, into the slot. */
	if (!next)
		return 0;
	rec = bpf_task_storage_get(&syslens_task_rec, next, 0, 0);
	if (!rec || !(rec->ts_ns || (rec->flags & SYSLENS_REC_IN_FLIGHT)))
		return 0;
	cr->task = (__u64)next;
	cr->rec = *rec;
	if (!cr->rec.ts_ns)
		cr->rec.ts_ns = SYSLENS_TS_UNTIMED;
	rec->ts_ns = 0;
	rec->flags = 0;
	return 0;
}

static __always_inline int handle_thread_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&syslens_tid_rec, &tid);
	return 0;
}

/* tp_btf: typed arguments, no tracefs; needs kernel BTF. */
SEC("tp_btf/sys_enter")
int BPF_PROG(tpbtf_enter_task, struct pt_regs *regs, long id)
{
	return handle_enter(id, true, true, 0, TASK_FROM_HELPER);
}

/* The default on 6.2+: tpbtf_enter_task with the current task from the
 * sched_switch program (tpbtf_switch_task must be attached first). Loaded
 * from the syslens_bpf_cast object only: in the other, it asks the helper. */
SEC("tp_btf/sys_enter")
int BPF_PROG(tpbtf_enter_cur, struct pt_regs *regs, long id)
{
	return handle_enter(id, true, true, (__u64)regs, TASK_FROM_SWITCH);
}

/* Count-only's default on 6.2+: tpbtf_enter_task with the current task from
 * syslens_stack_tasks, checked against the registers; no context-switch
 * program. Loaded from the syslens_bpf_cast object only. */
SEC("tp_btf/sys_enter")
int BPF_PROG(tpbtf_enter_stack, struct pt_regs *regs, long id)
{
	return handle_enter(id, true, true, (__u64)regs, TASK_FROM_STACK);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tpbtf_exit_task, struct pt_regs *regs, long ret)
{
	return handle_exit(regs, ret, true, true);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tpbtf_enter_tid, struct pt_regs *regs, long id)
{
	return handle_enter(id, false, false, 0, TASK_FROM_HELPER);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tpbtf_exit_tid, struct pt_regs *regs, long ret)
{
	return handle_exit(regs, ret, false, false);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tpbtf_switch_task, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	/* prev is current, passed as a trusted pointer: no helper call
	 * (about 20 ns a context switch where returns are mitigated). */
	return handle_switch(prev, next);
}

/* Count-only on 6.2+: all tpbtf_enter_cur needs of a context switch, the task
 * switched in (no records to move: count-only has no exit program). */
SEC("tp_btf/sched_switch")
int BPF_PROG(tpbtf_switch_cur, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct syslens_cpu_rec *cr = bpf_map_lookup_elem(&syslens_cpu_recs, &cpu);

	if (cr)
		cr->current = (__u64)next;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tpbtf_thread_exit)
{
	return handle_thread_exit();
}

/* raw_tp: the fallback when the tp_btf probe fails. */
SEC("raw_tp/sys_enter")
int rawtp_enter_task(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_enter((long)ctx->args[1], true, false, 0, TASK_FROM_HELPER);
}

SEC("raw_tp/sys_exit")
int rawtp_exit_task(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_exit((const struct pt_regs *)ctx->args[0], (long)ctx->args[1], true, false);
}

SEC("raw_tp/sys_enter")
int rawtp_enter_tid(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_enter((long)ctx->args[1], false, false, 0, TASK_FROM_HELPER);
}

SEC("raw_tp/sys_exit")
int rawtp_exit_tid(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_exit((const struct pt_regs *)ctx->args[0], (long)ctx->args[1], false, false);
}

SEC("raw_tp/sched_switch")
int rawtp_switch_task(struct bpf_raw_tracepoint_args *ctx)
{
	/* raw_tp's arguments are not BTF pointers: ask for current. */
	return handle_switch((struct task_struct *)bpf_get_current_task_btf(), 0);
}

SEC("raw_tp/sched_process_exit")
int rawtp_thread_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_thread_exit();
}

/*
 * Run once by the daemon right after it attaches the exit program (and again
 * when latency tracking comes back): marks every user thread asleep with no
 * call entered since, which can only be asleep in a call entered before we
 * attached, or not in a call at all. Its next exit without an enter record is
 * then that call returning, not a seccomp denial (see syslens.h).
 */
static __always_inline void mark_in_flight(struct task_struct *task, bool task_storage)
{
	struct syslens_enter_rec *rec;

	if (!task || (task->flags & SYSLENS_PF_KTHREAD) || syslens_task_state(task) == 0)
		return;
	if (task_storage) {
		rec = bpf_task_storage_get(&syslens_task_rec, task, 0,
					   BPF_LOCAL_STORAGE_GET_F_CREATE);
	} else {
		__u32 tid = (__u32)task->pid;

		rec = bpf_map_lookup_elem(&syslens_tid_rec, &tid);
		if (!rec && !map_insert(&syslens_tid_rec, &tid, &zero_rec))
			rec = bpf_map_lookup_elem(&syslens_tid_rec, &tid);
	}
	if (rec && !rec->ts_ns)
		rec->flags |= SYSLENS_REC_IN_FLIGHT;
}

SEC("iter/task")
int iter_mark_task(struct bpf_iter__task *ctx)
{
	mark_in_flight(ctx->task, true);
	return 0;
}

SEC("iter/task")
int iter_mark_tid(struct bpf_iter__task *ctx)
{
	mark_in_flight(ctx->task, false);
	return 0;
}
