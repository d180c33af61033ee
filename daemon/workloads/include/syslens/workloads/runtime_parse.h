// Parsers of container runtime API responses (pure, unit-tested, fuzzable).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "syslens/workloads/metadata.h"

namespace syslens {

// Docker Engine API: GET /containers/json?all=true. Containers started by
// Kubernetes through dockershim carry io.kubernetes.* labels, which win.
// Throws std::runtime_error on malformed input.
std::vector<std::pair<std::string, ContainerMeta>> parse_docker_containers(std::string_view json);

// Applies the io.kubernetes.* labels kubelet sets (CRI and dockershim), and
// the pod's owner from the labels its controller sets (pod-template-hash,
// controller-revision-hash, job-name, ...; a pod's sandbox carries the
// pod's labels).
void apply_kubernetes_labels(ContainerMeta& m, const std::vector<std::pair<std::string, std::string>>& labels);

// The owner of a pod named `pod` with these labels: a Deployment's pods are
// <deployment>-<pod-template-hash>-<suffix>, a StatefulSet's <name>-<ordinal>,
// a DaemonSet's <name>-<suffix> (controller-revision-hash and
// pod-template-generation), a Job's carry job-name (a CronJob's job is
// <cronjob>-<minutes since the epoch>). "pod/<pod>" when none applies, ""
// without a pod name.
std::string kubernetes_owner(const std::string& pod, const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace syslens
