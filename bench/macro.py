#!/usr/bin/env python3
"""macro: nginx on loopback under wrk, without syslens and with each mode.

Each round measures every mode once, in rotating order, and "none" before
the first mode, between modes and after the last: a mode's change is against
the mean of the two "none" measurements beside it (seconds apart), as in the
micro bench, because this machine's slow phases last seconds and move
requests/s by more than the differences measured (one-second measurements of
"none" in a row differ by up to a third here). So measurements are short and
many: syslensd starts in about 0.1 s. nginx runs on CPU 1 and wrk on CPU 0,
so the scheduler does not move them between measurements. Prints
medians over rounds of requests/s, p99 latency and their changes, and the
spread (lowest and highest round) of the requests/s change.

usage: macro.py BUILD_DIR [--rounds=N] [--seconds=S] [--per-round]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from common import Syslensd, median

SETTLE_S = 2  # seconds between attaching a configuration and measuring it

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location / {{ }}
    }}
}}
"""


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    return rps, float(m.group(1)) * scale


class Floor:
    """The floor, empty programs on sys_enter and sys_exit (what any raw_syscalls
    tracer pays before doing work), held by syslens-bench while it runs."""

    def __init__(self, build):
        self.proc = subprocess.Popen([os.path.join(build, "bench", "syslens-bench"), "--hold=floor"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "attached":
            self.close()
            raise RuntimeError("syslens-bench --hold=floor did not attach")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__.strip().splitlines()[-1])
    build, rounds, seconds, per_round = args[0], 30, 1, False
    for a in args[1:]:
        if a.startswith("--rounds="):
            rounds = int(a.split("=", 1)[1])
        elif a.startswith("--seconds="):
            seconds = int(a.split("=", 1)[1])
        elif a == "--per-round":
            per_round = True
        else:
            sys.exit(f"macro.py: unknown option {a}")
    if rounds < 1 or seconds < 1:
        sys.exit("macro.py: --rounds and --seconds must be at least 1")
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"macro: not measured: {tool} is not installed")
            return 0
    # Two CPUs at least for the pinning; with one, both share it.
    server_cpu, client_cpu = ("1", "0") if os.cpu_count() > 1 else ("0", "0")

    with tempfile.TemporaryDirectory(prefix="syslens-macro-") as d:
        os.makedirs(f"{d}/www")
        with open(f"{d}/www/index.html", "wb") as f:
            f.write(b"x" * 1024)
        port = 18080
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(dir=d, port=port))
        nginx = subprocess.Popen(["taskset", "-c", server_cpu, "nginx", "-c", f"{d}/nginx.conf",
                                  "-e", f"{d}/error.log"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        if nginx.poll() is not None:
            sys.exit("macro: nginx did not start")
        url = f"http://127.0.0.1:{port}/index.html"
        wrk = ["taskset", "-c", client_cpu, "wrk", "-t1", "-c32"]

        def measure():
            out = subprocess.run(wrk + [f"-d{seconds}s", "--latency", url],
                                 capture_output=True, text=True, check=True).stdout
            return parse_wrk(out)

        subprocess.run(wrk + ["-d2s", url], capture_output=True, check=True)  # warm up

        # What each configuration holds while measured (None: nothing to stop).
        # "none, again": nothing; its change is the method's own error. The
        # floor: empty programs on the tracepoints. Then the shipped default
        # (one call in 64 timed), every call timed, counting only; syslensd
        # merges a bpf: section given first into its own.
        modes = {
            "none, again": lambda: None,
            "floor: empty enter+exit": lambda: Floor(build),
            "syslens full": lambda: Syslensd(build, "mode: full\n"),
            "syslens full, all timed": lambda: Syslensd(build, "bpf:\n  latency_sample_every: 1\nmode: full\n"),
            "syslens count-only": lambda: Syslensd(build, "mode: count\n"),
        }
        names = list(modes)
        rps, p99 = {c: [] for c in ["none"] + names}, {c: [] for c in ["none"] + names}
        drps, dp99 = {c: [] for c in names}, {c: [] for c in names}
        try:
            for r in range(rounds):
                before = measure()
                rps["none"].append(before[0])
                p99["none"].append(before[1])
                for i in range(len(names)):
                    c = names[(i + r) % len(names)]
                    held = modes[c]()
                    try:
                        # Past start-up: syslensd's first second runs its
                        # start-up work and its first BPF statistics window
                        # (bpf.run_stats, 1 s a minute), not steady state.
                        time.sleep(SETTLE_S)
                        got = measure()
                    finally:
                        if held:
                            held.close()
                    after = measure()
                    base_rps, base_p99 = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
                    rps[c].append(got[0])
                    p99[c].append(got[1])
                    drps[c].append(100.0 * (got[0] / base_rps - 1))
                    dp99[c].append(100.0 * (got[1] / base_p99 - 1))
                    rps["none"].append(after[0])
                    p99["none"].append(after[1])
                    if per_round:
                        print(f"round {r + 1} {c:<24} {got[0]:>9.0f} req/s {drps[c][-1]:>+6.1f}% "
                              f"(none {before[0]:.0f}, {after[0]:.0f})", file=sys.stderr)
                    before = after
        finally:
            nginx.terminate()
            nginx.wait()

    print(f"macro: nginx 1 worker (CPU {server_cpu}), 1 KiB static file, wrk -t1 -c32 (CPU {client_cpu}), "
          f"{seconds} s a measurement, {SETTLE_S} s after attaching, {rounds} rounds")
    print(f"{'configuration':<24} {'requests/s':>11} {'change':>8} {'spread':>16} {'p99 ms':>8} {'change':>8}")
    print(f"{'none':<24} {median(rps['none']):>11.0f} {'':>8} {'':>16} {median(p99['none']):>8.2f}")
    for c in names:
        spread = f"{min(drps[c]):+.1f}..{max(drps[c]):+.1f}%"
        print(f"{c:<24} {median(rps[c]):>11.0f} {median(drps[c]):>+7.1f}% {spread:>16} "
              f"{median(p99[c]):>8.2f} {median(dp99[c]):>+7.1f}%")
    print("medians over rounds; change: against the mean of the two \"none\" measurements beside it; "
          "spread: lowest and highest round\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
