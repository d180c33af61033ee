#include "syslens/api/api.h"

#include "syslens/api/documents.h"
#include "syslens/api/trace.h"

#include <chrono>

#include "syslens/config.h"
#include "syslens/http_util.h"

namespace syslens {

using nlohmann::json;

HttpResponse json_response(unsigned status, const json& body) {
  return {status, "application/json", body.dump(2) + "\n"};
}

namespace {

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

}  // namespace

Api::Api(Collect& collect, Arch arch, std::optional<ReferenceProfile> reference, std::string profiles_dir)
    : collect_(collect), arch_(arch), reference_(std::move(reference)), profiles_dir_(std::move(profiles_dir)) {}

void Api::observe(std::chrono::milliseconds max_age) {
  const auto c = collect_.latest(max_age);
  store_.update(c->agg, unix_now());
}

std::vector<prometheus::MetricFamily> Api::workload_families(const AggregatedSnapshot& agg) const {
  prometheus::MetricFamily distinct{"syslens_workload_distinct_syscalls",
                                    "Distinct syscalls a workload (container, else cgroup) has made.",
                                    prometheus::MetricType::Gauge,
                                    {}};
  prometheus::MetricFamily denied{"syslens_workload_seccomp_denied_syscalls",
                                  "Distinct syscalls a workload made that the reference seccomp profile would deny.",
                                  prometheus::MetricType::Gauge,
                                  {}};
  for (const auto& w : workload_syscalls(agg)) {
    const WorkloadLabels& wl = *w.labels;
    std::vector<prometheus::ClientMetric::Label> l = {
        {"workload", w.key}, {"container_id", wl.container_id}, {"container", wl.container},
        {"pod", wl.pod},     {"namespace", wl.pod_namespace},   {"image", wl.image},
        {"unit", wl.unit}};
    prometheus::ClientMetric m;
    m.label = l;
    m.gauge.value = static_cast<double>(w.syscalls.size());
    distinct.metric.push_back(m);
    if (reference_) {
      m.label.push_back({"reference", reference_->name});
      m.gauge.value = static_cast<double>(denied_count(*reference_, w));
      denied.metric.push_back(m);
    }
  }
  std::vector<prometheus::MetricFamily> out{std::move(distinct)};
  if (reference_) out.push_back(std::move(denied));
  return out;
}

Api::Resolved Api::resolve(const std::string& ref) {
  observe();
  Resolved r;
  const auto res = resolve_ref(store_.workloads(), ref);
  if (!res.workload) {
    json err = {{"error", res.error}};
    if (!res.candidates.empty()) err["candidates"] = res.candidates;
    r.error = json_response(res.status, err);
  }
  r.workload = res.workload;
  return r;
}

HttpResponse Api::handle(const std::string& target, const Caller& caller) {
  const std::string path = target.substr(0, target.find('?'));
  const ApiRoute rt = parse_api_route(path);
  if (rt.malformed) {
    return json_response(400, {{"error",
                                "want /api/v1/workloads or /api/v1/workloads/<ref>/"
                                "{profile,seccomp,trace,processes} with <ref> percent-encoded"}});
  }
  if (rt.list) {
    observe();
    json list = json::array();
    for (const auto& w : store_.workloads()) list.push_back(workload_summary_json(w));
    return json_response(200, {{"workloads", list}});
  }
  if (rt.what == "trace" || rt.what == "processes") {
    if (!live_) return json_response(503, {{"error", "live traces and processes windows are not available"}});
    auto res = resolve(rt.ref);
    if (res.error) return *res.error;
    return rt.what == "trace" ? live_->start(*res.workload, target, caller)
                              : live_->processes(*res.workload, target, caller);
  }
  if (rt.what != "profile" && rt.what != "seccomp" && rt.what != "check") {
    return json_response(
        404, {{"error", "unknown resource '" + rt.what + "': want profile, seccomp, check, trace or processes"}});
  }
  auto res = resolve(rt.ref);
  if (res.error) return *res.error;
  if (rt.what == "check") return check(*res.workload, target);
  if (rt.what == "profile") return json_response(200, profile_json(*res.workload, reference_ ? &*reference_ : nullptr));
  return seccomp_response(*res.workload, target);
}

// A seccomp profile of w as the query asks: format=docker (default), oci or
// spo, runtime_syscalls, and spo's name and namespace.
HttpResponse Api::seccomp_response(const WorkloadRecord& w, const std::string& target) {
  const auto format = query_param(target, "format");
  const auto runtime = query_param(target, "runtime_syscalls");
  const auto name = query_param(target, "name");
  const auto name_space = query_param(target, "namespace");
  if (!format || !runtime || !name || !name_space ||
      (!format->empty() && *format != "docker" && *format != "oci" && *format != "spo") ||
      (!runtime->empty() && *runtime != "true" && *runtime != "false")) {
    return json_response(400, {{"error", "format must be docker, oci or spo, runtime_syscalls true or false"}});
  }
  if (*format == "spo") {
    if (!name->empty() && dns1123_name(*name) != *name) {
      return json_response(400, {{"error", "name must be a DNS-1123 name (lower case, digits, '-', '.')"}});
    }
    return {200, "application/yaml", seccomp_spo_yaml(w, arch_, *runtime != "false", *name, *name_space)};
  }
  return json_response(
      200, seccomp_json(w, arch_, *format == "oci" ? SeccompFormat::oci : SeccompFormat::docker, *runtime != "false"));
}

// Check before enforce: the workload's syscalls against the reference or a
// profile file under profiles_dir (a plain name below it, at most 1 MiB).
HttpResponse Api::check(const WorkloadRecord& w, const std::string& target) {
  const auto name = query_param(target, "profile");
  if (!name || name->empty()) {
    return json_response(400, {{"error", "want ?profile=reference or ?profile=<file under seccomp.profiles_dir>"}});
  }
  std::optional<SeccompPolicy> policy;
  if (*name == "reference") {
    if (!reference_) return json_response(404, {{"error", "no reference profile is configured"}});
    policy = reference_->policy;
  } else {
    const bool plain = name->front() != '/' && name->find("..") == std::string::npos &&
                       name->find('\0') == std::string::npos && !profiles_dir_.empty();
    if (!plain) return json_response(400, {{"error", "profile must be a path below seccomp.profiles_dir"}});
    const std::string path = profiles_dir_ + "/" + *name;
    std::string text;
    try {
      text = read_small_file(path, "seccomp profile");
    } catch (const std::exception& e) {
      return json_response(404, {{"error", e.what()}});
    }
    try {
      policy = parse_seccomp_policy(text, *name, arch_ == Arch::x86_64);
    } catch (const std::exception& e) {
      return json_response(422, {{"error", path + ": " + e.what()}});
    }
  }
  std::vector<UsedSyscall> used;
  for (const auto& [sc, rec] : w.syscalls) {
    if (rec.used()) used.push_back({sc, rec.totals.calls, iso8601(rec.last_seen)});
  }
  auto j = check_profile(*policy, used);
  j["workload"] = w.key;
  return json_response(200, j);
}

HttpResponse Api::groups(const std::string& target) {
  const auto kind = query_param(target, "group_by");
  const auto group = query_param(target, "group");
  const auto format = query_param(target, "format");
  const auto runtime = query_param(target, "runtime_syscalls");
  const auto name = query_param(target, "name");
  const auto name_space = query_param(target, "namespace");
  if (!kind || !group || !format || !runtime || !name || !name_space ||
      (*kind != "owner" && *kind != "image" && *kind != "unit") ||
      (!format->empty() && *format != "json" && *format != "docker" && *format != "oci" && *format != "spo") ||
      (!runtime->empty() && *runtime != "true" && *runtime != "false")) {
    return json_response(400, {{"error",
                                "want group_by=owner|image|unit, optionally group=<name> and "
                                "format=json|docker|oci|spo, runtime_syscalls=true|false"}});
  }
  observe();
  const auto c = collect_.latest(std::chrono::seconds(10));  // the one observe() just read
  // Each group's live workloads, merged, and what its past members made.
  std::map<std::string, WorkloadRecord> merged;
  std::map<std::string, std::set<std::string>> members;
  for (const auto& w : store_.workloads()) {
    for (const auto& [k, g] : workload_groups(w.labels)) {
      if (k != *kind) continue;
      auto& m = merged[g];
      m.key = g;
      members[g].insert(w.key);
      for (const auto& [sc, rec] : w.syscalls) {
        if (auto [it, fresh] = m.syscalls.try_emplace(sc, rec); !fresh) it->second.merge(rec);
      }
    }
  }
  if (c->past_groups) {
    for (const auto& [key, syscalls] : *c->past_groups) {
      if (key.first != *kind) continue;
      auto& m = merged[key.second];
      m.key = key.second;
      for (const auto& [nr, abi] : syscalls) {
        m.syscalls[syscall_label(arch_, nr, abi == SYSLENS_ABI_COMPAT)].past = true;
      }
    }
  }
  if (group->empty()) {
    json list = json::array();
    for (const auto& [g, m] : merged) {
      std::size_t used = 0;
      for (const auto& [sc, rec] : m.syscalls) used += rec.used();
      list.push_back({{"group", g},
                      {"live_workloads", members.count(g) ? members[g].size() : 0},
                      {"distinct_syscalls", used},
                      {"calls", m.calls()}});
    }
    return json_response(200, {{"group_by", *kind}, {"groups", list}});
  }
  auto it = merged.find(*group);
  if (it == merged.end()) return json_response(404, {{"error", *kind + " '" + *group + "' is not known"}});
  const WorkloadRecord& g = it->second;
  if (!format->empty() && *format != "json") return seccomp_response(g, target);
  json syscalls = json::array();
  for (const auto& [sc, rec] : g.syscalls) {
    if (!rec.used() && rec.denied.empty()) continue;
    syscalls.push_back(
        {{"syscall", sc}, {"calls", rec.totals.calls}, {"seccomp_denied", rec.denied}, {"past_members", rec.past}});
  }
  json live = json::array();
  if (members.count(*group)) {
    for (const auto& k : members[*group]) live.push_back(k);
  }
  return json_response(200, {{"group_by", *kind}, {"group", *group}, {"live_workloads", live}, {"syscalls", syscalls}});
}

}  // namespace syslens
