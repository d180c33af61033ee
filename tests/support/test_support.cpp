#include "test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/btf.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "syslens/kernel/mountinfo.h"

namespace syslens::test {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string temp_file(const std::string& stem) {
  static int n = 0;
  return (fs::temp_directory_path() /
          ("syslens-test-" + std::to_string(::getpid()) + "-" + stem + "-" + std::to_string(n++)))
      .string();
}

// In a forked child: stdin/stdout/stderr from/to the files, then exec argv.
[[noreturn]] void exec_redirected(const std::vector<std::string>& argv, const std::string& in_path,
                                  const std::string& out_path, const std::string& err_path) {
  int in = ::open(in_path.c_str(), O_RDONLY);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

}  // namespace

std::string cgroup2_mount() {
  auto m = find_cgroup2_mount(parse_mountinfo(slurp("/proc/self/mountinfo")));
  if (!m) throw std::runtime_error("no cgroup2 mount");
  return m->mount_point;
}

const V1Hierarchy& v1_hierarchy() {
  static const V1Hierarchy h = [] {
    const auto mounts = parse_mountinfo(slurp("/proc/self/mountinfo"));
    if (auto m = find_cgroup1_mount(mounts, "memory")) return V1Hierarchy{"memory", m->mount_point, true};
    const std::string proc_cgroups = slurp("/proc/cgroups");
    for (const char* c : {"net_cls", "net_prio", "freezer", "devices", "perf_event", "rdma", "misc", "hugetlb"}) {
      if (!cgroup_subsys_id(proc_cgroups, c)) continue;
      if (auto m = find_cgroup1_mount(mounts, c)) return V1Hierarchy{c, m->mount_point, false};
      const std::string dir = "/run/syslens-test-v1-" + std::string(c);
      fs::create_directories(dir);
      if (::mount("cgroup", dir.c_str(), "cgroup", 0, c) == 0) return V1Hierarchy{c, dir, false};
      fs::remove(dir);
    }
    throw std::runtime_error("no cgroup v1 memory hierarchy, and no free controller to mount one");
  }();
  return h;
}

bool kernel_has_rdonly_cast() {
  struct btf* btf = btf__load_vmlinux_btf();
  const bool ok = btf != nullptr && btf__find_by_name_kind(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
  btf__free(btf);
  return ok;
}

int cgroup1_subsys_id(const std::string& controller) {
  auto id = cgroup_subsys_id(slurp("/proc/cgroups"), controller);
  if (!id) throw std::runtime_error("no cgroup controller " + controller);
  return *id;
}

TestCgroup::TestCgroup(const std::string& name, const std::string& mount) {
  static int n = 0;
  path_ = "/syslens-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" + name;
  dir_ = mount + path_;
  fs::create_directories(dir_);
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + dir_);
  id_ = st.st_ino;
}

TestCgroup::~TestCgroup() {
  // Children first; processes still inside are killed.
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory()) dirs.push_back(it->path());
  }
  dirs.push_back(dir_);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    std::istringstream procs(slurp(it->string() + "/cgroup.procs"));
    for (pid_t p; procs >> p;) ::kill(p, SIGKILL);
    for (int i = 0; i < 100 && ::rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void TestCgroup::add(pid_t pid) const { write_file(dir_ + "/cgroup.procs", std::to_string(pid)); }

int run_in_cgroup(const TestCgroup& cg, const std::function<int()>& fn) { return run_in_cgroup_dir(cg.dir(), fn); }

int run_in_cgroup_dir(const std::string& dir, const std::function<int()>& fn) {
  int go[2];
  if (::pipe(go) != 0) throw std::runtime_error("pipe");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    char c;
    // Entered in the parent's cgroup; returns after the move. From here on
    // only raw syscalls: nothing libc might add behind our back.
    ::syscall(SYS_read, go[0], &c, 1);
    const int rc = fn();
    ::syscall(SYS_exit_group, rc);
    __builtin_unreachable();
  }
  ::close(go[0]);
  // Move it only once it is blocked in that read(), so that not even the
  // read's entry (nor glibc's post-fork set_robust_list) lands in cg.
  const std::string blocked_in_read = std::to_string(SYS_read) + " ";
  for (int i = 0; i < 5000; ++i) {
    if (slurp("/proc/" + std::to_string(pid) + "/syscall").rfind(blocked_in_read, 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  write_file(dir + "/cgroup.procs", std::to_string(pid));
  if (::write(go[1], "g", 1) != 1) throw std::runtime_error("write");
  ::close(go[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return decode_status(status);
}

ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms, const std::string& stdin_text) {
  const auto out_path = temp_file("out"), err_path = temp_file("err"), in_path = temp_file("in");
  write_file(in_path, stdin_text);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) exec_redirected(argv, in_path, out_path, err_path);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ProcessResult r{decode_status(status), slurp(out_path), slurp(err_path)};
  fs::remove(out_path);
  fs::remove(err_path);
  fs::remove(in_path);
  return r;
}

Background::Background(const std::vector<std::string>& argv)
    : out_path_(temp_file("bg-out")), err_path_(temp_file("bg-err")) {
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a killed test
    exec_redirected(argv, "/dev/null", out_path_, err_path_);
  }
}

Background::~Background() {
  if (running()) stop(SIGKILL);
  fs::remove(out_path_);
  fs::remove(err_path_);
}

bool Background::running() {
  if (status_ != -1) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = decode_status(st);
    return false;
  }
  return true;
}

int Background::stop(int sig, int timeout_ms) {
  if (!running()) return status_;
  ::kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = decode_status(st);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

std::string Background::err() const { return slurp(err_path_); }
std::string Background::out() const { return slurp(out_path_); }

std::uint16_t free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::optional<HttpResult> http_get(std::uint16_t port, const std::string& target, const std::string& method,
                                   std::chrono::milliseconds timeout) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  // Asynchronous, so that the deadline holds (beast's timeouts do not apply
  // to synchronous calls): a server that never answers costs `timeout`.
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 << 20);
  parser.skip(method == "HEAD");
  beast::error_code result = boost::asio::error::operation_aborted;
  stream.expires_after(timeout);
  stream.async_connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
        if (ec) return void(result = ec);
        http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
          if (wec) return void(result = wec);
          http::async_read(stream, buf, parser, [&](beast::error_code rec, std::size_t) { result = rec; });
        });
      });
  io.run();
  if (result) return std::nullopt;
  HttpResult r;
  r.status = parser.get().result_int();
  r.body = parser.get().body();
  for (const auto& f : parser.get()) r.headers[std::string(f.name_string())] = std::string(f.value());
  beast::error_code ec;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  return r;
}

