// What a seccomp profile does to each syscall, in each format profiles come
// in, and check before enforce.
#include <gtest/gtest.h>

#include "syslens/seccomp/builtin_reference.h"
#include "syslens/seccomp/policy.h"

using namespace syslens;

namespace {

// Docker's format, with what its default profile uses: arch- and
// capability-gated rules, argument conditions, an explicit errno.
const char* kDocker = R"({
  "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
  "syscalls": [
    {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
    {"names": ["clone", "mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
    {"names": ["arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
    {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}
  ]})";

}  // namespace

TEST(SeccompPolicy, DecidesEachSyscallAsARuntimeWould) {
  const auto p = parse_seccomp_policy(kDocker, "docker", true);
  EXPECT_TRUE(p.decide("read").allows());
  EXPECT_FALSE(p.decide("read").refuses());
  const auto d = p.decide("clone3");
  EXPECT_EQ(d.action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(d.errno_ret, 38);
  EXPECT_TRUE(d.refuses());
  // Only an argument-conditional rule applies (no CAP_SYS_ADMIN): depends.
  EXPECT_TRUE(p.decide("clone").conditional);
  EXPECT_FALSE(p.decide("clone").refuses());
  EXPECT_TRUE(p.decide("mount").refuses());  // needs a capability: the default
  EXPECT_EQ(p.decide("mount").errno_ret, 1);
  EXPECT_TRUE(p.decide("arch_prctl").allows());
  EXPECT_TRUE(p.decide("arm_fadvise64_64").refuses());
  EXPECT_TRUE(parse_seccomp_policy(kDocker, "docker", false).decide("arm_fadvise64_64").allows());
  EXPECT_TRUE(p.decide("ptrace").refuses());
  EXPECT_EQ(p.decide("ptrace").errno_ret, 0);
  EXPECT_TRUE(p.decide("sysinfo").refuses());  // not named: the default
}

TEST(SeccompPolicy, ReadsOciAndTheSecurityProfilesOperatorsResource) {
  const auto oci = parse_seccomp_policy(R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
    "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]})",
                                        "oci", true);
  EXPECT_TRUE(oci.decide("read").allows());
  EXPECT_EQ(oci.decide("mkdir").errno_ret, 1);  // SCMP_ACT_ERRNO without an errno: EPERM
  const auto spo = parse_seccomp_policy(R"(apiVersion: security-profiles-operator.x-k8s.io/v1beta1
kind: SeccompProfile
metadata:
  name: web
spec:
  defaultAction: SCMP_ACT_ERRNO
  disabled: false
  syscalls:
    - action: SCMP_ACT_ALLOW
      names: [read, write]
    - action: SCMP_ACT_ERRNO
      errnoRet: 38
      names: [clone3]
)",
                                        "spo", true);
  EXPECT_TRUE(spo.decide("write").allows());
  EXPECT_EQ(spo.decide("clone3").errno_ret, 38);
  EXPECT_TRUE(spo.decide("mkdir").refuses());
  for (const char* bad : {"", "[1, 2]", "{\"syscalls\": []}", "kind: Pod\nspec: {}\n", "{{{"}) {
    EXPECT_THROW(parse_seccomp_policy(bad, "bad", true), std::runtime_error) << bad;
  }
}

TEST(SeccompPolicy, CheckListsWhatWouldBeRefused) {
  const auto p = parse_seccomp_policy(kDocker, "docker", true);
  const auto r = check_profile(p, {{"read", 100, "t1"},
                                   {"clone3", 3, "t2"},
                                   {"clone", 2, "t3"},
                                   {"mkdir", 7, "t4"},
                                   {"i386:getppid", 9, "t5"}});  // another ABI: not checked
  EXPECT_EQ(r["profile"], "docker");
  EXPECT_EQ(r["allowed"], 1);
  ASSERT_EQ(r["would_refuse"].size(), 2U) << r.dump();
  EXPECT_EQ(r["would_refuse"][0]["syscall"], "clone3");
  EXPECT_EQ(r["would_refuse"][0]["errno"], "ENOSYS");
  EXPECT_EQ(r["would_refuse"][0]["calls"], 3);
  EXPECT_EQ(r["would_refuse"][1]["syscall"], "mkdir");
  EXPECT_EQ(r["would_refuse"][1]["errno"], "EPERM");
  EXPECT_EQ(r["would_refuse"][1]["last_seen"], "t4");
  ASSERT_EQ(r["depends_on_arguments"].size(), 1U);
  EXPECT_EQ(r["depends_on_arguments"][0]["syscall"], "clone");
}

// The built-in reference is containers-common's default: ENOSYS by default,
// the everyday syscalls allowed, the obsolete ones not.
TEST(SeccompPolicy, TheBuiltInReferenceIsContainersCommonsDefault) {
  const auto p = parse_seccomp_policy(builtin_reference_profile(), kBuiltinReferenceName, true);
  EXPECT_EQ(p.default_decision().action, "SCMP_ACT_ERRNO");
  for (const char* n : {"read", "write", "openat", "getppid", "ioprio_get", "clone3"}) {
    EXPECT_TRUE(p.decide(n).allows()) << n;
  }
  for (const char* n : {"sysfs", "ustat", "kexec_load"}) EXPECT_TRUE(p.decide(n).refuses()) << n;
  EXPECT_NE(std::string(kBuiltinReferenceName).find("containers-common"), std::string::npos);
}
