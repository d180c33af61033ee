#include "syslens/collect/aggregate.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "syslens/kernel/errno_name.h"

namespace syslens {

void SeriesAgg::add(const syslens_stats_val& v) { add_counts(*this, v); }

void SeriesAgg::add(const SeriesAgg& o) { add_counts(*this, o); }

const WorkloadLabels& AggregatedSnapshot::labels_of(const std::string& cgroup) const {
  static const WorkloadLabels none;
  auto it = workloads.find(cgroup);
  return it == workloads.end() ? none : it->second;
}

LabelIndex AggregatedSnapshot::intern(std::string_view s) {
  auto [it, fresh] = index_.try_emplace(std::string(s), static_cast<LabelIndex>(labels_.size()));
  if (fresh) labels_.emplace_back(s);
  return it->second;
}

void AggregatedSnapshot::add(LabelIndex cgroup, LabelIndex syscall, const syslens_stats_val& v) {
  pending_.push_back({std::uint64_t{cgroup} << 32 | syscall, &v, nullptr});
}

void AggregatedSnapshot::add(LabelIndex cgroup, LabelIndex syscall, const SeriesAgg& v) {
  pending_.push_back({std::uint64_t{cgroup} << 32 | syscall, nullptr, &owned_.emplace_back(v)});
}

void AggregatedSnapshot::add_error(LabelIndex cgroup, LabelIndex syscall, LabelIndex err, std::uint64_t n) {
  errors.push_back({cgroup, syscall, err, n});
}

void AggregatedSnapshot::add_denied(LabelIndex cgroup, LabelIndex syscall, LabelIndex err, std::uint64_t n) {
  denied.push_back({cgroup, syscall, err, n});
}

void AggregatedSnapshot::add_host(LabelIndex syscall, const SeriesAgg& v) { pending_host_[syscall].add(v); }

std::uint64_t retired_label_key(std::string_view label) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : label) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h == 0 ? 1 : h;
}

void AggregatedSnapshot::finish() {
  // Sort the label table; every index moves to its string's rank.
  std::vector<LabelIndex> order(labels_.size());
  for (LabelIndex i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](LabelIndex x, LabelIndex y) { return labels_[x] < labels_[y]; });
  std::vector<LabelIndex> rank(labels_.size());
  std::vector<std::string> sorted(labels_.size());
  for (LabelIndex r = 0; r < order.size(); ++r) {
    rank[order[r]] = r;
    sorted[r] = std::move(labels_[order[r]]);
  }
  labels_ = std::move(sorted);
  index_.clear();

  // Rows sorted by integer keys, equal keys summed into one series.
  for (auto& p : pending_) p.key = std::uint64_t{rank[p.key >> 32]} << 32 | rank[p.key & 0xffffffffU];
  std::sort(pending_.begin(), pending_.end(), [](const Pending& x, const Pending& y) { return x.key < y.key; });
  series.clear();
  series.reserve(pending_.size());
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    const auto& p = pending_[i];
    if (i == 0 || p.key != pending_[i - 1].key) {
      series.push_back({static_cast<LabelIndex>(p.key >> 32), static_cast<LabelIndex>(p.key), SeriesAgg{}});
    }
    if (p.val) {
      series.back().agg.add(*p.val);
    } else {
      series.back().agg.add(*p.agg);
    }
  }
  std::vector<Pending>().swap(pending_);
  owned_.clear();

  // Errors and denials: re-indexed, sorted, equal keys summed.
  auto finish_errors = [&](std::vector<ErrorSeries>& rows) {
    for (auto& e : rows) {
      e.cgroup = rank[e.cgroup];
      e.syscall = rank[e.syscall];
      e.err = rank[e.err];
    }
    auto key = [](const ErrorSeries& e) { return std::make_tuple(e.cgroup, e.syscall, e.err); };
    std::sort(rows.begin(), rows.end(), [&](const auto& x, const auto& y) { return key(x) < key(y); });
    std::size_t out = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (out > 0 && key(rows[out - 1]) == key(rows[i])) {
        rows[out - 1].count += rows[i].count;
      } else {
        rows[out++] = rows[i];
      }
    }
    rows.resize(out);
  };
  finish_errors(errors);
  finish_errors(denied);

  std::map<LabelIndex, SeriesAgg> host_sorted;
  for (auto& [syscall, agg] : pending_host_) host_sorted[rank[syscall]].add(agg);
  pending_host_.clear();
  host.clear();
  for (auto& [syscall, agg] : host_sorted) host.push_back({syscall, agg});
}

