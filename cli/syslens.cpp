// syslens: the command-line client of syslensd's HTTP API.
//
//   syslens [--address HOST:PORT] [--output table|json] COMMAND [ARGS]
//     top [--interval 2s] [--once]      workloads by call rate, refreshing
//     profile REF                       per-syscall profile of a workload
//     seccomp REF [--format docker|oci] [--no-runtime-syscalls]
//     trace REF [--syscall NAME] [--failed] [--slower-than 1ms] [--duration 60s]
//     explain CGROUP                    why a cgroup carries its labels
//
// Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage, 3 the
// daemon is unreachable.
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "syslens/config.h"
#include "syslens/http_util.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;
using syslens::url_encode;

constexpr int kExitApi = 1, kExitUsage = 2, kExitUnreachable = 3;

struct Fail {
  int code;
  std::string message;
};

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "9823";
  bool json_out = false;
};

[[noreturn]] void usage(const std::string& why) {
  throw Fail{kExitUsage, why + " (see syslens --help)"};
}

const char* kHelp =
    "usage: syslens [--address HOST:PORT] [--output table|json] COMMAND [ARGS]\n\n"
    "Commands:\n"
    "  top [--interval 2s] [--once]          workloads by syscall rate, refreshing like top\n"
    "  profile REF                           per-syscall calls, failures, latency of a workload\n"
    "  seccomp REF [--format docker|oci] [--no-runtime-syscalls]\n"
    "                                        a seccomp profile allowing what the workload used\n"
    "  trace REF [--syscall NAME] [--failed] [--slower-than 1ms] [--duration 60s]\n"
    "                                        live syscalls of a workload\n"
    "  explain CGROUP                        why a cgroup (id or path) carries its labels\n\n"
    "REF: a container id or unique prefix, namespace/pod/container, a container name,\n"
    "a systemd unit or a cgroup path. The address defaults to $SYSLENS_ADDRESS or\n"
    "127.0.0.1:9823. Exit codes: 1 the daemon answered with an error, 2 usage,\n"
    "3 the daemon is unreachable.\n";

// One request; with on_chunk, the body is handed over as it arrives.
struct Reply {
  unsigned status = 0;
  std::string body;
};

Reply get(const Options& o, const std::string& target,
          const std::function<void(const std::string&)>& on_chunk = {}, std::chrono::seconds timeout = std::chrono::seconds(30)) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(o.host, o.port, ec);
  if (ec) throw Fail{kExitUnreachable, "cannot resolve " + o.host + ": " + ec.message()};
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(results, ec);
  if (ec) {
    throw Fail{kExitUnreachable, "cannot reach syslensd at " + o.host + ":" + o.port + ": " + ec.message() +
                                     " (is it running? see --address or SYSLENS_ADDRESS)"};
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, o.host);
  req.set(http::field::user_agent, "syslens-cli");
  stream.expires_after(timeout);
  http::write(stream, req, ec);
  if (ec) throw Fail{kExitUnreachable, "sending to syslensd: " + ec.message()};
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(256 << 20);
  http::read_header(stream, buf, parser, ec);
  if (ec) throw Fail{kExitUnreachable, "reading from syslensd: " + ec.message()};
  Reply r;
  r.status = parser.get().result_int();
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    http::read(stream, buf, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw Fail{kExitUnreachable, "reading from syslensd: " + ec.message()};
    std::string got(chunk, sizeof(chunk) - parser.get().body().size);
    if (on_chunk && r.status == 200) {
      on_chunk(got);
    } else {
      r.body += got;
    }
  }
  return r;
}

json get_json(const Options& o, const std::string& target) {
  auto r = get(o, target);
  json j = json::parse(r.body, nullptr, false);
  if (r.status != 200) {
    std::string msg = j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r.body;
    if (j.is_object() && j.contains("candidates")) {
      for (const auto& c : j["candidates"]) msg += "\n  candidate: " + c.get<std::string>();
    }
    throw Fail{kExitApi, msg};
  }
  if (j.is_discarded()) throw Fail{kExitApi, "syslensd sent invalid JSON"};
  return j;
}

std::string fmt_duration(const json& v) {
  if (!v.is_number()) return "-";
  const double s = v.get<double>();
  char b[32];
  if (s < 1e-6) {
    std::snprintf(b, sizeof(b), "%.0fns", s * 1e9);
  } else if (s < 1e-3) {
    std::snprintf(b, sizeof(b), "%.1fus", s * 1e6);
  } else if (s < 1) {
    std::snprintf(b, sizeof(b), "%.1fms", s * 1e3);
  } else {
    std::snprintf(b, sizeof(b), "%.2fs", s);
  }
  return b;
}

