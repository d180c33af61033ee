#include "syscall_probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "syslens_bpf.skel.h"
#include "syslens/errors.h"

namespace syslens {

namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

int libbpf_to_spdlog(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  if (n < 0) return n;
  std::size_t len = std::strlen(buf);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = '\0';
  if (len == 0) return n;
  switch (level) {
    case LIBBPF_WARN: spdlog::warn("libbpf: {}", buf); break;
    case LIBBPF_INFO: spdlog::debug("libbpf: {}", buf); break;
    case LIBBPF_DEBUG: spdlog::trace("libbpf: {}", buf); break;
  }
  return n;
}

// libbpf's own codes (4000+) have their own strings.
std::string errstr(int err) {
  char buf[256];
  libbpf_strerror(err < 0 ? err : -err, buf, sizeof(buf));
  return buf;
}

bool has_cap(const __user_cap_data_struct (&data)[2], int cap) {
  return (data[cap / 32].effective >> (cap % 32)) & 1U;
}

// Whether vmlinux BTF describes the raw_syscalls tracepoints for tp_btf.
bool btf_has_sys_tracepoints(const std::string& custom) {
  struct btf* btf = custom.empty() ? btf__load_vmlinux_btf() : btf__parse(custom.c_str(), nullptr);
  if (!btf) return false;
  const bool ok = btf__find_by_name_kind(btf, "btf_trace_sys_enter", BTF_KIND_TYPEDEF) > 0 &&
                  btf__find_by_name_kind(btf, "btf_trace_sys_exit", BTF_KIND_TYPEDEF) > 0;
  btf__free(btf);
  return ok;
}

// Calls fn(key, value) for every entry of a hash map. A batched read (5.6+)
// takes a few syscalls; if it fails part way, reset() discards what fn got
// and the key-by-key walk starts over.
template <typename K, typename V, typename Fn, typename Reset>
void dump_map(int fd, std::uint32_t max_entries, const Fn& fn, const Reset& reset) {
  std::uint32_t chunk = std::min<std::uint32_t>(std::max<std::uint32_t>(max_entries, 64), 4096);
  std::vector<K> keys(chunk);
  std::vector<V> vals(chunk);
  std::uint64_t in_batch = 0, out_batch = 0;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    __u32 count = chunk;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(), vals.data(), &count,
                                   &opts);
    if (err && errno != ENOENT) {
      if (errno == ENOSPC && chunk < max_entries) {
        chunk *= 2;
        keys.resize(chunk);
        vals.resize(chunk);
        continue;
      }
      spdlog::debug("batched map read failed ({}); reading key by key", errstr(errno));
      reset();
      break;
    }
    for (__u32 i = 0; i < count; ++i) fn(keys[i], vals[i]);
    if (err) return;  // ENOENT: that was the last batch
    in_batch = out_batch;
    first = false;
  }
  K key{}, next{};
  const K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    V v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) fn(next, v);
    key = next;
    prev = &key;
  }
}

}  // namespace

ProbeOptions ProbeOptions::from(const Config& c) {
  ProbeOptions o;
  o.mode = c.mode;
  o.attach = c.attach;
  o.thread_store = c.thread_store;
  o.kernel_btf = c.kernel_btf;
  o.max_stats_entries = c.max_stats_entries;
  o.max_errno_entries = c.max_errno_entries;
  o.max_threads = c.max_threads;
  o.cpu_slots = c.cpu_slots;
  o.pin_path = c.pin_path;
  return o;
}

void route_libbpf_logs_to_spdlog() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_to_spdlog); });
}

void require_bpf_privileges() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) {
    throw FatalError(kExitPrivilege, "cannot read own capabilities: " + errstr(errno));
  }
  const bool admin = has_cap(data, CAP_SYS_ADMIN);
  const bool bpf_perfmon = has_cap(data, 39 /* CAP_BPF */) && has_cap(data, 38 /* CAP_PERFMON */);
  if (!admin && !bpf_perfmon) {
    throw FatalError(kExitPrivilege,
                     "missing privileges to load BPF programs: syslensd needs CAP_BPF and CAP_PERFMON (Linux 5.8+) "
                     "or CAP_SYS_ADMIN; run it as root or grant them (see deploy/README.md)");
  }
}

