#include <gtest/gtest.h>

#include "store_fixture.h"
#include "syslens/api/documents.h"

using namespace syslens;
using namespace syslens::test;

TEST(Profile, PerSyscallCountsErrnoLatencyAndDrift) {
  WorkloadStore st;
  st.update(fixture(), 1000);
  const auto* api = resolve_ref(st.workloads(), "api").workload;
  const auto ref = parse_reference_profile(
      R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]})", "test",
      Arch::x86_64);
  auto j = profile_json(*api, &ref);
  EXPECT_EQ(j["workload"]["labels"]["image"], "api:2");
  EXPECT_EQ(j["workload"]["distinct_syscalls"], 2);
  ASSERT_EQ(j["syscalls"].size(), 2U);
  const auto& openat = j["syscalls"][1];
  EXPECT_EQ(openat["syscall"], "openat");
  EXPECT_EQ(openat["calls"], 7);
  EXPECT_EQ(openat["failures"]["ENOENT"], 4);
  EXPECT_DOUBLE_EQ(openat["latency_seconds"]["p99"].get<double>(), 1024e-9);
  EXPECT_EQ(openat["first_seen"], "1970-01-01T00:16:40Z");
  EXPECT_EQ(j["seccomp_drift"]["denied"], nlohmann::json::array({"openat"}));  // i386 calls are not judged
}
