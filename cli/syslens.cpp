// syslens: the command-line client of syslensd's HTTP API.
//
//   syslens [GLOBAL OPTIONS] COMMAND [ARGS]     (syslens COMMAND --help for each)
//     top [--interval 2s] [--once]      workloads by call rate, refreshing
//     profile REF                       per-syscall profile of a workload
//     seccomp REF [--format docker|oci|spo] [--group-by owner|image|unit] [--no-runtime-syscalls]
//     seccomp check --profile FILE REF  what REF did that the profile would refuse
//     seccomp diff A B                  two workloads, a workload and a profile, two profiles
//     trace REF [--syscall NAME] [--failed] [--denied] [--slower-than 1ms] [--duration 60s]
//     explain CGROUP                    why a cgroup carries its labels
//
// Reaches a daemon started with --web.config.file too: TLS (https:// address,
// --ca-file or --insecure), basic (--username, --password-file) and bearer
// (--bearer-token-file) authentication. Options are parsed by
// Boost.Program_options, the daemon's flag parser.
//
// Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage, 3 the
// daemon is unreachable, 4 seccomp check: the profile would refuse something
// the workload did.
//
// Profile files are read and evaluated here (the daemon's seccomp policy
// library, pure): the API is GET-only, so a local file cannot be sent to it.
#include <openssl/evp.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "syslens/config.h"
#include "syslens/http_util.h"
#include "syslens/seccomp/policy.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
using nlohmann::json;
using syslens::url_encode;

constexpr int kExitApi = 1, kExitUsage = 2, kExitUnreachable = 3, kExitWouldRefuse = 4;

// Profiles are read for this machine's architecture (their arch-specific
// rules), taken to be the daemon's.
#if defined(__x86_64__)
constexpr bool kX86_64 = true;
#else
constexpr bool kX86_64 = false;
#endif

struct Fail {
  int code;
  std::string message;
};

struct Options {
  // The API socket, unless an address is given (then TCP).
  std::string socket = "/run/syslens/api.sock";
  std::string host = "127.0.0.1";
  std::string port = "9823";
  bool json_out = false;
  bool tls = false;
  bool insecure = false;      // TLS without verifying the server's certificate
  std::string ca_file;        // empty: the system's trust store
  std::string authorization;  // the Authorization header's value, or ""
};

[[noreturn]] void usage(const std::string& why) { throw Fail{kExitUsage, why + " (see syslens --help)"}; }

const char* kHelp =
    "usage: syslens [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
    "Commands (syslens COMMAND --help for each):\n"
    "  top [--interval 2s] [--once]          workloads by syscall rate, refreshing like top\n"
    "  profile REF                           per-syscall calls, failures, latency of a workload\n"
    "  seccomp REF [--format docker|oci|spo] [--group-by owner|image|unit] [--no-runtime-syscalls]\n"
    "  seccomp check --profile FILE REF     what REF did that the profile would refuse (exit 4 if any)\n"
    "  seccomp diff A B                     workloads and/or profile files compared\n"
    "                                        a seccomp profile allowing what the workload used\n"
    "  trace REF [--syscall NAME] [--failed] [--denied] [--slower-than 1ms] [--duration 60s]\n"
    "                                        live syscalls of a workload\n"
    "  explain CGROUP                        why a cgroup (id or path) carries its labels\n\n"
    "REF: a container id or unique prefix, namespace/pod/container, a container name,\n"
    "a systemd unit or a cgroup path. Exit codes: 1 the daemon answered with an\n"
    "error, 2 usage, 3 the daemon is unreachable.\n\n";

// An address: HOST:PORT, :PORT, [V6]:PORT, or the same after http:// or
// https:// (TLS).
void set_address(Options& o, std::string a, const std::string& what) {
  if (a.rfind("https://", 0) == 0) {
    o.tls = true;
    a = a.substr(8);
  } else if (a.rfind("http://", 0) == 0) {
    a = a.substr(7);
  }
  if (!a.empty() && a.back() == '/') a.pop_back();
  const auto c = a.rfind(':');
  if (c == std::string::npos || c + 1 == a.size() || a.find_first_not_of("0123456789", c + 1) != std::string::npos) {
    usage(what + " must be [http[s]://]HOST:PORT, not '" + a + "'");
  }
  std::string host = a.substr(0, c);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  o.host = host.empty() ? "127.0.0.1" : host;
  o.port = a.substr(c + 1);
  o.socket.clear();
}

