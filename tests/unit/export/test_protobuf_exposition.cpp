#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernel_fakes.h"
#include "prometheus_metrics.pb.h"
#include "syslens/export/collector.h"
#include "syslens/export/protobuf_exposition.h"

using namespace syslens;
using namespace syslens::test;
namespace pb = io::prometheus::client;

namespace {

// Reads a delimited stream back as a parser does: varint size, message.
std::vector<pb::MetricFamily> parse_delimited(const std::string& bytes) {
  google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream in(&raw);
  std::vector<pb::MetricFamily> out;
  std::uint32_t size = 0;
  while (in.ReadVarint32(&size)) {
    const auto limit = in.PushLimit(static_cast<int>(size));
    pb::MetricFamily f;
    EXPECT_TRUE(f.ParseFromCodedStream(&in) && in.ConsumedEntireMessage());
    in.PopLimit(limit);
    out.push_back(std::move(f));
  }
  EXPECT_EQ(in.CurrentPosition(), static_cast<int>(bytes.size())) << "trailing bytes";
  return out;
}

const pb::MetricFamily* find(const std::vector<pb::MetricFamily>& fs, const std::string& name) {
  for (const auto& f : fs) {
    if (f.name() == name) return &f;
  }
  return nullptr;
}

std::string label_of(const pb::Metric& m, const std::string& name) {
  for (const auto& l : m.label()) {
    if (l.name() == name) return l.value();
  }
  return "";
}

std::vector<std::string> text_families(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t at = text.find("# TYPE "); at != std::string::npos; at = text.find("# TYPE ", at + 1)) {
    const auto from = at + 7;
    out.push_back(text.substr(from, text.find(' ', from) - from));
  }
  return out;
}

}  // namespace

// One family of one metric from the writer, parsed back.
template <typename F>
pb::MetricFamily one_metric(F&& write_value) {
  std::string out;
  ProtobufWriter w(out);
  w.begin_family("f", "h", FamilyType::histogram);
  w.begin_metric();
  write_value(w);
  w.end_metric();
  w.end_family();
  auto fs = parse_delimited(out);
  EXPECT_EQ(fs.size(), 1U);
  return fs.empty() ? pb::MetricFamily{} : fs[0];
}

// The kernel's slots are schema 0's buckets: slot 0 the zero bucket, a run
// of slots one span, a gap of empty slots the next span's offset.
TEST(ProtobufExposition, NativeHistogramIsTheKernelsSlotsExactly) {
  std::array<std::uint64_t, SYSLENS_HIST_SLOTS> slots{};
  slots[0] = 2;
  slots[2] = 3;
  slots[3] = 4;
  slots[6] = 1;
  slots[41] = 5;
  const auto f = one_metric([&](ProtobufWriter& w) { w.native_histogram(slots, 15, 123.0); });
  ASSERT_EQ(f.metric_size(), 1);
  const pb::Histogram& h = f.metric(0).histogram();
  EXPECT_TRUE(h.has_schema());
  EXPECT_EQ(h.schema(), 0);
  EXPECT_EQ(h.zero_threshold(), 1.0);
  EXPECT_EQ(h.zero_count(), 2U);
  EXPECT_EQ(h.sample_count(), 15U);
  EXPECT_EQ(h.sample_sum(), 123.0);
  ASSERT_EQ(h.positive_span_size(), 3);
  EXPECT_EQ(h.positive_span(0).offset(), 2);  // buckets 2 and 3
  EXPECT_EQ(h.positive_span(0).length(), 2U);
  EXPECT_EQ(h.positive_span(1).offset(), 2);  // 4 and 5 empty: bucket 6
  EXPECT_EQ(h.positive_span(1).length(), 1U);
  EXPECT_EQ(h.positive_span(2).offset(), 34);  // 7..40 empty: bucket 41
  EXPECT_EQ(h.positive_span(2).length(), 1U);
  ASSERT_EQ(h.positive_delta_size(), 4);
  EXPECT_EQ(h.positive_delta(0), 3);
  EXPECT_EQ(h.positive_delta(1), 1);
  EXPECT_EQ(h.positive_delta(2), -3);
  EXPECT_EQ(h.positive_delta(3), 4);
  EXPECT_EQ(h.bucket_size(), 0) << "no classic buckets";

  // Nothing observed yet: still native, by its no-op span.
  const auto e =
      one_metric([](ProtobufWriter& w) { w.native_histogram(std::array<std::uint64_t, SYSLENS_HIST_SLOTS>{}, 0, 0); });
  ASSERT_EQ(e.metric_size(), 1);
  const pb::Histogram& empty = e.metric(0).histogram();
  ASSERT_EQ(empty.positive_span_size(), 1);
  EXPECT_TRUE(empty.positive_span(0).has_offset() && empty.positive_span(0).has_length());
  EXPECT_EQ(empty.positive_span(0).offset(), 0);
  EXPECT_EQ(empty.positive_span(0).length(), 0U);
}

