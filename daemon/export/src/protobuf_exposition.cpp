#include "syslens/export/protobuf_exposition.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "prometheus_metrics.pb.h"

namespace syslens {

namespace pb = io::prometheus::client;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// q of a media range: 1 unless given; -1 if malformed.
double quality(std::string_view v) {
  double q = -1;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), q);
  if (ec != std::errc() || end != v.data() + v.size() || q < 0 || q > 1) return -1;
  return q;
}

}  // namespace

bool accepts_protobuf(std::string_view accept) {
  double q_proto = 0, q_text = -1;
  while (!accept.empty()) {
    const auto comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const auto semi = range.find(';');
    const std::string_view type = trim(range.substr(0, semi));
    range = semi == std::string_view::npos ? std::string_view() : range.substr(semi + 1);
    double q = 1;
    bool metric_family = false, delimited = true;
    while (!range.empty()) {
      const auto next = range.find(';');
      const std::string_view param = trim(range.substr(0, next));
      range = next == std::string_view::npos ? std::string_view() : range.substr(next + 1);
      const auto eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = trim(param.substr(0, eq)), value = trim(param.substr(eq + 1));
      if (iequals(key, "q")) {
        q = quality(value);
      } else if (iequals(key, "proto")) {
        metric_family = value == "io.prometheus.client.MetricFamily";
      } else if (iequals(key, "encoding")) {
        delimited = iequals(value, "delimited");
      }
    }
    if (q < 0) continue;  // malformed: as if not listed
    if (iequals(type, "application/vnd.google.protobuf") && metric_family && delimited) {
      q_proto = std::max(q_proto, q);
    } else if (iequals(type, "text/plain")) {
      q_text = std::max(q_text, q);
    }
  }
  return q_proto > 0 && q_proto >= q_text;
}

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

void append_families_protobuf(std::string& out, const std::vector<prometheus::MetricFamily>& families) {
  for (const auto& f : families) {
    pb::MetricFamily m;
    m.set_name(f.name);
    m.set_help(f.help);
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
    switch (f.type) {
      case prometheus::MetricType::Counter:
        m.set_type(pb::COUNTER);
        break;
      case prometheus::MetricType::Gauge:
        m.set_type(pb::GAUGE);
        break;
      case prometheus::MetricType::Summary:
        m.set_type(pb::SUMMARY);
        break;
      case prometheus::MetricType::Histogram:
        m.set_type(pb::HISTOGRAM);
        break;
      default:
        m.set_type(pb::UNTYPED);
        break;
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
