#include <gtest/gtest.h>

#include "syslens/http_util.h"

using namespace syslens;

TEST(UrlDecode, Escapes) {
  EXPECT_EQ(url_decode("%2Fdocker%2Fabc"), "/docker/abc");
  EXPECT_EQ(url_decode("a+b"), "a b");
  EXPECT_EQ(url_decode("a+b", false), "a+b");
  EXPECT_EQ(url_decode("%zz"), std::nullopt);
  EXPECT_EQ(url_decode("%4"), std::nullopt);
  EXPECT_EQ(url_decode("%"), std::nullopt);
}

TEST(QueryParam, FindsAndDecodes) {
  EXPECT_EQ(query_param("/api/v1/attribution?cgroup=%2Fsystem.slice%2Fa.service", "cgroup"), "/system.slice/a.service");
  EXPECT_EQ(query_param("/x?a=1&cgroup=42&b=2", "cgroup"), "42");
  EXPECT_EQ(query_param("/x?a=1", "cgroup"), "");
  EXPECT_EQ(query_param("/x", "cgroup"), "");
  EXPECT_EQ(query_param("/x?cgroup=%G1", "cgroup"), std::nullopt);
  EXPECT_EQ(query_param("/x?cgroup", "cgroup"), "");
}

TEST(UrlEncode, RoundTrips) {
  EXPECT_EQ(url_encode("shop/web-0/web"), "shop%2Fweb-0%2Fweb");
  EXPECT_EQ(url_encode("/system.slice/a b.service"), "%2Fsystem.slice%2Fa%20b.service");
  EXPECT_EQ(url_decode(url_encode("ns/pod/c?x=1&y"), false), "ns/pod/c?x=1&y");
}

TEST(ApiRoute, ListRefAndWhat) {
  EXPECT_TRUE(parse_api_route("/api/v1/workloads").list);
  EXPECT_TRUE(parse_api_route("/api/v1/workloads/").list);
  const auto r = parse_api_route("/api/v1/workloads/shop%2Fweb-0%2Fweb/profile");
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(r.ref, "shop/web-0/web");
  EXPECT_EQ(r.what, "profile");
  // A ref with a '+' keeps it: only queries turn '+' into a space.
  EXPECT_EQ(parse_api_route("/api/v1/workloads/a+b/seccomp").ref, "a+b");
  for (const char* bad : {"/api/v1/workloadsfoo/x", "/api/v1/workloads/noslash", "/api/v1/workloads//profile",
                          "/api/v1/workloads/%zz/profile", "/api/v1/work", ""}) {
    EXPECT_TRUE(parse_api_route(bad).malformed) << bad;
  }
}
