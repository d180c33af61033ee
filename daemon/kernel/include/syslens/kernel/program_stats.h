// The kernel's run-time statistics of one BPF program (BPF_ENABLE_STATS).
#pragma once

#include <cstdint>
#include <string>

namespace syslens {

struct ProgramStats {
  std::string name;
  std::uint64_t run_count = 0;
  std::uint64_t run_time_ns = 0;
};

}  // namespace syslens
