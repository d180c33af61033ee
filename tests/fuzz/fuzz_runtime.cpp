// Container runtime API answers (Docker Engine /containers/json): a daemon
// we talk to may be broken or hostile. Parsing either yields containers or
// throws; it never crashes.
#include <cstdint>
#include <exception>
#include <string_view>

#include "syslens/workloads/runtime_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& [id, meta] : syslens::parse_docker_containers(json)) {
      if (id.empty()) __builtin_trap();
      (void)meta;
    }
  } catch (const std::exception&) {
  }
  return 0;
}
