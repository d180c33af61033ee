#include "syslens/workloads/workload.h"

#include "syslens/split.h"

#include <array>
#include <vector>

namespace syslens {
namespace {

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// A pod UID: 8-4-4-4-12 hex with dashes (cgroupfs) or underscores (systemd
// slice names, where '-' separates hierarchy levels).
bool parse_pod_uid(std::string_view s, std::string& out) {
  if (s.size() != 36) return false;
  std::string uid(s);
  for (std::size_t i = 0; i < uid.size(); ++i) {
    const bool sep = i == 8 || i == 13 || i == 18 || i == 23;
    if (sep) {
      if (uid[i] != '-' && uid[i] != '_') return false;
      uid[i] = '-';
    } else if (!((uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f'))) {
      return false;
    }
  }
  out = uid;
  return true;
}

struct PrefixRule {
  std::string_view prefix;
  std::string_view runtime;
  std::string_view rule;
};

// "<prefix><64 hex>[.scope]" container cgroups. Order matters: conmon first.
constexpr std::array<PrefixRule, 5> kScopeRules{{
    {"docker-", "docker", "docker-<id>.scope (systemd driver)"},
    {"cri-containerd-", "containerd", "cri-containerd-<id>.scope (containerd CRI, systemd driver)"},
    {"crio-", "cri-o", "crio-<id>[.scope] (CRI-O)"},
    {"libpod-", "podman", "libpod-<id>[.scope] (podman)"},
    {"nerdctl-", "containerd", "nerdctl-<id>.scope (nerdctl, systemd driver)"},
}};

// Runtime of a bare "<64 hex>" cgroup, from its parent (cgroupfs drivers).
std::string_view runtime_from_parent(std::string_view parent, std::string_view& rule) {
  if (parent == "docker") {
    rule = "/docker/<id> (docker, cgroupfs driver)";
    return "docker";
  }
  if (starts_with(parent, "pod")) {
    rule = "/kubepods/[<qos>/]pod<uid>/<id> (kubelet, cgroupfs driver)";
    return "";
  }
  if (parent == "k8s.io" || parent == "default" || parent == "moby") {
    rule = "/<namespace>/<id> (containerd, cgroupfs driver)";
    return "containerd";
  }
  if (parent == "libpod_parent") {
    rule = "/libpod_parent/<id> (podman, cgroupfs driver)";
    return "podman";
  }
  rule = "<64 hex id> (unknown runtime)";
  return "";
}

}  // namespace

CgroupIdentity identify_cgroup(std::string_view path) {
  CgroupIdentity id;
  const auto comp = split_nonempty(path, '/');
  std::string prefix_path;
  std::vector<std::string> prefixes;  // path of each component's cgroup
  for (auto c : comp) {
    prefix_path += "/";
    prefix_path += c;
    prefixes.push_back(prefix_path);
  }

  // Container: the innermost component that names one.
  for (std::size_t k = comp.size(); k-- > 0 && id.container_id.empty();) {
    std::string_view c = comp[k];
    if (starts_with(c, "crio-conmon-") || starts_with(c, "libpod-conmon-")) {
      // The runtime's monitor process, beside the container: not the container.
      id.not_container = std::string(c.substr(0, c.find("-conmon-") + 7)) + " is the runtime monitor (conmon)";
      continue;
    }
    std::string_view body = ends_with(c, ".scope") ? c.substr(0, c.size() - 6) : c;
    for (const auto& r : kScopeRules) {
      if (starts_with(body, r.prefix) && is_hex64(body.substr(r.prefix.size()))) {
        id.container_id = std::string(body.substr(r.prefix.size()));
        id.runtime = std::string(r.runtime);
        id.rule = std::string(r.rule);
        break;
      }
    }
    if (id.container_id.empty()) {
      // "<slice>:<runtime>:<id>": a systemd-style cgroupsPath taken literally.
      auto last = body.rfind(':');
      if (last != std::string_view::npos && is_hex64(body.substr(last + 1))) {
        auto first = body.rfind(':', last - 1);
        std::string_view rt = first == std::string_view::npos ? "" : body.substr(first + 1, last - first - 1);
        id.container_id = std::string(body.substr(last + 1));
        id.runtime = rt == "cri-containerd" ? "containerd" : rt == "crio" ? "cri-o" : std::string(rt);
        id.rule = "<slice>:<runtime>:<id> (literal systemd cgroupsPath)";
      } else if (is_hex64(body)) {
        std::string_view rule;
        id.runtime = std::string(runtime_from_parent(k > 0 ? comp[k - 1] : std::string_view{}, rule));
        id.container_id = std::string(body);
        id.rule = std::string(rule);
      }
    }
    if (!id.container_id.empty()) id.container_cgroup = prefixes[k];
  }

  // Pod and QoS class, from either driver's naming.
  for (auto c : comp) {
    c = c.substr(0, c.find(':'));  // "<pod slice>:<runtime>:<id>"
    std::string_view body = ends_with(c, ".slice") ? c.substr(0, c.size() - 6) : c;
    if (body == "besteffort" || body == "burstable" || body == "guaranteed") id.qos = std::string(body);
    for (std::string_view q : {"besteffort", "burstable"}) {
      if (starts_with(body, "kubepods-") && starts_with(body.substr(9), q)) id.qos = std::string(q);
    }
    std::size_t p = body.rfind("pod");
    if (p != std::string_view::npos && (p == 0 || body[p - 1] == '-') && (p == 0 || starts_with(body, "kubepods")) &&
        parse_pod_uid(body.substr(p + 3), id.pod_uid)) {
      if (id.qos.empty()) id.qos = "guaranteed";  // kubepods/pod<uid>: no QoS level
    }
  }
  if (id.pod_uid.empty() && id.qos == "guaranteed") id.qos.clear();
  if (!id.pod_uid.empty() && id.rule.empty()) id.rule = "pod<uid> (Kubernetes pod cgroup)";

  // systemd unit: the deepest .service or .scope, else the deepest .slice.
  for (std::size_t k = comp.size(); k-- > 0;) {
    if (ends_with(comp[k], ".service") || ends_with(comp[k], ".scope")) {
      id.unit = std::string(comp[k]);
      break;
    }
  }
  if (id.unit.empty()) {
    for (std::size_t k = comp.size(); k-- > 0;) {
      if (ends_with(comp[k], ".slice")) {
        id.unit = std::string(comp[k]);
        break;
      }
    }
  }
  if (id.rule.empty() && !id.unit.empty()) id.rule = "systemd unit";
  return id;
}

WorkloadResolver::WorkloadResolver(MetadataCache* metadata, std::size_t cache_size)
    : metadata_(metadata), identities_(cache_size) {}

const CgroupIdentity& WorkloadResolver::identity(const std::string& path) {
  if (auto* hit = identities_.get(path)) return *hit;
  identities_.put(path, identify_cgroup(path));
  return *identities_.get(path);
}

WorkloadLabels WorkloadResolver::labels_for(const std::string& path) {
  const CgroupIdentity& id = identity(path);
  WorkloadLabels l;
  l.container_id = id.container_id;
  l.unit = id.unit;
  if (id.container_id.empty() || !metadata_) return l;
  bool worth_waiting = false;
  if (auto m = metadata_->get(id.container_id, &worth_waiting)) {
    l.container = m->sandbox ? "POD" : m->name;
    l.pod = m->pod;
    l.pod_namespace = m->pod_namespace;
    l.image = m->image;
    l.owner = m->owner.empty() && !m->pod.empty() ? "pod/" + m->pod : m->owner;
  } else if (worth_waiting) {
    missed_ = true;
  }
  return l;
}

bool WorkloadResolver::settle(std::chrono::milliseconds budget) {
  if (!missed_ || !metadata_) return false;
  missed_ = false;
  metadata_->wait_for_refresh(budget);
  return true;
}

}  // namespace syslens
