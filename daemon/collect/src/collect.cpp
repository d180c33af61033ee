#include "syslens/collect/collect.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

namespace syslens {

std::size_t Collect::KeyHash::operator()(const syslens_retired_key& k) const {
  return std::hash<std::uint64_t>{}(k.label * 0x9E3779B97F4A7C15ULL ^
                                    (std::uint64_t{k.nr} << 32 | std::uint64_t{k.abi} << 16 | k.err));
}

bool Collect::KeyEq::operator()(const syslens_retired_key& a, const syslens_retired_key& b) const {
  return a.label == b.label && a.nr == b.nr && a.abi == b.abi && a.err == b.err;
}

Collect::Collect(KernelMaps& maps, CgroupNamer& cgroups, WorkloadNamer* workloads, CollectOptions opts)
    : maps_(maps), cgroups_(cgroups), workloads_(workloads), opts_(opts), reclaimer_(opts.removed_grace) {
  retired_ = maps_.read_retired();
  for (std::size_t i = 0; i < retired_.size(); ++i) index_.emplace(retired_[i].key, i);
}

std::shared_ptr<const Collection> Collect::latest(Clock::duration max_age) {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  if (latest_ && max_age > Clock::duration::zero() && now - latest_->at < max_age) return latest_;
  latest_.reset();  // freed before the next is built: one collection in memory, not two
  latest_ = read(now);
  return latest_;
}

ReclaimStats Collect::reclaim_stats() const {
  std::lock_guard lock(mu_);
  ReclaimStats s = stats_;
  s.in_grace = reclaimer_.in_grace();
  s.retired_rows = retired_.size();
  s.retired_unpersisted = unpersisted_.size();
  return s;
}

std::shared_ptr<Collection> Collect::read(Clock::time_point now) {
  cgroups_.refresh();
  Snapshot snap = maps_.read();
  std::unordered_set<std::uint64_t> tracked;  // cgroups in the stats map
  for (const auto& r : snap.stats) tracked.insert(r.key.cgroup_id);
  const bool reclaiming = !last_reclaim_ || now - *last_reclaim_ >= opts_.reclaim_every;
  if (reclaiming) {
    last_reclaim_ = now;
    auto ids = tracked;  // and those with only errno entries
    for (const auto& r : snap.errors) ids.insert(r.key.cgroup_id);
    const auto due = reclaimer_.update(
        ids, [&](std::uint64_t id) { return cgroups_.exists(id); }, now);
    if (!due.empty()) reclaim(snap, due);
    for (auto id : due) tracked.erase(id);
  }
  auto c = std::make_shared<Collection>();
  c->at = now;
  c->counters = snap.counters;
  c->fill = std::move(snap.fill);
  c->fill.push_back({"syslens_retired", retired_.size() - unpersisted_.size(), maps_.retired_capacity()});
  c->tracked_cgroups = tracked.size();
  c->agg = aggregate(snap, retired_, cgroups_, workloads_, opts_.arch, opts_.metadata_wait);
  if (reclaiming) expire_tombstones(c->agg, now);
  return c;
}

void Collect::fold(const syslens_retired_key& key, const syslens_stats_val& v) {
  auto [it, fresh] = index_.try_emplace(key, retired_.size());
  if (fresh) {
    retired_.push_back({key, syslens_stats_val{}});
  }
  auto& row = retired_[it->second];
  add_counts(row.val, v);
  // An existing row is always updated in place; a new one needs room.
  if (maps_.put_retired(key, row.val)) {
    unpersisted_.erase(key);
    return;
  }
  unpersisted_.insert(key);
  if (!warned_full_) {
    warned_full_ = true;
    spdlog::warn(
        "the syslens_retired map is full ({} rows): further totals of reclaimed cgroups are kept in "
        "memory only and will not survive a restart",
        maps_.retired_capacity());
  }
}

void Collect::reclaim(Snapshot& snap, const std::vector<std::uint64_t>& due) {
  std::unordered_map<std::uint64_t, std::uint64_t> label_of;  // cgroup id -> retired label key
  for (auto id : due) {
    const auto path = cgroups_.path_of(id);
    label_of.emplace(id, retired_label_key(path ? *path : std::string(kCgroupUnresolved)));
  }
  for (const auto& r : snap.stats) {
    auto it = label_of.find(r.key.cgroup_id);
    if (it == label_of.end()) continue;
    const auto abi = static_cast<std::uint16_t>(r.key.abi);
    fold({it->second, r.key.nr, abi, 0}, r.val);
    fold({0, r.key.nr, abi, 0}, r.val);
  }
  for (const auto& r : snap.errors) {
    auto it = label_of.find(r.key.cgroup_id);
    if (it == label_of.end()) continue;
    syslens_stats_val v{};
    v.calls = r.count;
    fold({it->second, r.key.nr, r.key.abi, r.key.err}, v);
  }
  const auto n = maps_.forget_cgroups(due, snap);
  for (auto id : due) cgroups_.forget(id);
  auto gone = [&](std::uint64_t id) { return label_of.count(id) > 0; };
  std::erase_if(snap.stats, [&](const StatsRow& r) { return gone(r.key.cgroup_id); });
  std::erase_if(snap.errors, [&](const ErrnoRow& r) { return gone(r.key.cgroup_id); });
  stats_.cgroups_reclaimed += due.size();
  stats_.entries_reclaimed += n;
  spdlog::debug("reclaimed {} removed cgroups ({} map entries)", due.size(), n);
}

void Collect::expire_tombstones(const AggregatedSnapshot& agg, Clock::time_point now) {
  std::unordered_set<std::uint64_t> present;
  for (const auto& s : agg.series) present.insert(retired_label_key(agg.label(s.cgroup)));
  for (const auto& e : agg.errors) present.insert(retired_label_key(agg.label(e.cgroup)));
  const auto unresolved = retired_label_key(kCgroupUnresolved);
  std::unordered_set<std::uint64_t> expired;
  std::unordered_set<std::uint64_t> seen;
  for (const auto& r : retired_) {
    const auto l = r.key.label;
    if (l == 0 || l == unresolved || !seen.insert(l).second) continue;
    if (present.count(l)) {
      absent_since_.erase(l);
      continue;
    }
    auto [it, fresh] = absent_since_.try_emplace(l, now);
    if (!fresh && now - it->second >= opts_.removed_grace) {
      expired.insert(l);
      absent_since_.erase(it);
    }
  }
  for (auto it = absent_since_.begin(); it != absent_since_.end();) {
    it = seen.count(it->first) ? std::next(it) : absent_since_.erase(it);
  }
  if (expired.empty()) return;
  // The path's series ended with its last cgroup; the host-wide totals keep
  // what it contributed.
  std::vector<RetiredRow> kept;
  kept.reserve(retired_.size());
  index_.clear();
  for (auto& r : retired_) {
    if (expired.count(r.key.label)) {
      if (!unpersisted_.erase(r.key)) maps_.erase_retired(r.key);
      ++stats_.retired_expired;
      continue;
    }
    index_.emplace(r.key, kept.size());
    kept.push_back(r);
  }
  retired_ = std::move(kept);
}

}  // namespace syslens
