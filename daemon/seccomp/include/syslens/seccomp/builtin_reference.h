// A runtime's default seccomp profile built into syslensd: containers-common's
// (podman, CRI-O, buildah), from Debian's package at build time. The
// reference of drift on a host that has no profile file of its own.
#pragma once

#include <string_view>

namespace syslens {

extern const char* const kBuiltinReferenceName;
std::string_view builtin_reference_profile();

}  // namespace syslens
