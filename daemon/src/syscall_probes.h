// The loader: owns the BPF skeleton, probes kernel features, loads the right
// program variant, attaches, and hands out the maps for reading. Everything
// the kernel edge owns is released by the destructor (RAII).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "syslens/collector.h"
#include "syslens/config.h"
#include "syslens/snapshot.h"

struct syslens_bpf;  // the generated skeleton
struct bpf_link;
struct ring_buffer;
struct bpf_program;

namespace syslens {

struct ProbeOptions {
  Mode mode = Mode::full;
  AttachKind attach = AttachKind::automatic;
  ThreadStore thread_store = ThreadStore::automatic;
  std::string kernel_btf;  // custom BTF file; empty: /sys/kernel/btf/vmlinux
  std::uint32_t max_stats_entries = 65536;
  std::uint32_t max_errno_entries = 16384;
  std::uint32_t max_threads = 65536;
  std::uint32_t cpu_slots = 1024;  // per CPU, power of two, 0: none; capped at 32 MiB total
  std::string pin_path;            // bpffs directory for the aggregation maps; empty: none
  int cgroup_v1_subsys = -1;  // >= 0: key by this v1 subsystem's cgroup

  static ProbeOptions from(const Config& c);
};

// Routes libbpf's messages into spdlog (once per process).
void route_libbpf_logs_to_spdlog();

// Checks the process may load BPF: CAP_BPF + CAP_PERFMON (5.8+) or
// CAP_SYS_ADMIN. Throws FatalError(kExitPrivilege).
void require_bpf_privileges();

// Checks the kernel BTF is there (or the custom file is readable and valid).
// Throws FatalError(kExitKernel).
void require_kernel_btf(const std::string& custom_path);

// After loading and attaching, syslensd needs only CAP_DAC_READ_SEARCH (cgroup
// ids by handle) and, to sample BPF run-time statistics, CAP_SYS_ADMIN;
// map reads and updates go through fds it already holds. Drops every other
// capability from the effective, permitted, inheritable, ambient and
// bounding sets, and sets no_new_privs. Returns the kept set as names.
std::vector<std::string> drop_capabilities(bool keep_sys_admin);

class SyscallProbes final : public KernelMaps {
 public:
  // open -> configure -> load -> attach, trying the variants `opts` allows in
  // order of preference. Throws FatalError(kExitKernel) when none loads.
  explicit SyscallProbes(const ProbeOptions& opts);
  ~SyscallProbes() override;
  SyscallProbes(const SyscallProbes&) = delete;
  SyscallProbes& operator=(const SyscallProbes&) = delete;

  Snapshot read() override;

  AttachKind attach_kind() const { return attach_; }
  ThreadStore thread_store() const { return store_; }
  Mode mode() const { return mode_; }
  std::vector<ProgramStats> program_stats() const;
  std::uint64_t forget_cgroups(const std::vector<std::uint64_t>& ids, const Snapshot& snap) override;
  std::vector<RetiredRow> read_retired() override;
  bool put_retired(const syslens_retired_key& key, const syslens_stats_val& val) override;
  void erase_retired(const syslens_retired_key& key) override;
  std::uint64_t retired_capacity() const override { return SYSLENS_RETIRED_MAX; }
  // The ring buffer of new (cgroup, syscall) keys: an epoll fd that becomes
  // readable when there are events, and a call that hands each new key's
  // cgroup id to fn.
  int new_keys_fd() const;
  void consume_new_keys(const std::function<void(std::uint64_t cgroup_id)>& fn);
  // One per-CPU counter of enum syslens_counter, summed.
  std::uint64_t counter(unsigned index) const;
  // Live trace (full mode only): events of these cgroups, filtered in the
  // kernel, on a ring buffer fed only between start_trace and stop_trace.
  void start_trace(const std::vector<std::uint64_t>& cgroup_ids, const syslens_trace_filter& filter);
  void stop_trace();
  int trace_fd() const;
  void consume_trace(const std::function<void(const syslens_trace_event&)>& fn);
  // Processes window: count calls per process of these cgroups until
  // stop_processes, which returns (tgid, calls, comm) and clears the counts.
  struct ProcessCount {
    std::uint32_t pid;
    std::uint64_t calls;
    std::string comm;
  };
  void start_processes(const std::vector<std::uint64_t>& cgroup_ids);
  std::vector<ProcessCount> stop_processes();
  // Whether the tid hash (thread_store tid_hash) holds a record for tid.
  bool has_thread_record(std::uint32_t tid) const;

  // Full mode: switches latency tracking (enter records, the exit and
  // context-switch programs) off and on at run time; calls are counted
  // either way. False if re-attaching failed (latency then stays off).
  bool set_latency(bool on);
  bool latency_on() const;
  // Whether the counts were carried over from a previous run's pinned maps.
  bool resumed() const { return reused_pins_ > 0; }
  const std::string& pin_dir() const { return pin_dir_; }

 private:
  struct SkelDeleter {
    void operator()(struct ::syslens_bpf* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };

  bool try_load(const ProbeOptions& opts, AttachKind attach, ThreadStore store, std::string& why);
  void attach_all();
  void open_new_keys();

  struct RingDeleter {
    void operator()(struct ring_buffer* r) const;
  };
  std::unique_ptr<struct ::syslens_bpf, SkelDeleter> skel_;
  std::unique_ptr<struct ring_buffer, RingDeleter> new_keys_;
  std::function<void(std::uint64_t)> on_new_key_;
  std::unique_ptr<struct ring_buffer, RingDeleter> trace_;
  std::function<void(const syslens_trace_event&)> on_trace_;
  std::vector<std::uint64_t> traced_;
  std::vector<std::uint64_t> counted_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> latency_links_;  // exit and context switch
  std::array<::bpf_program*, 6> latency_programs() const;
  bool is_latency_program(const ::bpf_program* prog) const;
  int prepare_pins(struct ::syslens_bpf* skel);
  std::string pin_dir_;  // empty: maps not pinned
  int reused_pins_ = 0;
  std::vector<std::string> attached_names_;
  AttachKind attach_ = AttachKind::tp_btf;
  ThreadStore store_ = ThreadStore::task_storage;
  Mode mode_ = Mode::full;
  std::uint32_t max_stats_ = 0;
  std::uint32_t max_errno_ = 0;
  std::uint32_t max_threads_ = 0;
  // Adds every used slot to stats (summing keys found in several places);
  // returns how many slots are in use.
  std::uint64_t merge_cpu_slots(std::vector<StatsRow>& stats) const;
  // The mmap'ed per-CPU slot table, ncpus_ * cpu_slots_ entries.
  struct syslens_cpu_slot* slots_ = nullptr;
  std::size_t slots_bytes_ = 0;
  std::uint32_t cpu_slots_ = 0;
  int ncpus_ = 1;
};

// Enables the kernel's BPF run-time statistics (BPF_ENABLE_STATS) while the
// object lives. They cost about 70 ns per program run, so syslensd holds one
// only for short sampled windows unless configured otherwise.
class RunStatsGuard {
 public:
  RunStatsGuard();
  ~RunStatsGuard();
  RunStatsGuard(const RunStatsGuard&) = delete;
  RunStatsGuard& operator=(const RunStatsGuard&) = delete;
  bool active() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace syslens
