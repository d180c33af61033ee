// What an HTTP client controls: the request target and its headers. Query
// parameters, percent-decoding, the API route, workload references and the
// negotiated headers (Accept-Encoding, Accept) must take any bytes: a value,
// a 400/404/409 answer, never a crash.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syslens/http_util.h"
#include "syslens/workloads/store.h"

namespace {
std::vector<syslens::WorkloadRecord> workloads() {
  std::vector<syslens::WorkloadRecord> ws(3);
  ws[0].key = "container/2f0aa5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a0";
  ws[0].labels.container_id = "2f0aa5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a0";
  ws[0].labels.container = "web";
  ws[0].labels.pod = "web-0";
  ws[0].labels.pod_namespace = "shop";
  ws[0].cgroups = {"/kubepods.slice/x.scope"};
  ws[1].key = "container/2f0aa5e0ffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
  ws[1].labels.container_id = "2f0aa5e0ffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
  ws[1].labels.container = "web";
  ws[2].key = "/system.slice/sshd.service";
  ws[2].labels.unit = "sshd.service";
  ws[2].cgroups = {"/system.slice/sshd.service"};
  return ws;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto ws = workloads();
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  for (const char* name : {"format", "syscall", "duration", "runtime_syscalls"}) syslens::query_param(target, name);
  (void)syslens::accepts_gzip(target);
  (void)syslens::accepts_protobuf_metrics(target);
  if (auto d = syslens::url_decode(target)) {
    if (d->size() > target.size()) __builtin_trap();
    if (syslens::url_decode(syslens::url_encode(*d), false) != *d) __builtin_trap();  // round trip
  }
  const auto route = syslens::parse_api_route(std::string(target.substr(0, target.find('?'))));
  if (!route.malformed && !route.list) {
    const auto r = syslens::resolve_ref(ws, route.ref);
    if (!r.workload && r.status != 400 && r.status != 404 && r.status != 409) __builtin_trap();
  }
  syslens::resolve_ref(ws, target);
  return 0;
}
