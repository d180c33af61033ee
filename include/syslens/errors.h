// The one fatal error type. Thrown where startup cannot go on; caught in
// main(), which prints its one-line message and exits with its code.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace syslens {

// Exit codes of syslensd, documented in docs/operations.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,   // a bug or an unexpected runtime failure
  kExitUsage = 2,      // bad command-line flag or value
  kExitConfig = 3,     // bad configuration file
  kExitPrivilege = 4,  // missing capabilities to load BPF programs
  kExitKernel = 5,     // kernel lacks what syslens needs (BTF, cgroup2, BPF)
  kExitListen = 6,     // cannot listen on --web.listen-address
};

// A message fit for one log line: control characters escaped (they may come
// from the input being rejected, e.g. a YAML scalar with a newline) and at
// most max bytes.
inline std::string one_line(std::string_view s, std::size_t max = 512) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

class FatalError : public std::runtime_error {
 public:
  FatalError(int exit_code, const std::string& message)
      : std::runtime_error(one_line(message)), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

}  // namespace syslens
