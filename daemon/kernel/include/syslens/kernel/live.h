// What the live API (traces, processes windows) asks of the kernel edge:
// windows opened on a set of cgroups and closed again. Implemented by the
// BPF side (SyscallProbes); declared here so that the API is built and
// unit-tested without BPF.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "syslens.h"  // the kernel/user boundary (bpf/syslens.h)
#include "syslens/config.h"

namespace syslens {

class LiveWindows {
 public:
  virtual ~LiveWindows() = default;
  virtual Mode mode() const = 0;
  // One per-CPU counter of enum syslens_counter, summed.
  virtual std::uint64_t counter(unsigned index) const = 0;
  // Live traces (full mode only): events of these cgroups that pass the
  // filter, on a ring buffer; each event names its cgroup, so one kernel
  // feed serves several traces (the filter is then the loosest of theirs).
  // An empty set turns the feed off.
  virtual void set_trace(const std::vector<std::uint64_t>& cgroup_ids, const syslens_trace_filter& filter) = 0;
  // An epoll fd readable when trace events wait; -1 when there is none.
  virtual int trace_fd() const = 0;
  virtual void consume_trace(const std::function<void(const syslens_trace_event&)>& fn) = 0;
  // Processes windows: calls per process of these cgroups, counted from
  // the first set_processes on; a window diffs two reads. An empty set
  // stops counting and clears the counts.
  struct ProcessCount {
    std::uint32_t pid;
    std::uint64_t cgroup_id;  // where the process made its first counted call
    std::uint64_t calls;
    std::string comm;
  };
  virtual void set_processes(const std::vector<std::uint64_t>& cgroup_ids) = 0;
  virtual std::vector<ProcessCount> read_processes() const = 0;
};

}  // namespace syslens
