#!/usr/bin/env python3
"""scale: the real syslensd with many cgroups, under churn, and under load.

1. 1,000 live cgroups, each with a process that made 40 distinct syscalls:
   /metrics response time and size, daemon RSS, daemon CPU while scraped.
2. Continuous churn: cgroups created, used and removed for a while: daemon
   CPU and RSS, /metrics time.
3. A fresh daemon while a load process makes over a million syscalls per
   second, scraped every 15 s: daemon CPU.
Prints one table; the targets are those of the performance issue.

usage: scale.py BUILD_DIR [--cgroups=N] [--seconds=S]
"""
import os
import shutil
import signal
import subprocess
import sys
import time

from common import Syslensd, cgroup2_root, fetch, median, proc_cpu_seconds, proc_rss_bytes


def spawn_workers(worker, parent, n, prefix):
    procs = []
    for i in range(n):
        cg = os.path.join(parent, f"{prefix}{i}")
        os.makedirs(cg, exist_ok=True)
        procs.append((cg, subprocess.Popen([worker, cg])))
    return procs


def stop_workers(procs):
    for _, p in procs:
        p.send_signal(signal.SIGKILL)
    for cg, p in procs:
        p.wait()
        for _ in range(100):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.01)


def cpu_while_scraped(d, seconds, interval=5.0):
    """Daemon CPU (% of one core) over `seconds`, scraped every `interval`."""
    c0, t0 = proc_cpu_seconds(d.pid), time.time()
    times = []
    while time.time() - t0 < seconds:
        _, dt = fetch(d.url)
        times.append(dt)
        time.sleep(max(0.0, interval - dt))
    return 100.0 * (proc_cpu_seconds(d.pid) - c0) / (time.time() - t0), times


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__.strip().splitlines()[-1])
    build, ncg, seconds = args[0], 1000, 30
    for a in args[1:]:
        if a.startswith("--cgroups="):
            ncg = int(a.split("=", 1)[1])
        elif a.startswith("--seconds="):
            seconds = int(a.split("=", 1)[1])
        else:
            sys.exit(f"scale.py: unknown option {a}")
    worker = os.path.join(build, "bench", "syslens-bench-worker")
    load = os.path.join(build, "bench", "syslens-bench-load")
    parent = os.path.join(cgroup2_root(), f"syslens-scale-{os.getpid()}")
    os.makedirs(parent)
    rows = []
    # Room for 1,000 cgroups x ~45 keys in the hash even if no slot is free.
    config = "bpf:\n  max_stats_entries: 131072\n"
    try:
        with Syslensd(build, config) as d:
            rss_start = proc_rss_bytes(d.pid)
            workers = spawn_workers(worker, parent, ncg, "live")
            deadline = time.time() + 120
            while d.metric("syslens_tracked_cgroups") < ncg and time.time() < deadline:
                time.sleep(0.5)
            tracked = d.metric("syslens_tracked_cgroups")
            sizes, times = [], []
            for _ in range(10):
                body, dt = fetch(d.url)
                sizes.append(len(body))
                times.append(dt)
            series = sum(1 for line in body.decode().splitlines()
                         if line.startswith("syslens_syscalls_total{"))
            gz_sizes, gz_times = [], []
            for _ in range(10):
                gz, dt = fetch(d.url, gzip=True)
                gz_sizes.append(len(gz))
                gz_times.append(dt)
            pb_sizes, pb_times, pbgz_sizes = [], [], []
            for _ in range(10):
                pb, dt = fetch(d.url, protobuf=True)
                pb_sizes.append(len(pb))
                pb_times.append(dt)
                pbgz_sizes.append(len(fetch(d.url, gzip=True, protobuf=True)[0]))
            cpu, _ = cpu_while_scraped(d, seconds)
            rows += [
                (f"cgroups tracked (of {ncg} live)", f"{tracked:.0f}", ""),
                ("syslens_syscalls_total series", f"{series}", ""),
                ("/metrics response time, median of 10", f"{1000 * median(times):.1f} ms", "<= 100 ms"),
                ("/metrics size", f"{median(sizes) / 2**20:.1f} MiB", ""),
                ("/metrics with Accept-Encoding: gzip, response time, median of 10",
                 f"{1000 * median(gz_times):.1f} ms", ""),
                ("/metrics with Accept-Encoding: gzip, bytes sent",
                 f"{median(gz_sizes) / 2**20:.2f} MiB ({100 * median(gz_sizes) / median(sizes):.1f} %)", ""),
                ("/metrics as protobuf (native histograms), response time, median of 10",
                 f"{1000 * median(pb_times):.1f} ms", ""),
                ("/metrics as protobuf, size; with gzip",
                 f"{median(pb_sizes) / 2**20:.1f} MiB; {median(pbgz_sizes) / 2**20:.2f} MiB", ""),
                ("daemon RSS at start", f"{rss_start / 2**20:.1f} MiB", ""),
                (f"daemon RSS with {ncg} cgroups", f"{proc_rss_bytes(d.pid) / 2**20:.1f} MiB", "<= 64 MiB"),
                (f"daemon CPU, scraped every 5 s, {seconds} s", f"{cpu:.2f} % of a core", ""),
            ]
            stop_workers(workers)

            # Churn: batches of 50 cgroups created, used, removed, for `seconds`.
            c0, t0, made = proc_cpu_seconds(d.pid), time.time(), 0
            churn_times = []
            while time.time() - t0 < seconds:
                batch = spawn_workers(worker, parent, 50, f"churn{made}-")
                time.sleep(0.2)
                stop_workers(batch)
                made += 50
                if made % 500 == 0:
                    churn_times.append(fetch(d.url)[1])
            elapsed = time.time() - t0
            rows += [
                (f"churn: cgroups created and removed", f"{made} in {elapsed:.0f} s", ""),
                ("churn: daemon CPU", f"{100 * (proc_cpu_seconds(d.pid) - c0) / elapsed:.2f} % of a core", ""),
                ("churn: /metrics response time, median", f"{1000 * median(churn_times):.1f} ms", ""),
                ("churn: daemon RSS after", f"{proc_rss_bytes(d.pid) / 2**20:.1f} MiB", ""),
            ]

        # Load: a fresh daemon, one process making getppid calls as fast as it
        # can, scraped every 15 s (Prometheus' default): what a busy host costs.
        with Syslensd(build, config) as d:
            calls0 = d.metric("syslens_syscalls_total")
            loadp = subprocess.Popen([load, str(seconds)])
            t0 = time.time()
            cpu, _ = cpu_while_scraped(d, seconds, interval=15.0)
            loadp.wait()
            rate = (d.metric("syslens_syscalls_total") - calls0) / (time.time() - t0)
            per_million = cpu / (rate / 1e6) if rate > 0 else float("nan")
            rows += [
                ("load: syscalls/s seen", f"{rate / 1e6:.2f} million", ""),
                ("load: daemon CPU, scraped every 15 s", f"{cpu:.2f} % of a core", ""),
                ("load: daemon CPU per million syscalls/s", f"{per_million:.2f} % of a core", "<= 1 %"),
            ]
    finally:
        for name in os.listdir(parent) if os.path.isdir(parent) else []:
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass
        shutil.rmtree(parent, ignore_errors=True) if not os.path.isdir(parent) else os.rmdir(parent)

    print(f"scale: syslensd (full mode) with {ncg} live cgroups x 40 syscalls, churn and load")
    print(f"{'measure':<44} {'value':>22} {'target':>10}")
    for m, v, t in rows:
        print(f"{m:<44} {v:>22} {t:>10}")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
