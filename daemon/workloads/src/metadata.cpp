#include "syslens/workloads/metadata.h"

#include <spdlog/spdlog.h>

namespace syslens {

MetadataCache::MetadataCache(std::vector<std::unique_ptr<MetadataSource>> sources, MetadataOptions opts)
    : sources_(std::move(sources)), opts_(opts) {
  for (const auto& s : sources_) stats_.push_back({s->name(), 0, 0, false, ""});
  if (!sources_.empty()) {
    requested_ = 1;  // a first listing right away
    worker_ = std::thread([this] { run(); });
  }
}

MetadataCache::~MetadataCache() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::optional<ContainerMeta> MetadataCache::get(const std::string& id, bool* worth_waiting) {
  std::lock_guard lock(mu_);
  if (worth_waiting) *worth_waiting = false;
  auto it = entries_.find(id);
  if (it != entries_.end()) return it->second;
  if (sources_.empty()) return std::nullopt;
  if (requested_ == completed_) {
    ++requested_;
    cv_.notify_all();
  }
  // Worth waiting for only until a refresh asked for after the id was first
  // missed has finished: after that no runtime knows it (a plain cgroup
  // named like a container, or every runtime down), and waiting again would
  // cost every scrape the whole budget.
  if (unknown_.size() >= opts_.max_entries) unknown_.clear();
  const auto first = unknown_.emplace(id, requested_).first->second;
  if (worth_waiting) *worth_waiting = completed_ < first;
  return std::nullopt;
}

void MetadataCache::wait_for_refresh(std::chrono::milliseconds budget) {
  std::unique_lock lock(mu_);
  const auto target = requested_;
  done_cv_.wait_for(lock, budget, [&] { return completed_ >= target || stop_; });
}

void MetadataCache::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [&] { return stop_ || requested_ > completed_; });
    if (stop_) break;
    // An unknown id that no runtime knows (a plain cgroup named like one)
    // must not turn into a refresh loop.
    const auto next = last_refresh_ + opts_.min_refresh_interval;
    if (std::chrono::steady_clock::now() < next) {
      cv_.wait_until(lock, next, [&] { return stop_; });
      if (stop_) break;
    }
    const auto target = requested_;
    lock.unlock();
    refresh();
    lock.lock();
    last_refresh_ = std::chrono::steady_clock::now();
    completed_ = target;
    done_cv_.notify_all();
  }
}

void MetadataCache::refresh() {
  std::unordered_map<std::string, ContainerMeta> fresh;
  std::vector<bool> failed(sources_.size(), false);
  std::uint64_t dropped = 0;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    try {
      for (auto& [id, meta] : sources_[i]->list(opts_.timeout)) {
        if (fresh.size() >= opts_.max_entries) {
          ++dropped;
          continue;
        }
        meta.source = sources_[i]->name();
        fresh.emplace(id, std::move(meta));
      }
      std::lock_guard lock(mu_);
      auto& st = stats_[i];
      ++st.refreshes;
      if (!st.up) spdlog::info("container metadata: {} is reachable", st.name);
      st.up = true;
      st.last_error.clear();
    } catch (const std::exception& e) {
      failed[i] = true;
      std::lock_guard lock(mu_);
      auto& st = stats_[i];
      ++st.errors;
      // Log on every change of state, not on every failed refresh.
      if (st.up || st.last_error != e.what()) {
        if (dynamic_cast<const RuntimeAbsent*>(&e)) {
          spdlog::info("container metadata: {} not present: {}", st.name, e.what());
        } else {
          spdlog::warn("container metadata: {} unavailable: {}", st.name, e.what());
        }
      }
      st.up = false;
      st.last_error = e.what();
    }
  }
  std::lock_guard lock(mu_);
  // Keep what a failed source said last time rather than forgetting it.
  for (auto& [id, meta] : entries_) {
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      if (failed[i] && meta.source == sources_[i]->name() && fresh.size() < opts_.max_entries) {
        fresh.emplace(id, meta);
      }
    }
  }
  entries_ = std::move(fresh);
  std::erase_if(unknown_, [&](const auto& kv) { return entries_.count(kv.first) > 0; });
  dropped_ += dropped;
}

std::vector<MetadataSourceStats> MetadataCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::size_t MetadataCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::uint64_t MetadataCache::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace syslens
