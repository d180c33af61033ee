#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace syslens {

// Percent-decoding of a URL component ('+' is a space in queries). nullopt
// on a malformed escape.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space = true);

// Percent-encodes everything but unreserved characters (RFC 3986), so a
// workload reference with slashes fits in one path segment.
std::string url_encode(std::string_view s);

// The decoded value of a query parameter of a request target, "" when the
// parameter is absent. nullopt when the query is malformed.
std::optional<std::string> query_param(std::string_view target, std::string_view name);

// "/api/v1/workloads" (list) or "/api/v1/workloads/<ref>/<what>" with <ref>
// percent-encoded (it may hold slashes: namespace/pod/container, cgroup
// paths). Anything else below the prefix is malformed.
struct ApiRoute {
  std::string ref, what;
  bool list = false;
  bool malformed = false;
};
ApiRoute parse_api_route(std::string_view path);

// Whether an Accept-Encoding header value accepts gzip: "gzip" or "*" with a
// q-value above 0 (RFC 9110 12.5.3), an explicit "gzip;q=0" refusing it.
bool accepts_gzip(std::string_view accept_encoding);

// Whether an Accept header prefers the Prometheus protobuf exposition
// (application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
// encoding=delimited) to text: listed with a quality above 0 and not below
// text/plain's (or text not listed). Empty or malformed: text.
bool accepts_protobuf_metrics(std::string_view accept);

// data as one gzip member (RFC 1952), at zlib's level 1..9.
std::string gzip_compress(std::string_view data, int level);

}  // namespace syslens
