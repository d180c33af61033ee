// cgroup path -> workload identity: which container, pod and systemd unit a
// cgroup belongs to, by the layouts of the container runtimes and of
// Kubernetes with both cgroup drivers. Pure: no I/O.
#pragma once

#include <string>
#include <string_view>

namespace syslens {

struct CgroupIdentity {
  std::string container_id;  // full id (64 hex) of the innermost container, or ""
  std::string runtime;       // docker | containerd | cri-o | podman | "" (unknown)
  std::string pod_uid;       // Kubernetes pod UID with dashes, or ""
  std::string qos;           // guaranteed | burstable | besteffort, or ""
  std::string unit;          // deepest systemd unit (.service/.scope), else slice
  std::string container_cgroup;  // path of the container's own cgroup
  std::string rule;          // the rule that found the container (or pod, unit)
  std::string not_container; // why a container-looking component was rejected
};

// Identifies the workload of a cgroup path relative to the v2 root
// (or to a v1 hierarchy's root). Cgroups nested below a container belong to
// that container; for nested containers the innermost wins.
CgroupIdentity identify_cgroup(std::string_view path);

}  // namespace syslens
