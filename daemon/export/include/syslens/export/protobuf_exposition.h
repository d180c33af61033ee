// The Prometheus protobuf exposition: a stream of
// io.prometheus.client.MetricFamily messages, each preceded by its length
// as a varint. Prometheus asks for it (in its Accept header) when native
// histograms are enabled; only this format carries them. Everyone else gets
// the text format, unchanged.
//
// The latency of each (cgroup, syscall) is a native histogram here, in
// nanoseconds: the kernel's log2 slots ((2^(i-1), 2^i] ns) are exactly the
// buckets of schema 0, so the whole histogram crosses over, at about the
// cost of one series.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace syslens {

inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kProtobufContentType =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

// The type of a family, as io.prometheus.client.MetricType numbers it.
enum class FamilyType : int { counter = 0, gauge = 1, summary = 2, untyped = 3, histogram = 4 };

// Writes the exposition straight to bytes: the bytes the generated protobuf
// code writes for the same messages (fields in field-number order, proto2:
// every field given is written, also when 0), without building the messages.
// At 1,000 cgroups a family held as messages took tens of MiB at its peak;
// here a family is one buffer, reused, and each metric a smaller one.
//
//   ProtobufWriter w(out);
//   w.begin_family("x_total", "Help.", FamilyType::counter);
//   w.begin_metric(); w.label("cgroup", "/"); w.counter(3); w.end_metric();
//   w.end_family();  // appends the family to out, preceded by its size
//
// Within a metric: labels, then one value; a timestamp after a counter,
// gauge, summary or untyped value and before a histogram, as numbered.
class ProtobufWriter {
 public:
  explicit ProtobufWriter(std::string& out) : out_(out) {}

  void begin_family(std::string_view name, std::string_view help, FamilyType type);
  void end_family();

  void begin_metric() { metric_.clear(); }
  void label(std::string_view name, std::string_view value);
  void counter(double value) { scalar(3, value); }
  void gauge(double value) { scalar(2, value); }
  void untyped(double value) { scalar(5, value); }
  // quantiles: (quantile, value) pairs.
  void summary(std::uint64_t count, double sum, std::span<const std::pair<double, double>> quantiles = {});
  // A classic histogram: cumulative[i] observations at most upper_bound[i].
  void histogram(std::uint64_t count, double sum, std::span<const std::uint64_t> cumulative,
                 std::span<const double> upper_bound);
  // A native histogram of schema 0 from the kernel's log2 slots (slot 0 holds
  // 0 and 1 ns: the zero bucket, threshold 1 ns; slot i the bucket of index
  // i) with count observations summing to sum.
  void native_histogram(std::span<const std::uint64_t> slots, std::uint64_t count, double sum);
  void timestamp_ms(std::int64_t ms);
  void end_metric();

 private:
  void scalar(int field, double value);

  std::string& out_;
  std::string family_, metric_, value_;
  std::vector<std::pair<std::int32_t, std::uint32_t>> spans_;
  std::vector<std::int64_t> deltas_;
};

// Appends prometheus-cpp's families (self-metrics) in the protobuf format.
void append_families_protobuf(std::string& out, const std::vector<prometheus::MetricFamily>& families);

}  // namespace syslens
