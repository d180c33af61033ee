// Seccomp from what workloads did: reference profiles (a runtime's
// default) and the profiles syslens writes. Pure: unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "syslens/kernel/syscall_table.h"
#include "syslens/seccomp/policy.h"
#include "syslens/workloads/store.h"

namespace syslens {

// A profile to compare workloads with (a runtime's default): a syscall is
// allowed if the profile allows it on this architecture without a
// capability, with argument conditions taken as allowing (policy.h).
struct ReferenceProfile {
  std::string name;
  SeccompPolicy policy;
  bool allows(const std::string& syscall) const { return policy.decide(syscall).allows(); }
};
ReferenceProfile parse_reference_profile(std::string_view text, std::string name, Arch arch);

// Native-ABI syscall names seen that the reference would deny, sorted.
std::vector<std::string> denied_by(const ReferenceProfile& ref, const WorkloadRecord& w);
std::size_t denied_count(const ReferenceProfile& ref, const WorkloadSyscalls& w);

// The syscalls a runtime (runc, crun) may make after installing the filter
// and before the workload's own code runs: always allowed, documented in
// docs/seccomp.md.
const std::vector<std::string>& runtime_start_syscalls(Arch arch);

// Syscalls that libc and runtimes probe and fall back from when the kernel
// answers ENOSYS (clone3 -> clone in glibc's pthread_create, faccessat2 ->
// faccessat, close_range -> a close loop, ...), named on `arch`. A profile
// must refuse these with ENOSYS, not EPERM: EPERM is taken for a real
// refusal and the fallback never runs (moby#42680). Documented in
// docs/seccomp.md.
std::vector<std::string> enosys_fallback_syscalls(Arch arch);

enum class SeccompFormat { docker, oci };
// Allows exactly the syscalls seen (plus the runtime start set unless
// include_runtime is false); the fallback syscalls not seen fail with
// ENOSYS, everything else with EPERM.
nlohmann::json seccomp_json(const WorkloadRecord& w, Arch arch, SeccompFormat format, bool include_runtime);

// The same profile as the security-profiles-operator's SeccompProfile
// resource (security-profiles-operator.x-k8s.io/v1beta1), as YAML. name:
// metadata.name (empty: from the workload: its container, pod or unit,
// made a DNS-1123 name); namespace: metadata.namespace (empty: the pod's, if
// any).
std::string seccomp_spo_yaml(const WorkloadRecord& w, Arch arch, bool include_runtime, const std::string& name,
                             const std::string& name_space);

// A DNS-1123 subdomain (what Kubernetes object names must be) made of s:
// lower case, [a-z0-9.-], alphanumeric at both ends, at most 253 bytes.
std::string dns1123_name(std::string_view s);

}  // namespace syslens