// A secret from a file (its first line), never from the command line, where
// every user's `ps` would see it.
std::string read_secret(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw Fail{kExitUsage, what + ": cannot read " + path};
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw Fail{kExitUsage, what + ": " + path + " is empty"};
  return line;
}

std::string base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// One request; with on_chunk, the body is handed over as it arrives.
struct Reply {
  unsigned status = 0;
  std::string body;
};

std::string where(const Options& o) {
  return o.socket.empty() ? (o.tls ? "https://" : "http://") + o.host + ":" + o.port : "unix:" + o.socket;
}

template <class Stream>
Reply exchange(const Options& o, Stream& stream, const std::string& target,
               const std::function<void(const std::string&)>& on_chunk, std::chrono::seconds timeout) {
  beast::error_code ec;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, o.socket.empty() ? o.host : "localhost");
  req.set(http::field::user_agent, "syslens-cli");
  if (!o.authorization.empty()) req.set(http::field::authorization, o.authorization);
  beast::get_lowest_layer(stream).expires_after(timeout);
  http::write(stream, req, ec);
  if (ec) throw Fail{kExitUnreachable, "sending to syslensd at " + where(o) + ": " + ec.message()};
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(256 << 20);
  http::read_header(stream, buf, parser, ec);
  if (ec) throw Fail{kExitUnreachable, "reading from syslensd at " + where(o) + ": " + ec.message()};
  Reply r;
  r.status = parser.get().result_int();
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    // read_some: a live trace's lines are handed over as they arrive, not
    // once 16 KiB have piled up.
    http::read_some(stream, buf, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw Fail{kExitUnreachable, "reading from syslensd at " + where(o) + ": " + ec.message()};
    std::string got(chunk, sizeof(chunk) - parser.get().body().size);
    if (on_chunk && r.status == 200) {
      on_chunk(got);
    } else {
      r.body += got;
    }
  }
  if (r.status == 401) {
    throw Fail{kExitApi, o.authorization.empty() ? "syslensd at " + where(o) +
                                                       " requires authentication: --username with "
                                                       "--password-file, or --bearer-token-file"
                                                 : "syslensd at " + where(o) + " refused the credentials"};
  }
  return r;
}

Reply get(const Options& o, const std::string& target, const std::function<void(const std::string&)>& on_chunk = {},
          std::chrono::seconds timeout = std::chrono::seconds(30)) {
  asio::io_context io;
  beast::error_code ec;
  if (!o.socket.empty()) {
    beast::basic_stream<asio::local::stream_protocol> unix_stream(io);
    unix_stream.expires_after(std::chrono::seconds(5));
    unix_stream.connect(asio::local::stream_protocol::endpoint(o.socket), ec);
    if (ec == asio::error::access_denied) {
      throw Fail{kExitUnreachable, "permission denied on " + o.socket +
                                       ": syslensd's API socket serves root and the group it names "
                                       "(--web.api-socket-group, syslens by default); see docs/security.md"};
    }
    if (ec) {
      throw Fail{kExitUnreachable, "cannot reach syslensd at " + o.socket + ": " + ec.message() +
                                       " (is it running? --socket PATH, or --address HOST:PORT for its TCP port)"};
    }
    return exchange(o, unix_stream, target, on_chunk, timeout);
  }
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(o.host, o.port, ec);
  if (ec) throw Fail{kExitUnreachable, "cannot resolve " + o.host + ": " + ec.message()};
  beast::tcp_stream tcp(io);
  tcp.expires_after(std::chrono::seconds(5));
  tcp.connect(results, ec);
  if (ec) {
    throw Fail{kExitUnreachable, "cannot reach syslensd at " + where(o) + ": " + ec.message() +
                                     " (is it running? see --address or SYSLENS_ADDRESS)"};
  }
  if (!o.tls) return exchange(o, tcp, target, on_chunk, timeout);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (o.insecure) {
    ctx.set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx.set_verify_mode(asio::ssl::verify_peer);
    if (o.ca_file.empty()) {
      ctx.set_default_verify_paths(ec);
    } else {
      ctx.load_verify_file(o.ca_file, ec);
    }
    if (ec) throw Fail{kExitUsage, "--ca-file " + o.ca_file + ": " + ec.message()};
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), ctx);
  if (!o.insecure) stream.set_verify_callback(asio::ssl::host_name_verification(o.host));
  if (!SSL_set_tlsext_host_name(stream.native_handle(), o.host.c_str())) {
    throw Fail{kExitUnreachable, "TLS: cannot set the server name " + o.host};
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) {
    throw Fail{kExitUnreachable, "TLS handshake with syslensd at " + where(o) + ": " + ec.message() +
                                     (o.insecure ? "" : " (--ca-file names the CA that signed its certificate)")};
  }
  return exchange(o, stream, target, on_chunk, timeout);
}

