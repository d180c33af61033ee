#include <gtest/gtest.h>

#include <sstream>

#include <fstream>
#include <vector>

#include "syslens/config.h"
#include "syslens/errors.h"

using namespace syslens;

namespace {

FlagsResult flags(std::vector<const char*> args) {
  args.insert(args.begin(), "syslensd");
  return parse_flags(static_cast<int>(args.size()), args.data());
}

// Runs fn, expecting a FatalError with the code and a message containing text.
template <typename F>
void expect_fatal(F fn, int code, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected: " << text;
  } catch (const FatalError& e) {
    EXPECT_EQ(e.exit_code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

Config yaml(const std::string& text) {
  Config c;
  apply_config_yaml(c, text, "test.yaml");
  return c;
}

}  // namespace

TEST(Flags, DefaultsFollowExporterConventions) {
  auto r = flags({});
  EXPECT_FALSE(r.print_and_exit);
  EXPECT_EQ(r.config.listen_address, ":9823");
  EXPECT_EQ(r.config.telemetry_path, "/metrics");
  EXPECT_EQ(r.config.log_level, "info");
  EXPECT_EQ(r.config.mode, Mode::full);
  // The API: on its socket and to loopback clients; not to the network.
  EXPECT_EQ(r.config.api_socket, "/run/syslens/api.sock");
  EXPECT_EQ(r.config.api_socket_group, "syslens");
  EXPECT_FALSE(r.config.api_remote);
  EXPECT_FALSE(r.config.api_remote_without_auth);
}

TEST(Flags, TheApiSocketAndRemoteApi) {
  auto r = flags({"--web.api-socket", "", "--web.api-socket-group=4242", "--web.api-remote"});
  EXPECT_EQ(r.config.api_socket, "");
  EXPECT_EQ(r.config.api_socket_group, "4242");
  EXPECT_TRUE(r.config.api_remote);
  r = flags({"--web.api-socket=/run/x.sock", "--web.api-remote", "--web.api-remote-without-auth-i-accept-the-risk"});
  EXPECT_EQ(r.config.api_socket, "/run/x.sock");
  EXPECT_TRUE(r.config.api_remote_without_auth);
}

TEST(Flags, BothSpellingsOfValues) {
  auto r = flags({"--web.listen-address=127.0.0.1:9999", "--web.telemetry-path", "/m", "--log.level=debug"});
  EXPECT_EQ(r.config.listen_address, "127.0.0.1:9999");
  EXPECT_EQ(r.config.telemetry_path, "/m");
  EXPECT_EQ(r.config.log_level, "debug");
}

TEST(Flags, HelpAndVersionPrintAndExit) {
  auto h = flags({"--help"});
  ASSERT_TRUE(h.print_and_exit);
  EXPECT_NE(h.print_and_exit->find("--web.listen-address"), std::string::npos);
  auto v = flags({"--version"});
  ASSERT_TRUE(v.print_and_exit);
  EXPECT_NE(v.print_and_exit->find("syslensd version"), std::string::npos);
}

TEST(Flags, BadInputIsAUsageError) {
  expect_fatal([] { flags({"--nope"}); }, kExitUsage, "unknown flag '--nope'");
  expect_fatal([] { flags({"--web.listen"}); }, kExitUsage, "unknown flag");  // no prefix guessing
  expect_fatal(
      [] {
        flags({"--log.level=info", "--log.level=debug"});
      },
      kExitUsage, "flag given more than once '--log.level'");
  // Found by fuzz_config: a flag holding a message placeholder made Boost's
  // error message loop forever. Now a prompt usage error.
  expect_fatal([] { flags({"--x%canonical_option%y"}); }, kExitUsage, "unknown flag '--x%canonical_option%y'");
  expect_fatal([] { flags({"--web.listen-address=9823"}); }, kExitUsage, "want host:port");
  expect_fatal([] { flags({"--web.listen-address=:99999"}); }, kExitUsage, "port must be 0-65535");
  expect_fatal([] { flags({"--web.listen-address=::1:80"}); }, kExitUsage, "brackets");
  expect_fatal([] { flags({"--web.api-socket=run/api.sock"}); }, kExitUsage, "must be an absolute path");
  expect_fatal(
      [] {
        const std::string longer = "--web.api-socket=/" + std::string(107, 'a');
        flags({longer.c_str()});
      },
      kExitUsage, "at most 107 bytes");
  expect_fatal([] { flags({"--web.api-remote-without-auth-i-accept-the-risk"}); }, kExitUsage,
               "only goes with --web.api-remote");
  expect_fatal([] { flags({"--web.telemetry-path=metrics"}); }, kExitUsage, "must start with '/'");
  expect_fatal([] { flags({"--log.level=loud"}); }, kExitUsage, "invalid --log.level 'loud'");
  expect_fatal([] { flags({"--config.file"}); }, kExitUsage, "config.file");
  expect_fatal([] { flags({"stray"}); }, kExitUsage, "too many positional options");
}

TEST(ListenAddress, Forms) {
  auto a = parse_listen_address(":9823");
  EXPECT_EQ(a.host, "");
  EXPECT_EQ(a.port, 9823);
  auto b = parse_listen_address("[::1]:80");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 80);
  auto c = parse_listen_address("127.0.0.1:0");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 0);
}

