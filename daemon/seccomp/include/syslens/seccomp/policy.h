// A seccomp profile as a runtime applies it on one architecture: what it does
// to a call of each syscall. Reads the formats profiles come in: Docker's and
// containers-common's JSON, an OCI runtime's linux.seccomp object, and the
// security-profiles-operator's SeccompProfile resource (YAML). Pure, with no
// dependency on the daemon: the CLI evaluates local profile files with it.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace syslens {

struct SeccompDecision {
  std::string action;  // SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, ...
  int errno_ret = 0;   // for SCMP_ACT_ERRNO and SCMP_ACT_TRACE
  // Only rules with argument conditions name the syscall: what happens
  // depends on the arguments (action is the first such rule's).
  bool conditional = false;
  // The call would fail or end the process: anything but allowing or logging,
  // unless it depends on the arguments.
  bool refuses() const { return !conditional && action != "SCMP_ACT_ALLOW" && action != "SCMP_ACT_LOG"; }
  bool allows() const { return action == "SCMP_ACT_ALLOW" || action == "SCMP_ACT_LOG"; }
};

class SeccompPolicy {
 public:
  std::string name;
  SeccompDecision decide(const std::string& syscall) const;
  const SeccompDecision& default_decision() const { return default_; }
  // The syscalls its rules name (for this architecture), with their decisions.
  const std::map<std::string, SeccompDecision>& rules() const { return rules_; }

 private:
  friend SeccompPolicy parse_seccomp_policy(std::string_view, std::string, bool);
  SeccompDecision default_;
  std::map<std::string, SeccompDecision> rules_;
};

// x86_64: the host is x86_64 (else arm64). A rule applies if its arches
// include the host's, and if it needs no capability: a container has none
// of the ones profiles gate on by default. Throws std::runtime_error with a
// one-line reason on input that is not a profile.
SeccompPolicy parse_seccomp_policy(std::string_view text, std::string name, bool x86_64);

// An errno number's symbolic name for the common seccomp answers (EPERM,
// ENOSYS, ...), else the number.
std::string seccomp_errno_name(int err);

// A syscall a workload made, as the profile API reports it.
struct UsedSyscall {
  std::string name;  // native ABI; "i386:..." and other ABIs are not checked
  std::uint64_t calls = 0;
  std::string last_seen;  // ISO 8601
};

// Check before enforce: what a workload did that a profile would refuse,
// and what depends on the arguments. JSON: {"profile", "would_refuse":
// [{"syscall","calls","last_seen","action","errno"}], "depends_on_arguments":
// [...], "allowed": N}.
nlohmann::json check_profile(const SeccompPolicy& p, const std::vector<UsedSyscall>& used);

}  // namespace syslens
