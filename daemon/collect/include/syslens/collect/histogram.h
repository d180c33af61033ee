// Latency histograms: the kernel keeps log2 slots (bpf/syslens.h), the
// exporter folds them into fewer Prometheus buckets whose bounds are exact
// powers of two nanoseconds, so folding never rounds.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace syslens {

// Slot of a latency in ns, as the BPF side computes it: ceil(log2(ns)),
// capped at the last slot. Slot i holds (2^(i-1), 2^i] ns.
unsigned hist_slot(std::uint64_t ns, unsigned slots);

struct BucketLayout {
  // For each finite Prometheus bucket: the last kernel slot it includes.
  std::vector<unsigned> upper_slot;
  // The bucket's upper bound ("le") in seconds: 2^upper_slot ns.
  std::vector<double> upper_seconds;
};

// Buckets with bounds 2^first, 2^(first+step), ... up to 2^last ns.
// first <= last < slots, step >= 1.
BucketLayout make_bucket_layout(unsigned first_slot, unsigned last_slot, unsigned step);

// Cumulative counts for each finite bucket of the layout (the +Inf bucket is
// the total of all slots and is not included).
std::vector<std::uint64_t> cumulative_counts(const BucketLayout& layout, std::span<const std::uint64_t> slots);

// Upper bound in seconds of the slot holding quantile q (0 < q <= 1), or 0
// when the histogram is empty.
double quantile_upper_bound(std::span<const std::uint64_t> slots, double q);

}  // namespace syslens
