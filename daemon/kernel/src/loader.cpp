#include "syslens/kernel/loader.h"

#include <bpf/btf.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>

#include "bpf_internal.h"
#include "syslens/errors.h"
#include "syslens/kernel/overhead.h"

namespace syslens {

using bpf_detail::errstr;

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
    case LIBBPF_WARN:
      spdlog::warn("libbpf: {}", buf);
      break;
    case LIBBPF_INFO:
      spdlog::debug("libbpf: {}", buf);
      break;
    case LIBBPF_DEBUG:
      spdlog::trace("libbpf: {}", buf);
      break;
  }
  return n;
}

bool has_cap(const __user_cap_data_struct (&data)[2], int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1U; }

// What the kernel's BTF (or bpf.kernel_btf) offers the programs, read once.
struct KernelBtf {
  bool sys_tracepoints = false;  // btf_trace_sys_enter/exit: tp_btf works
  bool rdonly_cast = false;      // bpf_rdonly_cast (6.2+): tpbtf_enter_cur works
};

KernelBtf probe_kernel_btf(const std::string& custom) {
  KernelBtf k;
  struct btf* btf = custom.empty() ? btf__load_vmlinux_btf() : btf__parse(custom.c_str(), nullptr);
  if (!btf) return k;
  k.sys_tracepoints = btf__find_by_name_kind(btf, "btf_trace_sys_enter", BTF_KIND_TYPEDEF) > 0 &&
                      btf__find_by_name_kind(btf, "btf_trace_sys_exit", BTF_KIND_TYPEDEF) > 0;
  // libbpf resolves a kfunc against the running kernel's own BTF, never a
  // bpf.kernel_btf file (a kernel that needs one has none): then the helper.
  k.rdonly_cast = custom.empty() && btf__find_by_name_kind(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
  btf__free(btf);
  return k;
}

}  // namespace

