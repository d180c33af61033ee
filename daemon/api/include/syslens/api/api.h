// The read-only JSON API under /api/v1/: workloads, their profiles and
// seccomp profiles (trace and processes are served by the daemon's
// streaming code). Owns the workload store.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "syslens/http/response.h"
#include "syslens/collect/aggregate.h"
#include "syslens/collect/collect.h"
#include "syslens/seccomp/profiles.h"
#include "syslens/workloads/store.h"

namespace syslens {

class TraceHub;

class Api {
 public:
  // profiles_dir: where the check endpoint finds the profiles it is asked
  // about ("": only the reference).
  Api(Collect& collect, Arch arch, std::optional<ReferenceProfile> reference, std::string profiles_dir = {});

  // Answers /api/v1/workloads[/...]: the list, a workload's profile and
  // seccomp profile, and (with serve_live) its live trace and processes.
  // The caller owns the live windows it opens.
  HttpResponse handle(const std::string& target, const Caller& caller = {});
  // Answers /api/v1/profiles?group_by=owner|image|unit[&group=G[&format=F]]:
  // workload groups, and the profile of one group: its live workloads'
  // syscalls and what its reclaimed members made, over the whole time syslens
  // has watched (the group rows survive a restart).
  HttpResponse groups(const std::string& target);
  // The live windows' hub; without one, trace and processes answer 503.
  void serve_live(TraceHub* hub) { live_ = hub; }
  // Refreshes the store from a collection at most max_age old (the periodic
  // observer shares a recent read; a request, by default, reads anew).
  void observe(std::chrono::milliseconds max_age = std::chrono::milliseconds(0));
  // Per-workload families of a scrape (distinct syscalls, seccomp drift),
  // straight from its aggregate: a scrape does not touch the store.
  std::vector<prometheus::MetricFamily> workload_families(const AggregatedSnapshot& agg) const;

 private:
  // The workload a reference names, or an error response.
  struct Resolved {
    const WorkloadRecord* workload = nullptr;
    std::optional<HttpResponse> error;
  };
  Resolved resolve(const std::string& ref);
  HttpResponse check(const WorkloadRecord& w, const std::string& target);
  HttpResponse seccomp_response(const WorkloadRecord& w, const std::string& target);

  Collect& collect_;
  Arch arch_;
  std::optional<ReferenceProfile> reference_;
  std::string profiles_dir_;
  WorkloadStore store_;
  TraceHub* live_ = nullptr;
};

HttpResponse json_response(unsigned status, const nlohmann::json& body);

}  // namespace syslens
