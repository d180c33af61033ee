#include <gtest/gtest.h>

#include <array>

#include "syslens.h"
#include "syslens/collect/histogram.h"

using namespace syslens;

TEST(Histogram, SlotIsCeilLog2) {
  EXPECT_EQ(hist_slot(0, 42), 0U);
  EXPECT_EQ(hist_slot(1, 42), 0U);
  EXPECT_EQ(hist_slot(2, 42), 1U);
  EXPECT_EQ(hist_slot(3, 42), 2U);
  EXPECT_EQ(hist_slot(4, 42), 2U);
  EXPECT_EQ(hist_slot(5, 42), 3U);
  EXPECT_EQ(hist_slot(1024, 42), 10U);
  EXPECT_EQ(hist_slot(1025, 42), 11U);
  EXPECT_EQ(hist_slot(~0ULL, 42), 41U);  // capped at the last slot
}

TEST(Histogram, LayoutBoundsArePowersOfTwoNanoseconds) {
  auto l = make_bucket_layout(8, 34, 2);
  ASSERT_EQ(l.upper_slot.size(), 14U);
  EXPECT_EQ(l.upper_slot.front(), 8U);
  EXPECT_EQ(l.upper_slot.back(), 34U);
  EXPECT_DOUBLE_EQ(l.upper_seconds.front(), 256e-9);
  EXPECT_DOUBLE_EQ(l.upper_seconds[8], 16777216e-9);  // 2^24 ns
  EXPECT_THROW(make_bucket_layout(9, 8, 1), std::invalid_argument);
  EXPECT_THROW(make_bucket_layout(1, 8, 0), std::invalid_argument);
}

TEST(Histogram, FoldingIsExactAtBounds) {
  std::array<std::uint64_t, SYSLENS_HIST_SLOTS> slots{};
  // 256 ns exactly is in slot 8, so in the le=2^8 bucket; 257 ns is not.
  slots[hist_slot(256, SYSLENS_HIST_SLOTS)] += 1;
  slots[hist_slot(257, SYSLENS_HIST_SLOTS)] += 1;
  slots[hist_slot(10'000'000, SYSLENS_HIST_SLOTS)] += 3;  // 10 ms -> slot 24
  auto cum = cumulative_counts(make_bucket_layout(8, 34, 2), slots);
  EXPECT_EQ(cum[0], 1U);  // <= 256 ns
  EXPECT_EQ(cum[1], 2U);  // <= 1024 ns
  EXPECT_EQ(cum[7], 2U);  // <= 2^22 ns (4.2 ms)
  EXPECT_EQ(cum[8], 5U);  // <= 2^24 ns (16.8 ms)
  EXPECT_EQ(cum.back(), 5U);
}

TEST(Histogram, QuantileUpperBound) {
  std::array<std::uint64_t, SYSLENS_HIST_SLOTS> slots{};
  EXPECT_EQ(quantile_upper_bound(slots, 0.5), 0.0);
  slots[10] = 90;
  slots[20] = 10;
  EXPECT_DOUBLE_EQ(quantile_upper_bound(slots, 0.5), 1024e-9);
  EXPECT_DOUBLE_EQ(quantile_upper_bound(slots, 0.9), 1024e-9);
  EXPECT_DOUBLE_EQ(quantile_upper_bound(slots, 0.99), 1048576e-9);
}
