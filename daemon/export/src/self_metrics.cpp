#include "syslens/export/self_metrics.h"

#include "syslens/version.h"

namespace syslens {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

prometheus::Family<prometheus::Counter>& SelfMetrics::counter(const std::string& name, const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(registry_);
}

prometheus::Family<prometheus::Gauge>& SelfMetrics::gauge(const std::string& name, const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry_);
}

SelfMetrics::SelfMetrics(const SelfInfo& info) {
  gauge("syslens_build_info", "A metric with a constant '1' value labeled by version and commit.")
      .Add({{"commit", kGitCommit}, {"kernel", info.kernel}, {"version", kVersion}})
      .Set(1);
  gauge("syslens_bpf_info",
        "How the BPF programs were loaded: mode, attach type, per-thread store, cgroup hierarchy, where the enter "
        "finds the current task.")
      .Add({{"attach", info.attach},
            {"cgroup_hierarchy", info.hierarchy},
            {"current_task", info.current_task},
            {"mode", info.mode},
            {"thread_store", info.thread_store}})
      .Set(1);
  // Per listener: listener="tcp" (--web.listen-address), "unix" (the API socket).
  http_rejected_ = &counter("syslens_http_rejected_connections_total",
                            "Connections closed at once: the connection limit was reached and every connection was "
                            "busy answering.");
  http_evicted_ = &counter("syslens_http_evicted_connections_total",
                           "Connections closed at the connection limit to make room for a new one: the one that had "
                           "waited longest for its request (idle, trickling or handshaking).");
  http_closed_ = &counter("syslens_http_closed_connections_total",
                          "Connections the server closed, by why: idle_timeout (no request within the read timeout), "
                          "request_timeout (a request begun, not finished), malformed, too_large, method, "
                          "unauthorized, tls_handshake, forbidden (a caller of the API socket outside its group). "
                          "Evictions at the connection limit are counted apart.");
  http_accept_errors_ = &counter("syslens_http_accept_errors_total",
                                 "Failed accepts (out of file descriptors); each pauses accepting for 50 ms.");
  http_open_ = &gauge("syslens_http_connections", "Open HTTP connections.");
  http_limit_ =
      &gauge("syslens_http_connection_limit", "Open HTTP connections at most (lowered to what RLIMIT_NOFILE allows).");
  seccomp_refusals_ = &counter("syslens_self_seccomp_refusals_total",
                               "Syscalls of syslensd that its own seccomp filter refused (EPERM); each is logged once.")
                           .Add({});
  overhead_family_ = &gauge("syslens_bpf_overhead_seconds_per_syscall",
                            "Time inside syslens's BPF programs per syscall in the last run-stats window (the hooks' "
                            "own cost comes on top).");
  budget_ = &gauge("syslens_overhead_budget_seconds_per_syscall",
                   "The overhead budget (overhead.budget_ns_per_syscall); 0: none.")
                 .Add({});
  degraded_ = &gauge("syslens_degraded", "1 while a feature is off to stay within the overhead budget.")
                   .Add({{"feature", "latency"}});
  sample_every_ = &gauge("syslens_latency_sample_every",
                         "Full mode: one call in this many, on average, is timed for the latency families "
                         "(bpf.latency_sample_every); counts and errors are exact. 0: count mode.")
                       .Add({});
  degradations_ =
      &counter("syslens_degradations_total", "Times a feature was turned off to stay within the overhead budget.")
           .Add({{"feature", "latency"}});
  program_runs_ = &counter("syslens_bpf_program_runs_total",
                           "Runs of each BPF program counted by the kernel while its run-time statistics were "
                           "enabled (sampled windows, see syslens_bpf_run_stats_enabled_seconds_total).");
  program_seconds_ = &counter("syslens_bpf_program_run_seconds_total",
                              "Run time of each BPF program counted by the kernel while run-time statistics were "
                              "enabled.");
  run_stats_seconds_ = &counter("syslens_bpf_run_stats_enabled_seconds_total",
                                "Time the kernel's BPF run-time statistics were enabled by syslens.")
                            .Add({});
  cache_entries_ = &gauge("syslens_cgroup_cache_entries", "cgroup id to path cache entries.").Add({});
  cache_capacity_ = &gauge("syslens_cgroup_cache_capacity", "cgroup id to path cache capacity.").Add({});
  cache_evictions_ = &counter("syslens_cgroup_cache_evictions_total",
                              "cgroup paths evicted from the full cache (raise cgroup.cache_size if this grows).")
                          .Add({});
  cache_unresolved_ = &counter("syslens_cgroup_unresolved_total",
                               "cgroup ids that could not be resolved to a path (the cgroup was already removed).")
                           .Add({});
  runtime_up_ = &gauge("syslens_runtime_up", "Whether a container runtime's API answered at its last refresh.");
  runtime_errors_ = &counter("syslens_runtime_errors_total", "Failed metadata refreshes per container runtime API.");
  metadata_entries_ = &gauge("syslens_container_metadata_entries", "Containers known from the runtimes' APIs.").Add({});
  in_grace_ = &gauge("syslens_removed_cgroups_in_grace",
                     "Removed cgroups whose final counts are still exported (cgroup.removed_grace).")
                   .Add({});
  reclaimed_cgroups_ =
      &counter("syslens_cgroups_reclaimed_total",
               "Removed cgroups whose series and kernel map entries were deleted after the grace period.")
           .Add({});
  reclaimed_entries_ =
      &counter("syslens_bpf_map_entries_reclaimed_total", "Kernel map entries deleted with removed cgroups.").Add({});
  reclaim_recovered_ = &counter("syslens_reclaim_batches_recovered_total",
                                "Reclaim batches a previous syslensd, killed in the middle of them, left in its "
                                "journal; finished at start, each logged.")
                            .Add({});
  reclaim_deferred_ = &counter("syslens_reclaim_batches_deferred_total",
                               "Reclaim batches the journal could not hold; their cgroups are reclaimed later.")
                           .Add({});
  retired_rows_ = &gauge("syslens_retired_rows",
                         "Totals of reclaimed cgroups kept so that the series that outlive them (host-wide, "
                         "(unresolved), a path created again) never go down.")
                       .Add({});
  retired_unpersisted_ = &gauge("syslens_retired_rows_unpersisted",
                                "Retired totals kept in memory only because the syslens_retired map is full: they "
                                "do not survive a restart.")
                              .Add({});
  groups_ = &gauge("syslens_workload_groups",
                   "Workload groups (owner, image, unit) whose reclaimed members' syscalls are kept for group "
                   "profiles.")
                 .Add({});
  groups_unpersisted_ = &gauge("syslens_workload_groups_unpersisted",
                               "Workload groups kept in memory only because the syslens_groups map is full: what "
                               "their past members used does not survive a restart.")
                             .Add({});
  groups_dropped_ = &counter("syslens_workload_groups_dropped_total",
                             "Members of workload groups whose syscalls were not kept for group profiles, by why: "
                             "name_too_long (256 bytes or more), full (as many new groups as the map holds already "
                             "kept in memory only).");
  pinned_ = &gauge("syslens_bpf_maps_pinned",
                   "1 while every aggregation map is pinned on the bpffs (the counts survive a restart), 0 when "
                   "pins are gone (bpffs unmounted?) or pinning is off (bpf.pin_path \"\").")
                 .Add({});
  pins_lost_ = &counter("syslens_bpf_pins_lost_total",
                        "Times the pinned maps were found gone under the running daemon; each is logged once, and "
                        "they are pinned again where the bpffs allows.")
                    .Add({});
  live_events_ = &counter("syslens_api_live_windows_total",
                          "Live windows of the API (kind: trace, processes) opened, closed, refused (one per caller "
                          "and a cap in all) and, of those closed, preempted (an anonymous caller's, for an "
                          "authorized one). Each is also logged with who and what.");
  live_open_ = &gauge("syslens_api_live_windows", "Live windows of the API open now, by kind.");
  scrape_ =
      &gauge("syslens_scrape_duration_seconds", "Time this scrape spent reading the BPF maps and building the metrics.")
           .Add({});
}

