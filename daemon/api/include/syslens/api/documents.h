// The JSON documents of the API: a workload's summary and its profile.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "syslens/seccomp/profiles.h"
#include "syslens/workloads/store.h"

namespace syslens {

std::string iso8601(double unix_seconds);

nlohmann::json workload_summary_json(const WorkloadRecord& w);
nlohmann::json profile_json(const WorkloadRecord& w, const ReferenceProfile* ref);

}  // namespace syslens
