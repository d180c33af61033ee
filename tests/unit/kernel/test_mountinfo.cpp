#include <gtest/gtest.h>

#include "syslens/kernel/mountinfo.h"

using namespace syslens;

namespace {
// Lines from real hosts: a hybrid host (this CI machine's layout), a pure v2
// host, and a container with a cgroup namespace.
constexpr const char* kHybrid =
    "25 31 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 "
    "rw,nsdelegate\n"
    "32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,xattr,name=systemd\n";
constexpr const char* kPureV2 =
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";
}  // namespace

TEST(Mountinfo, FindsUnifiedOnHybridHost) {
  auto m = find_cgroup2_mount(parse_mountinfo(kHybrid));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(m->root, "/");
}

TEST(Mountinfo, FindsRootOnPureV2Host) {
  auto m = find_cgroup2_mount(parse_mountinfo(kPureV2));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(m->super_options, "rw,nsdelegate,memory_recursiveprot");
}

TEST(Mountinfo, PrefersTheMountOfTheFilesystemRoot) {
  auto mounts = parse_mountinfo(
      "40 30 0:30 /kubepods/pod1 /host/cg rw - cgroup2 cgroup2 rw\n"
      "41 30 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  auto m = find_cgroup2_mount(mounts);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/sys/fs/cgroup");
}

TEST(Mountinfo, DecodesOctalEscapes) {
  auto mounts = parse_mountinfo("50 30 0:40 / /mnt/with\\040space rw - cgroup2 none rw\n");
  ASSERT_EQ(mounts.size(), 1U);
  EXPECT_EQ(mounts[0].mount_point, "/mnt/with space");
}

TEST(Mountinfo, SkipsMalformedLines) {
  auto mounts = parse_mountinfo(
      "garbage\n\n1 2 3\n"
      "60 30 0:40 / /ok rw shared:1 master:2 - cgroup2 none rw\n"
      "61 30 0:40 / /no-separator rw cgroup2 none rw\n"
      "62 30 0:40 / /truncated rw -\n"
      "63 30 0:40 / /bad\\9 rw - ext4 /dev/x rw");
  ASSERT_EQ(mounts.size(), 2U);
  EXPECT_EQ(mounts[0].mount_point, "/ok");
  EXPECT_EQ(mounts[0].fstype, "cgroup2");
  EXPECT_EQ(mounts[1].mount_point, "/bad\\9");
  EXPECT_FALSE(find_cgroup2_mount(parse_mountinfo("garbage")).has_value());
}

TEST(Mountinfo, FindsACgroupV1ControllerMount) {
  auto mounts = parse_mountinfo(
      "33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
      "34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
      "35 30 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n");
  auto mem = find_cgroup1_mount(mounts, "memory");
  ASSERT_TRUE(mem);
  EXPECT_EQ(mem->mount_point, "/sys/fs/cgroup/memory");
  auto cpu = find_cgroup1_mount(mounts, "cpu");
  ASSERT_TRUE(cpu);
  EXPECT_EQ(cpu->mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_FALSE(find_cgroup1_mount(mounts, "pids"));
  EXPECT_FALSE(find_cgroup1_mount(mounts, "cpuacc"));
}

TEST(Mountinfo, SubsysIdsFollowProcCgroupsOrder) {
  const char* text =
      "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
      "cpuset\t3\t1\t1\ncpu\t2\t1\t1\ncpuacct\t2\t1\t1\nblkio\t5\t1\t1\nmemory\t4\t40\t1\n";
  EXPECT_EQ(cgroup_subsys_id(text, "cpuset"), 0);
  EXPECT_EQ(cgroup_subsys_id(text, "memory"), 4);
  EXPECT_EQ(cgroup_subsys_id(text, "pids"), std::nullopt);
  EXPECT_EQ(cgroup_controllers(text), (std::vector<std::string>{"cpuset", "cpu", "cpuacct", "blkio", "memory"}));
}