TEST(ConfigFile, FullExample) {
  auto c = yaml(R"(
mode: count
bpf:
  attach: raw_tp
  thread_store: tid_hash
  current_task: helper
  max_stats_entries: 1024
  run_stats:
    mode: "off"
    interval: 2m
    window: 500ms
cgroup:
  cache_size: 64
metrics:
  latency_buckets: {first_ns: 1024, last_ns: 1048576, factor: 2}
)");
  EXPECT_EQ(c.mode, Mode::count);
  EXPECT_EQ(c.attach, AttachKind::raw_tp);
  EXPECT_EQ(c.thread_store, ThreadStore::tid_hash);
  EXPECT_EQ(c.current_task, CurrentTask::helper);
  EXPECT_EQ(c.max_stats_entries, 1024U);
  EXPECT_EQ(c.run_stats, RunStatsMode::off);
  EXPECT_EQ(c.run_stats_interval, std::chrono::minutes(2));
  EXPECT_EQ(c.run_stats_window, std::chrono::milliseconds(500));
  EXPECT_EQ(c.cgroup_cache_size, 64U);
  EXPECT_EQ(c.latency_bucket_factor, 2U);
}

TEST(ConfigFile, EmptyFileAndEmptySectionsKeepDefaults) {
  auto c = yaml("");
  EXPECT_EQ(c.mode, Mode::full);
  auto d = yaml("bpf:\ncgroup:\n");
  EXPECT_EQ(d.max_stats_entries, 65536U);
}