std::string name_of(const json& w) {
  const auto& l = w["labels"];
  if (!l["pod"].get<std::string>().empty()) {
    return l["namespace"].get<std::string>() + "/" + l["pod"].get<std::string>() + "/" +
           l["container"].get<std::string>();
  }
  if (!l["container"].get<std::string>().empty()) return l["container"].get<std::string>();
  if (!l["container_id"].get<std::string>().empty()) return l["container_id"].get<std::string>().substr(0, 12);
  return w["key"].get<std::string>();
}

int cmd_profile(const Options& o, const std::vector<std::string>& args) {
  if (args.size() != 1) usage("profile takes one REF");
  json p = get_json(o, "/api/v1/workloads/" + url_encode(args[0]) + "/profile");
  if (o.json_out) {
    std::cout << p.dump(2) << "\n";
    return 0;
  }
  const auto& w = p["workload"];
  std::cout << "workload " << name_of(w) << "  (" << w["key"].get<std::string>() << ")\n"
            << "calls " << w["calls"] << "  failures " << w["failures"] << "  distinct syscalls "
            << w["distinct_syscalls"] << "  first seen " << w["first_seen"].get<std::string>() << "  last seen "
            << w["last_seen"].get<std::string>() << "\n\n";
  std::printf("%-22s %12s %10s %-20s %9s %9s %9s  %s\n", "SYSCALL", "CALLS", "FAILED", "TOP ERRNO", "P50", "P99",
              "MAX", "LAST SEEN");
  auto rows = p["syscalls"];
  std::sort(rows.begin(), rows.end(), [](const json& a, const json& b) { return a["calls"] > b["calls"]; });
  for (const auto& s : rows) {
    std::uint64_t failed = 0;
    std::string top;
    std::uint64_t top_n = 0;
    for (auto it = s["failures"].begin(); it != s["failures"].end(); ++it) {
      failed += it.value().get<std::uint64_t>();
      if (it.value().get<std::uint64_t>() > top_n) {
        top_n = it.value().get<std::uint64_t>();
        top = it.key();
      }
    }
    const auto& lat = s["latency_seconds"];
    std::printf("%-22s %12llu %10llu %-20s %9s %9s %9s  %s\n", s["syscall"].get<std::string>().c_str(),
                static_cast<unsigned long long>(s["calls"].get<std::uint64_t>()),
                static_cast<unsigned long long>(failed), top.empty() ? "-" : top.c_str(),
                fmt_duration(lat.is_object() ? lat["p50"] : json()).c_str(),
                fmt_duration(lat.is_object() ? lat["p99"] : json()).c_str(),
                fmt_duration(lat.is_object() ? lat["max_bucket"] : json()).c_str(),
                s["last_seen"].get<std::string>().c_str());
  }
  if (p.contains("seccomp_drift") && !p["seccomp_drift"]["denied"].empty()) {
    std::cout << "\nwould be denied by " << p["seccomp_drift"]["reference"].get<std::string>() << ":";
    for (const auto& d : p["seccomp_drift"]["denied"]) std::cout << " " << d.get<std::string>();
    std::cout << "\n";
  }
  return 0;
}

int cmd_seccomp(const Options& o, const std::vector<std::string>& args) {
  std::string ref, format = "docker";
  bool runtime = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--format" && i + 1 < args.size()) {
      format = args[++i];
    } else if (args[i].rfind("--format=", 0) == 0) {
      format = args[i].substr(9);
    } else if (args[i] == "--no-runtime-syscalls") {
      runtime = false;
    } else if (!args[i].empty() && args[i][0] == '-') {
      usage("unknown option '" + args[i] + "'");
    } else if (ref.empty()) {
      ref = args[i];
    } else {
      usage("seccomp takes one REF");
    }
  }
  if (ref.empty()) usage("seccomp needs a REF");
  if (format != "docker" && format != "oci") usage("--format must be docker or oci");
  // A profile is JSON whatever --output says: it is meant for a runtime.
  std::cout << get_json(o, "/api/v1/workloads/" + url_encode(ref) + "/seccomp?format=" + format +
                               "&runtime_syscalls=" + (runtime ? "true" : "false"))
                   .dump(2)
            << "\n";
  return 0;
}

