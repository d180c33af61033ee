#include "syslens/collect/collect.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>

#include "syslens/failpoint.h"

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
  Snapshot snap = maps_.read();
  first_counters_ = snap.counters;
  recover(snap);
  load_groups();
}

void Collect::load_retired() {
  retired_ = maps_.read_retired();
  index_.clear();
  unpersisted_.clear();
  for (std::size_t i = 0; i < retired_.size(); ++i) index_.emplace(retired_[i].key, i);
}

// What the groups' past members used, as the kernel map keeps it.
void Collect::load_groups() {
  groups_.clear();
  groups_unpersisted_.clear();
  for (auto& [key, g] : maps_.read_groups()) {
    g.name[sizeof(g.name) - 1] = '\0';
    groups_.emplace(key, g);
  }
  publish_groups();
}

void Collect::publish_groups() {
  auto past = std::make_shared<PastGroups>();
  for (const auto& [key, g] : groups_) {
    const std::string_view name(g.name);
    const auto tab = name.find('\t');
    if (tab == std::string_view::npos) continue;
    auto& syscalls = (*past)[{std::string(name.substr(0, tab)), std::string(name.substr(tab + 1))}];
    for (std::uint16_t abi = 0; abi < 2; ++abi) {
      for (std::uint32_t nr = 0; nr < SYSLENS_GROUP_NRS; ++nr) {
        if (g.used[abi][nr / 64] & (std::uint64_t{1} << (nr % 64))) syscalls.insert({nr, abi});
      }
    }
  }
  past_groups_ = std::move(past);
}

void Collect::remember_groups(const Snapshot& snap, const std::vector<std::uint64_t>& due) {
  if (!workloads_) return;
  const std::unordered_set<std::uint64_t> ids(due.begin(), due.end());
  // Per cgroup: calls less refusals per (nr, abi); used where some remain.
  std::map<std::uint64_t, std::map<std::pair<std::uint32_t, std::uint16_t>, std::int64_t>> net;
  for (const auto& r : snap.stats) {
    if (ids.count(r.key.cgroup_id)) {
      net[r.key.cgroup_id][{r.key.nr, static_cast<std::uint16_t>(r.key.abi)}] += static_cast<std::int64_t>(r.val.calls);
    }
  }
  for (const auto& r : snap.denied) {
    if (ids.count(r.key.cgroup_id)) net[r.key.cgroup_id][{r.key.nr, r.key.abi}] -= static_cast<std::int64_t>(r.count);
  }
  std::set<std::uint64_t> changed;
  for (const auto& [id, calls] : net) {
    const auto path = cgroups_.path_of(id);
    if (!path) continue;
    // As the last collection labelled it: the runtime may have forgotten a
    // container that is gone.
    const auto seen = groups_of_path_.find(*path);
    const auto groups = seen != groups_of_path_.end() ? seen->second : workload_groups(workloads_->labels_for(*path));
    for (const auto& [kind, name] : groups) {
      std::string text = kind;
      text.append("\t").append(name);
      if (text.size() >= SYSLENS_GROUP_NAME_BYTES) {
        ++stats_.groups_dropped_name_too_long;  // longer than the map keeps
        continue;
      }
      const auto key = retired_label_key(text);
      if (groups_unpersisted_.size() >= maps_.groups_capacity() && !groups_.count(key)) {
        ++stats_.groups_dropped_full;  // memory is bounded too: as many again as the map
        continue;
      }
      auto [it, fresh] = groups_.try_emplace(key);
      if (fresh) std::memcpy(it->second.name, text.data(), text.size());
      for (const auto& [syscall, n] : calls) {
        const auto [nr, abi] = syscall;
        if (n <= 0 || nr >= SYSLENS_GROUP_NRS || abi > SYSLENS_ABI_COMPAT) continue;
        auto& word = it->second.used[abi][nr / 64];
        const auto bit = std::uint64_t{1} << (nr % 64);
        if (word & bit) continue;
        word |= bit;
        changed.insert(key);
      }
      if (fresh) changed.insert(key);
    }
  }
  // A group the map had no room for is tried again with every change.
  changed.insert(groups_unpersisted_.begin(), groups_unpersisted_.end());
  for (const auto key : changed) {
    if (maps_.put_group(key, groups_.at(key))) {
      groups_unpersisted_.erase(key);
    } else if (groups_unpersisted_.insert(key).second && !warned_groups_) {
      warned_groups_ = true;
      spdlog::warn(
          "the syslens_groups map is full ({} groups): what new workload groups' past members used is "
          "kept in memory only and will not survive a restart",
          maps_.groups_capacity());
    }
  }
  if (!changed.empty()) publish_groups();
}

