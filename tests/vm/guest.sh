#!/bin/bash
# Inside the stock-Debian VM, at boot (syslens-vmtest.service, after
# multi-user.target): the checks of the VM tier, as a user would run
# syslens. Each check writes "ok NAME" or "not ok NAME: why" to
# /root/vmtest/results-STAGE.txt; the host reads it after poweroff
# (tests/vm/vm.sh) and CTest turns each line into a test (vm.STAGE.NAME).
# The stage comes from the kernel command line: syslens.vmtest=v2 (pure
# cgroup v2, the first boot) or syslens.vmtest=v1 (the same disk booted with
# systemd.unified_cgroup_hierarchy=0).
set -u
V=/opt/syslens-vm
OUT=/root/vmtest
stage=$(sed -n 's/.*syslens\.vmtest=\([a-z0-9]*\).*/\1/p' /proc/cmdline)
mkdir -p "$OUT"
# The log goes to the serial console too (console-STAGE.txt on the host):
# ttyS0 on x86_64, the PL011 UART on arm64.
tty=/dev/ttyS0
[ -c /dev/ttyAMA0 ] && tty=/dev/ttyAMA0
exec > >(tee "$OUT/log-$stage.txt" >"$tty") 2>&1
RES="$OUT/results-$stage.txt"
: >"$RES.tmp"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin SYSTEMD_PAGER= SYSTEMD_COLORS=0

# Each result is flushed to the disk as it is written: a stage the host cuts
# short (timeout) still shows which checks ran and which one it hung in.
record() { echo "$1" >>"$RES.tmp"; sync "$RES.tmp"; }
ok() { record "ok $1"; echo "== $(date +%T) ok $1"; }
notok() { record "not ok $1: $(echo "$2" | tr '\n' ' ' | cut -c1-600)"; echo "== $(date +%T) not ok $1: $2"; }
# check NAME CMD...: ok when CMD exits 0; its last lines say why it did not.
check() {
  local name=$1 out
  shift
  echo "== $(date +%T) $name: $*"
  record "started $name"
  if out=$("$@" 2>&1); then ok "$name"; else notok "$name" "$(echo "$out" | tail -5)"; fi
  echo "$out"
}
# require NAME CMD...: a check the rest of the stage stands on; if it fails
# the stage ends here (the checks after it are reported as not run).
require() {
  check "$@"
  grep -qxF "ok $1" "$RES.tmp" || finish
}
finish() {
  mv "$RES.tmp" "$RES"
  sync
  systemctl poweroff --no-block
  exit 0
}

