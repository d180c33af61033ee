// The run-time controls: the latency switch, the live trace and processes
// windows (LiveWindows, for the API), and the BPF run-time statistics.
#pragma once

#include <memory>
#include <vector>

#include "syslens/kernel/live.h"
#include "syslens/kernel/loader.h"
#include "syslens/kernel/program_stats.h"

namespace syslens {

class Controls final : public LiveWindows {
 public:
  explicit Controls(Loader& loader);
  Controls(const Controls&) = delete;
  Controls& operator=(const Controls&) = delete;

  Mode mode() const override { return mode_; }
  std::uint64_t counter(unsigned index) const override;
  void set_trace(const std::vector<std::uint64_t>& cgroup_ids, const syslens_trace_filter& filter) override;
  int trace_fd() const override;
  void consume_trace(const std::function<void(const syslens_trace_event&)>& fn) override;
  void set_processes(const std::vector<std::uint64_t>& cgroup_ids) override;
  std::vector<ProcessCount> read_processes() const override;

  // Full mode: switches latency tracking off (no call is timed) and back on
  // (one in bpf.latency_sample_every) at run time; calls, failures and
  // seccomp denials are counted exactly either way.
  void set_latency(bool on);
  bool latency_on() const;
  // Each loaded program's kernel run-time statistics.
  std::vector<ProgramStats> program_stats() const;

 private:
  struct RingDeleter {
    void operator()(struct ring_buffer* r) const;
  };
  Loader& loader_;
  struct ::syslens_bpf* skel_;
  Mode mode_;
  int ncpus_;
  std::unique_ptr<struct ring_buffer, RingDeleter> trace_;
  std::function<void(const syslens_trace_event&)> on_trace_;
  std::vector<std::uint64_t> traced_;
  std::vector<std::uint64_t> counted_;
};

// Enables the kernel's BPF run-time statistics (BPF_ENABLE_STATS) while the
// object lives. They cost about 70 ns per program run, so syslensd holds one
// only for short sampled windows unless configured otherwise.
class RunStatsGuard {
 public:
  RunStatsGuard();
  ~RunStatsGuard();
  RunStatsGuard(const RunStatsGuard&) = delete;
  RunStatsGuard& operator=(const RunStatsGuard&) = delete;
  bool active() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace syslens
