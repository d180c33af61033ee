#include "syslens/collect/histogram.h"

#include <bit>
#include <cmath>
#include <stdexcept>

namespace syslens {

unsigned hist_slot(std::uint64_t ns, unsigned slots) {
  if (ns <= 1) return 0;
  const auto s = static_cast<unsigned>(std::bit_width(ns - 1));
  return s < slots ? s : slots - 1;
}

BucketLayout make_bucket_layout(unsigned first_slot, unsigned last_slot, unsigned step) {
  if (step == 0 || first_slot > last_slot || last_slot >= 64) {
    throw std::invalid_argument("invalid histogram bucket layout");
  }
  BucketLayout l;
  for (unsigned s = first_slot; s <= last_slot; s += step) {
    l.upper_slot.push_back(s);
    l.upper_seconds.push_back(std::ldexp(1.0, static_cast<int>(s)) / 1e9);
  }
  return l;
}

std::vector<std::uint64_t> cumulative_counts(const BucketLayout& layout, std::span<const std::uint64_t> slots) {
  std::vector<std::uint64_t> out;
  out.reserve(layout.upper_slot.size());
  std::uint64_t acc = 0;
  std::size_t next = 0;
  for (unsigned upper : layout.upper_slot) {
    for (; next <= upper && next < slots.size(); ++next) acc += slots[next];
    out.push_back(acc);
  }
  return out;
}

double quantile_upper_bound(std::span<const std::uint64_t> slots, double q) {
  std::uint64_t total = 0;
  for (auto c : slots) total += c;
  if (total == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    acc += slots[i];
    if (acc >= rank) return std::ldexp(1.0, static_cast<int>(i)) / 1e9;
  }
  return std::ldexp(1.0, static_cast<int>(slots.size() - 1)) / 1e9;
}

}  // namespace syslens
