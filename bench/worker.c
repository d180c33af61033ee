// syslens-bench-worker CGROUP_DIR: moves itself into CGROUP_DIR, makes 40
// distinct harmless syscalls once, then waits in pause() until killed. The
// scale bench runs a thousand of these, one per cgroup.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: syslens-bench-worker CGROUP_DIR\n");
    return 2;
  }
  char path[4096], pid[32];
  snprintf(path, sizeof(path), "%s/cgroup.procs", argv[1]);
  int fd = open(path, O_WRONLY);
  int n = snprintf(pid, sizeof(pid), "%d", getpid());
  if (fd < 0 || write(fd, pid, (size_t)n) != n) {
    perror(path);
    return 1;
  }
  close(fd);
  /* 40 distinct syscalls, through syscall() so libc caches nothing; each
   exists on x86_64 and arm64. */
  static const long nrs[] = {
      SYS_getpid,
      SYS_getppid,
      SYS_getuid,
      SYS_geteuid,
      SYS_getgid,
      SYS_getegid,
      SYS_gettid,
      SYS_sched_getattr,
      SYS_getsid,
      SYS_getpgid,
      SYS_umask,
      SYS_sched_yield,
      SYS_uname,
      SYS_getcwd,
      SYS_getrlimit,
      SYS_getrusage,
      SYS_sysinfo,
      SYS_times,
      SYS_sched_rr_get_interval,
      SYS_gettimeofday,
      SYS_clock_gettime,
      SYS_clock_getres,
      SYS_getpriority,
      SYS_sched_getscheduler,
      SYS_sched_getparam,
      SYS_sched_getaffinity,
      SYS_sched_get_priority_max,
      SYS_sched_get_priority_min,
      SYS_getgroups,
      SYS_getresuid,
      SYS_getresgid,
      SYS_capget,
      SYS_sigaltstack,
      SYS_rt_sigprocmask,
      SYS_getitimer,
      SYS_fstat,
      SYS_ioprio_get,
      SYS_getcpu,
      SYS_prctl,
      SYS_personality,
  };
  _Static_assert(sizeof(nrs) / sizeof(nrs[0]) == 40, "40 syscalls");
  static char buf[4096];
  for (unsigned i = 0; i < sizeof(nrs) / sizeof(nrs[0]); ++i) {
    switch (nrs[i]) {
      case SYS_umask:
        syscall(SYS_umask, 022);
        break;
      case SYS_personality:
        syscall(SYS_personality, 0xffffffffUL);
        break;
      case SYS_prctl:
        syscall(SYS_prctl, 16 /* PR_GET_NAME */, buf);
        break;
      case SYS_ioprio_get:
        syscall(SYS_ioprio_get, 1, 0);
        break;
      default:
        syscall(nrs[i], 0, buf, sizeof(buf) / 8, 0);
        break;
    }
  }
  pause();
  return 0;
}
