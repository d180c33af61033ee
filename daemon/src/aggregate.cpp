#include "syslens/aggregate.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <vector>

#include "syslens/errno_name.h"

namespace syslens {

void SeriesAgg::add(const syslens_stats_val& v) {
  calls += v.calls;
  returns += v.returns;
  sum_ns += v.sum_ns;
  for (std::size_t i = 0; i < hist.size(); ++i) hist[i] += v.hist[i];
}

void SeriesAgg::add(const SeriesAgg& o) {
  calls += o.calls;
  returns += o.returns;
  sum_ns += o.sum_ns;
  for (std::size_t i = 0; i < hist.size(); ++i) hist[i] += o.hist[i];
}

const WorkloadLabels& AggregatedSnapshot::labels_of(const std::string& cgroup) const {
  static const WorkloadLabels none;
  auto it = workloads.find(cgroup);
  return it == workloads.end() ? none : it->second;
}

AggregatedSnapshot aggregate(const Snapshot& snap, CgroupNamer& cgroups, WorkloadNamer* workloads, Arch arch,
                             std::chrono::milliseconds metadata_wait) {
  AggregatedSnapshot a;
  std::unordered_map<std::uint64_t, std::string> cgroup_label;
  std::unordered_map<std::uint64_t, std::string> syscall_label_cache;
  auto cgroup_of = [&](std::uint64_t id) -> const std::string& {
    auto it = cgroup_label.find(id);
    if (it != cgroup_label.end()) return it->second;
    auto p = cgroups.path_of(id);
    return cgroup_label.emplace(id, p ? *p : std::string(kCgroupUnresolved)).first->second;
  };
  auto syscall_of = [&](std::uint32_t nr, std::uint32_t abi) -> const std::string& {
    const std::uint64_t k = (std::uint64_t{abi} << 32) | nr;
    auto it = syscall_label_cache.find(k);
    if (it != syscall_label_cache.end()) return it->second;
    return syscall_label_cache.emplace(k, syscall_label(arch, nr, abi == SYSLENS_ABI_COMPAT)).first->second;
  };

  // Tens of thousands of rows: inserting each into the ordered maps by
  // string compares dominates a scrape. Instead every distinct label string
  // gets a rank in sorted order, rows are sorted by integer ranks and summed,
  // and the maps are built in order (constant-time hinted inserts).
  std::vector<const std::string*> strings;
  std::unordered_map<const std::string*, std::uint32_t> rank;
  auto ranked = [&](const std::string& s) -> const std::string& {
    if (rank.emplace(&s, 0).second) strings.push_back(&s);
    return s;
  };
  const std::string overflow_label = kCgroupOverflow;
  struct Row {
    const std::string* cgroup;
    const std::string* syscall;
    const syslens_stats_val* val;
  };
  std::vector<Row> rows;
  rows.reserve(snap.stats.size() + snap.overflow.size());
  for (const auto& row : snap.stats) {
    rows.push_back({&ranked(cgroup_of(row.key.cgroup_id)), &ranked(syscall_of(row.key.nr, row.key.abi)), &row.val});
  }
  for (const auto& row : snap.overflow) {
    rows.push_back({&ranked(overflow_label), &ranked(syscall_of(row.key.nr, row.key.abi)), &row.val});
  }
  struct ErrRow {
    const std::string* cgroup;
    const std::string* syscall;
    const char* err;
    std::uint64_t count;
  };
  std::vector<ErrRow> errs;
  errs.reserve(snap.errors.size());
  std::unordered_map<int, std::string> errno_names;
  for (const auto& row : snap.errors) {
    auto it = errno_names.find(row.key.err);
    if (it == errno_names.end()) it = errno_names.emplace(row.key.err, errno_name(row.key.err)).first;
    errs.push_back({&ranked(cgroup_of(row.key.cgroup_id)), &ranked(syscall_of(row.key.nr, row.key.abi)),
                    it->second.c_str(), row.count});
  }
  // Equal strings (two ids of one path, two numbers of one label) share a rank.
  std::sort(strings.begin(), strings.end(), [](const auto* x, const auto* y) { return *x < *y; });
  for (std::size_t i = 0, r = 0; i < strings.size(); ++i) {
    if (i > 0 && *strings[i] != *strings[i - 1]) ++r;
    rank[strings[i]] = static_cast<std::uint32_t>(r);
  }
  auto key_of = [&](const std::string* c, const std::string* s) { return std::uint64_t{rank[c]} << 32 | rank[s]; };
  std::vector<std::pair<std::uint64_t, const Row*>> order;
  order.reserve(rows.size());
  for (const auto& r : rows) order.emplace_back(key_of(r.cgroup, r.syscall), &r);
  std::sort(order.begin(), order.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i == 0 || order[i].first != order[i - 1].first) {
      a.series.emplace_hint(a.series.end(), std::make_pair(*order[i].second->cgroup, *order[i].second->syscall),
                            SeriesAgg{});
    }
    std::prev(a.series.end())->second.add(*order[i].second->val);
  }
  std::sort(errs.begin(), errs.end(), [&](const ErrRow& x, const ErrRow& y) {
    const auto kx = key_of(x.cgroup, x.syscall), ky = key_of(y.cgroup, y.syscall);
    return kx != ky ? kx < ky : std::strcmp(x.err, y.err) < 0;
  });
  for (const auto& e : errs) {
    a.errors.emplace_hint(a.errors.end(), std::make_tuple(*e.cgroup, *e.syscall, std::string(e.err)), 0)->second +=
        e.count;
  }

  auto label_all = [&] {
    for (const auto& [id, path] : cgroup_label) {
      if (path.empty() || path.front() != '/') continue;  // (unresolved)
      a.workloads[path] = workloads ? workloads->labels_for(path) : WorkloadLabels{};
    }
  };
  label_all();
  if (workloads && workloads->settle(metadata_wait)) label_all();
  return a;
}

}  // namespace syslens
