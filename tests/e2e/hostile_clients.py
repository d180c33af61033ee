#!/usr/bin/env python3
"""Hostile clients against one syslensd listener, as an attacker on the same
host would run them, for the e2e soak (Daemon.ScrapesGetThroughHostileClients).

  hostile_clients.py --port P [--tls] --seconds S [--idle 1000] [--slowloris 50] [--garbage 10]

- idle: sockets that connect and never send a byte (with --tls: never a
  ClientHello);
- slowloris: clients that send a request one byte a second (with --tls after
  a real TLS handshake), never finishing it;
- garbage: clients that send random bytes and wait for the answer.

Each client the server closes connects again at once, for S seconds. Then
no client connects again, and the script waits until the server has closed
every one (its read timeout is 10 s), so that what it counts is complete.
It prints one JSON line: how many connections it opened and how many the
server closed (each exactly once), and how many it found still open.
"""
import argparse
import json
import os
import random
import resource
import selectors
import socket
import ssl
import threading
import time


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.opened = 0
        self.closed_by_server = 0
        self.connect_errors = 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s


def pool(port, n, payload, deadline, counts, stop_at):
    """n sockets kept open (idle: payload None) or sending payload; each
    one the server closes is counted and opened again until deadline."""
    sel = selectors.DefaultSelector()
    live = 0

    def open_one():
        nonlocal live
        try:
            s = connect(port)
        except OSError:
            counts.add(connect_errors=1)
            time.sleep(0.01)
            return
        counts.add(opened=1)
        live += 1
        if payload is not None:
            try:
                s.send(payload())
            except OSError:
                pass  # closed already: seen below
        sel.register(s, selectors.EVENT_READ)

    for _ in range(n):
        open_one()
    while live > 0 and time.monotonic() < stop_at:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                continue  # an answer (400); the close follows
            sel.unregister(s)
            s.close()
            live -= 1
            counts.add(closed_by_server=1)
            if time.monotonic() < deadline:
                open_one()
    return live


def slowloris(port, ctx, deadline, counts, stop_at, still_open):
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
    while time.monotonic() < deadline:
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            s = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
        except (OSError, ssl.SSLError):
            counts.add(connect_errors=1)
            time.sleep(0.1)
            continue
        counts.add(opened=1)
        s.settimeout(1.0)
        closed = False
        for i in range(len(request)):
            if time.monotonic() >= stop_at:
                break
            try:
                s.send(request[i:i + 1])
                if s.recv(1) == b"":
                    closed = True
                    break
            except (socket.timeout, ssl.SSLWantReadError):
                continue  # the server is still waiting for the rest: one more byte
            except (OSError, ssl.SSLError):
                closed = True
                break
        if closed:
            counts.add(closed_by_server=1)
        else:
            with counts.lock:
                still_open.append(1)
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slowloris", type=int, default=50)
    ap.add_argument("--garbage", type=int, default=10)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.idle + a.slowloris + a.garbage + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    ctx = None
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    counts = Counts()
    deadline = time.monotonic() + a.seconds
    stop_at = deadline + 30  # the server closes every client within its 10 s read timeout
    rng = random.Random(1)
    garbage = lambda: bytes(rng.getrandbits(8) for _ in range(512)) + b"\r\n\r\n"
    still_open = []
    threads = [
        threading.Thread(target=lambda: still_open.append(pool(a.port, a.idle, None, deadline, counts, stop_at))),
        threading.Thread(target=lambda: still_open.append(pool(a.port, a.garbage, garbage, deadline, counts, stop_at))),
    ]
    threads += [
        threading.Thread(target=slowloris, args=(a.port, ctx, deadline, counts, stop_at, still_open))
        for _ in range(a.slowloris)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({
        "opened": counts.opened,
        "closed_by_server": counts.closed_by_server,
        "still_open": sum(still_open),
        "connect_errors": counts.connect_errors,
    }), flush=True)


if __name__ == "__main__":
    main()
