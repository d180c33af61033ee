// syslensd's seccomp filter on itself: once everything privileged is done,
// only the syscalls it makes are allowed; any other fails with EPERM, and is
// counted and logged (once per syscall) so a missing entry is never silent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace syslens {

// The allowed syscalls: syslensd's own profile, generated with syslens (see
// self_seccomp.cpp); tests/e2e checks that what syslensd makes is a subset.
const std::vector<std::string>& self_seccomp_allowed();

// Applies the filter to every thread of the process (needs no_new_privs,
// which drop_capabilities sets). Returns an error message, empty on success.
std::string apply_self_seccomp();

// Calls the filter refused so far (syslens_self_seccomp_refusals_total).
std::uint64_t self_seccomp_refusals();

}  // namespace syslens
