// The live cost of syslens per syscall, the latency sampler that keeps it
// low, and the overhead budget that turns latency tracking off when that
// cost is too high.
//
// The cost comes from the kernel's BPF run-time statistics, enabled only in
// short sampled windows (leaving them on costs tens of ns per program run):
// the run time of every syslens program in a window divided by the runs of
// the enter program, i.e. by the syscalls made. It is the time inside our
// programs; what the kernel charges for the hooks themselves (the floor
// measured by `make bench`) comes on top.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "syslens/kernel/program_stats.h"

namespace syslens {

// The BPF sampler's threshold for one call in `every` timed: a call is timed
// when its CPU's next uniform 32-bit number is below it (2^32 for 1: every
// call; 0 for 0: none).
std::uint64_t latency_sample_threshold(std::uint32_t every);

// Nanoseconds per syscall between two readings of the programs' statistics;
// nothing if no syscall was counted in between.
std::optional<double> cost_per_syscall_ns(const std::vector<ProgramStats>& before,
                                          const std::vector<ProgramStats>& after);

class OverheadGovernor {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Action { none, degrade, restore };

  // budget_ns 0: no budget, only measuring.
  OverheadGovernor(double budget_ns, std::chrono::milliseconds recheck) : budget_ns_(budget_ns), recheck_(recheck) {}

  // After each measured window. Over budget: latency tracking goes off.
  // After `recheck` it comes back on, so the next window measures the full
  // cost again (and turns it off again if still over).
  Action on_window(std::optional<double> cost_ns, Clock::time_point now);

  std::optional<double> last_cost_ns() const { return last_; }
  double budget_ns() const { return budget_ns_; }
  bool degraded() const { return degraded_; }
  std::uint64_t degradations() const { return degradations_; }

 private:
  double budget_ns_;
  std::chrono::milliseconds recheck_;
  std::optional<double> last_;
  bool degraded_ = false;
  Clock::time_point since_{};
  std::uint64_t degradations_ = 0;
};

}  // namespace syslens
