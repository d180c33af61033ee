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
