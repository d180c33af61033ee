// When a cgroup is removed its final counts stay exported for a grace
// period (so the last increase is scraped), then its series and its kernel
// map entries go away. This decides which; the daemon does the deleting.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace syslens {

class CgroupReclaimer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit CgroupReclaimer(std::chrono::milliseconds grace) : grace_(grace) {}

  // ids: the cgroups present in the kernel maps now; alive(id): whether the
  // cgroup still exists. Returns the ids removed at least `grace` ago.
  std::vector<std::uint64_t> update(const std::unordered_set<std::uint64_t>& ids,
                                    const std::function<bool(std::uint64_t)>& alive, Clock::time_point now) {
    std::vector<std::uint64_t> due;
    for (auto it = gone_since_.begin(); it != gone_since_.end();) {
      it = ids.count(it->first) ? std::next(it) : gone_since_.erase(it);  // already gone from the maps
    }
    for (auto id : ids) {
      auto it = gone_since_.find(id);
      if (it == gone_since_.end()) {
        if (!alive(id)) gone_since_.emplace(id, now);
        continue;
      }
      if (now - it->second >= grace_) {
        due.push_back(id);
        gone_since_.erase(it);
      }
    }
    return due;
  }

  std::size_t in_grace() const { return gone_since_.size(); }

 private:
  std::chrono::milliseconds grace_;
  std::unordered_map<std::uint64_t, Clock::time_point> gone_since_;
};

}  // namespace syslens
