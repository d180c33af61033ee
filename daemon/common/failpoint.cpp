#include "syslens/failpoint.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <string>

namespace syslens {

void failpoint(std::string_view name) {
  static const std::string armed = [] {
    const char* v = std::getenv("SYSLENS_FAILPOINT");
    return std::string(v ? v : "");
  }();
  if (armed.empty() || armed != name) return;
  spdlog::warn("failpoint {} reached: stopping", name);
  spdlog::default_logger()->flush();
  std::raise(SIGSTOP);
}

}  // namespace syslens
