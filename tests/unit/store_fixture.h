// An aggregated snapshot of three workloads (a pod's container, a Docker
// container, a systemd service), shared by the store, seccomp and API tests.
#pragma once

#include "syslens/collect/aggregate.h"

namespace syslens::test {

inline const std::string A = "2f0aa5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a0";
inline const std::string B = "2f0ab5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a1";

inline SeriesAgg calls(std::uint64_t n) {
  SeriesAgg s;
  s.calls = n;
  s.returns = n;
  s.sum_ns = n * 1000;
  s.hist[10] = n;
  return s;
}

inline void add(AggregatedSnapshot& a, const std::string& cgroup, const std::string& syscall, const SeriesAgg& v) {
  a.add(a.intern(cgroup), a.intern(syscall), v);
}

// Unfinished: callers add what they need, then finish().
inline AggregatedSnapshot unfinished_fixture(std::uint64_t web_reads = 10) {
  AggregatedSnapshot a;
  const std::string web = "/kubepods/burstable/pod1/" + A, api = "/docker/" + B, sshd = "/system.slice/sshd.service";
  add(a, web, "read", calls(web_reads));
  add(a, web + "/sub", "write", calls(5));  // nested below the container: same workload
  add(a, api, "openat", calls(7));
  add(a, api, "i386:getppid", calls(2));
  add(a, sshd, "accept4", calls(3));
  add(a, "(overflow)", "read", calls(99));
  a.add_error(a.intern(api), a.intern("openat"), a.intern("ENOENT"), 4);
  WorkloadLabels w{A, "web", "shop-web-0", "shop", "nginx:1.25", "", "statefulset/shop-web"};
  a.workloads[web] = w;
  a.workloads[web + "/sub"] = w;
  a.workloads[api] = {B, "api", "", "", "api:2", "", ""};
  a.workloads[sshd] = {"", "", "", "", "", "sshd.service", ""};
  return a;
}

inline AggregatedSnapshot fixture(std::uint64_t web_reads = 10) {
  auto a = unfinished_fixture(web_reads);
  a.finish();
  return a;
}

}  // namespace syslens::test
