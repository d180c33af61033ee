// syslens-bench: nanoseconds each configuration adds to a syscall.
//
// Interleaved rounds: every round measures every configuration once, in a
// rotating order, so slow phases of a noisy machine hit them all alike. The
// table shows medians over rounds, the spread, the overhead added over "none"
// in the same round, and that overhead as a ratio to the floor (empty
// programs on the same hooks).
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_empty.skel.h"
#include "syscall_probes.h"
#include "syslens/errors.h"

using namespace syslens;

namespace {

struct Options {
  int rounds = 7;
  long iterations = 1'000'000;  // syscalls per thread per measurement
  std::vector<int> threads = {1, static_cast<int>(std::thread::hardware_concurrency())};
  std::vector<std::string> workloads = {"getppid", "read"};
};

// An attached configuration; destroyed = detached.
struct Attached {
  virtual ~Attached() = default;
};

struct EmptyPrograms final : Attached {
  explicit EmptyPrograms(bool with_exit) {
    skel = bench_empty__open();
    if (!skel) throw std::runtime_error("open empty programs");
    bpf_program__set_autoload(skel->progs.empty_exit, with_exit);
    if (bench_empty__load(skel)) throw std::runtime_error("load empty programs");
    links.push_back(bpf_program__attach(skel->progs.empty_enter));
    if (with_exit) links.push_back(bpf_program__attach(skel->progs.empty_exit));
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
  explicit Syslens(Mode m) {
    ProbeOptions o;
    o.mode = m;
    probes = std::make_unique<SyscallProbes>(o);
  }
  std::unique_ptr<SyscallProbes> probes;
};

struct BenchConfig {
  std::string name;
  std::string floor;  // the configuration whose overhead this one is compared with
  std::function<std::unique_ptr<Attached>()> attach;
};

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
      char c;
      const bool read1 = workload == "read";
      ++ready;
      while (!go.load()) {
      }
      const auto t0 = std::chrono::steady_clock::now();
      for (long i = 0; i < iterations; ++i) {
        if (read1) {
          ::syscall(SYS_read, fd, &c, 1);
        } else {
          ::syscall(SYS_getppid);
        }
      }
      const auto t1 = std::chrono::steady_clock::now();
      ns[static_cast<std::size_t>(t)] =
          std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(iterations);
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
      o.workloads = {*v4};
    } else {
      std::fprintf(stderr,
                   "usage: syslens-bench [--rounds=N] [--iterations=N] [--threads=N] [--workload=getppid|read]\n");
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

  const std::vector<BenchConfig> configs = {
      {"none", "", [] { return std::unique_ptr<Attached>(); }},
      {"floor: empty enter+exit", "", [] { return std::unique_ptr<Attached>(new EmptyPrograms(true)); }},
      {"floor: empty enter", "", [] { return std::unique_ptr<Attached>(new EmptyPrograms(false)); }},
      {"syslens full", "floor: empty enter+exit", [] { return std::unique_ptr<Attached>(new Syslens(Mode::full)); }},
      {"syslens count-only", "floor: empty enter",
       [] { return std::unique_ptr<Attached>(new Syslens(Mode::count)); }},
  };

  std::printf("syslens-bench: %d rounds x %ld syscalls per thread, interleaved; kernel ", opt.rounds, opt.iterations);
  std::fflush(stdout);
  std::system("uname -r");
  std::printf("\n%-8s %-3s %-26s %10s %17s %10s %14s\n", "syscall", "thr", "configuration", "ns/call", "spread (min-max)",
              "added ns", "x floor added");

  for (const auto& w : opt.workloads) {
    for (int nt : opt.threads) {
      std::map<std::string, std::vector<double>> ns, added;
      for (int r = 0; r < opt.rounds; ++r) {
        std::map<std::string, double> round;
        for (std::size_t i = 0; i < configs.size(); ++i) {
          const auto& c = configs[(i + static_cast<std::size_t>(r)) % configs.size()];
          auto attached = c.attach();
          measure(w, nt, opt.iterations / 10);  // warm up
          round[c.name] = measure(w, nt, opt.iterations);
        }
        for (const auto& [name, v] : round) {
          ns[name].push_back(v);
          added[name].push_back(v - round["none"]);
        }
      }
      for (const auto& c : configs) {
        const auto& v = ns[c.name];
        const double add = median(added[c.name]);
        char ratio[32] = "";
        if (!c.floor.empty()) std::snprintf(ratio, sizeof(ratio), "%.2fx", add / median(added[c.floor]));
        char spread[32];
        std::snprintf(spread, sizeof(spread), "%.0f-%.0f", *std::min_element(v.begin(), v.end()),
                      *std::max_element(v.begin(), v.end()));
        std::printf("%-8s %-3d %-26s %10.1f %17s %10.1f %14s\n", w.c_str(), nt, c.name.c_str(), median(v), spread,
                    c.name == "none" ? 0.0 : add, ratio);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  std::printf("ns/call: median over rounds; added ns: median of (config - none) within a round;\n"
              "x floor added: added ns / added ns of the floor on the same hooks (full: enter+exit, count: enter).\n");
  return 0;
}
