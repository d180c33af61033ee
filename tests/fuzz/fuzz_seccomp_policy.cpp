// Seccomp profile files (the check API's profiles directory, the CLI's
// --profile, the reference profile): any input is read or rejected with a
// std::runtime_error, nothing else; what is read can be decided and checked.
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "syslens/seccomp/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto p = syslens::parse_seccomp_policy(text, "fuzz", true);
    const auto r = syslens::check_profile(p, {{"read", 1, "t"}, {"clone3", 2, "t"}, {"mkdir", 3, "t"}});
    if (r["allowed"].get<std::size_t>() + r["would_refuse"].size() + r["depends_on_arguments"].size() != 3) {
      __builtin_trap();
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
