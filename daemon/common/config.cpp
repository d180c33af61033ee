#include "syslens/config.h"

#include <yaml-cpp/yaml.h>

#include <bit>
#include <boost/program_options.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "syslens/errors.h"
#include "syslens/version.h"

namespace syslens {
namespace po = boost::program_options;

namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;

[[noreturn]] void usage_error(const std::string& msg) { throw FatalError(kExitUsage, msg); }

std::string help_text(const po::options_description& desc) {
  std::ostringstream os;
  os << "usage: syslensd [flags]\n\n"
     << "syslens: system-wide syscall metrics per cgroup, from eBPF on the raw_syscalls "
        "tracepoints.\n\n"
     << desc << "\nSettings not covered by flags go in the YAML file given with --config.file;\n"
     << "see docs/configuration.md. Exit codes: 2 usage, 3 config, 4 privilege, 5 kernel, 6 listen.\n";
  return os.str();
}

const std::set<std::string_view> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};

}  // namespace

std::string_view to_string(Mode m) { return m == Mode::full ? "full" : "count"; }

std::string_view to_string(AttachKind a) {
  switch (a) {
    case AttachKind::automatic:
      return "auto";
    case AttachKind::tp_btf:
      return "tp_btf";
    case AttachKind::raw_tp:
      return "raw_tp";
  }
  return "?";
}

std::string_view to_string(ThreadStore t) {
  switch (t) {
    case ThreadStore::automatic:
      return "auto";
    case ThreadStore::task_storage:
      return "task_storage";
    case ThreadStore::tid_hash:
      return "tid_hash";
  }
  return "?";
}

std::string_view to_string(CurrentTask c) {
  switch (c) {
    case CurrentTask::automatic:
      return "auto";
    case CurrentTask::from_switch:
      return "switch";
    case CurrentTask::from_stack:
      return "stack";
    case CurrentTask::helper:
      return "helper";
  }
  return "?";
}

ListenAddress parse_listen_address(std::string_view s) {
  const std::string orig(s);
  ListenAddress a;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      usage_error("invalid --web.listen-address '" + orig + "': want [IPv6]:port");
    }
    a.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      usage_error("invalid --web.listen-address '" + orig + "': want host:port or :port");
    }
    a.host = std::string(s.substr(0, colon));
    if (a.host.find(':') != std::string::npos) {
      usage_error("invalid --web.listen-address '" + orig + "': put IPv6 addresses in brackets");
    }
    port = s.substr(colon + 1);
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
    usage_error("invalid --web.listen-address '" + orig + "': port must be 0-65535");
  }
  a.port = static_cast<std::uint16_t>(value);
  return a;
}

std::chrono::milliseconds parse_duration(std::string_view s) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr == s.data()) throw std::invalid_argument("not a duration");
  std::string_view unit(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr));
  static const std::map<std::string_view, std::uint64_t> kUnits = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) throw std::invalid_argument("unit must be ms, s, m or h");
  if (v > (std::uint64_t{1} << 40) / it->second) throw std::invalid_argument("too large");
  return std::chrono::milliseconds(v * it->second);
}

