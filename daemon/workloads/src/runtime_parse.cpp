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
