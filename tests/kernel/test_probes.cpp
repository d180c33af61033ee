// Real-kernel tests of the BPF programs: load the real object, run exact
// workloads in fresh cgroups, read the maps and compare number for number.
#include <cmath>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <bpf/btf.h>
#include <seccomp.h>
#include <signal.h>

#include "self_seccomp.h"
#include "syslens/kernel/controls.h"
#include "syslens/kernel/loader.h"
#include "syslens/kernel/map_reader.h"
#include "syslens/collect/histogram.h"
#include "syslens/kernel/syscall_table.h"
#include "syslens_bpf.skel.h"
#include "test_support.h"

using namespace syslens;
using namespace syslens::test;

// The kernel edge as syslensd assembles it: loader, map reader, controls.
struct KernelEdge {
  explicit KernelEdge(const syslens::ProbeOptions& o) : loader(o), maps(loader), controls(loader) {}
  syslens::Loader loader;
  syslens::MapReader maps;
  syslens::Controls controls;
};

namespace {

constexpr int kGetppid = 1000;
constexpr int kOpenat = 37;
constexpr int kSleeps = 5;
constexpr long kSleepNs = 3'000'000;  // 3 ms: slot 22, (2^21, 2^22] ns
const char* const kMissing = "/nonexistent-syslens-test/file";

int exact_workload() {
  for (int i = 0; i < kGetppid; ++i) ::syscall(SYS_getppid);
  for (int i = 0; i < kOpenat; ++i) ::syscall(SYS_openat, AT_FDCWD, kMissing, O_RDONLY);
  for (int i = 0; i < kSleeps; ++i) {
    timespec ts{0, kSleepNs};
    ::syscall(SYS_nanosleep, &ts, nullptr);
  }
  return 0;
}

struct CgroupView {
  std::map<std::pair<std::uint32_t, std::uint32_t>, syslens_stats_val> stats;               // (nr, abi)
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> errors;  // (nr, abi, errno)
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> denied;  // (nr, abi, errno)
};

CgroupView view(const Snapshot& s, std::uint64_t cgroup_id) {
  CgroupView v;
  for (const auto& r : s.stats) {
    if (r.key.cgroup_id == cgroup_id) v.stats[{r.key.nr, r.key.abi}] = r.val;
  }
  for (const auto& r : s.errors) {
    if (r.key.cgroup_id == cgroup_id) v.errors[{r.key.nr, r.key.abi, r.key.err}] = r.count;
  }
  for (const auto& r : s.denied) {
    if (r.key.cgroup_id == cgroup_id) v.denied[{r.key.nr, r.key.abi, r.key.err}] = r.count;
  }
  return v;
}

// A native syscall's number on the architecture the tests run on.
std::uint32_t nr(const char* name) {
  return static_cast<std::uint32_t>(*syscall_number(classify(host_arch(), 0, false), name));
}

// Errors less those of seccomp(2) itself: libseccomp probes the kernel's
// features with calls that fail (EFAULT, EINVAL) when it loads a filter.
std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> without_seccomp_calls(
    std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> errors) {
  std::erase_if(errors, [](const auto& e) { return std::get<0>(e.first) == nr("seccomp"); });
  return errors;
}

struct Variant {
  AttachKind attach;
  ThreadStore store;
  std::uint32_t cpu_slots = ProbeOptions{}.cpu_slots;  // 0: shared hash only; 1, 2: nearly all keys collide
  // The enter program asks a helper for the current task even where the
  // kernel lets it take the task from context switches (as before 6.2).
  bool current_by_helper = false;
};

// Keeps test names readable in CTest's output.
[[maybe_unused]] void PrintTo(const Variant& v, std::ostream* os) {
  *os << to_string(v.attach) << "/" << to_string(v.store) << "/slots=" << v.cpu_slots
      << (v.current_by_helper ? "/helper" : "");
}

std::string variant_name(const ::testing::TestParamInfo<Variant>& i) {
  return std::string(to_string(i.param.attach)) + "_" + std::string(to_string(i.param.store)) + "_slots" +
         std::to_string(i.param.cpu_slots) + (i.param.current_by_helper ? "_helper" : "");
}

ProbeOptions options(Mode mode, const Variant& v) {
  ProbeOptions o;
  o.mode = mode;
  o.attach = v.attach;
  o.thread_store = v.store;
  o.cpu_slots = v.cpu_slots;
  o.latency_sample_every = 1;  // exact latency counts; the sampler has its own test
  // A bpf.kernel_btf file: libbpf resolves kfuncs against the running
  // kernel's own BTF only, so with one the loader takes the helper.
  if (v.current_by_helper) o.kernel_btf = "/sys/kernel/btf/vmlinux";
  return o;
}

class FullMode : public ::testing::TestWithParam<Variant> {};

// Runs the calling process on one CPU only (one sched_setaffinity call).
bool pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof(set), &set) == 0;
}

// A mappable BPF map's n entries of T, read and written in place by the
// test (wrong tasks written in), unmapped when it goes. No map: nothing
// mapped, data() is null; so is it if mmap failed (error() says why).
template <typename T>
class MappedMap {
 public:
  MappedMap(const bpf_map* map, std::size_t n) : bytes_(n * sizeof(T)) {
    if (map == nullptr) return;
    void* mem = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
    if (mem == MAP_FAILED) {
      error_ = errno;
      return;
    }
    data_ = static_cast<T*>(mem);
  }
  ~MappedMap() {
    if (data_ != nullptr) ::munmap(data_, bytes_);
  }
  MappedMap(const MappedMap&) = delete;
  MappedMap& operator=(const MappedMap&) = delete;
  T* data() const { return data_; }
  const char* error() const { return std::strerror(error_); }

 private:
  T* data_ = nullptr;
  std::size_t bytes_;
  int error_ = 0;
};

}  // namespace

