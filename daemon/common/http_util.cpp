#include "syslens/http_util.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

namespace syslens {

namespace {
int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static const char* hexd = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hexd[c >> 4]);
      out.push_back(hexd[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::string();
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = pair.find('=');
    auto key = url_decode(pair.substr(0, eq));
    if (!key) return std::nullopt;
    if (*key == name) return url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
  return std::string();
}

ApiRoute parse_api_route(std::string_view path) {
  static constexpr std::string_view prefix = "/api/v1/workloads";
  ApiRoute r;
  if (path.substr(0, prefix.size()) != prefix) {
    r.malformed = true;
    return r;
  }
  std::string_view rest = path.substr(prefix.size());
  if (rest.empty() || rest == "/") {
    r.list = true;
    return r;
  }
  if (rest.front() != '/') {
    r.malformed = true;
    return r;
  }
  rest.remove_prefix(1);
  const auto slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash == 0) {
    r.malformed = true;
    return r;
  }
  auto ref = url_decode(rest.substr(0, slash), false);
  if (!ref) {
    r.malformed = true;
    return r;
  }
  r.ref = std::move(*ref);
  r.what = std::string(rest.substr(slash + 1));
  return r;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Calls fn(value, parameters) for each element of a comma-separated header
// list ("gzip;q=0.5, *"): the value trimmed, each parameter as a trimmed
// "name=value" string.
template <class Fn>
void for_each_element(std::string_view header, Fn fn) {
  std::vector<std::string_view> params;
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const auto semi = item.find(';');
    params.clear();
    for (auto rest = semi == std::string_view::npos ? std::string_view() : item.substr(semi + 1); !rest.empty();) {
      const auto next = rest.find(';');
      params.push_back(trim(rest.substr(0, next)));
      rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    }
    fn(trim(item.substr(0, semi)), params);
  }
}

// The value of parameter `name` ("q" in "q=0.5"), case-insensitive; none if absent.
std::optional<std::string_view> param(const std::vector<std::string_view>& params, std::string_view name) {
  for (auto p : params) {
    const auto eq = p.find('=');
    if (eq != std::string_view::npos && iequals(trim(p.substr(0, eq)), name)) return trim(p.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace

bool accepts_gzip(std::string_view header) {
  std::optional<bool> gzip, any;
  for_each_element(header, [&](std::string_view coding, const std::vector<std::string_view>& params) {
    bool ok = true;
    if (const auto q = param(params, "q")) {
      // q=0, 0., 0.0, 0.00, 0.000 refuse; anything else up to 1 accepts.
      ok = !(!q->empty() && (*q)[0] == '0' && q->find_first_not_of("0.", 0) == std::string_view::npos);
    }
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) gzip = ok;
    if (coding == "*") any = ok;
  });
  if (gzip) return *gzip;
  return any.value_or(false);
}

bool accepts_protobuf_metrics(std::string_view accept) {
  double q_proto = 0, q_text = -1;
  for_each_element(accept, [&](std::string_view type, const std::vector<std::string_view>& params) {
    double q = 1;
    if (const auto v = param(params, "q")) {
      const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), q);
      if (ec != std::errc() || end != v->data() + v->size() || q < 0 || q > 1) return;  // malformed: not listed
    }
    const auto proto = param(params, "proto");
    const auto encoding = param(params, "encoding");
    if (iequals(type, "application/vnd.google.protobuf") && proto == "io.prometheus.client.MetricFamily" &&
        (!encoding || iequals(*encoding, "delimited"))) {
      q_proto = std::max(q_proto, q);
    } else if (iequals(type, "text/plain")) {
      q_text = std::max(q_text, q);
    }
  });
  return q_proto > 0 && q_proto >= q_text;
}

std::string gzip_compress(std::string_view data, int level) {
  z_stream zs{};
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const auto written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(written);
  return out;
}

}  // namespace syslens
