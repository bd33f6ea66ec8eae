"""Failover and etcd traffic of the cluster on a real 3-member etcd (loopback).

  python3 tests/bench/etcd_cluster_bench.py [--rounds 3]
  python3 tests/bench/etcd_cluster_bench.py --no-storaged [--rounds 3]
  python3 tests/bench/etcd_cluster_bench.py --burst [--indexes 4 --shards 250]

Per round: SIGKILL and SIGSTOP of the vectord holding a primary (time from the
signal to the next acknowledged write), SIGKILL + restart of storaged (the
controller: time to the next acknowledged write), and etcd's committed
proposals per second at rest with 10 shards per node. Medians printed.

--no-storaged: every vectord keeps its replicas' logs and hosts a coordinator
(etcd elects one). Per round: SIGKILL and SIGSTOP of a primary's vectord that
is not the controller's, then SIGKILL, SIGSTOP and a clean stop (SIGTERM) of
the controller's vectord (it holds primaries too); each the time from the
signal to the next acknowledged write. A clean stop keeps serving while its
coordinator resigns, so for it the time until another vectord's coordinator
holds the controller key is printed too.

--burst: indexes × shards × 3 replicas on 3 vectords (4 × 250 = 1,000 shards
per node): etcd traffic at rest, then one vectord SIGKILLed: the time until
every shard record names a live primary again, the proposals that took, and the
time until a gateway's map shows it."""
import argparse
import os
import re
import signal
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("QUIVER_BIN", os.path.join(HERE, "..", "..", "build", "bin", "quiver"))

from test_cluster import Cluster, serving, vectors  # noqa: E402
from test_cluster_etcd import Etcd, epoch_of, write_etcd_config  # noqa: E402
import tempfile  # noqa: E402


def write_ok(c, seed):
    # 60 ids: every one of the 10 shards gets some, so the write needs every primary.
    try:
        status, _ = c.request("POST", "/v1/indexes/bench/vectors",
                              {"items": [{"id": "w%d-%d" % (seed, i), "vector": v}
                                         for i, (_, v) in enumerate(vectors(60, 8, seed))]},
                              timeout=2)
    except OSError:  # a request caught by the paused node: its answer never comes
        return False
    return status == 200


def until_write(c, t0, limit=60):
    n = 0
    while time.monotonic() - t0 < limit:
        n += 1
        if write_ok(c, int(time.monotonic() * 1000) + n):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise SystemExit("no write within %d s" % limit)


def counters(etcd):
    """(raft proposals committed, gRPC requests handled by all members)."""
    committed, handled = 0.0, 0.0
    for m in etcd.members:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % m["client"], timeout=3) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("etcd_server_proposals_committed_total"):
                    committed = max(committed, float(line.split()[-1]))
                elif line.startswith("grpc_server_handled_total{"):
                    handled += float(line.split()[-1])
    return committed, handled


def print_round(r, results):
    print("round %d: %s" % (r + 1, {k: round(v[-1], 2) for k, v in results.items()}), flush=True)


def print_medians(results):
    for k, v in results.items():
        print("%s: median %.2f (%s)" % (k, statistics.median(v), ", ".join("%.2f" % x for x in v)))


def controller_of(etcd, c):
    """The vectord whose coordinator holds the controller key (None: no one)."""
    import msgpack
    record = etcd.range_prefix("/qb/v1/controller").get("/qb/v1/controller")
    if record is None:
        return None
    address = msgpack.unpackb(record)[3]
    for name, p in c.vectords.items():
        served = re.findall(r"coordinator serving on caf://(\S+)", p.read_log()[p.mark:])
        if served and served[-1] == address:
            return name
    return None


def restart(proc):
    proc.proc.wait()
    proc.log.close()
    proc.start()


def no_storaged(args):
    etcd, c = start(replica_logs=True, coordinators_on_vectords=True)
    kinds = ["kill", "stop", "controller_kill", "controller_stop", "controller_term",
             "controller_term_handover"]
    results = {k: [] for k in kinds}
    try:
        status, data = c.request("POST", "/v1/indexes", {"name": "bench", "dimension": 8,
                                                         "shards": 10, "replicas": 3})
        assert status == 201, data
        for r in range(args.rounds):
            for kind in kinds[:-1]:
                c.wait(serving("bench", 10, 3), "serving", timeout=120)
                until_write(c, time.monotonic())
                time.sleep(2)
                leader = controller_of(etcd, c)
                assert leader, "no controller"
                if kind.startswith("controller"):
                    victim = leader
                else:
                    shards = etcd.range_prefix("/qb/v1/shards/")
                    victim = next(p for _, p in map(epoch_of, shards.values()) if p != leader)
                proc = c.vectords[victim]
                sig = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP,
                       "term": signal.SIGTERM}[kind.split("_")[-1]]
                t0 = time.monotonic()
                os.kill(proc.proc.pid, sig)
                results[kind].append(until_write(c, t0))
                if kind == "controller_term":
                    while controller_of(etcd, c) in (None, victim):
                        if time.monotonic() - t0 > 60:
                            raise SystemExit("no other controller within 60 s")
                        time.sleep(0.01)
                    results["controller_term_handover"].append(time.monotonic() - t0)
                if sig == signal.SIGSTOP:
                    os.kill(proc.proc.pid, signal.SIGCONT)
                else:
                    restart(proc)
                c.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3,
                       "nodes up", timeout=120)
            print_round(r, results)
    finally:
        c.stop()
        etcd.stop()
    print_medians(results)