TEST(ConfigFile, MistakesNameTheKey) {
  expect_fatal([] { yaml("mode: fast\n"); }, kExitConfig, "test.yaml: mode: 'fast' is not one of count, full");
  expect_fatal([] { yaml("bpf:\n  atach: raw_tp\n"); }, kExitConfig, "bpf.atach: unknown setting");
  expect_fatal([] { yaml("nope: 1\n"); }, kExitConfig, "nope: unknown setting");
  expect_fatal([] { yaml("bpf:\n  max_stats_entries: lots\n"); }, kExitConfig, "is not a whole number");
  expect_fatal([] { yaml("bpf:\n  max_stats_entries: 1\n"); }, kExitConfig, "outside 64..");
  expect_fatal([] { yaml("bpf:\n  max_stats_entries: -5\n"); }, kExitConfig, "bpf.max_stats_entries");
  expect_fatal([] { yaml("bpf:\n  cpu_slots: 1000\n"); }, kExitConfig, "bpf.cpu_slots: 1000 is not a power of two");
  expect_fatal([] { yaml("bpf:\n  cpu_slots: 131072\n"); }, kExitConfig, "bpf.cpu_slots: 131072 is outside 0..65536");
  EXPECT_EQ(yaml("bpf:\n  cpu_slots: 0\n").cpu_slots, 0U);
  EXPECT_EQ(yaml("bpf:\n  cpu_slots: 256\n").cpu_slots, 256U);
  expect_fatal([] { yaml("bpf:\n  latency_sample_every: 0\n"); }, kExitConfig,
               "bpf.latency_sample_every: 0 is outside 1..1048576");
  EXPECT_EQ(yaml("bpf:\n  latency_sample_every: 1\n").latency_sample_every, 1U);
  expect_fatal([] { yaml("overhead:\n  budget_ns_per_syscall: 100\nbpf:\n  run_stats:\n    mode: off\n"); },
               kExitConfig, "overhead.budget_ns_per_syscall needs bpf.run_stats.mode sampled or on");
  expect_fatal([] { yaml("mode: count\noverhead:\n  budget_ns_per_syscall: 100\n"); }, kExitConfig,
               "overhead.budget_ns_per_syscall needs mode: full");
  expect_fatal([] { yaml("metrics:\n  latency: quantiles\n"); }, kExitConfig,
               "metrics.latency: 'quantiles' is not one of histogram, summary");
  EXPECT_TRUE(yaml("metrics:\n  latency: histogram\n").latency_buckets_per_cgroup);
  expect_fatal([] { yaml("bpf:\n  current_task: fast\n"); }, kExitConfig,
               "bpf.current_task: 'fast' is not one of auto, helper, stack, switch");
  EXPECT_EQ(yaml("bpf:\n  current_task: switch\n").current_task, CurrentTask::from_switch);
  EXPECT_EQ(yaml("bpf:\n  current_task: stack\n").current_task, CurrentTask::from_stack);
  EXPECT_EQ(yaml("overhead:\n  budget_ns_per_syscall: 250\n  recheck: 30s\n").overhead_budget_ns, 250U);
  // Found by fuzz_config: a YAML error that quotes the input's newline
  // ("unknown escape character") still gives one line.
  expect_fatal(
      [] {
        std::ifstream in(std::string(SYSLENS_SOURCE_DIR) + "/tests/fuzz/corpus/config/regression-yaml-error-newline");
        std::stringstream text;
        text << in.rdbuf();
        ASSERT_FALSE(text.str().empty());
        yaml(text.str());
      },
      kExitConfig, "unknown escape character: \\n");
  expect_fatal([] { yaml("mode: \"a\\nb\"\n"); }, kExitConfig, "'a\\nb' is not one of count, full");
  expect_fatal([] { yaml("mode: \"\\x01\"\n"); }, kExitConfig, "'\\x01' is not one of");
  expect_fatal([] { yaml("bpf: [1, 2]\n"); }, kExitConfig, "bpf: must be a mapping");
  expect_fatal([] { yaml("- 1\n- 2\n"); }, kExitConfig, "top level: must be a mapping");
  expect_fatal([] { yaml("mode: [full]\n"); }, kExitConfig, "mode: must be a scalar");
  expect_fatal([] { yaml("bpf:\n  run_stats:\n    interval: soon\n"); }, kExitConfig, "not a duration");
  expect_fatal([] { yaml("bpf:\n  run_stats:\n    interval: 1s\n    window: 2s\n"); }, kExitConfig,
               "window must be shorter");
  expect_fatal([] { yaml("metrics:\n  latency_buckets:\n    factor: 3\n"); }, kExitConfig, "powers of two");
  expect_fatal([] { yaml("mode: full\n  bad indent: [\n"); }, kExitConfig, "invalid YAML at line");
}

TEST(ConfigFile, FileErrors) {
  Config c;
  c.config_file = "/nonexistent/syslens.yaml";
  expect_fatal([&] { load_config_file(c); }, kExitConfig, "cannot read config file /nonexistent/syslens.yaml");
  c.config_file = "/";
  expect_fatal([&] { load_config_file(c); }, kExitConfig, "not a regular file");
  const std::string big = ::testing::TempDir() + "/big.yaml";
  {
    std::ofstream out(big);
    out << "# " << std::string(2 << 20, 'x') << "\n";
  }
  c.config_file = big;
  expect_fatal([&] { load_config_file(c); }, kExitConfig, "larger than 1 MiB");
}

TEST(Duration, Units) {
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("3s"), std::chrono::seconds(3));
  EXPECT_EQ(parse_duration("1h"), std::chrono::hours(1));
  EXPECT_THROW(parse_duration("3"), std::invalid_argument);
  EXPECT_THROW(parse_duration("s"), std::invalid_argument);
  EXPECT_THROW(parse_duration("99999999999999h"), std::invalid_argument);
}