void require_kernel_btf(const std::string& custom_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (custom_path.empty()) {
    if (!fs::exists(kVmlinuxBtf, ec)) {
      throw FatalError(kExitKernel,
                       "kernel has no BTF: /sys/kernel/btf/vmlinux is missing; syslens needs a kernel built with "
                       "CONFIG_DEBUG_INFO_BTF=y (Linux 5.8+), or a BTF file for this kernel set as bpf.kernel_btf");
    }
    return;
  }
  if (!fs::is_regular_file(custom_path, ec)) {
    throw FatalError(kExitKernel, "bpf.kernel_btf: " + custom_path + " is not a readable file");
  }
  // The one-line error below says it all; keep libbpf's own lines out.
  auto previous = libbpf_set_print(nullptr);
  struct btf* btf = btf__parse(custom_path.c_str(), nullptr);
  libbpf_set_print(previous);
  if (!btf) {
    throw FatalError(kExitKernel, "bpf.kernel_btf: " + custom_path + " is not valid BTF: " + errstr(errno));
  }
  btf__free(btf);
}

std::vector<std::string> drop_capabilities(bool keep_sys_admin) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) throw FatalError(kExitInternal, "capget: " + errstr(errno));
  std::vector<int> keep;
  if (has_cap(data, CAP_DAC_READ_SEARCH)) keep.push_back(CAP_DAC_READ_SEARCH);
  if (keep_sys_admin && has_cap(data, CAP_SYS_ADMIN)) keep.push_back(CAP_SYS_ADMIN);
  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes
  // with the rest below.
  for (int cap = 0; cap <= 63; ++cap) {
    if (std::find(keep.begin(), keep.end(), cap) != keep.end()) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM) {
      throw FatalError(kExitInternal, "cannot drop capability " + std::to_string(cap) + ": " + errstr(errno));
    }
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_data_struct want[2]{};
  for (int cap : keep) {
    want[cap / 32].effective |= 1U << (cap % 32);
    want[cap / 32].permitted |= 1U << (cap % 32);
  }
  if (::syscall(SYS_capset, &hdr, want) != 0) throw FatalError(kExitInternal, "capset: " + errstr(errno));
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    throw FatalError(kExitInternal, "cannot set no_new_privs: " + errstr(errno));
  }
  std::vector<std::string> names;
  for (int cap : keep) names.push_back(cap == CAP_DAC_READ_SEARCH ? "CAP_DAC_READ_SEARCH" : "CAP_SYS_ADMIN");
  return names;
}

void SyscallProbes::SkelDeleter::operator()(struct ::syslens_bpf* s) const { syslens_bpf__destroy(s); }
void SyscallProbes::RingDeleter::operator()(struct ring_buffer* r) const { ring_buffer__free(r); }
void SyscallProbes::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;

bool on_bpffs(const std::string& dir) {
  struct statfs st {};
  return ::statfs(dir.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kBpfFsMagic;
}

// The directory for pinned maps, on a bpffs (mounted at /sys/fs/bpf when
// nothing is, as systemd does on most hosts). Empty when not possible.
std::string pin_directory(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string parent = fs::path(path).parent_path().string();
  if (!on_bpffs(parent) && parent == "/sys/fs/bpf" &&
      ::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
    spdlog::warn("no bpffs at /sys/fs/bpf and mounting one failed ({}): counts will not survive a restart",
                 errstr(errno));
    return {};
  }
  if (!on_bpffs(parent)) {
    spdlog::warn("bpf.pin_path {}: {} is not on a bpffs: counts will not survive a restart", path, parent);
    return {};
  }
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    spdlog::warn("bpf.pin_path {}: {}: counts will not survive a restart", path, errstr(errno));
    return {};
  }
  return path;
}

}  // namespace

