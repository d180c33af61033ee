// The loader: probes kernel features, loads the right program variant,
// pins the aggregation maps, attaches, and owns everything that lives as
// long as the programs do (the skeleton, the links, the new-keys ring
// buffer). Released by the destructor (RAII). Reading the maps is
// MapReader's job, the run-time controls Controls'.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "syslens/config.h"

struct syslens_bpf;  // the generated skeleton
struct syslens_cpu_slot;
struct bpf_link;
struct ring_buffer;
struct bpf_program;
struct bpf_map;

namespace syslens {

struct ProbeOptions {
  Mode mode = Mode::full;
  AttachKind attach = AttachKind::automatic;
  ThreadStore thread_store = ThreadStore::automatic;
  CurrentTask current_task = CurrentTask::automatic;
  std::string kernel_btf;  // custom BTF file; empty: /sys/kernel/btf/vmlinux
  std::uint32_t max_stats_entries = 65536;
  std::uint32_t max_errno_entries = 16384;
  std::uint32_t max_threads = 65536;
  std::uint32_t cpu_slots = 1024;  // per CPU, power of two, 0: none; capped at 32 MiB total
  // Full mode: time one call in this many on average (1: every call).
  std::uint32_t latency_sample_every = kDefaultLatencySampleEvery;
  std::string pin_path;       // bpffs directory for the aggregation maps; empty: none
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

// Sizes the readers of the maps need.
struct MapLayout {
  std::uint32_t max_stats = 0;
  std::uint32_t max_errno = 0;
  std::uint32_t max_threads = 0;
  struct syslens_cpu_slot* slots = nullptr;  // the mmap'ed per-CPU slot table, ncpus * cpu_slots entries
  std::uint32_t cpu_slots = 0;
  int ncpus = 1;
};

class Loader final {
 public:
  // open -> configure -> load -> attach, trying the variants `opts` allows in
  // order of preference. Throws FatalError(kExitKernel) when none loads.
  explicit Loader(const ProbeOptions& opts);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  AttachKind attach_kind() const { return attach_; }
  ThreadStore thread_store() const { return store_; }
  Mode mode() const { return mode_; }
  // Where the enter program takes the current task from: the context-switch
  // program (from_switch, tpbtf_enter_cur), its table by kernel stack
  // (from_stack, tpbtf_enter_stack), both Linux 6.2+, or a helper call.
  CurrentTask current_task() const { return current_; }
  // Whether the counts were carried over from a previous run's pinned maps.
  bool resumed() const { return reused_pins_ > 0; }
  const std::string& pin_dir() const { return pin_dir_; }
  // Pins can go under a running daemon (its bpffs unmounted, the pins
  // unlinked by hand), and then the counts would not survive a restart.
  // Checks that each pin still names this run's map, pins again what is
  // missing where the directory allows, and logs each change of state once.
  // True when every map is pinned (or pinning is off).
  bool check_pins();
  // How many times check_pins found pins gone.
  std::uint64_t pins_lost() const { return pins_lost_; }

  // The ring buffer of new (cgroup, syscall) keys: an epoll fd that becomes
  // readable when there are events, and a call that hands each new key's
  // cgroup id to fn.
  int new_keys_fd() const;
  void consume_new_keys(const std::function<void(std::uint64_t cgroup_id)>& fn);
  // Whether the tid hash (thread_store tid_hash) holds a record for tid.
  bool has_thread_record(std::uint32_t tid) const;

  // Full mode: one call in how many is timed while latency is on.
  std::uint32_t latency_sample_every() const { return sample_every_; }

  // For the kernel edge's other types (MapReader, Controls).
  struct ::syslens_bpf& skeleton() const {
    return *skel_;
  }
  const MapLayout& layout() const { return layout_; }

 private:
  struct SkelDeleter {
    void operator()(struct ::syslens_bpf* s) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const;
  };
  struct RingDeleter {
    void operator()(struct ring_buffer* r) const;
  };

  bool try_load(const ProbeOptions& opts, AttachKind attach, ThreadStore store, CurrentTask current, std::string& why);
  void attach_all();
  void mark_in_flight();
  void open_new_keys();
  int prepare_pins(struct ::syslens_bpf* skel);
  std::vector<::bpf_map*> pinned_maps(struct ::syslens_bpf* skel) const;

  std::unique_ptr<struct ::syslens_bpf, SkelDeleter> skel_;
  std::unique_ptr<struct ring_buffer, RingDeleter> new_keys_;
  std::function<void(std::uint64_t)> on_new_key_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  std::string pin_dir_;  // empty: maps not pinned
  std::uint32_t sample_every_ = 1;
  int reused_pins_ = 0;
  bool pins_ok_ = true;
  std::uint64_t pins_lost_ = 0;
  AttachKind attach_ = AttachKind::tp_btf;
  ThreadStore store_ = ThreadStore::task_storage;
  CurrentTask current_ = CurrentTask::helper;
  Mode mode_ = Mode::full;
  MapLayout layout_;
  std::size_t slots_bytes_ = 0;
};

}  // namespace syslens