// The body of a 200 answer; any other status is the API's error, one line
// (with the candidates of an ambiguous reference).
std::string get_ok(const Options& o, const std::string& target) {
  auto r = get(o, target);
  if (r.status != 200) {
    json j = json::parse(r.body, nullptr, false);
    std::string msg = j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r.body;
    if (j.is_object() && j.contains("candidates")) {
      for (const auto& c : j["candidates"]) msg += "\n  candidate: " + c.get<std::string>();
    }
    throw Fail{kExitApi, msg};
  }
  return r.body;
}

json get_json(const Options& o, const std::string& target) {
  json j = json::parse(get_ok(o, target), nullptr, false);
  if (j.is_discarded()) throw Fail{kExitApi, "syslensd sent invalid JSON"};
  return j;
}

// Parses one command's arguments: its options and its positional arguments
// (each required). False after printing the command's help for --help.
bool parse_command(const std::vector<std::string>& args, const std::string& synopsis, const std::string& description,
                   po::options_description visible, const std::vector<std::string>& positionals,
                   po::variables_map& vm) {
  visible.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(visible);
  po::options_description hidden;
  po::positional_options_description pos;
  for (const auto& p : positionals) {
    hidden.add_options()(p.c_str(), po::value<std::string>());
    pos.add(p.c_str(), 1);
  }
  all.add(hidden);
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::too_many_positional_options_error&) {
    usage(synopsis.substr(0, synopsis.find(' ')) + " takes " + std::to_string(positionals.size()) +
          " argument(s): syslens " + synopsis);
  } catch (const po::error& e) {
    usage(e.what());
  }
  if (vm.count("help")) {
    std::cout << "usage: syslens [GLOBAL OPTIONS] " << synopsis << "\n\n" << description << "\n\n" << visible;
    return false;
  }
  for (const auto& p : positionals) {
    if (!vm.count(p)) {
      std::string why = synopsis.substr(0, synopsis.find(' '));
      why += " needs a " + p;
      why += ": syslens " + synopsis;
      usage(why);
    }
  }
  return true;
}

std::chrono::milliseconds duration_option(const po::variables_map& vm, const char* name) {
  try {
    return syslens::parse_duration(vm[name].as<std::string>());
  } catch (const std::exception& e) {
    usage("--" + std::string(name) + ": " + e.what());
  }
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
  po::variables_map vm;
  if (!parse_command(args, "profile REF", "Per-syscall calls, failures and latency of a workload.", {"Options"},
                     {"REF"}, vm)) {
    return 0;
  }
  json p = get_json(o, "/api/v1/workloads/" + url_encode(vm["REF"].as<std::string>()) + "/profile");
  if (o.json_out) {
    std::cout << p.dump(2) << "\n";
    return 0;
  }
  const auto& w = p["workload"];
  std::cout << "workload " << name_of(w) << "  (" << w["key"].get<std::string>() << ")\n"
            << "calls " << w["calls"] << "  failures " << w["failures"] << "  distinct syscalls "
            << w["distinct_syscalls"] << "  first seen " << w["first_seen"].get<std::string>() << "  last seen "
            << w["last_seen"].get<std::string>() << "\n\n";
  std::printf("%-22s %12s %10s %-20s %9s %9s %9s  %s\n", "SYSCALL", "CALLS", "FAILED", "TOP ERRNO", "P50", "P99", "MAX",
              "LAST SEEN");
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
    std::printf(
        "%-22s %12llu %10llu %-20s %9s %9s %9s  %s\n", s["syscall"].get<std::string>().c_str(),
        static_cast<unsigned long long>(s["calls"].get<std::uint64_t>()), static_cast<unsigned long long>(failed),
        top.empty() ? "-" : top.c_str(), fmt_duration(lat.is_object() ? lat["p50"] : json()).c_str(),
        fmt_duration(lat.is_object() ? lat["p99"] : json()).c_str(),
        fmt_duration(lat.is_object() ? lat["max_bucket"] : json()).c_str(), s["last_seen"].get<std::string>().c_str());
  }
  if (p.contains("seccomp_drift") && !p["seccomp_drift"]["denied"].empty()) {
    std::cout << "\nwould be denied by " << p["seccomp_drift"]["reference"].get<std::string>() << ":";
    for (const auto& d : p["seccomp_drift"]["denied"]) std::cout << " " << d.get<std::string>();
    std::cout << "\n";
  }
  return 0;
}

