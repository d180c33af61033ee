#include <gtest/gtest.h>

#include "syslens/kernel/overhead.h"

using namespace syslens;
using namespace std::chrono_literals;

TEST(Overhead, CostIsAllProgramsTimeOverEnterRuns) {
  const std::vector<ProgramStats> before = {
      {"tpbtf_enter_task", 100, 10'000}, {"tpbtf_exit_task", 100, 8'000}, {"tpbtf_switch_task", 10, 1'000}};
  const std::vector<ProgramStats> after = {
      {"tpbtf_enter_task", 1100, 110'000}, {"tpbtf_exit_task", 1100, 88'000}, {"tpbtf_switch_task", 60, 6'000}};
  // (100,000 + 80,000 + 5,000) ns over 1,000 syscalls.
  ASSERT_TRUE(cost_per_syscall_ns(before, after));
  EXPECT_DOUBLE_EQ(*cost_per_syscall_ns(before, after), 185.0);
  EXPECT_FALSE(cost_per_syscall_ns(after, after)) << "no syscall in the window";
  // A program that appeared during the window counts whole; one whose
  // counters went back (re-attached) is skipped.
  const std::vector<ProgramStats> later = {{"tpbtf_enter_task", 2100, 210'000}, {"tpbtf_exit_task", 50, 5'000}};
  EXPECT_DOUBLE_EQ(*cost_per_syscall_ns(after, later), 100.0);
  EXPECT_DOUBLE_EQ(*cost_per_syscall_ns({}, {{"rawtp_enter_tid", 10, 500}}), 50.0);
}

TEST(Overhead, NoBudgetOnlyMeasures) {
  OverheadGovernor g(0, 1s);
  const auto t = OverheadGovernor::Clock::now();
  EXPECT_EQ(g.on_window(1e6, t), OverheadGovernor::Action::none);
  EXPECT_FALSE(g.degraded());
  ASSERT_TRUE(g.last_cost_ns());
  EXPECT_EQ(*g.last_cost_ns(), 1e6);
}

TEST(Overhead, OverBudgetDegradesThenRechecksAfterTheInterval) {
  OverheadGovernor g(200, 10s);
  const auto t = OverheadGovernor::Clock::now();
  EXPECT_EQ(g.on_window(150, t), OverheadGovernor::Action::none);
  EXPECT_EQ(g.on_window(std::nullopt, t + 1s), OverheadGovernor::Action::none);  // idle window
  EXPECT_EQ(*g.last_cost_ns(), 150) << "an idle window keeps the last measurement";
  EXPECT_EQ(g.on_window(250, t + 2s), OverheadGovernor::Action::degrade);
  EXPECT_TRUE(g.degraded());
  EXPECT_EQ(g.degradations(), 1U);
  // While degraded the cost measured is count-only: it says nothing about
  // full mode, so only time brings latency back.
  EXPECT_EQ(g.on_window(60, t + 5s), OverheadGovernor::Action::none);
  EXPECT_EQ(g.on_window(60, t + 12s), OverheadGovernor::Action::restore);
  EXPECT_FALSE(g.degraded());
  EXPECT_EQ(g.on_window(300, t + 13s), OverheadGovernor::Action::degrade);
  EXPECT_EQ(g.degradations(), 2U);
}

TEST(LatencySampler, ThresholdTimesOneCallInN) {
  EXPECT_EQ(latency_sample_threshold(1), std::uint64_t{1} << 32);  // above every 32-bit number
  EXPECT_EQ(latency_sample_threshold(2), std::uint64_t{1} << 31);
  EXPECT_EQ(latency_sample_threshold(64), std::uint64_t{1} << 26);
  EXPECT_EQ(latency_sample_threshold(3), 1431655765U);  // 2^32 / 3, rounded down
  EXPECT_EQ(latency_sample_threshold(0), 0U);           // latency off: none
}