// The shipped example config documents every key with its default: parsing
// it must succeed and change nothing.
TEST(ConfigFile, ShippedExampleIsValidAndEqualsTheDefaults) {
  Config c;
  c.config_file = std::string(SYSLENS_SOURCE_DIR) + "/deploy/syslens.yaml";
  load_config_file(c);
  const Config d;
  EXPECT_EQ(c.mode, d.mode);
  EXPECT_EQ(c.attach, d.attach);
  EXPECT_EQ(c.thread_store, d.thread_store);
  EXPECT_EQ(c.current_task, d.current_task);
  EXPECT_EQ(c.kernel_btf, d.kernel_btf);
  EXPECT_EQ(c.max_stats_entries, d.max_stats_entries);
  EXPECT_EQ(c.max_errno_entries, d.max_errno_entries);
  EXPECT_EQ(c.max_threads, d.max_threads);
  EXPECT_EQ(c.cpu_slots, d.cpu_slots);
  EXPECT_EQ(c.latency_sample_every, d.latency_sample_every);
  EXPECT_EQ(c.latency_buckets_per_cgroup, d.latency_buckets_per_cgroup);
  EXPECT_EQ(c.overhead_budget_ns, d.overhead_budget_ns);
  EXPECT_EQ(c.overhead_recheck, d.overhead_recheck);
  EXPECT_EQ(c.self_seccomp, d.self_seccomp);
  EXPECT_EQ(c.run_stats, d.run_stats);
  EXPECT_EQ(c.run_stats_interval, d.run_stats_interval);
  EXPECT_EQ(c.run_stats_window, d.run_stats_window);
  EXPECT_EQ(c.cgroup_root, d.cgroup_root);
  EXPECT_EQ(c.cgroup_v1_controller, d.cgroup_v1_controller);
  EXPECT_EQ(c.cgroup_cache_size, d.cgroup_cache_size);
  EXPECT_EQ(c.removed_grace, d.removed_grace);
  EXPECT_EQ(c.latency_first_bucket_ns, d.latency_first_bucket_ns);
  EXPECT_EQ(c.latency_last_bucket_ns, d.latency_last_bucket_ns);
  EXPECT_EQ(c.latency_bucket_factor, d.latency_bucket_factor);
  EXPECT_EQ(c.docker_socket, d.docker_socket);
  EXPECT_EQ(c.cri_sockets, d.cri_sockets);
  EXPECT_EQ(c.runtime_timeout, d.runtime_timeout);
  EXPECT_EQ(c.metadata_scrape_wait, d.metadata_scrape_wait);
  EXPECT_EQ(c.seccomp_reference, d.seccomp_reference);
}

TEST(ConfigFile, RuntimeSockets) {
  auto c = yaml("runtimes:\n  docker_socket: \"\"\n  cri_sockets: [/a.sock, /b.sock]\n  scrape_wait: 0ms\n");
  EXPECT_EQ(c.docker_socket, "");
  EXPECT_EQ(c.cri_sockets, (std::vector<std::string>{"/a.sock", "/b.sock"}));
  EXPECT_EQ(c.metadata_scrape_wait, std::chrono::milliseconds(0));
  expect_fatal([] { yaml("runtimes:\n  cri_sockets: /a.sock\n"); }, kExitConfig,
               "runtimes.cri_sockets: must be a list");
}

TEST(WebConfig, ExporterToolkitFormat) {
  const auto w = parse_web_config(
      "tls_server_config:\n  cert_file: /etc/syslens/tls.crt\n  key_file: /etc/syslens/tls.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: /etc/syslens/ca.crt\n  min_version: TLS13\n"
      "basic_auth_users:\n  prometheus: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n"
      "http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n",
      "web.yml");
  ASSERT_TRUE(w.tls);
  EXPECT_EQ(w.tls->client_auth_type, "RequireAndVerifyClientCert");
  EXPECT_EQ(w.tls->min_version, "TLS13");
  EXPECT_EQ(w.basic_auth_users.size(), 1U);
  EXPECT_TRUE(w.auth());
  EXPECT_EQ(w.headers.at("Strict-Transport-Security"), "max-age=31536000");
  EXPECT_FALSE(parse_web_config("", "web.yml").tls);
  EXPECT_FALSE(parse_web_config("", "web.yml").auth());
  expect_fatal(
      [] {
        parse_web_config(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n", "w");
      },
      kExitConfig, "client_ca_file: needed to verify client certificates");
  expect_fatal([] { parse_web_config("http_server_config:\n  headers:\n    \"X: y\": z\n", "w"); }, kExitConfig,
               "invalid header");
  expect_fatal([] { parse_web_config("syslens_bearer_tokens:\n  - token\n", "w"); }, kExitConfig,
               "not a bcrypt hash of the token");
}