void SelfMetrics::advance(prometheus::Counter& c, double total) {
  const double by = total - c.Value();
  if (by > 0) c.Increment(by);
}

void SelfMetrics::update(const SelfSample& s) {
  for (const auto& l : s.http) {
    const prometheus::Labels by{{"listener", l.name}};
    advance(http_rejected_->Add(by), static_cast<double>(l.rejected));
    advance(http_evicted_->Add(by), static_cast<double>(l.evicted));
    advance(http_accept_errors_->Add(by), static_cast<double>(l.accept_errors));
    for (const auto& [why, n] : l.closed) {
      advance(http_closed_->Add({{"listener", l.name}, {"reason", why}}), static_cast<double>(n));
    }
    http_open_->Add(by).Set(static_cast<double>(l.open));
    http_limit_->Add(by).Set(static_cast<double>(l.limit));
  }
  advance(*seccomp_refusals_, static_cast<double>(s.seccomp_refusals));
  if (s.overhead_ns) {
    if (!overhead_) overhead_ = &overhead_family_->Add({});
    overhead_->Set(*s.overhead_ns / 1e9);
  }
  budget_->Set(s.budget_ns / 1e9);
  degraded_->Set(s.latency_degraded ? 1 : 0);
  sample_every_->Set(s.latency_sample_every);
  advance(*degradations_, static_cast<double>(s.degradations));
  if (s.programs) {
    for (const auto& p : *s.programs) {
      advance(program_runs_->Add({{"program", p.name}}), static_cast<double>(p.run_count));
      advance(program_seconds_->Add({{"program", p.name}}), static_cast<double>(p.run_time_ns) / 1e9);
    }
  }
  advance(*run_stats_seconds_, s.run_stats_seconds);
  if (s.cgroups) {
    cache_entries_->Set(static_cast<double>(s.cgroups->entries));
    cache_capacity_->Set(static_cast<double>(s.cgroups->capacity));
    advance(*cache_evictions_, static_cast<double>(s.cgroups->evictions));
    advance(*cache_unresolved_, static_cast<double>(s.cgroups->unresolved));
  }
  for (const auto& r : s.runtimes) {
    runtime_up_->Add({{"source", r.name}}).Set(r.up ? 1 : 0);
    advance(runtime_errors_->Add({{"source", r.name}}), static_cast<double>(r.errors));
  }
  metadata_entries_->Set(static_cast<double>(s.metadata_entries));
  in_grace_->Set(static_cast<double>(s.reclaim.in_grace));
  advance(*reclaimed_cgroups_, static_cast<double>(s.reclaim.cgroups_reclaimed));
  advance(*reclaimed_entries_, static_cast<double>(s.reclaim.entries_reclaimed));
  advance(*reclaim_recovered_, static_cast<double>(s.reclaim.batches_recovered));
  advance(*reclaim_deferred_, static_cast<double>(s.reclaim.batches_deferred));
  retired_rows_->Set(static_cast<double>(s.reclaim.retired_rows));
  retired_unpersisted_->Set(static_cast<double>(s.reclaim.retired_unpersisted));
  groups_->Set(static_cast<double>(s.reclaim.groups));
  groups_unpersisted_->Set(static_cast<double>(s.reclaim.groups_unpersisted));
  advance(groups_dropped_->Add({{"reason", "name_too_long"}}),
          static_cast<double>(s.reclaim.groups_dropped_name_too_long));
  advance(groups_dropped_->Add({{"reason", "full"}}), static_cast<double>(s.reclaim.groups_dropped_full));
  pinned_->Set(s.maps_pinned.value_or(false) ? 1 : 0);
  advance(*pins_lost_, static_cast<double>(s.pins_lost));
  for (const auto& l : s.live) {
    advance(live_events_->Add({{"kind", l.kind}, {"event", "opened"}}), static_cast<double>(l.opened));
    advance(live_events_->Add({{"kind", l.kind}, {"event", "closed"}}), static_cast<double>(l.closed));
    advance(live_events_->Add({{"kind", l.kind}, {"event", "refused"}}), static_cast<double>(l.refused));
    advance(live_events_->Add({{"kind", l.kind}, {"event", "preempted"}}), static_cast<double>(l.preempted));
    live_open_->Add({{"kind", l.kind}}).Set(static_cast<double>(l.open));
  }
}

}  // namespace syslens
