# Sourced by vm.sh and vm-arm64.sh: the steps both VM tiers share, around
# what each puts on its disk and how it boots it. They use $work (the work
# directory), $here (tests/vm) and the caller's log().

# vm_rootfs WHAT MMDEBSTRAP_OPTION...: a bookworm rootfs from Debian's archive,
# kept in $work as rootfs-KEY.tar, KEY from the options themselves (packages,
# architecture, hooks), so any change to them builds a new one. Sets $tarball.
vm_rootfs() {
  local what=$1
  shift
  tarball="$work/rootfs-$(echo "$*" | sha256sum | cut -c1-16).tar"
  [[ -s $tarball ]] && return 0
  log "building $what from Debian's archive (mmdebstrap bookworm)"
  rm -f "$work"/rootfs-*.tar
  mmdebstrap --quiet --format=tar --variant=apt "$@" bookworm "$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
}

# vm_unpack TARBALL: the rootfs unpacked into $work/root, with guest.sh in
# /opt/syslens-vm, where the caller then puts the tier's files.
vm_unpack() {
  root="$work/root"
  rm -rf "$root"
  mkdir -p "$root/opt/syslens-vm"
  tar -C "$root" -xf "$1"
  install -m 0755 "$here/guest.sh" "$root/opt/syslens-vm/guest.sh"
}

# vm_seal TTY HOSTNAME: the unit that runs guest.sh at boot, the serial
# console's getty masked (its vhangup would cut off the checks' console),
# the host name and fstab; then the kernel and initrd are copied out and
# $work/vm.img made from $work/root.
vm_seal() {
  local tty=$1 name=$2
  cat >"$root/etc/systemd/system/syslens-vmtest.service" <<'UNIT'
[Unit]
Description=syslens VM tier checks
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/opt/syslens-vm/guest.sh
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
UNIT
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/syslens-vmtest.service "$root/etc/systemd/system/multi-user.target.wants/"
  ln -sf /dev/null "$root/etc/systemd/system/serial-getty@$tty.service"
  echo "$name" >"$root/etc/hostname"
  echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" >"$root/etc/fstab"
  cp "$(ls "$root"/boot/vmlinuz-* | head -1)" "$work/vmlinuz"
  cp "$(ls "$root"/boot/initrd.img-* | head -1)" "$work/initrd.img"
  rm -f "$work/vm.img"
  mke2fs -q -t ext4 -d "$root" "$work/vm.img" 6G
  rm -rf "$root"
}

# vm_results STAGE WHY: the stage's results, log and journal read off the
# disk after poweroff. A stage cut short leaves its partial results: those
# are reported, with WHY and the check it was in.
vm_results() {
  local stage=$1 why=$2 f last
  for f in "results-$stage.txt" "log-$stage.txt" "journal-$stage.txt"; do
    debugfs -R "cat /root/vmtest/$f" "$work/vm.img" >"$work/$f" 2>/dev/null || true
  done
  if [[ ! -s $work/results-$stage.txt ]]; then
    debugfs -R "cat /root/vmtest/results-$stage.txt.tmp" "$work/vm.img" >"$work/results-$stage.txt" 2>/dev/null || true
    last=$(sed -n 's/^started //p' "$work/results-$stage.txt" | tail -1)
    echo "not ok stage: $why, in check '${last:-none, the checks never started}'" >>"$work/results-$stage.txt"
  fi
  log "stage $stage: $(grep -c '^ok ' "$work/results-$stage.txt" || true) ok," \
    "$(grep -c '^not ok ' "$work/results-$stage.txt" || true) not ok"
}