metrics() { curl -sf --max-time 20 http://127.0.0.1:9823/metrics; }
# value NAME LABEL=VALUE...: the sum of the samples of NAME with those labels.
value() {
  local name=$1 m
  shift
  m=$(metrics | grep -E "^${name}\{" || true)
  for l in "$@"; do m=$(echo "$m" | grep -F "${l%%=*}=\"${l#*=}\"" || true); done
  echo "$m" | awk 'NF { s += $NF } END { printf "%d\n", s }'
}
# expect_value WANT NAME LABELS...: polls for 60 s (TCG is slow) for an exact value.
expect_value() {
  local want=$1 got= end=$((SECONDS + 60))
  shift
  while [ $SECONDS -lt $end ]; do
    got=$(value "$@")
    [ "$got" = "$want" ] && return 0
    sleep 1
  done
  echo "$* = $got, want $want"
  metrics | grep -F "${2#*=}" | head -20
  return 1
}
wait_ready() {
  local end=$((SECONDS + 120))
  while [ $SECONDS -lt $end ]; do
    curl -sf --max-time 5 http://127.0.0.1:9823/-/ready >/dev/null && return 0
    sleep 1
  done
  echo "syslensd not ready after 120 s"
  systemctl status syslens --no-pager
  return 1
}
unit_is_notify_active() {
  local t a s
  t=$(systemctl show -p Type --value syslens)
  a=$(systemctl show -p ActiveState --value syslens)
  s=$(systemctl show -p SubState --value syslens)
  echo "Type=$t ActiveState=$a SubState=$s"
  [ "$t" = notify ] && [ "$a" = active ] && [ "$s" = running ]
}
security_score_at_most() {
  local line score
  line=$(systemd-analyze security syslens.service --no-pager | grep "Overall exposure level")
  score=$(echo "$line" | grep -oE '[0-9]+\.[0-9]+' | head -1)
  echo "$line"
  awk -v s="$score" -v m="$1" 'BEGIN { exit !(s != "" && s + 0 <= m + 0) }'
}
main_pid() { systemctl show -p MainPID --value syslens; }
# The API socket as the unit and the package ship it.
api_socket_shipped() {
  local got
  got=$(stat -c '%U:%G %a %F' /run/syslens/api.sock)
  echo "$got"
  [ "$got" = "root:syslens 660 socket" ]
}
# The CLI over the socket by default: root and a member of syslens get the
# API, a user outside the group is told why not (exit 3).
api_socket_users() {
  id -u vmapi >/dev/null 2>&1 || useradd -M -s /bin/sh vmapi
  gpasswd -d vmapi syslens >/dev/null 2>&1 || true
  local out rc=0
  out=$(syslens top --once 2>&1) || return 1
  echo "$out" | head -3
  out=$(runuser -u vmapi -- syslens top --once 2>&1) || rc=$?
  echo "outsider: exit $rc: $out"
  [ "$rc" = 3 ] && grep -q "permission denied on /run/syslens/api.sock" <<<"$out" || return 1
  usermod -aG syslens vmapi
  out=$(runuser -u vmapi -- syslens top --once 2>&1) || { echo "member: $out"; return 1; }
  echo "$out" | head -3
}
# The daemon's capabilities after start: only CAP_DAC_READ_SEARCH (bit 2).
one_capability() {
  local eff
  eff=$(awk '/^CapEff/ { print $2 }' "/proc/$(main_pid)/status")
  echo "CapEff=$eff"
  [ "$eff" = 0000000000000004 ]
}
runs_current_binary() {
  local exe
  exe=$(readlink "/proc/$(main_pid)/exe")
  echo "exe=$exe"
  [ "$exe" = /usr/sbin/syslensd ]
}
# Every line syslensd logged this boot is one docs/operations.md explains
# (its "What syslensd logs" patterns, from the installed docs), and none comes
# from a syscall its own seccomp filter refused.
journal_explained() {
  local doc=/usr/share/doc/syslens/operations.md pats bad
  journalctl -b --no-pager -o cat _SYSTEMD_UNIT=syslens.service >"$OUT/journal-$stage.txt"
  pats=$(awk '/^```log-patterns/ { on = 1; next } /^```/ { on = 0 } on' "$doc")
  [ -n "$pats" ] || { echo "no log-patterns block in $doc"; return 1; }
  echo "$(wc -l <"$OUT/journal-$stage.txt") lines logged"
  bad=$(sed -E 's/^[0-9T:.+-]+ [a-z]+ //' "$OUT/journal-$stage.txt" | grep -vxEf <(echo "$pats") || true)
  if grep -qE "refused syscall|RAW:" "$OUT/journal-$stage.txt"; then
    grep -E "refused syscall|RAW:" "$OUT/journal-$stage.txt"
    return 1
  fi
  [ -z "$bad" ] || { echo "not explained in operations.md:"; echo "$bad"; return 1; }
}
# A static busybox rootfs with the marker, for runc and podman --rootfs.
make_rootfs() {
  rm -rf "$1"
  mkdir -p "$1/bin" "$1/proc" "$1/sys" "$1/dev" "$1/tmp"
  cp /bin/busybox "$1/bin/busybox"
  for a in sh cat sleep true; do ln -s busybox "$1/bin/$a"; done
  cp "$V/build/tests/containers/marker" "$1/marker"
  chmod -R a+rX "$1"
}
# run_gtest NAME BINARY FILTER: a test binary from the build tree, against
# the build's own syslensd (tests find it through SYSLENS_BUILD_DIR).
# A test skipped is a check failed: here is where it must run.
gtest_ran() {
  local out rc
  out=$(env SYSLENS_BUILD_DIR="$V/build" SYSLENS_SOURCE_DIR="$V/src" "$V/build/$1" --gtest_filter="$2" 2>&1)
  rc=$?
  echo "$out" | grep -E "^\[ *(RUN|OK|FAILED|SKIPPED|PASSED) *\]|Failure|error|\[warning\]|Which is|Actual" | head -80
  [ $rc -eq 0 ] && ! grep -qE "SKIPPED +\]" <<<"$out" && grep -qE "PASSED +\]" <<<"$out"
}
run_gtest() { check "$1" gtest_ran "$2" "$3"; }

podman_rootful() {
  local id
  make_rootfs /srv/vmtest-rootfs
  id=$(podman run -d --name vmtest-podman --network none --rootfs /srv/vmtest-rootfs /marker 321 600) || return 1
  echo "container $id"
  expect_value 321 syslens_syscalls_total container_id="$id" syscall=ioprio_get || return 1
  metrics | grep -F "container_id=\"$id\"" | grep -F ioprio_get
  podman rm -f -t 0 vmtest-podman >/dev/null
}
# Rootless podman: a user's own systemd instance (lingering) places the
# container under user@UID.service, a layout only a systemd host makes.
podman_rootless() {
  local uid id env
  id -u vmtester >/dev/null 2>&1 || useradd -m -s /bin/bash vmtester
  uid=$(id -u vmtester)
  grep -q '^vmtester:' /etc/subuid || echo "vmtester:200000:65536" >>/etc/subuid
  grep -q '^vmtester:' /etc/subgid || echo "vmtester:200000:65536" >>/etc/subgid
  loginctl enable-linger vmtester
  for _ in $(seq 60); do [ -S "/run/user/$uid/bus" ] && break; sleep 1; done
  [ -S "/run/user/$uid/bus" ] || { echo "no user bus for vmtester"; return 1; }
  env="XDG_RUNTIME_DIR=/run/user/$uid DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus"
  id=$(runuser -u vmtester -- env $env HOME=/home/vmtester podman --storage-driver vfs run -d --name vmtest-rootless \
    --network none --rootfs /srv/vmtest-rootfs /marker 222 600) || return 1
  echo "container $id"
  expect_value 222 syslens_syscalls_total container_id="$id" syscall=ioprio_get || return 1
  metrics | grep -F "container_id=\"$id\"" | grep -F ioprio_get | head -3
  grep -F "user@$uid.service" <<<"$(metrics | grep -F "container_id=\"$id\"")" >/dev/null ||
    { echo "not under user@$uid.service"; return 1; }
  runuser -u vmtester -- env $env podman rm -f -t 0 vmtest-rootless >/dev/null
}

