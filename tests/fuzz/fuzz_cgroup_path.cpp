// cgroup paths (from the kernel, named by whoever created the cgroup):
// identify_cgroup must classify any byte string without crashing, and what
// it returns must come from the path.
#include <cstdint>
#include <string_view>

#include "syslens/workloads/workload.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view path(reinterpret_cast<const char*>(data), size);
  const auto id = syslens::identify_cgroup(path);
  if (!id.container_id.empty() && path.find(id.container_id) == std::string_view::npos) __builtin_trap();
  if (!id.pod_uid.empty() && id.pod_uid.size() > path.size()) __builtin_trap();
  return 0;
}
