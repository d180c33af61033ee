#include "syslens/kernel/map_reader.h"

#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "bpf_internal.h"

namespace syslens {

using bpf_detail::dump_map;

MapReader::MapReader(Loader& loader)
    : skel_(&loader.skeleton()),
      mode_(loader.mode()),
      store_(loader.thread_store()),
      max_stats_(loader.layout().max_stats),
      max_errno_(loader.layout().max_errno),
      max_threads_(loader.layout().max_threads),
      slots_(loader.layout().slots),
      cpu_slots_(loader.layout().cpu_slots),
      ncpus_(loader.layout().ncpus) {}

Snapshot MapReader::read() {
  Snapshot s;
  auto& m = skel_->maps;

  for (unsigned i = 0; i < SYSLENS_CNT__MAX; ++i) s.counters[i] = bpf_detail::sum_counter(*skel_, ncpus_, i);

  s.stats.reserve(std::min<std::uint32_t>(max_stats_, 1U << 16));
  dump_map<syslens_stats_key, syslens_stats_val>(
      bpf_map__fd(m.syslens_stats), max_stats_,
      [&](const syslens_stats_key& k, const syslens_stats_val& v) {
        s.stats.push_back({k, v});
      },
      [&] { s.stats.clear(); });
  dump_map<syslens_errno_key, std::uint64_t>(
      bpf_map__fd(m.syslens_errors), max_errno_,
      [&](const syslens_errno_key& k, const std::uint64_t& v) {
        s.errors.push_back({k, v});
      },
      [&] { s.errors.clear(); });
  dump_map<syslens_errno_key, std::uint64_t>(
      bpf_map__fd(m.syslens_denied), SYSLENS_DENIED_MAX,
      [&](const syslens_errno_key& k, const std::uint64_t& v) {
        s.denied.push_back({k, v});
      },
      [&] { s.denied.clear(); });

  // The overflow rows only fill once the stats map has refused a key.
  if (s.counters[SYSLENS_CNT_STATS_MAP_FULL] > 0 || s.counters[SYSLENS_CNT_MAP_UPDATE_FAILED] > 0) {
    dump_map<__u32, syslens_stats_val>(
        bpf_map__fd(m.syslens_overflow), 2 * SYSLENS_OVERFLOW_NR_MAX,
        [&](const __u32& row, const syslens_stats_val& v) {
          if (v.calls == 0 && v.returns == 0) return;
          syslens_stats_key k{};
          k.abi = row >= SYSLENS_OVERFLOW_NR_MAX ? SYSLENS_ABI_COMPAT : 0;
          k.nr = row % SYSLENS_OVERFLOW_NR_MAX;
          s.overflow.push_back({k, v});
        },
        [&] { s.overflow.clear(); });
  }
  s.fill.push_back({"syslens_stats", s.stats.size(), max_stats_});
  if (slots_) s.fill.push_back({"syslens_cpu_slots", merge_cpu_slots(s.stats), std::uint64_t{cpu_slots_} * ncpus_});
  s.fill.push_back({"syslens_errors", s.errors.size(), max_errno_});
  s.fill.push_back({"syslens_denied", s.denied.size(), SYSLENS_DENIED_MAX});
  if (mode_ == Mode::full && store_ == ThreadStore::tid_hash) {
    std::uint64_t threads = 0;
    __u32 key = 0, next = 0;
    const __u32* prev = nullptr;
    const int fd = bpf_map__fd(m.syslens_tid_rec);
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      ++threads;
      key = next;
      prev = &key;
    }
    s.fill.push_back({"syslens_tid_rec", threads, max_threads_});
  }
  return s;
}

