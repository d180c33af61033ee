// The standard process_* metrics every Prometheus exporter exposes (CPU,
// memory, fds), read from /proc/self.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace syslens {

std::vector<prometheus::MetricFamily> collect_process_metrics();

}  // namespace syslens
