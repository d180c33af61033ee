// syslensd's seccomp filter on itself: once everything privileged is done,
// only the syscalls it makes are allowed, the rest fail with EPERM.
#pragma once

#include <string>
#include <vector>

namespace syslens {

// The allowed syscalls: syslensd's own profile, generated with syslens (see
// self_seccomp.cpp); tests/e2e checks that what syslensd makes is a subset.
const std::vector<std::string>& self_seccomp_allowed();

// Applies the filter to every thread of the process (needs no_new_privs,
// which drop_capabilities sets). Returns an error message, empty on success.
std::string apply_self_seccomp();

}  // namespace syslens