// A previous run killed in the middle of a batch: PREPARING or FOLDING, the
// retired rows go back to what they were and the batch runs again (its
// cgroups' entries are all still there); DELETING, the rows hold the batch
// already and only the deletion is finished.
void Collect::recover(Snapshot& snap) {
  const auto j = maps_.read_journal();
  if (j.phase == SYSLENS_RECLAIM_PREPARING || j.phase == SYSLENS_RECLAIM_FOLDING) {
    for (const auto& [key, u] : j.undo) {
      if (u.present) {
        maps_.put_retired(key, u.val);
      } else {
        maps_.erase_retired(key);
      }
    }
  }
  load_retired();
  if (j.phase == SYSLENS_RECLAIM_IDLE || j.ids.empty()) {
    // Done, or not begun: at most records to clear.
    if (j.phase != SYSLENS_RECLAIM_IDLE || !j.undo.empty()) maps_.end_batch();
    return;
  }
  if (j.phase == SYSLENS_RECLAIM_DELETING) {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, label] : j.ids) ids.push_back(id);
    stats_.entries_reclaimed += maps_.forget_cgroups(ids, snap);
    stats_.cgroups_reclaimed += ids.size();
    maps_.end_batch();
  } else if (!reclaim_batch(snap, j.ids)) {
    // Rows back as they were, entries all there: as if it never started.
    maps_.end_batch();
  }
  ++stats_.batches_recovered;
  spdlog::info("finished the reclaim of {} removed cgroups that the previous run left in flight", j.ids.size());
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
  s.groups = groups_.size();
  s.groups_unpersisted = groups_unpersisted_.size();
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
    for (const auto& r : snap.denied) ids.insert(r.key.cgroup_id);
    const auto due = reclaimer_.update(
        ids, [&](std::uint64_t id) { return cgroups_.exists(id); }, now);
    if (!due.empty()) {
      reclaim(snap, due);
      tracked.clear();  // less what was reclaimed (a deferred batch stays)
      for (const auto& r : snap.stats) tracked.insert(r.key.cgroup_id);
    }
  }
  warn_failures(snap.counters, snap.fill);
  auto c = std::make_shared<Collection>();
  c->at = now;
  c->counters = snap.counters;
  c->fill = std::move(snap.fill);
  c->fill.push_back({"syslens_retired", retired_.size() - unpersisted_.size(), maps_.retired_capacity()});
  c->tracked_cgroups = tracked.size();
  c->fill.push_back({"syslens_groups", groups_.size() - groups_unpersisted_.size(), maps_.groups_capacity()});
  c->past_groups = past_groups_;
  c->agg = aggregate(snap, retired_, cgroups_, workloads_, opts_.arch, opts_.metadata_wait);
  // A removed container's labels go when its runtime forgets it, before the
  // reclaim: keep the groups a path was last seen in while it is exported.
  decltype(groups_of_path_) groups_of_path;
  for (const auto& [path, labels] : c->agg.workloads) {
    if (auto g = workload_groups(labels); !g.empty()) {
      groups_of_path.emplace(path, std::move(g));
    } else if (auto old = groups_of_path_.find(path); old != groups_of_path_.end()) {
      groups_of_path.emplace(path, std::move(old->second));
    }
  }
  groups_of_path_ = std::move(groups_of_path);
  if (reclaiming) expire_tombstones(c->agg, now);
  return c;
}

// Counted always (syslens_bpf_failures_total), said once: the first time a
// failure counter grows while this syslensd runs (pinned counters carry a
// previous run's). A full map's line says how full it is now: entries far
// below capacity mean it was full of rows since reclaimed, or it was not
// full at all.
void Collect::warn_failures(const std::array<std::uint64_t, SYSLENS_CNT__MAX>& counters,
                            const std::vector<MapFill>& fill) {
  for (unsigned i = 0; i < SYSLENS_CNT__MAX; ++i) {
    const auto& info = counter_info(i);
    if (!info.failure || warned_counter_[i] || counters[i] <= first_counters_[i]) continue;
    warned_counter_[i] = true;
    std::string now;
    for (const auto& f : fill) {
      if (info.map && std::string_view(f.map) == info.map)
        now = fmt::format(" [{} of {} entries now]", f.entries, f.capacity);
    }
    spdlog::warn("{} (syslens_bpf_failures_total{{reason=\"{}\"}}){}", info.what, info.name, now);
  }
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
  remember_groups(snap, due);
  Batch batch;
  for (std::size_t i = 0; i < due.size(); ++i) {
    const auto path = cgroups_.path_of(due[i]);
    batch.emplace_back(due[i], retired_label_key(path ? *path : std::string(kCgroupUnresolved)));
    if (batch.size() == SYSLENS_RECLAIM_BATCH || i + 1 == due.size()) {
      if (!reclaim_batch(snap, batch)) ++stats_.batches_deferred;
      batch.clear();
    }
  }
  spdlog::debug("reclaimed {} removed cgroups", due.size());
}

