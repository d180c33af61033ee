// Container metadata from the runtimes' own APIs (Docker Engine API, CRI),
// cached, bounded, refreshed on an unknown id, and never blocking for longer
// than a caller's small budget: a runtime that is down or slow costs a
// warning and empty labels, and delays no other runtime's answers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace syslens {

struct ContainerMeta {
  std::string name;  // container name (Kubernetes container name, Docker name)
  std::string image;
  std::string pod;  // pod name
  std::string pod_namespace;
  std::string pod_uid;
  // The pod's owner, from its name and the labels its controller sets
  // ("deployment/web", "statefulset/db", "daemonset/agent", "job/migrate",
  // "cronjob/backup"; "pod/<name>" for a pod of its own).
  std::string owner;
  bool sandbox = false;  // the pod's sandbox (pause) container
  std::string source;    // which source said so
};

// Thrown by a source whose runtime is not there at all (no socket): logged
// at info, not as a warning, since most hosts run only some runtimes.
class RuntimeAbsent : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One runtime API. list() returns every container it knows; it throws
// std::runtime_error with a one-line reason on failure.
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::pair<std::string, ContainerMeta>> list(std::chrono::milliseconds timeout) = 0;
};

struct MetadataOptions {
  std::size_t max_entries = 65536;
  std::chrono::milliseconds min_refresh_interval{2000};  // per unknown-id storm
  std::chrono::milliseconds timeout{5000};               // per source call
};

struct MetadataSourceStats {
  std::string name;
  std::uint64_t refreshes = 0;
  std::uint64_t errors = 0;
  bool up = false;
  std::string last_error;
};

class MetadataCache {
 public:
  MetadataCache(std::vector<std::unique_ptr<MetadataSource>> sources, MetadataOptions opts = {});
  ~MetadataCache();
  MetadataCache(const MetadataCache&) = delete;
  MetadataCache& operator=(const MetadataCache&) = delete;

  // Never blocks on a runtime: answers from the cache and, for an unknown id,
  // asks the background worker for a refresh.
  // worth_waiting: set when a refresh that may still find the id is under
  // way (it was first missed since the last refresh began).
  std::optional<ContainerMeta> get(const std::string& container_id, bool* worth_waiting = nullptr);
  // Waits at most `budget` for refreshes asked for so far to finish.
  void wait_for_refresh(std::chrono::milliseconds budget);

  std::vector<MetadataSourceStats> stats() const;
  std::size_t size() const;
  std::uint64_t dropped() const;  // entries beyond max_entries

 private:
  // One per source, each with its own thread, so that a runtime that hangs
  // until its timeout delays no other runtime's answer.
  struct Worker {
    std::unique_ptr<MetadataSource> source;
    std::string name;
    std::unordered_map<std::string, ContainerMeta> entries;  // what it said last
    std::uint64_t completed = 0;                             // refreshes asked for that it has done
    std::chrono::steady_clock::time_point last_refresh{};
    MetadataSourceStats stats;
    std::thread thread;
  };
  void run(Worker& w);
  void refresh(Worker& w);
  std::uint64_t completed_locked() const;  // the least any worker worth waiting for has done

  std::vector<std::unique_ptr<Worker>> workers_;
  MetadataOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;                              // wakes the workers
  std::condition_variable done_cv_;                         // wakes waiters
  std::unordered_map<std::string, std::uint64_t> unknown_;  // id -> refresh asked for when first missed
  std::uint64_t requested_ = 0, dropped_ = 0;
  bool stop_ = false;
};

}  // namespace syslens
