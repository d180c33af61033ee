#include "syslens/workloads/runtime_parse.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace syslens {

void apply_kubernetes_labels(ContainerMeta& m, const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const auto& [k, v] : labels) {
    if (k == "io.kubernetes.pod.name") m.pod = v;
    if (k == "io.kubernetes.pod.namespace") m.pod_namespace = v;
    if (k == "io.kubernetes.pod.uid") m.pod_uid = v;
    if (k == "io.kubernetes.container.name") m.name = v;
    if (k == "io.kubernetes.docker.type" && v == "podsandbox") m.sandbox = true;
  }
  // A container's own labels lack the pod's: keep what the sandbox said.
  if (const auto owner = kubernetes_owner(m.pod, labels);
      !owner.empty() && (m.owner.empty() || owner.rfind("pod/", 0))) {
    m.owner = owner;
  }
}

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// name less its last "-suffix", or "" if it has none.
std::string_view before_last_dash(std::string_view name) {
  const auto dash = name.rfind('-');
  return dash == std::string_view::npos || dash == 0 ? std::string_view() : name.substr(0, dash);
}

}  // namespace

std::string kubernetes_owner(const std::string& pod, const std::vector<std::pair<std::string, std::string>>& labels) {
  if (pod.empty()) return {};
  auto label = [&](std::string_view key) -> std::string {
    for (const auto& [k, v] : labels) {
      if (k == key) return v;
    }
    return {};
  };
  if (auto job = label("job-name"); !job.empty() || !(job = label("batch.kubernetes.io/job-name")).empty()) {
    // A CronJob names its jobs <cronjob>-<scheduled minute since the epoch>.
    const auto base = before_last_dash(job);
    const auto tail = job.substr(base.size() + (base.empty() ? 0 : 1));
    if (!base.empty() && all_digits(tail) && tail.size() >= 8) return "cronjob/" + std::string(base);
    return "job/" + job;
  }
  if (const auto hash = label("pod-template-hash"); !hash.empty()) {
    const std::string marker = "-" + hash + "-";
    if (const auto at = pod.rfind(marker); at != std::string::npos && at > 0) return "deployment/" + pod.substr(0, at);
    if (const auto base = before_last_dash(pod); !base.empty()) return "replicaset/" + std::string(base);
  }
  if (!label("controller-revision-hash").empty()) {
    const auto base = before_last_dash(pod);
    if (!base.empty()) {
      const bool ordinal = all_digits(std::string_view(pod).substr(base.size() + 1));
      if (!label("statefulset.kubernetes.io/pod-name").empty() || ordinal) {
        return "statefulset/" + std::string(base);
      }
      return "daemonset/" + std::string(base);
    }
  }
  return "pod/" + pod;
}

std::vector<std::pair<std::string, ContainerMeta>> parse_docker_containers(std::string_view text) {
  using nlohmann::json;
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw std::runtime_error("invalid JSON from the Docker API");
  if (!doc.is_array()) throw std::runtime_error("unexpected Docker API response: not a list of containers");
  std::vector<std::pair<std::string, ContainerMeta>> out;
  for (const auto& c : doc) {
    if (!c.is_object()) continue;
    auto id = c.find("Id");
    // An entry without a usable id cannot be matched to a cgroup: skip it.
    if (id == c.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) continue;
    ContainerMeta m;
    if (auto names = c.find("Names");
        names != c.end() && names->is_array() && !names->empty() && names->front().is_string()) {
      m.name = names->front().get<std::string>();
      if (!m.name.empty() && m.name.front() == '/') m.name.erase(0, 1);
    }
    if (auto image = c.find("Image"); image != c.end() && image->is_string()) m.image = image->get<std::string>();
    if (auto labels = c.find("Labels"); labels != c.end() && labels->is_object()) {
      std::vector<std::pair<std::string, std::string>> kv;
      for (auto it = labels->begin(); it != labels->end(); ++it) {
        if (it.value().is_string()) kv.emplace_back(it.key(), it.value().get<std::string>());
      }
      apply_kubernetes_labels(m, kv);
    }
    out.emplace_back(id->get<std::string>(), std::move(m));
  }
  return out;
}

}  // namespace syslens
