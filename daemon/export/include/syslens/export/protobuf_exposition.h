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
#include <vector>

namespace io::prometheus::client {
class Histogram;
class MetricFamily;
}  // namespace io::prometheus::client

namespace syslens {

inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kProtobufContentType =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

// Appends f, preceded by its size as a varint.
void append_delimited(std::string& out, const io::prometheus::client::MetricFamily& f);

// Appends prometheus-cpp's families (self-metrics) in the protobuf format.
void append_families_protobuf(std::string& out, const std::vector<prometheus::MetricFamily>& families);

// Fills h as a native histogram of schema 0 from the kernel's log2 slots
// (slot 0 holds 0 and 1 ns: the zero bucket, threshold 1 ns; slot i the
// bucket of index i) with count observations summing to sum.
void set_native_histogram(io::prometheus::client::Histogram& h, std::span<const std::uint64_t> slots,
                          std::uint64_t count, double sum);

}  // namespace syslens