int cmd_explain(const Options& o, const std::vector<std::string>& args) {
  if (args.size() != 1) usage("explain takes one CGROUP (id or path)");
  json a = get_json(o, "/api/v1/attribution?cgroup=" + url_encode(args[0]));
  if (o.json_out) {
    std::cout << a.dump(2) << "\n";
    return 0;
  }
  std::cout << "cgroup     " << a["cgroup"]["path"].get<std::string>() << " (id " << a["cgroup"]["id"] << ")\n"
            << "rule       " << (a["rule"].get<std::string>().empty() ? "-" : a["rule"].get<std::string>()) << "\n";
  for (const char* k : {"container_id", "runtime", "pod_uid", "qos", "unit"}) {
    const auto v = a["identity"][k].get<std::string>();
    if (!v.empty()) std::printf("%-10s %s\n", k, v.c_str());
  }
  const auto& c = a["container"];
  if (!c["matched"].get<bool>()) {
    std::cout << "container  none: " << c["reason"].get<std::string>() << "\n";
  } else if (c["metadata"]["found"].get<bool>()) {
    std::cout << "metadata   from " << c["metadata"]["source"].get<std::string>() << "\n";
  } else {
    std::cout << "metadata   none: " << c["metadata"]["reason"].get<std::string>() << "\n";
  }
  std::cout << "labels    ";
  for (auto it = a["labels"].begin(); it != a["labels"].end(); ++it) {
    if (!it.value().get<std::string>().empty()) std::cout << " " << it.key() << "=" << it.value().get<std::string>();
  }
  std::cout << "\n";
  return 0;
}

int cmd_top(const Options& o, const std::vector<std::string>& args) {
  std::chrono::milliseconds interval{2000};
  bool once = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string v;
    if (args[i] == "--once") {
      once = true;
      continue;
    }
    if (args[i] == "--interval" && i + 1 < args.size()) {
      v = args[++i];
    } else if (args[i].rfind("--interval=", 0) == 0) {
      v = args[i].substr(11);
    } else {
      usage("unknown option '" + args[i] + "'");
    }
    try {
      interval = syslens::parse_duration(v);
    } catch (const std::exception& e) {
      usage("--interval: " + std::string(e.what()));
    }
    if (interval.count() < 100) usage("--interval must be at least 100ms");
  }
  const bool tty = ::isatty(STDOUT_FILENO) && !o.json_out;
  std::map<std::string, std::pair<double, double>> prev;  // key -> (calls, failures)
  auto snapshot = [&] { return get_json(o, "/api/v1/workloads")["workloads"]; };
  json before = snapshot();
  for (const auto& w : before) prev[w["key"]] = {w["calls"].get<double>(), w["failures"].get<double>()};
  for (;;) {
    std::this_thread::sleep_for(interval);
    json now = snapshot();
    const double secs = static_cast<double>(interval.count()) / 1000;
    json rows = json::array();
    for (const auto& w : now) {
      auto it = prev.find(w["key"]);
      const double c0 = it == prev.end() ? 0 : it->second.first, f0 = it == prev.end() ? 0 : it->second.second;
      rows.push_back({{"workload", name_of(w)},
                      {"key", w["key"]},
                      {"calls_per_second", (w["calls"].get<double>() - c0) / secs},
                      {"failures_per_second", (w["failures"].get<double>() - f0) / secs},
                      {"distinct_syscalls", w["distinct_syscalls"]},
                      {"labels", w["labels"]}});
      prev[w["key"]] = {w["calls"].get<double>(), w["failures"].get<double>()};
    }
    std::sort(rows.begin(), rows.end(),
              [](const json& a, const json& b) { return a["calls_per_second"] > b["calls_per_second"]; });
    if (o.json_out) {
      std::cout << json{{"interval_seconds", secs}, {"workloads", rows}}.dump() << std::endl;
    } else {
      if (tty) std::cout << "\033[H\033[2J";
      std::printf("%-48s %12s %12s %9s\n", "WORKLOAD", "CALLS/S", "FAILED/S", "SYSCALLS");
      for (const auto& r : rows) {
        std::printf("%-48.48s %12.0f %12.0f %9d\n", r["workload"].get<std::string>().c_str(),
                    r["calls_per_second"].get<double>(), r["failures_per_second"].get<double>(),
                    r["distinct_syscalls"].get<int>());
      }
      std::cout << std::flush;
    }
    if (once) return 0;
  }
}