TEST_P(FullMode, ExactCountsErrnoAndLatencyForOneCgroup) {
  SYSLENS_REQUIRE_ROOT();
  KernelEdge probes(options(Mode::full, GetParam()));
  ASSERT_EQ(probes.loader.attach_kind(), GetParam().attach);
  ASSERT_EQ(probes.loader.thread_store(), GetParam().store);
  const bool from_switch = GetParam().attach == AttachKind::tp_btf && GetParam().store == ThreadStore::task_storage &&
                           !GetParam().current_by_helper && kernel_has_rdonly_cast();
  EXPECT_EQ(probes.loader.current_task(),
            from_switch ? syslens::CurrentTask::from_switch : syslens::CurrentTask::helper);
  TestCgroup cg("exact");
  ASSERT_EQ(run_in_cgroup(cg, exact_workload), 0);
  const auto v = view(probes.maps.read(), cg.id());

  // Exactly these syscalls and nothing else entered in the cgroup.
  std::map<std::uint32_t, std::uint64_t> calls;
  for (const auto& [k, val] : v.stats) {
    EXPECT_EQ(k.second, SYSLENS_ABI_NATIVE);
    calls[k.first] = val.calls;
  }
  const std::map<std::uint32_t, std::uint64_t> want = {
      {nr("getppid"), kGetppid}, {nr("openat"), kOpenat}, {nr("nanosleep"), kSleeps}, {nr("exit_group"), 1}};
  EXPECT_EQ(calls, want);

  // Every call returned except exit_group, which never does.
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).returns, static_cast<std::uint64_t>(kGetppid));
  EXPECT_EQ(v.stats.at({nr("openat"), 0}).returns, static_cast<std::uint64_t>(kOpenat));
  EXPECT_EQ(v.stats.at({nr("exit_group"), 0}).returns, 0U);

  // Failures by errno: exactly the openat ENOENTs.
  const std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> want_err = {
      {{nr("openat"), 0, ENOENT}, kOpenat}};
  EXPECT_EQ(v.errors, want_err);

  // Latency: every nanosleep is above 2^21 ns (the lower bound is exact: the
  // kernel never wakes early), and none is longer than the measured sum less
  // the others' 3 ms each: no later slot than that one's (slot 22 on a quiet
  // host; under emulation a sleep can take many times 3 ms). The workload
  // cannot time its calls itself: without a vDSO clock (the VM tier) that is
  // a syscall too.
  const auto& sl = v.stats.at({nr("nanosleep"), 0});
  EXPECT_EQ(sl.returns, static_cast<std::uint64_t>(kSleeps));
  const std::uint64_t others = static_cast<std::uint64_t>(kSleeps - 1) * kSleepNs;
  const unsigned last = hist_slot(sl.sum_ns > others ? sl.sum_ns - others : 0, SYSLENS_HIST_SLOTS);
  std::uint64_t in_range = 0, below = 0;
  for (unsigned i = 0; i < SYSLENS_HIST_SLOTS; ++i) {
    if (i <= 21) below += sl.hist[i];
    if (i >= 22 && i <= last) in_range += sl.hist[i];
  }
  EXPECT_EQ(below, 0U);
  EXPECT_EQ(in_range, static_cast<std::uint64_t>(kSleeps));
  EXPECT_GE(sl.sum_ns, static_cast<std::uint64_t>(kSleeps * kSleepNs));
  // getppid is fast: the histogram holds all of them, summing to returns.
  const auto& gp = v.stats.at({nr("getppid"), 0});
  std::uint64_t total = 0;
  for (auto c : gp.hist) total += c;
  EXPECT_EQ(total, static_cast<std::uint64_t>(kGetppid));
}

// A call a seccomp filter refuses with an errno never reaches sys_enter but
// does reach sys_exit: counted exactly, as a call, a failure and a denial,
// in the caller's cgroup. The call the same (filtered) thread was asleep in
// when the programs were attached also returns without an enter record, and
// with an errno (EINTR): it is not a denial.
TEST_P(FullMode, SeccompDenialsAreCountedExactlyAndACallInFlightAtAttachIsNotOne) {
  SYSLENS_REQUIRE_ROOT();
  constexpr int kMkdirs = 7;
  TestCgroup cg("denied");
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    ::sigaction(SIGUSR1, &sa, nullptr);  // no SA_RESTART: the read fails with EINTR
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mkdirat), 0) != 0 || seccomp_load(ctx) != 0) {
      ::_exit(3);
    }
    char c = 1;
    if (::write(ready[1], &c, 1) != 1) ::_exit(4);
    // Asleep here, in a call entered before the programs are attached.
    if (::read(go[0], &c, 1) != -1 || errno != EINTR) ::_exit(5);
    for (int i = 0; i < kMkdirs; ++i) {
      if (::syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent-syslens-test/dir", 0755) != -1 || errno != EPERM) ::_exit(6);
    }
    ::syscall(SYS_exit_group, 0);
  }
  cg.add(child);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // asleep in its read
  KernelEdge probes(options(Mode::full, GetParam()));
  ::kill(child, SIGUSR1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
  const auto v = view(probes.maps.read(), cg.id());
  const std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> want = {
      {{nr("mkdirat"), 0, EPERM}, kMkdirs}};
  EXPECT_EQ(v.denied, want) << "only the refused mkdirs, not the read that was in flight";
  ASSERT_TRUE(v.stats.count({nr("mkdirat"), 0}));
  EXPECT_EQ(v.stats.at({nr("mkdirat"), 0}).calls, static_cast<std::uint64_t>(kMkdirs));
  EXPECT_EQ(v.stats.at({nr("mkdirat"), 0}).returns, 0U);  // never entered: no latency
  EXPECT_EQ(v.errors.count({nr("mkdirat"), 0, EPERM}) ? v.errors.at({nr("mkdirat"), 0, EPERM}) : 0U,
            static_cast<std::uint64_t>(kMkdirs));
  EXPECT_FALSE(v.stats.count({nr("read"), 0})) << "the read entered before the attach";
  EXPECT_FALSE(v.errors.count({nr("read"), 0, EINTR}));
  EXPECT_EQ(v.stats.at({nr("exit_group"), 0}).calls, 1U);
}

// One key, two CPUs: each CPU's slot holds part of it and the daemon's sum
// is exact. Enter and exit of a call may even land on different CPUs.
TEST_P(FullMode, AKeySplitAcrossCpusSumsExactly) {
  SYSLENS_REQUIRE_ROOT();
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs 2 CPUs";
  KernelEdge probes(options(Mode::full, GetParam()));
  TestCgroup cg("split");
  ASSERT_EQ(run_in_cgroup(cg,
                          [] {
                            for (int cpu : {0, 1, 0, 1}) {
                              if (!pin_to_cpu(cpu)) return 1;
                              for (int i = 0; i < kGetppid; ++i) ::syscall(SYS_getppid);
                            }
                            return 0;
                          }),
            0);
  const auto v = view(probes.maps.read(), cg.id());
  ASSERT_TRUE(v.stats.count({nr("getppid"), 0}));
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).calls, 4U * kGetppid);
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).returns, 4U * kGetppid);
  EXPECT_EQ(v.stats.at({nr("sched_setaffinity"), 0}).calls, 4U);
}

