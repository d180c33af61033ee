/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel types for syslens's BPF programs, hand-written for CO-RE.
 *
 * We do not use a generated vmlinux.h: the programs touch a few kernel fields
 * (the task's thread_info, cgroups, seccomp mode and state, a syscall's
 * number in pt_regs), a full vmlinux.h is megabytes per
 * architecture, and one generated from the build host's kernel would tie the
 * build to that host. Every struct below carries preserve_access_index, so
 * libbpf relocates each field access against the running kernel's BTF at load
 * time: the object is built once and runs on any kernel with BTF (5.8+).
 * Kernel drift is handled here and nowhere else (bcc's core_fixes.bpf.h idea).
 */
#ifndef SYSLENS_CORE_BPF_H
#define SYSLENS_CORE_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#define SYSLENS_MAX_ERRNO 4095
#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif

struct thread_info {
	unsigned long flags;
	__u32 status; /* x86 only */
} __attribute__((preserve_access_index));

/* cgroup v1: task->cgroups->subsys[ssid]->cgroup->kn->id (u64 since 5.5). */
struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct cgroup_subsys_state {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup_subsys_state *subsys[1]; /* CGROUP_SUBSYS_COUNT entries */
	struct cgroup *dfl_cgrp;	       /* the task's cgroup v2 */
} __attribute__((preserve_access_index));

struct seccomp {
	int mode; /* SECCOMP_MODE_FILTER: one or more filters installed */
} __attribute__((preserve_access_index));

struct task_struct {
	struct thread_info thread_info;
	void *stack; /* its kernel stack: the user registers are near its top */
	struct css_set *cgroups;
	struct seccomp seccomp;
	unsigned int __state; /* 5.14+; "state" before */
	unsigned int flags;
	int pid; /* the thread id */
} __attribute__((preserve_access_index));

struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

#define SYSLENS_SECCOMP_MODE_FILTER 2 /* include/uapi/linux/seccomp.h */
#define SYSLENS_PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/* Runnable (0) or asleep (anything else), under either field name. */
static __always_inline long syslens_task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

/* The task iterator's context (kernel/bpf/task_iter.c). */
struct bpf_iter_meta {
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

/*
 * The id of the current task's cgroup in the v1 hierarchy of subsystem
 * ssid: the inode number of its directory there, as bpf_get_current_cgroup_id()
 * is for v2. 0 if it cannot be read.
 */
static __always_inline __u64 syslens_task_cgroup_v1_id(struct task_struct *task, __u32 ssid)
{
	struct css_set *cs = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = 0;

	if (!cs)
		return 0;
	bpf_core_read(&css, sizeof(css), &cs->subsys[ssid]);
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

/*
 * Whether the current syscall was made through the compat ABI. The kernel's
 * own answer is in_ia32_syscall() / is_compat_task(); we read the same bits.
 *
 * Two forms: from a BTF task pointer (bpf_get_current_task_btf(), 5.11+) the
 * read is a plain load; without one it is a bpf_probe_read_kernel, which
 * costs about 50 ns more per syscall.
 */
/*
 * The syscall number of the call returning, from the sys_exit tracepoint's
 * registers: what syscall_get_nr() reads (orig_ax on x86_64, syscallno on
 * arm64). Only read for calls with no enter record, so a probe read's cost
 * does not matter.
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long orig_ax;
} __attribute__((preserve_access_index));
#define SYSLENS_REGS_NR(regs) ((long)BPF_CORE_READ((regs), orig_ax))
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	int syscallno;
} __attribute__((preserve_access_index));
#define SYSLENS_REGS_NR(regs) ((long)BPF_CORE_READ((regs), syscallno))
#endif

#if defined(__TARGET_ARCH_x86)
#define SYSLENS_TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */
static __always_inline int syslens_task_in_compat_syscall(struct task_struct *task, bool btf_ptr)
{
	if (!bpf_core_field_exists(task->thread_info.status))
		return 0;
	if (btf_ptr)
		return (task->thread_info.status & SYSLENS_TS_COMPAT) != 0;
	return (BPF_CORE_READ(task, thread_info.status) & SYSLENS_TS_COMPAT) != 0;
}
#elif defined(__TARGET_ARCH_arm64)
#define SYSLENS_TIF_32BIT 22 /* arch/arm64/include/asm/thread_info.h */
static __always_inline int syslens_task_in_compat_syscall(struct task_struct *task, bool btf_ptr)
{
	if (btf_ptr)
		return (task->thread_info.flags >> SYSLENS_TIF_32BIT) & 1;
	return (BPF_CORE_READ(task, thread_info.flags) >> SYSLENS_TIF_32BIT) & 1;
}
#else
#error "syslens supports x86_64 and arm64 (define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64)"
#endif

#endif /* SYSLENS_CORE_BPF_H */