// The maps whose contents are the counts: pinned, so a restart re-attaches
// to them. If any pinned map no longer fits (another size or layout after an
// upgrade or a config change), they all start from zero: a partial carry-over
// would make some counts go down.
int SyscallProbes::prepare_pins(struct ::syslens_bpf* skel) {
  auto& m = skel->maps;
  const std::vector<struct bpf_map*> maps = {m.syslens_stats,    m.syslens_errors,    m.syslens_overflow,
                                             m.syslens_counters, m.syslens_cpu_slots, m.syslens_retired};
  auto path_of = [&](struct bpf_map* map) { return pin_dir_ + "/" + bpf_map__name(map); };
  int found = 0;
  std::string misfit;
  for (auto* map : maps) {
    const int fd = bpf_obj_get(path_of(map).c_str());
    if (fd < 0) continue;
    ++found;
    struct bpf_map_info info {};
    __u32 len = sizeof(info);
    const bool same = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == bpf_map__type(map) &&
                      info.key_size == bpf_map__key_size(map) && info.value_size == bpf_map__value_size(map) &&
                      info.max_entries == bpf_map__max_entries(map) && info.map_flags == bpf_map__map_flags(map);
    ::close(fd);
    if (!same && misfit.empty()) {
      misfit = std::string(bpf_map__name(map)) + " (" + std::to_string(info.max_entries) + " x " +
               std::to_string(info.key_size) + "+" + std::to_string(info.value_size) + " bytes, now " +
               std::to_string(bpf_map__max_entries(map)) + " x " + std::to_string(bpf_map__key_size(map)) + "+" +
               std::to_string(bpf_map__value_size(map)) + ")";
    }
  }
  if (!misfit.empty() || (found > 0 && found < static_cast<int>(maps.size()))) {
    spdlog::warn("pinned maps in {} do not fit this configuration or version{}: all counts start from zero", pin_dir_,
                 misfit.empty() ? " (some are missing)" : ": " + misfit);
    for (auto* map : maps) ::unlink(path_of(map).c_str());
    found = 0;
  }
  reused_pins_ = found;
  for (auto* map : maps) {
    if (int err = bpf_map__set_pin_path(map, path_of(map).c_str()); err) return err;
  }
  return 0;
}

SyscallProbes::SyscallProbes(const ProbeOptions& opts) : mode_(opts.mode) {
  route_libbpf_logs_to_spdlog();
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ <= 0) throw FatalError(kExitKernel, "cannot count possible CPUs: " + errstr(ncpus_));
  if (!opts.pin_path.empty()) pin_dir_ = pin_directory(opts.pin_path);

  std::vector<AttachKind> attaches;
  if (opts.attach != AttachKind::raw_tp) {
    if (opts.attach == AttachKind::tp_btf || btf_has_sys_tracepoints(opts.kernel_btf)) {
      attaches.push_back(AttachKind::tp_btf);
    } else {
      spdlog::info("kernel BTF has no btf_trace_sys_enter: using raw_tp");
    }
  }
  if (opts.attach != AttachKind::tp_btf) attaches.push_back(AttachKind::raw_tp);

  std::vector<ThreadStore> stores;
  const bool task_storage_ok = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) == 1;
  if (opts.thread_store != ThreadStore::tid_hash) {
    if (opts.thread_store == ThreadStore::task_storage || task_storage_ok) {
      stores.push_back(ThreadStore::task_storage);
    } else {
      spdlog::info("kernel lacks BPF task storage (Linux 5.11+): keeping enter records in a tid hash");
    }
  }
  if (opts.thread_store != ThreadStore::task_storage) stores.push_back(ThreadStore::tid_hash);

  std::string failures;
  for (auto a : attaches) {
    for (auto s : stores) {
      std::string why;
      if (try_load(opts, a, s, why)) {
        open_new_keys();
        attach_all();
        spdlog::info("BPF programs attached: mode={} attach={} thread_store={}", to_string(mode_), to_string(attach_),
                     mode_ == Mode::full ? to_string(store_) : "none");
        if (!pin_dir_.empty()) {
          spdlog::info("aggregation maps pinned in {}: {}", pin_dir_,
                       reused_pins_ ? "counts carried over from the previous run" : "starting from zero");
        }
        return;
      }
      spdlog::warn("loading {} programs with {} failed: {}", to_string(a), to_string(s), why);
      failures += std::string(failures.empty() ? "" : "; ") + std::string(to_string(a)) + "/" +
                  std::string(to_string(s)) + ": " + why;
    }
  }
  throw FatalError(kExitKernel, "cannot load the BPF programs on this kernel (" + failures + ")");
}

