// Workload attribution with real container runtimes: runc, dockerd +
// containerd, containerd's CRI plugin driven by a CRI client of ours, podman,
// and a systemd-style service cgroup. Each container runs `marker N`, which
// makes exactly N ioprio_get calls, so every count is exact.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cri_runtime_v1.grpc.pb.h"
#include "syslens/kernel/mountinfo.h"
#include "syslens/http_util.h"
#include "test_support.h"

using namespace syslens::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string hex_id() {
  static std::mt19937_64 rng(std::random_device{}());
  char buf[65];
  for (int i = 0; i < 4; ++i) std::snprintf(buf + i * 16, 17, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(buf, 64);
}

std::string uuid() {
  auto h = hex_id();
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) + "-" +
         h.substr(20, 12);
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// A scratch directory, removed at the end.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name)
      : dir(fs::temp_directory_path() / ("syslens-ct-" + std::to_string(::getpid()) + "-" + name)) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    // Runtimes leave mounts below their state directories (podman's overlay
    // home, a failed test's rootfs): detach them, deepest first, so the
    // directory really goes and nothing piles up run after run.
    std::vector<std::string> mounts;
    std::ifstream in("/proc/self/mounts");
    for (std::string dev, mnt, rest; in >> dev >> mnt && std::getline(in, rest);) {
      if (mnt.rfind(dir.string(), 0) == 0) mounts.push_back(mnt);
    }
    std::sort(mounts.rbegin(), mounts.rend());
    for (const auto& m : mounts) ::umount2(m.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// A busybox rootfs with the marker at /marker.
void make_rootfs(const fs::path& root) {
  for (const char* d : {"bin", "proc", "sys", "dev", "tmp", "etc"}) fs::create_directories(root / d);
  fs::copy_file("/bin/busybox", root / "bin/busybox", fs::copy_options::overwrite_existing);
  for (const char* a : {"sh", "sleep", "cat", "true"}) fs::create_symlink("busybox", root / "bin" / a);
  fs::copy_file(build_dir() + "/tests/containers/marker", root / "marker", fs::copy_options::overwrite_existing);
  write(root / "etc/passwd", "root:x:0:0:root:/:/bin/sh\n");
}

void run_ok(const std::vector<std::string>& argv, int timeout_ms = 60000, const std::string& in = "") {
  auto r = run_process(argv, timeout_ms, in);
  ASSERT_EQ(r.exit_code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ": " << r.out << r.err;
}

bool wait_for_socket(const fs::path& p, Background& owner, int timeout_ms = 30000) {
  for (int i = 0; i < timeout_ms / 50; ++i) {
    if (fs::exists(p)) return true;
    if (!owner.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

class Daemon {
 public:
  explicit Daemon(const std::string& yaml) : port_(free_port()) {
    config_ = fs::temp_directory_path() / ("syslens-ct-" + std::to_string(::getpid()) + ".yaml");
    write(config_, test_daemon_config(yaml));
    proc_ = std::make_unique<Background>(std::vector<std::string>{
        build_dir() + "/daemon/syslensd", "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--web.api-socket",
        "", "--config.file=" + config_.string()});
    ready_ = wait_ready(port_);
  }
  ~Daemon() {
    stop_and_expect_no_seccomp_refusal(*proc_);
    fs::remove(config_);
  }
  bool ready() const { return ready_; }
  std::string log() const { return proc_->err(); }
  bool running() { return proc_->running(); }
  std::uint16_t port() const { return port_; }
  std::vector<Sample> scrape() {
    auto r = http_get(port_, "/metrics");
    if (!r || r->status != 200) return {};
    if (watch) watch->scrape(r->body);
    return parse_exposition(r->body);
  }
  // When set, every scrape's counters are checked against the previous one.
  CounterWatch* watch = nullptr;
  json attribution(const std::string& cgroup) {
    auto r = http_get(port_, "/api/v1/attribution?cgroup=" + cgroup);
    return r ? json::parse(r->body, nullptr, false) : json();
  }
  // The sum of a family's samples for a container and syscall (and errno),
  // once it reaches `n` or after a timeout.
  double container_value(const std::string& family, const std::string& container_id, const std::string& syscall,
                         const std::string& err, double n) {
    double v = 0;
    for (int i = 0; i < 200; ++i) {
      v = 0;
      for (const auto& s : scrape()) {
        if (s.name == family && s.label("container_id") == container_id && s.label("syscall") == syscall &&
            (err.empty() || s.label("errno") == err)) {
          v += s.value;
        }
      }
      if (v >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return v;
  }
  // Each container that calls mkdir 7 times under a profile that refuses it:
  // 7 denials with EPERM, 7 calls, 7 failures, under its own labels.
  void expect_seven_denied_mkdirs(const std::string& container_id) {
    EXPECT_EQ(container_value("syslens_seccomp_denied_total", container_id, "mkdir", "EPERM", 7), 7);
    EXPECT_EQ(container_value("syslens_syscall_errors_total", container_id, "mkdir", "EPERM", 7), 7);
    EXPECT_EQ(container_value("syslens_syscalls_total", container_id, "mkdir", "", 7), 7);
  }
  // The series of a container's marker calls once all `n` are in (and, with
  // named, its container label is filled), or after a timeout: labels, count.
  std::pair<std::map<std::string, std::string>, double> marker_series(const std::string& container_id, double n,
                                                                      bool named = true) {
    std::pair<std::map<std::string, std::string>, double> found;
    for (int i = 0; i < 200; ++i) {
      found = {};
      for (const auto& s : scrape()) {
        if (s.name == "syslens_syscalls_total" && s.label("syscall") == "ioprio_get" &&
            s.label("container_id") == container_id) {
          found.first = s.labels;
          found.second += s.value;
        }
      }
      if (found.second >= n && (!named || !found.first["container"].empty())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return found;
  }

 private:
  std::uint16_t port_;
  fs::path config_;
  std::unique_ptr<Background> proc_;
  bool ready_ = false;
};

// Removes the empty cgroup directories a runtime leaves under rel (leaf
// first) in every hierarchy, v2 and v1; directories still in use stay.
void remove_empty_cgroups(const std::string& rel) {
  std::ifstream in("/proc/self/mountinfo");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  for (const auto& m : syslens::parse_mountinfo(text)) {
    if (m.fstype != "cgroup" && m.fstype != "cgroup2") continue;
    const fs::path top = m.mount_point + rel;
    std::vector<fs::path> dirs;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(top, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) ::rmdir(it->c_str());
    ::rmdir(top.c_str());
  }
}

// Starts a runc container from a busybox bundle running `marker args...`,
// in the cgroup at cgroups_path.
void runc_run(const Scratch& s, const std::string& id, const std::string& cgroups_path,
              const std::vector<std::string>& args) {
  make_rootfs(s.dir / "rootfs");
  run_ok({"runc", "spec", "--bundle", s.dir.string()});
  json spec = json::parse(std::ifstream(s.dir / "config.json"));
  spec["process"]["terminal"] = false;
  spec["process"]["args"] = args;
  // The default rlimits cannot be set on this kind of machine.
  spec["process"]["rlimits"] = json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}});
  spec["linux"]["cgroupsPath"] = cgroups_path;
  write(s.dir / "config.json", spec.dump());
  run_ok({"runc", "run", "-d", "--bundle", s.dir.string(), "--pid-file", (s.dir / "pid").string(), id});
}

void runc_remove(const std::string& id) {
  run_process({"runc", "kill", id, "KILL"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  run_process({"runc", "delete", "-f", id});
}

constexpr const char* kNoRuntimes = "runtimes:\n  docker_socket: \"\"\n  cri_sockets: []\n";

// A seccomp profile that allows everything but mkdir, which fails with EPERM
// (Docker's and podman's format; runc takes the same object in config.json).
const json kNoMkdir = {
    {"defaultAction", "SCMP_ACT_ALLOW"},
    {"syscalls", json::array({{{"names", {"mkdir"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}})}};

}  // namespace

// runc with a Kubernetes-style cgroup path (systemd slice naming): the
// container id and pod UID come from the path alone.
TEST(Containers, RuncContainerInAKubernetesStylePath) {
  SYSLENS_REQUIRE_ROOT();
  Daemon d(kNoRuntimes);
  ASSERT_TRUE(d.ready()) << d.log();
  Scratch s("runc");
  const std::string id = hex_id(), pod_uid = uuid();
  std::string uid_ = pod_uid;
  std::replace(uid_.begin(), uid_.end(), '-', '_');
  const std::string parents = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid_ + ".slice";
  const std::string path = parents + "/cri-containerd-" + id + ".scope";
  runc_run(s, id, path, {"/marker", "777", "30"});

  auto [labels, n] = d.marker_series(id, 777, /*named=*/false);
  EXPECT_EQ(n, 777);
  EXPECT_EQ(labels["cgroup"], path);
  EXPECT_EQ(labels["unit"], "cri-containerd-" + id + ".scope");
  const json a = d.attribution(path);
  EXPECT_EQ(a["identity"]["container_id"], id) << a.dump();
  EXPECT_EQ(a["identity"]["pod_uid"], pod_uid) << a.dump();
  EXPECT_EQ(a["identity"]["runtime"], "containerd");
  EXPECT_EQ(a["identity"]["qos"], "besteffort");
  EXPECT_NE(a["rule"].get<std::string>().find("cri-containerd"), std::string::npos);

  runc_remove(id);
  remove_empty_cgroups("/kubepods.slice");
}

// The same container on a cgroup v1 hierarchy: runc creates the path in
// every v1 hierarchy too, and syslens keyed by the memory hierarchy finds it.
// Only a host that runs v1 hierarchies (v1 or hybrid) makes runc do that; on
// a pure v2 host the VM tier's cgroup v1 boot runs this test (vm.v1.*).
TEST(Containers, RuncContainerAttributedThroughCgroupV1) {
  SYSLENS_REQUIRE_ROOT();
  if (!v1_hierarchy().host_has_v1) {
    GTEST_SKIP() << "pure cgroup v2 host: runc places containers in no v1 hierarchy here; the VM tier boots "
                    "with systemd.unified_cgroup_hierarchy=0 and runs this test there";
  }
  Daemon d(std::string(kNoRuntimes) + "cgroup:\n  v1_controller: memory\n");
  ASSERT_TRUE(d.ready()) << d.log();
  Scratch s("runc-v1");
  const std::string id = hex_id(), pod_uid = uuid();
  const std::string path = "/kubepods/burstable/pod" + pod_uid + "/" + id;
  runc_run(s, id, path, {"/marker", "654", "30"});
  auto [labels, n] = d.marker_series(id, 654, /*named=*/false);
  EXPECT_EQ(n, 654);
  EXPECT_EQ(labels["cgroup"], path);
  const json a = d.attribution(path);
  EXPECT_EQ(a["identity"]["pod_uid"], pod_uid) << a.dump();
  EXPECT_EQ(a["identity"]["qos"], "burstable");
  bool v1 = false;
  for (const auto& smp : d.scrape()) {
    if (smp.name == "syslens_bpf_info") v1 = smp.label("cgroup_hierarchy") == "v1:memory";
  }
  EXPECT_TRUE(v1);
  runc_remove(id);
  remove_empty_cgroups("/kubepods");
}

// The seccomp profile syslens writes for a workload, put back into the same
// container's config.json: the workload runs again, and a syscall outside
// the profile fails with EPERM.
TEST(Containers, GeneratedSeccompProfileRunsTheWorkloadAndDeniesTheRest) {
  SYSLENS_REQUIRE_ROOT();
  Daemon d(kNoRuntimes);
  ASSERT_TRUE(d.ready()) << d.log();
  Scratch s("seccomp");
  make_rootfs(s.dir / "rootfs");
  run_ok({"runc", "spec", "--bundle", s.dir.string()});
  const json base = json::parse(std::ifstream(s.dir / "config.json"));
  const std::vector<std::string> workload = {"/bin/sh", "-c",
                                             "/marker 5 0 && cat /etc/passwd >/dev/null && echo done >/tmp/out"};
  // Foreground runs: runc returns the workload's exit code.
  auto run = [&](const std::string& id, const std::vector<std::string>& args, const json* seccomp) {
    json spec = base;
    spec["process"]["terminal"] = false;
    spec["process"]["args"] = args;
    spec["process"]["rlimits"] = json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}});
    spec["root"]["readonly"] = false;
    spec["linux"]["cgroupsPath"] = "/syslens-seccomp/" + id;
    if (seccomp) spec["linux"]["seccomp"] = *seccomp;
    write(s.dir / "config.json", spec.dump());
    auto r = run_process({"runc", "run", "--bundle", s.dir.string(), id}, 60000);
    run_process({"runc", "delete", "-f", id});
    return r;
  };
  const std::string observed = hex_id();
  auto first = run(observed, workload, nullptr);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;

  // The profile of what that container did (its cgroup is gone by now).
  auto r = http_get(d.port(), "/api/v1/workloads/" + observed + "/seccomp?format=oci");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200U) << r->body;
  const json profile = json::parse(r->body);
  const auto names = profile["syscalls"][0]["names"].get<std::vector<std::string>>();
  for (const char* seen : {"ioprio_get", "execve", "openat", "read"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), seen), names.end()) << seen;
  }
  ASSERT_EQ(std::find(names.begin(), names.end(), "sysinfo"), names.end());
  EXPECT_EQ(profile["defaultAction"], "SCMP_ACT_ERRNO");

  auto again = run(hex_id(), workload, &profile);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  auto probe = run(hex_id(), {"/marker", "5", "0", "probe"}, &profile);
  EXPECT_EQ(probe.exit_code, EPERM) << probe.out << probe.err;
  auto unconfined = run(hex_id(), {"/marker", "5", "0", "probe"}, nullptr);
  EXPECT_EQ(unconfined.exit_code, 0) << "sysinfo itself must work without the profile";

  remove_empty_cgroups("/syslens-seccomp");
}

// Generated profiles refuse the syscalls libc probes with ENOSYS, which libc
// takes for "not here" and falls back from; EPERM would make the call fail.
// The profile of the marker forking (observed on the host: a container's
// own runtime makes clone3) allows clone but not clone3. Under it, in a runc
// container, glibc's pthread_create tries clone3, gets ENOSYS, falls back to
// clone, and the thread starts; with EPERM for clone3 instead (the rule
// taken out), pthread_create fails with EPERM.
TEST(Containers, GeneratedProfilesRefuseLibcFallbacksWithEnosys) {
  SYSLENS_REQUIRE_ROOT();
  Daemon d(kNoRuntimes);
  ASSERT_TRUE(d.ready()) << d.log();
  TestCgroup cg("fallback");
  const std::string marker = build_dir() + "/tests/containers/marker";
  ASSERT_EQ(run_in_cgroup(cg,
                          [&] {
                            const char* argv[] = {marker.c_str(), "5", "0", "fork", nullptr};
                            ::execv(argv[0], const_cast<char* const*>(argv));
                            return 127;
                          }),
            0);
  auto r = http_get(d.port(), "/api/v1/workloads/" + syslens::url_encode(cg.path()) + "/seccomp?format=oci");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200U) << r->body;
  json profile = json::parse(r->body);
  const auto names = profile["syscalls"][0]["names"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(names.begin(), names.end(), "clone"), names.end()) << r->body;
  EXPECT_EQ(std::find(names.begin(), names.end(), "clone3"), names.end()) << r->body;
  ASSERT_EQ(profile["syscalls"].size(), 2U) << r->body;
  EXPECT_EQ(profile["syscalls"][1]["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(profile["syscalls"][1]["errnoRet"], ENOSYS);
  const auto enosys = profile["syscalls"][1]["names"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(enosys.begin(), enosys.end(), "clone3"), enosys.end()) << r->body;

  Scratch s("fallback");
  make_rootfs(s.dir / "rootfs");
  run_ok({"runc", "spec", "--bundle", s.dir.string()});
  const json base = json::parse(std::ifstream(s.dir / "config.json"));
  auto run = [&](const json& seccomp) {
    const std::string id = hex_id();
    json spec = base;
    spec["process"]["terminal"] = false;
    spec["process"]["args"] = {"/marker", "0", "0", "thread"};
    spec["process"]["rlimits"] = json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}});
    spec["linux"]["cgroupsPath"] = "/syslens-fallback/" + id;
    spec["linux"]["seccomp"] = seccomp;
    write(s.dir / "config.json", spec.dump());
    auto res = run_process({"runc", "run", "--bundle", s.dir.string(), id}, 60000);
    run_process({"runc", "delete", "-f", id});
    return res;
  };
  auto fallback = run(profile);
  EXPECT_EQ(fallback.exit_code, 0) << "glibc did not fall back from clone3: " << fallback.out << fallback.err;
  json eperm = profile;
  eperm["syscalls"].erase(1);
  auto refused = run(eperm);
  EXPECT_EQ(refused.exit_code, EPERM) << refused.out << refused.err;
  remove_empty_cgroups("/syslens-fallback");
}

// A runc container whose profile refuses mkdir calls it 7 times: syslens
// counts 7 denials (EPERM) under the container's labels, though not one of
// those calls reached sys_enter.
TEST(Containers, SeccompDenialsOfARuncContainerAreCountedExactly) {
  SYSLENS_REQUIRE_ROOT();
  Daemon d(kNoRuntimes);
  ASSERT_TRUE(d.ready()) << d.log();
  Scratch s("denied");
  make_rootfs(s.dir / "rootfs");
  run_ok({"runc", "spec", "--bundle", s.dir.string()});
  json spec = json::parse(std::ifstream(s.dir / "config.json"));
  const std::string id = hex_id();
  spec["process"]["terminal"] = false;
  spec["process"]["args"] = {"/marker", "3", "2", "mkdir:7"};
  spec["process"]["rlimits"] = json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}});
  spec["linux"]["cgroupsPath"] = "/syslens-denied/" + id;
  json seccomp = kNoMkdir;
  seccomp["architectures"] = {"SCMP_ARCH_X86_64"};
  spec["linux"]["seccomp"] = seccomp;
  write(s.dir / "config.json", spec.dump());
  auto r = run_process({"runc", "run", "--bundle", s.dir.string(), id}, 60000);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  run_process({"runc", "delete", "-f", id});
  d.expect_seven_denied_mkdirs(id);
  remove_empty_cgroups("/syslens-denied");
}

