// /proc/self/mountinfo parsing and cgroup hierarchy discovery.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace syslens {

struct MountInfo {
  std::string root;         // path inside the filesystem that is mounted
  std::string mount_point;  // where, in our mount namespace
  std::string fstype;
  std::string source;
  std::string super_options;
};

// Parses the text of a mountinfo file (proc(5)). Malformed lines are skipped;
// octal escapes (\040) in paths are decoded.
std::vector<MountInfo> parse_mountinfo(std::string_view text);

// The cgroup v2 mount: pure v2 hosts have it at /sys/fs/cgroup, hybrid ones
// at /sys/fs/cgroup/unified, containers anywhere. Prefers a mount of the
// filesystem's root.
std::optional<MountInfo> find_cgroup2_mount(const std::vector<MountInfo>& mounts);

// The cgroup v1 mount of a controller ("memory", "pids", ...): a mount of type
// cgroup whose super options name it.
std::optional<MountInfo> find_cgroup1_mount(const std::vector<MountInfo>& mounts, std::string_view controller);

// Subsystem ids from /proc/cgroups: the kernel prints one line per subsystem
// in id order after a header. nullopt if the controller is not listed.
std::optional<int> cgroup_subsys_id(std::string_view proc_cgroups, std::string_view controller);

// Every controller /proc/cgroups lists, in subsystem id order.
std::vector<std::string> cgroup_controllers(std::string_view proc_cgroups);

}  // namespace syslens