SyscallProbes::~SyscallProbes() {
  latency_links_.clear();  // detach before the programs and maps go
  links_.clear();
  new_keys_.reset();
  trace_.reset();
  if (slots_) ::munmap(slots_, slots_bytes_);
  skel_.reset();
}

int SyscallProbes::new_keys_fd() const { return new_keys_ ? ring_buffer__epoll_fd(new_keys_.get()) : -1; }

void SyscallProbes::consume_new_keys(const std::function<void(std::uint64_t)>& fn) {
  if (!new_keys_) return;
  on_new_key_ = fn;
  ring_buffer__consume(new_keys_.get());
  on_new_key_ = nullptr;
}

bool SyscallProbes::try_load(const ProbeOptions& opts, AttachKind attach, ThreadStore store, std::string& why) {
  LIBBPF_OPTS(bpf_object_open_opts, oopts);
  if (!opts.kernel_btf.empty()) oopts.btf_custom_path = opts.kernel_btf.c_str();
  std::unique_ptr<struct ::syslens_bpf, SkelDeleter> skel(syslens_bpf__open_opts(&oopts));
  if (!skel) {
    why = "open: " + errstr(errno);
    return false;
  }
  const bool full = opts.mode == Mode::full;
  const bool tp = attach == AttachKind::tp_btf;
  const bool task = store == ThreadStore::task_storage;
  skel->rodata->track_latency = full;
  skel->rodata->cgroup_v1_subsys = opts.cgroup_v1_subsys;

  struct bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) { bpf_program__set_autoload(prog, false); }
  auto& p = skel->progs;
  bpf_program__set_autoload(tp ? (task ? p.tpbtf_enter_task : p.tpbtf_enter_tid)
                               : (task ? p.rawtp_enter_task : p.rawtp_enter_tid),
                            true);
  if (full) {
    bpf_program__set_autoload(tp ? (task ? p.tpbtf_exit_task : p.tpbtf_exit_tid)
                                 : (task ? p.rawtp_exit_task : p.rawtp_exit_tid),
                              true);
    if (!task) bpf_program__set_autoload(tp ? p.tpbtf_thread_exit : p.rawtp_thread_exit, true);
    if (task) bpf_program__set_autoload(tp ? p.tpbtf_switch_task : p.rawtp_switch_task, true);
  }

  auto& m = skel->maps;
  int err = bpf_map__set_max_entries(m.syslens_stats, opts.max_stats_entries);
  if (!err) err = bpf_map__set_max_entries(m.syslens_errors, opts.max_errno_entries);
  if (!err) err = bpf_map__set_max_entries(m.syslens_tid_rec, (full && !task) ? opts.max_threads : 1);
  if (!err && !task) err = bpf_map__set_autocreate(m.syslens_task_rec, false);
  if (!err) err = bpf_map__set_max_entries(m.syslens_cpu_recs, (full && task) ? static_cast<std::uint32_t>(ncpus_) : 1);
  // The slot table is capped at 32 MiB: fewer entries per CPU on big machines.
  std::uint32_t slots = opts.cpu_slots;
  while (slots > 16 && std::uint64_t{slots} * static_cast<std::uint64_t>(ncpus_) * sizeof(syslens_cpu_slot) > (32U << 20)) {
    slots /= 2;
  }
  if (slots != opts.cpu_slots) spdlog::info("bpf.cpu_slots lowered from {} to {} for {} CPUs", opts.cpu_slots, slots, ncpus_);
  skel->rodata->cpu_slots = slots;
  if (!err) err = bpf_map__set_max_entries(m.syslens_cpu_slots, std::max<std::uint32_t>(1, slots * static_cast<std::uint32_t>(ncpus_)));
  if (!err && !pin_dir_.empty()) err = prepare_pins(skel.get());
  if (err) {
    why = "configure: " + errstr(err);
    return false;
  }
  err = syslens_bpf__load(skel.get());
  if (err) {
    why = "load: " + errstr(err) + " (run with --log.level=debug for the verifier log)";
    return false;
  }
  if (slots > 0) {
    const std::size_t bytes = std::size_t{slots} * static_cast<std::size_t>(ncpus_) * sizeof(syslens_cpu_slot);
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m.syslens_cpu_slots), 0);
    if (mem == MAP_FAILED) {
      why = "mmap the per-CPU slot table: " + errstr(errno);
      return false;
    }
    slots_ = static_cast<syslens_cpu_slot*>(mem);
    slots_bytes_ = bytes;
  }
  cpu_slots_ = slots;
  skel_ = std::move(skel);
  attach_ = attach;
  store_ = store;
  max_stats_ = opts.max_stats_entries;
  max_errno_ = opts.max_errno_entries;
  max_threads_ = opts.max_threads;
  return true;
}

