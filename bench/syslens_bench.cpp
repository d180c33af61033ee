// syslens-bench: nanoseconds each configuration adds to a syscall.
//
// Interleaved rounds: every round measures every configuration once, in a
// rotating order, each between two measurements of "none" (its added time is
// taken against their mean), and a configuration compared with a floor has
// the floor measured again right beside it. The table shows medians over
// rounds, the spread, the added time, and that as a ratio to the added time
// of the floor measured beside it (empty programs on the same hooks).
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_empty.skel.h"
#include "syslens/kernel/loader.h"
#include "syslens/errors.h"

using namespace syslens;

namespace {

struct Options {
  int rounds = 7;
  long iterations = 1'000'000;                                       // syscalls per thread per measurement
  std::uint32_t sample_every = syslens::kDefaultLatencySampleEvery;  // the default row's sampler
  std::vector<int> threads = {1, static_cast<int>(std::thread::hardware_concurrency())};
  std::vector<std::string> workloads = {"getppid", "read", "pipe"};
  bool peers = true;
  bool per_round = false;  // print each round's measurements to stderr
  bool hold = false;       // --hold=floor: attach the floor, wait for stdin to close
  bool micro = true;       // --programs=only: skip the micro table
  bool programs = true;    // --programs=no: skip the "where the time goes" table
};

// An attached configuration; destroyed = detached.
struct Attached {
  virtual ~Attached() = default;
};

// Programs of empty.bpf.c: empty ones on enter (and exit), or with a clock
// read on each, or one helper call on enter.
struct EmptyPrograms final : Attached {
  enum class Kind { empty, clock, helper };
  explicit EmptyPrograms(bool with_exit, Kind kind = Kind::empty) {
    skel = bench_empty__open();
    if (!skel) throw std::runtime_error("open empty programs");
    bpf_program* enter = kind == Kind::clock    ? skel->progs.clock_enter
                         : kind == Kind::helper ? skel->progs.helper_enter
                                                : skel->progs.empty_enter;
    bpf_program* exit = kind == Kind::clock ? skel->progs.clock_exit : skel->progs.empty_exit;
    for (bpf_program* p : {skel->progs.empty_enter, skel->progs.empty_exit, skel->progs.clock_enter,
                           skel->progs.clock_exit, skel->progs.helper_enter}) {
      bpf_program__set_autoload(p, p == enter || (with_exit && p == exit));
    }
    if (bench_empty__load(skel)) throw std::runtime_error("load empty programs");
    links.push_back(bpf_program__attach(enter));
    if (with_exit) links.push_back(bpf_program__attach(exit));
    for (auto* l : links) {
      if (!l) throw std::runtime_error("attach empty programs");
    }
  }
  ~EmptyPrograms() override {
    for (auto* l : links) bpf_link__destroy(l);
    bench_empty__destroy(skel);
  }
  bench_empty* skel = nullptr;
  std::vector<bpf_link*> links;
};

struct Syslens final : Attached {
  explicit Syslens(Mode m, std::uint32_t sample_every = syslens::kDefaultLatencySampleEvery,
                   syslens::CurrentTask current = syslens::CurrentTask::automatic) {
    ProbeOptions o;
    o.mode = m;
    o.latency_sample_every = sample_every;
    o.current_task = current;
    probes = std::make_unique<syslens::Loader>(o);
  }
  std::unique_ptr<syslens::Loader> probes;  // attached: that is all the bench needs
};

// Ids of every loaded BPF program (needs CAP_SYS_ADMIN; we run as root).
std::set<__u32> program_ids() {
  std::set<__u32> ids;
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) ids.insert(id);
  return ids;
}

// Ids of the BPF programs loaded since `before` was taken.
std::set<__u32> program_ids_since(const std::set<__u32>& before) {
  std::set<__u32> fresh;
  for (__u32 id : program_ids()) {
    if (!before.count(id)) fresh.insert(id);
  }
  return fresh;
}

