// Helpers for the real-kernel and end-to-end tests: fresh cgroups, child
// workloads that run inside them, subprocesses, an HTTP GET, exposition parsing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace syslens::test {

// Skips the test with a clear message unless running as root.
#define SYSLENS_REQUIRE_ROOT()                                                                      \
  do {                                                                                              \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: real-kernel test (run `make test` as root)"; \
  } while (0)

std::string cgroup2_mount();
int cgroup1_subsys_id(const std::string& controller);

// Whether the running kernel has bpf_rdonly_cast (6.2+): then the enter
// finds the current task without a helper call where bpf.current_task lets
// it (full mode: from context switches; count-only: by kernel stack).
bool kernel_has_rdonly_cast();

// A cgroup v1 hierarchy for the v1 tests. The host's memory hierarchy where
// it has one (v1 and hybrid hosts); on a pure cgroup v2 host, where every
// controller in use is bound to v2, a free controller's (net_cls, freezer,
// ...: v1-only ones nothing enables on v2), mounted for this test process.
struct V1Hierarchy {
  std::string controller;
  std::string mount;
  bool host_has_v1 = false;  // the host itself runs a v1 hierarchy (runtimes place containers there)
};
const V1Hierarchy& v1_hierarchy();

// A fresh cgroup v2 directory, removed (with its children) on destruction.
class TestCgroup {
 public:
  explicit TestCgroup(const std::string& name) : TestCgroup(name, cgroup2_mount()) {}
  // In another hierarchy, e.g. a cgroup v1 controller's mount.
  TestCgroup(const std::string& name, const std::string& mount);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  const std::string& dir() const { return dir_; }    // absolute directory
  const std::string& path() const { return path_; }  // relative to the v2 root
  std::uint64_t id() const { return id_; }
  void add(pid_t pid) const;

 private:
  std::string dir_, path_;
  std::uint64_t id_ = 0;
};

std::string cgroup2_mount();

// Forks a child that waits until it has been moved into cg, then runs fn and
// exits with exit_group(fn's return value) without any other syscall. The
// wait happens in a read() entered before the move, so the only syscalls the
// cgroup sees are fn's own and the final exit_group. Returns the exit status.
int run_in_cgroup(const TestCgroup& cg, const std::function<int()>& fn);
// The same for any cgroup directory (absolute).
int run_in_cgroup_dir(const std::string& dir, const std::function<int()>& fn);

struct ProcessResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out, err;
};

// Runs argv with a timeout, capturing stdout and stderr.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms = 30000,
                          const std::string& stdin_text = "");

// A process running in the background; killed (SIGKILL) if still running on
// destruction.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv);
  ~Background();
  pid_t pid() const { return pid_; }
  // Sends sig and waits up to timeout_ms; returns the exit code (128+signal).
  int stop(int sig, int timeout_ms = 10000);
  // What it wrote to stderr and stdout so far (files in a temp dir).
  std::string err() const;
  std::string out() const;
  bool running();

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  int status_ = -1;
};

std::uint16_t free_port();

// A file's whole content ("" when it cannot be read).
std::string slurp(const std::string& path);

// GET http://127.0.0.1:port/target. nullopt when nothing answers.
struct HttpResult {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
};
std::optional<HttpResult> http_get(std::uint16_t port, const std::string& target, const std::string& method = "GET",
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Polls until GET /-/ready answers 200 or timeout.
bool wait_ready(std::uint16_t port, int timeout_ms = 20000);

// Stops a syslensd with SIGTERM (its shutdown path runs under its own seccomp
// filter too) and fails the current test if its log says the filter refused
// a syscall on any path the test took.
void stop_and_expect_no_seccomp_refusal(Background& daemon);

// One sample of the text exposition format.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  // A label's value; "" when absent (to Prometheus the same as empty, and
  // syslensd leaves empty labels out).
  std::string label(const std::string& n) const {
    auto it = labels.find(n);
    return it == labels.end() ? std::string() : it->second;
  }
};
std::vector<Sample> parse_exposition(const std::string& text);

// Every counter sample of a series of scrapes (counters, and histograms
// and summaries' _bucket, _sum and _count), checked to never go down from
// one scrape to the next. `only`, if set, limits the check to the families
// whose name starts with one of these prefixes.
class CounterWatch {
 public:
  explicit CounterWatch(std::vector<std::string> only = {}) : only_(std::move(only)) {}
  // Compares text's counter samples with the previous scrape's; returns the
  // number of samples compared.
  std::size_t scrape(const std::string& text);
  // "name{labels} a -> b" for each sample that went down.
  const std::vector<std::string>& decreases() const { return decreases_; }
  // The first n of them, one per line, for a failure message.
  std::string first_decreases(std::size_t n = 10) const;

 private:
  std::vector<std::string> only_;
  std::map<std::string, double> last_;
  std::vector<std::string> decreases_;
};

// Sum of the values of samples named `name` whose labels include `match`.
double sum_samples(const std::vector<Sample>& s, const std::string& name,
                   const std::map<std::string, std::string>& match);

// A daemon config for tests: the maps not pinned, so tests do not share
// counts through /sys/fs/bpf/syslens, and every call timed, so latency
// counts are exact (unless yaml sets bpf.pin_path or bpf.latency_sample_every
// itself).
std::string test_daemon_config(const std::string& yaml);

// A fresh pin directory path on the bpffs at /sys/fs/bpf (mounted there
// first if nothing is, as systemd does on hosts), for one test; removed with
// its pinned maps when the object goes.
class TestPinDir {
 public:
  TestPinDir();
  ~TestPinDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string build_dir();   // $SYSLENS_BUILD_DIR, else the build tree the tests were built in
std::string source_dir();  // $SYSLENS_SOURCE_DIR, else the source tree

}  // namespace syslens::test
