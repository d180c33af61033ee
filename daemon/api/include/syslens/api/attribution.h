// GET /api/v1/attribution?cgroup=<id or path>: why a cgroup's series carry
// the workload labels they carry, or why they carry none.
#pragma once

#include <string>

#include "syslens/http/response.h"
#include "syslens/kernel/cgroup_paths.h"
#include "syslens/workloads/metadata.h"
#include "syslens/workloads/workload.h"

namespace syslens {

HttpResponse attribution_response(const std::string& target, CgroupPaths& cgroups, WorkloadResolver& workloads,
                                  MetadataCache* metadata);

}  // namespace syslens
