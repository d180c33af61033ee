#include "syslens/workloads/metadata.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace syslens {

MetadataCache::MetadataCache(std::vector<std::unique_ptr<MetadataSource>> sources, MetadataOptions opts) : opts_(opts) {
  for (auto& s : sources) {
    auto w = std::make_unique<Worker>();
    w->name = s->name();
    w->stats = {w->name, 0, 0, false, ""};
    w->source = std::move(s);
    workers_.push_back(std::move(w));
  }
  if (workers_.empty()) return;
  requested_ = 1;  // a first listing right away
  for (auto& w : workers_) w->thread = std::thread([this, raw = w.get()] { run(*raw); });
}

MetadataCache::~MetadataCache() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::uint64_t MetadataCache::completed_locked() const {
  // A runtime whose last call failed is not waited for: it will most likely
  // fail again, at the cost of its whole timeout.
  std::uint64_t least = requested_;
  for (const auto& w : workers_) {
    if (w->stats.up || w->stats.errors == 0) least = std::min(least, w->completed);
  }
  return least;
}

std::optional<ContainerMeta> MetadataCache::get(const std::string& id, bool* worth_waiting) {
  std::lock_guard lock(mu_);
  if (worth_waiting) *worth_waiting = false;
  // The first source that knows the id wins, in configuration order.
  for (const auto& w : workers_) {
    if (auto it = w->entries.find(id); it != w->entries.end()) return it->second;
  }
  if (workers_.empty()) return std::nullopt;
  // Ask again if some runtime is idle: one that hangs until its timeout
  // must not pace the others' refreshes.
  if (std::any_of(workers_.begin(), workers_.end(), [&](const auto& w) { return w->completed == requested_; })) {
    ++requested_;
    cv_.notify_all();
  }
  const auto completed = completed_locked();
  // Worth waiting for only until a refresh asked for after the id was first
  // missed has finished: after that no runtime knows it (a plain cgroup
  // named like a container, or every runtime down), and waiting again would
  // cost every scrape the whole budget.
  if (unknown_.size() >= opts_.max_entries) unknown_.clear();
  const auto first = unknown_.emplace(id, requested_).first->second;
  if (worth_waiting) *worth_waiting = completed < first;
  return std::nullopt;
}

void MetadataCache::wait_for_refresh(std::chrono::milliseconds budget) {
  std::unique_lock lock(mu_);
  const auto target = requested_;
  done_cv_.wait_for(lock, budget, [&] { return completed_locked() >= target || stop_; });
}

void MetadataCache::run(Worker& w) {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [&] { return stop_ || requested_ > w.completed; });
    if (stop_) break;
    // An unknown id that no runtime knows (a plain cgroup named like one)
    // must not turn into a refresh loop.
    const auto next = w.last_refresh + opts_.min_refresh_interval;
    if (std::chrono::steady_clock::now() < next) {
      cv_.wait_until(lock, next, [&] { return stop_; });
      if (stop_) break;
    }
    const auto target = requested_;
    lock.unlock();
    refresh(w);
    lock.lock();
    w.last_refresh = std::chrono::steady_clock::now();
    w.completed = target;
    done_cv_.notify_all();
  }
}

void MetadataCache::refresh(Worker& w) {
  std::vector<std::pair<std::string, ContainerMeta>> listed;
  try {
    listed = w.source->list(opts_.timeout);
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    auto& st = w.stats;
    ++st.errors;
    // Log on every change of state, not on every failed refresh. What the
    // source said last time is kept rather than forgotten.
    if (st.up || st.last_error != e.what()) {
      if (dynamic_cast<const RuntimeAbsent*>(&e)) {
        spdlog::info("container metadata: {} not present: {}", st.name, e.what());
      } else {
        spdlog::warn("container metadata: {} unavailable: {}", st.name, e.what());
      }
    }
    st.up = false;
    st.last_error = e.what();
    return;
  }
  std::lock_guard lock(mu_);
  // The bound is over every source's entries together.
  std::size_t others = 0;
  for (const auto& o : workers_) {
    if (o.get() != &w) others += o->entries.size();
  }
  const std::size_t room = opts_.max_entries > others ? opts_.max_entries - others : 0;
  std::unordered_map<std::string, ContainerMeta> fresh;
  for (auto& [id, meta] : listed) {
    if (fresh.size() >= room) {
      ++dropped_;
      continue;
    }
    meta.source = w.name;
    fresh.emplace(std::move(id), std::move(meta));
  }
  w.entries = std::move(fresh);
  std::erase_if(unknown_, [&](const auto& kv) { return w.entries.count(kv.first) > 0; });
  auto& st = w.stats;
  ++st.refreshes;
  if (!st.up) spdlog::info("container metadata: {} is reachable", st.name);
  st.up = true;
  st.last_error.clear();
}

std::vector<MetadataSourceStats> MetadataCache::stats() const {
  std::lock_guard lock(mu_);
  std::vector<MetadataSourceStats> out;
  for (const auto& w : workers_) out.push_back(w->stats);
  return out;
}

std::size_t MetadataCache::size() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& w : workers_) n += w->entries.size();
  return n;
}

std::uint64_t MetadataCache::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace syslens
