"""The cluster off loopback: storaged and two vectords, each in a network
namespace of its own with its own address on a bridge the test makes
(10.77.0.0/24), the gateway in the test's namespace. Every connection between
daemons crosses a veth with mutual TLS; a daemon serving or reaching a
non-loopback address without it refuses to start; a process in another
namespace without the credentials gets nothing; a vectord whose link goes
down (a partition: it still runs) loses its primaries, no acknowledged write
is lost, and it comes back when the link does.

Each vectord keeps its replicas' logs and snapshots in a data dir of its own
(--replica-logs): no daemon reads a path of another; storaged holds no shard
log. The partitioned primary's writes wait for its unreachable replica, which
it cannot take out of the in-sync set without the coordinator: none of them is
acknowledged. Needs root and iproute2; skipped otherwise."""
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import quiver_server
import test_cluster
from quiver_server import Process
from test_cluster import SLOW, caught_up, serving

BINDIR = test_cluster.BINDIR
PREFIX = "10.77.0."
BRIDGE = "qvbr0"
CAF = r"listening on caf://[0-9.]+:(\d+)"
HTTP = r"listening on http://127\.0\.0\.1:(\d+)"


def sh(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r


def can_make_namespaces():
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    r = subprocess.run(["ip", "netns", "add", "qv-probe"], capture_output=True)
    if r.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", "qv-probe"], capture_output=True)
    return True


class Network:
    """A bridge in this namespace (<prefix>254) and a namespace per host, each
    with a veth on the bridge."""

    def __init__(self, hosts, prefix=PREFIX, bridge=BRIDGE):
        self.hosts = dict(hosts)  # namespace -> last octet
        self.prefix, self.bridge = prefix, bridge
        self.cleanup()
        sh("ip", "link", "add", bridge, "type", "bridge")
        sh("ip", "addr", "add", prefix + "254/24", "dev", bridge)
        sh("ip", "link", "set", bridge, "up")
        for ns, octet in self.hosts.items():
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", self.veth(ns), "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "link", "set", self.veth(ns), "master", bridge)
            sh("ip", "link", "set", self.veth(ns), "up")
            sh("ip", "-n", ns, "addr", "add", "%s%d/24" % (prefix, octet), "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    @staticmethod
    def veth(ns):
        return "v-" + ns[-8:]

    def address(self, ns):
        return self.prefix + str(self.hosts[ns])

    def cut(self, ns, down=True):
        """A partition: the host's link goes down; its processes run on."""
        sh("ip", "link", "set", self.veth(ns), "down" if down else "up")

    def cleanup(self):
        for ns in self.hosts:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "link", "del", self.veth(ns)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


class Daemons:
    """A test class's daemons (cls.procs), each in a network namespace or in
    this one, logging to cls.dir; cls.gateways: the gateways in this one."""

    @classmethod
    def spawn(cls, name, ns, argv, pattern):
        prefix = ["ip", "netns", "exec", ns] if ns else []
        p = Process(name, prefix + argv, os.path.join(cls.dir, name + ".log"), pattern)
        cls.procs.append(p)
        return p

    @classmethod
    def stop_daemons(cls):
        for p in reversed(getattr(cls, "procs", [])):
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGCONT)  # a paused one stops too
            p.stop(timeout=20)

    @classmethod
    def request(cls, method, path, body=None, gateway=0, timeout=30):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", cls.gateways[gateway].port,
                                          timeout=timeout)
        server = object.__new__(quiver_server.QuiverServer)
        try:
            status, _, data = server.request(method, path, body, conn=conn)
        finally:
            conn.close()
        return status, data

    @classmethod
    def wait(cls, predicate, what, timeout=30 * SLOW, every=False):
        """Until some gateway's map satisfies `predicate` (a gateway may be down);
        with `every`, each gateway's (after the controller moved, one gateway
        may reach the new one a moment before another)."""
        deadline, last, seen = time.monotonic() + timeout, None, set()
        while time.monotonic() < deadline:
            for g in range(len(cls.gateways)):
                try:
                    status, last = cls.request("GET", "/v1/cluster", gateway=g)
                    if status == 200 and predicate(last):
                        seen.add(g)
                        if not every or len(seen) == len(cls.gateways):
                            return last
                except OSError as e:
                    last = e
            time.sleep(0.1)
        raise AssertionError("cluster did not reach '%s': %s" % (what, last))


@unittest.skipUnless(can_make_namespaces() and shutil.which("openssl"),
                     "needs root, iproute2 and openssl")
