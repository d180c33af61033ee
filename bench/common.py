"""Shared pieces of the macro and scale benchmarks: a syslensd to measure."""
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request


def median(xs):
    return statistics.median(xs) if xs else float("nan")


PROTOBUF = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
            "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")


def fetch(url, timeout=10, gzip=False, protobuf=False):
    """Body as sent and wall time (s) of one GET; gzip: ask for it, as
    Prometheus does (the body is then the compressed bytes); protobuf: ask
    for the protobuf exposition, as Prometheus with native histograms does."""
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    if protobuf:
        headers["Accept"] = PROTOBUF
    req = urllib.request.Request(url, headers=headers)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return body, time.perf_counter() - t0


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Syslensd:
    """syslensd on a private port with the given config; stopped on exit."""

    def __init__(self, build, config="", port=19823, log_level="warn"):
        self.dir = tempfile.TemporaryDirectory(prefix="syslens-bench-")
        cfg = os.path.join(self.dir.name, "syslens.yaml")
        with open(cfg, "w") as f:
            # Not pinned: each measurement starts from empty maps and leaves
            # nothing in /sys/fs/bpf/syslens.
            f.write("bpf:\n  pin_path: \"\"\n" + config.replace("bpf:\n", "", 1))
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.log = open(os.path.join(self.dir.name, "log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(build, "daemon", "syslensd"), f"--web.listen-address=127.0.0.1:{port}",
             f"--config.file={cfg}", f"--log.level={log_level}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                fetch(self.url, timeout=2)
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.log.seek(0)
                    raise RuntimeError("syslensd did not start: " + self.log.read().strip())
                time.sleep(0.1)

    @property
    def pid(self):
        return self.proc.pid

    def metric(self, name):
        """Sum of every sample of one metric family (no labels filter)."""
        body, _ = fetch(self.url)
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()
        self.dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def cgroup2_root():
    """Mount point of the cgroup v2 hierarchy (unified or hybrid layout)."""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    raise RuntimeError("no cgroup2 mount")