ProbeOptions ProbeOptions::from(const Config& c) {
  ProbeOptions o;
  o.mode = c.mode;
  o.attach = c.attach;
  o.thread_store = c.thread_store;
  o.current_task = c.current_task;
  o.kernel_btf = c.kernel_btf;
  o.max_stats_entries = c.max_stats_entries;
  o.max_errno_entries = c.max_errno_entries;
  o.max_threads = c.max_threads;
  o.cpu_slots = c.cpu_slots;
  o.latency_sample_every = c.latency_sample_every;
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
  names.reserve(keep.size());
  for (int cap : keep) names.push_back(cap == CAP_DAC_READ_SEARCH ? "CAP_DAC_READ_SEARCH" : "CAP_SYS_ADMIN");
  return names;
}

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
  if (!on_bpffs(parent) && parent == "/sys/fs/bpf" && ::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
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

// The maps whose contents are the counts, and the reclaim journal that keeps
// them consistent: pinned, so a restart re-attaches to them. If any pinned
// map no longer fits (another size or layout after an upgrade or a config
// change), they all start from zero: a partial carry-over would make some
// counts go down. The maps added since pins first existed come last: pins
// from before them miss them, and that is no misfit (no denial was counted,
// no batch was in flight, no workload group named).
std::vector<::bpf_map*> Loader::pinned_maps(struct ::syslens_bpf* skel) const {
  auto& m = skel->maps;
  return {m.syslens_stats,       m.syslens_errors,       m.syslens_overflow, m.syslens_counters,
          m.syslens_cpu_slots,   m.syslens_retired,      m.syslens_denied,   m.syslens_reclaim_state,
          m.syslens_reclaim_ids, m.syslens_reclaim_undo, m.syslens_groups};
}

namespace {
constexpr int kAddedMaps = 5;  // the last of pinned_maps(): added since pins first existed
}  // namespace

int Loader::prepare_pins(struct ::syslens_bpf* skel) {
  const auto maps = pinned_maps(skel);
  auto path_of = [&](struct bpf_map* map) { return pin_dir_ + "/" + bpf_map__name(map); };
  int found = 0;
  int found_counts = 0;  // of the maps before the journal's
  std::string misfit;
  for (std::size_t i = 0; i < maps.size(); ++i) {
    auto* map = maps[i];
    const int fd = bpf_obj_get(path_of(map).c_str());
    if (fd < 0) continue;
    ++found;
    if (i + kAddedMaps < maps.size()) ++found_counts;
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
  const int counts = static_cast<int>(maps.size()) - kAddedMaps;
  if (!misfit.empty() || (found > 0 && found_counts < counts)) {
    spdlog::warn("pinned maps in {} do not fit this configuration or version{}: all counts start from zero", pin_dir_,
                 misfit.empty() ? " (some are missing)" : ": " + misfit);
    for (auto* map : maps) ::unlink(path_of(map).c_str());
    found_counts = 0;
  }
  reused_pins_ = found_counts;
  for (auto* map : maps) {
    if (int err = bpf_map__set_pin_path(map, path_of(map).c_str()); err) return err;
  }
  return 0;
}

namespace {

std::optional<__u32> map_id(int fd) {
  struct bpf_map_info info {};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return std::nullopt;
  return info.id;
}

}  // namespace

bool Loader::check_pins() {
  if (pin_dir_.empty() || !skel_) return true;
  std::string why;  // the first reason a map is not pinned now
  int repinned = 0;
  for (auto* map : pinned_maps(skel_.get())) {
    const std::string path = pin_dir_ + "/" + bpf_map__name(map);
    if (const int fd = bpf_obj_get(path.c_str()); fd >= 0) {
      const bool ours = map_id(fd) == map_id(bpf_map__fd(map));
      ::close(fd);
      // Another map under our name (another syslensd's) is left alone.
      if (!ours && why.empty()) why = path + " is another map";
      continue;
    }
    // Gone: pinned again if the directory is (again) on a bpffs.
    const std::string parent = std::filesystem::path(pin_dir_).parent_path().string();
    if (!on_bpffs(pin_dir_) && on_bpffs(parent)) ::mkdir(pin_dir_.c_str(), 0700);
    if (!on_bpffs(pin_dir_)) {
      if (why.empty()) why = pin_dir_ + " is not on a bpffs (unmounted?)";
    } else if (bpf_obj_pin(bpf_map__fd(map), path.c_str()) == 0) {
      ++repinned;
    } else if (why.empty()) {
      why = "pinning " + path + ": " + errstr(errno);
    }
  }
  const bool ok = why.empty();
  if ((!ok || repinned > 0) && pins_ok_) ++pins_lost_;
  if (!ok && pins_ok_) {
    spdlog::warn("pinned maps in {} are gone ({}): counts will not survive a restart until they are pinned again",
                 pin_dir_, why);
  } else if (ok && !pins_ok_) {
    spdlog::info("maps pinned again in {}", pin_dir_);
  } else if (ok && repinned > 0) {
    spdlog::warn("pinned maps in {} were gone: pinned again", pin_dir_);
  }
  pins_ok_ = ok;
  return ok;
}

Loader::Loader(const ProbeOptions& opts) : mode_(opts.mode) {
  route_libbpf_logs_to_spdlog();
  layout_.ncpus = libbpf_num_possible_cpus();
  if (layout_.ncpus <= 0) throw FatalError(kExitKernel, "cannot count possible CPUs: " + errstr(layout_.ncpus));
  if (!opts.pin_path.empty()) pin_dir_ = pin_directory(opts.pin_path);

  const KernelBtf btf = probe_kernel_btf(opts.kernel_btf);
  std::vector<AttachKind> attaches;
  if (opts.attach != AttachKind::raw_tp) {
    if (opts.attach == AttachKind::tp_btf || btf.sys_tracepoints) {
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

  // On tp_btf with task storage, where the kernel allows it (6.2+), the
  // enter program takes the current task without a helper call: in full
  // mode from the context-switch program it has anyway, in count-only from
  // a table by kernel stack (adding a context-switch program there would
  // cost every switch of the host the hook's price). Else, or if that fails
  // to load, it asks a helper (bpf.current_task; docs/design.md has the
  // measurements).
  CurrentTask want = opts.current_task;
  if (want == CurrentTask::automatic)
    want = opts.mode == Mode::full ? CurrentTask::from_switch : CurrentTask::from_stack;
  if (want != CurrentTask::helper && !btf.rdonly_cast) {
    if (opts.current_task != CurrentTask::automatic) {
      spdlog::info(
          "bpf.current_task is {}, but the kernel offers no bpf_rdonly_cast (Linux 6.2+; never with "
          "bpf.kernel_btf): asking a helper",
          to_string(opts.current_task));
    }
    want = CurrentTask::helper;
  }
  std::string failures;
  for (auto a : attaches) {
    for (auto s : stores) {
      const bool can_skip_helper =
          want != CurrentTask::helper && a == AttachKind::tp_btf && s == ThreadStore::task_storage;
      std::string why;
      if ((can_skip_helper && try_load(opts, a, s, want, why)) || try_load(opts, a, s, CurrentTask::helper, why)) {
        open_new_keys();
        attach_all();
        spdlog::info("BPF programs attached: mode={} attach={} thread_store={} current_task={}", to_string(mode_),
                     to_string(attach_), mode_ == Mode::full ? to_string(store_) : "none", to_string(current_));
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

Loader::~Loader() {
  // Detach before the programs and maps go, in the reverse of attach_all's
  // order: the enter program before the context-switch program it takes the
  // current task from.
  while (!links_.empty()) links_.pop_back();
  new_keys_.reset();
  if (layout_.slots) ::munmap(layout_.slots, slots_bytes_);
  skel_.reset();
}

int Loader::new_keys_fd() const { return new_keys_ ? ring_buffer__epoll_fd(new_keys_.get()) : -1; }

void Loader::consume_new_keys(const std::function<void(std::uint64_t)>& fn) {
  if (!new_keys_) return;
  on_new_key_ = fn;
  ring_buffer__consume(new_keys_.get());
  on_new_key_ = nullptr;
}

bool Loader::try_load(const ProbeOptions& opts, AttachKind attach, ThreadStore store, CurrentTask current,
                      std::string& why) {
  LIBBPF_OPTS(bpf_object_open_opts, oopts);
  if (!opts.kernel_btf.empty()) oopts.btf_custom_path = opts.kernel_btf.c_str();
  // syslens_bpf__open_opts(), on the syslens_bpf_cast object's bytes when
  // the enter finds the current task without the helper.
  const bool cast = current != CurrentTask::helper;
  std::unique_ptr<struct ::syslens_bpf, SkelDeleter> skel(
      static_cast<struct ::syslens_bpf*>(std::calloc(1, sizeof(struct ::syslens_bpf))));
  if (!skel) {
    why = "open: out of memory";
    return false;
  }
  int err = syslens_bpf__create_skeleton(skel.get());
  if (!err && cast) {
    std::size_t size = 0;
    skel->skeleton->data = const_cast<void*>(bpf_detail::cast_object_bytes(&size));
    skel->skeleton->data_sz = size;
  }
  if (!err) err = bpf_object__open_skeleton(skel->skeleton, &oopts);
  if (err) {
    why = "open: " + errstr(err);
    return false;
  }
  const bool full = opts.mode == Mode::full;
  const bool tp = attach == AttachKind::tp_btf;
  const bool task = store == ThreadStore::task_storage;
  skel->rodata->track_latency = full;
  skel->data->sample_below = latency_sample_threshold(opts.latency_sample_every);
  skel->rodata->cgroup_v1_subsys = opts.cgroup_v1_subsys;

  struct bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) { bpf_program__set_autoload(prog, false); }
  auto& p = skel->progs;
  if (current == CurrentTask::from_switch) {
    bpf_program__set_autoload(p.tpbtf_enter_cur, true);
    if (!full) bpf_program__set_autoload(p.tpbtf_switch_cur, true);
  } else if (current == CurrentTask::from_stack) {
    bpf_program__set_autoload(p.tpbtf_enter_stack, true);
  } else {
    bpf_program__set_autoload(
        tp ? (task ? p.tpbtf_enter_task : p.tpbtf_enter_tid) : (task ? p.rawtp_enter_task : p.rawtp_enter_tid), true);
  }
  if (full) {
    bpf_program__set_autoload(
        tp ? (task ? p.tpbtf_exit_task : p.tpbtf_exit_tid) : (task ? p.rawtp_exit_task : p.rawtp_exit_tid), true);
    bpf_program__set_autoload(task ? p.iter_mark_task : p.iter_mark_tid, true);
    if (!task) bpf_program__set_autoload(tp ? p.tpbtf_thread_exit : p.rawtp_thread_exit, true);
    if (task) bpf_program__set_autoload(tp ? p.tpbtf_switch_task : p.rawtp_switch_task, true);
  }

  auto& m = skel->maps;
  err = bpf_map__set_max_entries(m.syslens_stats, opts.max_stats_entries);
  if (!err) err = bpf_map__set_max_entries(m.syslens_errors, opts.max_errno_entries);
  if (!err) err = bpf_map__set_max_entries(m.syslens_tid_rec, (full && !task) ? opts.max_threads : 1);
  if (!err && !task) err = bpf_map__set_autocreate(m.syslens_task_rec, false);
  if (!err)
    err = bpf_map__set_max_entries(m.syslens_cpu_recs, (full || current == CurrentTask::from_switch)
                                                           ? static_cast<std::uint32_t>(layout_.ncpus)
                                                           : 1);
  if (!err)
    err = bpf_map__set_max_entries(m.syslens_stack_tasks, current == CurrentTask::from_stack ? SYSLENS_STACK_TASKS : 1);
  // The slot table is capped at 32 MiB: fewer entries per CPU on big machines.
  std::uint32_t slots = opts.cpu_slots;
  while (slots > 16 &&
         std::uint64_t{slots} * static_cast<std::uint64_t>(layout_.ncpus) * sizeof(syslens_cpu_slot) > (32U << 20)) {
    slots /= 2;
  }
  if (slots != opts.cpu_slots)
    spdlog::info("bpf.cpu_slots lowered from {} to {} for {} CPUs", opts.cpu_slots, slots, layout_.ncpus);
  skel->rodata->cpu_slots = slots;
  if (!err)
    err = bpf_map__set_max_entries(m.syslens_cpu_slots,
                                   std::max<std::uint32_t>(1, slots * static_cast<std::uint32_t>(layout_.ncpus)));
  if (!err && !pin_dir_.empty()) err = prepare_pins(skel.get());
  if (err) {
    why = "configure: " + errstr(err);
    return false;
  }
  err = syslens_bpf__load(skel.get());
  if (err) {
    why = "load: " + errstr(err) + " (run with --log.level=debug for the verifier log)";
    if (cast)
      spdlog::warn(
          "loading the enter program that finds the current task without a helper ({}) failed: {}; "
          "asking a helper instead",
          to_string(current), why);
    return false;
  }
  if (slots > 0) {
    const std::size_t bytes = std::size_t{slots} * static_cast<std::size_t>(layout_.ncpus) * sizeof(syslens_cpu_slot);
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m.syslens_cpu_slots), 0);
    if (mem == MAP_FAILED) {
      why = "mmap the per-CPU slot table: " + errstr(errno);
      return false;
    }
    layout_.slots = static_cast<syslens_cpu_slot*>(mem);
    slots_bytes_ = bytes;
  }
  layout_.cpu_slots = slots;
  skel_ = std::move(skel);
  attach_ = attach;
  store_ = store;
  current_ = current;
  layout_.max_stats = opts.max_stats_entries;
  layout_.max_errno = opts.max_errno_entries;
  layout_.max_threads = opts.max_threads;
  sample_every_ = opts.latency_sample_every;
  return true;
}

void Loader::open_new_keys() {
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<Loader*>(ctx);
    std::uint64_t id = 0;
    if (size >= sizeof(id) && self->on_new_key_) {
      std::memcpy(&id, data, sizeof(id));
      self->on_new_key_(id);
    }
    return 0;
  };
  new_keys_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.syslens_new_keys), cb, this, nullptr));
  if (!new_keys_)
    spdlog::warn("cannot open the new-key ring buffer: {}; short-lived cgroups may go unnamed", errstr(errno));
}

void Loader::attach_all() {
  // Exit before enter: a call in flight at attach time then shows up as
  // exit_without_enter, never as a stale enter record. The context-switch
  // program goes first: without it a blocked call's record could be lost.
  std::vector<struct bpf_program*> order;
  auto& p = skel_->progs;
  for (auto* prog :
       {p.tpbtf_switch_task, p.tpbtf_switch_cur, p.rawtp_switch_task, p.tpbtf_thread_exit, p.rawtp_thread_exit,
        p.tpbtf_exit_task, p.tpbtf_exit_tid, p.rawtp_exit_task, p.rawtp_exit_tid, p.tpbtf_enter_task, p.tpbtf_enter_cur,
        p.tpbtf_enter_stack, p.tpbtf_enter_tid, p.rawtp_enter_task, p.rawtp_enter_tid}) {
    if (bpf_program__autoload(prog)) order.push_back(prog);
  }
  for (auto* prog : order) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      const int e = errno;
      links_.clear();
      throw FatalError(kExitKernel,
                       std::string("cannot attach BPF program ") + bpf_program__name(prog) + ": " + errstr(e));
    }
    links_.emplace_back(link);
  }
  mark_in_flight();
}