void SyscallProbes::open_new_keys() {
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<SyscallProbes*>(ctx);
    std::uint64_t id = 0;
    if (size >= sizeof(id) && self->on_new_key_) {
      std::memcpy(&id, data, sizeof(id));
      self->on_new_key_(id);
    }
    return 0;
  };
  new_keys_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.syslens_new_keys), cb, this, nullptr));
  if (!new_keys_) spdlog::warn("cannot open the new-key ring buffer: {}; short-lived cgroups may go unnamed", errstr(errno));
  auto tcb = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<SyscallProbes*>(ctx);
    if (size >= sizeof(syslens_trace_event) && self->on_trace_) {
      syslens_trace_event e;
      std::memcpy(&e, data, sizeof(e));
      self->on_trace_(e);
    }
    return 0;
  };
  trace_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.syslens_trace_events), tcb, this, nullptr));
  if (!trace_) spdlog::warn("cannot open the trace ring buffer: {}; live traces unavailable", errstr(errno));
}

std::uint64_t SyscallProbes::counter(unsigned index) const {
  std::vector<std::uint64_t> percpu(static_cast<std::size_t>(ncpus_));
  __u32 key = index;
  std::uint64_t sum = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.syslens_counters), &key, percpu.data()) == 0) {
    for (auto v : percpu) sum += v;
  }
  return sum;
}

namespace {

// The cgroup sets of the trace and processes windows (small hashes the BPF
// programs consult only while their .bss switch is on).
void fill_cgroup_set(struct bpf_map* map, const std::vector<std::uint64_t>& ids, std::vector<std::uint64_t>& added) {
  const int fd = bpf_map__fd(map);
  const __u8 one = 1;
  for (auto id : ids) {
    if (added.size() >= SYSLENS_TRACE_MAX_CGROUPS) break;
    if (bpf_map_update_elem(fd, &id, &one, BPF_ANY) == 0) added.push_back(id);
  }
}

void clear_cgroup_set(struct bpf_map* map, std::vector<std::uint64_t>& added) {
  const int fd = bpf_map__fd(map);
  for (auto id : added) bpf_map_delete_elem(fd, &id);
  added.clear();
}

}  // namespace

void SyscallProbes::start_trace(const std::vector<std::uint64_t>& ids, const syslens_trace_filter& filter) {
  stop_trace();
  fill_cgroup_set(skel_->maps.syslens_trace_cgroups, ids, traced_);
  std::memcpy(const_cast<syslens_trace_filter*>(&skel_->bss->trace_filter), &filter, sizeof(filter));
  __atomic_store_n(&skel_->bss->trace_active, 1U, __ATOMIC_RELEASE);
}

void SyscallProbes::stop_trace() {
  __atomic_store_n(&skel_->bss->trace_active, 0U, __ATOMIC_RELEASE);
  clear_cgroup_set(skel_->maps.syslens_trace_cgroups, traced_);
}