// A profile file (Docker/OCI JSON, or the security-profiles-operator's YAML).
syslens::SeccompPolicy read_policy(const std::string& path) {
  std::string text;
  try {
    text = syslens::read_small_file(path, "seccomp profile");
  } catch (const std::exception& e) {
    throw Fail{kExitUsage, e.what()};
  }
  try {
    return syslens::parse_seccomp_policy(text, path, kX86_64);
  } catch (const std::exception& e) {
    throw Fail{kExitUsage, path + ": " + e.what()};
  }
}

// What a workload used (not only refused by a filter), from its profile.
std::vector<syslens::UsedSyscall> used_syscalls(const json& profile) {
  std::vector<syslens::UsedSyscall> out;
  for (const auto& s : profile["syscalls"]) {
    std::uint64_t refused = 0;
    const json denied = s.value("seccomp_denied", json::object());
    for (auto it = denied.begin(); it != denied.end(); ++it) refused += it.value().get<std::uint64_t>();
    const auto calls = s["calls"].get<std::uint64_t>();
    if (calls > refused) out.push_back({s["syscall"].get<std::string>(), calls, s["last_seen"].get<std::string>()});
  }
  return out;
}

json workload_profile(const Options& o, const std::string& ref) {
  return get_json(o, "/api/v1/workloads/" + url_encode(ref) + "/profile");
}

void print_check_rows(const json& rows) {
  for (const auto& e : rows) {
    std::printf("%-22s %12llu  %-26s %-16s %s\n", e["syscall"].get<std::string>().c_str(),
                static_cast<unsigned long long>(e["calls"].get<std::uint64_t>()),
                e["last_seen"].get<std::string>().c_str(), e["action"].get<std::string>().c_str(),
                e.value("errno", std::string("-")).c_str());
  }
}

int cmd_seccomp_check(const Options& o, const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()("profile", po::value<std::string>(), "the profile file (Docker/OCI JSON, or SPO YAML)");
  po::variables_map vm;
  if (!parse_command(args, "seccomp check --profile FILE REF",
                     "What a workload did that a seccomp profile would refuse, before it is enforced. Exits 4 if "
                     "anything would be.",
                     opts, {"REF"}, vm)) {
    return 0;
  }
  if (!vm.count("profile")) usage("seccomp check needs --profile FILE");
  const auto policy = read_policy(vm["profile"].as<std::string>());
  const json p = workload_profile(o, vm["REF"].as<std::string>());
  json r = syslens::check_profile(policy, used_syscalls(p));
  r["workload"] = p["workload"]["key"];
  const bool refuses = !r["would_refuse"].empty();
  if (o.json_out) {
    std::cout << r.dump(2) << "\n";
    return refuses ? kExitWouldRefuse : 0;
  }
  std::printf("%s against %s: %zu syscalls would be refused, %zu depend on their arguments, %llu allowed\n",
              r["workload"].get<std::string>().c_str(), policy.name.c_str(), r["would_refuse"].size(),
              r["depends_on_arguments"].size(), static_cast<unsigned long long>(r["allowed"].get<std::uint64_t>()));
  if (refuses || !r["depends_on_arguments"].empty()) {
    std::printf("\n%-22s %12s  %-26s %-16s %s\n", "SYSCALL", "CALLS", "LAST SEEN", "ACTION", "ERRNO");
    print_check_rows(r["would_refuse"]);
    if (!r["depends_on_arguments"].empty()) {
      std::printf("depends on the arguments:\n");
      print_check_rows(r["depends_on_arguments"]);
    }
  }
  return refuses ? kExitWouldRefuse : 0;
}

