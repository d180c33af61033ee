// The one fatal error type. Thrown where startup cannot go on; caught in
// main(), which prints its one-line message and exits with its code.
#pragma once

#include <stdexcept>
#include <string>

namespace syslens {

// Exit codes of syslensd, documented in docs/operations.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,    // a bug or an unexpected runtime failure
  kExitUsage = 2,       // bad command-line flag or value
  kExitConfig = 3,      // bad configuration file
  kExitPrivilege = 4,   // missing capabilities to load BPF programs
  kExitKernel = 5,      // kernel lacks what syslens needs (BTF, cgroup2, BPF)
  kExitListen = 6,      // cannot listen on --web.listen-address
};

class FatalError : public std::runtime_error {
 public:
  FatalError(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

}  // namespace syslens
