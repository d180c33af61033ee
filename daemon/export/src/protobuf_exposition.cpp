#include "syslens/export/protobuf_exposition.h"

#include <google/protobuf/io/coded_stream.h>

#include "prometheus_metrics.pb.h"

namespace syslens {

namespace pb = io::prometheus::client;

void append_delimited(std::string& out, const pb::MetricFamily& f) {
  const std::size_t size = f.ByteSizeLong();
  std::uint8_t len[10];
  const std::uint8_t* end =
      google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(static_cast<std::uint64_t>(size), len);
  out.append(reinterpret_cast<const char*>(len), static_cast<std::size_t>(end - len));
  const std::size_t at = out.size();
  out.resize(at + size);
  f.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(out.data() + at));
}

namespace {

pb::MetricType metric_type(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return pb::COUNTER;
    case prometheus::MetricType::Gauge:
      return pb::GAUGE;
    case prometheus::MetricType::Summary:
      return pb::SUMMARY;
    case prometheus::MetricType::Histogram:
      return pb::HISTOGRAM;
    default:  // untyped, info: a plain value
      return pb::UNTYPED;
  }
}

}  // namespace

void append_families_protobuf(std::string& out, const std::vector<prometheus::MetricFamily>& families) {
  for (const auto& f : families) {
    pb::MetricFamily m;
    m.set_name(f.name);
    m.set_help(f.help);
    m.set_type(metric_type(f.type));
    for (const auto& cm : f.metric) {
      pb::Metric* x = m.add_metric();
      for (const auto& l : cm.label) {
        pb::LabelPair* p = x->add_label();
        p->set_name(l.name);
        p->set_value(l.value);
      }
      if (cm.timestamp_ms) x->set_timestamp_ms(cm.timestamp_ms);
      switch (f.type) {
        case prometheus::MetricType::Counter:
          x->mutable_counter()->set_value(cm.counter.value);
          break;
        case prometheus::MetricType::Gauge:
          x->mutable_gauge()->set_value(cm.gauge.value);
          break;
        case prometheus::MetricType::Summary: {
          auto* s = x->mutable_summary();
          s->set_sample_count(cm.summary.sample_count);
          s->set_sample_sum(cm.summary.sample_sum);
          for (const auto& q : cm.summary.quantile) {
            auto* qq = s->add_quantile();
            qq->set_quantile(q.quantile);
            qq->set_value(q.value);
          }
          break;
        }
        case prometheus::MetricType::Histogram: {
          auto* h = x->mutable_histogram();
          h->set_sample_count(cm.histogram.sample_count);
          h->set_sample_sum(cm.histogram.sample_sum);
          for (const auto& b : cm.histogram.bucket) {
            auto* bb = h->add_bucket();
            bb->set_cumulative_count(b.cumulative_count);
            bb->set_upper_bound(b.upper_bound);
          }
          break;
        }
        default:  // untyped, info: a plain value
          x->mutable_untyped()->set_value(cm.untyped.value);
          break;
      }
    }
    append_delimited(out, m);
  }
}

void set_native_histogram(pb::Histogram& h, std::span<const std::uint64_t> slots, std::uint64_t count, double sum) {
  h.set_sample_count(count);
  h.set_sample_sum(sum);
  h.set_schema(0);
  h.set_zero_threshold(1);
  h.set_zero_count(slots.empty() ? 0 : slots[0]);
  // Spans of buckets 1..n-1 with observations; empty buckets between two
  // spans are cheaper as a gap than as zero deltas.
  std::int64_t previous = 0;
  std::size_t gap_from = 1;  // the first bucket after the last span
  pb::BucketSpan* span = nullptr;
  for (std::size_t i = 1; i < slots.size(); ++i) {
    if (slots[i] == 0) continue;
    if (span && i == gap_from) {
      span->set_length(span->length() + 1);
    } else {
      span = h.add_positive_span();
      span->set_offset(static_cast<std::int32_t>(h.positive_span_size() == 1 ? i : i - gap_from));
      span->set_length(1);
    }
    const auto c = static_cast<std::int64_t>(slots[i]);
    h.add_positive_delta(c - previous);
    previous = c;
    gap_from = i + 1;
  }
  // A native histogram with no bucket yet still needs a span to be told
  // from a classic one by every parser: the no-op span.
  if (h.positive_span_size() == 0) {
    auto* noop = h.add_positive_span();
    noop->set_offset(0);
    noop->set_length(0);
  }
}

}  // namespace syslens