// A call that blocks keeps its enter record while other tasks make syscalls
// on the same CPU: two processes pinned to one CPU pass a byte back and forth,
// so every read blocks and the writer's calls run in between (the record
// moves from the CPU's record to task storage at the context switch).
TEST_P(FullMode, ABlockedCallKeepsItsRecordWhileOthersRunOnItsCpu) {
  SYSLENS_REQUIRE_ROOT();
  KernelEdge probes(options(Mode::full, GetParam()));
  TestCgroup cg("blocked");
  constexpr int kRounds = 200;
  ASSERT_EQ(run_in_cgroup(cg,
                          [] {
                            if (!pin_to_cpu(0)) return 1;
                            int p[2];
                            if (::pipe(p) != 0) return 1;
                            const pid_t writer = ::fork();
                            if (writer == 0) {
                              char c = 'x';
                              for (int i = 0; i < kRounds; ++i) {
                                for (int k = 0; k < 3; ++k) ::syscall(SYS_getppid);
                                if (::write(p[1], &c, 1) != 1) ::_exit(1);
                                ::sched_yield();
                              }
                              ::_exit(0);
                            }
                            char c;
                            for (int i = 0; i < kRounds; ++i) {
                              if (::read(p[0], &c, 1) != 1) return 1;
                            }
                            int status = 0;
                            ::waitpid(writer, &status, 0);
                            return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
                          }),
            0);
  const auto v = view(probes.maps.read(), cg.id());
  ASSERT_TRUE(v.stats.count({nr("read"), 0}));
  EXPECT_EQ(v.stats.at({nr("read"), 0}).calls, static_cast<std::uint64_t>(kRounds));
  EXPECT_EQ(v.stats.at({nr("read"), 0}).returns, static_cast<std::uint64_t>(kRounds));
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).returns, 3U * kRounds);
  EXPECT_EQ(v.stats.at({nr("write"), 0}).returns, static_cast<std::uint64_t>(kRounds));
}

// The overhead budget's switch: with latency tracking off no call is timed,
// and calls, failures by errno and seccomp denials are still exact.
TEST_P(FullMode, LatencyOffTimesNothingAndKeepsCountsErrorsAndDenialsExact) {
  SYSLENS_REQUIRE_ROOT();
  constexpr int kMkdirs = 7;
  KernelEdge probes(options(Mode::full, GetParam()));
  TestCgroup cg("latency-off");
  probes.controls.set_latency(false);
  EXPECT_FALSE(probes.controls.latency_on());
  auto workload = [] {
    for (int i = 0; i < kGetppid; ++i) ::syscall(SYS_getppid);
    for (int i = 0; i < kOpenat; ++i) ::syscall(SYS_openat, AT_FDCWD, kMissing, O_RDONLY);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mkdirat), 0) != 0 || seccomp_load(ctx) != 0) {
      return 3;
    }
    // Filtered from here: a failure that entered is not a denial.
    for (int i = 0; i < kOpenat; ++i) ::syscall(SYS_openat, AT_FDCWD, kMissing, O_RDONLY);
    for (int i = 0; i < kMkdirs; ++i) {
      if (::syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent-syslens-test/dir", 0755) != -1 || errno != EPERM) return 4;
    }
    return 0;
  };
  ASSERT_EQ(run_in_cgroup(cg, workload), 0);
  auto v = view(probes.maps.read(), cg.id());
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).calls, static_cast<std::uint64_t>(kGetppid));
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).returns, 0U);
  EXPECT_EQ(v.stats.at({nr("openat"), 0}).calls, 2U * kOpenat);
  EXPECT_EQ(v.stats.at({nr("openat"), 0}).returns, 0U);
  const std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> want_err = {
      {{nr("openat"), 0, ENOENT}, 2 * kOpenat}, {{nr("mkdirat"), 0, EPERM}, kMkdirs}};
  EXPECT_EQ(without_seccomp_calls(v.errors), want_err);
  const std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> want_denied = {
      {{nr("mkdirat"), 0, EPERM}, kMkdirs}};
  EXPECT_EQ(v.denied, want_denied);

  // On again: every call is timed (latency_sample_every 1).
  probes.controls.set_latency(true);
  EXPECT_TRUE(probes.controls.latency_on());
  ASSERT_EQ(run_in_cgroup(cg,
                          [] {
                            for (int i = 0; i < kGetppid; ++i) ::syscall(SYS_getppid);
                            return 0;
                          }),
            0);
  v = view(probes.maps.read(), cg.id());
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).calls, 2U * kGetppid);
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).returns, static_cast<std::uint64_t>(kGetppid));
}

// One call in N timed: the latency families count a sample, the counts and
// failures stay exact, and a filtered thread's untimed failures are not
// taken for seccomp denials (every call leaves an enter mark, timed or not).
TEST_P(FullMode, SampledLatencyTimesAboutOneCallInNAndKeepsCountsErrorsAndDenialsExact) {
  SYSLENS_REQUIRE_ROOT();
  constexpr int kCalls = 64'000, kFailures = 6'400, kMkdirs = 7, kEvery = 16;
  auto o = options(Mode::full, GetParam());
  o.latency_sample_every = kEvery;
  KernelEdge probes(o);
  TestCgroup cg("sampled");
  ASSERT_EQ(run_in_cgroup(cg,
                          [] {
                            scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
                            if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mkdirat), 0) != 0 ||
                                seccomp_load(ctx) != 0) {
                              return 3;
                            }
                            for (int i = 0; i < kCalls; ++i) ::syscall(SYS_getppid);
                            for (int i = 0; i < kFailures; ++i) ::syscall(SYS_openat, AT_FDCWD, kMissing, O_RDONLY);
                            for (int i = 0; i < kMkdirs; ++i)
                              ::syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent-syslens-test/d", 0755);
                            return 0;
                          }),
            0);
  const auto v = view(probes.maps.read(), cg.id());
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).calls, static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(v.stats.at({nr("openat"), 0}).calls, static_cast<std::uint64_t>(kFailures));
  const std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> want_err = {
      {{nr("openat"), 0, ENOENT}, kFailures}, {{nr("mkdirat"), 0, EPERM}, kMkdirs}};
  EXPECT_EQ(without_seccomp_calls(v.errors), want_err);
  const std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint64_t> want_denied = {
      {{nr("mkdirat"), 0, EPERM}, kMkdirs}};
  EXPECT_EQ(v.denied, want_denied);

  // Timed getppids: mean 4,000 (gaps uniform in [1, 31], mean 16). The bound
  // is that of a binomial(64,000, 1/16), sd 61; the drawn gaps vary less
  // (sd about 35). Six sd either way fails a broken sampler (all timed:
  // 64,000; none: 0; 1 in 8: 8,000) and a correct one practically never.
  const auto& g = v.stats.at({nr("getppid"), 0});
  const double mean = double{kCalls} / kEvery, sd = std::sqrt(mean * (1.0 - 1.0 / kEvery));
  EXPECT_GT(static_cast<double>(g.returns), mean - 6 * sd);
  EXPECT_LT(static_cast<double>(g.returns), mean + 6 * sd);
  std::uint64_t in_hist = 0;
  for (auto h : g.hist) in_hist += h;
  EXPECT_EQ(in_hist, g.returns) << "each timed call is in the histogram once";
  EXPECT_GT(g.sum_ns, 0U);
  const auto& f = v.stats.at({nr("openat"), 0});
  const double fmean = double{kFailures} / kEvery, fsd = std::sqrt(fmean * (1.0 - 1.0 / kEvery));
  EXPECT_GT(static_cast<double>(f.returns), fmean - 6 * fsd);
  EXPECT_LT(static_cast<double>(f.returns), fmean + 6 * fsd);
}