// The writer's bytes are the generated code's for the same messages, in
// every shape it writes: lengths of one and of two varint bytes, negative
// zigzag deltas, a family bigger than 127 bytes, 0 values written.
TEST(ProtobufExposition, WriterWritesWhatTheGeneratedCodeWrites) {
  const std::string long_value(300, 'v');
  std::array<std::uint64_t, SYSLENS_HIST_SLOTS> slots{};
  slots[0] = 1;
  slots[5] = 900;
  slots[6] = 2;
  slots[30] = 1'000'000;
  const std::vector<std::uint64_t> cumulative = {0, 3, 3};
  const std::vector<double> bounds = {0.001, 0.5, 2.5};
  const std::vector<std::pair<double, double>> quantiles = {{0.5, 1.25}, {0.99, 7.0}};

  std::string got;
  ProtobufWriter w(got);
  w.begin_family("syslens_x_total", "Help with \"quotes\".", FamilyType::counter);
  w.begin_metric();
  w.label("cgroup", long_value);
  w.label("syscall", "read");
  w.counter(0);
  w.end_metric();
  w.begin_metric();
  w.counter(12345.5);
  w.timestamp_ms(1'700'000'000'000);
  w.end_metric();
  w.end_family();
  w.begin_family("g", "", FamilyType::gauge);
  w.begin_metric();
  w.gauge(-1.5);
  w.end_metric();
  w.begin_metric();
  w.untyped(2);
  w.end_metric();
  w.end_family();
  w.begin_family("s", "summary", FamilyType::summary);
  w.begin_metric();
  w.label("k", "");
  w.summary(7, 0.25, quantiles);
  w.end_metric();
  w.end_family();
  w.begin_family("h", "histograms", FamilyType::histogram);
  w.begin_metric();
  w.timestamp_ms(5);
  w.histogram(3, 1.5, cumulative, bounds);
  w.end_metric();
  w.begin_metric();
  w.label("syscall", "openat");
  w.native_histogram(slots, 1'000'903, 4e9);
  w.end_metric();
  w.end_family();

  std::vector<pb::MetricFamily> want(4);
  want[0].set_name("syslens_x_total");
  want[0].set_help("Help with \"quotes\".");
  want[0].set_type(pb::COUNTER);
  auto* m = want[0].add_metric();
  auto* l = m->add_label();
  l->set_name("cgroup");
  l->set_value(long_value);
  l = m->add_label();
  l->set_name("syscall");
  l->set_value("read");
  m->mutable_counter()->set_value(0);
  m = want[0].add_metric();
  m->mutable_counter()->set_value(12345.5);
  m->set_timestamp_ms(1'700'000'000'000);
  want[1].set_name("g");
  want[1].set_help("");
  want[1].set_type(pb::GAUGE);
  want[1].add_metric()->mutable_gauge()->set_value(-1.5);
  want[1].add_metric()->mutable_untyped()->set_value(2);
  want[2].set_name("s");
  want[2].set_help("summary");
  want[2].set_type(pb::SUMMARY);
  m = want[2].add_metric();
  l = m->add_label();
  l->set_name("k");
  l->set_value("");
  auto* s = m->mutable_summary();
  s->set_sample_count(7);
  s->set_sample_sum(0.25);
  for (const auto& [q, v] : quantiles) {
    auto* qq = s->add_quantile();
    qq->set_quantile(q);
    qq->set_value(v);
  }
  want[3].set_name("h");
  want[3].set_help("histograms");
  want[3].set_type(pb::HISTOGRAM);
  m = want[3].add_metric();
  m->set_timestamp_ms(5);
  auto* h = m->mutable_histogram();
  h->set_sample_count(3);
  h->set_sample_sum(1.5);
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    auto* b = h->add_bucket();
    b->set_cumulative_count(cumulative[i]);
    b->set_upper_bound(bounds[i]);
  }
  m = want[3].add_metric();
  l = m->add_label();
  l->set_name("syscall");
  l->set_value("openat");
  h = m->mutable_histogram();
  h->set_sample_count(1'000'903);
  h->set_sample_sum(4e9);
  h->set_schema(0);
  h->set_zero_threshold(1);
  h->set_zero_count(1);
  for (const auto& [offset, length] : {std::pair{5, 2U}, std::pair{23, 1U}}) {
    auto* sp = h->add_positive_span();
    sp->set_offset(offset);
    sp->set_length(length);
  }
  for (const std::int64_t d : {900, -898, 999'998}) h->add_positive_delta(d);

  std::string expected;
  for (const auto& f : want) {
    google::protobuf::io::StringOutputStream raw(&expected);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.WriteVarint32(static_cast<std::uint32_t>(f.ByteSizeLong()));
    f.SerializeWithCachedSizes(&coded);
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(parse_delimited(got).size(), 4U);
}

// Both formats carry the same families and values; protobuf adds the
// native histograms, one per (cgroup, syscall) that has timed calls.
TEST(ProtobufExposition, CarriesWhatTheTextDoesPlusNativeHistograms) {
  FakeSource src;
  FakeNamer names;
  names.paths = {{1, "/"}, {42, "/system.slice/a.service"}};
  src.snap.stats = {row(1, 110, 5), row(42, 257, 7), row(42, 231, 1)};
  src.snap.stats[2].val.returns = 0;  // exit_group: never returns
  src.snap.stats[2].val.sum_ns = 0;
  src.snap.stats[2].val.hist[10] = 0;
  src.snap.errors = {enoent(42, 257, 3)};
  src.snap.denied = {enoent(42, 257, 3)};
  prometheus::MetricFamily self;
  self.name = "syslens_test_gauge";
  self.help = "A gauge.";
  self.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric g;
  g.gauge.value = 2.5;
  g.label = {{"k", "v"}};
  self.metric.push_back(g);

  for (const bool buckets : {false, true}) {
    CollectorOptions o;
    o.latency_buckets = buckets;
    const SyscallCollector r(o);
    Collect collect(src, names, nullptr, {.arch = Arch::x86_64});  // x86_64 numbers, on any host
    const auto latest = collect.latest(Collect::Clock::duration::zero());
    const Collection& c = *latest;
    const std::string text = r.Render(c, {self});
    const auto fs = parse_delimited(r.RenderProtobuf(c, {self}));

    std::set<std::string> want;
    for (const auto& n : text_families(text)) want.insert(n);
    want.insert("syslens_syscall_duration_nanoseconds");
    std::set<std::string> got;
    for (const auto& f : fs) got.insert(f.name());
    EXPECT_EQ(got, want);

    const auto* calls = find(fs, "syslens_syscalls_total");
    ASSERT_NE(calls, nullptr);
    EXPECT_EQ(calls->type(), pb::COUNTER);
    std::map<std::pair<std::string, std::string>, double> by_key;
    for (const auto& m : calls->metric()) by_key[{label_of(m, "cgroup"), label_of(m, "syscall")}] = m.counter().value();
    const std::map<std::pair<std::string, std::string>, double> want_calls = {
        {{"/", "getppid"}, 5},
        {{"/system.slice/a.service", "openat"}, 7},
        {{"/system.slice/a.service", "exit_group"}, 1}};
    EXPECT_EQ(by_key, want_calls);

    const auto* errs = find(fs, "syslens_syscall_errors_total");
    ASSERT_NE(errs, nullptr);
    ASSERT_EQ(errs->metric_size(), 1);
    EXPECT_EQ(label_of(errs->metric(0), "errno"), "ENOENT");
    EXPECT_EQ(errs->metric(0).counter().value(), 3);
    ASSERT_EQ(find(fs, "syslens_seccomp_denied_total")->metric_size(), 1);

    const auto* dur = find(fs, "syslens_syscall_duration_seconds");
    ASSERT_NE(dur, nullptr);
    EXPECT_EQ(dur->type(), buckets ? pb::HISTOGRAM : pb::SUMMARY);
    for (const auto& m : dur->metric()) {
      if (label_of(m, "syscall") != "openat") continue;
      if (buckets) {
        EXPECT_EQ(m.histogram().sample_count(), 7U);
        EXPECT_DOUBLE_EQ(m.histogram().sample_sum(), 7e-6);
        ASSERT_EQ(m.histogram().bucket_size(), 14);  // +Inf is implied by the count
        EXPECT_EQ(m.histogram().bucket(0).cumulative_count(), 0U);
        EXPECT_DOUBLE_EQ(m.histogram().bucket(0).upper_bound(), 2.56e-7);
        EXPECT_EQ(m.histogram().bucket(1).cumulative_count(), 7U);
      } else {
        EXPECT_EQ(m.summary().sample_count(), 7U);
        EXPECT_DOUBLE_EQ(m.summary().sample_sum(), 7e-6);
      }
    }
    const auto* host = find(fs, "syslens_host_syscall_duration_seconds");
    ASSERT_NE(host, nullptr);
    EXPECT_EQ(host->metric_size(), 3);

    const auto* native = find(fs, "syslens_syscall_duration_nanoseconds");
    ASSERT_NE(native, nullptr);
    EXPECT_EQ(native->type(), pb::HISTOGRAM);
    ASSERT_EQ(native->metric_size(), 2) << "exit_group returned nothing: no series";
    for (const auto& m : native->metric()) {
      const auto& h = m.histogram();
      const bool openat = label_of(m, "syscall") == "openat";
      EXPECT_EQ(h.sample_count(), openat ? 7U : 5U);
      EXPECT_EQ(h.sample_sum(), openat ? 7000.0 : 5000.0);  // nanoseconds
      ASSERT_EQ(h.positive_span_size(), 1);
      EXPECT_EQ(h.positive_span(0).offset(), 10);  // (512, 1024] ns
      EXPECT_EQ(h.positive_span(0).length(), 1U);
      ASSERT_EQ(h.positive_delta_size(), 1);
      EXPECT_EQ(h.positive_delta(0), openat ? 7 : 5);
    }

    const auto* gauge = find(fs, "syslens_test_gauge");
    ASSERT_NE(gauge, nullptr);
    EXPECT_EQ(gauge->type(), pb::GAUGE);
    EXPECT_EQ(gauge->help(), "A gauge.");
    EXPECT_EQ(gauge->metric(0).gauge().value(), 2.5);
    EXPECT_EQ(label_of(gauge->metric(0), "k"), "v");
  }
}