// dockerd + containerd, started privately: `docker run --name X` appears
// with container="X" and its image, from the Docker Engine API.
TEST(Containers, DockerContainerGetsItsNameAndImage) {
  SYSLENS_REQUIRE_ROOT();
  Scratch s("docker");
  const fs::path run = s.dir / "run";
  fs::create_directories(run);
  Background containerd({"containerd", "--root", (s.dir / "c-root").string(), "--state", (s.dir / "c-state").string(),
                         "--address", (run / "containerd.sock").string()});
  ASSERT_TRUE(wait_for_socket(run / "containerd.sock", containerd)) << containerd.err();
  Background dockerd({"dockerd", "--containerd", (run / "containerd.sock").string(), "--data-root",
                      (s.dir / "d-data").string(), "--exec-root", (s.dir / "d-exec").string(), "-H",
                      "unix://" + (run / "docker.sock").string(), "--pidfile", (s.dir / "docker.pid").string(),
                      "--bridge=none", "--iptables=false", "--ip6tables=false"});
  const std::string dsock = "unix://" + (run / "docker.sock").string();
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    up = run_process({"/usr/bin/docker", "-H", dsock, "version"}, 10000).exit_code == 0;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(up) << dockerd.err();
  make_rootfs(s.dir / "rootfs");
  run_ok({"tar", "-C", (s.dir / "rootfs").string(), "-cf", (s.dir / "bb.tar").string(), "."});
  run_ok({"/usr/bin/docker", "-H", dsock, "import", (s.dir / "bb.tar").string(), "syslens-bb:e2e"});

  TestPinDir pins;  // the image's profile survives a restart
  const std::string yaml = "runtimes:\n  docker_socket: " + (run / "docker.sock").string() +
                           "\n  cri_sockets: []\nbpf:\n  pin_path: " + pins.path() + "\ncgroup:\n  removed_grace: 1s\n";
  auto d = std::make_unique<Daemon>(yaml);
  ASSERT_TRUE(d->ready()) << d->log();
  auto r = run_process({"/usr/bin/docker", "-H", dsock, "run", "-d", "--name", "syslens-web", "--network", "none",
                        "syslens-bb:e2e", "/marker", "555", "30", "probe"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = r.out.substr(0, 64);

  auto [labels, n] = d->marker_series(id, 555);
  EXPECT_EQ(n, 555);
  EXPECT_EQ(labels["container"], "syslens-web");
  EXPECT_EQ(labels["image"], "syslens-bb:e2e");
  EXPECT_EQ(labels["cgroup"], "/docker/" + id);
  EXPECT_EQ(labels["pod"], "");
  const json a = d->attribution("/docker/" + id);
  EXPECT_EQ(a["container"]["metadata"]["source"], "docker:" + (run / "docker.sock").string()) << a.dump();

  // A container run with --security-opt seccomp=FILE whose profile refuses mkdir.
  write(s.dir / "no-mkdir.json", kNoMkdir.dump());
  auto denied = run_process({"/usr/bin/docker", "-H", dsock, "run", "-d", "--name", "syslens-denied", "--network",
                             "none", "--security-opt", "seccomp=" + (s.dir / "no-mkdir.json").string(),
                             "syslens-bb:e2e", "/marker", "3", "30", "mkdir:7"});
  ASSERT_EQ(denied.exit_code, 0) << denied.err;
  const std::string denied_id = denied.out.substr(0, 64);
  d->expect_seven_denied_mkdirs(denied_id);

  // The image's profile: every container of it, the removed one too, across
  // a restart of syslensd. Only syslens-web called sysinfo (its probe).
  run_ok({"/usr/bin/docker", "-H", dsock, "rm", "-f", "syslens-web"});
  double groups = 0;
  for (int i = 0; i < 200 && groups < 1; ++i) {  // reclaimed: 1 s of grace, then at most 0.5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const auto& smp : d->scrape()) {
      if (smp.name == "syslens_workload_groups") groups = smp.value;
    }
  }
  EXPECT_EQ(groups, 1) << "the image's group was not remembered";
  d.reset();
  d = std::make_unique<Daemon>(yaml);
  ASSERT_TRUE(d->ready()) << d->log();
  const auto group = http_get(d->port(), "/api/v1/profiles?group_by=image&group=syslens-bb%3Ae2e");
  ASSERT_TRUE(group && group->status == 200) << (group ? group->body : "no answer");
  const json g = json::parse(group->body);
  EXPECT_EQ(g["live_workloads"], json::array({"container/" + denied_id})) << g.dump();
  std::map<std::string, json> by_name;
  for (const auto& sc : g["syscalls"]) by_name[sc["syscall"].get<std::string>()] = sc;
  EXPECT_EQ(by_name["sysinfo"]["past_members"], true) << g.dump();
  EXPECT_EQ(by_name["mkdir"]["seccomp_denied"], json({{"EPERM", 7}})) << g.dump();
  const auto docker = http_get(d->port(), "/api/v1/profiles?group_by=image&group=syslens-bb%3Ae2e&format=docker");
  ASSERT_TRUE(docker && docker->status == 200);
  const json allowed = json::parse(docker->body)["syscalls"][0]["names"];
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), "sysinfo"), allowed.end()) << allowed.dump();
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), "ioprio_get"), allowed.end()) << allowed.dump();
  EXPECT_EQ(std::find(allowed.begin(), allowed.end(), "mkdir"), allowed.end())
      << "refused each time: " << allowed.dump();
  const auto cli = run_process({build_dir() + "/cli/syslens", "--address", "127.0.0.1:" + std::to_string(d->port()),
                                "seccomp", "--group-by", "image", "syslens-bb:e2e", "--format", "oci"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("\"sysinfo\""), std::string::npos) << cli.out;
  run_process({"/usr/bin/docker", "-H", dsock, "rm", "-f", "syslens-denied"});
  dockerd.stop(SIGTERM, 20000);
  containerd.stop(SIGTERM, 20000);
  remove_empty_cgroups("/docker");
}