#if defined(__x86_64__)  // int $0x80; arm64's 32-bit calls are run by an armhf binary (tests/vm)
TEST_P(FullMode, Ia32CompatSyscallsAreNotTakenForTheir64BitNamesakes) {
  SYSLENS_REQUIRE_ROOT();
  KernelEdge probes(options(Mode::full, GetParam()));
  TestCgroup cg("compat");
  constexpr int kCompat = 25;
  ASSERT_EQ(run_in_cgroup(cg,
                          [] {
                            for (int i = 0; i < kCompat; ++i) {
                              long ret = 64;  // __NR_getppid in the i386 table; semget on x86_64
                              asm volatile("int $0x80" : "+a"(ret) : : "memory", "r8", "r9", "r10", "r11");
                            }
                            return 0;
                          }),
            0);
  const auto v = view(probes.maps.read(), cg.id());
  ASSERT_TRUE(v.stats.count({64, SYSLENS_ABI_COMPAT})) << "no compat getppid recorded";
  EXPECT_EQ(v.stats.at({64, SYSLENS_ABI_COMPAT}).calls, static_cast<std::uint64_t>(kCompat));
  EXPECT_EQ(v.stats.at({64, SYSLENS_ABI_COMPAT}).returns, static_cast<std::uint64_t>(kCompat));
  EXPECT_FALSE(v.stats.count({64, SYSLENS_ABI_NATIVE})) << "compat getppid mislabelled as semget";
  EXPECT_EQ(syscall_label(Arch::x86_64, 64, true), "i386:getppid");
}
#endif

TEST_P(FullMode, SyscallIdMinusOneIsIgnored) {
  SYSLENS_REQUIRE_ROOT();
  KernelEdge probes(options(Mode::full, GetParam()));
  TestCgroup cg("minus-one");
  const auto before = probes.maps.read().counters[SYSLENS_CNT_IGNORED_NR];
  constexpr int kBad = 7;
  ASSERT_EQ(run_in_cgroup(cg,
                          [] {
                            for (int i = 0; i < kBad; ++i) ::syscall(-1L);
                            return 0;
                          }),
            0);
  const auto snap = probes.maps.read();
  const auto v = view(snap, cg.id());
  EXPECT_EQ(snap.counters[SYSLENS_CNT_IGNORED_NR] - before, static_cast<std::uint64_t>(kBad));
  ASSERT_EQ(v.stats.size(), 1U);  // only exit_group
  EXPECT_EQ(v.stats.begin()->first.first, nr("exit_group"));
}

INSTANTIATE_TEST_SUITE_P(Variants, FullMode,
                         ::testing::Values(Variant{AttachKind::tp_btf, ThreadStore::task_storage},
                                           Variant{AttachKind::tp_btf, ThreadStore::tid_hash},
                                           Variant{AttachKind::raw_tp, ThreadStore::task_storage},
                                           Variant{AttachKind::raw_tp, ThreadStore::tid_hash},
                                           Variant{AttachKind::tp_btf, ThreadStore::task_storage, 0},
                                           Variant{AttachKind::tp_btf, ThreadStore::task_storage, 1},
                                           Variant{AttachKind::tp_btf, ThreadStore::task_storage, 2},
                                           Variant{AttachKind::tp_btf, ThreadStore::task_storage,
                                                   ProbeOptions{}.cpu_slots, true}),
                         variant_name);

// Every stock kernel switches tasks through the sched_switch tracepoint, so
// the task tpbtf_switch_task saw switched in last on a CPU is current there;
// the kernel this was written on switches some tasks in and out without it.
// The enter program must not take such a stale task for current: here
// another real task (the one last switched in on CPU 1, the writer below) is
// written in as CPU 0's over and over while a workload on CPU 0 makes its
// calls. All are still counted in the workload's cgroup. Where the enter
// takes the current task from context switches (6.2+) it saw each wrong task
// (switch_untraced); before 6.2 it asks the helper and never looks.
// Full mode as shipped, count-only with bpf.current_task: switch (its own
// context-switch program), and both modes told to ask the helper (count-only
// then has no context-switch program, as before 6.2).
struct CurrentTaskCase {
  Mode mode;
  syslens::CurrentTask current;
};

class SwitchedInTask : public ::testing::TestWithParam<CurrentTaskCase> {};

