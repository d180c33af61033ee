#include "syslens/profiles.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <stdexcept>
#include <unordered_map>

#include "syslens/histogram.h"

namespace syslens {

using nlohmann::json;

std::uint64_t WorkloadRecord::calls() const {
  std::uint64_t n = 0;
  for (const auto& [_, s] : syscalls) n += s.totals.calls;
  return n;
}

std::uint64_t WorkloadRecord::failures() const {
  std::uint64_t n = 0;
  for (const auto& [_, s] : syscalls) {
    for (const auto& [__, c] : s.errors) n += c;
  }
  return n;
}

namespace {

std::string workload_key(const std::string& cgroup, const WorkloadLabels& l) {
  return l.container_id.empty() ? cgroup : "container/" + l.container_id;
}

}  // namespace

void WorkloadStore::update(const AggregatedSnapshot& agg, double now) {
  // Rebuild from the kernel's cumulative counts, carrying first/last seen.
  std::map<std::string, WorkloadRecord> next;
  LabelIndex last = 0;  // series come ordered by cgroup: one lookup per cgroup
  WorkloadRecord* cur = nullptr;
  for (const auto& s : agg.series) {
    const std::string& cgroup = agg.label(s.cgroup);
    if (!is_cgroup_path(cgroup)) continue;  // (overflow), (unresolved): not workloads
    if (!cur || last != s.cgroup) {
      const auto& labels = agg.labels_of(cgroup);
      cur = &next[workload_key(cgroup, labels)];
      if (cur->cgroups.empty()) cur->labels = labels;
      cur->cgroups.insert(cgroup);
      last = s.cgroup;
    }
    // In order within a cgroup: the hint makes the insert constant-time.
    cur->syscalls.emplace_hint(cur->syscalls.end(), agg.label(s.syscall), SyscallRecord{})->second.totals.add(s.agg);
  }
  for (const auto& e : agg.errors) {
    const std::string& cgroup = agg.label(e.cgroup);
    if (!is_cgroup_path(cgroup)) continue;
    auto it = next.find(workload_key(cgroup, agg.labels_of(cgroup)));
    if (it != next.end()) it->second.syscalls[agg.label(e.syscall)].errors[agg.label(e.err)] += e.count;
  }
  const std::vector<WorkloadRecord> previous = std::move(workloads_);
  std::map<std::string, const WorkloadRecord*> prev;
  for (const auto& w : previous) prev[w.key] = &w;
  workloads_.clear();
  for (auto& [key, w] : next) {
    w.key = key;
    auto pit = prev.find(key);
    const WorkloadRecord* old = pit == prev.end() ? nullptr : pit->second;
    // Both maps are sorted by name: walk them together.
    auto oit = old ? old->syscalls.begin() : std::map<std::string, SyscallRecord>::const_iterator{};
    for (auto& [name, s] : w.syscalls) {
      const SyscallRecord* o = nullptr;
      if (old) {
        while (oit != old->syscalls.end() && oit->first < name) ++oit;
        if (oit != old->syscalls.end() && oit->first == name) o = &oit->second;
      }
      s.first_seen = o ? o->first_seen : now;
      s.last_seen = (!o || s.totals.calls > o->totals.calls) ? now : o->last_seen;
    }
    w.first_seen = now;
    w.last_seen = 0;
    for (const auto& [_, s] : w.syscalls) {
      w.first_seen = std::min(w.first_seen, s.first_seen);
      w.last_seen = std::max(w.last_seen, s.last_seen);
    }
    workloads_.push_back(std::move(w));
  }
}

RefResult resolve_ref(const std::vector<WorkloadRecord>& ws, std::string_view ref) {
  RefResult r;
  if (ref.empty() || ref.size() > 512) {
    r.status = 400;
    r.error = "a workload reference must be 1 to 512 bytes";
    return r;
  }
  for (unsigned char c : ref) {
    if (c < 0x20 || c == 0x7f) {
      r.status = 400;
      r.error = "a workload reference must not contain control characters";
      return r;
    }
  }
  std::vector<const WorkloadRecord*> hits;
  std::string how;
  auto hex = std::all_of(ref.begin(), ref.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (ref.front() == '/') {
    how = "cgroup path";
    for (const auto& w : ws) {
      if (w.cgroups.count(std::string(ref))) hits.push_back(&w);
    }
  } else if (std::count(ref.begin(), ref.end(), '/') == 2) {
    how = "namespace/pod/container";
    const auto a = ref.find('/'), b = ref.find('/', a + 1);
    const auto ns = ref.substr(0, a), pod = ref.substr(a + 1, b - a - 1), ctr = ref.substr(b + 1);
    for (const auto& w : ws) {
      if (w.labels.pod_namespace == ns && w.labels.pod == pod && w.labels.container == ctr) hits.push_back(&w);
    }
  } else {
    if (hex && ref.size() >= 4) {
      how = "container id";
      for (const auto& w : ws) {
        if (w.labels.container_id == ref) {
          hits = {&w};
          break;
        }
        if (w.labels.container_id.compare(0, ref.size(), ref) == 0) hits.push_back(&w);
      }
    }
    if (hits.empty()) {
      how = "container name or systemd unit";
      for (const auto& w : ws) {
        if (w.labels.container == ref || w.labels.unit == ref) hits.push_back(&w);
      }
    }
  }
  if (hits.empty()) {
    r.status = 404;
    r.error = "no workload matches '" + std::string(ref) + "' (tried: " +
              (ref.front() == '/' ? "cgroup path" : how) + ")";
    return r;
  }
  if (hits.size() > 1) {
    r.status = 409;
    r.error = "'" + std::string(ref) + "' matches " + std::to_string(hits.size()) + " workloads by " + how +
              "; use a longer id prefix or namespace/pod/container";
    for (const auto* w : hits) r.candidates.push_back(w->key);
    return r;
  }
  r.workload = hits.front();
  return r;
}

ReferenceProfile parse_reference_profile(std::string_view text, std::string name, Arch arch) {
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) throw std::runtime_error("not a JSON seccomp profile");
  ReferenceProfile ref;
  ref.name = std::move(name);
  const std::set<std::string> arch_names =
      arch == Arch::x86_64 ? std::set<std::string>{"amd64", "x86_64", "SCMP_ARCH_X86_64"}
                           : std::set<std::string>{"arm64", "aarch64", "SCMP_ARCH_AARCH64"};
  std::set<std::string> denied;
  const auto rules = doc.value("syscalls", json::array());
  if (!rules.is_array()) throw std::runtime_error("'syscalls' is not a list");
  for (const auto& rule : rules) {
    if (!rule.is_object()) continue;
    const auto action = rule.value("action", std::string());
    const auto includes = rule.value("includes", json::object());
    if (includes.is_object()) {
      if (includes.contains("arches") && includes["arches"].is_array()) {
        bool ours = false;
        for (const auto& a : includes["arches"]) ours = ours || (a.is_string() && arch_names.count(a.get<std::string>()));
        if (!ours) continue;
      }
      // Rules that need a capability a container does not have by default.
      if (includes.contains("caps") && includes["caps"].is_array() && !includes["caps"].empty()) continue;
    }
    const auto names = rule.value("names", json::array());
    if (!names.is_array()) continue;
    for (const auto& n : names) {
      if (!n.is_string()) continue;
      if (action == "SCMP_ACT_ALLOW") ref.allowed.insert(n.get<std::string>());
      if (action == "SCMP_ACT_ERRNO" && !rule.contains("excludes")) denied.insert(n.get<std::string>());
    }
  }
  for (const auto& d : denied) ref.allowed.erase(d);
  return ref;
}

namespace {

// Other ABIs ("compat:...") are not judged against the reference.
bool denied(const ReferenceProfile& ref, const std::string& name) {
  return name.find(':') == std::string::npos && !ref.allowed.count(name);
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

std::vector<WorkloadSyscalls> workload_syscalls(const AggregatedSnapshot& agg) {
  std::vector<WorkloadSyscalls> out;
  std::unordered_map<std::string, std::size_t> at;
  std::vector<bool> merged;  // made of several cgroups: sort and dedupe at the end
  LabelIndex last = 0;
  WorkloadSyscalls* cur = nullptr;
  for (const auto& s : agg.series) {
    const std::string& cgroup = agg.label(s.cgroup);
    if (!is_cgroup_path(cgroup)) continue;  // (overflow), (unresolved)
    if (!cur || last != s.cgroup) {
      last = s.cgroup;
      const auto& labels = agg.labels_of(cgroup);
      auto [it, fresh] = at.emplace(workload_key(cgroup, labels), out.size());
      if (fresh) {
        out.push_back({it->first, &labels, {}});
        merged.push_back(false);
      } else {
        merged[it->second] = true;
      }
      cur = &out[it->second];
    }
    cur->syscalls.push_back(&agg.label(s.syscall));  // in order within one cgroup
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!merged[i]) continue;
    auto& v = out[i].syscalls;
    auto less = [](const std::string* a, const std::string* b) { return *a < *b; };
    auto same = [](const std::string* a, const std::string* b) { return *a == *b; };
    std::sort(v.begin(), v.end(), less);
    v.erase(std::unique(v.begin(), v.end(), same), v.end());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

std::string iso8601(double t) {
  if (t <= 0) return "";
  const std::time_t s = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json workload_summary_json(const WorkloadRecord& w) {
  return {{"key", w.key},
          {"labels",
           {{"container_id", w.labels.container_id},
            {"container", w.labels.container},
            {"pod", w.labels.pod},
            {"namespace", w.labels.pod_namespace},
            {"image", w.labels.image},
            {"unit", w.labels.unit}}},
          {"cgroups", w.cgroups},
          {"calls", w.calls()},
          {"failures", w.failures()},
          {"distinct_syscalls", w.syscalls.size()},
          {"first_seen", iso8601(w.first_seen)},
          {"last_seen", iso8601(w.last_seen)}};
}

json profile_json(const WorkloadRecord& w, const ReferenceProfile* ref) {
  json j = {{"workload", workload_summary_json(w)}};
  json calls = json::array();
  for (const auto& [name, s] : w.syscalls) {
    json lat = nullptr;
    if (s.totals.returns > 0) {
      double max_bucket = 0;
      for (std::size_t i = s.totals.hist.size(); i-- > 0;) {
        if (s.totals.hist[i]) {
          max_bucket = std::ldexp(1.0, static_cast<int>(i)) / 1e9;
          break;
        }
      }
      lat = {{"p50", quantile_upper_bound(s.totals.hist, 0.50)},
             {"p90", quantile_upper_bound(s.totals.hist, 0.90)},
             {"p99", quantile_upper_bound(s.totals.hist, 0.99)},
             {"max_bucket", max_bucket},
             {"mean", static_cast<double>(s.totals.sum_ns) / 1e9 / static_cast<double>(s.totals.returns)}};
    }
    calls.push_back({{"syscall", name},
                     {"calls", s.totals.calls},
                     {"returned", s.totals.returns},
                     {"failures", s.errors},
                     {"latency_seconds", lat},
                     {"first_seen", iso8601(s.first_seen)},
                     {"last_seen", iso8601(s.last_seen)}});
  }
  j["syscalls"] = calls;
  if (ref) j["seccomp_drift"] = {{"reference", ref->name}, {"denied", denied_by(*ref, w)}};
  return j;
}

const std::vector<std::string>& runtime_start_syscalls(Arch arch) {
  // Between installing the filter and exec'ing the workload, runc's init
  // (Go) may run: execve itself, and on any of its threads the Go runtime's
  // scheduler, memory and signal calls. A profile without them fails at
  // container start, not in the workload.
  static const std::vector<std::string> common = {
      "execve", "execveat", "exit", "exit_group", "futex", "nanosleep", "clock_nanosleep", "sched_yield",
      "epoll_pwait", "getpid", "gettid", "tgkill", "rt_sigreturn", "rt_sigprocmask", "rt_sigaction",
      "sigaltstack", "mmap", "munmap", "madvise", "mprotect", "brk", "close", "fcntl", "read", "write", "prctl",
      "capget", "capset", "set_robust_list", "set_tid_address"};
  static const std::vector<std::string> x86 = [] {
    auto v = common;
    v.insert(v.end(), {"arch_prctl", "epoll_wait"});
    return v;
  }();
  return arch == Arch::x86_64 ? x86 : common;
}

json seccomp_json(const WorkloadRecord& w, Arch arch, SeccompFormat format, bool include_runtime) {
  const bool x86 = arch == Arch::x86_64;
  std::set<std::string> names;
  std::set<std::string> arches = {x86 ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64"};
  std::vector<std::string> unnamed;
  for (const auto& [label, _] : w.syscalls) {
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
    j["archMap"] = json::array({{{"architecture", x86 ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64"},
                                 {"subArchitectures", sub}}});
  }
  j["syscalls"] = json::array({{{"names", names}, {"action", "SCMP_ACT_ALLOW"}}});
  if (!unnamed.empty()) j["syslens_unnamed_syscalls"] = unnamed;
  return j;
}

}  // namespace syslens
