#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include "store_fixture.h"
#include "syslens/seccomp/profiles.h"

using namespace syslens;
using namespace syslens::test;

TEST(Seccomp, AllowsExactlyWhatWasSeenPlusTheRuntimeSet) {
  WorkloadStore st;
  st.update(fixture(), 1000);
  const auto* api = resolve_ref(st.workloads(), "api").workload;
  auto d = seccomp_json(*api, Arch::x86_64, SeccompFormat::docker, false);
  EXPECT_EQ(d["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(d["defaultErrnoRet"], 1);
  EXPECT_EQ(d["syscalls"][0]["names"], nlohmann::json::array({"getppid", "openat"}));
  EXPECT_EQ(d["archMap"][0]["subArchitectures"], nlohmann::json::array({"SCMP_ARCH_X86"}));
  auto o = seccomp_json(*api, Arch::x86_64, SeccompFormat::oci, true);
  EXPECT_EQ(o["architectures"], nlohmann::json::array({"SCMP_ARCH_X86", "SCMP_ARCH_X86_64"}));
  const auto names = o["syscalls"][0]["names"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(names.begin(), names.end(), "execve"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "openat"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "ptrace"), names.end());
}

// A workload already under a profile: a syscall its profile refused every
// time was not used, and the generated profile does not allow it; one that
// was refused only some of the time was used.
TEST(Seccomp, ASyscallOnlyEverRefusedIsNotAllowed) {
  auto a = unfinished_fixture();
  const std::string api = "/docker/" + B;
  add(a, api, "mkdir", calls(3));
  a.add_error(a.intern(api), a.intern("mkdir"), a.intern("EPERM"), 3);
  a.add_denied(a.intern(api), a.intern("mkdir"), a.intern("EPERM"), 3);
  a.add_denied(a.intern(api), a.intern("openat"), a.intern("EACCES"), 2);  // 2 of 7
  a.finish();
  WorkloadStore st;
  st.update(a, 1000);
  const auto* w = resolve_ref(st.workloads(), "api").workload;
  ASSERT_TRUE(w);
  EXPECT_EQ(w->syscalls.at("mkdir").denied.at("EPERM"), 3U);
  EXPECT_FALSE(w->syscalls.at("mkdir").used());
  EXPECT_TRUE(w->syscalls.at("openat").used());
  auto d = seccomp_json(*w, Arch::x86_64, SeccompFormat::docker, false);
  EXPECT_EQ(d["syscalls"][0]["names"], nlohmann::json::array({"getppid", "openat"}));
}

TEST(Seccomp, Dns1123Names) {
  EXPECT_EQ(dns1123_name("syslens-shop-web-0-Web_Server"), "syslens-shop-web-0-web-server");
  EXPECT_EQ(dns1123_name("syslens-/system.slice/sshd.service"), "syslens-system.slice-sshd.service");
  EXPECT_EQ(dns1123_name("--..x.."), "x");
  EXPECT_EQ(dns1123_name("///"), "workload");
  EXPECT_EQ(dns1123_name(std::string(300, 'a')).size(), 253U);
}

// The security-profiles-operator's resource: the same rules as the OCI
// profile, metadata from the workload unless given.
TEST(Seccomp, SecurityProfilesOperatorResource) {
  WorkloadStore st;
  st.update(fixture(), 1000);
  const auto* web = resolve_ref(st.workloads(), "web").workload;
  ASSERT_TRUE(web);
  const YAML::Node y = YAML::Load(seccomp_spo_yaml(*web, Arch::x86_64, false, "", ""));
  EXPECT_EQ(y["apiVersion"].as<std::string>(), "security-profiles-operator.x-k8s.io/v1beta1");
  EXPECT_EQ(y["metadata"]["name"].as<std::string>(), "syslens-shop-web-0-web");
  EXPECT_EQ(y["metadata"]["namespace"].as<std::string>(), "shop");
  EXPECT_FALSE(y["spec"]["disabled"].as<bool>());
  const auto oci = seccomp_json(*web, Arch::x86_64, SeccompFormat::oci, false);
  EXPECT_EQ(y["spec"]["architectures"].as<std::vector<std::string>>(),
            oci["architectures"].get<std::vector<std::string>>());
  ASSERT_EQ(y["spec"]["syscalls"].size(), oci["syscalls"].size());
  for (std::size_t i = 0; i < oci["syscalls"].size(); ++i) {
    EXPECT_EQ(y["spec"]["syscalls"][i]["names"].as<std::vector<std::string>>(),
              oci["syscalls"][i]["names"].get<std::vector<std::string>>());
  }
  const YAML::Node named = YAML::Load(seccomp_spo_yaml(*web, Arch::x86_64, false, "mine", "other"));
  EXPECT_EQ(named["metadata"]["name"].as<std::string>(), "mine");
  EXPECT_EQ(named["metadata"]["namespace"].as<std::string>(), "other");
}

TEST(ReferenceProfile, AllowRulesByArchAndCapability) {
  const char* text = R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
    {"names":["reboot","uselib"],"action":"SCMP_ACT_ERRNO"},
    {"names":["read","write","clone"],"action":"SCMP_ACT_ALLOW"},
    {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}},
    {"names":["arm_fadvise64_64"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm","arm64"]}},
    {"names":["bpf"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]})";
  auto r = parse_reference_profile(text, "ref", Arch::x86_64);
  for (const char* n : {"arch_prctl", "clone", "read", "write"}) EXPECT_TRUE(r.allows(n)) << n;
  for (const char* n : {"reboot", "uselib", "bpf", "arm_fadvise64_64", "mount"}) EXPECT_FALSE(r.allows(n)) << n;
  auto arm = parse_reference_profile(text, "ref", Arch::arm64);
  EXPECT_TRUE(arm.allows("arm_fadvise64_64"));
  EXPECT_FALSE(arm.allows("arch_prctl"));
  EXPECT_THROW(parse_reference_profile("[1,2]", "x", Arch::x86_64), std::runtime_error);
  EXPECT_THROW(parse_reference_profile("{", "x", Arch::x86_64), std::runtime_error);
}

// arm64's 32-bit calls have names (libseccomp's aarch32 table), so they
// enter profiles, under SCMP_ARCH_ARM; an unnamed one cannot.
TEST(Seccomp, Aarch32CallsEnterArm64ProfilesUnderScmpArchArm) {
  AggregatedSnapshot a;
  const std::string cg = "/system.slice/legacy.service";
  add(a, cg, "getppid", calls(2));
  add(a, cg, syscall_label(Arch::arm64, 39, true), calls(5));       // aarch32:mkdir
  add(a, cg, syscall_label(Arch::arm64, 0xf0005, true), calls(1));  // aarch32:set_tls
  add(a, cg, syscall_label(Arch::arm64, 999, true), calls(1));      // aarch32:syscall_999
  a.workloads[cg] = {"", "", "", "", "", "legacy.service", ""};
  a.finish();
  WorkloadStore st;
  st.update(a, 1000);
  const auto* w = resolve_ref(st.workloads(), "legacy.service").workload;
  ASSERT_NE(w, nullptr);
  const auto d = seccomp_json(*w, Arch::arm64, SeccompFormat::docker, false);
  EXPECT_EQ(d["archMap"][0]["architecture"], "SCMP_ARCH_AARCH64");
  EXPECT_EQ(d["archMap"][0]["subArchitectures"], nlohmann::json::array({"SCMP_ARCH_ARM"}));
  EXPECT_EQ(d["syscalls"][0]["names"], nlohmann::json::array({"getppid", "mkdir", "set_tls"}));
  const auto o = seccomp_json(*w, Arch::arm64, SeccompFormat::oci, false);
  EXPECT_EQ(o["architectures"], nlohmann::json::array({"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
}
