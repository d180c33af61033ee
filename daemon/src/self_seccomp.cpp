#include "self_seccomp.h"

#include <seccomp.h>

#include <cerrno>
#include <cstring>
#include <memory>

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
      "accept", "access", "arch_prctl", "bind", "bpf", "brk", "capget", "capset", "clone3", "close", "dup", "dup2",
      "dup3", "epoll_create1", "epoll_ctl", "epoll_wait", "eventfd2", "execve", "exit", "exit_group", "faccessat2",
      "fcntl", "futex", "getdents64", "getrandom", "getsockname", "ioctl", "listen", "lseek", "madvise", "mkdir",
      "mmap", "mprotect", "munmap", "newfstatat", "open_by_handle_at", "openat", "pipe2", "prctl", "pread64",
      "prlimit64", "read", "readlink", "recvmsg", "rseq", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sendmsg",
      "seccomp", "set_robust_list", "set_tid_address", "setsockopt", "shutdown", "socket", "statfs", "timerfd_create",
      "timerfd_settime", "uname", "write",
      // runtime clients (HTTP over unix sockets, gRPC), errors, signals, shutdown
      "accept4", "clock_gettime", "clock_nanosleep", "clone", "connect", "epoll_pwait", "fstat", "fsync", "getcwd",
      "getegid", "geteuid", "getgid", "getpeername", "getpid", "getppid", "getsockopt", "gettid", "gettimeofday",
      "getuid", "kill", "lstat", "mremap", "nanosleep", "poll", "ppoll", "pwrite64", "readlinkat", "readv",
      "recvfrom", "restart_syscall", "sched_getaffinity", "sched_yield", "sendto", "sigaltstack", "socketpair",
      "stat", "statx", "tgkill", "timerfd_gettime", "unlink", "writev", "pipe", "select", "pselect6", "sysinfo",
      "membarrier", "getrusage", "times", "fadvise64", "ftruncate", "rename", "umask",
  };
  return allowed;
}

std::string apply_self_seccomp() {
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)), seccomp_release);
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
