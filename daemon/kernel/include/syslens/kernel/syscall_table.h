// Syscall number -> name, from tables generated at build time from the uapi
// headers (cmake/GenSyscallTable.cmake), one per ABI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace syslens {

struct SyscallEntry {
  long nr;
  const char* name;
};

enum class Arch { x86_64, arm64 };

// The ABIs a syscall number can belong to. x32 is x86_64's native entry with
// bit 30 (__X32_SYSCALL_BIT) set in the number; compat is ia32 on x86_64 and
// aarch32 on arm64.
enum class Abi { x86_64, x32, i386, arm64, aarch32 };

std::string_view abi_name(Abi abi);

// The architecture this binary was built for.
Arch host_arch();

// Which ABI a (number, compat flag) pair recorded by the BPF side means on arch.
Abi classify(Arch arch, std::uint32_t nr, bool compat);

// The generated table of an ABI; empty when the build host had no headers for
// it (aarch32, or x86 tables on an arm64 build host).
std::span<const SyscallEntry> syscall_table(Abi abi);

// Name of a syscall, or nullopt when the table does not know the number.
std::optional<std::string_view> syscall_name(Abi abi, long nr);

// Number of a syscall by name in an ABI, or nullopt.
std::optional<long> syscall_number(Abi abi, std::string_view name);

// The value of the `syscall` label: the bare name for the native ABI
// ("openat"), "<abi>:<name>" for the others ("i386:open", "x32:read"), and
// "syscall_<nr>" (with the same prefix rule) when the number is unknown.
std::string syscall_label(Arch arch, std::uint32_t nr, bool compat);

}  // namespace syslens
