"""A real cluster on loopback: storaged (+ coordinator), three vectord, two gatewayd.

Sharding and replication give the answers of one shard; a vectord killed under
load costs a brief 503 window and no acknowledged write; a primary killed
between its log ack and forwarding loses nothing; a primary cut off (SIGSTOP)
cannot write once another has been fenced in. Timings are printed (the
benchmark of record is in docs/BENCHMARKS.md)."""
import os
import random
import re
import shutil
import signal
import tempfile
import threading
import time
import unittest

import quiver_server
from quiver_server import Process

BINDIR = os.path.dirname(quiver_server.BIN) or "."
HTTP = r"listening on http://127\.0\.0\.1:(\d+)"
CAF = r"listening on caf://127\.0\.0\.1:(\d+)"
# Sanitizer builds run several times slower: time bounds stretch, logic does not.
SLOW = 4 if os.environ.get("QUIVER_SANITIZED", "0") not in ("0", "", "FALSE") else 1
NODE_TIMEOUT_MS = 1000 * SLOW


class Cluster:
    def __init__(self, vectords=3, gateways=2, vectord_args=(), node_timeout_ms=NODE_TIMEOUT_MS,
                 common_args=(), admin_key=None, replica_logs=False, storaged_args=(),
                 coordinators_on_vectords=False):
        self.dir = tempfile.mkdtemp(prefix="quiver-cluster-")
        # Sent with every request (the map needs it when auth is on).
        self.headers = {"Authorization": "Bearer " + admin_key} if admin_key else {}
        self.vectord_args = list(vectord_args)
        # Every daemon's: e.g. --etcd and a --config with the etcd leases.
        self.common_args = list(common_args)
        base = [("--log-level", "info")]
        flat = [x for pair in base for x in pair] + self.common_args
        self.node_timeout_ms = node_timeout_ms
        # Each vectord keeps its replicas' logs in a data dir of its own.
        self.replica_logs = replica_logs
        own_logs = ["--replica-logs"] if replica_logs else []
        # No storaged: every vectord hosts a coordinator too and one is elected in
        # etcd (common_args carry --etcd); daemons find it by the controller key.
        self.coordinators_on_vectords = coordinators_on_vectords
        self.storaged = None
        self.coordinator = None
        if not coordinators_on_vectords:
            self.start_storaged(flat, own_logs, storaged_args)
        self.vectords = {}
        for i in range(vectords):
            self.start_vectord("vectord-%d" % (i + 1))
        upstream = ([] if coordinators_on_vectords
                    else ["--coordinator", "127.0.0.1:%d" % self.coordinator])
        self.gateways = [Process("gatewayd", [os.path.join(BINDIR, "gatewayd"), *flat, *upstream,
                                              "--port", "0"],
                                 os.path.join(self.dir, "gatewayd-%d.log" % i), HTTP)
                         for i in range(gateways)]
        self.wait(lambda c: sum(n["status"] == "up" for n in c["nodes"]) == vectords, "nodes up")

    def start_storaged(self, flat, own_logs, storaged_args):
        self.storaged = Process("storaged", [os.path.join(BINDIR, "storaged"), *flat, *own_logs,
                                             "--data-dir", os.path.join(self.dir, "data"),
                                             "--listen", "127.0.0.1:0",
                                             "--coordinator-listen", "127.0.0.1:0",
                                             "--node-timeout-ms", str(self.node_timeout_ms),
                                             *storaged_args],
                                os.path.join(self.dir, "storaged.log"), CAF)
        m = re.search(r"coordinator serving on caf://127\.0\.0\.1:(\d+)", self.storaged.read_log())
        self.coordinator = int(m.group(1))

    def start_vectord(self, name):
        own = (["--replica-logs", "--data-dir", self.vectord_dir(name)] if self.replica_logs
               else ["--storaged", "127.0.0.1:%d" % self.storaged.port])
        coordinator = (["--coordinator-listen", "127.0.0.1:0",
                        "--node-timeout-ms", str(self.node_timeout_ms)]
                       if self.coordinators_on_vectords
                       else ["--coordinator", "127.0.0.1:%d" % self.coordinator])
        self.vectords[name] = Process(name, [os.path.join(BINDIR, "vectord"), "--log-level", "info",
                                             *own, *coordinator,
                                             "--listen", "127.0.0.1:0", "--node-name", name,
                                             *self.common_args, *self.vectord_args],
                                      os.path.join(self.dir, name + ".log"), CAF)

    def vectord_dir(self, name):
        return os.path.join(self.dir, "data-" + name)

    def request(self, method, path, body=None, gateway=0, timeout=30, headers=None):
        server = object.__new__(quiver_server.QuiverServer)
        server.port = self.gateways[gateway].port
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        try:
            status, _, data = server.request(method, path, body,
                                             headers=headers if headers is not None else self.headers,
                                             conn=conn)
        finally:
            conn.close()
        return status, data

    def map(self):
        status, data = self.request("GET", "/v1/cluster")
        assert status == 200, data
        return data

    def wait(self, predicate, what, timeout=30 * SLOW):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.map()
                if predicate(last):
                    return last
            except Exception as e:  # noqa: BLE001 - a gateway may be starting
                last = e
            time.sleep(0.1)
        raise AssertionError("cluster did not reach '%s' in %d s: %s" % (what, timeout, last))

    def daemons(self):
        return [*([self.storaged] if self.storaged else []), *self.vectords.values(),
                *self.gateways]

    def logs(self):
        out = []
        for p in self.daemons():
            out.append("== %s ==\n%s" % (p.name, p.read_log()[-6000:]))
        return "\n".join(out)

    def stop(self):
        for p in reversed(self.daemons()):
            if p.proc.poll() is None:
                try:
                    os.kill(p.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
            p.stop(timeout=20)
        # Logs go with the data: a failing test prints them before it stops.
        shutil.rmtree(self.dir, ignore_errors=True)


class PrintsLogsOnFailure:
    """A TestCase mixin: a failing case prints self.logs() (the daemons')."""

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            print("\n" + self.logs())
        return out


def serving(index, shards, replicas):
    """Predicate: every shard of `index` has a serving primary and `replicas` ready replicas."""
    def check(c):
        mine = [s for s in c["shards"] if s["index"] == index]
        return len(mine) == shards and all(
            s["primary"] and sum(r["state"] == "ready" for r in s["replicas"]) == replicas
            for s in mine)
    return check


def caught_up(index):
    def check(c):
        mine = [s for s in c["shards"] if s["index"] == index]
        return mine and all(s["primary"] and all(r["lag"] == 0 and r["state"] == "ready"
                                                 for r in s["replicas"]) for s in mine)
    return check


def read_back(c, index, ids, timeout):
    """(id, status, body) of each id read through c's first gateway. A 503 (a
    shard between primaries: a failover a fault set off may land after writes
    resumed) is retried until `timeout` seconds have passed overall."""
    deadline = time.monotonic() + timeout
    for i in ids:
        while True:
            status, data = c.request("GET", "/v1/indexes/%s/vectors/%s" % (index, i))
            if status != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        yield i, status, data


def vectors(n, dim, seed):
    rng = random.Random(seed)
    return [("id-%04d" % i, [rng.uniform(-1, 1) for _ in range(dim)]) for i in range(n)]


def primaries_by_node(c, index):
    out = {}
    for s in c["shards"]:
        if s["index"] == index and s["primary"]:
            out[s["primary"]] = out.get(s["primary"], 0) + 1
    return out


class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def create(self, name, shards, replicas, dim=8, c=None):
        c = c or self.c
        status, data = c.request("POST", "/v1/indexes", {"name": name, "dimension": dim,
                                                         "distance": "euclidean", "shards": shards,
                                                         "replicas": replicas})
        self.assertEqual(status, 201, data)
        c.wait(serving(name, shards, replicas), name + " serving")

    def upsert(self, index, items, gateway=0, c=None):
        c = c or self.c
        return c.request("POST", "/v1/indexes/%s/vectors" % index,
                         {"items": [{"id": i, "vector": v, "metadata": {"n": i}} for i, v in items]},
                         gateway=gateway)

    def upsert_ok(self, index, items, c=None):
        """Outside the measured parts: a 503 (+ Retry-After) is retried, as a client would."""
        deadline = time.monotonic() + 20 * SLOW
        while True:
            status, body = ClusterTest.upsert(self, index, items, c=c)
            if status != 503 or time.monotonic() > deadline:
                self.assertEqual(status, 200, body)
                return
            time.sleep(0.2)

    def test_1_sharded_replicated_equals_single_shard_and_gateways_agree(self):
        self.create("multi", 4, 2)
        self.create("single", 1, 1)
        data = vectors(600, 8, 1)
        for i in range(0, 600, 100):
            for index in ("multi", "single"):
                self.upsert_ok(index, data[i:i + 100])
        c = self.c.wait(caught_up("multi"), "replicas caught up")
        nodes = {r["node"] for s in c["shards"] if s["index"] == "multi" for r in s["replicas"]}
        self.assertEqual(len(nodes), 3, "4 shards x 2 replicas spread over the 3 vectords")
        rng = random.Random(2)
        for q in range(25):
            query = {"vector": [rng.uniform(-1, 1) for _ in range(8)], "k": 10}
            answers = []
            for index, gateway, consistency in [("single", 0, "strong"), ("multi", 0, "strong"),
                                                ("multi", 1, "strong"), ("multi", 1, "eventual"),
                                                ("multi", 0, "eventual")]:
                status, body = self.c.request("POST", "/v1/indexes/%s/search" % index,
                                              dict(query, consistency=consistency), gateway)
                self.assertEqual(status, 200, body)
                answers.append([(h["id"], round(h["distance"], 5)) for h in body["results"]])
            for a in answers[1:]:
                self.assertEqual(a, answers[0], "query %d" % q)
        status, body = self.c.request("GET", "/metrics")
        self.assertIn(b"quiver_cluster_nodes_up 3\n", body)
        self.assertIn(b"quiver_cluster_shards_without_primary 0\n", body)
        # Same descriptions and reads through both gateways.
        for gateway in (0, 1):
            status, body = self.c.request("GET", "/v1/indexes/multi", gateway=gateway)
            self.assertEqual((status, body["count"], body["replicas"]), (200, 600, 2))
            status, body = self.c.request("GET", "/v1/indexes/multi/vectors/id-0042", gateway=gateway)
            self.assertEqual((status, body["metadata"]), (200, {"n": "id-0042"}))
        # Filters go to every shard: the same answers as one shard, counts add up,
        # and a delete by filter removes what matches on every shard and replica.
        # "multi" reads a payload index (on its primaries and, forwarded, its
        # replicas); "single" parses metadata: the answers must not differ.
        self.assertEqual(self.c.request("PUT", "/v1/indexes/multi/fields/n", {"type": "keyword"}),
                         (200, {"name": "n", "type": "keyword"}))
        self.assertEqual(self.c.request("GET", "/v1/indexes/multi/fields", gateway=1),
                         (200, {"fields": [{"name": "n", "type": "keyword", "complete": True}]}))
        self.c.wait(caught_up("multi"), "replicas caught up with the payload index")
        picked = ["id-%04d" % i for i in range(0, 600, 13)]
        flt = {"must": [{"key": "n", "in": picked}]}
        for q in range(5):
            query = {"vector": [rng.uniform(-1, 1) for _ in range(8)], "k": 10, "filter": flt}
            answers = [[h["id"] for h in self.c.request("POST", "/v1/indexes/%s/search" % index,
                                                        dict(query, consistency=cons), gateway)[1]["results"]]
                       for index, gateway, cons in [("single", 0, "strong"), ("multi", 1, "strong"),
                                                    ("multi", 0, "eventual")]]
            self.assertEqual(answers[1], answers[0])
            self.assertEqual(answers[2], answers[0])
            self.assertTrue(set(answers[0]) <= set(picked))
        for index in ("single", "multi"):
            self.assertEqual(self.c.request("POST", "/v1/indexes/%s/count" % index, {"filter": flt}),
                             (200, {"count": len(picked)}))
        self.assertEqual(self.c.request("POST", "/v1/indexes/multi/vectors/delete", {"filter": flt}),
                         (200, {"deleted": len(picked)}))
        self.c.wait(caught_up("multi"), "replicas caught up after the delete")
        for gateway in (0, 1):
            self.assertEqual(self.c.request("POST", "/v1/indexes/multi/count", {}, gateway=gateway),
                             (200, {"count": 600 - len(picked)}))
            status, body = self.c.request("POST", "/v1/indexes/multi/search",
                                          {"vector": [0.1] * 8, "k": 100, "filter": flt,
                                           "consistency": "eventual"}, gateway=gateway)
            self.assertEqual((status, body["results"]), (200, []))

    def test_1b_backup_through_one_gateway_restores_replicated_through_the_other(self):
        # The backup reads each shard's primary over the wire; the restore creates
        # the index like any create (placed, two replicas) and writes through the
        # ordinary path, so every replica holds the records.
        self.create("bk", 3, 2)
        data = vectors(300, 8, 4)
        self.upsert_ok("bk", data)
        status, backup = self.c.request("GET", "/v1/indexes/bk/snapshot", gateway=0)
        self.assertEqual(status, 200, backup)
        self.assertEqual(backup[:8], b"QVBACKUP")
        headers = dict(self.c.headers, **{"Content-Type": "application/octet-stream"})
        status, body = self.c.request("POST", "/v1/indexes/bk-copy/restore?shards=2", backup,
                                      gateway=1, headers=headers)
        self.assertEqual(status, 201, body)
        self.assertEqual((body["restored"], body["shards"], body["replicas"]), (300, 2, 2))
        self.c.wait(serving("bk-copy", 2, 2), "the restored index serving")
        self.c.wait(caught_up("bk-copy"), "the restored index's replicas caught up")
        self.c.wait(caught_up("bk"), "the source's replicas caught up")
        rng = random.Random(5)
        for _ in range(10):
            # Both answered by primaries: every acknowledged write is there.
            query = {"vector": [rng.uniform(-1, 1) for _ in range(8)], "k": 10,
                     "consistency": "strong"}
            a = self.c.request("POST", "/v1/indexes/bk/search", query)[1]["results"]
            b = self.c.request("POST", "/v1/indexes/bk-copy/search", query, gateway=1)[1]["results"]
            self.assertEqual([h["id"] for h in a], [h["id"] for h in b])
        status, rec = self.c.request("GET", "/v1/indexes/bk-copy/vectors/id-0007", gateway=0)
        self.assertEqual((status, rec["metadata"]), (200, {"n": "id-0007"}))
        for got, want in zip(rec["vector"], data[7][1]):
            self.assertAlmostEqual(got, want, delta=1e-6)

    def test_2_sigkill_of_a_vectord_under_load(self):
        self.create("load", 4, 2)
        self.upsert_ok("load", vectors(200, 8, 3))
        self.c.wait(caught_up("load"), "load caught up")
        acked, lock, stop = {}, threading.Lock(), threading.Event()
        searches = []  # (time, status)
        errors = []

        def writer(w):
            n = 0
            while not stop.is_set():
                batch = [("w%d-%05d" % (w, n + j), [random.uniform(-1, 1) for _ in range(8)])
                         for j in range(5)]
                n += 5
                try:
                    status, body = self.upsert("load", batch, gateway=w % 2)
                except Exception as e:  # noqa: BLE001 - no answer: not acknowledged
                    errors.append(repr(e))
                    continue
                if status == 200:
                    with lock:
                        for i, v in batch:
                            acked[i] = v
                else:
                    errors.append(status)

        def searcher(g):
            while not stop.is_set():
                try:
                    status, _ = self.c.request("POST", "/v1/indexes/load/search",
                                               {"vector": [0.1] * 8, "k": 5}, gateway=g)
                except Exception:  # noqa: BLE001
                    status = 0
                searches.append((time.monotonic(), status))
                time.sleep(0.01)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
        threads += [threading.Thread(target=searcher, args=(g,)) for g in range(2)]
        for t in threads:
            t.start()
        time.sleep(2)
        victim = max(primaries_by_node(self.c.map(), "load").items(), key=lambda kv: kv[1])[0]
        killed_at = time.monotonic()
        self.c.vectords[victim].kill()
        time.sleep(5 * SLOW)
        stop.set()
        for t in threads:
            t.join()
        after = [(t, s) for t, s in searches if t >= killed_at]
        failed = [t for t, s in after if s != 200]
        window = (max(failed) - killed_at) if failed else 0.0
        print("\nSIGKILL %s: %d searches after the kill, %d not 200, 503 window %.3f s; "
              "%d writes acked, %d not" % (victim, len(after), len(failed), window, len(acked),
                                             len(errors)))
        self.assertTrue(after and after[-1][1] == 200, "searches answer again")
        self.assertLess(window, 3.0 * SLOW, "the unavailability window is brief")
        self.assertTrue(all(s == 200 for t, s in after if t > killed_at + 3.0 * SLOW))
        # The map converges: every shard served on the two live nodes.
        c = self.c.wait(serving("load", 4, 2), "load re-replicated on 2 nodes")
        self.assertNotIn(victim, {r["node"] for s in c["shards"] if s["index"] == "load"
                                  for r in s["replicas"]})
        self.assertEqual([n["status"] for n in c["nodes"] if n["name"] == victim], ["down"])
        self.assert_all_readable("load", acked)
        # The node comes back and catches up.
        self.c.start_vectord(victim)
        # Ids of their own: the count below adds them to the first 200.
        more = [("more-%02d" % k, v) for k, (_, v) in enumerate(vectors(50, 8, 4))]
        self.upsert_ok("load", more)
        c = self.c.wait(lambda m: caught_up("load")(m) and victim in
                        {r["node"] for s in m["shards"] if s["index"] == "load" for r in s["replicas"]},
                        "restarted node hosts replicas, caught up")
        self.assert_all_readable("load", dict(acked, **dict(more)))
        status, body = self.c.request("GET", "/v1/indexes/load")
        # Writes without an answer may have landed too (they were durable, not acked).
        self.assertGreaterEqual(body["count"], 200 + len(acked) + 50)
        self.assertLessEqual(body["count"], 200 + len(acked) + 50 + 5 * len(errors))

    def assert_all_readable(self, index, acked, c=None):
        c = c or self.c
        missing = []
        for i in sorted(acked):
            status, body = c.request("GET", "/v1/indexes/%s/vectors/%s" % (index, i))
            if status != 200:
                missing.append((i, status))
        self.assertEqual(missing, [], "acknowledged writes lost")


class QuotaAcrossNodesTest(unittest.TestCase):
    """Tenants' limits hold for the cluster. A vector quota counts what the
    tenant's shards hold on every node, not on one: with primaries on several
    nodes, per-node counting would let each node take the whole quota. A request
    rate is shared by the gateways: two gateways do not admit twice the rate."""

    ADMIN = "admin-key-for-the-quota-test"

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="quiver-quota-")
        config = os.path.join(cls.root, "auth.toml")
        with open(config, "w") as f:
            f.write('[auth]\nadmin_key = "%s"\nkey_cache_ms = 0\n' % cls.ADMIN)
        cls.c = Cluster(gateways=2, common_args=["--config", config], admin_key=cls.ADMIN)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.root, ignore_errors=True)
        shutil.rmtree(cls.c.dir, ignore_errors=True)

    def tenant(self, name, **quotas):
        status, body = self.c.request("POST", "/v1/admin/tenants", {"name": name, "quotas": quotas})
        self.assertEqual(status, 201, body)
        return {"Authorization": "Bearer " + body["api_key"]}

    def test_a_vector_quota_holds_for_the_cluster(self):
        c = self.c
        tenant = self.tenant("acme", max_vectors=60)
        status, body = c.request("POST", "/v1/indexes",
                                 {"name": "q", "dimension": 4, "shards": 3, "replicas": 2},
                                 headers=tenant)
        self.assertEqual(status, 201, body)
        c.wait(serving("q", 3, 2), "q serving")
        # Primaries on more than one node: counted per node, none would see 60.
        primaries = primaries_by_node(c.map(), "q")
        self.assertGreater(len(primaries), 1, "primaries: %s" % primaries)
        rng = random.Random(5)

        def put(ids):
            items = [{"id": i, "vector": [rng.uniform(-1, 1) for _ in range(4)]} for i in ids]
            return c.request("POST", "/v1/indexes/q/vectors", {"items": items}, headers=tenant)

        # 54 ids spread over the 3 shards, in batches.
        for b in range(6):
            status, body = put(["v%03d" % i for i in range(b * 9, b * 9 + 9)])
            self.assertEqual(status, 200, body)
        time.sleep(1.0 * SLOW)  # a few heartbeats: every node hears the others' usage
        # One at a time, so no two nodes admit concurrently: 6 more fit, then no
        # more, whichever node a shard's primary is on.
        for i in range(54, 60):
            status, body = put(["v%03d" % i])
            self.assertEqual(status, 200, body)
            time.sleep(0.6 * SLOW)
        for i in range(60, 66):
            status, body = put(["v%03d" % i])
            self.assertEqual(status, 429, body)
            self.assertEqual(body["error"]["code"], "quota_exceeded")
        # Replacing an id (no growth) still goes through; usage is the cluster's.
        status, body = put(["v000"])
        self.assertEqual(status, 200, body)
        status, body = c.request("GET", "/v1/admin/tenants/acme")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["usage"]["vectors"], 60, body)

    def test_a_request_rate_holds_across_gateways(self):
        rate, seconds = 20, 3.0
        tenant = self.tenant("rated", max_requests_per_s=rate)
        time.sleep(2.0)  # both gateways have beaten: each takes half the rate
        admitted, lock = [0, 0], threading.Lock()
        stop = time.monotonic() + seconds

        def hammer(g):
            while time.monotonic() < stop:
                status, _ = self.c.request("GET", "/v1/indexes", gateway=g, headers=tenant)
                if status == 200:
                    with lock:
                        admitted[g] += 1
        threads = [threading.Thread(target=hammer, args=(g,)) for g in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(admitted)
        print("\nrate %d/s over 2 gateways for %.0f s: %s admitted" % (rate, seconds, admitted))
        # The rate for the time, plus each gateway's burst of a second of its share;
        # two unshared buckets would admit about twice that.
        bound = rate * seconds + rate
        self.assertLessEqual(total, bound * 1.15, admitted)
        self.assertGreaterEqual(min(admitted), rate * seconds / 2 * 0.5, admitted)


class FailoverEdgeTest(unittest.TestCase):
    def test_primary_killed_between_log_ack_and_forwarding(self):
        # Primaries forward 3 s after the log ack: the kill lands in that window.
        c = Cluster(vectords=2, gateways=1, vectord_args=["--debug-forward-delay-ms", str(3000 * SLOW)])
        try:
            ClusterTest.create(self, "fwd", 1, 2, c=c)
            data = vectors(40, 8, 5)
            for i in range(0, 40, 10):
                ClusterTest.upsert_ok(self, "fwd", data[i:i + 10], c=c)
            m = c.map()
            shard = [s for s in m["shards"] if s["index"] == "fwd"][0]
            replica = [r for r in shard["replicas"] if not r["primary"]][0]
            self.assertLess(replica["applied_seq"], 40, "the replica has not been sent them yet")
            c.vectords[shard["primary"]].kill()
            c.wait(lambda m: [s for s in m["shards"] if s["index"] == "fwd"][0]["primary"] ==
                   replica["node"], "replica promoted")
            ClusterTest.assert_all_readable(self, "fwd", dict(data), c=c)
            status, body = c.request("GET", "/v1/indexes/fwd")
            self.assertEqual(body["count"], 40)
        finally:
            c.stop()

    def test_partitioned_primary_cannot_write_with_a_stale_epoch(self):
        # Appends leave 1.5 s after a write arrives, so the partition catches one in
        # flight; a node is down after 0.6 s of silence, well within CAF's 2 s
        # connection timeout, so the stopped primary's connections survive and its
        # late append reaches storage.
        c = Cluster(vectords=2, gateways=1, vectord_args=["--debug-append-delay-ms", "1500"],
                    node_timeout_ms=600)
        try:
            ClusterTest.create(self, "part", 1, 2, c=c)
            ClusterTest.upsert_ok(self, "part", vectors(10, 8, 6), c=c)
            m = c.wait(caught_up("part"), "part caught up")
            old = [s for s in m["shards"] if s["index"] == "part"][0]
            stopped = c.vectords[old["primary"]]
            # The old primary takes this write, numbers it under its epoch and is
            # stopped before its append leaves.
            outcome = {}
            stale_item = [("stale", [0.5] * 8)]
            t = threading.Thread(target=lambda: outcome.update(
                r=ClusterTest.upsert(self, "part", stale_item, c=c)))
            t.start()
            time.sleep(0.3)
            os.kill(stopped.proc.pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            m = c.wait(lambda m: [s for s in m["shards"] if s["index"] == "part"][0]["epoch"] >
                       old["epoch"] and [s for s in m["shards"] if s["index"] == "part"][0]["primary"],
                       "a new primary fenced in")
            new = [s for s in m["shards"] if s["index"] == "part"][0]
            self.assertNotEqual(new["primary"], old["primary"])
            os.kill(stopped.proc.pid, signal.SIGCONT)
            stopped_for = time.monotonic() - stopped_at
            during = vectors(20, 8, 7)[10:]
            ClusterTest.upsert_ok(self, "part", during, c=c)
            t.join(timeout=60)
            # The old primary woke up and sent its append under the stale epoch:
            # storage refused it.
            deadline = time.monotonic() + 20
            rejected = 0
            while time.monotonic() < deadline and rejected == 0:
                status, body = c.request("GET", "/metrics")
                found = re.search(rb"quiver_storage_stale_epoch_rejections_total (\d+)", body)
                rejected = int(found.group(1)) if found else 0
                time.sleep(0.2)
            if stopped_for < 1.8:
                self.assertGreaterEqual(rejected, 1)
            # (Stopped longer, CAF drops its connections and the late append cannot
            # even reach storage; a slow sanitizer build may get there.)
            m = c.wait(caught_up("part"), "part converged")
            final = [s for s in m["shards"] if s["index"] == "part"][0]
            self.assertEqual(final["primary"], new["primary"], "the fenced primary did not come back")
            self.assertGreaterEqual(final["epoch"], new["epoch"])
            ClusterTest.assert_all_readable(self, "part", dict(vectors(10, 8, 6) + during), c=c)
            status, body = outcome["r"]
            stale = c.request("GET", "/v1/indexes/part/vectors/stale")[0]
            if status == 200:
                self.assertEqual(stale, 200, "an acknowledged write is readable")
            print("\nwrite sent to the stopped primary: %s; stopped %.2f s; stale-epoch "
                  "rejections: %d" % (status, stopped_for, rejected))
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main()
