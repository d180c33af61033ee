#include "syslens/export/protobuf_exposition.h"

#include <bit>
#include <cstring>

#include "prometheus_metrics.pb.h"

namespace syslens {

namespace pb = io::prometheus::client;

static_assert(static_cast<int>(FamilyType::counter) == pb::COUNTER);
static_assert(static_cast<int>(FamilyType::gauge) == pb::GAUGE);
static_assert(static_cast<int>(FamilyType::summary) == pb::SUMMARY);
static_assert(static_cast<int>(FamilyType::untyped) == pb::UNTYPED);
static_assert(static_cast<int>(FamilyType::histogram) == pb::HISTOGRAM);
static_assert(std::endian::native == std::endian::little, "doubles are written as they are in memory");

namespace {

// The wire format (protobuf.dev/programming-guides/encoding).
enum Wire : std::uint32_t { kVarint = 0, kI64 = 1, kLen = 2 };

void varint(std::string& b, std::uint64_t v) {
  char buf[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  b.append(buf, n);
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

void tag(std::string& b, std::uint32_t field, Wire w) { varint(b, field << 3 | w); }

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

void uint_field(std::string& b, std::uint32_t field, std::uint64_t v) {
  tag(b, field, kVarint);
  varint(b, v);
}

// sint32 and sint64 are zigzag-encoded: small magnitudes, small varints.
void sint_field(std::string& b, std::uint32_t field, std::int64_t v) {
  tag(b, field, kVarint);
  varint(b, zigzag(v));
}

void double_field(std::string& b, std::uint32_t field, double v) {
  tag(b, field, kI64);
  char buf[8];
  std::memcpy(buf, &v, sizeof(buf));
  b.append(buf, sizeof(buf));
}

void bytes_field(std::string& b, std::uint32_t field, std::string_view v) {
  tag(b, field, kLen);
  varint(b, v.size());
  b.append(v);
}

}  // namespace

void ProtobufWriter::begin_family(std::string_view name, std::string_view help, FamilyType type) {
  family_.clear();
  bytes_field(family_, 1, name);
  bytes_field(family_, 2, help);
  uint_field(family_, 3, static_cast<std::uint64_t>(type));
}

void ProtobufWriter::end_family() {
  varint(out_, family_.size());
  out_.append(family_);
}

void ProtobufWriter::label(std::string_view name, std::string_view value) {
  // LabelPair{name, value}: each a tag byte, a length and the bytes.
  tag(metric_, 1, kLen);
  varint(metric_, 1 + varint_size(name.size()) + name.size() + 1 + varint_size(value.size()) + value.size());
  bytes_field(metric_, 1, name);
  bytes_field(metric_, 2, value);
}

void ProtobufWriter::scalar(int field, double value) {
  // Counter, Gauge and Untyped alike: {double value = 1}, 9 bytes.
  tag(metric_, static_cast<std::uint32_t>(field), kLen);
  varint(metric_, 9);
  double_field(metric_, 1, value);
}

void ProtobufWriter::summary(std::uint64_t count, double sum, std::span<const std::pair<double, double>> quantiles) {
  value_.clear();
  uint_field(value_, 1, count);
  double_field(value_, 2, sum);
  for (const auto& [q, v] : quantiles) {
    tag(value_, 3, kLen);
    varint(value_, 18);
    double_field(value_, 1, q);
    double_field(value_, 2, v);
  }
  bytes_field(metric_, 4, value_);
}

void ProtobufWriter::histogram(std::uint64_t count, double sum, std::span<const std::uint64_t> cumulative,
                               std::span<const double> upper_bound) {
  value_.clear();
  uint_field(value_, 1, count);
  double_field(value_, 2, sum);
  for (std::size_t i = 0; i < cumulative.size() && i < upper_bound.size(); ++i) {
    // Bucket{cumulative_count, upper_bound}
    tag(value_, 3, kLen);
    varint(value_, 1 + varint_size(cumulative[i]) + 9);
    uint_field(value_, 1, cumulative[i]);
    double_field(value_, 2, upper_bound[i]);
  }
  bytes_field(metric_, 7, value_);
}

void ProtobufWriter::native_histogram(std::span<const std::uint64_t> slots, std::uint64_t count, double sum) {
  // Spans of buckets 1..n-1 with observations; empty buckets between two
  // spans are cheaper as a gap than as zero deltas. Each delta is a bucket's
  // count less the previous bucket's.
  spans_.clear();
  deltas_.clear();
  std::int64_t previous = 0;
  std::size_t gap_from = 1;  // the first bucket after the last span
  for (std::size_t i = 1; i < slots.size(); ++i) {
    if (slots[i] == 0) continue;
    if (!spans_.empty() && i == gap_from) {
      ++spans_.back().second;
    } else {
      spans_.emplace_back(static_cast<std::int32_t>(spans_.empty() ? i : i - gap_from), 1);
    }
    const auto c = static_cast<std::int64_t>(slots[i]);
    deltas_.push_back(c - previous);
    previous = c;
    gap_from = i + 1;
  }
  // A native histogram with no bucket yet still needs a span to be told
  // from a classic one by every parser: the no-op span.
  if (spans_.empty()) spans_.emplace_back(0, 0);

  value_.clear();
  uint_field(value_, 1, count);
  double_field(value_, 2, sum);
  sint_field(value_, 5, 0);      // schema 0: each bucket twice the one before
  double_field(value_, 6, 1.0);  // zero threshold: 1 ns
  uint_field(value_, 7, slots.empty() ? 0 : slots[0]);
  for (const auto& [offset, length] : spans_) {
    // BucketSpan{offset, length}
    tag(value_, 12, kLen);
    varint(value_, 1 + varint_size(zigzag(offset)) + 1 + varint_size(length));
    sint_field(value_, 1, offset);
    uint_field(value_, 2, length);
  }
  for (const auto d : deltas_) sint_field(value_, 13, d);
  bytes_field(metric_, 7, value_);
}

void ProtobufWriter::timestamp_ms(std::int64_t ms) { uint_field(metric_, 6, static_cast<std::uint64_t>(ms)); }

void ProtobufWriter::end_metric() { bytes_field(family_, 4, metric_); }

void append_families_protobuf(std::string& out, const std::vector<prometheus::MetricFamily>& families) {
  ProtobufWriter w(out);
  std::vector<std::pair<double, double>> quantiles;
  std::vector<std::uint64_t> cumulative;
  std::vector<double> bounds;
  for (const auto& f : families) {
    FamilyType type = FamilyType::untyped;  // untyped, info: a plain value
    switch (f.type) {
      case prometheus::MetricType::Counter:
        type = FamilyType::counter;
        break;
      case prometheus::MetricType::Gauge:
        type = FamilyType::gauge;
        break;
      case prometheus::MetricType::Summary:
        type = FamilyType::summary;
        break;
      case prometheus::MetricType::Histogram:
        type = FamilyType::histogram;
        break;
      default:
        break;
    }
    w.begin_family(f.name, f.help, type);
    for (const auto& cm : f.metric) {
      w.begin_metric();
      for (const auto& l : cm.label) w.label(l.name, l.value);
      switch (type) {
        case FamilyType::counter:
          w.counter(cm.counter.value);
          break;
        case FamilyType::gauge:
          w.gauge(cm.gauge.value);
          break;
        case FamilyType::summary:
          quantiles.clear();
          for (const auto& q : cm.summary.quantile) quantiles.emplace_back(q.quantile, q.value);
          w.summary(cm.summary.sample_count, cm.summary.sample_sum, quantiles);
          break;
        case FamilyType::histogram:
          break;  // after the timestamp: field 7
        case FamilyType::untyped:
          w.untyped(cm.untyped.value);
          break;
      }
      if (cm.timestamp_ms) w.timestamp_ms(cm.timestamp_ms);
      if (type == FamilyType::histogram) {
        cumulative.clear();
        bounds.clear();
        for (const auto& b : cm.histogram.bucket) {
          cumulative.push_back(b.cumulative_count);
          bounds.push_back(b.upper_bound);
        }
        w.histogram(cm.histogram.sample_count, cm.histogram.sample_sum, cumulative, bounds);
      }
      w.end_metric();
    }
    w.end_family();
  }
}

}  // namespace syslens
