#!/bin/bash
# The arm64 VM tier: a stock Debian 12 arm64 host (Debian's own arm64 kernel,
# pure cgroup v2, systemd as PID 1) in QEMU's aarch64 emulation (TCG), with
# the cross-built arm64 .deb installed by apt and started by the unit as
# shipped. guest.sh (stage arm64) runs the checks inside: exact counts and
# errnos of a systemd-run unit, counts kept across a restart, 32-bit (armhf)
# calls counted under their aarch32 names, a profile of them run under runc,
# and the real-kernel tier built for arm64.
#
# usage: vm-arm64.sh BUILD_ARM64_DIR SOURCE_DIR ARM64_DEB WORK_DIR
# Results: WORK_DIR/results-arm64.txt ("ok NAME" lines), the guest's log and
# serial console beside it.
#
# The rootfs comes from Debian's archive (mmdebstrap --arch=arm64; its
# maintainer scripts run under qemu-user through binfmt_misc, which this
# script registers if it is not) and is kept in WORK_DIR, keyed by its
# mmdebstrap options. The armhf workload is the containers' marker, built static
# for armhf by Debian's cross compiler (gcc-arm-linux-gnueabihf).
set -euo pipefail
if [[ $# -ne 4 ]]; then
  echo "usage: vm-arm64.sh BUILD_ARM64_DIR SOURCE_DIR ARM64_DEB WORK_DIR" >&2
  exit 2
fi
build=$(realpath "$1") src=$(realpath "$2") deb=$(realpath "$3") work=$4
here=$(dirname "$(realpath "$0")")
mkdir -p "$work"
work=$(realpath "$work")
boot_timeout=${SYSLENS_VM_BOOT_TIMEOUT:-2400}
log() { echo "vm-arm64: $(date +%T) $*"; }
fail() { echo "vm-arm64: $*" >&2; exit 1; }
# shellcheck source=disk.sh
. "$here/disk.sh"

[[ $(dpkg-deb -f "$deb" Architecture) == arm64 ]] || fail "$deb is not an arm64 package"

# Running the arm64 maintainer scripts of the rootfs here.
binfmt=/proc/sys/fs/binfmt_misc
if [[ ! -e $binfmt/register ]]; then
  mount -t binfmt_misc binfmt_misc "$binfmt" || fail "cannot mount binfmt_misc (needed to build an arm64 rootfs)"
fi
[[ -e $binfmt/qemu-aarch64 ]] || cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register" ||
  fail "cannot register qemu-aarch64 with binfmt_misc (qemu-user-static installed?)"

# A stock host, the package's dependencies (apt installs the .deb offline),
# runc and jq for the profile check. The 32-bit workload needs nothing from
# the guest: it is static.
deps=$(dpkg-deb -f "$deb" Depends | sed 's/([^)]*)//g; s/ //g')
pkgs="systemd,systemd-sysv,dbus,curl,procps,linux-image-arm64,runc,jq,libelf1,$deps"
# An initramfs with only what the VM boots from (virtio disk, ext4): the
# default takes most of the kernel's modules, each copied by a program run
# under emulation (over 20 minutes).
vm_rootfs "the arm64 rootfs" --architectures=arm64 --include="$pkgs" \
  --setup-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"' \
  --setup-hook='echo MODULES=list >"$1/etc/initramfs-tools/conf.d/syslens-vm"' \
  --setup-hook='printf "virtio_pci\nvirtio_blk\nvirtio_mmio\next4\n" >"$1/usr/share/initramfs-tools/modules.d/syslens-vm"'

log "assembling the disk"
vm_unpack "$tarball"
v="$root/opt/syslens-vm"
mkdir -p "$v/build/daemon" "$v/build/tests/kernel" "$v/build/tests/containers" "$v/src"
cp "$deb" "$v/syslens_old.deb"
cp "$build/daemon/syslensd" "$v/build/daemon/"
cp "$build/tests/kernel/kernel_tests" "$v/build/tests/kernel/"
cp "$build/tests/containers/marker" "$v/build/tests/containers/"
arm-linux-gnueabihf-gcc -static -O2 -Wall -Werror -pthread -o "$v/build/tests/containers/marker-armhf" \
  "$src/tests/containers/marker.c"
cp -r "$src/deploy" "$v/src/"
vm_seal ttyAMA0 syslens-vm-arm64

# TCG on one host thread, for the reason vm.sh gives (a vCPU hangs for good
# under multi-threaded TCG when the guest patches code another vCPU runs).
# -cpu max with QEMU's own pointer-authentication algorithm instead of the
# architected one (QARMA), which is costly to emulate on every call/return.
stage=arm64
log "booting (qemu-system-aarch64, TCG)"
rm -f "$work/console-$stage.txt" "$work/results-$stage.txt"
timeout "$boot_timeout" qemu-system-aarch64 -M virt -accel tcg,thread=single -cpu max,pauth-impdef=on -smp 2 -m 3072 \
  -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
  -drive "file=$work/vm.img,format=raw,if=virtio" \
  -append "console=ttyAMA0 root=/dev/vda rw panic=-1 syslens.vmtest=$stage" \
  -display none -serial "file:$work/console-$stage.txt" -no-reboot -nic none ||
  log "qemu ended with $? (timeout ${boot_timeout}s?)"
vm_results "$stage" "cut short after ${boot_timeout}s"
grep -h '^not ok' "$work/results-$stage.txt" || true
