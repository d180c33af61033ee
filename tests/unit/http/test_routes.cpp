#include <gtest/gtest.h>

#include "syslens/http/routes.h"

using namespace syslens;

namespace {
Routes::Handler answer(std::string what) {
  return [what](const HttpRequest& r) { return HttpResponse{200, "text/plain", what + " " + r.target}; };
}
}  // namespace

TEST(Routes, ExactAndPrefixInOrderQueryIgnoredElse404) {
  Routes r;
  r.exact("/metrics", answer("metrics")).prefix("/api/v1/workloads", answer("workloads")).exact("/", answer("root"));
  EXPECT_EQ(r("/metrics").body, "metrics /metrics");
  EXPECT_EQ(r("/metrics?x=1").body, "metrics /metrics?x=1");
  EXPECT_EQ(r("/api/v1/workloads").body, "workloads /api/v1/workloads");
  EXPECT_EQ(r("/api/v1/workloads/a%2Fb/profile").body, "workloads /api/v1/workloads/a%2Fb/profile");
  EXPECT_EQ(r("/").body, "root /");
  // A prefix matches whole segments only; exact paths only themselves.
  EXPECT_EQ(r("/api/v1/workloadsx").status, 404U);
  EXPECT_EQ(r("/metrics/").status, 404U);
  EXPECT_EQ(r("/nothing").status, 404U);
  EXPECT_EQ(r.paths(), (std::vector<std::string>{"/metrics", "/api/v1/workloads/...", "/"}));
}
