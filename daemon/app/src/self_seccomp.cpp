#include "self_seccomp.h"

#include <seccomp.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include "syslens/kernel/syscall_table.h"

namespace syslens {

const std::vector<std::string>& self_seccomp_allowed() {
  // syslensd's profile as syslens saw it: a syslensd serving every endpoint
  // (metrics, API, a live trace, a processes window), observed by another
  // syslensd and exported with /api/v1/workloads/<its cgroup>/seccomp
  // (docs/security.md says how to regenerate). Then what the runtime
  // clients need that this run did not exercise: the Docker API over HTTP
  // on a unix socket, the CRI over gRPC (its own threads and polling), and
  // the paths taken on errors, timeouts, signals and shutdown.
  static const std::vector<std::string> allowed = {
      // observed
      "accept",
      "access",
      "arch_prctl",
      "bind",
      "bpf",
      "brk",
      "capget",
      "capset",
      "clone3",
      "close",
      "dup",
      "dup2",
      "dup3",
      "epoll_create1",
      "epoll_ctl",
      "epoll_wait",
      "eventfd2",
      "execve",
      "exit",
      "exit_group",
      "faccessat2",
      "fcntl",
      "futex",
      "getdents64",
      "getrandom",
      "getsockname",
      "ioctl",
      "listen",
      "lseek",
      "madvise",
      "mkdir",
      "mmap",
      "mprotect",
      "munmap",
      "newfstatat",
      "open_by_handle_at",
      "openat",
      "pipe2",
      "prctl",
      "pread64",
      "prlimit64",
      "read",
      "readlink",
      "recvmsg",
      "rseq",
      "rt_sigaction",
      "rt_sigprocmask",
      "rt_sigreturn",
      "sendmsg",
      "seccomp",
      "set_robust_list",
      "set_tid_address",
      "setsockopt",
      "shutdown",
      "socket",
      "statfs",
      "timerfd_create",
      "timerfd_settime",
      "uname",
      "write",
      // runtime clients (HTTP over unix sockets, gRPC), errors, signals, shutdown
      "accept4",
      "clock_gettime",
      "clock_nanosleep",
      "clone",
      "connect",
      "epoll_pwait",
      "fstat",
      "fsync",
      "getcwd",
      "getegid",
      "geteuid",
      "getgid",
      "getpeername",
      "getpid",
      "getppid",
      "getsockopt",
      "gettid",
      "gettimeofday",
      "getuid",
      "kill",
      "lstat",
      "mremap",
      "nanosleep",
      "poll",
      "ppoll",
      "pwrite64",
      "readlinkat",
      "readv",
      "recvfrom",
      "restart_syscall",
      "sched_getaffinity",
      "sched_yield",
      "sendto",
      "sigaltstack",
      "socketpair",
      "stat",
      "statx",
      "tgkill",
      "timerfd_gettime",
      "unlink",
      "writev",
      "pipe",
      "select",
      "pselect6",
      "sysinfo",
      "membarrier",
      "getrusage",
      "times",
      "fadvise64",
      "ftruncate",
      "rename",
      "umask",
      // abseil's mutex (under gRPC) reads the thread's scheduling policy on
      // the shutdown path (pthread_getschedparam)
      "sched_getparam",
      "sched_getscheduler",
      // arm64 has no unlink, mkdir, access or rename: glibc makes these
      // calls there for the same library functions (found by the arm64 VM
      // tier: unlink of the API socket at shutdown); the others above that
      // arm64 lacks (stat, pipe, poll, select, dup2, epoll_wait, readlink)
      // have theirs in the list already
      "unlinkat",
      "mkdirat",
      "faccessat",
      "renameat",
      "renameat2",
  };
  return allowed;
}

namespace {

std::atomic<std::uint64_t> g_refusals{0};
// One log line per refused syscall number, not one per call.
std::array<std::atomic<bool>, 1024> g_logged{};
Abi g_native = Abi::x86_64;

void append(char*& p, const char* end, std::string_view s) {
  for (char c : s) {
    if (p == end) return;
    *p++ = c;
  }
}

// SIGSYS from the filter's SCMP_ACT_TRAP: the call fails with EPERM, as an
// ERRNO action would make it, but not silently: it is counted
// (syslens_self_seccomp_refusals_total) and logged once per syscall. Only
// async-signal-safe work here: a table lookup, an atomic add, one write(2).
void on_sigsys(int, siginfo_t* info, void* context) {
  const int nr = info->si_syscall;
  g_refusals.fetch_add(1, std::memory_order_relaxed);
  const bool first = nr < 0 || static_cast<std::size_t>(nr) >= g_logged.size() ||
                     !g_logged[static_cast<std::size_t>(nr)].exchange(true, std::memory_order_relaxed);
  if (first) {
    char line[160];
    char* p = line;
    const char* end = line + sizeof line;
    append(p, end, "syslensd: its own seccomp filter refused syscall ");
    const auto name = syscall_name(g_native, nr);
    char digits[12];
    char* d = digits + sizeof digits;
    unsigned v = static_cast<unsigned>(nr < 0 ? 0 : nr);
    do {
      *--d = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    append(p, end, name ? *name : std::string_view("?"));
    append(p, end, " (");
    append(p, end, std::string_view(d, static_cast<std::size_t>(digits + sizeof digits - d)));
    append(p, end, ") with EPERM: a path the allow list in daemon/app/src/self_seccomp.cpp lacks\n");
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line, static_cast<std::size_t>(p - line));
  }
  auto* uc = static_cast<ucontext_t*>(context);
#if defined(__x86_64__)
  uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
  uc->uc_mcontext.regs[0] = static_cast<unsigned long long>(-EPERM);
#else
#error "set the syscall return register for this architecture"
#endif
}

}  // namespace

std::uint64_t self_seccomp_refusals() { return g_refusals.load(std::memory_order_relaxed); }

std::string apply_self_seccomp() {
  g_native = host_arch() == Arch::arm64 ? Abi::arm64 : Abi::x86_64;
  (void)syscall_name(g_native, 0);  // builds the name index now, not in the handler
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) return std::string("SIGSYS handler: ") + std::strerror(errno);
  // Refusals trap into on_sigsys (counted, logged, EPERM) instead of failing
  // silently.
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_TRAP), seccomp_release);
  if (!ctx) return "seccomp_init failed";
  // Threads already running (the metadata worker) get the filter too.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc < 0) {
    return std::string("thread sync: ") + std::strerror(-rc);
  }
  for (const auto& name : self_seccomp_allowed()) {
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture (e.g. stat on arm64)
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0); rc < 0) {
      return "allow " + name + ": " + std::strerror(-rc);
    }
  }
  if (int rc = seccomp_load(ctx.get()); rc < 0) return std::string("load: ") + std::strerror(-rc);
  return {};
}

}  // namespace syslens
