"""The cluster with its metadata in a real 3-member etcd (Debian etcd-server).

Nodes register under leases, the controller (storaged's coordinator) is elected
through etcd and writes every shard's epoch, primary and replicas there, and the
catalog (indexes, tenants) lives there too; a vectord paused past its lease is
fenced and gets no write acknowledged when it wakes; one etcd member down
changes nothing; two down stop writes with a 503 and reads go on; a restarted
or paused controller restores the same epochs; every process killed at once
comes back with the same catalog and map. Every acknowledged write is read back
after each case."""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

from test_cluster import SLOW, Cluster, read_back, serving, vectors

# Leases outlast an etcd leader election (a killed member may be the leader):
# short, so the suite is quick; longer under a sanitizer, whose daemons renew late.
LEASE_S = 3 if SLOW == 1 else 6


def write_etcd_config(root, prefix, request_timeout_ms=None):
    """<root>/quiver.toml for daemons on a test etcd: leases of LEASE_S (node and
    controller), keys under `prefix`; returns its path."""
    path = os.path.join(root, "quiver.toml")
    with open(path, "w") as f:
        f.write('[etcd]\nnode_lease_s = %d\ncontroller_lease_s = %d\nprefix = "%s"\n'
                % (LEASE_S, LEASE_S, prefix))
        if request_timeout_ms:
            f.write("request_timeout_ms = %d\n" % request_timeout_ms)
    return path


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Etcd:
    """Three etcd members (no fsync: a test), on loopback or each in a network
    namespace of its own. With `tls` (an object with ca, cert, key: PEM files;
    the certificate names the members' addresses) they serve HTTPS and require
    client certificates, from clients and from each other."""

    def __init__(self, root, tls=None, hosts=None):
        """`hosts`: each member's (network namespace, address), for members on
        hosts of their own (the standard ports); None: loopback."""
        self.root = root
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.context = None
        if tls:
            import ssl
            self.context = ssl.create_default_context(cafile=tls.ca)
            self.context.load_cert_chain(tls.cert, tls.key)
        self.members = []
        for i, (ns, host) in enumerate(hosts or [(None, "127.0.0.1")] * 3):
            self.members.append({"name": "e%d" % i, "ns": ns, "host": host,
                                 "client": free_port() if ns is None else 2379,
                                 "peer": free_port() if ns is None else 2380, "proc": None})
        self.initial = ",".join("%s=%s" % (m["name"], self.url(m, "peer")) for m in self.members)
        for m in self.members:
            self.start(m)
        self.wait_healthy()

    def start(self, m):
        with open(os.path.join(self.root, m["name"] + ".log"), "a") as log:
            self._spawn(m, log)

    def url(self, m, port):
        return "%s://%s:%d" % (self.scheme, m["host"], m[port])

    def _spawn(self, m, log):
        tls = []
        if self.tls:
            t = self.tls
            tls = ["--cert-file", t.cert, "--key-file", t.key, "--client-cert-auth",
                   "--trusted-ca-file", t.ca, "--peer-cert-file", t.cert, "--peer-key-file", t.key,
                   "--peer-client-cert-auth", "--peer-trusted-ca-file", t.ca]
        netns = ["ip", "netns", "exec", m["ns"]] if m["ns"] else []
        m["proc"] = subprocess.Popen([
            *netns, "etcd", "--logger=zap", "--log-level=error", "--name", m["name"],
            "--data-dir", os.path.join(self.root, m["name"]),
            "--listen-client-urls", self.url(m, "client"),
            "--advertise-client-urls", self.url(m, "client"),
            "--listen-peer-urls", self.url(m, "peer"),
            "--initial-advertise-peer-urls", self.url(m, "peer"),
            "--initial-cluster", self.initial, "--initial-cluster-state", "new",
            "--unsafe-no-fsync", "--experimental-watch-progress-notify-interval=2s", *tls],
            stdout=log, stderr=subprocess.STDOUT)

    def endpoints(self):
        return ",".join(self.url(m, "client") for m in self.members)

    def client_args(self):
        """A daemon's flags for this etcd's TLS (none without)."""
        t = self.tls
        return ["--etcd-ca", t.ca, "--etcd-cert", t.cert, "--etcd-key", t.key] if t else []

    def call(self, path, body, member=None):
        members = [member] if member else [m for m in self.members
                                           if m["proc"] and m["proc"].poll() is None]
        last = None
        for m in members:
            try:
                req = urllib.request.Request(self.url(m, "client") + path,
                                             data=json.dumps(body).encode())
                with urllib.request.urlopen(req, timeout=3, context=self.context) as r:
                    return json.load(r)
            except Exception as e:  # noqa: BLE001 - try the next member
                last = e
        raise AssertionError("no etcd member answered: %s" % last)

    def range_prefix(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = self.call("/v3/kv/range", {"key": base64.b64encode(prefix.encode()).decode(),
                                       "range_end": base64.b64encode(end.encode()).decode()})
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
                for kv in r.get("kvs", [])}

    def wait_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.call("/v3/kv/put", {"key": "aGVhbHRo", "value": "eQ=="})
                return
            except AssertionError:
                time.sleep(0.2)
        raise AssertionError("etcd did not become healthy")

    def stop(self):
        for m in self.members:
            if m["proc"] and m["proc"].poll() is None:
                m["proc"].send_signal(signal.SIGCONT)
                m["proc"].kill()
                m["proc"].wait()


