#include "syslens/kernel/controls.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "bpf_internal.h"
#include "syslens/kernel/overhead.h"

namespace syslens {

using bpf_detail::dump_map;
using bpf_detail::errstr;

Controls::Controls(Loader& loader)
    : loader_(loader), skel_(&loader.skeleton()), mode_(loader.mode()), ncpus_(loader.layout().ncpus) {
  auto tcb = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<Controls*>(ctx);
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

void Controls::RingDeleter::operator()(struct ring_buffer* r) const { ring_buffer__free(r); }

std::uint64_t Controls::counter(unsigned index) const { return bpf_detail::sum_counter(*skel_, ncpus_, index); }

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

void Controls::set_trace(const std::vector<std::uint64_t>& ids, const syslens_trace_filter& filter) {
  __atomic_store_n(&skel_->bss->trace_active, 0U, __ATOMIC_RELEASE);
  clear_cgroup_set(skel_->maps.syslens_trace_cgroups, traced_);
  if (ids.empty()) return;
  fill_cgroup_set(skel_->maps.syslens_trace_cgroups, ids, traced_);
  std::memcpy(const_cast<syslens_trace_filter*>(&skel_->bss->trace_filter), &filter, sizeof(filter));
  __atomic_store_n(&skel_->bss->trace_active, 1U, __ATOMIC_RELEASE);
}

void Controls::set_processes(const std::vector<std::uint64_t>& ids) {
  if (ids.empty()) {
    __atomic_store_n(&skel_->bss->procs_active, 0U, __ATOMIC_RELEASE);
    clear_cgroup_set(skel_->maps.syslens_proc_cgroups, counted_);
    const int fd = bpf_map__fd(skel_->maps.syslens_proc_counts);
    for (const auto& c : read_processes()) bpf_map_delete_elem(fd, &c.pid);
    return;
  }
  // The new set first, then what left it: a cgroup in both keeps counting.
  std::vector<std::uint64_t> before = std::move(counted_), gone;
  counted_.clear();
  fill_cgroup_set(skel_->maps.syslens_proc_cgroups, ids, counted_);
  for (auto id : before) {
    if (std::find(counted_.begin(), counted_.end(), id) == counted_.end()) gone.push_back(id);
  }
  clear_cgroup_set(skel_->maps.syslens_proc_cgroups, gone);
  __atomic_store_n(&skel_->bss->procs_active, 1U, __ATOMIC_RELEASE);
}

std::vector<Controls::ProcessCount> Controls::read_processes() const {
  std::vector<ProcessCount> out;
  dump_map<__u32, syslens_proc_count>(
      bpf_map__fd(skel_->maps.syslens_proc_counts), SYSLENS_PROC_MAX,
      [&](const __u32& pid, const syslens_proc_count& c) {
        out.push_back({pid, c.cgroup_id, c.calls, std::string(c.comm, strnlen(c.comm, sizeof(c.comm)))});
      },
      [&] { out.clear(); });
  return out;
}

int Controls::trace_fd() const { return trace_ ? ring_buffer__epoll_fd(trace_.get()) : -1; }

void Controls::consume_trace(const std::function<void(const syslens_trace_event&)>& fn) {
  if (!trace_) return;
  on_trace_ = fn;
  ring_buffer__consume(trace_.get());
  on_trace_ = nullptr;
}

void Controls::set_latency(bool on) {
  if (mode_ != Mode::full) return;
  const std::uint64_t below = on ? latency_sample_threshold(loader_.latency_sample_every()) : 0;
  __atomic_store_n(&skel_->data->sample_below, below, __ATOMIC_RELAXED);
}

bool Controls::latency_on() const {
  return mode_ == Mode::full && __atomic_load_n(&skel_->data->sample_below, __ATOMIC_RELAXED) != 0;
}

std::vector<ProgramStats> Controls::program_stats() const {
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
