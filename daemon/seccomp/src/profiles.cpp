#include "syslens/seccomp/profiles.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace syslens {

using nlohmann::json;

ReferenceProfile parse_reference_profile(std::string_view text, std::string name, Arch arch) {
  ReferenceProfile ref;
  ref.name = name;
  ref.policy = parse_seccomp_policy(text, std::move(name), arch == Arch::x86_64);
  return ref;
}

namespace {

// Other ABIs ("compat:...") are not judged against the reference.
bool denied(const ReferenceProfile& ref, const std::string& name) {
  return name.find(':') == std::string::npos && !ref.allows(name);
}

}  // namespace

std::vector<std::string> denied_by(const ReferenceProfile& ref, const WorkloadRecord& w) {
  std::vector<std::string> out;
  for (const auto& [name, _] : w.syscalls) {
    if (denied(ref, name)) out.push_back(name);
  }
  return out;
}

std::size_t denied_count(const ReferenceProfile& ref, const WorkloadSyscalls& w) {
  return static_cast<std::size_t>(
      std::count_if(w.syscalls.begin(), w.syscalls.end(), [&](const std::string* n) { return denied(ref, *n); }));
}

const std::vector<std::string>& runtime_start_syscalls(Arch arch) {
  // Between installing the filter and exec'ing the workload, runc's init
  // (Go) may run: execve itself, and on any of its threads the Go runtime's
  // scheduler, memory and signal calls. A profile without them fails at
  // container start, not in the workload.
  static const std::vector<std::string> common = {
      "execve",          "execveat",        "exit",   "exit_group", "futex",      "nanosleep",    "clock_nanosleep",
      "sched_yield",     "epoll_pwait",     "getpid", "gettid",     "tgkill",     "rt_sigreturn", "rt_sigprocmask",
      "rt_sigaction",    "sigaltstack",     "mmap",   "munmap",     "madvise",    "mprotect",     "brk",
      "close",           "fcntl",           "read",   "write",      "prctl",      "capget",       "capset",
      "set_robust_list", "set_tid_address", "openat", "fstatfs",    "newfstatat", "faccessat",    "faccessat2",
      "getdents64"};
  static const std::vector<std::string> x86 = [] {
    auto v = common;
    v.insert(v.end(), {"arch_prctl", "epoll_wait"});
    return v;
  }();
  return arch == Arch::x86_64 ? x86 : common;
}

std::vector<std::string> enosys_fallback_syscalls(Arch arch) {
  static const std::vector<std::string> all = {"clone3",
                                               "openat2",
                                               "faccessat2",
                                               "fchmodat2",
                                               "statx",
                                               "rseq",
                                               "close_range",
                                               "copy_file_range",
                                               "pidfd_open",
                                               "pidfd_send_signal",
                                               "pidfd_getfd",
                                               "epoll_pwait2",
                                               "futex_waitv",
                                               "io_uring_setup",
                                               "io_uring_enter",
                                               "io_uring_register",
                                               "landlock_create_ruleset",
                                               "getrandom",
                                               "memfd_create"};
  const Abi abi = arch == Arch::x86_64 ? Abi::x86_64 : Abi::arm64;
  std::vector<std::string> out;
  for (const auto& n : all) {
    if (syscall_number(abi, n)) out.push_back(n);  // named on this architecture
  }
  return out;
}