class NetnsClusterTest(Daemons, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import test_peer_tls
        cls.creds = test_peer_tls.Credentials()
        cls.dir = tempfile.mkdtemp(prefix="quiver-netns-")
        cls.net = Network({"qv-storaged": 1, "qv-v1": 2, "qv-v2": 3, "qv-stranger": 9})
        cls.procs = []
        try:
            cls.start_cluster()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def start_cluster(cls):
        tls = cls.creds.args()
        st = cls.net.address("qv-storaged")
        cls.storaged = cls.spawn("storaged", "qv-storaged", [
            os.path.join(BINDIR, "storaged"), "--data-dir", os.path.join(cls.dir, "data"),
            "--listen", st + ":7301", "--coordinator-listen", st + ":7300",
            "--node-timeout-ms", str(1000 * SLOW), "--replica-logs", *tls], CAF)
        cls.vectords = {}
        for name, ns in (("vectord-1", "qv-v1"), ("vectord-2", "qv-v2")):
            cls.vectords[name] = cls.spawn(name, ns, [
                os.path.join(BINDIR, "vectord"), "--replica-logs",
                "--data-dir", os.path.join(cls.dir, "data-" + name),
                "--coordinator", st + ":7300", "--listen", cls.net.address(ns) + ":7311",
                "--node-name", name, *tls], CAF)
        cls.gateways = [cls.spawn("gatewayd", None, [
            os.path.join(BINDIR, "gatewayd"), "--coordinator", st + ":7300", "--port", "0", *tls],
            HTTP)]
        cls.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 2, "nodes up")

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemons()
        cls.net.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.creds.dir, ignore_errors=True)

    def test_1_the_daemons_talk_over_the_bridge(self):
        for p in [self.storaged, *self.vectords.values()]:
            log = p.read_log()
            self.assertIn("peers with mutual TLS only", log, p.name)
            self.assertIn("caf://" + PREFIX, log, p.name)
        status, body = self.request("GET", "/v1/cluster")
        self.assertEqual({n["address"] for n in body["nodes"]},
                         {PREFIX + "2:7311", PREFIX + "3:7311"})

    def test_2_a_stranger_on_the_network_gets_nothing(self):
        probe = os.path.join(BINDIR, "peer_probe")
        cr = self.creds
        for target in ("qv-storaged", "qv-v1"):
            port = "7301" if target == "qv-storaged" else "7311"
            addr = self.net.address(target)
            for mode in (["plain"], ["tls", cr.stranger_cert, cr.stranger_key, cr.ca]):
                r = sh("ip", "netns", "exec", "qv-stranger", probe, addr, port, *mode,
                       check=False)
                self.assertEqual(r.returncode, 3, (target, mode, r.stdout, r.stderr))
            r = sh("ip", "netns", "exec", "qv-stranger", probe, addr, port, "tls", cr.cert,
                   cr.key, cr.ca, check=False)
            self.assertEqual(r.returncode, 0, (target, r.stdout, r.stderr))

    def test_3_no_peer_tls_no_start_off_loopback(self):
        addr = self.net.address("qv-stranger")
        r = sh("ip", "netns", "exec", "qv-stranger", os.path.join(BINDIR, "vectord"),
               "--storaged", self.net.address("qv-storaged") + ":7301",
               "--coordinator", self.net.address("qv-storaged") + ":7300",
               "--listen", addr + ":7311", "--node-name", "rogue", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("without mutual TLS", r.stderr)

    def test_4_a_partitioned_vectord_loses_its_primaries_and_nothing_acknowledged(self):
        status, body = self.request("POST", "/v1/indexes", {"name": "p", "dimension": 4,
                                                            "shards": 2, "replicas": 2})
        self.assertEqual(status, 201, body)
        self.wait(serving("p", 2, 2), "p serving")
        rng = random.Random(9)
        acked = {}

        def write(prefix, n, deadline_s):
            deadline = time.monotonic() + deadline_s
            for i in range(n):
                item = {"id": "%s-%03d" % (prefix, i),
                        "vector": [rng.uniform(-1, 1) for _ in range(4)]}
                while True:
                    try:
                        status, body = self.request("POST", "/v1/indexes/p/vectors",
                                                    {"items": [item]})
                    except OSError:
                        status = 0
                    if status == 200:
                        acked[item["id"]] = item["vector"]
                        break
                    self.assertLess(time.monotonic(), deadline, "writes did not resume")
                    time.sleep(0.1)

        write("before", 40, 30 * SLOW)
        # Every replica in sync: only then may the cut primary's shards move.
        self.wait(lambda m: caught_up("p")(m) and all(
            r["in_sync"] for s in m["shards"] if s["index"] == "p" for r in s["replicas"]),
            "p caught up, every replica in sync")
        status, m = self.request("GET", "/v1/cluster")
        victim_node = sorted(s["primary"] for s in m["shards"] if s["index"] == "p")[0]
        victim_ns = "qv-v1" if victim_node == "vectord-1" else "qv-v2"
        self.net.cut(victim_ns)
        try:
            cut_at = time.monotonic()
            write("during", 20, 60 * SLOW)
            print("\n  partition: writes resumed %.1f s after %s's link went down" %
                  (time.monotonic() - cut_at, victim_node))
            status, m = self.request("GET", "/v1/cluster")
            self.assertTrue(all(s["primary"] and s["primary"] != victim_node
                                for s in m["shards"] if s["index"] == "p"), m)
        finally:
            self.net.cut(victim_ns, down=False)
        self.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 2 and
                  caught_up("p")(m), "the cut node back and caught up", timeout=60 * SLOW)
        missing = [i for i in acked
                   if self.request("GET", "/v1/indexes/p/vectors/" + i)[0] != 200]
        self.assertEqual(missing, [], "acknowledged writes lost")
        # Every log is a vectord's own; storaged's data dir holds none.
        from test_replica_logs import log_bytes
        for name in self.vectords:
            self.assertGreater(log_bytes(os.path.join(self.dir, "data-" + name)), 0, name)
        self.assertEqual(log_bytes(os.path.join(self.dir, "data")), 0)


if __name__ == "__main__":
    unittest.main()