namespace {

// A docker-save style archive containerd can import: one layer, tagged for
// both the sandbox (pause) and the app container.
void make_image_archive(const fs::path& dir, const std::string& tag) {
  make_rootfs(dir / "rootfs");
  run_ok({"tar", "-C", (dir / "rootfs").string(), "-cf", (dir / "layer.tar").string(), "."});
  auto sum = run_process({"sha256sum", (dir / "layer.tar").string()});
  ASSERT_EQ(sum.exit_code, 0) << sum.err;
  const std::string hex = sum.out.substr(0, 64);
  const json config = {{"architecture", "amd64"},
                       {"os", "linux"},
                       {"config", {{"Cmd", {"/marker", "0", "3600"}}}},
                       {"rootfs", {{"type", "layers"}, {"diff_ids", {std::string("sha256:") + hex}}}}};
  write(dir / "config.json", config.dump());
  write(dir / "manifest.json",
        json::array({{{"Config", "config.json"}, {"RepoTags", {tag}}, {"Layers", {"layer.tar"}}}}).dump());
  run_ok({"tar", "-C", dir.string(), "-cf", (dir / "image.tar").string(), "manifest.json", "config.json", "layer.tar"});
}

}  // namespace

// containerd's CRI plugin driven by our own CRI client: a pod sandbox and a
// container show pod, namespace and container from the CRI metadata. On a
// host whose PID 1 is systemd (the VM tier) containerd uses the systemd
// cgroup driver, as the kubelet does there (SystemdCgroup = true): slices and
// a cri-containerd-<id>.scope; elsewhere cgroupfs paths.
TEST(Containers, CriPodAndContainerGetPodNamespaceAndContainer) {
  SYSLENS_REQUIRE_ROOT();
  const bool systemd = fs::exists("/run/systemd/system");
  Scratch s("cri");
  const std::string tag = "syslens.test/bb:e2e";
  make_image_archive(s.dir, tag);
  const fs::path sock = s.dir / "run/containerd.sock";
  fs::create_directories(s.dir / "cni");
  write(s.dir / "config.toml", "version = 2\nroot = \"" + (s.dir / "root").string() + "\"\nstate = \"" +
                                   (s.dir / "state").string() + "\"\n[grpc]\n  address = \"" + sock.string() +
                                   "\"\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"" + tag +
                                   "\"\n  restrict_oom_score_adj = true\n"
                                   "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                                   "    default_runtime_name = \"runc\"\n"
                                   "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                                   "      runtime_type = \"io.containerd.runc.v2\"\n"
                                   "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
                                   "        SystemdCgroup = " +
                                   (systemd ? "true" : "false") +
                                   "\n"
                                   "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n    conf_dir = \"" +
                                   (s.dir / "cni").string() + "\"\n    bin_dir = \"" + (s.dir / "cni").string() +
                                   "\"\n");
  Background containerd({"containerd", "--config", (s.dir / "config.toml").string()});
  ASSERT_TRUE(wait_for_socket(sock, containerd)) << containerd.err();
  run_ok({"ctr", "-a", sock.string(), "-n", "k8s.io", "images", "import", (s.dir / "image.tar").string()});

  Daemon d("runtimes:\n  docker_socket: \"\"\n  cri_sockets: [" + sock.string() + "]\n");
  ASSERT_TRUE(d.ready()) << d.log();

  auto stub = runtime::v1::RuntimeService::NewStub(
      grpc::CreateChannel("unix://" + sock.string(), grpc::InsecureChannelCredentials()));
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return c;
  };
  const std::string pod_uid = uuid();
  std::string slice_uid = pod_uid;
  std::replace(slice_uid.begin(), slice_uid.end(), '-', '_');  // '-' nests systemd slices
  const std::string parent =
      systemd ? "kubepods-besteffort-pod" + slice_uid + ".slice" : "/kubepods/besteffort/pod" + pod_uid;
  runtime::v1::PodSandboxConfig pod;
  pod.mutable_metadata()->set_name("shop-web-0");
  pod.mutable_metadata()->set_namespace_("shop");
  pod.mutable_metadata()->set_uid(pod_uid);
  pod.set_log_directory((s.dir / "logs").string());
  (*pod.mutable_labels())["io.kubernetes.pod.name"] = "shop-web-0";
  (*pod.mutable_labels())["io.kubernetes.pod.namespace"] = "shop";
  (*pod.mutable_labels())["io.kubernetes.pod.uid"] = pod_uid;
  // The labels a StatefulSet's controller gives its pods (the kubelet
  // passes a pod's labels to its sandbox).
  (*pod.mutable_labels())["controller-revision-hash"] = "shop-web-5d8f9c7b6";
  (*pod.mutable_labels())["statefulset.kubernetes.io/pod-name"] = "shop-web-0";
  pod.mutable_linux()->set_cgroup_parent(parent);
  pod.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(runtime::v1::NODE);
  runtime::v1::RunPodSandboxRequest run_req;
  *run_req.mutable_config() = pod;
  runtime::v1::RunPodSandboxResponse run_resp;
  auto st = stub->RunPodSandbox(ctx().get(), run_req, &run_resp);
  ASSERT_TRUE(st.ok()) << st.error_message() << containerd.err().substr(0, 4000);
  const std::string sandbox_id = run_resp.pod_sandbox_id();

  runtime::v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(sandbox_id);
  *create.mutable_sandbox_config() = pod;
  auto* cfg = create.mutable_config();
  cfg->mutable_metadata()->set_name("web");
  cfg->mutable_image()->set_image(tag);
  cfg->add_command("/marker");
  cfg->add_args("333");
  cfg->add_args("60");
  cfg->set_log_path("web.log");
  (*cfg->mutable_labels())["io.kubernetes.container.name"] = "web";
  (*cfg->mutable_labels())["io.kubernetes.pod.name"] = "shop-web-0";
  (*cfg->mutable_labels())["io.kubernetes.pod.namespace"] = "shop";
  (*cfg->mutable_labels())["io.kubernetes.pod.uid"] = pod_uid;
  runtime::v1::CreateContainerResponse created;
  st = stub->CreateContainer(ctx().get(), create, &created);
  ASSERT_TRUE(st.ok()) << st.error_message();
  runtime::v1::StartContainerRequest start;
  start.set_container_id(created.container_id());
  runtime::v1::StartContainerResponse started;
  st = stub->StartContainer(ctx().get(), start, &started);
  ASSERT_TRUE(st.ok()) << st.error_message();

  auto [labels, n] = d.marker_series(created.container_id(), 333);
  EXPECT_EQ(n, 333);
  EXPECT_EQ(labels["container"], "web");
  EXPECT_EQ(labels["pod"], "shop-web-0");
  EXPECT_EQ(labels["namespace"], "shop");
  EXPECT_EQ(labels["image"], tag);
  const std::string cgroup = systemd ? "/kubepods.slice/kubepods-besteffort.slice/" + parent + "/cri-containerd-" +
                                           created.container_id() + ".scope"
                                     : parent + "/" + created.container_id();
  EXPECT_EQ(labels["cgroup"], cgroup);
  // The pause process of the sandbox is the pod's "POD" container.
  bool sandbox_seen = false;
  for (const auto& smp : d.scrape()) {
    if (smp.name == "syslens_syscalls_total" && smp.label("container_id") == sandbox_id) {
      EXPECT_EQ(smp.label("container"), "POD");
      EXPECT_EQ(smp.label("pod"), "shop-web-0");
      sandbox_seen = true;
    }
  }
  EXPECT_TRUE(sandbox_seen);
  const json a = d.attribution(cgroup);
  EXPECT_EQ(a["identity"]["pod_uid"], pod_uid) << a.dump();
  EXPECT_EQ(a["identity"]["qos"], "besteffort") << a.dump();
  EXPECT_EQ(a["container"]["metadata"]["source"], "cri:" + sock.string());
  // The pod's owner, a group of its own: the app container, not the pause.
  const auto owner = http_get(d.port(), "/api/v1/profiles?group_by=owner&group=shop%2Fstatefulset%2Fshop-web");
  ASSERT_TRUE(owner && owner->status == 200) << (owner ? owner->body : "no answer");
  const json o = json::parse(owner->body);
  EXPECT_EQ(o["live_workloads"], json::array({"container/" + created.container_id()})) << o.dump();
  double marker_calls = -1;
  for (const auto& sc : o["syscalls"]) {
    if (sc["syscall"] == "ioprio_get") marker_calls = sc["calls"];
  }
  EXPECT_EQ(marker_calls, 333) << o.dump();

  runtime::v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(sandbox_id);
  runtime::v1::StopPodSandboxResponse stopped;
  stub->StopPodSandbox(ctx().get(), stop, &stopped);
  runtime::v1::RemovePodSandboxRequest rm;
  rm.set_pod_sandbox_id(sandbox_id);
  runtime::v1::RemovePodSandboxResponse removed;
  stub->RemovePodSandbox(ctx().get(), rm, &removed);
  containerd.stop(SIGTERM, 20000);
  if (systemd) {
    run_process({"systemctl", "stop", "kubepods.slice"});
  } else {
    remove_empty_cgroups("/kubepods");
  }
}