std::uint64_t MapReader::forget_cgroups(const std::vector<std::uint64_t>& ids, const Snapshot& snap) {
  std::unordered_set<std::uint64_t> gone(ids.begin(), ids.end());
  std::uint64_t deleted = 0;
  const int stats_fd = bpf_map__fd(skel_->maps.syslens_stats);
  const int errors_fd = bpf_map__fd(skel_->maps.syslens_errors);
  for (const auto& r : snap.stats) {
    if (gone.count(r.key.cgroup_id) && bpf_map_delete_elem(stats_fd, &r.key) == 0) ++deleted;
  }
  for (const auto& r : snap.errors) {
    if (gone.count(r.key.cgroup_id) && bpf_map_delete_elem(errors_fd, &r.key) == 0) ++deleted;
  }
  const int denied_fd = bpf_map__fd(skel_->maps.syslens_denied);
  for (const auto& r : snap.denied) {
    if (gone.count(r.key.cgroup_id) && bpf_map_delete_elem(denied_fd, &r.key) == 0) ++deleted;
  }
  // A slot of a removed cgroup has no writer left: zero its counts, then
  // free it (id last), so a CPU that claims it next starts from zero.
  const std::size_t n = std::size_t{cpu_slots_} * static_cast<std::size_t>(ncpus_);
  for (std::size_t i = 0; slots_ && i < n; ++i) {
    auto& e = slots_[i];
    const auto id = __atomic_load_n(&e.key.cgroup_id, __ATOMIC_ACQUIRE);
    if (id == 0 || !gone.count(id)) continue;
    std::memset(&e.val, 0, sizeof(e.val));
    __atomic_store_n(&e.key.cgroup_id, std::uint64_t{0}, __ATOMIC_RELEASE);
    ++deleted;
  }
  return deleted;
}

std::vector<RetiredRow> MapReader::read_retired() {
  std::vector<RetiredRow> out;
  dump_map<syslens_retired_key, syslens_stats_val>(
      bpf_map__fd(skel_->maps.syslens_retired), SYSLENS_RETIRED_MAX,
      [&](const syslens_retired_key& k, const syslens_stats_val& v) {
        out.push_back({k, v});
      },
      [&] { out.clear(); });
  return out;
}

bool MapReader::put_retired(const syslens_retired_key& key, const syslens_stats_val& val) {
  return bpf_map_update_elem(bpf_map__fd(skel_->maps.syslens_retired), &key, &val, BPF_ANY) == 0;
}

void MapReader::erase_retired(const syslens_retired_key& key) {
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.syslens_retired), &key);
}

ReclaimJournal MapReader::read_journal() {
  ReclaimJournal j;
  const __u32 zero = 0;
  syslens_reclaim_state st{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.syslens_reclaim_state), &zero, &st) == 0) j.phase = st.phase;
  dump_map<__u64, __u64>(
      bpf_map__fd(skel_->maps.syslens_reclaim_ids), SYSLENS_RECLAIM_BATCH,
      [&](const __u64& id, const __u64& label) { j.ids.emplace_back(id, label); }, [&] { j.ids.clear(); });
  dump_map<syslens_retired_key, syslens_reclaim_undo>(
      bpf_map__fd(skel_->maps.syslens_reclaim_undo), SYSLENS_RETIRED_MAX,
      [&](const syslens_retired_key& k, const syslens_reclaim_undo& u) { j.undo.emplace_back(k, u); },
      [&] { j.undo.clear(); });
  return j;
}

namespace {

// Deletes every entry of a hash map (keys of type K).
template <typename K>
void clear_map(int fd) {
  K key{};
  // Deleting the first key each time: a walk from a deleted key restarts anyway.
  while (bpf_map_get_next_key(fd, nullptr, &key) == 0) {
    if (bpf_map_delete_elem(fd, &key) != 0) break;
  }
}

}  // namespace

