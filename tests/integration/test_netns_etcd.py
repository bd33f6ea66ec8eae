"""The whole cluster across hosts, and nothing else: three etcd members and
three vectords, each in a network namespace of its own with its own address
and data dir on a bridge the test makes (10.78.0.0/24); two gateways in the
test's namespace. No storaged: every vectord hosts a coordinator, one is
elected in etcd, and vectords and gateways find it there. Daemons talk mutual
TLS, etcd HTTPS with client certificates; no path is shared (each vectord
keeps its replicas' logs).

One index of 2 shards x 3 replicas, written all along. Each case is a fault
under writes through both gateways: SIGKILL and SIGSTOP of an etcd member, of a
gateway, of a primary's vectord, of the elected controller's vectord, and a
partition (the primary's link down)
while a client in the primary's namespace still reaches it through a gateway
there. After each: writes resumed, every acknowledged write reads back; the
partitioned primary acknowledges nothing from the cut until it rejoins. Last,
each vectord in turn serves the index alone, from its own disk: every
acknowledged id with the vector acknowledged, and the same ids and vectors on
every node. Needs root and iproute2; skipped otherwise."""
import collections
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import msgpack

import test_cluster
import test_netns
from test_cluster import SLOW
from test_cluster_etcd import LEASE_S, Etcd, write_etcd_config
from test_replica_logs import in_sync

BINDIR = test_cluster.BINDIR
PREFIX = "10.78.0."
CAF = r"listening on caf://[0-9.]+:(\d+)"
HTTP = r"listening on http://[0-9.]+:(\d+)"
DIM = 8
ETCD_HOSTS = {"qe-e1": 11, "qe-e2": 12, "qe-e3": 13}
NODE_HOSTS = {"vectord-1": ("qe-v1", 2), "vectord-2": ("qe-v2", 3), "vectord-3": ("qe-v3", 4)}

# Runs in a vectord's namespace: upserts one item at a time through the gateway
# there for argv[2] seconds; one JSON line per request: [sent, answered, status,
# id, vector] (wall clock: one kernel, one clock for every namespace).
LOCAL_WRITER = r"""
import http.client, json, random, sys, time
port, seconds, prefix = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rng = random.Random(prefix)
end = time.time() + seconds
n = 0
while time.time() < end:
    item = {"id": "%s-%05d" % (prefix, n), "vector": [rng.uniform(-1, 1) for _ in range(8)]}
    n += 1
    sent = time.time()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("POST", "/v1/indexes/docs/vectors", json.dumps({"items": [item]}),
                  {"Content-Type": "application/json"})
        status = c.getresponse().status
        c.close()
    except Exception:
        status = 0
    print(json.dumps([sent, time.time(), status, item["id"], item["vector"]]), flush=True)
    if status != 200:
        time.sleep(0.05)
"""


def digest(vector):
    """Of a vector as a node returns it: the same floats on every node."""
    return hashlib.sha256(json.dumps(vector).encode()).hexdigest()[:16]


class Writers:
    """Upserts (one item each) through the given gateways until stopped;
    records every acknowledged item and when it was answered."""

    def __init__(self, test, gateways, prefix):
        self.test, self.prefix = test, prefix
        self.acked, self.errors, self.lock = {}, [], threading.Lock()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(g,)) for g in gateways]
        for t in self.threads:
            t.start()

    def run(self, gateway):
        rng = random.Random("%s-%d" % (self.prefix, gateway))
        n = 0
        deadline = time.monotonic() + 300 * SLOW
        while not self.stopped.is_set() and time.monotonic() < deadline:
            i = "%s-g%d-%05d" % (self.prefix, gateway, n)
            v = [rng.uniform(-1, 1) for _ in range(DIM)]
            n += 1
            try:
                status, _ = self.test.request("POST", "/v1/indexes/docs/vectors",
                                              {"items": [{"id": i, "vector": v}]},
                                              gateway=gateway, timeout=5)
            except OSError as e:
                status = repr(e)
            with self.lock:
                if status == 200:
                    self.acked[i] = (v, time.monotonic())
                else:
                    self.errors.append(status)
            if status != 200:
                time.sleep(0.05)

    def acked_since(self, t):
        with self.lock:
            return sum(1 for _, at in self.acked.values() if at > t)

    def stop(self):
        self.stopped.set()
        for t in self.threads:
            t.join()
        return {i: v for i, (v, _) in self.acked.items()}


