// The Prometheus text exposition format (0.0.4), written straight into a
// string. The syscall families are nearly all of a scrape's bytes: building
// them as prometheus-cpp MetricFamily objects (a vector of label strings per
// sample) and serializing those cost seconds and hundreds of MiB with 1,000
// cgroups. Here each cgroup's labels are rendered once and reused by every
// one of its series.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace syslens {

// Appends `name="value"` to a comma-separated label list, escaping the value
// as the format requires. Empty values are left out: to Prometheus an empty
// label and an absent one are the same series.
void append_label(std::string& labels, std::string_view name, std::string_view value);

class TextWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}
  void family(std::string_view name, std::string_view help, std::string_view type);
  // name{labels,extra} value: labels and extra are comma-separated lists
  // (either may be empty).
  void sample(std::string_view name, std::string_view labels, std::string_view extra, std::uint64_t value);
  void sample(std::string_view name, std::string_view labels, std::string_view extra, double value);

 private:
  void head(std::string_view name, std::string_view labels, std::string_view extra);
  std::string& out_;
};

// Formats a double the way Prometheus reads it (shortest round trip, +Inf).
std::string format_double(double v);

// Appends small families built with prometheus-cpp (self-metrics).
void append_families(std::string& out, const std::vector<prometheus::MetricFamily>& families);

}  // namespace syslens
