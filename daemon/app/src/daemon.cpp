#include "daemon.h"

#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <grp.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "syslens/api/api.h"
#include "syslens/api/attribution.h"
#include "syslens/http/routes.h"
#include "syslens/http/server.h"
#include "syslens/runtimes/clients.h"
#include "syslens/export/process_metrics.h"
#include "syslens/export/protobuf_exposition.h"
#include "self_seccomp.h"
#include "syslens/failpoint.h"
#include "syslens/seccomp/builtin_reference.h"
#include "syslens/kernel/overhead.h"
#include "syslens/kernel/controls.h"
#include "syslens/kernel/loader.h"
#include "syslens/kernel/map_reader.h"
#include "syslens/api/trace.h"
#include "syslens/kernel/cgroup_paths.h"
#include "syslens/collect/collect.h"
#include "syslens/export/collector.h"
#include "syslens/export/exposition.h"
#include "syslens/export/self_metrics.h"
#include "syslens/config.h"
#include "syslens/errors.h"
#include "syslens/http_util.h"
#include "syslens/kernel/mountinfo.h"
#include "syslens/version.h"

namespace syslens {

namespace {

// Every full read of the maps (scrape, workload observer, reclaimer) frees
// tens of MiB of snapshot and aggregate with thousands of cgroups: give it
// back to the system rather than keep it as heap (RSS).
void release_heap() { ::malloc_trim(0); }

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CgroupRoot {
  std::string mount_point;
  std::string fs_root;
  int v1_subsys = -1;            // >= 0: a v1 hierarchy
  std::string hierarchy = "v2";  // "v2" or "v1:<controller>"
};

CgroupRoot find_cgroup_root(const Config& cfg) {
  const auto mounts = parse_mountinfo(read_file("/proc/self/mountinfo"));
  const std::string proc_cgroups = read_file("/proc/cgroups");
  std::string controller = cfg.cgroup_v1_controller;
  if (controller.empty()) {
    if (!cfg.cgroup_root.empty()) {
      struct statfs st {};
      if (::statfs(cfg.cgroup_root.c_str(), &st) != 0 || st.f_type != CGROUP2_SUPER_MAGIC) {
        throw FatalError(kExitKernel, "no cgroup v2 hierarchy at " + cfg.cgroup_root + " (cgroup.root)");
      }
      return {cfg.cgroup_root, "/"};
    }
    if (auto m = find_cgroup2_mount(mounts)) return {m->mount_point, m->root};
    // memory, pids or cpu: the hierarchies every v1 host's runtimes place
    // containers in; else any mounted v1 controller (a host whose
    // controllers are all bound to a v2 hierarchy it cannot see).
    std::vector<std::string> candidates = {"memory", "pids", "cpu"};
    for (auto& c : cgroup_controllers(proc_cgroups)) candidates.push_back(std::move(c));
    for (const auto& c : candidates) {
      if (find_cgroup1_mount(mounts, c)) {
        controller = c;
        spdlog::info("no cgroup v2 hierarchy mounted: keying by the cgroup v1 {} hierarchy", c);
        break;
      }
    }
    if (controller.empty()) {
      throw FatalError(kExitKernel,
                       "no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo), nor a cgroup v1 "
                       "controller's hierarchy; mount one, e.g. 'mount -t cgroup2 none /sys/fs/cgroup/unified'");
    }
  }
  const auto ssid = cgroup_subsys_id(proc_cgroups, controller);
  if (!ssid)
    throw FatalError(kExitKernel, "cgroup.v1_controller: the kernel has no cgroup controller '" + controller + "'");
  CgroupRoot r;
  r.v1_subsys = *ssid;
  r.hierarchy = "v1:" + controller;
  if (!cfg.cgroup_root.empty()) {
    r.mount_point = cfg.cgroup_root;
    r.fs_root = "/";
  } else if (auto m = find_cgroup1_mount(mounts, controller)) {
    r.mount_point = m->mount_point;
    r.fs_root = m->root;
  } else {
    throw FatalError(kExitKernel, "no cgroup v1 hierarchy with the " + controller + " controller is mounted");
  }
  return r;
}

// Samples the kernel's BPF run-time statistics in short windows. After each
// window (or each interval when they stay on), on_window gets the programs'
// statistics from its start and its end.
class RunStatsSampler {
 public:
  using Stats = std::vector<ProgramStats>;
  RunStatsSampler(boost::asio::io_context& io, const Config& cfg, std::function<Stats()> read,
                  std::function<void(const Stats&, const Stats&)> on_window)
      : timer_(io), cfg_(cfg), read_(std::move(read)), on_window_(std::move(on_window)) {
    if (cfg_.run_stats == RunStatsMode::on) {
      open();
      schedule_tick();
    }
    if (cfg_.run_stats == RunStatsMode::sampled) schedule_open(std::chrono::milliseconds(0));
  }