// A peer tool (bpftrace, bcc) run as a child; attached once `programs` new
// BPF programs are loaded and a moment has passed, detached when it exits.
struct ExternalTool final : Attached {
  ExternalTool(std::vector<std::string> argv, std::size_t programs) {
    const auto before = program_ids();
    pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGINT);  // an interrupted bench leaves no tracer behind
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    for (int i = 0; i < 600; ++i) {  // compiling with bcc takes seconds
      if (program_ids_since(before).size() >= programs) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the last attach
        return;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        throw std::runtime_error("'" + argv[0] + "' exited before attaching");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("'" + argv[0] + "' did not attach within 60 s");
  }
  ~ExternalTool() override {
    if (pid <= 0) return;
    ::kill(-pid, SIGINT);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  pid_t pid = -1;
};

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/usr/sbin";
  for (std::size_t b = 0, e; b <= p.size(); b = e + 1) {
    e = p.find(':', b);
    if (e == std::string::npos) e = p.size();
    if (::access((p.substr(b, e - b) + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// bcc compiles its programs against kernel headers at run time. When the
// running kernel has none (no /lib/modules/$(uname -r)/build, as on this
// project's machines), Debian's linux-headers-amd64 are shown to it under
// that name in a private mount namespace. syscount only needs the tracepoint
// format (read from tracefs) and maps, not kernel structs, so older headers
// serve. Returns the command prefix, or nothing when bcc cannot run.
std::optional<std::vector<std::string>> bcc_prefix(std::string& why) {
  if (!on_path("syscount-bpfcc")) {
    why = "bpfcc-tools not installed";
    return std::nullopt;
  }
  struct utsname u {};
  ::uname(&u);
  namespace fs = std::filesystem;
  if (fs::exists(fs::path("/lib/modules") / u.release / "build")) return std::vector<std::string>{};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/src", ec)) {
    const std::string name = e.path().filename();
    if (name.rfind("linux-headers-", 0) != 0 || name.size() < 6 || name.substr(name.size() - 6) != "-amd64") continue;
    const std::string common = e.path().string().substr(0, e.path().string().size() - 6) + "-common";
    static const std::string dir = [] {
      char tmpl[] = "/tmp/syslens-bench-modules.XXXXXX";
      return std::string(::mkdtemp(tmpl) ? tmpl : "");
    }();
    if (dir.empty()) break;
    fs::create_directories(fs::path(dir) / u.release, ec);
    fs::create_symlink(e.path(), fs::path(dir) / u.release / "build", ec);
    fs::create_symlink(common, fs::path(dir) / u.release / "source", ec);
    return std::vector<std::string>{"unshare", "-m", "sh", "-c",
                                    "mount --bind " + dir + " /lib/modules && exec \"$0\" \"$@\""};
  }
  why = "no kernel headers for bcc (install linux-headers-amd64)";
  return std::nullopt;
}

// Classic tracepoints (bpftrace, bcc) need tracefs.
void mount_tracefs() {
  struct stat st {};
  if (::stat("/sys/kernel/tracing/events", &st) == 0) return;
  if (::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    std::fprintf(stderr, "syslens-bench: cannot mount tracefs: %s; peers may not attach\n", std::strerror(errno));
  }
}

struct BenchConfig {
  std::string name;
  std::string floor;  // the configuration whose overhead this one is compared with
  std::function<std::unique_ptr<Attached>()> attach;
};

std::unique_ptr<Attached> tool(std::vector<std::string> argv, std::size_t programs) {
  return std::make_unique<ExternalTool>(std::move(argv), programs);
}

constexpr int kChunks = 20;

// ns per syscall, averaged over threads, each pinned to its own CPU.
double measure(const std::string& workload, int nthreads, long iterations) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> ns(static_cast<std::size_t>(nthreads));
  std::vector<std::thread> ts;
  const int ncpu = static_cast<int>(std::thread::hardware_concurrency());
  for (int t = 0; t < nthreads; ++t) {
    ts.emplace_back([&, t] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(t % ncpu, &set);
      pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      int fd = ::open("/dev/zero", O_RDONLY);
      char c = 0;
      const bool read1 = workload == "read";
      const bool pipe = workload == "pipe";
      // Timed in kChunks chunks (below).
      const long per_chunk = iterations / kChunks, hops = per_chunk / 4;
      // pipe: this thread and a partner on the same CPU pass a byte back and
      // forth, so every read blocks: 2 syscalls and 1 context switch per hop.
      int ping[2], pong[2];
      std::thread partner;
      if (pipe) {
        if (::pipe(ping) != 0 || ::pipe(pong) != 0) std::abort();
        partner = std::thread([&, t] {
          cpu_set_t s;
          CPU_ZERO(&s);
          CPU_SET(t % ncpu, &s);
          pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
          char b;
          for (long i = 0; i < hops * kChunks; ++i) {
            if (::read(ping[0], &b, 1) != 1 || ::write(pong[1], &b, 1) != 1) break;
          }
        });
      }
      ++ready;
      while (!go.load()) {
      }
      // kChunks timed chunks; the fastest stands for the thread. Other
      // tenants of a shared machine only ever add time (preemption, steal,
      // cache pollution), so the least disturbed chunk is the best estimate
      // of what the configuration itself costs.
      double fastest = 0;
      for (int k = 0; k < kChunks; ++k) {
        const auto t0 = std::chrono::steady_clock::now();
        if (pipe) {
          for (long i = 0; i < hops; ++i) {
            if (::write(ping[1], &c, 1) != 1 || ::read(pong[0], &c, 1) != 1) break;
          }
        } else {
          for (long i = 0; i < per_chunk; ++i) {
            if (read1) {
              ::syscall(SYS_read, fd, &c, 1);
            } else {
              ::syscall(SYS_getppid);
            }
          }
        }
        const auto t1 = std::chrono::steady_clock::now();
        const double v = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(per_chunk);
        if (k == 0 || v < fastest) fastest = v;
      }
      ns[static_cast<std::size_t>(t)] = fastest;
      if (pipe) {
        partner.join();
        for (int f : {ping[0], ping[1], pong[0], pong[1]}) ::close(f);
      }
      ::close(fd);
    });
  }
  while (ready.load() < nthreads) {
  }
  go = true;
  for (auto& th : ts) th.join();
  double sum = 0;
  for (double v : ns) sum += v;
  return sum / nthreads;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// A program's runs and run time over one measurement (kernel BPF statistics).
struct ProgramRuns {
  double runs = 0, ns = 0;
};

// By name, for the programs with these ids; a name met again (the kernel
// keeps 15 characters) gets the next number: "name (2)", in id order.
std::map<std::string, ProgramRuns> program_runs(const std::set<__u32>& ids) {
  std::map<std::string, ProgramRuns> out;
  for (__u32 id : ids) {
    const int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      std::string name = info.name;
      for (int n = 2; out.count(name); ++n) name = std::string(info.name) + " (" + std::to_string(n) + ")";
      out[name] = {static_cast<double>(info.run_cnt), static_cast<double>(info.run_time_ns)};
    }
    ::close(fd);
  }
  return out;
}

// Each program's runs and time over one measurement of workload on 1 thread,
// with the kernel's run-time statistics on for that measurement only.
std::map<std::string, ProgramRuns> measure_programs(const BenchConfig& c, const std::string& workload,
                                                    long iterations) {
  const auto before = program_ids();
  auto attached = c.attach();
  const auto ours = program_ids_since(before);
  measure(workload, 1, iterations / 10);  // warm up
  const int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats < 0)
    throw std::runtime_error(std::string("cannot enable BPF run-time statistics: ") + std::strerror(errno));
  const auto a = program_runs(ours);
  measure(workload, 1, iterations);
  auto b = program_runs(ours);
  ::close(stats);
  for (auto& [name, r] : b) {
    const auto it = a.find(name);
    if (it != a.end()) {
      r.runs -= it->second.runs;
      r.ns -= it->second.ns;
    }
  }
  return b;
}

// Where the time goes: what each program of a configuration costs per run
// and per syscall, less what the statistics and an empty program cost (the
// empty programs, configs[0], measured first in every round). The machine
// sets the hooks' price (the floor); this is the part the programs' own work
// sets, ours and the peers'.
void where_the_time_goes(const Options& opt, const std::vector<BenchConfig>& configs) {
  std::printf(
      "Where the time goes, 1 thread: kernel BPF run-time statistics on for each measurement; medians of %d rounds\n",
      opt.rounds);
  std::printf("%-8s %-40s %-19s %9s %8s %11s %12s\n", "syscall", "configuration", "program", "runs/call", "ns/run",
              "own ns/run", "own ns/call");
  for (const auto& w : opt.workloads) {
    // Per configuration and program, one value per round.
    std::map<std::string, std::map<std::string, std::vector<double>>> per_call, ns_run, own_run;
    for (int r = 0; r < opt.rounds; ++r) {
      double empty = 0;  // this round's empty programs: mean ns per run
      for (std::size_t i = 0; i < configs.size(); ++i) {
        // The empty programs first, the others in a rotating order.
        const auto& c = i == 0 ? configs[0] : configs[1 + (i - 1 + static_cast<std::size_t>(r)) % (configs.size() - 1)];
        std::map<std::string, ProgramRuns> runs;
        try {
          runs = measure_programs(c, w, opt.iterations);
        } catch (const std::exception& e) {
          if (i == 0) throw;
          std::fprintf(stderr, "syslens-bench: %s: %s\n", c.name.c_str(), e.what());
          continue;
        }
        double sum = 0, n = 0;
        for (const auto& [name, v] : runs) {
          if (v.runs < 1) continue;
          sum += v.ns / v.runs;
          n += 1;
        }
        if (i == 0) empty = n > 0 ? sum / n : 0;
        for (const auto& [name, v] : runs) {
          if (v.runs < 1) continue;
          per_call[c.name][name].push_back(v.runs / static_cast<double>(opt.iterations));
          ns_run[c.name][name].push_back(v.ns / v.runs);
          own_run[c.name][name].push_back(v.ns / v.runs - empty);
        }
      }
    }
    for (const auto& c : configs) {
      double total = 0;
      for (const auto& [name, v] : ns_run[c.name]) {
        const double calls = median(per_call[c.name][name]), own = median(own_run[c.name][name]);
        total += own * calls;
        std::printf("%-8s %-40s %-19s %9.3f %8.1f %11.1f %12.1f\n", w.c_str(), c.name.c_str(), name.c_str(), calls,
                    median(v), own, own * calls);
      }
      if (!ns_run[c.name].empty())
        std::printf("%-8s %-40s %-19s %9s %8s %11s %12.1f\n", w.c_str(), c.name.c_str(), "(all)", "", "", "", total);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  std::printf(
      "runs/call: runs per syscall of the workload (other processes' syscalls add a little); ns/run: the\n"
      "statistics' run time per run, which includes their own clock reads; own ns/run: that less the mean of\n"
      "the empty programs' in the same round; own ns/call: own ns/run x runs/call, and (all) its sum: the\n"
      "configuration's own work per syscall, apart from the hooks' price, which the machine sets. A program\n"
      "that ran in only some rounds (a context switch program on getppid) has the medians of those.\n");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* flag) -> std::optional<std::string> {
      const std::string f = std::string(flag) + "=";
      if (a.rfind(f, 0) == 0) return a.substr(f.size());
      return std::nullopt;
    };
    if (auto v = val("--rounds")) {
      o.rounds = std::stoi(*v);
    } else if (auto v2 = val("--iterations")) {
      o.iterations = std::stol(*v2);
    } else if (auto v3 = val("--threads")) {
      o.threads = {std::stoi(*v3)};
    } else if (auto v4 = val("--workload")) {
      if (*v4 != "getppid" && *v4 != "read" && *v4 != "pipe") {
        std::fprintf(stderr, "syslens-bench: --workload is getppid, read or pipe\n");
        std::exit(2);
      }
      o.workloads = {*v4};
    } else if (auto v5 = val("--sample-every")) {
      const long n = std::stol(*v5);
      if (n < 1 || n > (1L << 20)) {
        std::fprintf(stderr, "syslens-bench: --sample-every is 1 to 1048576\n");
        std::exit(2);
      }
      o.sample_every = static_cast<std::uint32_t>(n);
    } else if (a == "--no-peers") {
      o.peers = false;
    } else if (a == "--per-round") {
      o.per_round = true;
    } else if (a == "--hold=floor") {
      o.hold = true;
    } else if (a == "--programs=only") {
      o.micro = false;
    } else if (a == "--programs=no") {
      o.programs = false;
    } else {
      std::fprintf(stderr,
                   "usage: syslens-bench [--rounds=N] [--iterations=N] [--threads=N] [--workload=getppid|read|pipe] "
                   "[--sample-every=N] [--no-peers] [--per-round] [--programs=only|no] [--hold=floor]\n");
      std::exit(2);
    }
  }
  if (o.rounds < 1 || o.iterations < 1000) {
    std::fprintf(stderr, "syslens-bench: --rounds >= 1 and --iterations >= 1000\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  if (::geteuid() != 0) {
    std::fprintf(stderr, "syslens-bench: needs root to load BPF programs\n");
    return 4;
  }
  route_libbpf_logs_to_spdlog();
  spdlog::set_level(spdlog::level::warn);
  if (opt.hold) {
    // For the macro bench: the floor's empty programs on the host while
    // another program measures; "attached" on stdout, detached when stdin
    // closes (also when the caller dies).
    std::unique_ptr<EmptyPrograms> floor;
    try {
      floor = std::make_unique<EmptyPrograms>(true);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "syslens-bench: %s\n", e.what());
      return 1;
    }
    std::printf("attached\n");
    std::fflush(stdout);
    char c;
    while (::read(0, &c, 1) > 0) {
    }
    return 0;
  }

  const std::string enter_exit = "floor: empty enter+exit", enter = "floor: empty enter";
  const std::string default_mode = "syslens full, 1 in " + std::to_string(opt.sample_every) + " timed" +
                                   (opt.sample_every == syslens::kDefaultLatencySampleEvery ? " (default)" : "");
  std::vector<BenchConfig> configs = {
      {"none", "", [] { return std::unique_ptr<Attached>(); }},
      {enter_exit, "", [] { return std::unique_ptr<Attached>(new EmptyPrograms(true)); }},
      {enter, "", [] { return std::unique_ptr<Attached>(new EmptyPrograms(false)); }},
      {"floor + clock reads", enter_exit,
       [] { return std::unique_ptr<Attached>(new EmptyPrograms(true, EmptyPrograms::Kind::clock)); }},
      {default_mode, enter_exit,
       [n = opt.sample_every] { return std::unique_ptr<Attached>(new Syslens(Mode::full, n)); }},
      {"syslens full, every call timed", "floor + clock reads",
       [] { return std::unique_ptr<Attached>(new Syslens(Mode::full, 1)); }},
      {"syslens count-only", enter, [] { return std::unique_ptr<Attached>(new Syslens(Mode::count)); }},
      // bpf.current_task: the default (by kernel stack) against the other
      // two ways. Where the kernel lacks bpf_rdonly_cast (before 6.2) all
      // three are the helper's.
      {"syslens count-only, current_task: switch", enter,
       [] {
         return std::unique_ptr<Attached>(
             new Syslens(Mode::count, syslens::kDefaultLatencySampleEvery, syslens::CurrentTask::from_switch));
       }},
      {"syslens count-only, current_task: helper", enter,
       [] {
         return std::unique_ptr<Attached>(
             new Syslens(Mode::count, syslens::kDefaultLatencySampleEvery, syslens::CurrentTask::helper));
       }},
  };
  // Peers, keyed like syslens (cgroup and syscall) where the tool can.
  std::vector<std::string> skipped;
  if (opt.peers) {
    mount_tracefs();
    if (on_path("bpftrace")) {
      configs.push_back(
          {"bpftrace count()", enter, [] {
             return tool({"bpftrace", "-e", "tracepoint:raw_syscalls:sys_enter { @[cgroup, args->id] = count(); }"}, 1);
           }});
      configs.push_back(
          {"bpftrace latency hist()", enter_exit, [] {
             return tool({"bpftrace", "-e",
                          "tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; } "
                          "tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @[cgroup, args->id] = hist(nsecs - @s[tid]); "
                          "delete(@s[tid]); }"},
                         2);
           }});
    } else {
      skipped.push_back("bpftrace: not installed");
    }
    std::string why;
    if (auto prefix = bcc_prefix(why)) {
      auto with = [p = *prefix](std::vector<std::string> a) {
        std::vector<std::string> all = p;
        all.insert(all.end(), a.begin(), a.end());
        return all;
      };
      configs.push_back({"bcc syscount", enter, [with] { return tool(with({"syscount-bpfcc"}), 1); }});  // exit only
      configs.push_back({"bcc syscount -L", enter_exit, [with] { return tool(with({"syscount-bpfcc", "-L"}), 2); }});
    } else {
      skipped.push_back("bcc syscount: " + why);
    }
  }

  utsname u{};
  ::uname(&u);
  std::printf("syslens-bench: %d rounds x %ld syscalls per thread, interleaved; kernel %s\n", opt.rounds,
              opt.iterations, u.release);
  if (opt.micro) {
    std::printf("\n%-8s %-3s %-40s %10s %17s %10s %14s %10s %10s\n", "syscall", "thr", "configuration", "ns/call",
                "spread (min-max)", "added ns", "x floor added", "best added", "x floor");

    for (const auto& w : opt.workloads) {
      for (int nt : opt.threads) {
        std::map<std::string, std::vector<double>> ns, added;
        std::map<std::string, std::vector<double>> paired_floor;  // per round: the floor's added, measured beside
        const auto run = [&](const std::string& name) {
          const auto& c = *std::find_if(configs.begin(), configs.end(), [&](const auto& x) { return x.name == name; });
          auto attached = c.attach();
          measure(w, nt, opt.iterations / 10);  // warm up
          return measure(w, nt, opt.iterations);
        };
        for (int r = 0; r < opt.rounds; ++r) {
          // Each configuration is measured between two measurements of "none"
          // and its added time taken against their mean; one compared with a
          // floor has that floor measured again beside it, between the same
          // two, in alternating order. The machine's slow phases last seconds,
          // longer than a round, and scale every overhead: only a baseline and
          // a floor measured a fraction of a second away are comparable.
          double last_none = measure(w, nt, opt.iterations);
          for (std::size_t i = 0; i < configs.size(); ++i) {
            const auto& c = configs[(i + static_cast<std::size_t>(r)) % configs.size()];
            if (c.name == "none") continue;
            double v = 0, floor = 0;
            if (c.floor.empty()) {
              v = run(c.name);
            } else if (r % 2 == 0) {
              floor = run(c.floor);
              v = run(c.name);
            } else {
              v = run(c.name);
              floor = run(c.floor);
            }
            const double after = measure(w, nt, opt.iterations);
            const double base = (last_none + after) / 2;
            ns[c.name].push_back(v);
            ns["none"].push_back(after);
            added[c.name].push_back(v - base);
            if (!c.floor.empty()) paired_floor[c.name].push_back(floor - base);
            if (opt.per_round && !c.floor.empty())
              std::fprintf(stderr, "%s %d r%d %-40s none %.1f %.1f cfg %.1f floor %.1f ratio %.2f\n", w.c_str(), nt, r,
                           c.name.c_str(), last_none, after, v, floor, (v - base) / (floor - base));
            last_none = after;
          }
        }
        auto best = [&](const std::string& name) {
          return *std::min_element(ns[name].begin(), ns[name].end()) -
                 *std::min_element(ns["none"].begin(), ns["none"].end());
        };
        for (const auto& c : configs) {
          const auto& v = ns[c.name];
          const double add = median(added[c.name]);
          char ratio[32] = "", best_ratio[32] = "";
          if (!c.floor.empty()) {
            std::snprintf(ratio, sizeof(ratio), "%.2fx", add / median(paired_floor[c.name]));
            std::snprintf(best_ratio, sizeof(best_ratio), "%.2fx", best(c.name) / best(c.floor));
          }
          char spread[32];
          std::snprintf(spread, sizeof(spread), "%.0f-%.0f", *std::min_element(v.begin(), v.end()),
                        *std::max_element(v.begin(), v.end()));
          std::printf("%-8s %-3d %-40s %10.1f %17s %10.1f %14s %10.1f %10s\n", w.c_str(), nt, c.name.c_str(), median(v),
                      spread, c.name == "none" ? 0.0 : add, ratio, c.name == "none" ? 0.0 : best(c.name), best_ratio);
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
    for (const auto& s : skipped) std::printf("not measured: %s\n", s.c_str());
    std::printf(
        "ns/call: median over rounds of the fastest of %d chunks; added ns: median over rounds of config minus\n"
        "the mean of the two \"none\" measured just before and after it; x floor added: added ns / added ns of\n"
        "its floor (full: enter+exit, count: enter), measured beside it in each round.\n",
        kChunks);
  }
  if (opt.programs) {
    std::printf("\n");
    try {
      // The floor's empty programs first, then what does work on top of
      // them: the one helper call, the clock reads, syslens, the peers.
      std::vector<BenchConfig> programs = {
          *std::find_if(configs.begin(), configs.end(), [&](const auto& c) { return c.name == enter_exit; }),
          {"floor + one helper call on enter", "",
           [] { return std::unique_ptr<Attached>(new EmptyPrograms(false, EmptyPrograms::Kind::helper)); }}};
      for (const auto& c : configs) {
        if (c.name != "none" && c.name != enter_exit && c.name != enter) programs.push_back(c);
      }
      where_the_time_goes(opt, programs);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "syslens-bench: %s\n", e.what());
      return 1;
    }
  }
  return 0;
}