// Right after the exit program is attached: the threads asleep in a call
// entered before are marked (iter_mark_*), so that its return, which has
// no enter record, is not taken for a seccomp denial.
void Loader::mark_in_flight() {
  auto* prog = store_ == ThreadStore::task_storage ? skel_->progs.iter_mark_task : skel_->progs.iter_mark_tid;
  if (!bpf_program__autoload(prog)) return;
  const std::unique_ptr<bpf_link, LinkDeleter> link(bpf_program__attach_iter(prog, nullptr));
  const int fd = link ? bpf_iter_create(bpf_link__fd(link.get())) : -1;
  if (fd < 0) {
    spdlog::warn(
        "cannot mark the calls in flight ({}): the first exit of each thread asleep in a call now may "
        "count as a seccomp denial",
        errstr(errno));
    return;
  }
  char buf[64];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
  ::close(fd);
}

bool Loader::has_thread_record(std::uint32_t tid) const {
  syslens_enter_rec rec{};
  return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.syslens_tid_rec), &tid, &rec) == 0;
}
void Loader::SkelDeleter::operator()(struct ::syslens_bpf* s) const { syslens_bpf__destroy(s); }
void Loader::RingDeleter::operator()(struct ring_buffer* r) const { ring_buffer__free(r); }
void Loader::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

}  // namespace syslens