# A systemd-run unit of the marker: exact counts and errnos, labelled unit=.
check_systemd_run() {
  local unit=$1 calls=$2 errs=$3
  check systemd_run.exec systemd-run --unit="$unit" --wait -q "$V/build/tests/containers/marker" "$calls" 0 "enoent:$errs"
  check systemd_run.exact_calls expect_value "$calls" syslens_syscalls_total unit="$unit.service" syscall=ioprio_get
  check systemd_run.exact_errno expect_value "$errs" syslens_syscall_errors_total unit="$unit.service" \
    syscall=openat errno=ENOENT
}
# A live unit's counts across systemctl restart (the unit is left running).
check_restart_keeps() {
  local unit=$1 calls=$2 pid
  systemd-run --unit="$unit" -q "$V/build/tests/containers/marker" "$calls" 3600
  check restart.before expect_value "$calls" syslens_syscalls_total unit="$unit.service" syscall=ioprio_get
  pid=$(main_pid)
  check restart.restart systemctl restart syslens
  check restart.ready wait_ready
  check restart.counts_kept expect_value "$calls" syslens_syscalls_total unit="$unit.service" syscall=ioprio_get
  check restart.new_process test "$(main_pid)" != "$pid"
}

stage_v2() {
  require deb.install apt-get install -y -q "$V/syslens_old.deb"
  require unit.enable systemctl enable --now syslens
  require unit.ready wait_ready
  check unit.notify_active unit_is_notify_active
  check unit.security_at_most_2.5 security_score_at_most 2.5
  check unit.one_capability one_capability
  check api.socket_shipped api_socket_shipped
  check api.socket_users api_socket_users

  check_systemd_run vmtest-marker 1234 56

  # A live unit's counts across a restart and an upgrade of the package.
  check_restart_keeps vmtest-live 500
  local pid
  pid=$(main_pid)
  check upgrade.install apt-get install -y -q "$V/syslens_new.deb"
  check upgrade.version test "$(dpkg-query -W -f='${Version}' syslens)" = "$(dpkg-deb -f "$V/syslens_new.deb" Version)"
  check upgrade.restarted test "$(main_pid)" != "$pid"
  check upgrade.ready wait_ready
  check upgrade.runs_new_binary runs_current_binary
  check upgrade.counts_kept expect_value 500 syslens_syscalls_total unit=vmtest-live.service syscall=ioprio_get
  check upgrade.notify_active unit_is_notify_active

  # Container layouts only a systemd host makes.
  check podman.rootful podman_rootful
  check podman.rootless podman_rootless
  run_gtest cri.systemd_cgroup tests/containers/container_tests 'Containers.CriPod*'

  # The real-kernel tier on Debian's kernel, and the tests that need a
  # pure cgroup v2 host.
  run_gtest kernel_tier tests/kernel/kernel_tests '*' 
  run_gtest pure_v2.fallback_to_v1 tests/e2e/e2e_tests 'Daemon.HostWithoutCgroupV2FallsBackToV1'

  systemctl stop vmtest-live
  check unit.stop systemctl stop syslens
  check journal.explained journal_explained
}