TEST_P(SwitchedInTask, AStaleSwitchedInTaskIsNotTakenForCurrent) {
  SYSLENS_REQUIRE_ROOT();
  const Mode mode = GetParam().mode;
  ProbeOptions opts = options(mode, Variant{AttachKind::tp_btf, ThreadStore::task_storage});
  opts.current_task = GetParam().current;
  KernelEdge probes(opts);
  const bool from_switch = GetParam().current != syslens::CurrentTask::helper && kernel_has_rdonly_cast();
  ASSERT_EQ(probes.loader.current_task(),
            from_switch ? syslens::CurrentTask::from_switch : syslens::CurrentTask::helper);
  const int ncpus = probes.loader.layout().ncpus;
  if (ncpus < 2) GTEST_SKIP() << "needs two CPUs";
  // Count-only asking the helper (before 6.2, or told to) has no
  // context-switch program and one CPU record: nothing to write over; its
  // counts are checked all the same.
  const bool switch_program = mode == Mode::full || from_switch;
  const MappedMap<syslens_cpu_rec> mapped(switch_program ? probes.loader.skeleton().maps.syslens_cpu_recs : nullptr,
                                          static_cast<std::size_t>(ncpus));
  syslens_cpu_rec* recs = mapped.data();
  if (switch_program) {
    ASSERT_NE(recs, nullptr) << mapped.error();
  }
  const auto before = probes.maps.read();

  constexpr int kGetppid = 200'000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> writes{0};
  std::thread writer([&] {
    if (recs == nullptr || !pin_to_cpu(1)) return;
    while (!done.load(std::memory_order_relaxed)) {
      const std::uint64_t other = __atomic_load_n(&recs[1].current, __ATOMIC_RELAXED);
      if (other == 0) continue;
      __atomic_store_n(&recs[0].current, other, __ATOMIC_RELAXED);
      writes.fetch_add(1, std::memory_order_relaxed);
    }
  });
  TestCgroup cg("stale-current");
  const int rc = run_in_cgroup(cg, [] {
    if (!pin_to_cpu(0)) return 1;
    for (int i = 0; i < kGetppid; ++i) ::syscall(SYS_getppid);
    return 0;
  });
  done = true;
  writer.join();
  ASSERT_EQ(rc, 0);
  if (switch_program) {
    ASSERT_GT(writes.load(), 0U);
  }

  const auto snap = probes.maps.read();
  const auto v = view(snap, cg.id());
  ASSERT_TRUE(v.stats.count({nr("getppid"), 0}));
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).calls, static_cast<std::uint64_t>(kGetppid));
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).returns, mode == Mode::full ? static_cast<std::uint64_t>(kGetppid) : 0U);
  const std::uint64_t untraced =
      snap.counters[SYSLENS_CNT_SWITCH_UNTRACED] - before.counters[SYSLENS_CNT_SWITCH_UNTRACED];
  if (from_switch) {
    EXPECT_GT(untraced, 0U);
  } else {
    EXPECT_EQ(untraced, 0U);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, SwitchedInTask,
                         ::testing::Values(CurrentTaskCase{Mode::full, syslens::CurrentTask::automatic},
                                           CurrentTaskCase{Mode::count, syslens::CurrentTask::from_switch},
                                           CurrentTaskCase{Mode::full, syslens::CurrentTask::helper},
                                           CurrentTaskCase{Mode::count, syslens::CurrentTask::helper}),
                         [](const ::testing::TestParamInfo<CurrentTaskCase>& i) {
                           return std::string(i.param.mode == Mode::full ? "full_" : "count_") +
                                  std::string(i.param.current == syslens::CurrentTask::from_switch ? "switch"
                                              : i.param.current == syslens::CurrentTask::helper    ? "helper"
                                                                                                   : "auto");
                         });

// Count-only's table of tasks by kernel stack is only a hint: an entry may
// name a task that has gone, or collide with another stack. Here every entry
// is written over, again and again, with another real task's pointer taken
// from the table (one another stack's call put there) while a workload makes
// 200,000 calls: each is still counted in the workload's cgroup, and the
// enter saw wrong tasks (stack_task_miss beyond the workload's first call).
// Without the check against the registers, the calls go to other cgroups.
// Before 6.2 (no bpf_rdonly_cast) the loader asks the helper instead, and the
// counts are checked all the same, with no table to write over.
TEST(StackTask, AWrongTaskInTheTableIsNotTakenForCurrent) {
  SYSLENS_REQUIRE_ROOT();
  ProbeOptions opts = options(Mode::count, Variant{AttachKind::tp_btf, ThreadStore::task_storage});
  opts.current_task = syslens::CurrentTask::from_stack;
  KernelEdge probes(opts);
  const bool by_stack = kernel_has_rdonly_cast();
  ASSERT_EQ(probes.loader.current_task(), by_stack ? syslens::CurrentTask::from_stack : syslens::CurrentTask::helper);
  const MappedMap<std::uint64_t> mapped(by_stack ? probes.loader.skeleton().maps.syslens_stack_tasks : nullptr,
                                        SYSLENS_STACK_TASKS);
  std::uint64_t* table = mapped.data();
  if (by_stack) {
    ASSERT_NE(table, nullptr) << mapped.error();
  }
  const auto before = probes.maps.read();

  constexpr int kGetppid = 200'000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> rounds{0};
  std::thread writer([&] {
    while (table != nullptr && !done.load(std::memory_order_relaxed)) {
      // Two distinct tasks from the table, then every entry gets one that is
      // not its own.
      std::uint64_t a = 0, b = 0;
      for (std::size_t i = 0; i < SYSLENS_STACK_TASKS && b == 0; ++i) {
        const std::uint64_t t = __atomic_load_n(&table[i], __ATOMIC_RELAXED);
        if (t == 0) continue;
        if (a == 0) {
          a = t;
        } else if (t != a) {
          b = t;
        }
      }
      if (b == 0) continue;
      for (std::size_t i = 0; i < SYSLENS_STACK_TASKS; ++i) {
        const std::uint64_t t = __atomic_load_n(&table[i], __ATOMIC_RELAXED);
        __atomic_store_n(&table[i], t == a ? b : a, __ATOMIC_RELAXED);
      }
      rounds.fetch_add(1, std::memory_order_relaxed);
    }
  });
  TestCgroup cg("stale-stack");
  const int rc = run_in_cgroup(cg, [] {
    for (int i = 0; i < kGetppid; ++i) ::syscall(SYS_getppid);
    return 0;
  });
  done = true;
  writer.join();
  ASSERT_EQ(rc, 0);
  if (by_stack) {
    ASSERT_GT(rounds.load(), 0U);
  }

  const auto snap = probes.maps.read();
  const auto v = view(snap, cg.id());
  ASSERT_TRUE(v.stats.count({nr("getppid"), 0}));
  EXPECT_EQ(v.stats.at({nr("getppid"), 0}).calls, static_cast<std::uint64_t>(kGetppid));
  const std::uint64_t misses =
      snap.counters[SYSLENS_CNT_STACK_TASK_MISS] - before.counters[SYSLENS_CNT_STACK_TASK_MISS];
  if (by_stack) {
    EXPECT_GT(misses, 1U);
  } else {
    EXPECT_EQ(misses, 0U);
  }
  EXPECT_EQ(snap.counters[SYSLENS_CNT_SWITCH_UNTRACED], before.counters[SYSLENS_CNT_SWITCH_UNTRACED]);
}

