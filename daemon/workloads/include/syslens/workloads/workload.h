// cgroup path -> workload identity: which container, pod and systemd unit a
// cgroup belongs to, by the layouts of the container runtimes and of
// Kubernetes with both cgroup drivers. Pure: no I/O.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "syslens/collect/labels.h"
#include "syslens/lru_cache.h"
#include "syslens/workloads/metadata.h"

namespace syslens {

struct CgroupIdentity {
  std::string container_id;      // full id (64 hex) of the innermost container, or ""
  std::string runtime;           // docker | containerd | cri-o | podman | "" (unknown)
  std::string pod_uid;           // Kubernetes pod UID with dashes, or ""
  std::string qos;               // guaranteed | burstable | besteffort, or ""
  std::string unit;              // deepest systemd unit (.service/.scope), else slice
  std::string container_cgroup;  // path of the container's own cgroup
  std::string rule;              // the rule that found the container (or pod, unit)
  std::string not_container;     // why a container-looking component was rejected
};

// Identifies the workload of a cgroup path relative to the v2 root
// (or to a v1 hierarchy's root). Cgroups nested below a container belong to
// that container; for nested containers the innermost wins.
CgroupIdentity identify_cgroup(std::string_view path);

// Path rules plus runtime metadata. Identities are cached per path (bounded).
class WorkloadResolver final : public WorkloadNamer {
 public:
  WorkloadResolver(MetadataCache* metadata, std::size_t cache_size);
  WorkloadLabels labels_for(const std::string& cgroup_path) override;
  bool settle(std::chrono::milliseconds budget) override;
  const CgroupIdentity& identity(const std::string& cgroup_path);

 private:
  MetadataCache* metadata_;
  LruCache<std::string, CgroupIdentity> identities_;
  bool missed_ = false;
};

}  // namespace syslens
