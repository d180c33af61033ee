#include <gtest/gtest.h>

#include <set>

#include "syslens/collect/reclaimer.h"

using namespace syslens;
using namespace std::chrono_literals;

TEST(Reclaimer, RemovedCgroupsGoAfterTheGracePeriodOnly) {
  CgroupReclaimer r(5min);
  const auto t0 = CgroupReclaimer::Clock::time_point{} + 1h;
  std::set<std::uint64_t> alive = {1, 2, 3};
  auto is_alive = [&](std::uint64_t id) { return alive.count(id) > 0; };
  EXPECT_TRUE(r.update({1, 2, 3}, is_alive, t0).empty());
  alive.erase(2);
  EXPECT_TRUE(r.update({1, 2, 3}, is_alive, t0 + 10s).empty());  // noticed
  EXPECT_EQ(r.in_grace(), 1U);
  EXPECT_TRUE(r.update({1, 2, 3}, is_alive, t0 + 10s + 4min).empty());  // still in grace
  EXPECT_EQ(r.update({1, 2, 3}, is_alive, t0 + 10s + 5min), (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(r.in_grace(), 0U);
}

TEST(Reclaimer, ForgetsIdsThatLeftTheMaps) {
  CgroupReclaimer r(1min);
  const auto t0 = CgroupReclaimer::Clock::time_point{} + 1h;
  auto dead = [](std::uint64_t) { return false; };
  r.update({7}, dead, t0);
  EXPECT_EQ(r.in_grace(), 1U);
  r.update({}, dead, t0 + 1s);  // deleted by someone else
  EXPECT_EQ(r.in_grace(), 0U);
}