void SyscallProbes::start_processes(const std::vector<std::uint64_t>& ids) {
  stop_processes();
  fill_cgroup_set(skel_->maps.syslens_proc_cgroups, ids, counted_);
  __atomic_store_n(&skel_->bss->procs_active, 1U, __ATOMIC_RELEASE);
}

std::vector<SyscallProbes::ProcessCount> SyscallProbes::stop_processes() {
  __atomic_store_n(&skel_->bss->procs_active, 0U, __ATOMIC_RELEASE);
  clear_cgroup_set(skel_->maps.syslens_proc_cgroups, counted_);
  std::vector<ProcessCount> out;
  const int fd = bpf_map__fd(skel_->maps.syslens_proc_counts);
  std::vector<__u32> keys;
  dump_map<__u32, syslens_proc_count>(
      fd, SYSLENS_PROC_MAX,
      [&](const __u32& pid, const syslens_proc_count& c) {
        out.push_back({pid, c.calls, std::string(c.comm, strnlen(c.comm, sizeof(c.comm)))});
        keys.push_back(pid);
      },
      [&] {
        out.clear();
        keys.clear();
      });
  for (auto k : keys) bpf_map_delete_elem(fd, &k);
  return out;
}

int SyscallProbes::trace_fd() const { return trace_ ? ring_buffer__epoll_fd(trace_.get()) : -1; }

void SyscallProbes::consume_trace(const std::function<void(const syslens_trace_event&)>& fn) {
  if (!trace_) return;
  on_trace_ = fn;
  ring_buffer__consume(trace_.get());
  on_trace_ = nullptr;
}

void SyscallProbes::attach_all() {
  // Exit before enter: a call in flight at attach time then shows up as
  // exit_without_enter, never as a stale enter record. The context-switch
  // program goes first: without it a blocked call's record could be lost.
  std::vector<struct bpf_program*> order;
  auto& p = skel_->progs;
  for (auto* prog : {p.tpbtf_switch_task, p.rawtp_switch_task, p.tpbtf_thread_exit, p.rawtp_thread_exit, p.tpbtf_exit_task, p.tpbtf_exit_tid, p.rawtp_exit_task,
                     p.rawtp_exit_tid, p.tpbtf_enter_task, p.tpbtf_enter_tid, p.rawtp_enter_task, p.rawtp_enter_tid}) {
    if (bpf_program__autoload(prog)) order.push_back(prog);
  }
  for (auto* prog : order) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      const int e = errno;
      latency_links_.clear();
      links_.clear();
      throw FatalError(kExitKernel,
                       std::string("cannot attach BPF program ") + bpf_program__name(prog) + ": " + errstr(e));
    }
    (is_latency_program(prog) ? latency_links_ : links_).emplace_back(link);
    attached_names_.emplace_back(bpf_program__name(prog));
  }
}

// The programs of latency tracking (exit and context switch): what goes off
// and comes back with set_latency().
std::array<struct bpf_program*, 6> SyscallProbes::latency_programs() const {
  const auto& p = skel_->progs;
  return {p.tpbtf_switch_task, p.rawtp_switch_task, p.tpbtf_exit_task, p.tpbtf_exit_tid, p.rawtp_exit_task,
          p.rawtp_exit_tid};
}

bool SyscallProbes::is_latency_program(const ::bpf_program* prog) const {
  const auto all = latency_programs();
  return std::find(all.begin(), all.end(), prog) != all.end();
}

bool SyscallProbes::set_latency(bool on) {
  if (mode_ != Mode::full || on == latency_on()) return true;
  auto* bss = skel_->bss;
  if (!on) {
    bss->latency_off = 1;  // enter stops writing records first
    latency_links_.clear();
    return true;
  }
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  for (auto* prog : latency_programs()) {
    if (!bpf_program__autoload(prog)) continue;
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      spdlog::warn("cannot re-attach {}: {}; latency tracking stays off", bpf_program__name(prog), errstr(errno));
      return false;
    }
    links.emplace_back(link);
  }
  latency_links_ = std::move(links);
  // Records written before latency went off belong to calls long returned.
  bss->latency_gen = bss->latency_gen + 1;
  bss->latency_off = 0;
  return true;
}

