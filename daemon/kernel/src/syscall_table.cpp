#include "syslens/kernel/syscall_table.h"

#include <algorithm>
#include <array>
#include <vector>

namespace syslens {
namespace generated {
// Defined in the generated syscalls_*.cpp files.
extern const SyscallEntry x86_64_table[];
extern const std::size_t x86_64_table_size;
extern const SyscallEntry i386_table[];
extern const std::size_t i386_table_size;
extern const SyscallEntry x32_table[];
extern const std::size_t x32_table_size;
extern const SyscallEntry arm64_table[];
extern const std::size_t arm64_table_size;
extern const SyscallEntry aarch32_table[];
extern const std::size_t aarch32_table_size;
}  // namespace generated

namespace {

constexpr std::uint32_t kX32SyscallBit = 0x40000000U;

// Syscalls newer than the uapi headers of the oldest build host we support
// (Debian 12 ships Linux 6.1 headers). Since Linux 5.1 new syscalls get the
// same number on every architecture, so one list serves all ABIs; the
// generated tables win where they know a number.
constexpr std::array<SyscallEntry, 19> kRecentSyscalls{{
    {451, "cachestat"},         {452, "fchmodat2"},         {453, "map_shadow_stack"}, {454, "futex_wake"},
    {455, "futex_wait"},        {456, "futex_requeue"},     {457, "statmount"},        {458, "listmount"},
    {459, "lsm_get_self_attr"}, {460, "lsm_set_self_attr"}, {461, "lsm_list_modules"}, {462, "mseal"},
    {463, "setxattrat"},        {464, "getxattrat"},        {465, "listxattrat"},      {466, "removexattrat"},
    {467, "open_tree_attr"},    {468, "file_getattr"},      {469, "file_setattr"},
}};

struct Index {
  std::vector<const char*> by_nr;        // dense by number (x32: minus the x32 bit)
  std::span<const SyscallEntry> sparse;  // numbers past the dense range (ARM's private 0xf0000+)
};

constexpr long kDenseMax = 4096;

Index build_index(std::span<const SyscallEntry> table, long bias, bool with_recent) {
  Index idx;
  idx.sparse = table;
  long max_nr = 0;
  for (const auto& e : table) {
    if (e.nr - bias < kDenseMax) max_nr = std::max(max_nr, e.nr - bias);
  }
  if (with_recent) max_nr = std::max<long>(max_nr, kRecentSyscalls.back().nr);
  idx.by_nr.assign(static_cast<std::size_t>(max_nr + 1), nullptr);
  if (with_recent) {
    for (const auto& e : kRecentSyscalls) idx.by_nr[static_cast<std::size_t>(e.nr)] = e.name;
  }
  for (const auto& e : table) {
    long n = e.nr - bias;
    if (n >= 0 && n < kDenseMax) idx.by_nr[static_cast<std::size_t>(n)] = e.name;
  }
  return idx;
}

const Index& index_for(Abi abi) {
  static const Index x86_64 = build_index(syscall_table(Abi::x86_64), 0, true);
  static const Index i386 = build_index(syscall_table(Abi::i386), 0, true);
  static const Index x32 = build_index(syscall_table(Abi::x32), kX32SyscallBit, true);
  static const Index arm64 = build_index(syscall_table(Abi::arm64), 0, true);
  static const Index aarch32 = build_index(syscall_table(Abi::aarch32), 0, true);
  static const Index none;
  switch (abi) {
    case Abi::x86_64:
      return x86_64;
    case Abi::i386:
      return i386;
    case Abi::x32:
      return x32;
    case Abi::arm64:
      return arm64;
    case Abi::aarch32:
      return aarch32;
  }
  return none;
}

}  // namespace

std::string_view abi_name(Abi abi) {
  switch (abi) {
    case Abi::x86_64:
      return "x86_64";
    case Abi::x32:
      return "x32";
    case Abi::i386:
      return "i386";
    case Abi::arm64:
      return "arm64";
    case Abi::aarch32:
      return "aarch32";
  }
  return "unknown";
}

Arch host_arch() {
#if defined(__x86_64__)
  return Arch::x86_64;
#elif defined(__aarch64__)
  return Arch::arm64;
#else
#error "syslens supports x86_64 and arm64"
#endif
}

Abi classify(Arch arch, std::uint32_t nr, bool compat) {
  if (arch == Arch::arm64) return compat ? Abi::aarch32 : Abi::arm64;
  if (compat) return Abi::i386;
  return (nr & kX32SyscallBit) ? Abi::x32 : Abi::x86_64;
}

std::span<const SyscallEntry> syscall_table(Abi abi) {
  using namespace generated;
  switch (abi) {
    case Abi::x86_64:
      return {x86_64_table, x86_64_table_size};
    case Abi::i386:
      return {i386_table, i386_table_size};
    case Abi::x32:
      return {x32_table, x32_table_size};
    case Abi::arm64:
      return {arm64_table, arm64_table_size};
    case Abi::aarch32:
      return {aarch32_table, aarch32_table_size};
  }
  return {};
}

std::optional<std::string_view> syscall_name(Abi abi, long nr) {
  if (abi == Abi::x32) nr -= kX32SyscallBit;
  const auto& idx = index_for(abi);
  if (nr >= kDenseMax) {
    for (const auto& e : idx.sparse) {
      if (e.nr == nr) return std::string_view{e.name};
    }
    return std::nullopt;
  }
  if (nr < 0 || static_cast<std::size_t>(nr) >= idx.by_nr.size() || !idx.by_nr[static_cast<std::size_t>(nr)]) {
    return std::nullopt;
  }
  return std::string_view{idx.by_nr[static_cast<std::size_t>(nr)]};
}

std::optional<long> syscall_number(Abi abi, std::string_view name) {
  const auto& idx = index_for(abi);
  for (std::size_t i = 0; i < idx.by_nr.size(); ++i) {
    if (idx.by_nr[i] && name == idx.by_nr[i]) {
      return static_cast<long>(i) + (abi == Abi::x32 ? static_cast<long>(kX32SyscallBit) : 0);
    }
  }
  return std::nullopt;
}

std::string syscall_label(Arch arch, std::uint32_t nr, bool compat) {
  const Abi abi = classify(arch, nr, compat);
  const bool native = abi == Abi::x86_64 || abi == Abi::arm64;
  std::string label;
  if (!native) {
    label.append(abi_name(abi));
    label.push_back(':');
  }
  if (auto name = syscall_name(abi, nr)) {
    label.append(*name);
  } else {
    label.append("syscall_");
    label.append(std::to_string(abi == Abi::x32 ? nr - kX32SyscallBit : nr));
  }
  return label;
}

}  // namespace syslens
