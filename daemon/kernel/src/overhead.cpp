#include "syslens/kernel/overhead.h"

#include <map>

namespace syslens {

std::uint64_t latency_sample_threshold(std::uint32_t every) {
  return every == 0 ? 0 : (std::uint64_t{1} << 32) / every;
}

std::optional<double> cost_per_syscall_ns(const std::vector<ProgramStats>& before,
                                          const std::vector<ProgramStats>& after) {
  std::map<std::string, const ProgramStats*> b;
  for (const auto& p : before) b[p.name] = &p;
  std::uint64_t time_ns = 0, syscalls = 0;
  for (const auto& p : after) {
    auto it = b.find(p.name);
    // A program attached during the window has no "before": all of it counts.
    const std::uint64_t runs0 = it == b.end() ? 0 : it->second->run_count;
    const std::uint64_t time0 = it == b.end() ? 0 : it->second->run_time_ns;
    if (p.run_count < runs0 || p.run_time_ns < time0) continue;  // re-attached: no usable delta
    time_ns += p.run_time_ns - time0;
    if (p.name.find("enter") != std::string::npos) syscalls += p.run_count - runs0;
  }
  if (syscalls == 0) return std::nullopt;
  return static_cast<double>(time_ns) / static_cast<double>(syscalls);
}

OverheadGovernor::Action OverheadGovernor::on_window(std::optional<double> cost_ns, Clock::time_point now) {
  if (cost_ns) last_ = cost_ns;
  if (budget_ns_ <= 0) return Action::none;
  if (degraded_) {
    if (now - since_ < recheck_) return Action::none;
    degraded_ = false;
    return Action::restore;
  }
  if (cost_ns && *cost_ns > budget_ns_) {
    degraded_ = true;
    since_ = now;
    ++degradations_;
    return Action::degrade;
  }
  return Action::none;
}

}  // namespace syslens
