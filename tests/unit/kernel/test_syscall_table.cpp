#include <gtest/gtest.h>

#include "syslens/kernel/errno_name.h"
#include "syslens/kernel/syscall_table.h"

using namespace syslens;

TEST(SyscallTable, X86_64NumbersFromUapiHeaders) {
  EXPECT_EQ(syscall_name(Abi::x86_64, 0), "read");
  EXPECT_EQ(syscall_name(Abi::x86_64, 110), "getppid");
  EXPECT_EQ(syscall_name(Abi::x86_64, 257), "openat");
  EXPECT_EQ(syscall_name(Abi::x86_64, 35), "nanosleep");
  EXPECT_EQ(syscall_name(Abi::x86_64, 231), "exit_group");
  EXPECT_EQ(syscall_number(Abi::x86_64, "getppid"), 110);
  EXPECT_GT(syscall_table(Abi::x86_64).size(), 330U);
}

TEST(SyscallTable, I386IsItsOwnTable) {
  EXPECT_EQ(syscall_name(Abi::i386, 5), "open");
  EXPECT_EQ(syscall_name(Abi::i386, 64), "getppid");
  EXPECT_EQ(syscall_name(Abi::i386, 1), "exit");
  // 64 is semget on x86_64: a compat getppid must never be named that.
  EXPECT_EQ(syscall_name(Abi::x86_64, 64), "semget");
}

TEST(SyscallTable, X32NumbersCarryTheX32Bit) {
  EXPECT_EQ(syscall_name(Abi::x32, 0x40000000L + 0), "read");
  EXPECT_EQ(syscall_name(Abi::x32, 0x40000000L + 110), "getppid");
}

TEST(SyscallTable, Arm64UsesTheGenericTable) {
  EXPECT_EQ(syscall_name(Abi::arm64, 56), "openat");
  EXPECT_EQ(syscall_name(Abi::arm64, 173), "getppid");
  EXPECT_EQ(syscall_name(Abi::arm64, 63), "read");
  EXPECT_EQ(syscall_name(Abi::arm64, 38), "renameat");
  EXPECT_EQ(syscall_name(Abi::arm64, 79), "newfstatat");
  EXPECT_EQ(syscall_name(Abi::arm64, 163), "getrlimit");
  EXPECT_EQ(syscall_name(Abi::arm64, 435), "clone3");
  EXPECT_EQ(syscall_name(Abi::arm64, 447), "memfd_secret");
  EXPECT_EQ(syscall_number(Abi::arm64, "open"), std::nullopt);  // arm64 has no open(2)
  EXPECT_EQ(syscall_number(Abi::arm64, "fork"), std::nullopt);
}

TEST(SyscallTable, RecentSyscallsNamedOnEveryAbi) {
  for (auto abi : {Abi::x86_64, Abi::i386, Abi::arm64}) {
    EXPECT_EQ(syscall_name(abi, 462), "mseal");
    EXPECT_EQ(syscall_name(abi, 451), "cachestat");
  }
  EXPECT_EQ(syscall_name(Abi::x32, 0x40000000L + 462), "mseal");
}

TEST(SyscallLabel, NativeIsBareCompatIsPrefixed) {
  EXPECT_EQ(syscall_label(Arch::x86_64, 110, false), "getppid");
  EXPECT_EQ(syscall_label(Arch::x86_64, 64, true), "i386:getppid");
  EXPECT_EQ(syscall_label(Arch::x86_64, 0x40000000U + 1, false), "x32:write");
  EXPECT_EQ(syscall_label(Arch::arm64, 173, false), "getppid");
  EXPECT_EQ(syscall_label(Arch::arm64, 20, true), "aarch32:getpid");
}

// aarch32 names come from libseccomp's table (no uapi header for it on the
// build host): the EABI numbers, ARM's private calls, and the recent ones.
TEST(SyscallLabel, Aarch32CallsAreNamedAsLibseccompNamesThem) {
  EXPECT_EQ(syscall_label(Arch::arm64, 4, true), "aarch32:write");
  EXPECT_EQ(syscall_label(Arch::arm64, 39, true), "aarch32:mkdir");  // arm64 itself has only mkdirat
  EXPECT_EQ(syscall_label(Arch::arm64, 64, true), "aarch32:getppid");
  EXPECT_EQ(syscall_label(Arch::arm64, 248, true), "aarch32:exit_group");
  EXPECT_EQ(syscall_label(Arch::arm64, 0xf0005, true), "aarch32:set_tls");
  EXPECT_EQ(syscall_label(Arch::arm64, 0xf0002, true), "aarch32:cacheflush");
  EXPECT_EQ(syscall_label(Arch::arm64, 462, true), "aarch32:mseal");
  EXPECT_EQ(syscall_label(Arch::arm64, 999, true), "aarch32:syscall_999");
  EXPECT_EQ(syscall_label(Arch::arm64, 0xf00ff, true), "aarch32:syscall_983295");
  EXPECT_GT(syscall_table(Abi::aarch32).size(), 350U);
}

TEST(SyscallLabel, UnknownNumbersAreNamedByNumber) {
  EXPECT_EQ(syscall_label(Arch::x86_64, 999, false), "syscall_999");
  EXPECT_EQ(syscall_label(Arch::x86_64, 999, true), "i386:syscall_999");
  EXPECT_EQ(syscall_label(Arch::x86_64, 0x40000000U + 999, false), "x32:syscall_999");
}

TEST(ErrnoName, SymbolicNames) {
  EXPECT_EQ(errno_name(2), "ENOENT");
  EXPECT_EQ(errno_name(1), "EPERM");
  EXPECT_EQ(errno_name(11), "EAGAIN");
  EXPECT_EQ(errno_name(512), "ERESTARTSYS");
  EXPECT_EQ(errno_name(524), "ENOTSUPP");
  EXPECT_EQ(errno_name(4000), "E4000");
}
