// Fakes of the kernel edge for the collect and export tests: the kernel maps
// as a snapshot the test sets (with the retired totals in memory) and a
// cgroup namer over a map; and a small parser of the text the collector
// writes.
#pragma once

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "syslens/kernel/cgroup_paths.h"
#include "syslens/kernel/snapshot.h"

namespace syslens::test {

// The kernel maps: a snapshot the test sets, the retired totals in memory
// (capacity rows at most, as the kernel map) and the reclaim journal. A kill:
// with kill_after = n, the (n+1)th change to the maps from now (a retired
// row, the journal, an entry deleted) throws Killed instead, as if syslensd
// died just before it; what the maps hold is then what a restart finds.
class FakeSource final : public KernelMaps {
 public:
  using Key = std::tuple<std::uint64_t, std::uint32_t, std::uint16_t, std::uint16_t>;
  struct Killed {};
  Snapshot snap;
  std::map<Key, RetiredRow> retired;
  std::uint64_t capacity = SYSLENS_RETIRED_MAX;
  std::uint32_t phase = SYSLENS_RECLAIM_IDLE;
  std::map<std::uint64_t, std::uint64_t> ids;
  std::map<Key, std::pair<syslens_retired_key, syslens_reclaim_undo>> undo;
  std::size_t undo_capacity = SYSLENS_RETIRED_MAX;
  long kill_after = -1;  // -1: never
  int changes = 0;       // every change made, in all

  Snapshot read() override { return snap; }
  std::uint64_t forget_cgroups(const std::vector<std::uint64_t>& gone_ids, const Snapshot&) override {
    const std::set<std::uint64_t> gone(gone_ids.begin(), gone_ids.end());
    std::uint64_t n = 0;
    auto forget = [&](auto& rows) {
      for (auto it = rows.begin(); it != rows.end();) {
        if (!gone.count(it->key.cgroup_id)) {
          ++it;
          continue;
        }
        change();
        it = rows.erase(it);
        ++n;
      }
    };
    forget(snap.stats);
    forget(snap.errors);
    forget(snap.denied);
    return n;
  }
  std::vector<RetiredRow> read_retired() override {
    std::vector<RetiredRow> out;
    for (const auto& [k, r] : retired) out.push_back(r);
    return out;
  }
  static Key key(const syslens_retired_key& k) { return std::make_tuple(k.label, k.nr, k.abi, k.err); }
  bool put_retired(const syslens_retired_key& k, const syslens_stats_val& v) override {
    if (!retired.count(key(k)) && retired.size() >= capacity) return false;
    change();
    retired[key(k)] = {k, v};
    return true;
  }
  void erase_retired(const syslens_retired_key& k) override {
    change();
    retired.erase(key(k));
  }
  std::uint64_t retired_capacity() const override { return capacity; }
  ReclaimJournal read_journal() override {
    ReclaimJournal j;
    j.phase = phase;
    j.ids.assign(ids.begin(), ids.end());
    for (const auto& [k, u] : undo) j.undo.push_back(u);
    return j;
  }
  bool record_batch(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& batch,
                    const std::vector<std::pair<syslens_retired_key, syslens_reclaim_undo>>& rows) override {
    set_reclaim_phase(SYSLENS_RECLAIM_PREPARING);
    change();
    ids.clear();
    undo.clear();
    for (const auto& [id, label] : batch) {
      change();
      ids[id] = label;
    }
    for (const auto& r : rows) {
      if (undo.size() >= undo_capacity) {
        end_batch();
        return false;
      }
      change();
      undo[key(r.first)] = r;
    }
    return true;
  }
  void set_reclaim_phase(std::uint32_t p) override {
    change();
    phase = p;
  }
  std::map<std::uint64_t, syslens_group> groups;
  std::size_t groups_room = SYSLENS_GROUPS_MAX;
  std::uint64_t groups_capacity() const override { return groups_room; }
  std::vector<std::pair<std::uint64_t, syslens_group>> read_groups() override { return {groups.begin(), groups.end()}; }
  bool put_group(std::uint64_t key, const syslens_group& g) override {
    if (!groups.count(key) && groups.size() >= groups_room) return false;
    groups[key] = g;
    return true;
  }
  void end_batch() override {
    set_reclaim_phase(SYSLENS_RECLAIM_IDLE);
    change();
    ids.clear();
    undo.clear();
  }

 private:
  void change() {
    if (kill_after == 0) throw Killed{};
    if (kill_after > 0) --kill_after;
    ++changes;
  }
};

class FakeNamer final : public CgroupNamer {
 public:
  std::map<std::uint64_t, std::string> paths;
  std::set<std::uint64_t> removed;  // known paths whose cgroup is gone
  int lookups = 0;
  bool exists(std::uint64_t id) override { return paths.count(id) && !removed.count(id); }
  std::optional<std::string> path_of(std::uint64_t id) override {
    ++lookups;
    auto it = paths.find(id);
    if (it == paths.end()) return std::nullopt;
    return it->second;
  }
};

inline StatsRow row(std::uint64_t cg, std::uint32_t nr, std::uint64_t calls, std::uint32_t abi = 0) {
  StatsRow r{};
  r.key.cgroup_id = cg;
  r.key.nr = nr;
  r.key.abi = abi;
  r.val.calls = calls;
  r.val.returns = calls;
  r.val.sum_ns = calls * 1000;
  r.val.hist[10] = calls;  // <= 1024 ns
  return r;
}

// n failures with ENOENT of syscall nr in cgroup cg.
inline ErrnoRow enoent(std::uint64_t cg, std::uint32_t nr, std::uint64_t n) {
  ErrnoRow e{};
  e.key.cgroup_id = cg;
  e.key.nr = nr;
  e.key.err = 2;
  e.count = n;
  return e;
}

// One sample of the text exposition format.
struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Every sample named `name`, in output order (a small parser of the format
// the collector writes: name{l="v",...} value).
inline std::vector<Sample> samples(const std::string& text, const std::string& name) {
  std::vector<Sample> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto brace = line.find('{');
    const auto space = line.rfind(' ');
    const std::string n = line.substr(0, std::min(brace, line.find(' ')));
    if (n != name) continue;
    Sample s;
    if (brace != std::string::npos) {
      const std::string body = line.substr(brace + 1, line.rfind('}') - brace - 1);
      std::size_t i = 0;
      while (i < body.size()) {
        const auto eq = body.find('=', i);
        std::string v;
        std::size_t j = eq + 2;
        for (; j < body.size() && body[j] != '"'; ++j) {
          if (body[j] == '\\') ++j;
          v += body[j];
        }
        s.labels[body.substr(i, eq - i)] = v;
        i = j + 2;  // past '",'
      }
    }
    const std::string v = line.substr(space + 1);
    s.value = v == "+Inf" ? INFINITY : std::stod(v);
    out.push_back(std::move(s));
  }
  return out;
}

inline bool has_family(const std::string& text, const std::string& name) {
  return text.find("# TYPE " + name + " ") != std::string::npos;
}

// Empty and absent labels are the same to Prometheus; we leave empty ones out.
inline std::string label(const Sample& s, const std::string& name) {
  auto it = s.labels.find(name);
  return it == s.labels.end() ? "" : it->second;
}

}  // namespace syslens::test
