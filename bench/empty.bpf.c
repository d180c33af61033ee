// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor: empty programs on the hooks syslens uses. What any raw_syscalls
 * tracer pays before doing any work. */
#include "syslens_core.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(empty_enter, struct pt_regs* regs, long id) { return 0; }

SEC("tp_btf/sys_exit")
int BPF_PROG(empty_exit, struct pt_regs* regs, long ret) { return 0; }

/* The floor plus one clock read on each hook: what any latency tracer pays
 * for its two timestamps, the part of full mode no design can avoid. */
__u64 clock_sink;

SEC("tp_btf/sys_enter")
int BPF_PROG(clock_enter, struct pt_regs* regs, long id) {
  clock_sink = bpf_ktime_get_ns();
  return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(clock_exit, struct pt_regs* regs, long ret) {
  clock_sink = bpf_ktime_get_ns();
  return 0;
}

/* The floor plus one helper call: what a program pays for asking the kernel
 * for the current task (syslens's enter does, once). For the "where the time
 * goes" table. */
__u64 task_sink;

SEC("tp_btf/sys_enter")
int BPF_PROG(helper_enter, struct pt_regs* regs, long id) {
  task_sink = (__u64)bpf_get_current_task_btf();
  return 0;
}