  double enabled_seconds() const {
    double s = total_.count();
    if (guard_ && guard_->active()) s += std::chrono::duration<double>(Clock::now() - since_).count();
    return s;
  }

 private:
  using Clock = std::chrono::steady_clock;

  void open() {
    guard_.emplace();
    since_ = Clock::now();
    before_ = read_();
  }
  void schedule_tick() {
    timer_.expires_after(cfg_.run_stats_interval);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      auto now = read_();
      on_window_(before_, now);
      before_ = std::move(now);
      schedule_tick();
    });
  }
  void close() {
    if (guard_ && guard_->active()) total_ += Clock::now() - since_;
    guard_.reset();
  }
  void schedule_open(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      open();
      timer_.expires_after(cfg_.run_stats_window);
      timer_.async_wait([this](const boost::system::error_code& ec2) {
        const bool measured = guard_ && guard_->active();
        close();
        if (ec2) return;
        if (measured) on_window_(before_, read_());
        schedule_open(cfg_.run_stats_interval - cfg_.run_stats_window);
      });
    });
  }

  boost::asio::steady_timer timer_;
  const Config& cfg_;
  std::function<Stats()> read_;
  std::function<void(const Stats&, const Stats&)> on_window_;
  Stats before_;
  std::optional<RunStatsGuard> guard_;
  Clock::time_point since_;
  std::chrono::duration<double> total_{0};
};

// systemd's readiness protocol (Type=notify): one datagram to
// $NOTIFY_SOCKET. A few lines, not worth a libsystemd dependency.
void sd_notify(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@')) return;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t len = std::min(std::strlen(path), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  if (::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), size) < 0) {
    spdlog::debug("sd_notify: {}", std::strerror(errno));
  }
  ::close(fd);
}

std::string landing_page(const Config& cfg) {
  return "<!DOCTYPE html><html><head><title>syslens</title></head><body><h1>syslens</h1>"
         "<p>System-wide syscall metrics per cgroup, from eBPF.</p><ul>"
         "<li><a href=\"" +
         cfg.telemetry_path + "\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li></ul>" + "<p>version " +
         kVersion + " (" + kGitCommit + ")</p></body></html>\n";
}

// The API socket's group: a name or a number. None (root only) if it does
// not exist, said once.
std::optional<unsigned> find_group(const std::string& name) {
  unsigned gid = 0;
  if (const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), gid);
      ec == std::errc{} && end == name.data() + name.size() && !name.empty()) {
    return gid;
  }
  group g{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found) == 0 && found) return found->gr_gid;
  spdlog::warn("group '{}' does not exist: the API socket serves root only (--web.api-socket-group)", name);
  return std::nullopt;
}

// The API is for the socket's callers and loopback clients (and network
// ones with --web.api-remote); anyone else gets a 403 naming the ways in.
Routes::Handler api_only(Routes::Handler h) {
  return [h = std::move(h)](const HttpRequest& req) {
    if (req.caller.api) return h(req);
    return json_response(403, {{"error",
                                "the API is served on syslensd's unix socket and to loopback clients only; "
                                "metrics are served here (docs/security.md)"}});
  };
}

SelfSample::HttpListener listener_sample(const char* name, const HttpServer& l) {
  SelfSample::HttpListener out{name,
                               l.rejected_connections(),
                               l.evicted_connections(),
                               l.accept_errors(),
                               l.open_connections(),
                               l.connection_limit(),
                               {}};
  for (std::size_t i = 0; i < static_cast<std::size_t>(HttpClose::count_); ++i) {
    const auto why = static_cast<HttpClose>(i);
    out.closed.emplace_back(to_string(why), l.closed(why));
  }
  return out;
}