// podman (runc, cgroupfs): attributed to its container by the libpod rule.
TEST(Containers, PodmanContainer) {
  SYSLENS_REQUIRE_ROOT();
  Daemon d(kNoRuntimes);
  ASSERT_TRUE(d.ready()) << d.log();
  Scratch s("podman");
  make_rootfs(s.dir / "rootfs");
  write(s.dir / "containers.conf",
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"
        "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n");
  const std::vector<std::string> podman = {"env",
                                           "CONTAINERS_CONF=" + (s.dir / "containers.conf").string(),
                                           "podman",
                                           "--root",
                                           (s.dir / "root").string(),
                                           "--runroot",
                                           (s.dir / "runroot").string()};
  auto argv = podman;
  for (const char* a : {"run", "-d", "--name", "syslens-podman", "--network", "none", "--rootfs"}) argv.push_back(a);
  argv.push_back((s.dir / "rootfs").string());
  for (const char* a : {"/marker", "444", "30"}) argv.push_back(a);
  auto r = run_process(argv, 120000);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string id = r.out.substr(0, 64);
  auto [labels, n] = d.marker_series(id, 444, /*named=*/false);
  EXPECT_EQ(n, 444);
  EXPECT_NE(labels["cgroup"].find("libpod-" + id), std::string::npos) << labels["cgroup"];
  const json a = d.attribution(labels["cgroup"]);
  EXPECT_EQ(a["identity"]["runtime"], "podman") << a.dump();
  // --security-opt seccomp=FILE with a profile that refuses mkdir.
  write(s.dir / "no-mkdir.json", kNoMkdir.dump());
  argv = podman;
  for (const char* x : {"run", "-d", "--name", "syslens-podman-denied", "--network", "none", "--security-opt"}) {
    argv.push_back(x);
  }
  argv.push_back("seccomp=" + (s.dir / "no-mkdir.json").string());
  argv.push_back("--rootfs");
  argv.push_back((s.dir / "rootfs").string());
  for (const char* x : {"/marker", "3", "30", "mkdir:7"}) argv.push_back(x);
  auto denied = run_process(argv, 120000);
  ASSERT_EQ(denied.exit_code, 0) << denied.out << denied.err;
  d.expect_seven_denied_mkdirs(denied.out.substr(0, 64));
  auto rm = podman;
  for (const char* x : {"rm", "-f", "-t", "0", "syslens-podman", "syslens-podman-denied"}) rm.push_back(x);
  run_process(rm, 60000);
  remove_empty_cgroups("/libpod_parent");
}