bool SyscallProbes::latency_on() const { return mode_ == Mode::full && skel_->bss->latency_off == 0; }

Snapshot SyscallProbes::read() {
  Snapshot s;
  auto& m = skel_->maps;

  std::vector<std::uint64_t> percpu(static_cast<std::size_t>(ncpus_));
  const int cnt_fd = bpf_map__fd(m.syslens_counters);
  for (__u32 i = 0; i < SYSLENS_CNT__MAX; ++i) {
    if (bpf_map_lookup_elem(cnt_fd, &i, percpu.data()) == 0) {
      for (auto v : percpu) s.counters[i] += v;
    }
  }

  s.stats.reserve(std::min<std::uint32_t>(max_stats_, 1U << 16));
  dump_map<syslens_stats_key, syslens_stats_val>(
      bpf_map__fd(m.syslens_stats), max_stats_,
      [&](const syslens_stats_key& k, const syslens_stats_val& v) { s.stats.push_back({k, v}); },
      [&] { s.stats.clear(); });
  dump_map<syslens_errno_key, std::uint64_t>(
      bpf_map__fd(m.syslens_errors), max_errno_,
      [&](const syslens_errno_key& k, const std::uint64_t& v) { s.errors.push_back({k, v}); },
      [&] { s.errors.clear(); });

  // The overflow rows only fill once the stats map has been full.
  if (s.counters[SYSLENS_CNT_STATS_MAP_FULL] > 0) {
    dump_map<__u32, syslens_stats_val>(bpf_map__fd(m.syslens_overflow), 2 * SYSLENS_OVERFLOW_NR_MAX,
                                       [&](const __u32& row, const syslens_stats_val& v) {
                                         if (v.calls == 0 && v.returns == 0) return;
                                         syslens_stats_key k{};
                                         k.abi = row >= SYSLENS_OVERFLOW_NR_MAX ? SYSLENS_ABI_COMPAT : 0;
                                         k.nr = row % SYSLENS_OVERFLOW_NR_MAX;
                                         s.overflow.push_back({k, v});
                                       },
                                       [&] { s.overflow.clear(); });
  }
  s.fill.push_back({"syslens_stats", s.stats.size(), max_stats_});
  if (slots_) s.fill.push_back({"syslens_cpu_slots", merge_cpu_slots(s.stats), std::uint64_t{cpu_slots_} * ncpus_});
  s.fill.push_back({"syslens_errors", s.errors.size(), max_errno_});
  if (mode_ == Mode::full && store_ == ThreadStore::tid_hash) {
    std::uint64_t threads = 0;
    __u32 key = 0, next = 0;
    const __u32* prev = nullptr;
    const int fd = bpf_map__fd(m.syslens_tid_rec);
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      ++threads;
      key = next;
      prev = &key;
    }
    s.fill.push_back({"syslens_tid_rec", threads, max_threads_});
  }
  return s;
}

std::uint64_t SyscallProbes::forget_cgroups(const std::vector<std::uint64_t>& ids, const Snapshot& snap) {
  std::unordered_set<std::uint64_t> gone(ids.begin(), ids.end());
  std::uint64_t deleted = 0;
  const int stats_fd = bpf_map__fd(skel_->maps.syslens_stats);
  const int errors_fd = bpf_map__fd(skel_->maps.syslens_errors);
  for (const auto& r : snap.stats) {
    if (gone.count(r.key.cgroup_id) && bpf_map_delete_elem(stats_fd, &r.key) == 0) ++deleted;
  }
  for (const auto& r : snap.errors) {
    if (gone.count(r.key.cgroup_id) && bpf_map_delete_elem(errors_fd, &r.key) == 0) ++deleted;
  }
  // A slot of a removed cgroup has no writer left: zero its counts, then
  // free it (id last), so a CPU that claims it next starts from zero.
  const std::size_t n = std::size_t{cpu_slots_} * static_cast<std::size_t>(ncpus_);
  for (std::size_t i = 0; slots_ && i < n; ++i) {
    auto& e = slots_[i];
    const auto id = __atomic_load_n(&e.key.cgroup_id, __ATOMIC_ACQUIRE);
    if (id == 0 || !gone.count(id)) continue;
    std::memset(&e.val, 0, sizeof(e.val));
    __atomic_store_n(&e.key.cgroup_id, std::uint64_t{0}, __ATOMIC_RELEASE);
    ++deleted;
  }
  return deleted;
}

