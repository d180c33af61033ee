#!/bin/bash
# The VM tier: a stock Debian 12 host (Debian's own kernel, pure cgroup v2,
# systemd as PID 1) booted in QEMU, syslens installed in it from the .deb by
# apt and started by the unit exactly as shipped; then the same disk booted
# with cgroup v1 only. guest.sh runs the checks inside; this script builds
# the disk, boots it twice and copies the results out.
#
# usage: vm.sh BUILD_DIR SOURCE_DIR OLD_DEB NEW_DEB WORK_DIR
# Results: WORK_DIR/results-v2.txt and results-v1.txt ("ok NAME" lines),
# the guest's logs and serial consoles beside them.
#
# The rootfs comes from Debian's archive (mmdebstrap, about 60 s) and is
# kept in WORK_DIR, keyed by its mmdebstrap options. KVM when /dev/kvm really runs
# a guest (nested KVM hangs on some hosts: probed with a 20 s boot), TCG
# otherwise (single-threaded: see below).
set -euo pipefail
if [[ $# -ne 5 ]]; then
  echo "usage: vm.sh BUILD_DIR SOURCE_DIR OLD_DEB NEW_DEB WORK_DIR" >&2
  exit 2
fi
build=$(realpath "$1") src=$(realpath "$2") old_deb=$(realpath "$3") new_deb=$(realpath "$4") work=$5
here=$(dirname "$(realpath "$0")")
mkdir -p "$work"
work=$(realpath "$work")
boot_timeout=${SYSLENS_VM_BOOT_TIMEOUT:-900}
log() { echo "vm: $(date +%T) $*"; }
# shellcheck source=disk.sh
. "$here/disk.sh"

# What the guest has before syslens: a stock host (systemd, dbus, curl), the
# package's own dependencies (so apt installs the .deb offline), and the
# runtimes whose systemd layouts the checks attribute.
deps=$(dpkg-deb -f "$old_deb" Depends | sed 's/([^)]*)//g; s/ //g')
pkgs="systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,curl,procps,linux-image-amd64,podman,runc,containerd,uidmap,busybox-static,libelf1,$deps"
vm_rootfs "the rootfs" --include="$pkgs"

log "assembling the disk"
vm_unpack "$tarball"
v="$root/opt/syslens-vm"
mkdir -p "$v/build/daemon" "$v/build/cli" "$v/build/tests/kernel" "$v/build/tests/e2e" "$v/build/tests/containers" "$v/src"
cp "$old_deb" "$v/syslens_old.deb"
cp "$new_deb" "$v/syslens_new.deb"
cp "$build/daemon/syslensd" "$v/build/daemon/"
cp "$build/cli/syslens" "$v/build/cli/"
cp "$build/tests/kernel/kernel_tests" "$v/build/tests/kernel/"
cp "$build/tests/e2e/e2e_tests" "$v/build/tests/e2e/"
cp "$build/tests/containers/container_tests" "$build/tests/containers/marker" "$v/build/tests/containers/"
cp -r "$src/deploy" "$v/src/"
vm_seal ttyS0 syslens-vm

# TCG with one host thread for both vCPUs. Multi-threaded TCG (MTTCG) hangs
# a vCPU for good when the guest kernel patches code that another vCPU is
# running (a static key flipped, as BPF_ENABLE_STATS does): reproduced here
# in under a minute with syslensd's run statistics sampled every 100 ms, the
# same "soft lockup ... RIP: bpf_trace_run2" as in CI's hung stages; with
# thread=single, not once in 5 minutes of the same load.
accel="tcg,thread=single"
if [[ -w /dev/kvm ]]; then
  # Does KVM really run a guest here? The kernel prints its banner within
  # seconds under KVM; a hanging nested KVM prints nothing.
  rm -f "$work/kvm-probe.log"
  timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 512 -kernel "$work/vmlinuz" \
    -append "console=ttyS0 panic=-1" -display none -serial "file:$work/kvm-probe.log" -no-reboot \
    >/dev/null 2>&1 || true
  grep -q "Linux version" "$work/kvm-probe.log" 2>/dev/null && accel=kvm
fi
log "accelerator: $accel"

boot() {
  local stage=$1 extra=$2
  log "booting stage $stage ($extra)"
  local cpu=max
  [[ $accel == kvm ]] && cpu=host
  rm -f "$work/console-$stage.txt"
  timeout "$boot_timeout" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp 2 -m 3072 \
    -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
    -drive "file=$work/vm.img,format=raw,if=virtio" \
    -append "console=ttyS0 root=/dev/vda rw panic=-1 syslens.vmtest=$stage $extra" \
    -display none -serial "file:$work/console-$stage.txt" -no-reboot -nic none &
  local qemu=$! lockup=
  # A guest that reports a soft lockup does not recover (a stuck vCPU):
  # stop it after a minute instead of waiting out the timeout.
  while kill -0 "$qemu" 2>/dev/null; do
    sleep 5
    if [[ -z $lockup ]] && grep -aq "BUG: soft lockup" "$work/console-$stage.txt" 2>/dev/null; then
      lockup=$SECONDS
      log "stage $stage: the guest kernel reports a soft lockup; stopping it in 60 s"
    fi
    if [[ -n $lockup ]] && ((SECONDS - lockup >= 60)); then
      kill "$qemu" 2>/dev/null
    fi
  done
  wait "$qemu" || log "stage $stage: qemu ended with $? (timeout ${boot_timeout}s?)"
  local why="cut short after ${boot_timeout}s"
  [[ -n $lockup ]] && why="the guest kernel reported a soft lockup (console-$stage.txt)"
  vm_results "$stage" "$why"
}
rm -f "$work"/results-*.txt
boot v2 ""
# unified_cgroup_hierarchy=0 alone boots hybrid (a cgroup2 at
# /sys/fs/cgroup/unified); legacy_systemd_cgroup_controller=1 makes it v1 only.
boot v1 "systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1"
grep -h '^not ok' "$work"/results-*.txt || true
