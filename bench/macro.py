#!/usr/bin/env python3
"""macro: nginx on loopback under wrk, without syslens and with each mode.

Interleaved rounds: every round runs each configuration once, in rotating
order. Prints requests/s and p99 latency (medians over rounds) and their
change against "none" within the same round.

usage: macro.py BUILD_DIR [--rounds=N] [--seconds=S]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from common import Syslensd, median

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


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__.strip().splitlines()[-1])
    build, rounds, seconds = args[0], 3, 10
    for a in args[1:]:
        if a.startswith("--rounds="):
            rounds = int(a.split("=", 1)[1])
        elif a.startswith("--seconds="):
            seconds = int(a.split("=", 1)[1])
        else:
            sys.exit(f"macro.py: unknown option {a}")
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"macro: not measured: {tool} is not installed")
            return 0

    with tempfile.TemporaryDirectory(prefix="syslens-macro-") as d:
        os.makedirs(f"{d}/www")
        with open(f"{d}/www/index.html", "wb") as f:
            f.write(b"x" * 1024)
        port = 18080
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(dir=d, port=port))
        nginx = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-e", f"{d}/error.log"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        if nginx.poll() is not None:
            sys.exit("macro: nginx did not start")
        url = f"http://127.0.0.1:{port}/index.html"
        # The shipped default (one call in 64 timed), every call timed, counting only.
        modes = {
            "syslens full": "mode: full\n",
            # Syslensd merges a bpf: section given first into its own.
            "syslens full, all timed": "bpf:\n  latency_sample_every: 1\nmode: full\n",
            "syslens count-only": "mode: count\n",
        }
        configs = ["none"] + list(modes)
        rps, p99 = {c: [] for c in configs}, {c: [] for c in configs}
        drps, dp99 = {c: [] for c in configs}, {c: [] for c in configs}
        try:
            for r in range(rounds):
                got = {}
                for i in range(len(configs)):
                    c = configs[(i + r) % len(configs)]
                    daemon = None
                    if c != "none":
                        daemon = Syslensd(build, modes[c])
                    try:
                        subprocess.run(["wrk", "-t1", "-c32", "-d2s", url], capture_output=True, check=True)
                        out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", url],
                                             capture_output=True, text=True, check=True).stdout
                    finally:
                        if daemon:
                            daemon.close()
                    got[c] = parse_wrk(out)
                for c in configs:
                    rps[c].append(got[c][0])
                    p99[c].append(got[c][1])
                    drps[c].append(100.0 * (got[c][0] / got["none"][0] - 1))
                    dp99[c].append(100.0 * (got[c][1] / got["none"][1] - 1))
        finally:
            nginx.terminate()
            nginx.wait()

    print(f"macro: nginx 1 worker, 1 KiB static file, wrk -t1 -c32 {seconds}s x {rounds} interleaved rounds")
    print(f"{'configuration':<24} {'requests/s':>11} {'change':>8} {'p99 ms':>8} {'change':>8}")
    for c in configs:
        print(f"{c:<24} {median(rps[c]):>11.0f} {median(drps[c]):>+7.1f}% {median(p99[c]):>8.2f} "
              f"{median(dp99[c]):>+7.1f}%")
    print("medians over rounds; change: against none within the same round\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
