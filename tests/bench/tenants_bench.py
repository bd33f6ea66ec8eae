#!/usr/bin/env python3
"""Density, latency and isolation of many small tenant indexes on one node.

Starts a fresh standalone quiver with auth on and measures, in one run:
  density   N tenants x 1 index x V vectors: create latencies, resident memory
            per empty index and per filled index beyond its vector bytes;
  search    p50/p99 of k=10 searches spread over every tenant;
  auth      the cost of auth on a request (auth-on vs auth-off server, same data);
  noisy     tenant B's search p99 alone and while tenant A floods searches and
            upserts (A rate-limited by its quota, as a host would configure it).
Prints a table and writes JSON (--json). Used by docs/BENCHMARKS.md and, small,
by tests/integration/test_noisy_neighbor.py.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

ADMIN = "bench-admin-key-0123456789"
UPSERT_EVERY = int(os.environ.get("QUIVER_FLOOD_UPSERT_EVERY", "4"))  # 0: searches only
FLOOD_BATCH = int(os.environ.get("QUIVER_FLOOD_BATCH", "20"))


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Server:
    def __init__(self, binary, auth, extra=tuple(os.environ.get("QUIVER_BENCH_ARGS", "").split())):
        self.dir = tempfile.mkdtemp(prefix="quiver-tenants-")
        args = [binary, "--port", "0", "--data-dir", self.dir, "--log-level", "warn"]
        if auth:
            cfg = os.path.join(self.dir, "auth.toml")
            with open(cfg, "w") as f:
                f.write('[auth]\nadmin_key = "%s"\n' % ADMIN)
            args += ["--config", cfg]
        args += list(extra)
        self.log = open(os.path.join(self.dir, "log"), "w+")
        # warn level hides the "listening" line: pick the port ourselves.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        args[2] = str(self.port)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("quiver did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=600)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Conn:
    def __init__(self, port, key=None):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.h = {"Content-Type": "application/json"}
        if key:
            self.h["Authorization"] = "Bearer " + key

    def __call__(self, method, path, body=None, expect=(200, 201)):
        t = time.perf_counter()
        self.c.request(method, path, body=None if body is None else json.dumps(body), headers=self.h)
        r = self.c.getresponse()
        data = r.read()
        ms = (time.perf_counter() - t) * 1000
        if r.status not in expect:
            raise RuntimeError("%s %s -> %d %s" % (method, path, r.status, data[:200]))
        return r.status, (json.loads(data) if data else None), ms


def vec(rng, dim):
    return [rng.uniform(-1, 1) for _ in range(dim)]


def density(srv, n, vectors, dim, threads):
    admin = Conn(srv.port, ADMIN)
    keys = [None] * n
    lat = {"tenant": [], "index": [], "upsert": []}
    base = rss_bytes(srv.proc.pid)

    def create(lo, hi):
        a = Conn(srv.port, ADMIN)
        for i in range(lo, hi):
            _, out, ms = a("POST", "/v1/admin/tenants", {"name": "t%05d" % i})
            lat["tenant"].append(ms)
            keys[i] = out["api_key"]
            _, _, ms = Conn(srv.port, keys[i])("POST", "/v1/indexes", {"name": "docs", "dimension": dim})
            lat["index"].append(ms)

    def fill(lo, hi):
        rng = random.Random(lo)
        for i in range(lo, hi):
            items = [{"id": "d%d" % j, "vector": vec(rng, dim)} for j in range(vectors)]
            _, _, ms = Conn(srv.port, keys[i])("POST", "/v1/indexes/docs/vectors", {"items": items})
            lat["upsert"].append(ms)

    def run(fn):
        step = (n + threads - 1) // threads
        ts = [threading.Thread(target=fn, args=(k, min(n, k + step))) for k in range(0, n, step)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return time.perf_counter() - t0

    create_s = run(create)
    time.sleep(1)
    empty = rss_bytes(srv.proc.pid)
    fill_s = run(fill)
    time.sleep(1)
    full = rss_bytes(srv.proc.pid)
    vector_bytes = n * vectors * dim * 4
    admin("GET", "/v1/admin/tenants")
    return keys, {
        "tenants": n, "vectors_per_index": vectors, "dimension": dim,
        "rss_base_mb": base / 2**20, "rss_empty_mb": empty / 2**20, "rss_full_mb": full / 2**20,
        "per_empty_index_kib": (empty - base) / n / 1024,
        "per_index_overhead_kib": (full - base - vector_bytes) / n / 1024,
        "create_tenant_ms_p50": pct(lat["tenant"], 50), "create_tenant_ms_p99": pct(lat["tenant"], 99),
        "create_index_ms_p50": pct(lat["index"], 50), "create_index_ms_p99": pct(lat["index"], 99),
        "upsert_batch_ms_p50": pct(lat["upsert"], 50), "upsert_batch_ms_p99": pct(lat["upsert"], 99),
        "create_seconds": create_s, "fill_seconds": fill_s,
    }


def searches(port, keys, dim, count, seed=1):
    rng = random.Random(seed)
    conns = {}
    lat = []
    for _ in range(count):
        k = rng.choice(keys)
        c = conns.get(k) or conns.setdefault(k, Conn(port, k))
        lat.append(c("POST", "/v1/indexes/docs/search", {"vector": vec(rng, dim), "k": 10})[2])
        if len(conns) > 64:
            conns.clear()
    return lat


def auth_overhead(binary, dim, count):
    out = {}
    for auth in (False, True):
        srv = Server(binary, auth)
        try:
            key = None
            if auth:
                key = Conn(srv.port, ADMIN)("POST", "/v1/admin/tenants", {"name": "a"})[1]["api_key"]
            c = Conn(srv.port, key)
            c("POST", "/v1/indexes", {"name": "docs", "dimension": dim})
            rng = random.Random(3)
            c("POST", "/v1/indexes/docs/vectors", {"items": [{"id": str(j), "vector": vec(rng, dim)} for j in range(100)]})
            q = vec(rng, dim)
            lat = [c("GET", "/v1/indexes/docs/vectors/1")[2] for _ in range(count)]
            out["auth_on" if auth else "auth_off"] = pct(lat, 50)
        finally:
            srv.stop()
    out["auth_overhead_us"] = (out["auth_on"] - out["auth_off"]) * 1000
    return out


def flood(port, key, dim, stop_at):
    """Tenant A's flood: searches and 20-vector upserts, 3:1, as fast as answers come.
    Runs at nice 19 with prebuilt bodies: the flooding clients stand for machines
    elsewhere and must not take the measuring client's CPU on this one."""
    os.nice(19)
    rng = random.Random(os.getpid())
    searches = [json.dumps({"vector": vec(rng, dim), "k": 10}) for _ in range(64)]
    upserts = [json.dumps({"items": [{"id": "f%d" % rng.randrange(5000), "vector": vec(rng, dim)}
                                     for _ in range(FLOOD_BATCH)]}) for _ in range(16)]
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    i = 0
    while time.time() < stop_at:
        i += 1
        try:
            if UPSERT_EVERY and i % UPSERT_EVERY == 0:
                c.request("POST", "/v1/indexes/docs/vectors", body=upserts[i % 16], headers=headers)
            else:
                c.request("POST", "/v1/indexes/docs/search", body=searches[i % 64], headers=headers)
            c.getresponse().read()
        except (OSError, http.client.HTTPException):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def noisy(binary, dim, count, flooders, rate, rounds=3):
    srv = Server(binary, True)
    try:
        admin = Conn(srv.port, ADMIN)
        ka = admin("POST", "/v1/admin/tenants", {"name": "noisy", "quotas": {"max_requests_per_s": rate}})[1]["api_key"]
        kb = admin("POST", "/v1/admin/tenants", {"name": "quiet"})[1]["api_key"]
        rng = random.Random(5)
        def patiently(c, *request):  # A's own rate limit applies to its set-up too
            while c(*request, expect=(200, 201, 429))[0] == 429:
                time.sleep(0.5)

        for k, n in ((ka, 2000), (kb, 2000)):
            c = Conn(srv.port, k)
            patiently(c, "POST", "/v1/indexes", {"name": "docs", "dimension": dim})
            for lo in range(0, n, 500):
                patiently(c, "POST", "/v1/indexes/docs/vectors",
                          {"items": [{"id": str(j), "vector": vec(rng, dim)} for j in range(lo, lo + 500)]})
        b = Conn(srv.port, kb)
        def measure():
            r = random.Random(11)
            return [b("POST", "/v1/indexes/docs/search", {"vector": vec(r, dim), "k": 10})[2] for _ in range(count)]
        measure()  # warm up
        # Solo and flooded phases alternate, so drift of the machine hits both.
        solo, loaded, ratios = [], [], []
        ctx = multiprocessing.get_context("fork")
        for _ in range(rounds):
            alone = measure()
            stop_at = time.time() + 3600
            pool = [ctx.Process(target=flood, args=(srv.port, ka, dim, stop_at)) for _ in range(flooders)]
            for p in pool:
                p.start()
            time.sleep(1)
            flooded = measure()
            for p in pool:
                p.terminate()
                p.join()
            solo += alone
            loaded += flooded
            ratios.append(pct(flooded, 99) / pct(alone, 99))
        c = http.client.HTTPConnection("127.0.0.1", srv.port)
        c.request("GET", "/metrics", headers={"Authorization": "Bearer " + ADMIN})
        text = c.getresponse().read().decode()
        limited = sum(float(x.split()[-1]) for x in text.splitlines()
                      if x.startswith('quiver_tenant_rate_limited_total{tenant="noisy"}'))
        served = sum(float(x.split()[-1]) for x in text.splitlines()
                     if x.startswith('quiver_tenant_requests_total{tenant="noisy"}'))
        return {"solo_p50_ms": pct(solo, 50), "solo_p99_ms": pct(solo, 99),
                "flood_p50_ms": pct(loaded, 50), "flood_p99_ms": pct(loaded, 99),
                "p99_ratio_median": pct(ratios, 50), "p99_ratios": ratios,
                "flooders": flooders, "noisy_rate_limit": rate,
                "noisy_requests": served, "noisy_rate_limited": limited}
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quiver", default="build/bin/quiver")
    ap.add_argument("--tenants", type=int, default=10000)
    ap.add_argument("--vectors", type=int, default=100)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--searches", type=int, default=5000)
    ap.add_argument("--auth-requests", type=int, default=5000)
    ap.add_argument("--noisy-searches", type=int, default=2000)
    ap.add_argument("--flooders", type=int, default=3)
    ap.add_argument("--noisy-rate", type=int, default=50)
    ap.add_argument("--noisy-rounds", type=int, default=5)
    ap.add_argument("--only", choices=["density", "auth", "noisy"], action="append")
    ap.add_argument("--json")
    a = ap.parse_args()
    only = set(a.only or ["density", "auth", "noisy"])
    result = {}
    if "density" in only:
        srv = Server(a.quiver, True)
        try:
            keys, result["density"] = density(srv, a.tenants, a.vectors, a.dim, a.threads)
            lat = searches(srv.port, keys, a.dim, a.searches)
            result["search"] = {"count": len(lat), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}
        finally:
            srv.stop()
    if "auth" in only:
        result["auth"] = auth_overhead(a.quiver, a.dim, a.auth_requests)
    if "noisy" in only:
        result["noisy"] = noisy(a.quiver, a.dim, a.noisy_searches, a.flooders, a.noisy_rate,
                                 a.noisy_rounds)
    for part, values in result.items():
        print("[%s]" % part)
        for k, v in values.items():
            print("  %-26s %s" % (k, ("%.3f" % v) if isinstance(v, float) else v))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
