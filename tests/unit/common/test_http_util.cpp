#include <gtest/gtest.h>
#include <zlib.h>

#include "syslens/http_util.h"

using namespace syslens;

TEST(UrlDecode, Escapes) {
  EXPECT_EQ(url_decode("%2Fdocker%2Fabc"), "/docker/abc");
  EXPECT_EQ(url_decode("a+b"), "a b");
  EXPECT_EQ(url_decode("a+b", false), "a+b");
  EXPECT_EQ(url_decode("%zz"), std::nullopt);
  EXPECT_EQ(url_decode("%4"), std::nullopt);
  EXPECT_EQ(url_decode("%"), std::nullopt);
}

TEST(QueryParam, FindsAndDecodes) {
  EXPECT_EQ(query_param("/api/v1/attribution?cgroup=%2Fsystem.slice%2Fa.service", "cgroup"), "/system.slice/a.service");
  EXPECT_EQ(query_param("/x?a=1&cgroup=42&b=2", "cgroup"), "42");
  EXPECT_EQ(query_param("/x?a=1", "cgroup"), "");
  EXPECT_EQ(query_param("/x", "cgroup"), "");
  EXPECT_EQ(query_param("/x?cgroup=%G1", "cgroup"), std::nullopt);
  EXPECT_EQ(query_param("/x?cgroup", "cgroup"), "");
}

TEST(UrlEncode, RoundTrips) {
  EXPECT_EQ(url_encode("shop/web-0/web"), "shop%2Fweb-0%2Fweb");
  EXPECT_EQ(url_encode("/system.slice/a b.service"), "%2Fsystem.slice%2Fa%20b.service");
  EXPECT_EQ(url_decode(url_encode("ns/pod/c?x=1&y"), false), "ns/pod/c?x=1&y");
}

TEST(ApiRoute, ListRefAndWhat) {
  EXPECT_TRUE(parse_api_route("/api/v1/workloads").list);
  EXPECT_TRUE(parse_api_route("/api/v1/workloads/").list);
  const auto r = parse_api_route("/api/v1/workloads/shop%2Fweb-0%2Fweb/profile");
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(r.ref, "shop/web-0/web");
  EXPECT_EQ(r.what, "profile");
  // A ref with a '+' keeps it: only queries turn '+' into a space.
  EXPECT_EQ(parse_api_route("/api/v1/workloads/a+b/seccomp").ref, "a+b");
  for (const char* bad : {"/api/v1/workloadsfoo/x", "/api/v1/workloads/noslash", "/api/v1/workloads//profile",
                          "/api/v1/workloads/%zz/profile", "/api/v1/work", ""}) {
    EXPECT_TRUE(parse_api_route(bad).malformed) << bad;
  }
}

TEST(AcceptEncoding, GzipWhenAskedForAndNotRefused) {
  for (const char* yes : {"gzip", "GZIP", "gzip, deflate, br", "deflate, gzip;q=0.5", "*", "identity, *;q=0.1",
                          "x-gzip", "gzip;q=1.0", " gzip ; q=0.001"}) {
    EXPECT_TRUE(accepts_gzip(yes)) << yes;
  }
  for (const char* no :
       {"", "identity", "deflate, br", "gzip;q=0", "gzip;q=0.000", "*;q=0", "*, gzip;q=0", "gzipx", "gzip;q=0."}) {
    EXPECT_FALSE(accepts_gzip(no)) << no;
  }
}

TEST(Gzip, RoundTripsThroughZlib) {
  std::string text;
  for (int i = 0; i < 20000; ++i)
    text += "syslens_syscalls_total{cgroup=\"/a\",syscall=\"read\"} " + std::to_string(i) + "\n";
  const std::string gz = gzip_compress(text, 1);
  ASSERT_GE(gz.size(), 18U);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // the gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size(), text.size() / 10);
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string back(text.size() + 1, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  zs.next_out = reinterpret_cast<Bytef*>(back.data());
  zs.avail_out = static_cast<uInt>(back.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  back.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_EQ(back, text);
  EXPECT_EQ(gzip_compress("", 1).size(), 20U);  // header and trailer only
}

// What Prometheus sends with native histograms on, and without; what curl
// and browsers send.
TEST(AcceptHeader, ProtobufMetricsOnlyWhenPreferredToText) {
  EXPECT_TRUE(accepts_protobuf_metrics(
      "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
      "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"));
  EXPECT_TRUE(
      accepts_protobuf_metrics("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                               "encoding=delimited"));
  EXPECT_FALSE(
      accepts_protobuf_metrics("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
  EXPECT_FALSE(accepts_protobuf_metrics("*/*"));
  EXPECT_FALSE(accepts_protobuf_metrics(""));
  EXPECT_FALSE(accepts_protobuf_metrics("text/html,application/xhtml+xml"));
  // Listed but not wanted, or not preferred, or not the delimited MetricFamily stream.
  EXPECT_FALSE(accepts_protobuf_metrics(
      "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0"));
  EXPECT_FALSE(accepts_protobuf_metrics(
      "text/plain;q=0.9,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;q=0.5"));
  EXPECT_FALSE(accepts_protobuf_metrics("application/vnd.google.protobuf;proto=other.Message;encoding=delimited"));
  EXPECT_FALSE(accepts_protobuf_metrics(
      "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"));
  EXPECT_FALSE(
      accepts_protobuf_metrics("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;q=lots"));
}
