// syslensd configuration: Prometheus-exporter style flags for the common
// settings, a YAML file (--config.file) for the rest. Every setting has an
// embedded default, so syslensd runs with no flags at all.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace syslens {

enum class Mode { full, count };
enum class AttachKind { automatic, tp_btf, raw_tp };
enum class ThreadStore { automatic, task_storage, tid_hash };
// How the enter program finds the current task (bpf.current_task), where the
// kernel allows it (Linux 6.2+): from the context-switch program (switch), or
// from a table of tasks by kernel stack (stack); else, or told so, a helper
// call. automatic: switch in full mode, which has that program anyway, stack
// in count-only, which would add it to every context switch.
enum class CurrentTask { automatic, from_switch, from_stack, helper };
enum class RunStatsMode { sampled, on, off };

struct ListenAddress {
  std::string host;  // empty = every address
  std::uint16_t port = 0;
};

// bpf.latency_sample_every's default: chosen from `make bench` (bench/README.md).
inline constexpr std::uint32_t kDefaultLatencySampleEvery = 64;

struct Config {
  // Flags.
  std::string listen_address = ":9823";
  std::string telemetry_path = "/metrics";
  std::string log_level = "info";
  std::string config_file;
  std::string web_config_file;           // --web.config.file: TLS and auth
  std::uint32_t max_connections = 1024;  // --web.max-connections
  // The API's own surface: a unix socket (root and this group, mode 0660;
  // "" none) and loopback clients of --web.listen-address. Network clients
  // get the API only with api_remote, which needs authentication in the web
  // config or the loudly named flag that waives it.
  std::string api_socket = "/run/syslens/api.sock";  // --web.api-socket
  std::string api_socket_group = "syslens";          // --web.api-socket-group
  bool api_remote = false;                           // --web.api-remote
  bool api_remote_without_auth = false;              // --web.api-remote-without-auth-i-accept-the-risk

  // syslensd's seccomp filter on itself (security.seccomp).
  bool self_seccomp = true;

  // Config file.
  Mode mode = Mode::full;
  AttachKind attach = AttachKind::automatic;
  ThreadStore thread_store = ThreadStore::automatic;
  CurrentTask current_task = CurrentTask::automatic;
  std::string kernel_btf;  // empty: the kernel's own /sys/kernel/btf/vmlinux
  std::uint32_t max_stats_entries = 65536;
  std::uint32_t max_errno_entries = 16384;
  std::uint32_t max_threads = 65536;
  // Where the aggregation maps are pinned (bpffs) so counts survive a
  // restart or upgrade; empty: not pinned.
  std::string pin_path = "/sys/fs/bpf/syslens";
  // Entries per CPU of the per-CPU slot table (a power of two; 0: none).
  std::uint32_t cpu_slots = 1024;
  // Full mode: time one call in this many, on average, per CPU (1: every
  // call). Counts and errors are exact either way.
  std::uint32_t latency_sample_every = kDefaultLatencySampleEvery;
  RunStatsMode run_stats = RunStatsMode::sampled;
  // Overhead budget: ns inside syslens's programs per syscall, measured in
  // the run-stats windows; above it latency tracking goes off until
  // overhead_recheck has passed. 0: no budget.
  std::uint64_t overhead_budget_ns = 0;
  std::chrono::milliseconds overhead_recheck{600000};
  std::chrono::milliseconds run_stats_interval{60000};
  std::chrono::milliseconds run_stats_window{1000};
  std::string cgroup_root;  // empty: found in /proc/self/mountinfo
  // Key by this cgroup v1 controller's hierarchy instead of cgroup v2 (hosts
  // where no v2 hierarchy holds the workloads). Empty: v2 if mounted, else
  // the first mounted of memory, pids, cpu.
  std::string cgroup_v1_controller;
  std::uint32_t cgroup_cache_size = 16384;
  std::chrono::milliseconds removed_grace{300000};  // removed cgroups stay exported this long
  // syslens_syscall_duration_seconds per (cgroup, syscall): sum and count only
  // (false), or with buckets (true).
  bool latency_buckets_per_cgroup = false;
  std::uint64_t latency_first_bucket_ns = 256;
  std::uint64_t latency_last_bucket_ns = 17179869184ULL;  // 2^34 ns, ~17 s
  std::uint32_t latency_bucket_factor = 4;
  // Container runtimes asked for metadata ("" / empty list: none).
  std::string docker_socket = "/var/run/docker.sock";
  std::vector<std::string> cri_sockets = {"/run/containerd/containerd.sock", "/run/crio/crio.sock"};
  std::chrono::milliseconds runtime_timeout{5000};  // per call; each runtime has its own worker
  std::chrono::milliseconds metadata_scrape_wait{250};
  // Reference seccomp profile for drift ("" = none). The default is the
  // containers default profile when present.
  std::string seccomp_reference = "/usr/share/containers/seccomp.json";
  // Profiles the check API may read (the kubelet's Localhost profiles).
  std::string seccomp_profiles_dir = "/var/lib/kubelet/seccomp";
};

// Result of command-line parsing: either run with the config, or print text
// (--help, --version) and exit 0.
struct FlagsResult {
  Config config;
  std::optional<std::string> print_and_exit;
  // --bpf.pin-path: wins over the config file's bpf.pin_path (the systemd
  // unit points it at its bind of the bpffs, outside the read-only /sys).
  std::optional<std::string> pin_path;
};

// Parses argv. Throws FatalError(kExitUsage) with a one-line message.
FlagsResult parse_flags(int argc, const char* const* argv);

// Applies a YAML config file's text over cfg. Unknown keys, wrong types and
// out-of-range values throw FatalError(kExitConfig) naming the key.
void apply_config_yaml(Config& cfg, std::string_view yaml_text, std::string_view origin);

// Reads and applies cfg.config_file if set. Throws FatalError(kExitConfig).
void load_config_file(Config& cfg);

// --web.config.file: the Prometheus exporter web configuration format
// (exporter-toolkit): TLS, basic auth users with bcrypt hashes, response
// headers. syslens_bearer_tokens (an extension) lists bcrypt hashes of
// accepted bearer tokens.
struct WebConfig {
  struct Tls {
    std::string cert_file, key_file, client_ca_file;
    std::string client_auth_type = "NoClientCert";  // or RequireAndVerifyClientCert, VerifyClientCertIfGiven
    std::string min_version = "TLS12";              // or TLS13
  };
  std::optional<Tls> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
  std::vector<std::string> bearer_token_hashes;         // bcrypt hashes
  std::map<std::string, std::string> headers;           // added to every response
  bool auth() const { return !basic_auth_users.empty() || !bearer_token_hashes.empty(); }
};

// Throws FatalError(kExitConfig) naming the key.
WebConfig parse_web_config(std::string_view yaml_text, std::string_view origin);
// Reads and parses the file (at most 1 MiB).
WebConfig load_web_config(const std::string& path);

// "host:port", ":port", "[v6]:port". Throws FatalError(kExitUsage).
ListenAddress parse_listen_address(std::string_view s);

// A config-sized file (a regular file of at most 1 MiB); `what` says what it
// is in the one-line error (FatalError, kExitConfig).
std::string read_small_file(const std::string& path, const char* what);

// "250ms", "1s", "2m", "1h". Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(std::string_view s);

std::string_view to_string(Mode m);
std::string_view to_string(AttachKind a);
std::string_view to_string(ThreadStore t);
std::string_view to_string(CurrentTask c);

}  // namespace syslens