int serve(const Config& cfg) {
  require_bpf_privileges();
  require_kernel_btf(cfg.kernel_btf);
  const auto root = find_cgroup_root(cfg);
  const auto listen = parse_listen_address(cfg.listen_address);
  const WebConfig web = cfg.web_config_file.empty() ? WebConfig{} : load_web_config(cfg.web_config_file);

  if (cfg.api_remote && !web.auth()) {
    if (!cfg.api_remote_without_auth) {
      throw FatalError(kExitUsage,
                       "--web.api-remote would serve every workload's live syscalls to whoever reaches the port: "
                       "set basic_auth_users or syslens_bearer_tokens in --web.config.file (or add "
                       "--web.api-remote-without-auth-i-accept-the-risk)");
    }
    spdlog::warn(
        "--web.api-remote-without-auth-i-accept-the-risk: the API, live traces included, is open to every "
        "network client of {}",
        cfg.listen_address);
  }
  const auto socket_group = cfg.api_socket.empty() ? std::nullopt : find_group(cfg.api_socket_group);

  boost::asio::io_context io(1);
  // The listeners first: a taken port or socket fails before any BPF is loaded.
  std::function<HttpResponse(const HttpRequest&)> handler;
  const auto handle = [&handler](const HttpRequest& r) { return handler(r); };
  HttpServer server(io, listen, handle, HttpLimits{.max_connections = cfg.max_connections}, web, cfg.api_remote);
  std::optional<HttpServer> api_socket;
  if (!cfg.api_socket.empty()) {
    api_socket.emplace(io, UnixListen{cfg.api_socket, socket_group}, handle,
                       HttpLimits{.max_connections = cfg.max_connections});
  }
  if (web.tls || web.auth()) {
    spdlog::info("web config {}: {}{}", cfg.web_config_file, web.tls ? "TLS" : "no TLS",
                 web.auth() ? ", authentication required" : "");
  }

  auto popts = ProbeOptions::from(cfg);
  popts.cgroup_v1_subsys = root.v1_subsys;
  // The kernel edge: the loader, the collect layer's map reader, and the
  // run-time controls (latency switch, live windows, run statistics).
  Loader loader(popts);
  MapReader maps(loader);
  Controls controls(loader);
  CgroupPaths cgroups(root.mount_point, root.fs_root, cfg.cgroup_cache_size);
  std::vector<std::unique_ptr<MetadataSource>> sources;
  if (!cfg.docker_socket.empty()) sources.push_back(make_docker_source(cfg.docker_socket));
  for (const auto& s : cfg.cri_sockets) sources.push_back(make_cri_source(s));
  MetadataOptions mopts;
  mopts.timeout = cfg.runtime_timeout;
  MetadataCache metadata(std::move(sources), mopts);
  WorkloadResolver workloads(&metadata, cfg.cgroup_cache_size);
  OverheadGovernor governor(static_cast<double>(cfg.overhead_budget_ns), cfg.overhead_recheck);
  RunStatsSampler sampler(
      io, cfg, [&controls] { return controls.program_stats(); },
      [&](const RunStatsSampler::Stats& before, const RunStatsSampler::Stats& after) {
        const auto cost = cost_per_syscall_ns(before, after);
        switch (governor.on_window(cost, std::chrono::steady_clock::now())) {
          case OverheadGovernor::Action::degrade:
            controls.set_latency(false);
            spdlog::warn(
                "overhead {:.0f} ns per syscall is above the budget of {} ns: latency tracking is off "
                "(calls are still counted); rechecking in {}s",
                *cost, cfg.overhead_budget_ns,
                std::chrono::duration_cast<std::chrono::seconds>(cfg.overhead_recheck).count());
            break;
          case OverheadGovernor::Action::restore:
            controls.set_latency(true);
            spdlog::info("latency tracking back on to measure the overhead again");
            break;
          case OverheadGovernor::Action::none:
            break;
        }
      });

  utsname uts{};
  ::uname(&uts);
  SelfInfo self;
  self.mode = std::string(to_string(loader.mode()));
  self.attach = std::string(to_string(loader.attach_kind()));
  self.thread_store = loader.mode() == Mode::full ? std::string(to_string(loader.thread_store())) : "none";
  self.current_task = std::string(to_string(loader.current_task()));
  self.kernel = uts.release;
  self.hierarchy = root.hierarchy;
  SelfMetrics self_metrics(self);
  // Removed cgroups: noticed within half the grace period (at most 30 s),
  // reclaimed once the grace period has passed, by whichever read of the
  // maps comes first (a scrape's, the API's, the timer's).
  CollectOptions collect_opts;
  collect_opts.metadata_wait = cfg.metadata_scrape_wait;
  collect_opts.removed_grace = cfg.removed_grace;
  collect_opts.reclaim_every = std::min<std::chrono::milliseconds>(cfg.removed_grace / 2, std::chrono::seconds(30));
  Collect collect(maps, cgroups, &workloads, collect_opts);
  // The drift reference: the configured profile file; where the host has
  // none, the copy of containers-common's default built in; "builtin": that
  // copy always; "": none.
  std::optional<ReferenceProfile> reference;
  if (!cfg.seccomp_reference.empty()) {
    std::error_code ec;
    if (cfg.seccomp_reference != "builtin" && std::filesystem::exists(cfg.seccomp_reference, ec)) {
      try {
        reference =
            parse_reference_profile(read_file(cfg.seccomp_reference.c_str()), cfg.seccomp_reference, host_arch());
      } catch (const std::exception& e) {
        throw FatalError(kExitConfig, "seccomp.reference_profile " + cfg.seccomp_reference + ": " + e.what());
      }
    } else {
      reference = parse_reference_profile(builtin_reference_profile(), kBuiltinReferenceName, host_arch());
      if (cfg.seccomp_reference != "builtin") {
        spdlog::info("seccomp reference profile {} not present: drift against the built-in {}", cfg.seccomp_reference,
                     kBuiltinReferenceName);
      }
    }
  }
  Api api(collect, host_arch(), reference, cfg.seccomp_profiles_dir);
  CollectorOptions copts;
  copts.latency = loader.mode() == Mode::full;
  copts.latency_buckets = cfg.latency_buckets_per_cgroup;
  copts.buckets = bucket_layout_from(cfg);
  SyscallCollector collector(copts);

  TraceHub traces(io, controls, host_arch(), [&cgroups](const std::string& p) { return cgroups.id_of(p); });
  // Every handler, timer and ring-buffer callback runs on this one
  // io_context thread, so the shared resolvers and store need no locks.
  api.serve_live(&traces);
  const auto ok = [](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", "OK\n"}; };
  Routes routes;
  routes
      .exact(cfg.telemetry_path,
             [&](const HttpRequest& req) {
               const auto started = std::chrono::steady_clock::now();
               // A scrape wants current numbers: it always reads the maps
               // (the timers' consumers then share its read).
               const auto c = collect.latest(std::chrono::milliseconds(0));
               failpoint("scrape");
               // Prometheus asks for protobuf when it ingests native histograms.
               const bool protobuf = accepts_protobuf_metrics(req.accept);
               std::string body = protobuf ? collector.RenderProtobuf(*c) : collector.Render(*c);
               // Then the daemon's own families, from one sample of every
               // component's numbers, and the per-workload ones.
               SelfSample smp;
               smp.http.push_back(listener_sample("tcp", server));
               if (api_socket) smp.http.push_back(listener_sample("unix", *api_socket));
               for (const auto kind : {LiveKind::trace, LiveKind::processes}) {
                 const auto st = traces.stats(kind);
                 smp.live.push_back({to_string(kind), st.opened, st.closed, st.refused, st.preempted, st.open});
               }
               smp.seccomp_refusals = self_seccomp_refusals();
               smp.overhead_ns = governor.last_cost_ns();
               smp.budget_ns = governor.budget_ns();
               smp.latency_degraded = loader.mode() == Mode::full && !controls.latency_on();
               smp.latency_sample_every = loader.mode() == Mode::full ? loader.latency_sample_every() : 0;
               smp.degradations = governor.degradations();
               smp.programs = controls.program_stats();
               smp.run_stats_seconds = sampler.enabled_seconds();
               smp.cgroups = cgroups.stats();
               smp.runtimes = metadata.stats();
               smp.metadata_entries = metadata.size();
               smp.reclaim = collect.reclaim_stats();
               if (!loader.pin_dir().empty()) smp.maps_pinned = loader.check_pins();
               smp.pins_lost = loader.pins_lost();
               self_metrics.update(smp);
               self_metrics.set_scrape_duration(
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
               auto families = self_metrics.collect();
               for (auto& f : api.workload_families(c->agg)) families.push_back(std::move(f));
               for (auto& f : collect_process_metrics()) families.push_back(std::move(f));
               if (protobuf) {
                 append_families_protobuf(body, families);
               } else {
                 append_families(body, families);
               }
               HttpResponse r{200, std::string(protobuf ? kProtobufContentType : kTextContentType), std::move(body)};
               release_heap();
               return r;
             })
      .prefix("/api/v1/workloads", api_only([&](const HttpRequest& req) { return api.handle(req.target, req.caller); }))
      .exact("/api/v1/profiles", api_only([&](const HttpRequest& req) { return api.groups(req.target); }))
      .exact("/api/v1/attribution", api_only([&](const HttpRequest& req) {
               return attribution_response(req.target, cgroups, workloads, &metadata);
             }))
      .exact("/",
             [&](const HttpRequest&) {
               return HttpResponse{200, "text/html; charset=utf-8", landing_page(cfg)};
             })
      .exact("/-/healthy", ok)
      .exact("/-/ready", ok);
  handler = [&routes](const HttpRequest& r) { return routes(r); };

  // New (cgroup, syscall) keys arrive on a ring buffer: name each new cgroup
  // and ask for its container's metadata now, while it exists, so that even
  // a container gone before the next scrape keeps its labels.
  boost::asio::posix::stream_descriptor new_keys(io);
  if (loader.new_keys_fd() >= 0) new_keys.assign(::dup(loader.new_keys_fd()));
  std::function<void()> watch_new_keys = [&] {
    if (!new_keys.is_open()) return;
    new_keys.async_wait(boost::asio::posix::stream_descriptor::wait_read, [&](const boost::system::error_code& ec) {
      if (ec) return;
      loader.consume_new_keys([&](std::uint64_t id) {
        if (auto p = cgroups.path_of(id)) workloads.labels_for(*p);
      });
      watch_new_keys();
    });
  };
  watch_new_keys();

  // First/last seen of each workload's syscalls: observed every 10 s even
  // when nobody scrapes or asks.
  boost::asio::steady_timer observe_timer(io);
  std::function<void()> observe = [&] {
    observe_timer.expires_after(std::chrono::seconds(10));
    observe_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      api.observe(std::chrono::seconds(10));
      release_heap();
      observe();
    });
  };
  observe();

  // Reclaiming needs a read of the maps at least every reclaim interval,
  // scraped or not.
  boost::asio::steady_timer reclaim_timer(io);
  std::function<void()> reclaim = [&] {
    reclaim_timer.expires_after(collect_opts.reclaim_every);
    reclaim_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      collect.latest(collect_opts.reclaim_every);
      loader.check_pins();
      release_heap();
      reclaim();
    });
  };
  reclaim();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.stop();
    if (api_socket) api_socket->stop();
    reclaim_timer.cancel();
    traces.stop();
    observe_timer.cancel();
    new_keys.close();
    io.stop();
  });
  // Everything that needed privilege is done: programs loaded and attached,
  // maps and ring buffers open, the listener bound.
  const auto kept = drop_capabilities(cfg.run_stats != RunStatsMode::off);
  spdlog::info("dropped capabilities; kept: {}",
               kept.empty() ? std::string("none") : fmt::format("{}", fmt::join(kept, ", ")));
  if (cfg.self_seccomp) {
    if (const auto err = apply_self_seccomp(); !err.empty()) {
      spdlog::warn("cannot apply syslensd's own seccomp filter: {}; running without it", err);
    } else {
      spdlog::info("seccomp filter applied: {} syscalls allowed", self_seccomp_allowed().size());
    }
  }
  server.start();
  if (api_socket) api_socket->start();
  spdlog::info("syslensd {} serving metrics on {} port {} at {}; the API {}{}", kVersion,
               listen.host.empty() ? "*" : listen.host, server.port(), cfg.telemetry_path,
               cfg.api_remote ? "to every client of that port" : "to its loopback clients",
               api_socket ? " and on " + cfg.api_socket +
                                (api_socket->socket_group() ? " (group " + cfg.api_socket_group + ")"
                                                            : std::string(" (root only)"))
                          : std::string());
  sd_notify("READY=1\nSTATUS=serving metrics on port " + std::to_string(server.port()) + "\n");
  io.run();
  sd_notify("STOPPING=1\n");
  spdlog::info("detaching BPF programs");
  return kExitOk;
}

}  // namespace

int run_daemon(int argc, const char* const* argv) {
  // Few threads allocate; one arena per thread would only fragment the heap.
  ::mallopt(M_ARENA_MAX, 2);
  try {
    auto flags = parse_flags(argc, argv);
    if (flags.print_and_exit) {
      std::cout << *flags.print_and_exit;
      return kExitOk;
    }
    Config cfg = flags.config;
    auto logger = spdlog::stderr_color_mt("syslensd");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    route_libbpf_logs_to_spdlog();
    load_config_file(cfg);
    if (flags.pin_path) cfg.pin_path = *flags.pin_path;
    return serve(cfg);
  } catch (const FatalError& e) {
    std::cerr << "syslensd: " << e.what() << std::endl;
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "syslensd: internal error: " << e.what() << std::endl;
    return kExitInternal;
  }
}

}  // namespace syslens
