#include "syslens/seccomp/policy.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <vector>

namespace syslens {

using nlohmann::json;

namespace {

// YAML (the security-profiles-operator's resource) as JSON: scalars stay
// strings except errnoRet, which the rules read as a number.
json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json j = json::object();
      for (const auto& kv : n) j[kv.first.as<std::string>()] = to_json(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      json j = json::array();
      for (const auto& v : n) j.push_back(to_json(v));
      return j;
    }
    case YAML::NodeType::Scalar:
      return n.as<std::string>();
    default:
      return nullptr;
  }
}

// The profile object itself: a Docker/containers-common or OCI profile is
// one; a SeccompProfile resource has it under spec.
json profile_object(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) {
    try {
      doc = to_json(YAML::Load(std::string(text)));
    } catch (const YAML::Exception& e) {
      throw std::runtime_error(std::string("neither JSON nor YAML: ") + e.what());
    }
  }
  if (doc.is_object() && doc.value("kind", json()) == "SeccompProfile") doc = doc.value("spec", json());
  if (!doc.is_object() || !doc.contains("defaultAction") || !doc["defaultAction"].is_string()) {
    throw std::runtime_error("not a seccomp profile (no defaultAction)");
  }
  return doc;
}

int as_errno(const json& v, int otherwise) {
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_string()) {
    try {
      return std::stoi(v.get<std::string>());
    } catch (const std::exception&) {
      return otherwise;
    }
  }
  return otherwise;
}

// The errno an action without an explicit one returns (runc and crun).
int default_errno(const std::string& action) {
  if (action == "SCMP_ACT_ERRNO") return EPERM;
  if (action == "SCMP_ACT_TRACE") return ENOSYS;  // no tracer
  return 0;
}

}  // namespace

SeccompDecision SeccompPolicy::decide(const std::string& syscall) const {
  auto it = rules_.find(syscall);
  return it == rules_.end() ? default_ : it->second;
}

SeccompPolicy parse_seccomp_policy(std::string_view text, std::string name, bool x86_64) {
  const json doc = profile_object(text);
  SeccompPolicy p;
  p.name = std::move(name);
  p.default_.action = doc["defaultAction"].get<std::string>();
  p.default_.errno_ret = as_errno(doc.value("defaultErrnoRet", json()), default_errno(p.default_.action));
  const std::set<std::string> arch_names = x86_64 ? std::set<std::string>{"amd64", "x86_64", "SCMP_ARCH_X86_64"}
                                                  : std::set<std::string>{"arm64", "aarch64", "SCMP_ARCH_AARCH64"};
  const auto rules = doc.value("syscalls", json::array());
  if (!rules.is_array()) throw std::runtime_error("'syscalls' is not a list");
  // Per syscall: the first rule without argument conditions decides; a
  // syscall only conditional rules name depends on its arguments.
  std::map<std::string, SeccompDecision> conditional;
  for (const auto& rule : rules) {
    if (!rule.is_object() || !rule.contains("action") || !rule["action"].is_string()) continue;
    const auto includes = rule.value("includes", json::object());
    if (includes.is_object()) {
      if (includes.contains("arches") && includes["arches"].is_array() && !includes["arches"].empty()) {
        bool ours = false;
        for (const auto& a : includes["arches"])
          ours = ours || (a.is_string() && arch_names.count(a.get<std::string>()));
        if (!ours) continue;
      }
      if (includes.contains("caps") && includes["caps"].is_array() && !includes["caps"].empty()) continue;
    }
    SeccompDecision d;
    d.action = rule["action"].get<std::string>();
    d.errno_ret = as_errno(rule.value("errnoRet", json()), default_errno(d.action));
    const bool has_args = rule.contains("args") && rule["args"].is_array() && !rule["args"].empty();
    std::vector<std::string> names;
    if (rule.contains("names") && rule["names"].is_array()) {
      for (const auto& n : rule["names"]) {
        if (n.is_string()) names.push_back(n.get<std::string>());
      }
    }
    if (rule.contains("name") && rule["name"].is_string()) names.push_back(rule["name"].get<std::string>());
    for (const auto& n : names) {
      if (has_args) {
        d.conditional = true;
        conditional.emplace(n, d);
      } else {
        p.rules_.emplace(n, d);
      }
    }
  }
  for (auto& [n, d] : conditional) p.rules_.emplace(n, d);  // only where no unconditional rule is
  return p;
}

json check_profile(const SeccompPolicy& p, const std::vector<UsedSyscall>& used) {
  json refused = json::array(), conditional = json::array();
  std::size_t allowed = 0;
  for (const auto& u : used) {
    if (u.name.find(':') != std::string::npos) continue;  // another ABI
    const auto d = p.decide(u.name);
    json e = {{"syscall", u.name}, {"calls", u.calls}, {"last_seen", u.last_seen}, {"action", d.action}};
    if (d.errno_ret) e["errno"] = seccomp_errno_name(d.errno_ret);
    if (d.conditional) {
      conditional.push_back(std::move(e));
    } else if (d.refuses()) {
      refused.push_back(std::move(e));
    } else {
      ++allowed;
    }
  }
  return {{"profile", p.name}, {"would_refuse", refused}, {"depends_on_arguments", conditional}, {"allowed", allowed}};
}

std::string seccomp_errno_name(int err) {
  const char* n = ::strerrorname_np(err);
  return n ? n : std::to_string(err);
}

}  // namespace syslens
