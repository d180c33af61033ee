// cgroup v2 id -> path relative to the cgroup v2 root, with a bounded cache.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "syslens/lru_cache.h"

namespace syslens {

// Resolves cgroup ids to paths ("/" for the root, "/system.slice/x.service").
class CgroupNamer {
 public:
  virtual ~CgroupNamer() = default;
  // nullopt when the cgroup no longer exists (ids are never reused).
  virtual std::optional<std::string> path_of(std::uint64_t id) = 0;
  // Whether the cgroup still exists (path_of may answer from a cache).
  virtual bool exists(std::uint64_t id) { return path_of(id).has_value(); }
  // Drops what is known of a removed cgroup once it is reclaimed.
  virtual void forget(std::uint64_t /*id*/) {}
  // Called before each read of the maps.
  virtual void refresh() {}
};

struct CgroupPathStats {
  std::uint64_t entries = 0;
  std::uint64_t capacity = 0;
  std::uint64_t evictions = 0;
  std::uint64_t lookups = 0;     // cache misses resolved against the kernel
  std::uint64_t unresolved = 0;  // ids that could not be resolved
  std::uint64_t walks = 0;       // full scans of the hierarchy (fallback)
};

// The real resolver over a mounted cgroup2 filesystem. A cache miss asks the
// kernel for the directory by id (open_by_handle_at on kernfs, O(1)); where
// that is not allowed it scans the hierarchy, at most once per `refresh`
// call, indexing every directory by inode (= cgroup id).
class CgroupPaths final : public CgroupNamer {
 public:
  // mount_point: where cgroup2 is mounted; fs_root: the mountinfo "root" of
  // that mount ("/" unless it is a bind mount or inside a cgroup namespace).
  CgroupPaths(std::string mount_point, std::string fs_root, std::size_t capacity, bool use_handles = true);
  ~CgroupPaths() override;
  CgroupPaths(const CgroupPaths&) = delete;
  CgroupPaths& operator=(const CgroupPaths&) = delete;

  std::optional<std::string> path_of(std::uint64_t id) override;
  // Whether the cgroup still exists: asks the kernel by id where allowed,
  // else checks that its known path still has that inode.
  bool exists(std::uint64_t id) override;
  // The id of the cgroup at a path (relative to the root), if it exists.
  std::optional<std::uint64_t> id_of(const std::string& path) const;
  // Drops what the cache knows of a removed cgroup.
  void forget(std::uint64_t id) override { cache_.erase(id); }
  // Allows one more hierarchy walk (call once per read of the maps).
  void refresh() override { walk_allowed_ = true; }
  CgroupPathStats stats() const;
  const std::string& mount_point() const { return mount_point_; }

 private:
  int open_by_id(std::uint64_t id) const;
  std::optional<std::string> by_handle(std::uint64_t id);
  void walk();
  std::string relative(const std::string& abs) const;

  std::string mount_point_;
  std::string fs_root_;
  int mount_fd_ = -1;
  bool use_handles_;
  bool walk_allowed_ = true;
  LruCache<std::uint64_t, std::optional<std::string>> cache_;
  CgroupPathStats stats_;
  bool warned_full_ = false;
  void remember(std::uint64_t id, std::string path);
};

}  // namespace syslens