int cmd_trace(const Options& o, const std::vector<std::string>& args) {
  std::string ref;
  std::vector<std::string> query;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (args[i] == flag && i + 1 < args.size()) return args[++i];
      if (args[i].rfind(flag + "=", 0) == 0) return args[i].substr(flag.size() + 1);
      return std::nullopt;
    };
    if (auto v = value("--syscall")) {
      query.push_back("syscall=" + url_encode(*v));
    } else if (auto d = value("--duration")) {
      query.push_back("duration=" + url_encode(*d));
    } else if (auto sl = value("--slower-than")) {
      query.push_back("slower_than=" + url_encode(*sl));
    } else if (args[i] == "--failed") {
      query.push_back("failed=true");
    } else if (!args[i].empty() && args[i][0] == '-') {
      usage("unknown option '" + args[i] + "'");
    } else if (ref.empty()) {
      ref = args[i];
    } else {
      usage("trace takes one REF");
    }
  }
  if (ref.empty()) usage("trace needs a REF");
  std::string target = "/api/v1/workloads/" + url_encode(ref) + "/trace";
  for (std::size_t i = 0; i < query.size(); ++i) target += (i ? "&" : "?") + query[i];
  if (!o.json_out) std::printf("%-26s %8s %8s %-16s %-20s %8s %-14s %10s\n", "TIME", "PID", "TID", "COMM", "SYSCALL", "RET", "ERRNO", "LATENCY");
  std::string partial;
  auto r = get(
      o, target,
      [&](const std::string& chunk) {
        partial += chunk;
        std::size_t nl;
        while ((nl = partial.find('\n')) != std::string::npos) {
          const std::string line = partial.substr(0, nl);
          partial.erase(0, nl + 1);
          if (o.json_out) {
            std::cout << line << std::endl;
            continue;
          }
          json e = json::parse(line, nullptr, false);
          if (!e.is_object()) continue;
          if (e.contains("lost")) {
            std::printf("-- %llu events lost --\n", static_cast<unsigned long long>(e["lost"].get<std::uint64_t>()));
          } else if (e.contains("syscall")) {
            std::printf("%-26s %8u %8u %-16s %-20s %8lld %-14s %10s\n", e["time"].get<std::string>().c_str(),
                        e["pid"].get<unsigned>(), e["tid"].get<unsigned>(), e["comm"].get<std::string>().c_str(),
                        e["syscall"].get<std::string>().c_str(), static_cast<long long>(e["ret"].get<std::int64_t>()),
                        e["errno"].is_string() ? e["errno"].get<std::string>().c_str() : "-",
                        fmt_duration(e["latency_seconds"]).c_str());
          }
          std::fflush(stdout);
        }
      },
      std::chrono::hours(2));
  if (r.status != 200) {
    json j = json::parse(r.body, nullptr, false);
    throw Fail{kExitApi, j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r.body};
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options o;
    if (const char* env = std::getenv("SYSLENS_ADDRESS")) {
      std::string a = env;
      auto c = a.rfind(':');
      if (c == std::string::npos) throw Fail{kExitUsage, "SYSLENS_ADDRESS must be HOST:PORT"};
      o.host = a.substr(0, c);
      o.port = a.substr(c + 1);
    }
    std::vector<std::string> args(argv + 1, argv + argc);
    std::size_t i = 0;
    for (; i < args.size() && !args[i].empty() && args[i][0] == '-'; ++i) {
      const std::string& a = args[i];
      auto value = [&](const std::string& flag) -> std::optional<std::string> {
        if (a == flag) {
          if (i + 1 >= args.size()) usage(flag + " needs a value");
          return args[++i];
        }
        if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
        return std::nullopt;
      };
      if (a == "-h" || a == "--help") {
        std::cout << kHelp;
        return 0;
      } else if (auto v = value("--address")) {
        auto c = v->rfind(':');
        if (c == std::string::npos || c + 1 == v->size()) usage("--address must be HOST:PORT");
        o.host = c == 0 ? "127.0.0.1" : v->substr(0, c);
        o.port = v->substr(c + 1);
      } else if (auto out = value("--output")) {
        if (*out != "table" && *out != "json") usage("--output must be table or json");
        o.json_out = *out == "json";
      } else {
        usage("unknown option '" + a + "'");
      }
    }
    if (i >= args.size()) usage("missing command");
    const std::string cmd = args[i];
    const std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
    if (cmd == "top") return cmd_top(o, rest);
    if (cmd == "profile") return cmd_profile(o, rest);
    if (cmd == "seccomp") return cmd_seccomp(o, rest);
    if (cmd == "trace") return cmd_trace(o, rest);
    if (cmd == "explain") return cmd_explain(o, rest);
    usage("unknown command '" + cmd + "'");
  } catch (const Fail& f) {
    std::cerr << "syslens: " << f.message << std::endl;
    return f.code;
  } catch (const std::exception& e) {
    std::cerr << "syslens: " << e.what() << std::endl;
    return kExitApi;
  }
}