// diff A B: each a profile file (if a file by that name exists) or a workload.
int cmd_seccomp_diff(const Options& o, const std::vector<std::string>& args) {
  po::variables_map vm;
  if (!parse_command(args, "seccomp diff A B",
                     "Compares two workloads (syscalls only one used), a workload and a profile file (what the "
                     "profile would refuse, what it allows that the workload never used), or two profiles (what one "
                     "allows and the other does not).",
                     {"Options"}, {"A", "B"}, vm)) {
    return 0;
  }
  struct Side {
    std::string name;
    std::optional<syslens::SeccompPolicy> policy;
    std::vector<syslens::UsedSyscall> used;
  };
  auto side = [&](const std::string& arg) {
    Side s;
    std::error_code ec;
    if (std::filesystem::is_regular_file(arg, ec)) {
      s.policy = read_policy(arg);
      s.name = arg;
    } else {
      const json p = workload_profile(o, arg);
      s.name = p["workload"]["key"].get<std::string>();
      s.used = used_syscalls(p);
    }
    return s;
  };
  const Side a = side(vm["A"].as<std::string>()), b = side(vm["B"].as<std::string>());
  auto names_of = [](const Side& s) {
    std::set<std::string> n;
    if (s.policy) {
      for (const auto& [name, d] : s.policy->rules()) {
        if (d.allows() && !d.conditional) n.insert(name);
      }
    } else {
      for (const auto& u : s.used) n.insert(u.name);
    }
    return n;
  };
  const auto na = names_of(a), nb = names_of(b);
  auto only = [](const std::set<std::string>& x, const std::set<std::string>& y, auto keep) {
    std::vector<std::string> out;
    for (const auto& n : x) {
      if (!y.count(n) && keep(n)) out.push_back(n);
    }
    return out;
  };
  json r = {{"a", a.name}, {"b", b.name}};
  if (!a.policy && !b.policy) {  // two workloads
    const auto any = [](const std::string&) { return true; };
    r["only_a"] = only(na, nb, any);
    r["only_b"] = only(nb, na, any);
  } else if (a.policy && b.policy) {  // two profiles: by what each allows, the default included
    std::set<std::string> all = na;
    all.insert(nb.begin(), nb.end());
    for (const auto& [n, d] : a.policy->rules()) all.insert(n);
    for (const auto& [n, d] : b.policy->rules()) all.insert(n);
    std::vector<std::string> ao, bo;
    for (const auto& n : all) {
      const bool x = a.policy->decide(n).allows(), y = b.policy->decide(n).allows();
      if (x && !y) ao.push_back(n);
      if (y && !x) bo.push_back(n);
    }
    r["allowed_only_by_a"] = ao;
    r["allowed_only_by_b"] = bo;
  } else {  // a workload and a profile
    const Side& w = a.policy ? b : a;
    const Side& p = a.policy ? a : b;
    const auto check = syslens::check_profile(*p.policy, w.used);
    r["would_refuse"] = check["would_refuse"];
    r["depends_on_arguments"] = check["depends_on_arguments"];
    const auto used = names_of(w);
    r["allowed_unused"] = only(names_of(p), used, [](const std::string&) { return true; });
    r["default_allows"] = p.policy->default_decision().allows();
  }
  if (o.json_out) {
    std::cout << r.dump(2) << "\n";
    return 0;
  }
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (!it.value().is_array()) continue;
    std::cout << it.key() << " (" << it.value().size() << "):";
    for (const auto& v : it.value())
      std::cout << " " << (v.is_string() ? v.get<std::string>() : v["syscall"].get<std::string>());
    std::cout << "\n";
  }
  return 0;
}

