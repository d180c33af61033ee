#pragma once

#include <string>

namespace syslens {

// Symbolic name of a positive errno value as returned by a syscall: "ENOENT".
// Covers the userspace errnos and the kernel-internal ones that can reach
// sys_exit (ERESTARTSYS, ENOTSUPP, ...). Unknown values give "E<n>".
std::string errno_name(int err);

}  // namespace syslens