def start(**cluster):
    """A 3-member etcd and a cluster on it (leases LEASE_S, keys under /qb/);
    `cluster`: more of Cluster's arguments."""
    root = tempfile.mkdtemp(prefix="quiver-etcd-bench-")
    etcd = Etcd(root)
    config = write_etcd_config(root, "/qb/")
    c = Cluster(common_args=["--config", config, "--etcd", etcd.endpoints()],
                node_timeout_ms=10000, **cluster)
    return etcd, c


def burst(args):
    etcd, c = start()
    try:
        t0 = time.monotonic()
        for i in range(args.indexes):
            status, data = c.request("POST", "/v1/indexes",
                                     {"name": "b%d" % i, "dimension": 8, "shards": args.shards,
                                      "replicas": 3}, timeout=600)
            assert status == 201, data
        for i in range(args.indexes):
            c.wait(serving("b%d" % i, args.shards, 3), "serving", timeout=1800)
        total = args.indexes * args.shards
        print("placed %d shards × 3 replicas (%d per node) in %.1f s"
              % (total, total, time.monotonic() - t0), flush=True)
        time.sleep(5)
        (p0, h0), t0 = counters(etcd), time.monotonic()
        time.sleep(20)
        (p1, h1), dt = counters(etcd), time.monotonic() - t0
        print("at rest: %.2f proposals/s, %.2f gRPC requests/s per vectord"
              % ((p1 - p0) / dt, (h1 - h0) / dt / len(c.vectords)), flush=True)
        shards = etcd.range_prefix("/qb/v1/shards/")
        victim = epoch_of(next(iter(shards.values())))[1]
        moved = sum(1 for v in shards.values() if epoch_of(v)[1] == victim)
        p0, _ = counters(etcd)
        t0 = time.monotonic()
        c.vectords[victim].kill()
        etcd_done = gateway_done = None
        while time.monotonic() - t0 < 600 and (etcd_done is None or gateway_done is None):
            if etcd_done is None:
                records = etcd.range_prefix("/qb/v1/shards/")
                if all(epoch_of(v)[1] not in ("", victim) for v in records.values()):
                    etcd_done = time.monotonic() - t0
            if gateway_done is None:
                try:
                    m = c.map()
                    if all(s.get("primary") not in (None, "", victim) for s in m["shards"]):
                        gateway_done = time.monotonic() - t0
                except AssertionError:
                    pass
            time.sleep(0.05)
        p1, _ = counters(etcd)
        print("SIGKILL of %s (%d primaries): every record names a live primary after %s s, "
              "the gateway's map after %s s; %d raft proposals"
              % (victim, moved, etcd_done and round(etcd_done, 2),
                 gateway_done and round(gateway_done, 2), p1 - p0), flush=True)
    finally:
        c.stop()
        etcd.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burst", action="store_true")
    ap.add_argument("--no-storaged", action="store_true")
    ap.add_argument("--indexes", type=int, default=4)
    ap.add_argument("--shards", type=int, default=250)
    args = ap.parse_args()
    if args.burst:
        return burst(args)
    if args.no_storaged:
        return no_storaged(args)
    etcd, c = start()
    results = {"kill": [], "stop": [], "controller": [], "proposals_per_s": [],
               "requests_per_node_per_s": []}
    try:
        status, data = c.request("POST", "/v1/indexes", {"name": "bench", "dimension": 8,
                                                         "shards": 10, "replicas": 3})
        assert status == 201, data
        c.wait(serving("bench", 10, 3), "serving", timeout=120)
        # storaged on fixed ports, as scripts/cluster runs it (its controller key
        # names its address; one started on port 0 cannot be recognized later).
        argv = c.storaged.argv
        argv[argv.index("--listen") + 1] = "127.0.0.1:%d" % c.storaged.port
        argv[argv.index("--coordinator-listen") + 1] = "127.0.0.1:%d" % c.coordinator
        c.storaged.stop()
        c.storaged.start()
        until_write(c, time.monotonic())
        for r in range(args.rounds):
            time.sleep(3)
            (p0, h0), t0 = counters(etcd), time.monotonic()
            time.sleep(10)
            (p1, h1), dt = counters(etcd), time.monotonic() - t0
            results["proposals_per_s"].append((p1 - p0) / dt)
            # Every daemon's requests (4 vectord-side + controller + gateways) per vectord.
            results["requests_per_node_per_s"].append((h1 - h0) / dt / len(c.vectords))
            for kind in ("kill", "stop"):
                c.wait(serving("bench", 10, 3), "serving", timeout=120)
                shards = etcd.range_prefix("/qb/v1/shards/")
                victim = epoch_of(next(iter(shards.values())))[1]
                proc = c.vectords[victim]
                t0 = time.monotonic()
                os.kill(proc.proc.pid, signal.SIGKILL if kind == "kill" else signal.SIGSTOP)
                results[kind].append(until_write(c, t0))
                if kind == "kill":
                    proc.proc.wait()
                    proc.log.close()
                    proc.start()
                else:
                    os.kill(proc.proc.pid, signal.SIGCONT)
            c.wait(serving("bench", 10, 3), "serving", timeout=120)
            t0 = time.monotonic()
            c.storaged.kill()
            c.storaged.start()
            results["controller"].append(until_write(c, t0))
            print_round(r, results)
    finally:
        c.stop()
        etcd.stop()
    print_medians(results)


if __name__ == "__main__":
    main()