int cmd_seccomp(const Options& o, const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "check") return cmd_seccomp_check(o, {args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "diff") return cmd_seccomp_diff(o, {args.begin() + 1, args.end()});
  po::options_description opts("Options");
  opts.add_options()("format", po::value<std::string>()->default_value("docker"),
                     "docker, oci, or spo (the security-profiles-operator's SeccompProfile, YAML)")(
      "group-by", po::value<std::string>(),
      "REF names a workload group: owner (<namespace>/<kind>/<name>: every pod of a Deployment, StatefulSet, "
      "DaemonSet, Job or CronJob), image, or unit; its live workloads and its past ones")(
      "name", po::value<std::string>(), "spo: metadata.name (default: from the workload)")(
      "namespace", po::value<std::string>(), "spo: metadata.namespace (default: the pod's)")(
      "no-runtime-syscalls", "leave out what container runtimes need to start a container");
  po::variables_map vm;
  if (!parse_command(args, "seccomp REF [OPTIONS]", "A seccomp profile allowing what the workload used.", opts, {"REF"},
                     vm)) {
    return 0;
  }
  const std::string ref = vm["REF"].as<std::string>(), format = vm["format"].as<std::string>();
  const bool runtime = !vm.count("no-runtime-syscalls");
  if (format != "docker" && format != "oci" && format != "spo") usage("--format must be docker, oci or spo");
  std::string target = "/api/v1/workloads/" + url_encode(ref) + "/seccomp?format=" + format +
                       "&runtime_syscalls=" + (runtime ? "true" : "false");
  if (vm.count("group-by")) {
    const auto by = vm["group-by"].as<std::string>();
    if (by != "owner" && by != "image" && by != "unit") usage("--group-by must be owner, image or unit");
    target = "/api/v1/profiles?group_by=" + by + "&group=" + url_encode(ref) + "&format=" + format +
             "&runtime_syscalls=" + (runtime ? "true" : "false");
  }
  if (vm.count("name")) target += "&name=" + url_encode(vm["name"].as<std::string>());
  if (vm.count("namespace")) target += "&namespace=" + url_encode(vm["namespace"].as<std::string>());
  // A profile is as its format says whatever --output says: it is meant for
  // a runtime (JSON) or for kubectl apply (YAML).
  if (format == "spo") {
    std::cout << get_ok(o, target);
  } else {
    std::cout << get_json(o, target).dump(2) << "\n";
  }
  return 0;
}

