#include <gtest/gtest.h>

#include "syslens/workloads/runtime_parse.h"

using namespace syslens;

TEST(DockerParse, NamesImagesAndKubernetesLabels) {
  auto out = parse_docker_containers(R"([
    {"Id":"aaa","Names":["/web"],"Image":"nginx:1.25","Labels":{}},
    {"Id":"bbb","Names":["/k8s_app_pod"],"Image":"app:2","Labels":{
      "io.kubernetes.pod.name":"shop-0","io.kubernetes.pod.namespace":"shop",
      "io.kubernetes.pod.uid":"u-1","io.kubernetes.container.name":"app"}},
    {"Id":"ccc","Names":["/k8s_POD"],"Image":"pause","Labels":{"io.kubernetes.docker.type":"podsandbox"}}
  ])");
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0].first, "aaa");
  EXPECT_EQ(out[0].second.name, "web");  // without the leading '/'
  EXPECT_EQ(out[0].second.image, "nginx:1.25");
  EXPECT_EQ(out[1].second.name, "app");  // Kubernetes labels win
  EXPECT_EQ(out[1].second.pod, "shop-0");
  EXPECT_EQ(out[1].second.pod_namespace, "shop");
  EXPECT_EQ(out[1].second.pod_uid, "u-1");
  EXPECT_TRUE(out[2].second.sandbox);
}

TEST(DockerParse, MalformedInputIsAnErrorOrSkipped) {
  EXPECT_THROW(parse_docker_containers("{"), std::runtime_error);
  EXPECT_THROW(parse_docker_containers(""), std::runtime_error);
  EXPECT_THROW(parse_docker_containers(R"({"message":"page not found"})"), std::runtime_error);
  // Entries of the wrong shape are skipped, not trusted.
  auto out = parse_docker_containers(
      R"([1, "x", {"Names":["/noid"]}, {"Id":7}, {"Id":""}, {"Id":"ok","Names":[3],"Labels":[]}])");
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].first, "ok");
  EXPECT_EQ(out[0].second.name, "");
  EXPECT_TRUE(parse_docker_containers(std::string(100000, ' ') + "[]").empty());
}

// A pod's owner from its name and the labels its controller sets.
TEST(KubernetesOwner, FromNameAndControllerLabels) {
  using L = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(kubernetes_owner("web-7d4b9c8f6-x2k9p", L{{"pod-template-hash", "7d4b9c8f6"}, {"app", "web"}}),
            "deployment/web");
  EXPECT_EQ(kubernetes_owner("shop-api-v2-5f6d7c9b8-abcde", L{{"pod-template-hash", "5f6d7c9b8"}}),
            "deployment/shop-api-v2");
  EXPECT_EQ(kubernetes_owner(
                "db-2", L{{"controller-revision-hash", "db-6b8f7"}, {"statefulset.kubernetes.io/pod-name", "db-2"}}),
            "statefulset/db");
  EXPECT_EQ(kubernetes_owner("agent-x7k2p", L{{"controller-revision-hash", "5c9d8"}, {"pod-template-generation", "3"}}),
            "daemonset/agent");
  EXPECT_EQ(kubernetes_owner("migrate-abc12", L{{"job-name", "migrate"}}), "job/migrate");
  EXPECT_EQ(kubernetes_owner("backup-28711440-zx9q2", L{{"batch.kubernetes.io/job-name", "backup-28711440"}}),
            "cronjob/backup");
  EXPECT_EQ(kubernetes_owner("debug", L{}), "pod/debug");
  EXPECT_EQ(kubernetes_owner("", L{{"job-name", "x"}}), "");
  // The sandbox's labels (the pod's) give the owner; its containers' own
  // labels do not take it away.
  ContainerMeta m;
  apply_kubernetes_labels(m, L{{"io.kubernetes.pod.name", "web-7d4b9c8f6-x2k9p"}, {"pod-template-hash", "7d4b9c8f6"}});
  EXPECT_EQ(m.owner, "deployment/web");
  apply_kubernetes_labels(m, L{{"io.kubernetes.container.name", "nginx"}});
  EXPECT_EQ(m.owner, "deployment/web");
}
