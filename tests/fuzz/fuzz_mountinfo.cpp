// /proc/self/mountinfo and /proc/cgroups (a container runtime or an unusual
// host decides what is mounted where): any text is parsed or skipped.
#include <cstdint>
#include <string_view>

#include "syslens/kernel/mountinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto mounts = syslens::parse_mountinfo(text);
  syslens::find_cgroup2_mount(mounts);
  for (const char* c : {"memory", "pids", "cpu"}) {
    syslens::find_cgroup1_mount(mounts, c);
    syslens::cgroup_subsys_id(text, c);
  }
  return 0;
}
