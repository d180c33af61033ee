#include "syslens/api/documents.h"

#include <cmath>
#include <ctime>

#include "syslens/collect/histogram.h"

namespace syslens {

using nlohmann::json;

std::string iso8601(double t) {
  if (t <= 0) return "";
  const std::time_t s = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json workload_summary_json(const WorkloadRecord& w) {
  return {{"key", w.key},
          {"labels",
           {{"container_id", w.labels.container_id},
            {"container", w.labels.container},
            {"pod", w.labels.pod},
            {"namespace", w.labels.pod_namespace},
            {"image", w.labels.image},
            {"unit", w.labels.unit}}},
          {"cgroups", w.cgroups},
          {"calls", w.calls()},
          {"failures", w.failures()},
          {"distinct_syscalls", w.syscalls.size()},
          {"first_seen", iso8601(w.first_seen)},
          {"last_seen", iso8601(w.last_seen)}};
}

json profile_json(const WorkloadRecord& w, const ReferenceProfile* ref) {
  json j = {{"workload", workload_summary_json(w)}};
  json calls = json::array();
  for (const auto& [name, s] : w.syscalls) {
    json lat = nullptr;
    if (s.totals.returns > 0) {
      double max_bucket = 0;
      for (std::size_t i = s.totals.hist.size(); i-- > 0;) {
        if (s.totals.hist[i]) {
          max_bucket = std::ldexp(1.0, static_cast<int>(i)) / 1e9;
          break;
        }
      }
      lat = {{"p50", quantile_upper_bound(s.totals.hist, 0.50)},
             {"p90", quantile_upper_bound(s.totals.hist, 0.90)},
             {"p99", quantile_upper_bound(s.totals.hist, 0.99)},
             {"max_bucket", max_bucket},
             {"mean", static_cast<double>(s.totals.sum_ns) / 1e9 / static_cast<double>(s.totals.returns)}};
    }
    calls.push_back({{"syscall", name},
                     {"calls", s.totals.calls},
                     {"returned", s.totals.returns},
                     {"failures", s.errors},
                     {"seccomp_denied", s.denied},
                     {"latency_seconds", lat},
                     {"first_seen", iso8601(s.first_seen)},
                     {"last_seen", iso8601(s.last_seen)}});
  }
  j["syscalls"] = calls;
  if (ref) j["seccomp_drift"] = {{"reference", ref->name}, {"denied", denied_by(*ref, w)}};
  return j;
}

}  // namespace syslens
