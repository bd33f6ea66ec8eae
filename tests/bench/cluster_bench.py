#!/usr/bin/env python3
"""Cluster benchmarks on one machine (storaged + 3 vectord + 1 gatewayd, loopback).

  fanout    search QPS and p50/p99 (k=10) for the same data in 1, 2 and 4 shards
            (x2 replicas): what scatter-gather costs
  failover  SIGKILL of the vectord holding the most primaries under search load:
            kill -> every shard serving again (from the searches' view), N rounds
  catchup   a replica 100k records behind (its node down while the primary took
            them): restart -> replica serving with lag 0 (log replay, no snapshot)
  writes    upsert throughput and per-batch p50/p99 (batches of 100, --clients
            writers) into 2 shards x 2 replicas
  bootstrap (with --replica-logs) a replica whose node was away while its primary
            took --boot-vectors x --boot-dim and snapshotted: restart -> in sync,
            the snapshot streamed over the wire; then the same replica restarted
            again, loading that snapshot from its own disk

--peer-tls runs every daemon with mutual TLS between daemons (throwaway
credentials), for the cost of the tunnel against the same run without.

Prints medians and writes JSON (--json). Build first (scripts/build). The client
runs on the same cores as the cluster.
"""
import argparse
import glob
import http.client
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
os.environ.setdefault("QUIVER_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "..", "..", "build", "bin", "quiver"))
import test_cluster  # noqa: E402
from test_cluster import Cluster, caught_up, primaries_by_node, serving  # noqa: E402


def post(conn, path, body):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def create(c, name, shards, dim, replicas=2):
    status, data = c.request("POST", "/v1/indexes", {"name": name, "dimension": dim, "shards": shards,
                                                     "replicas": replicas})
    assert status == 201, data
    c.wait(serving(name, shards, replicas), name)


def ingest(c, name, n, dim, seed, batch=500):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", c.gateways[0].port, timeout=120)
    for i in range(0, n, batch):
        items = [{"id": "v%07d" % j, "vector": [rng.gauss(0, 1) for _ in range(dim)]}
                 for j in range(i, min(n, i + batch))]
        status, data = post(conn, "/v1/indexes/%s/vectors" % name, {"items": items})
        assert status == 200, data
    conn.close()


def load(c, name, dim, seconds, clients, record=None):
    """Closed-loop searches; returns (qps, p50 ms, p99 ms, statuses)."""
    lat, statuses, stop = [], [], time.monotonic() + seconds
    lock = threading.Lock()

    def run(k):
        rng = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", c.gateways[0].port, timeout=30)
        while time.monotonic() < stop:
            q = {"vector": [rng.gauss(0, 1) for _ in range(dim)], "k": 10}
            t0 = time.monotonic()
            try:
                status, _ = post(conn, "/v1/indexes/%s/search" % name, q)
            except Exception:  # noqa: BLE001
                status = 0
                conn = http.client.HTTPConnection("127.0.0.1", c.gateways[0].port, timeout=30)
            t1 = time.monotonic()
            with lock:
                statuses.append((t1, status))
                if status == 200:
                    lat.append((t1 - t0) * 1000)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")  # noqa: E731
    return len(lat) / seconds, pct(0.5), pct(0.99), statuses


def cluster_args(args):
    """Every daemon's extra flags: the peer TLS credentials with --peer-tls."""
    if not args.peer_tls:
        return []
    global CREDS
    if CREDS is None:
        import test_peer_tls
        CREDS = test_peer_tls.Credentials()
    return CREDS.args()


CREDS = None


def writes(args, out):
    out["writes"] = {}
    if args.standalone_writes:
        out["writes"]["standalone"] = write_run(args, 0)
    for replicas in args.write_replicas:
        out["writes"][replicas] = write_run(args, replicas)


class Standalone:
    """The standalone quiver, shaped like a Cluster for write_run (replicas 0)."""

    def __init__(self):
        import quiver_server
        self.server = quiver_server.QuiverServer()
        self.gateways = [self.server]

    def request(self, method, path, body=None):
        status, _, data = self.server.request(method, path, body)
        return status, data

    def stop(self):
        self.server.stop()


def write_run(args, replicas):
    c = (Standalone() if replicas == 0 else
         Cluster(vectords=3, gateways=1, common_args=cluster_args(args),
                 replica_logs=args.replica_logs))
    try:
        if replicas == 0:
            status, data = c.request("POST", "/v1/indexes", {"name": "w", "dimension": args.dim,
                                                             "shards": 2})
            assert status == 201, data
        else:
            create(c, "w", 2, args.dim, replicas)
        runs = []
        for rnd in range(args.rounds):
            lat, lock, stop = [], threading.Lock(), time.monotonic() + args.seconds

            def run(k):
                rng = random.Random(rnd * 100 + k)
                conn = http.client.HTTPConnection("127.0.0.1", c.gateways[0].port, timeout=60)
                n = 0
                while time.monotonic() < stop:
                    items = [{"id": "r%d-c%d-%07d" % (rnd, k, n + j),
                              "vector": [rng.gauss(0, 1) for _ in range(args.dim)]}
                             for j in range(100)]
                    n += 100
                    t0 = time.monotonic()
                    status, data = post(conn, "/v1/indexes/w/vectors", {"items": items})
                    assert status == 200, data
                    with lock:
                        lat.append((time.monotonic() - t0) * 1000)
            threads = [threading.Thread(target=run, args=(k,)) for k in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            lat.sort()
            runs.append((len(lat) * 100 / args.seconds, lat[len(lat) // 2],
                         lat[min(len(lat) - 1, int(0.99 * len(lat)))]))
        row = {"records_per_s": statistics.median(r[0] for r in runs),
               "batch_p50_ms": statistics.median(r[1] for r in runs),
               "batch_p99_ms": statistics.median(r[2] for r in runs)}
        print("writes  %s: %7.0f records/s  batch of 100: p50 %.2f ms  p99 %.2f ms%s%s" %
              ("standalone" if replicas == 0 else "%d replica(s)" % replicas, row["records_per_s"], row["batch_p50_ms"], row["batch_p99_ms"],
               "  (peer TLS)" if args.peer_tls else "",
               "  (replica logs)" if args.replica_logs and replicas else ""), flush=True)
        return row
    finally:
        c.stop()


def fanout(args, out):
    c = Cluster(vectords=3, gateways=1, common_args=cluster_args(args),
                replica_logs=args.replica_logs)
    try:
        rows = {}
        for shards in (1, 2, 4):
            name = "fan%d" % shards
            create(c, name, shards, args.dim)
            ingest(c, name, args.vectors, args.dim, 1)
            c.wait(caught_up(name), name + " caught up")
            runs = [load(c, name, args.dim, args.seconds, args.clients)[:3] for _ in range(args.rounds)]
            rows[shards] = {"qps": statistics.median(r[0] for r in runs),
                            "p50_ms": statistics.median(r[1] for r in runs),
                            "p99_ms": statistics.median(r[2] for r in runs)}
            print("fanout  %d shard(s): %7.0f searches/s  p50 %.2f ms  p99 %.2f ms%s" %
                  (shards, rows[shards]["qps"], rows[shards]["p50_ms"], rows[shards]["p99_ms"],
                   "  (peer TLS)" if args.peer_tls else ""), flush=True)
        out["fanout"] = rows
    finally:
        c.stop()


def failover(args, out):
    times, windows = [], []
    for rnd in range(args.rounds):
        c = Cluster(vectords=3, gateways=1, common_args=cluster_args(args),
                    replica_logs=args.replica_logs)
        try:
            create(c, "f", 4, args.dim)
            ingest(c, "f", 5000, args.dim, 2)
            c.wait(caught_up("f"), "f caught up")
            victim = max(primaries_by_node(c.map(), "f").items(), key=lambda kv: kv[1])[0]
            result = {}
            t = threading.Thread(target=lambda: result.update(r=load(c, "f", args.dim, 6, 4)))
            t.start()
            time.sleep(2)
            killed = time.monotonic()
            c.vectords[victim].kill()
            c.wait(serving("f", 4, 2), "re-replicated")
            replicated = time.monotonic() - killed
            t.join()
            bad = [ts for ts, s in result["r"][3] if ts >= killed and s != 200]
            window = (max(bad) - killed) if bad else 0.0
            times.append(replicated)
            windows.append(window)
            print("failover round %d: searches back in %.3f s (%d failed), every shard 2 replicas "
                  "again in %.3f s" % (rnd + 1, window, len(bad), replicated), flush=True)
        finally:
            c.stop()
    out["failover"] = {"search_window_s_median": statistics.median(windows),
                       "rereplicated_s_median": statistics.median(times),
                       "windows": windows, "rereplicated": times}


def catchup(args, out):
    c = Cluster(vectords=2, gateways=1, vectord_args=["--snapshot-every-records", "0",
                                                       "--snapshot-interval-s", "0"],
                common_args=cluster_args(args), replica_logs=args.replica_logs)
    try:
        create(c, "cu", 1, 8)
        m = c.map()
        shard = [s for s in m["shards"] if s["index"] == "cu"][0]
        behind = [r["node"] for r in shard["replicas"] if not r["primary"]][0]
        c.vectords[behind].kill()
        c.wait(lambda m: [n for n in m["nodes"] if n["name"] == behind][0]["status"] == "down",
               "replica down")
        t0 = time.monotonic()
        ingest(c, "cu", args.catchup_records, 8, 3, batch=1000)
        print("catchup: %d records written in %.1f s while the replica was down" %
              (args.catchup_records, time.monotonic() - t0), flush=True)
        t0 = time.monotonic()
        c.start_vectord(behind)
        c.wait(lambda m: caught_up("cu")(m) and len([s for s in m["shards"] if s["index"] == "cu"][0]
                                                    ["replicas"]) == 2, "caught up", timeout=600)
        took = time.monotonic() - t0
        print("catchup: replica %d records behind serving with lag 0 after %.2f s (%.0f records/s)"
              % (args.catchup_records, took, args.catchup_records / took), flush=True)
        out["catchup"] = {"records": args.catchup_records, "seconds": took}
    finally:
        c.stop()


def newest_snapshot(c, node, name):
    """(seq, bytes) of the newest snapshot of `name` in `node`'s data dir."""
    best = (0, 0)
    for path in glob.glob(os.path.join(c.vectord_dir(node), "indexes", "default", name + "@*",
                                       "*", "snapshots", "*.qsnap")):
        digits = os.path.basename(path).split(".")[0]
        if digits.isdigit() and int(digits) > best[0]:
            best = (int(digits), os.path.getsize(path))
    return best


def last_match(text, pattern):
    found = re.findall(pattern, text)
    return found[-1] if found else None


def stamp(line_start):
    """Seconds of a log line's clock (same day)."""
    h, m, s = line_start.split("T")[1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def bootstrap(args, out):
    n, dim = args.boot_vectors, args.boot_dim
    every = max(1000, n // 4)
    root = tempfile.mkdtemp(prefix="quiver-bootbench-")
    config = os.path.join(root, "quiver.toml")
    with open(config, "w") as f:  # small segments: the primary's snapshot releases the log
        f.write("[storage]\nsegment_bytes = %d\n" % (1 << 20))
    c = Cluster(vectords=2, gateways=1, replica_logs=True, common_args=cluster_args(args),
                vectord_args=["--config", config, "--snapshot-every-records", str(every)])
    try:
        create(c, "boot", 1, dim)
        behind = [r["node"] for r in c.map()["shards"][0]["replicas"] if not r["primary"]][0]
        primary = [x for x in c.vectords if x != behind][0]
        c.vectords[behind].kill()
        c.wait(lambda m: [x for x in m["nodes"] if x["name"] == behind][0]["status"] == "down",
               "replica down")
        t0 = time.monotonic()
        ingest(c, "boot", n, dim, 5, batch=250)
        ingest_s = time.monotonic() - t0
        # A clean stop snapshots at the last record: both sides then load the
        # same snapshot and replay nothing, so the difference is the transfer.
        c.vectords[primary].stop()
        c.start_vectord(primary)
        c.wait(lambda m: m["shards"][0]["primary"] == primary, "the primary back", timeout=600)
        snap_seq, snap_bytes = newest_snapshot(c, primary, "boot")
        assert snap_seq == n, (snap_seq, n)
        print("bootstrap: %d x %d written in %.1f s with the replica away; primary snapshot at "
              "seq %d, %.1f MiB" % (n, dim, ingest_s, snap_seq, snap_bytes / 2**20), flush=True)

        def back_in_sync():
            t0 = time.monotonic()
            c.start_vectord(behind)
            c.wait(lambda m: caught_up("boot")(m) and len(m["shards"][0]["replicas"]) == 2,
                   "replica in sync", timeout=1200)
            return time.monotonic() - t0

        wire_s = back_in_sync()
        log = c.vectords[behind].read_log()
        asked = last_match(log, r"(\S+) info \[\d+\] shard \S+: the primary's log no longer holds")
        took = last_match(log, r"(\S+) info \[\d+\] shard \S+: took the primary's snapshot")
        in_step = last_match(log, r"(\S+) info \[\d+\] shard \S+: in step with its primary")
        assert asked and took and in_step, "the replica did not take the primary's snapshot"
        transfer_s = stamp(took) - stamp(asked)
        load_s = stamp(in_step) - stamp(took)
        c.vectords[behind].kill()
        local_s = back_in_sync()
        log = c.vectords[behind].read_log()
        ready = last_match(log, r"ready: (\d+) vectors, (\d+) log records replayed in ([\d.]+) s")
        assert ready and int(ready[0]) == n, ready
        print("bootstrap: over the wire in sync after %.2f s (transfer %.2f s, %.0f MiB/s; "
              "load and in step %.2f s); from its own snapshot in sync after %.2f s (load + "
              "replay of %s records %s s)"
              % (wire_s, transfer_s, snap_bytes / 2**20 / max(transfer_s, 1e-3), load_s,
                 local_s, ready[1], ready[2]), flush=True)
        out["bootstrap"] = {"vectors": n, "dim": dim, "ingest_s": ingest_s,
                            "snapshot_bytes": snap_bytes, "wire_in_sync_s": wire_s,
                            "wire_transfer_s": transfer_s, "wire_load_s": load_s,
                            "local_in_sync_s": local_s, "local_load_s": float(ready[2])}
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", choices=["fanout", "failover", "catchup", "writes", "bootstrap"], action="append")
    p.add_argument("--peer-tls", action="store_true", help="mutual TLS between the daemons")
    p.add_argument("--replica-logs", action="store_true",
                   help="a log on every replica (--replica-logs) instead of storaged's")
    p.add_argument("--write-replicas", type=int, nargs="+", default=[2],
                   help="writes: replicas per shard, one run each")
    p.add_argument("--standalone-writes", action="store_true",
                   help="writes: the standalone quiver too (2 shards), as the reference")
    p.add_argument("--vectors", type=int, default=20000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--catchup-records", type=int, default=100000)
    p.add_argument("--boot-vectors", type=int, default=100000)
    p.add_argument("--boot-dim", type=int, default=768)
    p.add_argument("--json")
    args = p.parse_args()
    out = {"args": vars(args)}
    try:
        for part in args.only or ["fanout", "failover", "catchup", "writes"]:
            {"fanout": fanout, "failover": failover, "catchup": catchup,
             "writes": writes, "bootstrap": bootstrap}[part](args, out)
    finally:
        if CREDS is not None:
            shutil.rmtree(CREDS.dir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    test_cluster.SLOW = 1
    main()
