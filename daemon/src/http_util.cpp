#include "syslens/http_util.h"

#include <cctype>

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

}  // namespace syslens