json seccomp_json(const WorkloadRecord& w, Arch arch, SeccompFormat format, bool include_runtime) {
  const bool x86 = arch == Arch::x86_64;
  std::set<std::string> names;
  std::set<std::string> arches = {x86 ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64"};
  std::vector<std::string> unnamed;
  for (const auto& [label, rec] : w.syscalls) {
    if (!rec.used()) continue;  // only ever refused by the filter it ran under
    std::string name = label;
    if (auto colon = label.find(':'); colon != std::string::npos) {
      const auto abi = label.substr(0, colon);
      name = label.substr(colon + 1);
      arches.insert(abi == "i386" ? "SCMP_ARCH_X86" : abi == "x32" ? "SCMP_ARCH_X32" : "SCMP_ARCH_ARM");
    }
    if (name.rfind("syscall_", 0) == 0) {
      unnamed.push_back(label);  // no name a seccomp profile could use
      continue;
    }
    names.insert(name);
  }
  if (include_runtime) {
    for (const auto& n : runtime_start_syscalls(arch)) names.insert(n);
  }
  json j = {{"defaultAction", "SCMP_ACT_ERRNO"}, {"defaultErrnoRet", 1}};
  if (format == SeccompFormat::oci) {
    j["architectures"] = arches;
  } else {
    json sub = json::array();
    for (const auto& a : arches) {
      if (a != "SCMP_ARCH_X86_64" && a != "SCMP_ARCH_AARCH64") sub.push_back(a);
    }
    j["archMap"] =
        json::array({{{"architecture", x86 ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64"}, {"subArchitectures", sub}}});
  }
  j["syscalls"] = json::array({{{"names", names}, {"action", "SCMP_ACT_ALLOW"}}});
  std::vector<std::string> enosys;
  for (const auto& n : enosys_fallback_syscalls(arch)) {
    if (!names.count(n)) enosys.push_back(n);
  }
  if (!enosys.empty()) {
    j["syscalls"].push_back({{"names", enosys}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}});  // ENOSYS
  }
  if (!unnamed.empty()) j["syslens_unnamed_syscalls"] = unnamed;
  return j;
}

std::string dns1123_name(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      out += static_cast<char>(std::tolower(u));
    } else if (c == '.' || c == '-') {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
    if (out.size() == 253) break;
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  std::size_t lead = 0;
  while (lead < out.size() && !std::isalnum(static_cast<unsigned char>(out[lead]))) ++lead;
  out.erase(0, lead);
  return out.empty() ? "workload" : out;
}

std::string seccomp_spo_yaml(const WorkloadRecord& w, Arch arch, bool include_runtime, const std::string& name,
                             const std::string& name_space) {
  const json p = seccomp_json(w, arch, SeccompFormat::oci, include_runtime);
  const auto& l = w.labels;
  const std::string base = !l.container.empty() ? (l.pod.empty() ? l.container : l.pod + "-" + l.container)
                           : !l.unit.empty()    ? l.unit
                                                : w.key;
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "apiVersion" << YAML::Value << "security-profiles-operator.x-k8s.io/v1beta1";
  y << YAML::Key << "kind" << YAML::Value << "SeccompProfile";
  y << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "name" << YAML::Value << (name.empty() ? dns1123_name("syslens-" + base) : name);
  const std::string ns = name_space.empty() ? l.pod_namespace : name_space;
  if (!ns.empty()) y << YAML::Key << "namespace" << YAML::Value << ns;
  y << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "syslens.io/workload" << YAML::Value << w.key;
  y << YAML::EndMap << YAML::EndMap;
  y << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "defaultAction" << YAML::Value << p["defaultAction"].get<std::string>();
  y << YAML::Key << "disabled" << YAML::Value << false;
  y << YAML::Key << "architectures" << YAML::Value << p["architectures"].get<std::vector<std::string>>();
  y << YAML::Key << "syscalls" << YAML::Value << YAML::BeginSeq;
  for (const auto& rule : p["syscalls"]) {
    y << YAML::BeginMap;
    y << YAML::Key << "action" << YAML::Value << rule["action"].get<std::string>();
    if (rule.contains("errnoRet")) y << YAML::Key << "errnoRet" << YAML::Value << rule["errnoRet"].get<int>();
    y << YAML::Key << "names" << YAML::Value << rule["names"].get<std::vector<std::string>>();
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
  return std::string(y.c_str()) + "\n";
}

}  // namespace syslens
