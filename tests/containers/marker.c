/*
 * marker: the workload inside the test containers. Makes exactly N
 * ioprio_get calls, a syscall nothing in container setup makes (runc init
 * itself calls getppid, so that one would not do), so the count in the
 * container's cgroup is exact; then waits up to S seconds, leaving on
 * SIGTERM. Static, so it runs in a busybox rootfs.
 *
 * usage: marker N S [probe | enoent:M | mkdir:M | fork | thread]
 * With "probe" it then calls sysinfo (a syscall the plain run never makes)
 * and, after its wait, exits with its errno: 0 if allowed, 1 (EPERM) if a
 * seccomp profile denied it. With "enoent:M" it also makes M openat calls that fail with
 * ENOENT, for exact errno counts. With "mkdir:M", M mkdir calls (mkdirat
 * where there is no mkdir), under a directory that does not exist: ENOENT,
 * or the errno of a seccomp profile that refuses them. With "fork", one
 * fork() (glibc: the clone syscall) and a wait. With "thread", one
 * pthread_create and join, and the exit code is pthread_create's error:
 * glibc tries clone3 and falls back to clone only on ENOSYS.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void* nothing(void* arg) { return arg; }

static void leave(int sig) {
  (void)sig;
  _exit(0);
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  long s = argc > 2 ? atol(argv[2]) : 0;
  struct sigaction sa = {.sa_handler = leave};

  /* PID 1 of a container ignores SIGTERM unless it has a handler. */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  for (long i = 0; i < n; i++) syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
  if (argc > 3 && strncmp(argv[3], "enoent:", 7) == 0) {
    for (long i = atol(argv[3] + 7); i > 0; i--) syscall(SYS_openat, AT_FDCWD, "/nonexistent-syslens-marker", O_RDONLY);
  }
  if (argc > 3 && strncmp(argv[3], "mkdir:", 6) == 0) {
    for (long i = atol(argv[3] + 6); i > 0; i--) {
#ifdef SYS_mkdir
      syscall(SYS_mkdir, "/nonexistent-syslens-marker/dir", 0755);
#else
      syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent-syslens-marker/dir", 0755);
#endif
    }
  }
  if (argc > 3 && strcmp(argv[3], "fork") == 0) {
    pid_t child = fork();

    if (child == 0) _exit(0);
    if (child > 0) waitpid(child, NULL, 0);
  }
  if (argc > 3 && strcmp(argv[3], "thread") == 0) {
    pthread_t t;
    int err = pthread_create(&t, NULL, nothing, NULL);

    if (err) return err;
    pthread_join(t, NULL);
  }
  int status = 0;
  if (argc > 3 && strcmp(argv[3], "probe") == 0) {
    struct sysinfo info;

    status = syscall(SYS_sysinfo, &info) == 0 ? 0 : errno;
  }
  for (long i = 0; i < s * 10; i++) {
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  return status;
}
