// Real-world cgroup layouts -> workload identity. Paths as they appear on
// hosts run by each runtime, cgroup driver and Kubernetes distribution.
#include <gtest/gtest.h>

#include "syslens/workloads/workload.h"

using namespace syslens;

namespace {

const std::string A = "2f0aa5e0f7b5c4c1b0c4d86d39e0b0f5a0c7a3f0e2f1d8c9b7a6f5e4d3c2b1a0";
const std::string B = "9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d";
const std::string UID = "5c0e7b4a-8f3d-4e4b-9d1a-2b3c4d5e6f70";
const std::string UID_ = "5c0e7b4a_8f3d_4e4b_9d1a_2b3c4d5e6f70";  // systemd slice spelling

struct Case {
  std::string name;
  std::string path;
  std::string container_id;
  std::string runtime;
  std::string pod_uid;
  std::string qos;
  std::string unit;
};

[[maybe_unused]] void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Layouts : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(Layouts, Identify) {
  const auto& c = GetParam();
  const auto id = identify_cgroup(c.path);
  EXPECT_EQ(id.container_id, c.container_id) << c.path;
  EXPECT_EQ(id.runtime, c.runtime) << c.path;
  EXPECT_EQ(id.pod_uid, c.pod_uid) << c.path;
  EXPECT_EQ(id.qos, c.qos) << c.path;
  EXPECT_EQ(id.unit, c.unit) << c.path;
  if (!c.container_id.empty()) {
    EXPECT_FALSE(id.rule.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, Layouts,
    ::testing::Values(
        // Docker
        Case{"docker_cgroupfs", "/docker/" + A, A, "docker", "", "", ""},
        Case{"docker_systemd", "/system.slice/docker-" + A + ".scope", A, "docker", "", "", "docker-" + A + ".scope"},
        Case{"docker_nested_below_container", "/docker/" + A + "/init.scope", A, "docker", "", "", "init.scope"},
        Case{"docker_in_docker_innermost_wins", "/docker/" + A + "/docker/" + B, B, "docker", "", "", ""},
        // containerd and its CRI plugin
        Case{"k8s_containerd_systemd",
             "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + UID_ + ".slice/cri-containerd-" + A +
                 ".scope",
             A, "containerd", UID, "besteffort", "cri-containerd-" + A + ".scope"},
        Case{"k8s_containerd_literal_cgroups_path", "/kubepods-besteffort-pod" + UID_ + ".slice:cri-containerd:" + A, A,
             "containerd", UID, "besteffort", ""},
        Case{"k8s_cgroupfs_besteffort", "/kubepods/besteffort/pod" + UID + "/" + A, A, "", UID, "besteffort", ""},
        Case{"k8s_cgroupfs_guaranteed", "/kubepods/pod" + UID + "/" + A, A, "", UID, "guaranteed", ""},
        Case{"k8s_systemd_guaranteed", "/kubepods.slice/kubepods-pod" + UID_ + ".slice/cri-containerd-" + A + ".scope",
             A, "containerd", UID, "guaranteed", "cri-containerd-" + A + ".scope"},
        Case{"ctr_k8s_namespace", "/k8s.io/" + A, A, "containerd", "", "", ""},
        Case{"pod_cgroup_itself", "/kubepods/burstable/pod" + UID, "", "", UID, "burstable", ""},
        // CRI-O (OpenShift: systemd driver)
        Case{"openshift_crio",
             "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice/crio-" + A + ".scope",
             A, "cri-o", UID, "burstable", "crio-" + A + ".scope"},
        Case{"crio_cgroupfs", "/kubepods/burstable/pod" + UID + "/crio-" + A, A, "cri-o", UID, "burstable", ""},
        Case{"crio_container_subcgroup",
             "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice/crio-" + A +
                 ".scope/container",
             A, "cri-o", UID, "burstable", "crio-" + A + ".scope"},
        // podman
        Case{"podman_cgroupfs", "/libpod_parent/libpod-" + A, A, "podman", "", "", ""},
        Case{"podman_rootful_systemd", "/machine.slice/libpod-" + A + ".scope", A, "podman", "", "",
             "libpod-" + A + ".scope"},
        Case{"podman_rootful_container_subcgroup", "/machine.slice/libpod-" + A + ".scope/container", A, "podman", "",
             "", "libpod-" + A + ".scope"},
        Case{"podman_rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + A + ".scope", A,
             "podman", "", "", "libpod-" + A + ".scope"},
        // nerdctl
        Case{"nerdctl_systemd", "/nerdctl.slice/nerdctl-" + A + ".scope", A, "containerd", "", "",
             "nerdctl-" + A + ".scope"},
        Case{"nerdctl_cgroupfs", "/default/" + A, A, "containerd", "", "", ""},
        // Kubernetes distributions
        Case{"k3s_cgroupfs", "/kubepods/besteffort/pod" + UID + "/" + A, A, "", UID, "besteffort", ""},
        Case{"k3d_node_in_docker", "/docker/" + B + "/kubepods/besteffort/pod" + UID + "/" + A, A, "", UID,
             "besteffort", ""},
        Case{"rke2_systemd",
             "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice/cri-containerd-" + A +
                 ".scope",
             A, "containerd", UID, "burstable", "cri-containerd-" + A + ".scope"},
        Case{"eks_al2_cgroupfs", "/kubepods/burstable/pod" + UID + "/" + A, A, "", UID, "burstable", ""},
        Case{"gke_cos", "/kubepods/besteffort/pod" + UID + "/" + A, A, "", UID, "besteffort", ""},
        Case{"talos_pod", "/kubepods/guaranteed/pod" + UID + "/" + A, A, "", UID, "guaranteed", ""},
        // systemd units and slices
        Case{"systemd_service", "/system.slice/nginx.service", "", "", "", "", "nginx.service"},
        Case{"systemd_session", "/user.slice/user-1000.slice/session-2.scope", "", "", "", "", "session-2.scope"},
        Case{"systemd_user_manager", "/user.slice/user-1000.slice/user@1000.service/init.scope", "", "", "", "",
             "init.scope"},
        Case{"systemd_init", "/init.scope", "", "", "", "", "init.scope"},
        Case{"systemd_slice", "/system.slice", "", "", "", "", "system.slice"},
        Case{"rke2_server_service", "/system.slice/rke2-server.service", "", "", "", "", "rke2-server.service"},
        // Must NOT match a container
        Case{"root", "/", "", "", "", "", ""},
        Case{"dockerd_itself", "/system.slice/docker.service", "", "", "", "", "docker.service"},
        Case{"containerd_itself", "/system.slice/containerd.service", "", "", "", "", "containerd.service"},
        Case{"docker_parent", "/docker", "", "", "", "", ""},
        Case{"short_id", "/docker/2f0aa5e0f7b5", "", "", "", "", ""},
        Case{"uppercase_id", "/system.slice/docker-" + std::string(64, 'A') + ".scope", "", "", "", "",
             "docker-" + std::string(64, 'A') + ".scope"},
        Case{"id_63_chars", "/system.slice/docker-" + A.substr(1) + ".scope", "", "", "", "",
             "docker-" + A.substr(1) + ".scope"},
        Case{"crio_conmon",
             "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice/crio-conmon-" + A +
                 ".scope",
             "", "", UID, "burstable", "crio-conmon-" + A + ".scope"},
        Case{"podman_conmon", "/machine.slice/libpod-conmon-" + A + ".scope", "", "", "", "",
             "libpod-conmon-" + A + ".scope"},
        Case{"podman_cli_scope", "/user.slice/user-1000.slice/user@1000.service/app.slice/podman-1234.scope", "", "",
             "", "", "podman-1234.scope"},
        Case{"talos_system_service", "/system/runtime", "", "", "", "", ""},
        Case{"kubepods_qos_only", "/kubepods/besteffort", "", "", "", "besteffort", ""},
        Case{"not_a_pod_uid", "/kubepods/burstable/podcast", "", "", "", "burstable", ""}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(Identify, ConmonIsExplainedAndTheRuleIsNamed) {
  auto id = identify_cgroup("/machine.slice/libpod-conmon-" + A + ".scope");
  EXPECT_NE(id.not_container.find("conmon"), std::string::npos);
  auto d = identify_cgroup("/system.slice/docker-" + A + ".scope");
  EXPECT_NE(d.rule.find("docker-<id>.scope"), std::string::npos);
  EXPECT_EQ(d.container_cgroup, "/system.slice/docker-" + A + ".scope");
  auto nested = identify_cgroup("/docker/" + A + "/sub/leaf");
  EXPECT_EQ(nested.container_cgroup, "/docker/" + A);
}