def epoch_of(record):
    """The epoch of a shard record: MessagePack [version, kind, epoch, ...]."""
    import msgpack
    fields = msgpack.unpackb(record)
    assert fields[0] == 1 and fields[1] == 2, fields
    return fields[2], fields[3]


def index_record(record):
    """An index record: [version, kind 4, name, dimension, distance, m, ef_c, ef_s,
    shards, replicas, incarnation]."""
    import msgpack
    fields = msgpack.unpackb(record)
    assert fields[0] == 1 and fields[1] == 4, fields
    return {"name": fields[2], "dimension": fields[3], "shards": fields[8],
            "replicas": fields[9], "incarnation": fields[10]}


class EtcdClusterTest(unittest.TestCase):
    # Credentials (ca, cert, key) for etcd's HTTPS and the daemons' mutual TLS;
    # None: plain.
    tls = None
    # Each vectord keeps its replicas' logs (--replica-logs).
    replica_logs = False

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="quiver-etcd-")
        cls.etcd = Etcd(cls.root, cls.tls)
        cls.config = write_etcd_config(cls.root, "/qt/", request_timeout_ms=1000)
        peer = (["--peer-cert", cls.tls.cert, "--peer-key", cls.tls.key, "--peer-ca", cls.tls.ca]
                if cls.tls else [])
        cls.c = Cluster(common_args=["--config", cls.config, "--etcd", cls.etcd.endpoints(),
                                     *cls.etcd.client_args(), *peer],
                        node_timeout_ms=1000 * SLOW * 10,  # membership by lease, not beats
                        replica_logs=cls.replica_logs)
        cls.acked = {}

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        cls.etcd.stop()
        shutil.rmtree(cls.root, ignore_errors=True)
        shutil.rmtree(cls.c.dir, ignore_errors=True)

    def upsert(self, items, gateway=0, timeout=30):
        status, data = self.c.request("POST", "/v1/indexes/docs/vectors",
                                      {"items": [{"id": i, "vector": v} for i, v in items]},
                                      gateway=gateway, timeout=timeout)
        if status == 200:
            for i, v in items:
                self.acked[i] = v
        return status, data

    def check_every_ack(self):
        # Every acknowledged write is read back (ids repeat across batches here, and a
        # failed write may still land: only its presence and shape are checked).
        for i, status, data in read_back(self.c, "docs", sorted(self.acked), 30 * SLOW):
            self.assertEqual(status, 200, (i, data))
            self.assertEqual(len(data["vector"]), 8)

    def check_reads_go_on(self):
        some = sorted(self.acked)[0]
        status, data = self.c.request("GET", "/v1/indexes/docs/vectors/" + some)
        self.assertEqual(status, 200, data)
        status, data = self.c.request("POST", "/v1/indexes/docs/search",
                                      {"vector": self.acked[some], "k": 3})
        self.assertEqual(status, 200, data)

    def wait_writable(self, timeout=60 * SLOW):
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            n += 1
            status, _ = self.upsert(vectors(4, 8, 10000 + n))
            if status == 200:
                return
            time.sleep(0.2)
        self.fail("no write succeeded within %d s:\n%s" % (timeout, self.c.logs()))

    def test_1_the_map_lives_in_etcd(self):
        status, data = self.c.request("POST", "/v1/indexes",
                                      {"name": "docs", "dimension": 8, "shards": 2, "replicas": 2})
        self.assertEqual(status, 201, data)
        self.c.wait(serving("docs", 2, 2), "docs serving")
        status, data = self.upsert(vectors(200, 8, 1))
        self.assertEqual(status, 200, data)
        nodes = self.etcd.range_prefix("/qt/v1/nodes/")
        self.assertEqual(sorted(k.rsplit("/", 1)[1] for k in nodes),
                         ["vectord-1", "vectord-2", "vectord-3"])
        self.assertIn("/qt/v1/controller", self.etcd.range_prefix("/qt/v1/controller"))
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            shards = self.etcd.range_prefix("/qt/v1/shards/")
            if len(shards) == 2 and all(epoch_of(v)[1] for v in shards.values()):
                break
            time.sleep(0.1)
        self.assertEqual(len(shards), 2, shards)
        cluster = self.c.map()
        for key, record in shards.items():
            epoch, primary = epoch_of(record)
            shard = int(key.rsplit("/", 1)[1])
            mine = [s for s in cluster["shards"] if s["index"] == "docs" and s["shard"] == shard]
            self.assertEqual(mine[0]["epoch"], epoch)
            self.assertEqual(mine[0]["primary"], primary)
        self.check_every_ack()

    def test_2_one_etcd_member_down_changes_nothing(self):
        victim = self.etcd.members[2]
        victim["proc"].kill()
        victim["proc"].wait()
        try:
            for round_ in range(5):
                status, data = self.upsert(vectors(50, 8, 100 + round_), gateway=round_ % 2)
                self.assertEqual(status, 200, data)
                time.sleep(0.5)
        finally:
            self.etcd.start(victim)
        self.check_every_ack()

    def test_3_a_vectord_paused_past_its_lease_is_fenced(self):
        before = {k: epoch_of(v) for k, v in self.etcd.range_prefix("/qt/v1/shards/").items()}
        victim_name = next(p for _, p in before.values())
        victim = self.c.vectords[victim_name]
        os.kill(victim.proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            # Its lease lapses; the controller fences its primaries elsewhere.
            deadline = t0 + 30 * SLOW
            while time.monotonic() < deadline:
                nodes = self.etcd.range_prefix("/qt/v1/nodes/")
                if "/qt/v1/nodes/" + victim_name not in nodes:
                    break
                time.sleep(0.1)
            self.assertNotIn("/qt/v1/nodes/" + victim_name, nodes)
            self.wait_writable()
            print("\n  paused primary: writes back %.1f s after SIGSTOP (lease %d s)"
                  % (time.monotonic() - t0, LEASE_S))
        finally:
            os.kill(victim.proc.pid, signal.SIGCONT)
        after = {k: epoch_of(v) for k, v in self.etcd.range_prefix("/qt/v1/shards/").items()}
        for key, (epoch, primary) in before.items():
            if primary == victim_name:
                self.assertGreater(after[key][0], epoch)
                self.assertNotEqual(after[key][1], victim_name)
        # Awake, it registers again; writes go on and nothing acknowledged is lost.
        self.c.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3, "victim back")
        for round_ in range(3):
            status, data = self.upsert(vectors(30, 8, 300 + round_))
            self.assertEqual(status, 200, (data, self.c.logs()))
        self.check_every_ack()

    def test_4_no_etcd_quorum_stops_writes_not_reads(self):
        down = self.etcd.members[1:]
        for m in down:
            m["proc"].send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + (LEASE_S * 4 + 20) * SLOW
            status = 200
            while time.monotonic() < deadline and status == 200:
                # A write caught as the lease lapses may wait out the gateway's
                # request timeout (30 s) before its 503: wait longer than that.
                status, data = self.upsert(vectors(4, 8, 500), timeout=45)
                time.sleep(0.2)
            self.assertEqual(status, 503, data)
            self.check_reads_go_on()
        finally:
            for m in down:
                m["proc"].send_signal(signal.SIGCONT)
        self.wait_writable()
        self.check_every_ack()

    def test_5_a_restarted_controller_restores_the_same_epochs(self):
        self.c.wait(serving("docs", 2, 2), "docs serving")

        def epochs():
            return {k: epoch_of(v) for k, v in self.etcd.range_prefix("/qt/v1/shards/").items()}

        # Settled first: a failover the earlier tests set off (a lease that lapsed while
        # etcd had no quorum) may still land, and is not the restart's doing.
        before = epochs()
        for _ in range(5):
            time.sleep(LEASE_S * SLOW + 0.5)
            now = epochs()
            if now == before:
                break
            self.c.wait(serving("docs", 2, 2), "docs serving")
            before = epochs()
        # Back on the same ports: the vectords and gateways reconnect to them.
        argv = self.c.storaged.argv
        argv[argv.index("--listen") + 1] = "127.0.0.1:%d" % self.c.storaged.port
        argv[argv.index("--coordinator-listen") + 1] = "127.0.0.1:%d" % self.c.coordinator
        self.c.storaged.kill()
        self.c.storaged.start()
        self.c.wait(serving("docs", 2, 2), "docs serving again")
        self.wait_writable()
        self.assertEqual(before, epochs())
        self.check_every_ack()


    def test_6_the_catalog_lives_in_etcd(self):
        indexes = self.etcd.range_prefix("/qt/v1/indexes/")
        self.assertIn("/qt/v1/catalog", self.etcd.range_prefix("/qt/v1/catalog"))
        docs = index_record(indexes["/qt/v1/indexes/default/docs"])
        self.assertEqual((docs["dimension"], docs["shards"], docs["replicas"]), (8, 2, 2))
        # The shard records name the index under the catalog's incarnation.
        for key in self.etcd.range_prefix("/qt/v1/shards/"):
            self.assertIn("/default/docs@%d/" % docs["incarnation"], key)
        status, data = self.c.request("POST", "/v1/indexes",
                                      {"name": "extra", "dimension": 4, "shards": 1})
        self.assertEqual(status, 201, data)
        extra = index_record(self.etcd.range_prefix("/qt/v1/indexes/")[
            "/qt/v1/indexes/default/extra"])
        self.assertGreater(extra["incarnation"], docs["incarnation"])
        # The same create again is answered from the catalog, a conflicting one refused.
        status, data = self.c.request("POST", "/v1/indexes",
                                      {"name": "extra", "dimension": 4, "shards": 1}, gateway=1)
        self.assertEqual(status, 200, data)
        status, data = self.c.request("POST", "/v1/indexes",
                                      {"name": "extra", "dimension": 5, "shards": 1})
        self.assertEqual(status, 409, data)
        status, data = self.c.request("DELETE", "/v1/indexes/extra")
        self.assertEqual(status, 200, data)
        self.assertNotIn("/qt/v1/indexes/default/extra", self.etcd.range_prefix("/qt/v1/indexes/"))
        status, data = self.c.request("GET", "/v1/indexes/extra")
        self.assertEqual(status, 404, data)
        self.check_every_ack()

    def test_7_a_paused_controller_host_comes_back_as_the_controller(self):
        self.c.wait(serving("docs", 2, 2), "docs serving")
        before = {k: epoch_of(v) for k, v in self.etcd.range_prefix("/qt/v1/shards/").items()}
        held = self.etcd.call("/v3/kv/range", {"key": base64.b64encode(
            b"/qt/v1/controller").decode()})["kvs"][0]["create_revision"]
        os.kill(self.c.storaged.proc.pid, signal.SIGSTOP)
        try:
            # Past its controller lease: the key goes; reads go on meanwhile.
            deadline = time.monotonic() + (LEASE_S * 4 + 10) * SLOW
            while time.monotonic() < deadline:
                if not self.etcd.range_prefix("/qt/v1/controller"):
                    break
                time.sleep(0.2)
            self.assertFalse(self.etcd.range_prefix("/qt/v1/controller"))
            self.check_reads_go_on()
        finally:
            os.kill(self.c.storaged.proc.pid, signal.SIGCONT)
        # It hears that its lease lapsed, campaigns again and wins a new key.
        self.wait_writable()
        deadline = time.monotonic() + 30 * SLOW
        kvs = []
        while time.monotonic() < deadline and not kvs:
            kvs = self.etcd.call("/v3/kv/range", {"key": base64.b64encode(
                b"/qt/v1/controller").decode()}).get("kvs", [])
            time.sleep(0.1)
        self.assertTrue(kvs, "the controller did not campaign again:\n" + self.c.logs())
        self.assertGreater(int(kvs[0]["create_revision"]), int(held))
        self.c.wait(serving("docs", 2, 2), "docs serving again")
        after = {k: epoch_of(v) for k, v in self.etcd.range_prefix("/qt/v1/shards/").items()}
        self.assertEqual(sorted(before), sorted(after))
        for key, (epoch, _) in before.items():
            self.assertGreaterEqual(after[key][0], epoch)
        self.check_every_ack()

    def test_8_every_process_killed_at_once_comes_back_with_the_same_catalog(self):
        self.c.wait(serving("docs", 2, 2), "docs serving")
        catalog = self.etcd.range_prefix("/qt/v1/indexes/")
        shards = {k: epoch_of(v) for k, v in self.etcd.range_prefix("/qt/v1/shards/").items()}
        c = self.c
        # Every daemon back on its ports (vectords keep their registrations' addresses).
        argv = c.storaged.argv
        argv[argv.index("--listen") + 1] = "127.0.0.1:%d" % c.storaged.port
        argv[argv.index("--coordinator-listen") + 1] = "127.0.0.1:%d" % c.coordinator
        for v in c.vectords.values():
            v.argv[v.argv.index("--listen") + 1] = "127.0.0.1:%d" % v.port
        daemons = [c.storaged, *c.vectords.values(), *c.gateways]
        for p in daemons:
            p.proc.send_signal(signal.SIGKILL)
        for m in self.etcd.members:
            m["proc"].kill()
        for p in daemons:
            p.kill()
        for m in self.etcd.members:
            m["proc"].wait()
            self.etcd.start(m)
        self.etcd.wait_healthy()
        t0 = time.monotonic()
        for p in daemons:
            p.start()
        c.wait(serving("docs", 2, 2), "docs serving after a full restart")
        self.wait_writable()
        print("\n  full restart: writable %.1f s after the daemons started (leases %d s)"
              % (time.monotonic() - t0, LEASE_S))
        self.assertEqual(self.etcd.range_prefix("/qt/v1/indexes/"), catalog)
        after = {k: epoch_of(v) for k, v in self.etcd.range_prefix("/qt/v1/shards/").items()}
        self.assertEqual(sorted(after), sorted(shards))
        for key, (epoch, _) in shards.items():
            self.assertGreaterEqual(after[key][0], epoch)
        status, data = c.request("GET", "/v1/indexes")
        self.assertEqual(status, 200, data)
        self.assertEqual([i["name"] for i in data["indexes"]], ["docs"])
        self.check_every_ack()