// The exit's side of the same: a record left pending in a CPU's entry by a
// task switched out without the tracepoint must not be taken by the next
// task's exit there. Here a record of another real task (the one last
// switched in on CPU 1), keyed to a cgroup nothing runs in, is written into
// CPU 0's entry each time a workload on CPU 0 sleeps in read(); the read's
// return then finds it first. Where the enter takes the current task from
// context switches (6.2+) the exit checks the record's task and leaves it:
// nothing is ever counted under the unused cgroup (without the check, a
// latency under it each round that another call on CPU 0 did not clear the
// entry first). Before 6.2 the exit trusts the entry, as every stock kernel
// allows; the workload's own counts are checked on every kernel.
TEST(CurrentTaskRecord, AnotherTasksStaleRecordIsNotTakenByTheExit) {
  SYSLENS_REQUIRE_ROOT();
  ProbeOptions opts = options(Mode::full, Variant{AttachKind::tp_btf, ThreadStore::task_storage});
  opts.latency_sample_every = 1U << 20;  // the workload's own calls untimed: only the planted record
  KernelEdge probes(opts);
  const int ncpus = probes.loader.layout().ncpus;
  if (ncpus < 2) GTEST_SKIP() << "needs two CPUs";
  const MappedMap<syslens_cpu_rec> mapped(probes.loader.skeleton().maps.syslens_cpu_recs,
                                          static_cast<std::size_t>(ncpus));
  syslens_cpu_rec* recs = mapped.data();
  ASSERT_NE(recs, nullptr) << mapped.error();
  TestCgroup unused("stale-rec-unused");
  const auto before = probes.maps.read();

  constexpr int kRounds = 200;
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  std::atomic<int> planted{0};
  std::thread planter([&] {
    if (!pin_to_cpu(1)) return;
    for (int i = 0; i < kRounds; ++i) {
      char c = 0;
      if (::read(ready[0], &c, 1) != 1) return;
      ::usleep(2000);  // the workload is asleep in its read() by now
      const std::uint64_t other = __atomic_load_n(&recs[1].current, __ATOMIC_RELAXED);
      if (other != 0) {
        syslens_cpu_rec& cr = recs[0];
        cr.rec.cgroup_id = unused.id();
        cr.rec.nr = nr("getppid");
        cr.rec.abi = 0;
        cr.rec.flags = 0;
        cr.rec.slot = 0;
        cr.task = other;
        __atomic_store_n(&cr.rec.ts_ns, std::uint64_t{1000}, __ATOMIC_RELEASE);  // pending, timed
        planted.fetch_add(1, std::memory_order_relaxed);
      }
      if (::write(go[1], &c, 1) != 1) return;
    }
  });
  TestCgroup cg("stale-rec");
  const int rc = run_in_cgroup(cg, [&] {
    if (!pin_to_cpu(0)) return 1;
    char c = 0;
    for (int i = 0; i < kRounds; ++i) {
      if (::write(ready[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1) return 2;
    }
    return 0;
  });
  planter.join();
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
  ASSERT_EQ(rc, 0);
  ASSERT_GT(planted.load(), kRounds / 2);

  const auto snap = probes.maps.read();
  const auto v = view(snap, cg.id());
  std::map<std::uint32_t, std::uint64_t> calls;
  for (const auto& [k, val] : v.stats) calls[k.first] = val.calls;
  const std::map<std::uint32_t, std::uint64_t> want = {
      {nr("sched_setaffinity"), 1}, {nr("write"), kRounds}, {nr("read"), kRounds}, {nr("exit_group"), 1}};
  EXPECT_EQ(calls, want);
  const std::uint64_t untraced =
      snap.counters[SYSLENS_CNT_SWITCH_UNTRACED] - before.counters[SYSLENS_CNT_SWITCH_UNTRACED];
  if (probes.loader.current_task() == syslens::CurrentTask::from_switch) {
    EXPECT_TRUE(view(snap, unused.id()).stats.empty());
    EXPECT_GT(untraced, 0U);
  }
}

// The entry cpu_slot() in bpf/syslens.bpf.c hashes a native key to, within
// its CPU's range (a copy: the test below fails if the two differ).
std::size_t slot_way(std::uint64_t cgroup_id, std::uint32_t nr, std::uint32_t cpu_slots) {
  const std::uint64_t nr_abi = nr;  // abi 0: native
  return static_cast<std::size_t>(((cgroup_id ^ nr_abi << 21) * 0x9E3779B97F4A7C15ULL) >> 40) & (cpu_slots - 1);
}

// Two keys that hash to the same entry both get a slot of their CPU, the
// first the entry, the second its neighbour, and are counted exactly there.
// Syscall numbers no kernel has (ENOSYS) give keys of any hash. The host's
// own keys land in the same CPU's range meanwhile (a few dozen in 32,768
// entries): should one take an entry of the pair first, another pair is
// tried.
TEST(CpuSlots, TwoKeysOfOneEntryBothGetASlot) {
  SYSLENS_REQUIRE_ROOT();
  auto o = options(Mode::full, Variant{AttachKind::tp_btf, ThreadStore::task_storage});
  o.cpu_slots = 32768;
  KernelEdge probes(o);
  TestCgroup cg("ways");
  const std::uint32_t slots = probes.loader.layout().cpu_slots;
  ASSERT_GE(slots, 2U);
  const auto* table = probes.loader.layout().slots;
  constexpr int kCalls = 50;
  for (std::uint32_t a = 100'000; a < 100'000 + 4 * 1'000; a += 1'000) {
    std::uint32_t b = a + 1;
    while (slot_way(cg.id(), b, slots) != slot_way(cg.id(), a, slots)) ++b;
    ASSERT_EQ(run_in_cgroup(cg,
                            [a, b] {
                              if (!pin_to_cpu(0)) return 1;
                              for (int i = 0; i < kCalls; ++i) {
                                ::syscall(a);  // ENOSYS
                                ::syscall(b);
                              }
                              return 0;
                            }),
              0);
    const std::size_t way = slot_way(cg.id(), a, slots);                // CPU 0: its range starts at 0
    std::map<std::uint32_t, std::pair<std::size_t, std::uint64_t>> at;  // nr: (entry, calls)
    for (const std::size_t i : {way, way ^ 1}) {
      if (table[i].key.cgroup_id == cg.id()) at[table[i].key.nr] = {i, table[i].val.calls};
    }
    const auto foreign = [&](std::size_t i) {
      return table[i].key.cgroup_id != 0 && table[i].key.cgroup_id != cg.id();
    };
    if (at.size() < 2 && (foreign(way) || foreign(way ^ 1))) continue;  // another key came first
    ASSERT_EQ(at.count(a), 1U) << "the first key is not at the entry this test's copy of the hash picks";
    ASSERT_EQ(at.count(b), 1U) << "the second key of the entry got no slot";
    EXPECT_EQ(at[a].first, way);
    EXPECT_EQ(at[b].first, way ^ 1);
    EXPECT_EQ(at[a].second, static_cast<std::uint64_t>(kCalls));
    EXPECT_EQ(at[b].second, static_cast<std::uint64_t>(kCalls));
    return;
  }
  FAIL() << "other keys took an entry of each of 4 pairs";
}

// cgroup v1 hosts: keyed by the cgroup of a v1 controller's hierarchy, read
// with CO-RE from the task (the host's memory hierarchy on a v1 or hybrid
// host, a free controller's mounted for the test on a pure v2 host).
TEST(CgroupV1, KeysByTheV1HierarchyCgroup) {
  SYSLENS_REQUIRE_ROOT();
  const auto& h = v1_hierarchy();
  ProbeOptions o;
  o.cgroup_v1_subsys = cgroup1_subsys_id(h.controller);
  KernelEdge probes(o);
  TestCgroup cg("v1", h.mount);
  ASSERT_EQ(run_in_cgroup(cg, exact_workload), 0);
  const auto snap = probes.maps.read();
  const auto v = view(snap, cg.id());
  std::map<std::uint32_t, std::uint64_t> calls;
  for (const auto& [k, val] : v.stats) calls[k.first] = val.calls;
  const std::map<std::uint32_t, std::uint64_t> want = {
      {nr("getppid"), kGetppid}, {nr("openat"), kOpenat}, {nr("nanosleep"), kSleeps}, {nr("exit_group"), 1}};
  EXPECT_EQ(calls, want);
  EXPECT_EQ(v.errors.size(), 1U);
}

TEST(CountMode, CountsEveryCallAndTracksNothingElse) {
  SYSLENS_REQUIRE_ROOT();
  KernelEdge probes(options(Mode::count, {AttachKind::automatic, ThreadStore::automatic}));
  // By default count-only finds the current task by its kernel stack (6.2+),
  // else asks the helper: it has no context-switch program.
  EXPECT_EQ(probes.loader.current_task(),
            kernel_has_rdonly_cast() ? syslens::CurrentTask::from_stack : syslens::CurrentTask::helper);
  TestCgroup cg("count");
  ASSERT_EQ(run_in_cgroup(cg, exact_workload), 0);
  const auto v = view(probes.maps.read(), cg.id());
  std::map<std::uint32_t, std::uint64_t> calls;
  for (const auto& [k, val] : v.stats) {
    calls[k.first] = val.calls;
    EXPECT_EQ(val.returns, 0U);  // no sys_exit program in count mode
    EXPECT_EQ(val.sum_ns, 0U);
  }
  const std::map<std::uint32_t, std::uint64_t> want = {
      {nr("getppid"), kGetppid}, {nr("openat"), kOpenat}, {nr("nanosleep"), kSleeps}, {nr("exit_group"), 1}};
  EXPECT_EQ(calls, want);
  EXPECT_TRUE(v.errors.empty());
}

TEST(ThreadStore, TidRecordsAreRemovedWhenThreadsExit) {
  SYSLENS_REQUIRE_ROOT();
  KernelEdge probes(options(Mode::full, {AttachKind::automatic, ThreadStore::tid_hash}));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  constexpr int kThreads = 20;
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i) {
      ts.emplace_back([&] {
        std::uint32_t tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
        if (::write(fds[1], &tid, sizeof(tid)) != sizeof(tid)) ::_exit(3);
      });
    }
    for (auto& t : ts) t.join();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::set<std::uint32_t> tids;
  std::uint32_t tid = 0;
  while (::read(fds[0], &tid, sizeof(tid)) == sizeof(tid)) tids.insert(tid);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(tids.size(), static_cast<std::size_t>(kThreads));
  tids.insert(static_cast<std::uint32_t>(child));
  for (auto t : tids) EXPECT_FALSE(probes.loader.has_thread_record(t)) << "stale enter record for exited tid " << t;
  // ... while a live thread of ours has one.
  EXPECT_TRUE(probes.loader.has_thread_record(static_cast<std::uint32_t>(::syscall(SYS_gettid))));
}

TEST(Overflow, AFullStatsMapKeepsTotalsInTheOverflowRows) {
  SYSLENS_REQUIRE_ROOT();
  ProbeOptions o;
  o.max_stats_entries = 64;  // the whole system fills this at once
  o.cpu_slots = 0;           // no fast path: every key needs the hash
  KernelEdge probes(o);
  // Fill it: 8 cgroups x 11 distinct syscalls is more than 64 entries.
  for (int i = 0; i < 8; ++i) {
    TestCgroup filler("filler" + std::to_string(i));
    run_in_cgroup(filler, [] {
      for (long n : {SYS_getpid, SYS_getuid, SYS_getgid, SYS_geteuid, SYS_getegid, SYS_getppid, SYS_getpgid,
                     SYS_sched_yield, SYS_gettid, SYS_umask}) {
        ::syscall(n, 0);
      }
      return 0;
    });
  }
  TestCgroup cg("overflowed");
  const auto before = probes.maps.read();
  std::uint64_t before_row = 0;
  for (const auto& r : before.overflow) {
    if (r.key.nr == nr("getppid") && r.key.abi == 0) before_row = r.val.calls;
  }
  ASSERT_EQ(run_in_cgroup(cg,
                          [] {
                            for (int i = 0; i < kGetppid; ++i) ::syscall(SYS_getppid);
                            return 0;
                          }),
            0);
  const auto snap = probes.maps.read();
  // Every call of the workload missed the map (and so did other processes'
  // calls of new keys, host-wide: only the workload's share is known).
  EXPECT_GE(snap.counters[SYSLENS_CNT_STATS_MAP_FULL] - before.counters[SYSLENS_CNT_STATS_MAP_FULL],
            static_cast<std::uint64_t>(kGetppid) + 1);  // and its exit_group
  EXPECT_EQ(snap.stats.size(), 64U);
  EXPECT_TRUE(view(snap, cg.id()).stats.empty());
  std::uint64_t row = 0;
  for (const auto& r : snap.overflow) {
    if (r.key.nr == nr("getppid") && r.key.abi == 0) row = r.val.calls;
  }
  // The overflow row is shared by every cgroup, so other processes may add.
  EXPECT_GE(row - before_row, static_cast<std::uint64_t>(kGetppid));
  // Full is -E2BIG, told apart from a map with room refusing a key.
  EXPECT_EQ(snap.counters[SYSLENS_CNT_MAP_UPDATE_FAILED], 0U);
}

TEST(Overflow, AFullErrnoMapCountsEachUncountedFailureAsMapFull) {
  SYSLENS_REQUIRE_ROOT();
  ProbeOptions o;
  o.max_errno_entries = 8;  // the whole system fills this at once
  KernelEdge probes(o);
  TestCgroup filler("errno-filler");
  // 13 failures of 12 distinct (syscall, errno): more than the map holds.
  const auto fail_all = [] {
    for (long n : {SYS_close, SYS_dup, SYS_fsync, SYS_fchdir, SYS_fchmod, SYS_fdatasync}) ::syscall(n, -1);  // EBADF
    for (const char* p : {"/nonexistent/a", "/nonexistent/b"}) {
      ::open(p, O_RDONLY);  // ENOENT, twice: one key
    }
    ::syscall(SYS_faccessat, AT_FDCWD, "/nonexistent", F_OK, 0);  // ENOENT
    ::syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent/d", 0700);     // ENOENT
    ::syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent", 0);         // ENOENT
    ::syscall(SYS_getpgid, -1);                                   // ESRCH
    ::syscall(SYS_kill, 0x7fffffff, 0);                           // ESRCH
    return 0;
  };
  ASSERT_EQ(run_in_cgroup(filler, fail_all), 0);
  const auto before = probes.maps.read();
  ASSERT_EQ(before.errors.size(), 8U);
  TestCgroup cg("errno-overflowed");
  ASSERT_EQ(run_in_cgroup(cg, fail_all), 0);
  const auto snap = probes.maps.read();
  EXPECT_EQ(snap.errors.size(), 8U);
  EXPECT_TRUE(view(snap, cg.id()).errors.empty());
  // Each of the workload's 13 failures was refused as a full map (others'
  // new keys may add, host-wide), none as a map with room refusing it.
  EXPECT_GE(snap.counters[SYSLENS_CNT_ERRNO_MAP_FULL] - before.counters[SYSLENS_CNT_ERRNO_MAP_FULL], 13U);
  EXPECT_EQ(snap.counters[SYSLENS_CNT_MAP_UPDATE_FAILED], 0U);
}

// Runs body in a child under syslensd's filter on itself (it cannot be
// removed) and returns the child's exit code; what the child wrote to stderr
// (the filter's log lines) goes to *log. Needs no root, only no_new_privs.
int under_self_seccomp(const std::function<int()>& body, std::string* log) {
  int err_pipe[2];
  if (::pipe(err_pipe) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::close(err_pipe[0]);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(100);
    if (!apply_self_seccomp().empty()) ::_exit(101);
    ::_exit(body());
  }
  ::close(err_pipe[1]);
  char buf[512];
  for (ssize_t n; (n = ::read(err_pipe[0], buf, sizeof buf)) > 0;) log->append(buf, static_cast<std::size_t>(n));
  ::close(err_pipe[0]);
  int st = 0;
  if (::waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

// syslensd's filter on itself: a syscall it does not allow fails with EPERM,
// as before, but never silently: the SIGSYS trap counts it and logs one line
// naming it.
TEST(SelfSeccomp, ARefusedSyscallFailsWithEpermIsCountedAndLoggedOnce) {
  std::string log;
  const int code = under_self_seccomp(
      [] {
        // getsid is not in syslensd's list; getppid is.
        for (int i = 0; i < 3; ++i) {
          errno = 0;
          if (::syscall(SYS_getsid, 0) != -1 || errno != EPERM) return 12;
        }
        if (::syscall(SYS_getppid) <= 0) return 13;
        return self_seccomp_refusals() == 3 ? 0 : 14;
      },
      &log);
  EXPECT_EQ(code, 0) << log;
  EXPECT_EQ(log, "syslensd: its own seccomp filter refused syscall getsid (" + std::to_string(SYS_getsid) +
                     ") with EPERM: a path the allow list in daemon/app/src/self_seccomp.cpp lacks\n");
}

// The list was observed on x86_64, where glibc's unlink, mkdir, access,
// rename, stat, pipe, poll, select, dup2 and epoll_wait are syscalls of those
// names; arm64 has none of them, and glibc makes them *at, pipe2, ppoll,
// pselect6, dup3 and epoll_pwait calls there. Each libc call syslensd makes
// must pass the filter on both (the arm64 VM runs this too: it found unlink
// refused at shutdown).
TEST(SelfSeccomp, TheLibcCallsOfItsListPassOnThisArchitecture) {
  char dir[] = "/tmp/syslens-self-seccomp-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string d = dir;
  std::string log;
  const int code = under_self_seccomp(
      [&d] {
        struct stat st {};
        char target[64];
        int p[2];
        const std::string sub = d + "/sub", file = d + "/f", moved = d + "/g";
        if (::mkdir(sub.c_str(), 0700) != 0) return 20;
        if (::access(sub.c_str(), F_OK) != 0) return 21;
        const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY, 0600);
        if (fd < 0 || ::close(fd) != 0) return 22;
        if (::rename(file.c_str(), moved.c_str()) != 0) return 23;
        if (::stat(moved.c_str(), &st) != 0 || ::lstat(moved.c_str(), &st) != 0) return 24;
        if (::readlink(moved.c_str(), target, sizeof target) != -1 || errno != EINVAL) return 25;
        if (::pipe(p) != 0) return 26;
        pollfd pfd{p[0], POLLIN, 0};
        if (::poll(&pfd, 1, 0) != 0) return 27;
        fd_set set;
        FD_ZERO(&set);
        FD_SET(p[0], &set);
        timeval tv{0, 0};
        if (::select(p[0] + 1, &set, nullptr, nullptr, &tv) != 0) return 28;
        if (::dup2(p[0], p[1]) != p[1]) return 29;
        const int ep = ::epoll_create1(0);
        epoll_event ev{};
        if (ep < 0 || ::epoll_wait(ep, &ev, 1, 0) != 0) return 30;
        if (::unlink(moved.c_str()) != 0) return 31;
        return self_seccomp_refusals() == 0 ? 0 : 32;
      },
      &log);
  std::filesystem::remove_all(d);
  EXPECT_EQ(code, 0) << log;
  EXPECT_EQ(log, "");
}