std::vector<RetiredRow> SyscallProbes::read_retired() {
  std::vector<RetiredRow> out;
  dump_map<syslens_retired_key, syslens_stats_val>(
      bpf_map__fd(skel_->maps.syslens_retired), SYSLENS_RETIRED_MAX,
      [&](const syslens_retired_key& k, const syslens_stats_val& v) { out.push_back({k, v}); }, [&] { out.clear(); });
  return out;
}

bool SyscallProbes::put_retired(const syslens_retired_key& key, const syslens_stats_val& val) {
  return bpf_map_update_elem(bpf_map__fd(skel_->maps.syslens_retired), &key, &val, BPF_ANY) == 0;
}

void SyscallProbes::erase_retired(const syslens_retired_key& key) {
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.syslens_retired), &key);
}

std::uint64_t SyscallProbes::merge_cpu_slots(std::vector<StatsRow>& stats) const {
  // A key lives in any CPU's slot and in the shared hash: sum them all.
  struct KeyHash {
    std::size_t operator()(const syslens_stats_key& k) const {
      return std::hash<std::uint64_t>{}(k.cgroup_id * 0x9E3779B97F4A7C15ULL ^ (std::uint64_t{k.nr} << 1 | k.abi));
    }
  };
  struct KeyEq {
    bool operator()(const syslens_stats_key& a, const syslens_stats_key& b) const {
      return a.cgroup_id == b.cgroup_id && a.nr == b.nr && a.abi == b.abi;
    }
  };
  // The slots are few (cpu_slots per CPU), the hash's rows many: sum the
  // slots per key in a small table, then walk the rows once.
  std::unordered_map<syslens_stats_key, syslens_stats_val, KeyHash, KeyEq> slotted;
  std::uint64_t used = 0;
  const std::size_t n = std::size_t{cpu_slots_} * static_cast<std::size_t>(ncpus_);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& e = slots_[i];
    syslens_stats_key k{};
    k.cgroup_id = __atomic_load_n(&e.key.cgroup_id, __ATOMIC_ACQUIRE);  // written last by BPF
    if (k.cgroup_id == 0) continue;
    ++used;
    k.nr = e.key.nr;
    k.abi = e.key.abi;
    syslens_stats_val v;
    std::memcpy(&v, &e.val, sizeof(v));  // counters only grow: a racing read is just a little early
    auto [it, fresh] = slotted.try_emplace(k, v);
    if (!fresh) add_counts(it->second, v);
  }
  if (slotted.empty()) return used;
  for (auto& row : stats) {
    auto it = slotted.find(row.key);
    if (it == slotted.end()) continue;
    add_counts(row.val, it->second);
    slotted.erase(it);
  }
  for (const auto& [k, v] : slotted) stats.push_back({k, v});
  return used;
}

bool SyscallProbes::has_thread_record(std::uint32_t tid) const {
  syslens_enter_rec rec{};
  return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.syslens_tid_rec), &tid, &rec) == 0;
}

std::vector<ProgramStats> SyscallProbes::program_stats() const {
  std::vector<ProgramStats> out;
  struct bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    if (!bpf_program__autoload(prog)) continue;
    struct bpf_prog_info info {};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0) continue;
    out.push_back({bpf_program__name(prog), info.run_cnt, info.run_time_ns});
  }
  return out;
}

RunStatsGuard::RunStatsGuard() {
  fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd_ < 0) spdlog::warn("cannot enable BPF run-time statistics: {}", errstr(errno));
}

RunStatsGuard::~RunStatsGuard() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace syslens
