// What the collect layer asks of the workloads layer: the labels of a cgroup
// path. Declared here, implemented downstream (WorkloadResolver), so that
// the collect layer never includes the workloads layer.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace syslens {

// The workload labels every series carries besides cgroup and syscall, named
// as cAdvisor names them so queries can join with cAdvisor and
// kube-state-metrics. Empty where they do not apply or are not known.
struct WorkloadLabels {
  std::string container_id;
  std::string container;  // "POD" for a pod's sandbox, as cAdvisor
  std::string pod;
  std::string pod_namespace;  // label "namespace"
  std::string image;
  std::string unit;
  std::string owner;  // the pod's owner ("deployment/web"); not a metric label
  bool operator==(const WorkloadLabels&) const = default;
};

// The workload groups a workload belongs to, for profiles of a whole group:
// ("owner", "<namespace>/<owner>") for a Kubernetes pod's containers (not
// its sandbox), ("image", image) for a container, ("unit", unit) for a
// systemd service that is not a container (a container's unit is its own
// scope, a group of one).
inline std::vector<std::pair<std::string, std::string>> workload_groups(const WorkloadLabels& l) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!l.owner.empty() && l.container != "POD") out.emplace_back("owner", l.pod_namespace + "/" + l.owner);
  if (!l.image.empty()) out.emplace_back("image", l.image);
  if (l.container_id.empty() && l.unit.size() > 8 && l.unit.ends_with(".service")) out.emplace_back("unit", l.unit);
  return out;
}

class WorkloadNamer {
 public:
  virtual ~WorkloadNamer() = default;
  virtual WorkloadLabels labels_for(const std::string& cgroup_path) = 0;
  // Called once per scrape after labels_for: may wait up to `budget` for
  // metadata that labels_for found missing. True if waiting may have helped.
  virtual bool settle(std::chrono::milliseconds /*budget*/) { return false; }
};

}  // namespace syslens
