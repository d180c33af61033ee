#include "syslens/api/attribution.h"

#include <sys/stat.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "syslens/http_util.h"

namespace syslens {

namespace {

HttpResponse json_response(unsigned status, const nlohmann::json& body) {
  return {status, "application/json", body.dump(2) + "\n"};
}

HttpResponse json_error(unsigned status, const std::string& message) {
  return json_response(status, {{"error", message}});
}

}  // namespace

HttpResponse attribution_response(const std::string& target, CgroupPaths& cgroups, WorkloadResolver& workloads,
                                  MetadataCache* metadata) {
  auto ref = query_param(target, "cgroup");
  if (!ref) return json_error(400, "malformed query string");
  if (ref->empty()) return json_error(400, "missing parameter: cgroup=<id or path>");
  if (ref->size() > 4096) return json_error(400, "cgroup parameter longer than 4096 bytes");

  std::uint64_t id = 0;
  std::string path;
  auto [ptr, ec] = std::from_chars(ref->data(), ref->data() + ref->size(), id);
  if (ec == std::errc{} && ptr == ref->data() + ref->size()) {
    auto p = cgroups.path_of(id);
    if (!p) return json_error(404, "no cgroup with id " + *ref + " (never existed or already removed)");
    path = *p;
  } else {
    if (ref->front() != '/' || ref->find("/../") != std::string::npos || ref->ends_with("/..")) {
      return json_error(400, "cgroup must be a numeric id or a path starting with '/' relative to the cgroup v2 root");
    }
    struct stat st {};
    const std::string abs = cgroups.mount_point() + (*ref == "/" ? "" : *ref);
    if (::stat(abs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return json_error(404, "no cgroup at " + *ref);
    }
    id = st.st_ino;
    path = *ref;
  }

  const CgroupIdentity& ident = workloads.identity(path);
  const WorkloadLabels labels = workloads.labels_for(path);
  nlohmann::json j;
  j["cgroup"] = {{"id", id}, {"path", path}};
  j["identity"] = {{"container_id", ident.container_id},
                   {"runtime", ident.runtime},
                   {"pod_uid", ident.pod_uid},
                   {"qos", ident.qos},
                   {"unit", ident.unit},
                   {"container_cgroup", ident.container_cgroup}};
  j["rule"] = ident.rule;
  j["labels"] = {{"container_id", labels.container_id}, {"container", labels.container}, {"pod", labels.pod},
                 {"namespace", labels.pod_namespace},   {"image", labels.image},         {"unit", labels.unit}};
  if (ident.container_id.empty()) {
    std::string why =
        "no path component names a container (rules: docker-<id>.scope, /docker/<id>, "
        "cri-containerd-<id>.scope, crio-<id>, libpod-<id>, nerdctl-<id>.scope, <slice>:<runtime>:<id>, "
        "a 64-hex id below pod<uid>, docker, k8s.io, default or libpod_parent)";
    if (!ident.not_container.empty()) why = ident.not_container;
    j["container"] = {{"matched", false}, {"reason", why}};
  } else {
    nlohmann::json meta = {{"found", !labels.container.empty() || !labels.pod.empty() || !labels.image.empty()}};
    if (auto m = metadata ? metadata->get(ident.container_id) : std::nullopt) {
      meta = {{"found", true}, {"source", m->source},           {"name", m->name},       {"image", m->image},
              {"pod", m->pod}, {"namespace", m->pod_namespace}, {"pod_uid", m->pod_uid}, {"sandbox", m->sandbox}};
    } else {
      nlohmann::json sources = nlohmann::json::array();
      if (metadata) {
        for (const auto& st : metadata->stats()) {
          sources.push_back({{"source", st.name}, {"up", st.up}, {"last_error", st.last_error}});
        }
      }
      meta = {{"found", false},
              {"reason", metadata ? "no runtime API knows this container id (yet); asked for a refresh"
                                  : "no container runtime configured"},
              {"sources", sources}};
    }
    j["container"] = {{"matched", true}, {"metadata", meta}};
  }
  return json_response(200, j);
}

}  // namespace syslens