class EtcdReplicaLogsClusterTest(EtcdClusterTest):
    """The same, with a log on every replica: in-sync changes wait for etcd."""
    replica_logs = True


class EtcdMigrationTest(unittest.TestCase):
    def test_a_clusters_catalog_and_data_move_onto_etcd(self):
        root = tempfile.mkdtemp(prefix="quiver-etcd-move-")
        etcd = Etcd(root)
        c = Cluster(vectords=2, gateways=1)
        try:
            status, data = c.request("POST", "/v1/indexes",
                                     {"name": "old", "dimension": 8, "shards": 2, "replicas": 2})
            self.assertEqual(status, 201, data)
            c.wait(serving("old", 2, 2), "old serving")
            items = vectors(100, 8, 7)
            status, data = c.request("POST", "/v1/indexes/old/vectors",
                                     {"items": [{"id": i, "vector": v} for i, v in items]})
            self.assertEqual(status, 200, data)
            config = write_etcd_config(root, "/qm/")
            argv = c.storaged.argv
            argv[argv.index("--listen") + 1] = "127.0.0.1:%d" % c.storaged.port
            argv[argv.index("--coordinator-listen") + 1] = "127.0.0.1:%d" % c.coordinator
            daemons = [*c.gateways, *c.vectords.values(), c.storaged]
            for p in daemons:
                p.stop()
                p.argv += ["--config", config, "--etcd", etcd.endpoints()]
            for p in reversed(daemons):
                p.start()
            c.wait(serving("old", 2, 2), "old serving on etcd")
            record = index_record(etcd.range_prefix("/qm/v1/indexes/")["/qm/v1/indexes/default/old"])
            self.assertEqual((record["dimension"], record["shards"]), (8, 2))
            for key in etcd.range_prefix("/qm/v1/shards/"):
                self.assertIn("/default/old@%d/" % record["incarnation"], key)
            for i, v in items:
                status, data = c.request("GET", "/v1/indexes/old/vectors/" + i)
                self.assertEqual(status, 200, (i, data))
            deadline = time.monotonic() + 30 * SLOW
            while time.monotonic() < deadline:
                status, data = c.request("POST", "/v1/indexes/old/vectors",
                                         {"items": [{"id": "new", "vector": items[0][1]}]})
                if status == 200:
                    break
                time.sleep(0.2)
            self.assertEqual(status, 200, data)
            items.append(("new", items[0][1]))

            # etcd loses the index's record (as if pointed at another cluster's
            # catalog): the index is not served, storage keeps its files; with the
            # record back, every vector is served again.
            key = "/qm/v1/indexes/default/old"
            value = etcd.range_prefix("/qm/v1/indexes/")[key]
            b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
            etcd.call("/v3/kv/deleterange", {"key": b64(key.encode())})
            c.storaged.kill()
            c.storaged.start()
            c.wait(lambda m: not any(s["index"] == "old" for s in m["shards"]), "old not served")
            # The gateway answers 503 until the restarted storaged has loaded the
            # catalog; once loaded, the index is unknown.
            deadline = time.monotonic() + 30 * SLOW
            while True:
                status, data = c.request("GET", "/v1/indexes/old")
                if status != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(status, 404, data)
            kept = os.listdir(os.path.join(c.dir, "data", "indexes", "default"))
            self.assertIn("old@%d" % record["incarnation"], kept)
            self.assertIn("its files kept", c.storaged.read_log())
            etcd.call("/v3/kv/put", {"key": b64(key.encode()), "value": b64(value)})
            c.storaged.kill()
            c.storaged.start()
            c.wait(serving("old", 2, 2), "old serving again")
            for i, v in items:
                status, data = c.request("GET", "/v1/indexes/old/vectors/" + i)
                self.assertEqual(status, 200, (i, data))
        finally:
            c.stop()
            etcd.stop()
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(c.dir, ignore_errors=True)


class EtcdStartupTest(unittest.TestCase):
    def test_unreachable_etcd_is_said_and_fatal(self):
        from test_cluster import BINDIR
        port = free_port()
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(BINDIR, "storaged"), "--data-dir",
                            tempfile.mkdtemp(prefix="quiver-noetcd-"), "--listen", "127.0.0.1:0",
                            "--coordinator-listen", "127.0.0.1:0", "--etcd", "127.0.0.1:%d" % port],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot reach etcd at 127.0.0.1:%d" % port, p.stdout + p.stderr)
        self.assertLess(time.monotonic() - t0, 30)


if __name__ == "__main__":
    unittest.main()