void stop_and_expect_no_seccomp_refusal(Background& daemon) {
  daemon.stop(SIGTERM);
  const std::string log = daemon.err();
  const auto at = log.find("its own seccomp filter refused");
  if (at != std::string::npos) {
    ADD_FAILURE() << "syslensd's own seccomp filter refused a syscall: " << log.substr(at, log.find('\n', at) - at);
  }
}

bool wait_ready(std::uint16_t port, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = http_get(port, "/-/ready");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::size_t CounterWatch::scrape(const std::string& text) {
  // The families' types, from their # TYPE lines.
  std::map<std::string, std::string> types;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream f(line.substr(7));
    std::string name, type;
    f >> name >> type;
    types[name] = type;
  }
  auto family_of = [&](const std::string& sample) -> std::string {
    if (auto it = types.find(sample); it != types.end()) return it->second == "counter" ? sample : "";
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (sample.size() <= suffix.size() || sample.compare(sample.size() - suffix.size(), suffix.size(), suffix)) {
        continue;
      }
      const std::string base = sample.substr(0, sample.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
    return "";
  };
  std::map<std::string, double> now;
  for (const auto& s : parse_exposition(text)) {
    const std::string fam = family_of(s.name);
    if (fam.empty()) continue;
    if (!only_.empty() &&
        std::none_of(only_.begin(), only_.end(), [&](const std::string& p) { return fam.rfind(p, 0) == 0; })) {
      continue;
    }
    std::string key = s.name + "{";
    for (const auto& [k, v] : s.labels) key += k + "=\"" + v + "\",";
    key += "}";
    now[key] = s.value;
  }
  std::size_t compared = 0;
  for (const auto& [key, v] : now) {
    auto it = last_.find(key);
    if (it == last_.end()) continue;
    ++compared;
    if (v < it->second) {
      std::ostringstream d;
      d.precision(17);
      d << key << " " << it->second << " -> " << v;
      decreases_.push_back(d.str());
    }
  }
  last_ = std::move(now);
  return compared;
}

std::string CounterWatch::first_decreases(std::size_t n) const {
  std::string out;
  for (std::size_t i = 0; i < std::min(n, decreases_.size()); ++i) out += decreases_[i] + "\n";
  return out;
}

std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    std::size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    if (i != std::string::npos && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        auto eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        std::string val;
        std::size_t j = eq + 2;  // skip ="
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            val.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            val.push_back(line[j]);
          }
        }
        s.labels[key] = val;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;
    }
    s.value = std::stod(line.substr(line.find_first_not_of(' ', i)));
    out.push_back(std::move(s));
  }
  return out;
}

double sum_samples(const std::vector<Sample>& samples, const std::string& name,
                   const std::map<std::string, std::string>& match) {
  double total = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : match) {
      if (s.label(k) != v) {  // an absent label matches
        ok = false;
        break;
      }
    }
    if (ok) total += s.value;
  }
  return total;
}

std::string build_dir() {
  const char* d = std::getenv("SYSLENS_BUILD_DIR");
  return d ? d : SYSLENS_BUILD_DIR_DEFAULT;
}

std::string source_dir() {
  const char* d = std::getenv("SYSLENS_SOURCE_DIR");
  return d ? d : SYSLENS_SOURCE_DIR_DEFAULT;
}

namespace {
// yaml with "  key: value" in its bpf section, unless it sets key already.
std::string with_bpf_setting(const std::string& yaml, const std::string& key, const std::string& value) {
  if (yaml.find(key + ":") != std::string::npos) return yaml;
  const std::string line = "  " + key + ": " + value + "\n";
  if (yaml.rfind("bpf:\n", 0) == 0) return "bpf:\n" + line + yaml.substr(5);
  if (auto at = yaml.find("\nbpf:\n"); at != std::string::npos) {
    return yaml.substr(0, at + 6) + line + yaml.substr(at + 6);
  }
  return yaml + (yaml.empty() || yaml.back() == '\n' ? "" : "\n") + "bpf:\n" + line;
}
}  // namespace

std::string test_daemon_config(const std::string& yaml) {
  return with_bpf_setting(with_bpf_setting(yaml, "pin_path", "\"\""), "latency_sample_every", "1");
}

TestPinDir::TestPinDir() {
  struct statfs st {};
  if (::statfs("/sys/fs/bpf", &st) != 0 || static_cast<long>(st.f_type) != 0xcafe4a11) {
    ::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700");
  }
  static int n = 0;
  path_ = "/sys/fs/bpf/syslens-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

TestPinDir::~TestPinDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace syslens::test