@unittest.skipUnless(test_netns.can_make_namespaces() and shutil.which("openssl") and
                     shutil.which("etcd"), "needs root, iproute2, openssl and etcd")
class NetnsEtcdClusterTest(test_cluster.PrintsLogsOnFailure, test_netns.Daemons,
                           unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import test_peer_tls
        hosts = dict(ETCD_HOSTS, **{ns: o for ns, o in NODE_HOSTS.values()})
        cls.creds = test_peer_tls.Credentials(
            ips=["127.0.0.1"] + [PREFIX + str(o) for o in hosts.values()])
        cls.dir = tempfile.mkdtemp(prefix="quiver-netns-etcd-")
        cls.net = test_netns.Network(hosts, prefix=PREFIX, bridge="qvbr1")
        cls.procs, cls.etcd, cls.acked = [], None, {}
        try:
            cls.etcd = Etcd(cls.dir, cls.creds,
                            hosts=[(ns, cls.net.address(ns)) for ns in ETCD_HOSTS])
            cls.start_cluster()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def start_cluster(cls):
        config = write_etcd_config(cls.dir, "/qn/", request_timeout_ms=1000)
        cls.common = ["--log-level", "info", "--config", config, "--etcd", cls.etcd.endpoints(),
                      *cls.etcd.client_args(), *cls.creds.args()]
        cls.vectords = {}
        for name in NODE_HOSTS:
            cls.start_vectord(name)
        cls.gateways = [cls.start_gateway("gatewayd-%d" % g) for g in range(2)]
        cls.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3, "nodes up")

    @classmethod
    def start_vectord(cls, name):
        ns, _ = NODE_HOSTS[name]
        cls.vectords[name] = cls.spawn(name, ns, [
            os.path.join(BINDIR, "vectord"), *cls.common, "--replica-logs",
            "--data-dir", os.path.join(cls.dir, "data-" + name),
            "--coordinator-listen", cls.net.address(ns) + ":7300",
            "--node-timeout-ms", str(10000 * SLOW),  # membership by lease
            "--listen", cls.net.address(ns) + ":7311", "--node-name", name], CAF)

    @classmethod
    def start_gateway(cls, name, ns=None):
        return cls.spawn(name, ns, [os.path.join(BINDIR, "gatewayd"), *cls.common,
                                    "--port", "0"], HTTP)

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemons()
        if cls.etcd:
            cls.etcd.stop()
        cls.net.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.creds.dir, ignore_errors=True)

    def logs(self):
        return "\n".join("== %s ==\n%s" % (p.name, p.read_log()[-5000:]) for p in self.procs)

    def controller(self):
        """The vectord whose coordinator holds the controller key (None: no one)."""
        record = self.etcd.range_prefix("/qn/v1/controller").get("/qn/v1/controller")
        if record is None:
            return None
        address = msgpack.unpackb(record)[3]
        for name, (ns, _) in NODE_HOSTS.items():
            if address == self.net.address(ns) + ":7300":
                return name
        self.fail("the controller key names %s, no vectord's coordinator" % address)

    def wait_controller(self, other_than=None):
        deadline = time.monotonic() + (LEASE_S * 4 + 10) * SLOW
        while time.monotonic() < deadline:
            name = self.controller()
            if name and name != other_than:
                return name
            time.sleep(0.05)
        self.fail("no vectord other than %s leads" % other_than)

    def primary_of(self, shard):
        status, m = self.request("GET", "/v1/cluster")
        self.assertEqual(status, 200, m)
        return [s for s in m["shards"] if s["index"] == "docs" and s["shard"] == shard][0][
            "primary"]

    def under_writes(self, fault, heal, what, gateways=(0, 1)):
        """Runs writers through `gateways`, then fault(); waits until 20 writes
        are acknowledged after it (the time is printed), then heal(); keeps
        what was acknowledged."""
        w = Writers(self, gateways, what.replace(" ", "-"))
        try:
            time.sleep(1)
            at = time.monotonic()
            fault()
            deadline = at + 60 * SLOW
            while w.acked_since(at) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            resumed = time.monotonic() - at
            self.assertGreaterEqual(w.acked_since(at), 20, what + ": writes did not resume")
            print("\n  %s: 20 writes acknowledged %.2f s after the fault" % (what, resumed))
        finally:
            heal()
            self.acked.update(w.stop())
        self.check_every_ack()

    def check_every_ack(self):
        deadline = time.monotonic() + 30 * SLOW
        bad = []
        for i in sorted(self.acked):
            while True:
                status, data = self.request("GET", "/v1/indexes/docs/vectors/" + i)
                if status != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if status != 200 or any(abs(a - b) > 1e-5 for a, b in zip(data["vector"],
                                                                      self.acked[i])):
                bad.append((i, status))
        self.assertEqual(bad, [], "acknowledged writes lost or changed")

    def all_in_sync(self, timeout=60 * SLOW):
        self.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3 and
                  in_sync("docs", 2, 3)(m), "every replica in sync", timeout=timeout)

    def test_1_the_cluster_spans_namespaces(self):
        for p in self.vectords.values():
            log = p.read_log()
            self.assertIn("peers with mutual TLS only", log, p.name)
            self.assertIn("caf://" + PREFIX, log, p.name)
        self.assertIn(self.wait_controller(), self.vectords)
        status, m = self.request("GET", "/v1/cluster")
        self.assertEqual({n["address"] for n in m["nodes"]},
                         {self.net.address(ns) + ":7311" for ns, _ in NODE_HOSTS.values()})
        nodes = self.etcd.range_prefix("/qn/v1/nodes/")
        self.assertEqual(sorted(k.rsplit("/", 1)[1] for k in nodes), sorted(NODE_HOSTS))
        status, data = self.request("POST", "/v1/indexes", {"name": "docs", "dimension": DIM,
                                                            "distance": "euclidean",
                                                            "shards": 2, "replicas": 3})
        self.assertEqual(status, 201, data)
        rng = random.Random(1)
        items = [("first-%03d" % k, [rng.uniform(-1, 1) for _ in range(DIM)]) for k in range(100)]
        deadline = time.monotonic() + 30 * SLOW
        while True:
            status, data = self.request("POST", "/v1/indexes/docs/vectors",
                                        {"items": [{"id": i, "vector": v} for i, v in items]})
            if status == 200:
                break
            self.assertLess(time.monotonic(), deadline, data)
            time.sleep(0.2)
        self.acked.update(items)
        self.all_in_sync()

    def test_2_an_etcd_member_killed_and_one_paused(self):
        killed, paused = self.etcd.members[0], self.etcd.members[1]

        def kill():
            killed["proc"].kill()
            killed["proc"].wait()

        self.under_writes(kill, lambda: self.etcd.start(killed), "SIGKILL etcd member")
        self.etcd.wait_healthy()
        self.under_writes(lambda: paused["proc"].send_signal(signal.SIGSTOP),
                          lambda: paused["proc"].send_signal(signal.SIGCONT),
                          "SIGSTOP etcd member")
        self.etcd.wait_healthy()
        self.all_in_sync()

    def test_3_a_gateway_killed_and_one_paused(self):
        g = self.gateways[0]
        self.under_writes(g.kill, g.start, "SIGKILL gateway", gateways=(0, 1))
        self.under_writes(lambda: g.proc.send_signal(signal.SIGSTOP),
                          lambda: g.proc.send_signal(signal.SIGCONT), "SIGSTOP gateway",
                          gateways=(0, 1))
        self.all_in_sync()

    def test_4_a_primary_killed(self):
        self.all_in_sync()
        victim = self.primary_of(0)
        self.under_writes(self.vectords[victim].kill, lambda: None, "SIGKILL primary")
        self.assertNotEqual(self.primary_of(0), victim)
        self.vectords[victim].start()
        self.all_in_sync()

    def test_4b_the_controllers_vectord_killed_and_paused(self):
        self.all_in_sync()
        victim = self.wait_controller()
        self.under_writes(self.vectords[victim].kill, lambda: None, "SIGKILL controller's vectord")
        successor = self.wait_controller(other_than=victim)
        self.vectords[victim].start()
        self.all_in_sync()
        self.assertEqual(self.controller(), successor)
        paused = self.vectords[successor]

        def wake():
            # Past its leases: another leads, its primaries moved; then it follows.
            self.wait_controller(other_than=successor)
            paused.proc.send_signal(signal.SIGCONT)

        self.under_writes(lambda: paused.proc.send_signal(signal.SIGSTOP), wake,
                          "SIGSTOP controller's vectord")
        self.assertNotEqual(self.controller(), successor)
        self.all_in_sync()

    def test_5_a_primary_paused_past_its_lease(self):
        self.all_in_sync()
        victim = self.vectords[self.primary_of(1)]
        self.under_writes(lambda: victim.proc.send_signal(signal.SIGSTOP),
                          lambda: None, "SIGSTOP primary")
        # Paused past its lease, then woken: it is fenced and follows.
        time.sleep(LEASE_S)
        victim.proc.send_signal(signal.SIGCONT)
        self.assertNotEqual(self.primary_of(1), victim.name)
        self.all_in_sync()
        self.check_every_ack()

    def test_6_a_partitioned_primary_acknowledges_nothing(self):
        self.all_in_sync()
        victim = self.primary_of(0)
        ns, _ = NODE_HOSTS[victim]
        # A gateway and a client beside the primary: they still reach it when
        # its link is down.
        local = self.start_gateway("gatewayd-" + ns, ns)
        answers = os.path.join(self.dir, "local-writer.out")  # a file: a pipe would fill
        with open(answers, "w") as out:
            writer = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", LOCAL_WRITER, str(local.port),
                 str(25 + 10 * SLOW), "local"], stdout=out)
        try:
            time.sleep(3)
            cut = {}

            def partition():
                cut["at"] = time.time()
                self.net.cut(ns)

            def heal():
                # The cut outlasts the primary's lease (it is fenced meanwhile)
                # and several of the local client's timeouts.
                time.sleep(max(0, cut["at"] + max(2 * LEASE_S, 10) - time.time()))
                cut["healed"] = time.time()
                self.net.cut(ns, down=False)

            self.under_writes(partition, heal, "partition of a primary")
            self.assertNotEqual(self.primary_of(0), victim)
            writer.wait(timeout=120 * SLOW)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
            local.stop()
            self.procs.remove(local)
        with open(answers) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        before = [x for x in lines if x[1] < cut["at"] and x[2] == 200]
        during = [x for x in lines if cut["at"] + 0.5 < x[0] and x[1] < cut["healed"]]
        self.assertGreater(len(before), 0, "the local client wrote nothing before the cut")
        self.assertGreater(len(during), 0, "the local client wrote nothing during the cut")
        self.assertEqual([x[3] for x in during if x[2] == 200], [],
                         "the partitioned side acknowledged writes")
        print("  partition: the local client had %d writes acknowledged before the cut, "
              "0 of %d during it (answers: %s)" % (
                  len(before), len(during),
                  dict(collections.Counter(x[2] or "none" for x in during))))
        self.acked.update({x[3]: x[4] for x in lines if x[2] == 200})
        self.all_in_sync()
        self.check_every_ack()

    def test_7_every_replica_holds_every_acknowledged_write(self):
        """Each vectord in turn serves the index alone, from its own log."""
        self.all_in_sync()
        seen = {}
        for alone in sorted(self.vectords):
            others = [n for n in self.vectords if n != alone]
            for n in others:
                self.vectords[n].kill()
            self.wait(lambda m: all(s["primary"] == alone for s in m["shards"]
                                    if s["index"] == "docs"), alone + " leads every shard",
                      timeout=60 * SLOW, every=True)
            seen[alone] = self.read_everything()
            for n in others:
                self.vectords[n].start()
            self.all_in_sync()
        for node, held in seen.items():
            lost = [i for i in self.acked if i not in held or any(
                abs(a - b) > 1e-5 for a, b in zip(held[i][1], self.acked[i]))]
            self.assertEqual(lost, [], node + " lacks or changed acknowledged writes")
        seen = {node: {i: d for i, (d, _) in held.items()} for node, held in seen.items()}
        self.assertEqual(seen["vectord-1"], seen["vectord-2"])
        self.assertEqual(seen["vectord-1"], seen["vectord-3"])
        print("\n  every replica: %d ids, %d acknowledged, the same vectors on all three"
              % (len(seen["vectord-1"]), len(self.acked)))

    def read_everything(self):
        """id -> (digest, vector) of every live vector, paging through the ids."""
        out, cursor = {}, None
        for _ in range(1000):
            path = "/v1/indexes/docs/ids?limit=1000" + (
                "&cursor=" + urllib.parse.quote(cursor, safe="") if cursor else "")
            status, page = self.request("GET", path)
            self.assertEqual(status, 200, page)
            for i in page["ids"]:
                status, data = self.request("GET", "/v1/indexes/docs/vectors/" + i)
                self.assertEqual(status, 200, (i, data))
                out[i] = (digest(data["vector"]), data["vector"])
            cursor = page["next_cursor"]
            if not cursor:
                return out
        self.fail("the ids did not end")


if __name__ == "__main__":
    unittest.main()
