#include "syslens/workloads/store.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <stdexcept>
#include <unordered_map>

#include "syslens/collect/histogram.h"

namespace syslens {

using nlohmann::json;

std::uint64_t WorkloadRecord::calls() const {
  std::uint64_t n = 0;
  for (const auto& [_, s] : syscalls) n += s.totals.calls;
  return n;
}

bool SyscallRecord::used() const {
  std::uint64_t refused = 0;
  for (const auto& [err, c] : denied) refused += c;
  return past || totals.calls > refused;
}

void SyscallRecord::merge(const SyscallRecord& other) {
  totals.add(other.totals);
  for (const auto& [e, n] : other.errors) errors[e] += n;
  for (const auto& [e, n] : other.denied) denied[e] += n;
  past = past || other.past;
  first_seen = std::min(first_seen, other.first_seen);
  last_seen = std::max(last_seen, other.last_seen);
}

std::uint64_t WorkloadRecord::failures() const {
  std::uint64_t n = 0;
  for (const auto& [name, s] : syscalls) {
    for (const auto& [err, c] : s.errors) n += c;
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
  for (const auto& e : agg.denied) {
    const std::string& cgroup = agg.label(e.cgroup);
    if (!is_cgroup_path(cgroup)) continue;
    auto it = next.find(workload_key(cgroup, agg.labels_of(cgroup)));
    if (it != next.end()) it->second.syscalls[agg.label(e.syscall)].denied[agg.label(e.err)] += e.count;
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
    r.error =
        "no workload matches '" + std::string(ref) + "' (tried: " + (ref.front() == '/' ? "cgroup path" : how) + ")";
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

}  // namespace syslens