FlagsResult parse_flags(int argc, const char* const* argv) {
  FlagsResult r;
  Config& c = r.config;
  po::options_description desc("Flags");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help and exit")
    ("version", "show version information and exit")
    ("web.listen-address", po::value(&c.listen_address)->default_value(c.listen_address),
       "address to serve metrics and the API on ([host]:port)")
    ("web.telemetry-path", po::value(&c.telemetry_path)->default_value(c.telemetry_path),
       "path under which to expose metrics")
    ("log.level", po::value(&c.log_level)->default_value(c.log_level),
       "only log messages with this severity or above: trace, debug, info, warn, error")
    ("config.file", po::value(&c.config_file), "YAML file with further settings")
    ("web.config.file", po::value(&c.web_config_file),
       "Prometheus exporter web configuration file: TLS and basic or bearer authentication")
    ("web.max-connections", po::value(&c.max_connections)->default_value(c.max_connections),
       "open HTTP connections at most; at the limit the one waiting longest for its request makes room")
    ("web.api-socket", po::value(&c.api_socket)->default_value(c.api_socket),
       "unix socket serving the API (and metrics) to root and --web.api-socket-group, mode 0660; \"\": none")
    ("web.api-socket-group", po::value(&c.api_socket_group)->default_value(c.api_socket_group),
       "group (name or number) whose members may use the API socket")
    ("web.api-remote", po::bool_switch(&c.api_remote),
       "serve the API to network clients of --web.listen-address, not only to loopback ones; needs "
       "authentication in --web.config.file")
    ("web.api-remote-without-auth-i-accept-the-risk", po::bool_switch(&c.api_remote_without_auth),
       "with --web.api-remote: allow it without authentication (anyone who reaches the port reads live "
       "syscalls of every workload)")
    ("bpf.pin-path", po::value<std::string>(),
       "directory on a bpffs for the pinned maps, over the config file's bpf.pin_path; \"\": no pinning");
  // clang-format on
  po::variables_map vm;
  const po::positional_options_description no_positionals;  // a stray argument is an error
  try {
    po::store(po::command_line_parser(argc, const_cast<char**>(argv))
                  .options(desc)
                  .positional(no_positionals)
                  .style(po::command_line_style::unix_style & ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error_with_option_name& e) {
    // Not e.what(): it substitutes placeholders like %canonical_option% in
    // the message and loops forever when the user's flag contains one
    // (found by fuzz_config). The option name and the error's kind suffice.
    const char* kind = dynamic_cast<const po::unknown_option*>(&e)                ? "unknown flag"
                       : dynamic_cast<const po::invalid_option_value*>(&e)        ? "invalid value for flag"
                       : dynamic_cast<const po::multiple_occurrences*>(&e)        ? "flag given more than once"
                       : dynamic_cast<const po::invalid_command_line_syntax*>(&e) ? "malformed flag"
                       : dynamic_cast<const po::ambiguous_option*>(&e)            ? "ambiguous flag"
                                                                                  : "invalid flag";
    usage_error(std::string(kind) + " '" + e.get_option_name() + "' (see --help)");
  } catch (const po::error& e) {
    usage_error(std::string(e.what()) + " (see --help)");
  }
  if (vm.count("help")) {
    r.print_and_exit = help_text(desc);
    return r;
  }
  if (vm.count("version")) {
    r.print_and_exit = std::string("syslensd version ") + kVersion + " (commit " + kGitCommit + ")\n";
    return r;
  }
  if (vm.count("bpf.pin-path")) {
    r.pin_path = vm["bpf.pin-path"].as<std::string>();
    if (!r.pin_path->empty() && r.pin_path->front() != '/') {
      usage_error("invalid --bpf.pin-path '" + *r.pin_path + "': must be an absolute path or empty");
    }
  }
  parse_listen_address(c.listen_address);
  if (!c.api_socket.empty() && (c.api_socket.front() != '/' || c.api_socket.size() > 107)) {
    usage_error("invalid --web.api-socket '" + c.api_socket + "': must be an absolute path of at most 107 bytes");
  }
  if (c.api_remote_without_auth && !c.api_remote) {
    usage_error("--web.api-remote-without-auth-i-accept-the-risk only goes with --web.api-remote");
  }
  if (c.max_connections < 1 || c.max_connections > 65536) {
    usage_error("invalid --web.max-connections " + std::to_string(c.max_connections) + ": want 1-65536");
  }
  if (c.telemetry_path.empty() || c.telemetry_path.front() != '/' ||
      c.telemetry_path.find_first_of("?# ") != std::string::npos) {
    usage_error("invalid --web.telemetry-path '" + c.telemetry_path + "': must start with '/'");
  }
  if (!kLogLevels.count(c.log_level)) {
    usage_error("invalid --log.level '" + c.log_level + "': want trace, debug, info, warn, error or off");
  }
  return r;
}

namespace {

// A strict reader over one YAML mapping: every key must be consumed, so a
// typo is an error, not a silently ignored setting.
class Section {
 public:
  Section(const YAML::Node& node, std::string path, std::string_view origin)
      : node_(node), path_(std::move(path)), origin_(origin) {
    if (present(node_) && !node_.IsMap()) fail(path_.empty() ? "top level" : path_, "must be a mapping");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw FatalError(kExitConfig, std::string(origin_) + ": " + key + ": " + what);
  }

  std::string key(std::string_view k) const { return path_.empty() ? std::string(k) : path_ + "." + std::string(k); }

  // A key that is absent or has no value (`key:`) counts as not set.
  static bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

  YAML::Node take(std::string_view k) {
    seen_.insert(std::string(k));
    if (!present(node_)) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& map = node_;  // const access: never inserts the key
    return map[std::string(k)];
  }

  Section sub(std::string_view k) { return Section(take(k), key(k), origin_); }

  std::string scalar(std::string_view k, const YAML::Node& n) const {
    if (!n.IsScalar()) fail(key(k), "must be a scalar");
    return n.Scalar();
  }

  void str(std::string_view k, std::string& out) {
    if (auto n = take(k); present(n)) out = scalar(k, n);
  }

  template <typename E>
  void choice(std::string_view k, E& out, const std::map<std::string, E>& opts) {
    auto n = take(k);
    if (!present(n)) return;
    auto v = scalar(k, n);
    auto it = opts.find(v);
    if (it == opts.end()) {
      std::string all;
      for (const auto& [name, _] : opts) all += (all.empty() ? "" : ", ") + name;
      fail(key(k), "'" + v + "' is not one of " + all);
    }
    out = it->second;
  }

  // A mapping of scalars, e.g. user -> password hash.
  void string_map(std::string_view k, std::map<std::string, std::string>& out) {
    auto n = take(k);
    if (!present(n)) return;
    if (!n.IsMap()) fail(key(k), "must be a mapping");
    for (const auto& kv : n) {
      const auto name = kv.first.as<std::string>();
      if (!kv.second.IsScalar()) fail(key(k) + "." + name, "must be a scalar");
      out[name] = kv.second.as<std::string>();
    }
  }

  void strings(std::string_view k, std::vector<std::string>& out) {
    auto n = take(k);
    if (!present(n)) return;
    if (!n.IsSequence()) fail(key(k), "must be a list");
    out.clear();
    for (const auto& item : n) out.push_back(scalar(k, item));
  }

  void u32(std::string_view k, std::uint32_t& out, std::uint32_t lo, std::uint32_t hi) {
    std::uint64_t v = out;
    u64(k, v, lo, hi);
    out = static_cast<std::uint32_t>(v);
  }

  void u64(std::string_view k, std::uint64_t& out, std::uint64_t lo, std::uint64_t hi) {
    auto n = take(k);
    if (!present(n)) return;
    auto s = scalar(k, n);
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || ptr != s.data() + s.size()) fail(key(k), "'" + s + "' is not a whole number");
    if (v < lo || v > hi)
      fail(key(k), std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    out = v;
  }

  void duration(std::string_view k, std::chrono::milliseconds& out, std::chrono::milliseconds lo) {
    auto n = take(k);
    if (!present(n)) return;
    auto s = scalar(k, n);
    try {
      out = parse_duration(s);
    } catch (const std::exception& e) {
      fail(key(k), "'" + s + "' is not a duration like 500ms, 10s, 1m: " + e.what());
    }
    if (out < lo) fail(key(k), "must be at least " + std::to_string(lo.count()) + "ms");
  }

  void done() const {
    if (!present(node_)) return;
    for (const auto& kv : node_) {
      auto k = kv.first.as<std::string>();
      if (!seen_.count(k)) fail(key(k), "unknown setting");
    }
  }

 private:
  YAML::Node node_;
  std::string path_;
  std::string_view origin_;
  std::set<std::string> seen_;
};

}  // namespace

// Parses YAML text; a syntax error is a one-line config error with its line.
static YAML::Node load_yaml(std::string_view text, std::string_view origin) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw FatalError(kExitConfig,
                     std::string(origin) + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

std::string read_small_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    throw FatalError(kExitConfig, std::string("cannot read ") + what + " " + path + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FatalError(kExitConfig, std::string("cannot read ") + what + " " + path + ": " + std::strerror(errno));
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad())
    throw FatalError(kExitConfig, std::string("cannot read ") + what + " " + path + ": " + std::strerror(errno));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) {
    throw FatalError(kExitConfig, path + ": larger than 1 MiB, not a syslens " + std::string(what));
  }
  return text;
}

void apply_config_yaml(Config& cfg, std::string_view yaml_text, std::string_view origin) {
  const YAML::Node root = load_yaml(yaml_text, origin);
  try {
    Section top(root, "", origin);
    top.choice<Mode>("mode", cfg.mode, {{"full", Mode::full}, {"count", Mode::count}});

    auto bpf = top.sub("bpf");
    bpf.choice<AttachKind>(
        "attach", cfg.attach,
        {{"auto", AttachKind::automatic}, {"tp_btf", AttachKind::tp_btf}, {"raw_tp", AttachKind::raw_tp}});
    bpf.choice<ThreadStore>("thread_store", cfg.thread_store,
                            {{"auto", ThreadStore::automatic},
                             {"task_storage", ThreadStore::task_storage},
                             {"tid_hash", ThreadStore::tid_hash}});
    bpf.choice<CurrentTask>("current_task", cfg.current_task,
                            {{"auto", CurrentTask::automatic},
                             {"switch", CurrentTask::from_switch},
                             {"stack", CurrentTask::from_stack},
                             {"helper", CurrentTask::helper}});
    bpf.str("kernel_btf", cfg.kernel_btf);
    bpf.u32("max_stats_entries", cfg.max_stats_entries, 64, 1U << 24);
    bpf.u32("max_errno_entries", cfg.max_errno_entries, 64, 1U << 24);
    bpf.u32("max_threads", cfg.max_threads, 64, 1U << 24);
    bpf.u32("cpu_slots", cfg.cpu_slots, 0, 1U << 16);
    bpf.u32("latency_sample_every", cfg.latency_sample_every, 1, 1U << 20);
    bpf.str("pin_path", cfg.pin_path);
    if (!cfg.pin_path.empty() && cfg.pin_path.front() != '/')
      bpf.fail("bpf.pin_path", "'" + cfg.pin_path + "' is not an absolute path");
    if (cfg.cpu_slots & (cfg.cpu_slots - 1))
      bpf.fail("bpf.cpu_slots", std::to_string(cfg.cpu_slots) + " is not a power of two (or 0)");
    auto rs = bpf.sub("run_stats");
    rs.choice<RunStatsMode>("mode", cfg.run_stats,
                            {{"sampled", RunStatsMode::sampled}, {"on", RunStatsMode::on}, {"off", RunStatsMode::off}});
    rs.duration("interval", cfg.run_stats_interval, std::chrono::milliseconds(100));
    rs.duration("window", cfg.run_stats_window, std::chrono::milliseconds(10));
    rs.done();
    bpf.done();

    auto sec = top.sub("security");
    sec.choice<bool>("seccomp", cfg.self_seccomp, {{"true", true}, {"false", false}});
    sec.done();

    auto ov = top.sub("overhead");
    ov.u64("budget_ns_per_syscall", cfg.overhead_budget_ns, 0, 1000000);
    ov.duration("recheck", cfg.overhead_recheck, std::chrono::milliseconds(100));
    ov.done();

    auto cg = top.sub("cgroup");
    cg.str("root", cfg.cgroup_root);
    cg.str("v1_controller", cfg.cgroup_v1_controller);
    cg.u32("cache_size", cfg.cgroup_cache_size, 16, 1U << 22);
    cg.duration("removed_grace", cfg.removed_grace, std::chrono::milliseconds(100));
    cg.done();

    auto rt = top.sub("runtimes");
    rt.str("docker_socket", cfg.docker_socket);
    rt.strings("cri_sockets", cfg.cri_sockets);
    rt.duration("timeout", cfg.runtime_timeout, std::chrono::milliseconds(10));
    rt.duration("scrape_wait", cfg.metadata_scrape_wait, std::chrono::milliseconds(0));
    rt.done();

    auto sc = top.sub("seccomp");
    sc.str("reference_profile", cfg.seccomp_reference);
    sc.str("profiles_dir", cfg.seccomp_profiles_dir);
    sc.done();

    auto m = top.sub("metrics");
    bool buckets = cfg.latency_buckets_per_cgroup;
    m.choice<bool>("latency", buckets, {{"summary", false}, {"histogram", true}});
    cfg.latency_buckets_per_cgroup = buckets;
    auto lb = m.sub("latency_buckets");
    lb.u64("first_ns", cfg.latency_first_bucket_ns, 1, std::uint64_t{1} << 40);
    lb.u64("last_ns", cfg.latency_last_bucket_ns, 1, std::uint64_t{1} << 40);
    lb.u32("factor", cfg.latency_bucket_factor, 2, 1U << 20);
    lb.done();
    m.done();
    top.done();
  } catch (const YAML::Exception& e) {
    throw FatalError(kExitConfig, std::string(origin) + ": " + e.msg);
  }

  if (cfg.run_stats_window >= cfg.run_stats_interval) {
    throw FatalError(kExitConfig, std::string(origin) + ": bpf.run_stats.window must be shorter than interval");
  }
  auto pow2 = [](std::uint64_t v) { return std::has_single_bit(v); };
  if (!pow2(cfg.latency_first_bucket_ns) || !pow2(cfg.latency_last_bucket_ns) || !pow2(cfg.latency_bucket_factor) ||
      cfg.latency_first_bucket_ns > cfg.latency_last_bucket_ns) {
    throw FatalError(kExitConfig, std::string(origin) +
                                      ": metrics.latency_buckets: first_ns, last_ns and factor must be powers of "
                                      "two with first_ns <= last_ns");
  }
  if (cfg.overhead_budget_ns > 0 && cfg.run_stats == RunStatsMode::off) {
    throw FatalError(kExitConfig, std::string(origin) +
                                      ": overhead.budget_ns_per_syscall needs bpf.run_stats.mode sampled or on "
                                      "(the cost is measured from them)");
  }
  if (cfg.overhead_budget_ns > 0 && cfg.mode == Mode::count) {
    throw FatalError(kExitConfig, std::string(origin) +
                                      ": overhead.budget_ns_per_syscall needs mode: full (count mode has no latency "
                                      "tracking to turn off)");
  }
}

void load_config_file(Config& cfg) {
  if (cfg.config_file.empty()) return;
  apply_config_yaml(cfg, read_small_file(cfg.config_file, "config file"), cfg.config_file);
}

namespace {

bool is_bcrypt(const std::string& h) {
  return h.size() == 60 && h[0] == '$' && h[1] == '2' && (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$';
}

}  // namespace

WebConfig parse_web_config(std::string_view yaml_text, std::string_view origin) {
  WebConfig w;
  const YAML::Node root = load_yaml(yaml_text, origin);
  try {
    Section top(root, "", origin);
    auto tls = top.sub("tls_server_config");
    WebConfig::Tls t;
    tls.str("cert_file", t.cert_file);
    tls.str("key_file", t.key_file);
    tls.str("client_ca_file", t.client_ca_file);
    tls.str("client_auth_type", t.client_auth_type);
    tls.str("min_version", t.min_version);
    tls.done();
    const bool any = !t.cert_file.empty() || !t.key_file.empty() || !t.client_ca_file.empty();
    if (any) {
      if (t.cert_file.empty() || t.key_file.empty()) {
        top.fail("tls_server_config", "cert_file and key_file are both needed");
      }
      if (t.client_auth_type != "NoClientCert" && t.client_auth_type != "RequireAndVerifyClientCert" &&
          t.client_auth_type != "VerifyClientCertIfGiven") {
        top.fail("tls_server_config.client_auth_type",
                 "'" + t.client_auth_type +
                     "' is not one of NoClientCert, RequireAndVerifyClientCert, VerifyClientCertIfGiven");
      }
      if (t.client_auth_type != "NoClientCert" && t.client_ca_file.empty()) {
        top.fail("tls_server_config.client_ca_file", "needed to verify client certificates");
      }
      if (t.min_version != "TLS12" && t.min_version != "TLS13") {
        top.fail("tls_server_config.min_version", "'" + t.min_version + "' is not one of TLS12, TLS13");
      }
      w.tls = t;
    }
    top.string_map("basic_auth_users", w.basic_auth_users);
    for (const auto& [user, hash] : w.basic_auth_users) {
      if (user.empty() || user.find(':') != std::string::npos)
        top.fail("basic_auth_users", "invalid user name '" + user + "'");
      if (!is_bcrypt(hash))
        top.fail("basic_auth_users." + user, "is not a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':')");
    }
    top.strings("syslens_bearer_tokens", w.bearer_token_hashes);
    for (const auto& hash : w.bearer_token_hashes) {
      if (!is_bcrypt(hash)) top.fail("syslens_bearer_tokens", "an entry is not a bcrypt hash of the token");
    }
    auto hs = top.sub("http_server_config");
    hs.string_map("headers", w.headers);
    hs.done();
    for (const auto& [name, value] : w.headers) {
      const bool bad_name = name.empty() || name.find_first_of(" :\r\n") != std::string::npos;
      if (bad_name || value.find_first_of("\r\n") != std::string::npos) {
        top.fail("http_server_config.headers", "invalid header '" + name + "'");
      }
    }
    top.done();
  } catch (const YAML::Exception& e) {
    throw FatalError(kExitConfig, std::string(origin) + ": " + e.msg);
  }
  return w;
}

WebConfig load_web_config(const std::string& path) {
  return parse_web_config(read_small_file(path, "web config file"), path);
}

}  // namespace syslens
