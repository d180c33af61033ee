// What the collect layer asks of the workloads layer: the labels of a cgroup
// path. Declared here, implemented downstream (WorkloadResolver), so that
// the collect layer never includes the workloads layer.
#pragma once

#include <chrono>
#include <string>

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
  bool operator==(const WorkloadLabels&) const = default;
};

class WorkloadNamer {
 public:
  virtual ~WorkloadNamer() = default;
  virtual WorkloadLabels labels_for(const std::string& cgroup_path) = 0;
  // Called once per scrape after labels_for: may wait up to `budget` for
  // metadata that labels_for found missing. True if waiting may have helped.
  virtual bool settle(std::chrono::milliseconds /*budget*/) { return false; }
};

}  // namespace syslens
