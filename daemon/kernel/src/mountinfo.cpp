#include "syslens/kernel/mountinfo.h"

#include "syslens/split.h"

#include <sstream>

namespace syslens {
namespace {

std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::vector<MountInfo> parse_mountinfo(std::string_view text) {
  std::vector<MountInfo> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto f = split_nonempty(line, ' ');
    // id parent maj:min root mount_point options [optional...] - fstype source super
    std::size_t sep = 0;
    for (std::size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        sep = i;
        break;
      }
    }
    if (sep == 0 || f.size() < sep + 3) continue;
    MountInfo m;
    m.root = unescape(f[3]);
    m.mount_point = unescape(f[4]);
    m.fstype = std::string(f[sep + 1]);
    m.source = unescape(f[sep + 2]);
    if (sep + 3 < f.size()) m.super_options = std::string(f[sep + 3]);
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<MountInfo> find_cgroup2_mount(const std::vector<MountInfo>& mounts) {
  std::optional<MountInfo> any;
  for (const auto& m : mounts) {
    if (m.fstype != "cgroup2") continue;
    if (m.root == "/") return m;
    if (!any) any = m;
  }
  return any;
}

std::optional<MountInfo> find_cgroup1_mount(const std::vector<MountInfo>& mounts, std::string_view controller) {
  std::optional<MountInfo> any;
  for (const auto& m : mounts) {
    if (m.fstype != "cgroup") continue;
    std::string_view opts = m.super_options;
    bool has = false;
    while (!opts.empty()) {
      auto comma = opts.find(',');
      if (opts.substr(0, comma) == controller) has = true;
      opts = comma == std::string_view::npos ? std::string_view{} : opts.substr(comma + 1);
    }
    if (!has) continue;
    if (m.root == "/") return m;
    if (!any) any = m;
  }
  return any;
}

std::vector<std::string> cgroup_controllers(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    out.emplace_back(line.substr(0, line.find_first_of(" \t")));
  }
  return out;
}

std::optional<int> cgroup_subsys_id(std::string_view text, std::string_view controller) {
  const auto names = cgroup_controllers(text);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == controller) return static_cast<int>(i);
  }
  return std::nullopt;
}

}  // namespace syslens