bool Collect::reclaim_batch(Snapshot& snap, const Batch& batch) {
  std::unordered_map<std::uint64_t, std::uint64_t> label_of(batch.begin(), batch.end());
  // What the batch adds to each retired row, in a stable order.
  std::vector<RetiredRow> adds;
  std::unordered_map<syslens_retired_key, std::size_t, KeyHash, KeyEq> at;
  auto add = [&](const syslens_retired_key& key) -> syslens_stats_val& {
    auto [it, fresh] = at.try_emplace(key, adds.size());
    if (fresh) adds.push_back({key, syslens_stats_val{}});
    return adds[it->second].val;
  };
  for (const auto& r : snap.stats) {
    auto it = label_of.find(r.key.cgroup_id);
    if (it == label_of.end()) continue;
    const auto abi = static_cast<std::uint16_t>(r.key.abi);
    add_counts(add({it->second, r.key.nr, abi, 0}), r.val);
    add_counts(add({0, r.key.nr, abi, 0}), r.val);
  }
  for (const auto& r : snap.errors) {
    auto it = label_of.find(r.key.cgroup_id);
    if (it == label_of.end()) continue;
    add({it->second, r.key.nr, r.key.abi, r.key.err}).calls += r.count;
  }
  for (const auto& r : snap.denied) {
    auto it = label_of.find(r.key.cgroup_id);
    if (it == label_of.end()) continue;
    add({it->second, r.key.nr, r.key.abi, static_cast<std::uint16_t>(r.key.err | SYSLENS_RETIRED_DENIED)}).calls +=
        r.count;
  }
  // The journal first: each row's value before the batch.
  std::vector<std::pair<syslens_retired_key, syslens_reclaim_undo>> undo;
  undo.reserve(adds.size());
  for (const auto& a : adds) {
    syslens_reclaim_undo u{};
    if (auto it = index_.find(a.key); it != index_.end() && !unpersisted_.count(a.key)) {
      u.val = retired_[it->second].val;
      u.present = 1;
    }
    undo.emplace_back(a.key, u);
  }
  if (!maps_.record_batch(batch, undo)) {
    if (!warned_journal_) {
      warned_journal_ = true;
      spdlog::warn("the reclaim journal cannot hold a batch of {} cgroups ({} rows): reclaim deferred", batch.size(),
                   undo.size());
    }
    return false;
  }
  failpoint("reclaim.prepared");
  maps_.set_reclaim_phase(SYSLENS_RECLAIM_FOLDING);
  for (const auto& a : adds) {
    fold(a.key, a.val);
    if (&a == &adds.front()) failpoint("reclaim.folding");
  }
  maps_.set_reclaim_phase(SYSLENS_RECLAIM_DELETING);
  std::vector<std::uint64_t> ids;
  ids.reserve(batch.size());
  for (const auto& [id, label] : batch) ids.push_back(id);
  const auto n = maps_.forget_cgroups(ids, snap);
  failpoint("reclaim.deleted");
  maps_.end_batch();
  for (auto id : ids) cgroups_.forget(id);
  auto gone = [&](std::uint64_t id) { return label_of.count(id) > 0; };
  std::erase_if(snap.stats, [&](const StatsRow& r) { return gone(r.key.cgroup_id); });
  std::erase_if(snap.errors, [&](const ErrnoRow& r) { return gone(r.key.cgroup_id); });
  std::erase_if(snap.denied, [&](const ErrnoRow& r) { return gone(r.key.cgroup_id); });
  stats_.cgroups_reclaimed += batch.size();
  stats_.entries_reclaimed += n;
  return true;
}

void Collect::expire_tombstones(const AggregatedSnapshot& agg, Clock::time_point now) {
  std::unordered_set<std::uint64_t> present;
  for (const auto& s : agg.series) present.insert(retired_label_key(agg.label(s.cgroup)));
  for (const auto& e : agg.errors) present.insert(retired_label_key(agg.label(e.cgroup)));
  for (const auto& e : agg.denied) present.insert(retired_label_key(agg.label(e.cgroup)));
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