AggregatedSnapshot aggregate(const Snapshot& snap, const std::vector<RetiredRow>& retired, CgroupNamer& cgroups,
                             WorkloadNamer* workloads, Arch arch, std::chrono::milliseconds metadata_wait) {
  AggregatedSnapshot a;
  // Tens of thousands of rows but few distinct ids, numbers and errnos: each
  // is named and interned once.
  std::unordered_map<std::uint64_t, LabelIndex> cgroup_label;
  std::unordered_map<std::uint64_t, LabelIndex> syscall_label_cache;
  std::unordered_map<int, LabelIndex> errno_label;
  auto cgroup_of = [&](std::uint64_t id) {
    auto it = cgroup_label.find(id);
    if (it != cgroup_label.end()) return it->second;
    auto p = cgroups.path_of(id);
    return cgroup_label.emplace(id, a.intern(p ? *p : std::string(kCgroupUnresolved))).first->second;
  };
  auto syscall_of = [&](std::uint32_t nr, std::uint32_t abi) {
    const std::uint64_t k = (std::uint64_t{abi} << 32) | nr;
    auto it = syscall_label_cache.find(k);
    if (it != syscall_label_cache.end()) return it->second;
    return syscall_label_cache.emplace(k, a.intern(syscall_label(arch, nr, abi == SYSLENS_ABI_COMPAT))).first->second;
  };
  auto errno_of = [&](int err) {
    auto it = errno_label.find(err);
    if (it == errno_label.end()) it = errno_label.emplace(err, a.intern(errno_name(err))).first;
    return it->second;
  };
  // Host-wide per (nr, abi): summed here, named once each.
  std::unordered_map<std::uint64_t, SeriesAgg> host;
  auto host_of = [&](std::uint32_t nr, std::uint32_t abi) -> SeriesAgg& { return host[std::uint64_t{abi} << 32 | nr]; };
  for (const auto& row : snap.stats) {
    a.add(cgroup_of(row.key.cgroup_id), syscall_of(row.key.nr, row.key.abi), row.val);
    host_of(row.key.nr, row.key.abi).add(row.val);
  }
  if (!snap.overflow.empty()) {
    const auto overflow = a.intern(kCgroupOverflow);
    for (const auto& row : snap.overflow) {
      a.add(overflow, syscall_of(row.key.nr, row.key.abi), row.val);
      host_of(row.key.nr, row.key.abi).add(row.val);
    }
  }
  for (const auto& row : snap.errors) {
    a.add_error(cgroup_of(row.key.cgroup_id), syscall_of(row.key.nr, row.key.abi), errno_of(row.key.err), row.count);
  }
  for (const auto& row : snap.denied) {
    a.add_denied(cgroup_of(row.key.cgroup_id), syscall_of(row.key.nr, row.key.abi), errno_of(row.key.err), row.count);
  }

  // Retired totals: host-wide always, "(unresolved)" always, a path only
  // while the snapshot has it.
  if (!retired.empty()) {
    std::unordered_map<std::uint64_t, LabelIndex> by_key;
    for (const auto& [id, index] : cgroup_label) by_key.emplace(retired_label_key(a.label(index)), index);
    const auto unresolved = retired_label_key(kCgroupUnresolved);
    for (const auto& r : retired) {
      if (r.key.label == 0) {
        if (r.key.err == 0) host_of(r.key.nr, r.key.abi).add(r.val);
        continue;
      }
      auto it = by_key.find(r.key.label);
      if (it == by_key.end()) {
        if (r.key.label != unresolved) continue;
        it = by_key.emplace(unresolved, a.intern(kCgroupUnresolved)).first;
      }
      if (r.key.err == 0) {
        a.add(it->second, syscall_of(r.key.nr, r.key.abi), r.val);
      } else if (r.key.err & SYSLENS_RETIRED_DENIED) {
        a.add_denied(it->second, syscall_of(r.key.nr, r.key.abi), errno_of(r.key.err & ~SYSLENS_RETIRED_DENIED),
                     r.val.calls);
      } else {
        a.add_error(it->second, syscall_of(r.key.nr, r.key.abi), errno_of(r.key.err), r.val.calls);
      }
    }
  }
  for (const auto& [k, agg] : host) {
    a.add_host(syscall_of(static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(k >> 32)), agg);
  }

  // Workload labels per cgroup path (before finish(): the indices are still
  // the ones in cgroup_label).
  auto label_all = [&] {
    for (const auto& [id, index] : cgroup_label) {
      const std::string& path = a.label(index);
      if (!is_cgroup_path(path)) continue;
      a.workloads[path] = workloads ? workloads->labels_for(path) : WorkloadLabels{};
    }
  };
  label_all();
  if (workloads && workloads->settle(metadata_wait)) label_all();
  a.finish();
  return a;
}

}  // namespace syslens
