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

// Applies the io.kubernetes.* labels kubelet sets (CRI and dockershim).
void apply_kubernetes_labels(ContainerMeta& m, const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace syslens