bool MapReader::record_batch(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ids,
                             const std::vector<std::pair<syslens_retired_key, syslens_reclaim_undo>>& undo) {
  const int ids_fd = bpf_map__fd(skel_->maps.syslens_reclaim_ids);
  const int undo_fd = bpf_map__fd(skel_->maps.syslens_reclaim_undo);
  set_reclaim_phase(SYSLENS_RECLAIM_PREPARING);
  clear_map<__u64>(ids_fd);
  clear_map<syslens_retired_key>(undo_fd);
  bool ok = true;
  for (const auto& [id, label] : ids) {
    ok = ok && bpf_map_update_elem(ids_fd, &id, &label, BPF_ANY) == 0;
  }
  for (const auto& [key, u] : undo) {
    ok = ok && bpf_map_update_elem(undo_fd, &key, &u, BPF_ANY) == 0;
  }
  if (!ok) end_batch();
  return ok;
}

void MapReader::set_reclaim_phase(std::uint32_t phase) {
  const __u32 zero = 0;
  syslens_reclaim_state st{};
  st.phase = phase;
  bpf_map_update_elem(bpf_map__fd(skel_->maps.syslens_reclaim_state), &zero, &st, BPF_ANY);
}

void MapReader::end_batch() {
  set_reclaim_phase(SYSLENS_RECLAIM_IDLE);
  clear_map<__u64>(bpf_map__fd(skel_->maps.syslens_reclaim_ids));
  clear_map<syslens_retired_key>(bpf_map__fd(skel_->maps.syslens_reclaim_undo));
}

std::vector<std::pair<std::uint64_t, syslens_group>> MapReader::read_groups() {
  std::vector<std::pair<std::uint64_t, syslens_group>> out;
  dump_map<__u64, syslens_group>(
      bpf_map__fd(skel_->maps.syslens_groups), SYSLENS_GROUPS_MAX,
      [&](const __u64& key, const syslens_group& g) { out.emplace_back(key, g); }, [&] { out.clear(); });
  return out;
}

bool MapReader::put_group(std::uint64_t key, const syslens_group& g) {
  const __u64 k = key;
  return bpf_map_update_elem(bpf_map__fd(skel_->maps.syslens_groups), &k, &g, BPF_ANY) == 0;
}

std::uint64_t MapReader::merge_cpu_slots(std::vector<StatsRow>& stats) const {
  // A key lives in any CPU's slot and in the shared hash: sum them all.
  struct KeyHash {
    std::size_t operator()(const syslens_stats_key& k) const {
      return std::hash<std::uint64_t>{}(k.cgroup_id * 0x9E3779B97F4A7C15ULL ^ (std::uint64_t{k.nr} << 1 | k.abi));
    }
  };
  struct KeyEq {
    bool operator()(const syslens_stats_key& a, const syslens_stats_key& b) const {
      return a.cgroup_id == b.cgroup_id && a.nr == b.nr && a.abi == b.abi;
    }
  };
  // The slots are few (cpu_slots per CPU), the hash's rows many: sum the
  // slots per key in a small table, then walk the rows once.
  std::unordered_map<syslens_stats_key, syslens_stats_val, KeyHash, KeyEq> slotted;
  std::uint64_t used = 0;
  const std::size_t n = std::size_t{cpu_slots_} * static_cast<std::size_t>(ncpus_);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& e = slots_[i];
    syslens_stats_key k{};
    k.cgroup_id = __atomic_load_n(&e.key.cgroup_id, __ATOMIC_ACQUIRE);  // written last by BPF
    if (k.cgroup_id == 0) continue;
    ++used;
    k.nr = e.key.nr;
    k.abi = e.key.abi;
    syslens_stats_val v;
    std::memcpy(&v, &e.val, sizeof(v));  // counters only grow: a racing read is just a little early
    auto [it, fresh] = slotted.try_emplace(k, v);
    if (!fresh) add_counts(it->second, v);
  }
  if (slotted.empty()) return used;
  for (auto& row : stats) {
    auto it = slotted.find(row.key);
    if (it == slotted.end()) continue;
    add_counts(row.val, it->second);
    slotted.erase(it);
  }
  for (const auto& [k, v] : slotted) stats.push_back({k, v});
  return used;
}
}  // namespace syslens