// A process in a systemd-style service cgroup carries unit="<name>.service"
// and no container.
TEST(Containers, ProcessInASystemdServiceCgroup) {
  SYSLENS_REQUIRE_ROOT();
  Daemon d(kNoRuntimes);
  ASSERT_TRUE(d.ready()) << d.log();
  const std::string rel = "/system.slice/syslens-e2e-" + std::to_string(::getpid()) + ".service";
  const std::string dir = cgroup2_mount() + rel;
  fs::create_directories(dir);
  // A shell moves itself into the unit's cgroup, then becomes the marker.
  Background svc({"/bin/sh", "-c",
                  "echo $$ > " + dir + "/cgroup.procs && exec " + build_dir() + "/tests/containers/marker 222 30"});
  std::map<std::string, std::string> labels;
  double n = 0;
  for (int i = 0; i < 200 && n < 222; ++i) {
    n = 0;
    for (const auto& smp : d.scrape()) {
      if (smp.name == "syslens_syscalls_total" && smp.label("cgroup") == rel && smp.label("syscall") == "ioprio_get") {
        labels = smp.labels;
        n += smp.value;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(n, 222);
  EXPECT_EQ(labels["unit"], "syslens-e2e-" + std::to_string(::getpid()) + ".service");
  EXPECT_EQ(labels["container_id"], "");
  svc.stop(SIGTERM);
  for (int i = 0; i < 100 && ::rmdir(dir.c_str()) != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::rmdir((cgroup2_mount() + "/system.slice").c_str());  // only if we made it and it is empty
}

namespace {

// A container runtime's API socket that misbehaves on purpose, served from
// the test's own threads: it answers (at once or seconds late), accepts and
// never answers, answers garbage, or is gone.
class FakeRuntimeSocket {
 public:
  enum class Mode { Answer, Slow, Hang, Garbage };
  FakeRuntimeSocket(fs::path path, std::string body) : path_(std::move(path)), body_(std::move(body)) { listen(); }
  ~FakeRuntimeSocket() {
    vanish();
    std::lock_guard lock(mu_);
    for (int fd : held_) ::close(fd);
  }
  void set_mode(Mode m) { mode_ = m; }
  void set_body(std::string body) {
    std::lock_guard lock(mu_);
    body_ = std::move(body);
  }
  void listen() {
    fs::remove(path_);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd_, 64) != 0) {
      throw std::runtime_error("cannot listen on " + path_.string());
    }
    stop_ = false;
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  // The runtime goes away: its socket file too.
  void vanish() {
    if (!acceptor_.joinable()) return;
    stop_ = true;
    acceptor_.join();
    for (auto& t : handlers_) t.join();
    handlers_.clear();
    ::close(fd_);
    fs::remove(path_);
  }
  int connections() const { return connections_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++connections_;
      handlers_.emplace_back([this, c, mode = mode_.load()] { serve(c, mode); });
    }
  }
  void serve(int c, Mode mode) {
    if (mode == Mode::Hang) {  // held open, never read, never written, until the test ends
      std::lock_guard lock(mu_);
      held_.push_back(c);
      return;
    }
    if (mode == Mode::Garbage) {  // before any request: HTTP/1.1 and HTTP/2 clients alike get it
      const char junk[] = "\x16\x03\x01\xff garbage, not a runtime API \r\n\r\n\x00\x01\x02";
      (void)!::write(c, junk, sizeof junk);
      ::close(c);
      return;
    }
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos && !stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const auto n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      req.append(buf, static_cast<std::size_t>(n));
    }
    for (int i = 0; mode == Mode::Slow && i < 60 && !stop_; ++i) {  // 3 s late
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string body;
    {
      std::lock_guard lock(mu_);
      body = body_;
    }
    const std::string resp =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)!::write(c, resp.data(), resp.size());
    ::close(c);
  }

  fs::path path_;
  std::string body_;
  int fd_ = -1;
  std::atomic<Mode> mode_{Mode::Answer};
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::vector<std::thread> handlers_;
  std::mutex mu_;
  std::vector<int> held_;
};

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

}  // namespace

// The runtimes syslensd asks for labels fail every way they can: a Docker API
// seconds late, then accepting and never answering, then answering garbage,
// then gone, then back; beside it a CRI socket that never answers and one
// that answers garbage. Every scrape is answered within 1 s throughout, the
// counts stay exact, syslens_runtime_up says which runtime is down, each
// change of state is logged once, and labels come back with the runtime.
TEST(Runtimes, FailingRuntimesNeverHoldAScrapeAndLabelsComeBack) {
  SYSLENS_REQUIRE_ROOT();
  Scratch s("failing-rt");
  const std::string web = hex_id(), db = hex_id();
  const json containers = json::array({{{"Id", web}, {"Names", {"/fake-web"}}, {"Image", "fake/web:1"}},
                                       {{"Id", db}, {"Names", {"/fake-db"}}, {"Image", "fake/db:2"}}});
  const fs::path dsock = s.dir / "docker.sock", hang = s.dir / "cri-hang.sock", junk = s.dir / "cri-junk.sock";
  FakeRuntimeSocket docker(dsock, json::array({containers[0]}).dump());  // db is created later
  FakeRuntimeSocket cri_hang(hang, ""), cri_junk(junk, "");
  cri_hang.set_mode(FakeRuntimeSocket::Mode::Hang);
  cri_junk.set_mode(FakeRuntimeSocket::Mode::Garbage);
  docker.set_mode(FakeRuntimeSocket::Mode::Slow);
  Daemon d("runtimes:\n  docker_socket: " + dsock.string() + "\n  cri_sockets: [" + hang.string() + ", " +
           junk.string() + "]\n");
  ASSERT_TRUE(d.ready()) << d.log();
  const std::string dsrc = "docker:" + dsock.string(), hsrc = "cri:" + hang.string(), jsrc = "cri:" + junk.string();

  TestCgroup parent("failing-rt");
  auto workload = [&](const std::string& id, int n) {
    const std::string dir = parent.dir() + "/docker-" + id + ".scope";
    fs::create_directories(dir);
    return run_in_cgroup_dir(dir, [n] {
      for (int i = 0; i < n; ++i) ::syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
      return 0;
    });
  };
  // Scrapes until done(samples) or timeout_s; every scrape is timed.
  double slowest_ms = 0;
  int scrapes = 0;
  auto scrape_until = [&](int timeout_s, const std::function<bool(const std::vector<Sample>&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto t0 = std::chrono::steady_clock::now();
      auto samples = d.scrape();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++scrapes;
      slowest_ms = std::max(slowest_ms, ms);
      EXPECT_LT(ms, 1000) << "scrape " << scrapes << " took " << ms << " ms";
      if (!samples.empty() && done(samples)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  auto series = [](const std::vector<Sample>& all, const std::string& id) {
    std::pair<std::map<std::string, std::string>, double> out;
    for (const auto& smp : all) {
      if (smp.name == "syslens_syscalls_total" && smp.label("container_id") == id &&
          smp.label("syscall") == "ioprio_get") {
        out.first = smp.labels;
        out.second += smp.value;
      }
    }
    return out;
  };
  auto up = [](const std::vector<Sample>& all, const std::string& source) {
    for (const auto& smp : all) {
      if (smp.name == "syslens_runtime_up" && smp.label("source") == source) return smp.value;
    }
    return -1.0;
  };

  // 1. Docker answers 3 s late: the labels come when it does, no scrape waits for it.
  ASSERT_EQ(workload(web, 321), 0);
  ASSERT_TRUE(scrape_until(20, [&](const auto& all) {
    auto [labels, n] = series(all, web);
    return n == 321 && labels["container"] == "fake-web" && up(all, dsrc) == 1 && up(all, hsrc) == 0 &&
           up(all, jsrc) == 0;
  })) << d.log();
  auto all = d.scrape();
  EXPECT_EQ(series(all, web).first["image"], "fake/web:1");

  // 2. Docker accepts and never answers: a new container has no labels yet,
  //    the known one keeps its own, and Docker is down once the call times out.
  docker.set_mode(FakeRuntimeSocket::Mode::Hang);
  ASSERT_EQ(workload(db, 432), 0);
  ASSERT_TRUE(scrape_until(30, [&](const auto& now) { return up(now, dsrc) == 0 && series(now, db).second == 432; }))
      << d.log();
  all = d.scrape();
  EXPECT_EQ(series(all, db).first["container"], "");
  EXPECT_EQ(series(all, web).first["container"], "fake-web");
  EXPECT_EQ(series(all, web).second, 321);

  // 3. Garbage, then 4. gone: still down, still answered.
  docker.set_mode(FakeRuntimeSocket::Mode::Garbage);
  const int before = docker.connections();
  ASSERT_TRUE(scrape_until(30, [&](const auto&) { return docker.connections() > before + 1; })) << d.log();
  docker.vanish();
  ASSERT_TRUE(scrape_until(30, [&](const auto&) {
    return count_lines_with(d.log(), "container metadata: " + dsrc + " not present") == 1;
  })) << d.log();
  all = d.scrape();
  EXPECT_EQ(up(all, dsrc), 0);
  EXPECT_EQ(series(all, db).first["container"], "");

  // 5. Back: the new container gets its labels.
  docker.set_mode(FakeRuntimeSocket::Mode::Answer);
  docker.set_body(containers.dump());
  docker.listen();
  ASSERT_TRUE(scrape_until(30, [&](const auto& now) {
    return series(now, db).first["container"] == "fake-db" && up(now, dsrc) == 1;
  })) << d.log();
  all = d.scrape();
  EXPECT_EQ(series(all, db).second, 432);
  EXPECT_EQ(series(all, db).first["image"], "fake/db:2");
  EXPECT_EQ(series(all, web).first["container"], "fake-web");
  EXPECT_EQ(up(all, hsrc), 0);
  EXPECT_EQ(up(all, jsrc), 0);
  EXPECT_TRUE(d.running());

  // Each change of state logged once: reachable at 1 and 5; unavailable at 2
  // (a timeout) and 3 (garbage); not present at 4.
  const std::string log = d.log();
  EXPECT_EQ(count_lines_with(log, "container metadata: " + dsrc + " is reachable"), 2U) << log;
  EXPECT_EQ(count_lines_with(log, "container metadata: " + dsrc + " unavailable"), 2U) << log;
  EXPECT_EQ(count_lines_with(log, "container metadata: " + dsrc + " not present"), 1U) << log;
  // The hanging and the garbage CRI source: down all along, logged at least
  // once, and again only when the error says something else (gRPC's words
  // for garbage vary: a broken pipe one time, an HTTP/2 parse error the next).
  EXPECT_GE(count_lines_with(log, "container metadata: " + hsrc + " unavailable"), 1U) << log;
  EXPECT_GE(count_lines_with(log, "container metadata: " + jsrc + " unavailable"), 1U) << log;
  RecordProperty("scrapes", scrapes);
  RecordProperty("slowest_scrape_ms", std::to_string(slowest_ms));
  std::printf("%d scrapes, slowest %.1f ms\n", scrapes, slowest_ms);
}

// Soak: thousands of cgroups with short-lived processes, and runc containers,
// come and go while syslensd runs. Nothing crashes, memory is flat after the
// first round, every removed cgroup is reclaimed with its series and kernel
// entries, and a control workload's count stays exact throughout.
TEST(Soak, ChurnOfCgroupsAndContainersKeepsCountsExactAndMemoryFlat) {
  SYSLENS_REQUIRE_ROOT();
  Daemon d(std::string(kNoRuntimes) + "cgroup:\n  removed_grace: 500ms\n");
  ASSERT_TRUE(d.ready()) << d.log();
  auto value = [&](const std::string& name, const std::map<std::string, std::string>& match = {}) {
    return sum_samples(d.scrape(), name, match);
  };
  // Every counter sample of every scrape is compared with the previous
  // scrape's: reclaiming thousands of cgroups and the containers must never
  // make one go down.
  CounterWatch watch;
  d.watch = &watch;
  TestCgroup control("soak-control");
  constexpr int kRounds = 10, kCgroupsPerRound = 500, kContainersPerRound = 2, kControlCalls = 1000;
  double rss_warm = 0, created = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kCgroupsPerRound; ++i) {
      TestCgroup cg("soak");
      run_in_cgroup(cg, [] {
        for (int k = 0; k < 10; ++k) ::syscall(SYS_getppid);
        return 0;
      });
    }
    for (int c = 0; c < kContainersPerRound; ++c) {
      Scratch s("soak-" + std::to_string(c));
      const std::string id = hex_id();
      runc_run(s, id, "/syslens-soak/docker-" + id + ".scope", {"/marker", "50", "0"});
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      d.scrape();
      runc_remove(id);
    }
    created += kCgroupsPerRound + kContainersPerRound;
    ASSERT_EQ(run_in_cgroup(control,
                            [] {
                              for (int k = 0; k < kControlCalls; ++k) ::syscall(SYS_getppid);
                              return 0;
                            }),
              0);
    if (round == 0) {
      // Warm-up done: allocator, caches and maps at their working size.
      for (int i = 0; i < 100 && value("syslens_removed_cgroups_in_grace") > 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      rss_warm = value("process_resident_memory_bytes");
    }
  }
  remove_empty_cgroups("/syslens-soak");
  // Every removed cgroup is reclaimed, series and kernel entries with it.
  double reclaimed = 0;
  for (int i = 0; i < 200; ++i) {
    reclaimed = value("syslens_cgroups_reclaimed_total");
    if (reclaimed >= created && value("syslens_removed_cgroups_in_grace") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(reclaimed, created);
  EXPECT_GE(value("syslens_bpf_map_entries_reclaimed_total"), 2 * created);
  int stale = 0;
  for (const auto& smp : d.scrape()) {
    const auto cg = smp.label("cgroup");
    if (smp.name == "syslens_syscalls_total" && cg != control.path() &&
        (cg.find("-soak") != std::string::npos || cg.find("syslens-soak") != std::string::npos)) {
      ++stale;
    }
  }
  EXPECT_EQ(stale, 0) << "series of removed cgroups left after the grace period";
  // The control workload: exact, every round.
  EXPECT_EQ(value("syslens_syscalls_total", {{"cgroup", control.path()}, {"syscall", "getppid"}}),
            kRounds * kControlCalls);
  const double rss_end = value("process_resident_memory_bytes");
  std::printf("soak: %.0f cgroups and containers; RSS after the first round %.1f MiB, at the end %.1f MiB\n", created,
              rss_warm / 1048576, rss_end / 1048576);
  EXPECT_LE(rss_end, rss_warm + 4 * 1024 * 1024) << "RSS grew from " << rss_warm << " to " << rss_end;
  EXPECT_EQ(watch.decreases().size(), 0U) << "counter samples that went down:\n" << watch.first_decreases();
  EXPECT_TRUE(d.running()) << d.log();
}
