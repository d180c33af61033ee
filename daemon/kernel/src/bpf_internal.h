// Shared by the kernel edge's sources, never installed or included from
// outside daemon/kernel: the generated skeleton and small libbpf helpers.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "syslens.h"  // the kernel/user boundary, before the skeleton that uses it
#include "syslens_bpf.skel.h"

namespace syslens::bpf_detail {

// The bytes of the syslens_bpf_cast object (cast_object.cpp): the same maps,
// programs and globals as syslens_bpf's, with the kfunc of tpbtf_enter_cur and
// tpbtf_enter_stack.
const void* cast_object_bytes(std::size_t* size);

// libbpf's own codes (4000+) have their own strings.
inline std::string errstr(int err) {
  char buf[256];
  libbpf_strerror(err < 0 ? err : -err, buf, sizeof(buf));
  return buf;
}

// Calls fn(key, value) for every entry of a hash map. A batched read (5.6+)
// takes a few syscalls; if it fails part way, reset() discards what fn got
// and the key-by-key walk starts over.
template <typename K, typename V, typename Fn, typename Reset>
inline void dump_map(int fd, std::uint32_t max_entries, const Fn& fn, const Reset& reset) {
  std::uint32_t chunk = std::min<std::uint32_t>(std::max<std::uint32_t>(max_entries, 64), 4096);
  std::vector<K> keys(chunk);
  std::vector<V> vals(chunk);
  std::uint64_t in_batch = 0, out_batch = 0;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    __u32 count = chunk;
    int err =
        bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(), vals.data(), &count, &opts);
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

// One per-CPU counter of enum syslens_counter, summed over the CPUs.
inline std::uint64_t sum_counter(const struct syslens_bpf& skel, int ncpus, unsigned index) {
  std::vector<std::uint64_t> percpu(static_cast<std::size_t>(ncpus));
  __u32 key = index;
  std::uint64_t sum = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel.maps.syslens_counters), &key, percpu.data()) == 0) {
    for (auto v : percpu) sum += v;
  }
  return sum;
}

}  // namespace syslens::bpf_detail
