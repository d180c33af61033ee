#!/bin/bash
# Checks a syslens .deb as Debian would: the unit names the binary and the
# config where the package puts them, the config is a conffile, the binaries
# carry Debian's hardening (fortify, stack protector, full RELRO, PIE), and
# lintian reports no error.
# usage: check-deb.sh DEB
set -euo pipefail
deb=$(realpath "$1")
x=$(mktemp -d)
trap 'rm -rf "$x"' EXIT
fail=0
bad() { echo "check-deb: $*"; fail=1; }

dpkg-deb -x "$deb" "$x/root"
dpkg-deb -e "$deb" "$x/control"
for f in usr/sbin/syslensd usr/bin/syslens etc/syslens/syslens.yaml usr/lib/systemd/system/syslens.service \
  usr/share/doc/syslens/copyright usr/share/doc/syslens/changelog.gz; do
  [[ -e $x/root/$f ]] || bad "missing /$f"
done
exec_start=$(sed -n 's/^ExecStart=//p' "$x/root/usr/lib/systemd/system/syslens.service")
[[ $exec_start == "/usr/sbin/syslensd --config.file=/etc/syslens/syslens.yaml "* ]] ||
  bad "unit: ExecStart=$exec_start, want /usr/sbin/syslensd --config.file=/etc/syslens/syslens.yaml ..."
grep -qx /etc/syslens/syslens.yaml "$x/control/conffiles" || bad "/etc/syslens/syslens.yaml is not a conffile"
for s in postinst prerm postrm; do [[ -x $x/control/$s ]] || bad "no $s maintainer script"; done

for b in usr/sbin/syslensd usr/bin/syslens; do
  f="$x/root/$b"
  readelf -lW "$f" | grep -q GNU_RELRO || bad "$b: no RELRO"
  readelf -dW "$f" | grep -qE 'BIND_NOW|FLAGS.*NOW' || bad "$b: RELRO not full (no BIND_NOW)"
  readelf -dW "$f" | grep -qE 'FLAGS_1.*PIE' || bad "$b: not PIE"
  syms=$(readelf --dyn-syms -W "$f")
  grep -q '__stack_chk_fail' <<<"$syms" || bad "$b: no stack protector"
  grep -qE '__[a-z0-9_]+_chk@' <<<"$syms" || bad "$b: no fortified calls"
done

lintian_out=$(lintian --fail-on error --suppress-tags no-manual-page "$deb" 2>&1) || {
  echo "$lintian_out"
  bad "lintian reports errors"
}
[[ $fail -eq 0 ]] && echo "check-deb: $(basename "$deb"): paths, conffile, maintainer scripts, hardening, lintian: ok"
exit $fail
