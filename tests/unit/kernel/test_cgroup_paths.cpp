#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "syslens/kernel/cgroup_paths.h"
#include "syslens/lru_cache.h"
#include "log_capture.h"

using namespace syslens;
namespace fs = std::filesystem;

namespace {
std::uint64_t inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_ino;
}
}  // namespace

TEST(LruCache, EvictsLeastRecentlyUsed) {
  LruCache<int, int> c(2);
  c.put(1, 10);
  c.put(2, 20);
  ASSERT_TRUE(c.get(1));  // 1 is now the most recent
  c.put(3, 30);           // evicts 2
  EXPECT_FALSE(c.get(2));
  EXPECT_EQ(*c.get(1), 10);
  EXPECT_EQ(*c.get(3), 30);
  EXPECT_EQ(c.size(), 2U);
  EXPECT_EQ(c.evictions(), 1U);
  c.put(3, 31);
  EXPECT_EQ(*c.get(3), 31);
  EXPECT_EQ(c.evictions(), 1U);
}

// The directory walk (the fallback when open_by_handle_at is not allowed)
// over an ordinary tree: on cgroupfs the inode number is the cgroup id.
TEST(CgroupPaths, WalkResolvesIdsByInode) {
  const fs::path root = fs::path(::testing::TempDir()) / "cgwalk";
  fs::remove_all(root);
  fs::create_directories(root / "system.slice" / "a.service");
  fs::create_directories(root / "kubepods" / "pod1");
  CgroupPaths paths(root.string() + "/", "/", 16, /*use_handles=*/false);
  EXPECT_EQ(paths.path_of(inode(root)), "/");
  EXPECT_EQ(paths.path_of(inode(root / "system.slice" / "a.service")), "/system.slice/a.service");
  EXPECT_EQ(paths.path_of(inode(root / "kubepods" / "pod1")), "/kubepods/pod1");
  EXPECT_EQ(paths.stats().walks, 1U);  // one walk indexed them all

  // A directory created after the walk is found after the next refresh.
  fs::create_directories(root / "late");
  const auto late = inode(root / "late");
  EXPECT_EQ(paths.path_of(late), std::nullopt);
  paths.refresh();
  EXPECT_EQ(paths.path_of(late), "/late");
  EXPECT_EQ(paths.stats().walks, 2U);
  fs::remove_all(root);
}

TEST(CgroupPaths, BindMountedSubtreeGetsItsRootPrefix) {
  const fs::path root = fs::path(::testing::TempDir()) / "cgsub";
  fs::remove_all(root);
  fs::create_directories(root / "c1");
  CgroupPaths paths(root.string(), "/kubepods/pod9", 16, false);
  EXPECT_EQ(paths.path_of(inode(root)), "/kubepods/pod9");
  EXPECT_EQ(paths.path_of(inode(root / "c1")), "/kubepods/pod9/c1");
  fs::remove_all(root);
}

// 41 directories (the root and 40) walked into 16 entries: 25 evicted, and
// the cache being full is said once, however often it evicts.
TEST(CgroupPaths, CacheIsBoundedAndSaysOnceThatItIsFull) {
  const fs::path root = fs::path(::testing::TempDir()) / "cgbound";
  fs::remove_all(root);
  for (int i = 0; i < 40; ++i) fs::create_directories(root / ("d" + std::to_string(i)));
  test::LogCapture log;
  CgroupPaths paths(root.string(), "/", 16, false);
  EXPECT_EQ(paths.path_of(inode(root / "d39")), "/d39");
  EXPECT_EQ(paths.stats().entries, 16U);
  EXPECT_EQ(paths.stats().evictions, 25U);
  // The walk's last 16 are cached; a miss walks again (after a refresh).
  paths.refresh();
  for (int i = 0; i < 40; ++i) paths.path_of(inode(root / ("d" + std::to_string(i))));
  EXPECT_EQ(paths.stats().entries, 16U);
  EXPECT_GT(paths.stats().evictions, 25U);
  EXPECT_EQ(log.lines_with("the cgroup path cache is full (16 entries)"), 1U) << log.text();
  fs::remove_all(root);
}