int cmd_explain(const Options& o, const std::vector<std::string>& args) {
  po::variables_map vm;
  if (!parse_command(args, "explain CGROUP", "Why a cgroup (id or path) carries its labels.", {"Options"}, {"CGROUP"},
                     vm)) {
    return 0;
  }
  json a = get_json(o, "/api/v1/attribution?cgroup=" + url_encode(vm["CGROUP"].as<std::string>()));
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
  po::options_description opts("Options");
  opts.add_options()("interval", po::value<std::string>()->default_value("2s"), "refresh every (at least 100ms)")(
      "once", "print one refresh and exit");
  po::variables_map vm;
  if (!parse_command(args, "top [OPTIONS]", "Workloads by syscall rate, refreshing like top.", opts, {}, vm)) {
    return 0;
  }
  const auto interval = duration_option(vm, "interval");
  if (interval.count() < 100) usage("--interval must be at least 100ms");
  const bool once = vm.count("once") > 0;
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
  po::options_description opts("Options");
  opts.add_options()("syscall", po::value<std::string>(), "only this syscall")("failed", "only calls that failed")(
      "denied", "only calls a seccomp filter refused")("slower-than", po::value<std::string>(),
                                                       "only calls slower than this (e.g. 1ms)")(
      "duration", po::value<std::string>(), "stop after this long (default 60s, at most 1h)");
  po::variables_map vm;
  if (!parse_command(args, "trace REF [OPTIONS]", "Live syscalls of a workload.", opts, {"REF"}, vm)) return 0;
  const std::string ref = vm["REF"].as<std::string>();
  std::vector<std::string> query;
  if (vm.count("syscall")) query.push_back("syscall=" + url_encode(vm["syscall"].as<std::string>()));
  if (vm.count("duration")) query.push_back("duration=" + url_encode(vm["duration"].as<std::string>()));
  if (vm.count("slower-than")) query.push_back("slower_than=" + url_encode(vm["slower-than"].as<std::string>()));
  if (vm.count("failed")) query.push_back("failed=true");
  if (vm.count("denied")) query.push_back("denied=true");
  std::string target = "/api/v1/workloads/" + url_encode(ref) + "/trace";
  for (std::size_t i = 0; i < query.size(); ++i) target += (i ? "&" : "?") + query[i];
  if (!o.json_out)
    std::printf("%-26s %8s %8s %-16s %-20s %8s %-14s %10s\n", "TIME", "PID", "TID", "COMM", "SYSCALL", "RET", "ERRNO",
                "LATENCY");
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
                        e.value("seccomp_denied", false) ? "seccomp" : fmt_duration(e["latency_seconds"]).c_str());
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
    po::options_description global("Global options");
    global.add_options()("help,h", "show this help")(
        "socket", po::value<std::string>(),
        "syslensd's API socket (default $SYSLENS_SOCKET, else /run/syslens/api.sock)")(
        "address", po::value<std::string>(),
        "syslensd's TCP address instead of the socket: [http[s]://]HOST:PORT (or $SYSLENS_ADDRESS); https:// "
        "speaks TLS")("output", po::value<std::string>()->default_value("table"), "table or json")(
        "ca-file", po::value<std::string>(), "TLS: verify the daemon's certificate against this CA (PEM)")(
        "insecure", "TLS without verifying the daemon's certificate")("username", po::value<std::string>(),
                                                                      "basic authentication: this user")(
        "password-file", po::value<std::string>(),
        "basic authentication: the password, first line of this file (or $SYSLENS_PASSWORD)")(
        "bearer-token-file", po::value<std::string>(),
        "bearer authentication: the token, first line of this file (or $SYSLENS_BEARER_TOKEN)");
    // Global options come before the command; everything after it is the
    // command's own.
    const std::vector<std::string> args(argv + 1, argv + argc);
    std::size_t cmd_at = 0;
    for (; cmd_at < args.size(); ++cmd_at) {
      const std::string& a = args[cmd_at];
      if (a.empty() || a[0] != '-') break;
      if (a.size() > 2 && a[1] == '-' && a.find('=') == std::string::npos) {
        const auto* d = global.find_nothrow(a.substr(2), false);
        if (d && d->semantic()->max_tokens() > 0) ++cmd_at;  // its value
      }
    }
    po::variables_map vm;
    try {
      const std::vector<std::string> head(args.begin(),
                                          args.begin() + static_cast<long>(std::min(cmd_at, args.size())));
      po::store(po::command_line_parser(head).options(global).run(), vm);
      po::notify(vm);
    } catch (const po::error& e) {
      usage(e.what());
    }
    if (vm.count("help")) {
      std::cout << kHelp << global;
      return 0;
    }
    if (vm.count("socket") && vm.count("address")) usage("--socket and --address exclude each other");
    if (vm.count("address")) {
      set_address(o, vm["address"].as<std::string>(), "--address");
    } else if (vm.count("socket")) {
      o.socket = vm["socket"].as<std::string>();
      if (o.socket.empty()) usage("--socket needs a path");
    } else if (const char* sock = std::getenv("SYSLENS_SOCKET"); sock && *sock) {
      o.socket = sock;
    } else if (const char* env = std::getenv("SYSLENS_ADDRESS")) {
      set_address(o, env, "SYSLENS_ADDRESS");
    }
    const auto out = vm["output"].as<std::string>();
    if (out != "table" && out != "json") usage("--output must be table or json");
    o.json_out = out == "json";
    if (vm.count("ca-file")) {
      o.ca_file = vm["ca-file"].as<std::string>();
      o.tls = true;
    }
    if (vm.count("insecure")) o.insecure = o.tls = true;
    if (o.tls && !o.socket.empty()) usage("TLS (--ca-file, --insecure) needs --address https://HOST:PORT");
    if (vm.count("ca-file") && vm.count("insecure")) usage("--ca-file and --insecure exclude each other");
    const char* env_password = std::getenv("SYSLENS_PASSWORD");
    const char* env_token = std::getenv("SYSLENS_BEARER_TOKEN");
    if (vm.count("username")) {
      std::string password;
      if (vm.count("password-file")) {
        password = read_secret(vm["password-file"].as<std::string>(), "--password-file");
      } else if (env_password && *env_password) {
        password = env_password;
      } else {
        usage("--username needs --password-file (or $SYSLENS_PASSWORD)");
      }
      o.authorization = "Basic " + base64(vm["username"].as<std::string>() + ":" + password);
    } else if (vm.count("password-file")) {
      usage("--password-file needs --username");
    }
    if (vm.count("bearer-token-file") || (env_token && *env_token && o.authorization.empty())) {
      if (!o.authorization.empty()) usage("--username and --bearer-token-file exclude each other");
      o.authorization = "Bearer " + (vm.count("bearer-token-file")
                                         ? read_secret(vm["bearer-token-file"].as<std::string>(), "--bearer-token-file")
                                         : std::string(env_token));
    }
    if (cmd_at >= args.size()) usage("missing command");
    const std::string& cmd = args[cmd_at];
    const std::vector<std::string> rest(args.begin() + static_cast<long>(cmd_at) + 1, args.end());
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