# The same disk booted cgroup v1 only: the enabled unit started at boot.
stage_v1() {
  require unit.ready wait_ready
  check unit.notify_active unit_is_notify_active
  check v1.hierarchy expect_value 1 syslens_bpf_info cgroup_hierarchy=v1:memory
  check_systemd_run vmtest-marker-v1 777 9
  run_gtest runc_v1 tests/containers/container_tests 'Containers.RuncContainerAttributedThroughCgroupV1'
  check unit.stop systemctl stop syslens
  check journal.explained journal_explained
}

# arm64 (tests/vm/vm-arm64.sh): 32-bit (armhf) calls of the marker built for
# armhf are counted under their aarch32 names; the profile syslens writes
# from them lists SCMP_ARCH_ARM, and runc runs the same binary under it:
# exit 0 when it makes only the calls it made before, 1 (EPERM, the
# profile's default errno) when it also calls sysinfo, which it never did.
compat_profile() {
  syslens seccomp vmtest-armhf.service --format oci >"$OUT/armhf-profile.json" || return 1
  jq -c '{architectures, allowed: (.syscalls[0].names | length)}' "$OUT/armhf-profile.json"
  jq -e '(.architectures | index("SCMP_ARCH_ARM")) and (.syscalls[0].names | index("ioprio_get"))
         and (.syscalls[0].names | index("sysinfo") | not)' "$OUT/armhf-profile.json" >/dev/null
}
runc_armhf() {
  local b=/srv/vmtest-armhf rc=0
  rm -rf "$b"
  mkdir -p "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev" "$b/rootfs/tmp"
  cp "$V/build/tests/containers/marker-armhf" "$b/rootfs/marker"
  (cd "$b" && runc spec) || return 1
  jq --slurpfile p "$OUT/armhf-profile.json" --argjson args "$(printf '%s\n' /marker "$@" | jq -R . | jq -sc .)" \
    '.process.terminal = false | .process.args = $args | .linux.seccomp = ($p[0] | del(.syslens_unnamed_syscalls))' \
    "$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
  runc run --bundle "$b" "vmtest-armhf-$$" || rc=$?
  echo "$rc"
}
# compat_runc_exits WANT MARKER_ARGS...: the armhf marker under its own profile.
compat_runc_exits() {
  local want=$1 rc
  shift
  rc=$(runc_armhf "$@" 2>&1 | tail -1)
  echo "marker $* under its own profile: exit $rc, want $want"
  [ "$rc" = "$want" ]
}

stage_arm64() {
  require deb.install apt-get install -y -q "$V/syslens_old.deb"
  require unit.enable systemctl enable --now syslens
  require unit.ready wait_ready
  check unit.notify_active unit_is_notify_active
  check unit.one_capability one_capability

  check_systemd_run vmtest-marker 1234 56
  check_restart_keeps vmtest-live 500

  check compat.exec systemd-run --unit=vmtest-armhf --wait -q "$V/build/tests/containers/marker-armhf" 321 0 enoent:17
  check compat.exact_calls expect_value 321 syslens_syscalls_total unit=vmtest-armhf.service syscall=aarch32:ioprio_get
  check compat.exact_errno expect_value 17 syslens_syscall_errors_total unit=vmtest-armhf.service \
    syscall=aarch32:openat errno=ENOENT
  check compat.native_untouched expect_value 0 syslens_syscalls_total unit=vmtest-armhf.service syscall=ioprio_get
  check compat.profile compat_profile
  check compat.runc_allowed compat_runc_exits 0 7 0 enoent:3
  check compat.runc_refused compat_runc_exits 1 7 0 probe

  run_gtest kernel_tier tests/kernel/kernel_tests '*'

  systemctl stop vmtest-live
  check unit.stop systemctl stop syslens
  check journal.explained journal_explained
}

echo "syslens VM tier, stage $stage, kernel $(uname -r), cgroup $(stat -fc %T /sys/fs/cgroup)"
case "$stage" in
  v2) stage_v2 ;;
  v1) stage_v1 ;;
  arm64) stage_arm64 ;;
  *) notok stage "unknown stage '$stage'" ;;
esac
finish
