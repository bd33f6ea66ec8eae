#!/usr/bin/env python3
"""What a merge of a large index costs: time and peak memory.

Starts a fresh standalone quiver, loads N vectors into a source index (MessagePack
batches of 1,000 with binary vectors), then merges it into an empty target and
samples the server's RSS every 50 ms meanwhile. A merge streams the source in pages
of 1,000 vectors, so its peak RSS above the loaded state should be about the
target's own size (the same as the source's), not the source held again in
messages. Prints one line per phase; used by docs/BENCHMARKS.md.

Usage: python3 tests/bench/merge_bench.py [--binary build/bin/quiver] [--n 200000] [--dim 64]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import msgpack


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, method, path, body=None, timeout=3600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if isinstance(body, dict):
        body = json.dumps(body)
        headers["Content-Type"] = "application/json"
    elif body is not None:
        headers["Content-Type"] = "application/msgpack"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/bin/quiver")
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--dim", type=int, default=64)
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="quiver-merge-")
    port = free_port()
    log = open(os.path.join(data, "log"), "w")
    proc = subprocess.Popen([a.binary, "--port", str(port), "--data-dir", data, "--log-level", "warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                if request(port, "GET", "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        for name in ("src", "dst"):
            st, body = request(port, "POST", "/v1/indexes",
                               {"name": name, "dimension": a.dim, "distance": "euclidean"})
            assert st == 201, body
        rng = random.Random(7)
        started = time.monotonic()
        for first in range(0, a.n, 1000):
            items = [{"id": "v%d" % i, "vector": struct.pack("<%df" % a.dim, *[rng.random() for _ in range(a.dim)]),
                      "metadata": {"i": i}} for i in range(first, min(a.n, first + 1000))]
            st, body = request(port, "POST", "/v1/indexes/src/vectors", msgpack.packb({"items": items}))
            assert st == 200, body
        load_s = time.monotonic() - started
        time.sleep(1)
        before = rss_bytes(proc.pid)
        peak, stop = [before], threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_bytes(proc.pid))
                time.sleep(0.05)

        t = threading.Thread(target=sample)
        t.start()
        started = time.monotonic()
        st, body = request(port, "POST", "/v1/indexes/dst/merge", {"source": "src"})
        merge_s = time.monotonic() - started
        stop.set()
        t.join()
        assert st == 200 and json.loads(body) == {"merged": a.n}, body
        after = rss_bytes(proc.pid)
        _, src = request(port, "GET", "/v1/indexes/src")
        src = json.loads(src)
        mib = 1 << 20
        print("command: python3 tests/bench/merge_bench.py --n %d --dim %d" % (a.n, a.dim))
        print("load %d x %d-d: %.1f s (%.0f vectors/s)" % (a.n, a.dim, load_s, a.n / load_s))
        print("merge: %.1f s (%.0f vectors/s), one request" % (merge_s, a.n / merge_s))
        print("RSS before merge %.0f MiB, peak during %.0f MiB (+%.0f), after %.0f MiB; "
              "source index memory_bytes %.0f MiB" % (before / mib, peak[0] / mib, (peak[0] - before) / mib,
                                                      after / mib, src["memory_bytes"] / mib))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
