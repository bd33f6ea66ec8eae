"""A cluster without storaged: 3 etcd members, 3 vectords that each keep their
replicas' logs and host a coordinator, and 2 gateways. One coordinator is
elected in etcd; vectords and gateways find it by the controller key and follow
it when it moves. The elected one's vectord is killed (SIGKILL), paused past its
lease (SIGSTOP) and stopped cleanly: each time another vectord leads, writes
resume, and every acknowledged write reads back. Timings are printed."""
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import msgpack

from test_cluster import BINDIR, SLOW, Cluster, PrintsLogsOnFailure, read_back, serving
from test_cluster_etcd import LEASE_S, Etcd, write_etcd_config

PREFIX = "/qv/"


BATCHES = itertools.count()


def batch(n, seed):
    """n items whose ids no other batch has: writes racing through two gateways
    never write one id twice, so each acknowledged vector is the one a read
    must return."""
    rng, b = random.Random(seed), next(BATCHES)
    return [("b%d-%d" % (b, i), [rng.uniform(-1, 1) for _ in range(8)]) for i in range(n)]


class CoordinatorsOnVectordsTest(PrintsLogsOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="quiver-covd-")
        cls.etcd = Etcd(cls.root)
        cls.config = write_etcd_config(cls.root, PREFIX, request_timeout_ms=1000)
        cls.c = Cluster(common_args=["--config", cls.config, "--etcd", cls.etcd.endpoints()],
                        node_timeout_ms=1000 * SLOW * 10,  # membership by lease, not beats
                        replica_logs=True, coordinators_on_vectords=True)
        cls.acked = {}

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        cls.etcd.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def logs(self):
        return self.c.logs()

    def controller(self):
        """The elected coordinator's vectord, by the address in the controller
        key (None while no one holds it; a killed one until its lease lapses)."""
        record = self.etcd.range_prefix(PREFIX + "v1/controller").get(PREFIX + "v1/controller")
        if record is None:
            return None
        fields = msgpack.unpackb(record)
        address = fields[3]
        for name, p in self.c.vectords.items():
            served = re.findall(r"coordinator serving on caf://(127\.0\.0\.1:\d+)",
                                p.read_log()[p.mark:])
            if served and served[-1] == address:
                return name
        return "unknown at " + address

    def wait_controller(self, other_than=None, timeout=None):
        deadline = time.monotonic() + (timeout or (LEASE_S * 4 + 10) * SLOW)
        while time.monotonic() < deadline:
            name = self.controller()
            if name and name != other_than:
                return name
            time.sleep(0.05)
        self.fail("no vectord other than %s leads:\n%s" % (other_than, self.c.logs()))

    def upsert(self, items, gateway=0):
        status, data = self.c.request("POST", "/v1/indexes/docs/vectors",
                                      {"items": [{"id": i, "vector": v} for i, v in items]},
                                      gateway=gateway, timeout=10)
        if status == 200:
            for i, v in items:
                self.acked[i] = v
        return status, data

    def wait_writable(self, seed, timeout=60 * SLOW):
        """Seconds until a write through each gateway is acknowledged."""
        t0 = time.monotonic()
        for g in range(len(self.c.gateways)):
            n = 0
            while True:
                n += 1
                try:
                    status, _ = self.upsert(batch(4, seed + 100 * g + n), gateway=g)
                except OSError:
                    status = None
                if status == 200:
                    break
                if time.monotonic() - t0 > timeout:
                    self.fail("gateway %d took no write within %d s:\n%s"
                              % (g, timeout, self.c.logs()))
                time.sleep(0.05)
        return time.monotonic() - t0

    def check_every_ack(self):
        for i, status, data in read_back(self.c, "docs", sorted(self.acked), 30 * SLOW):
            self.assertEqual(status, 200, (i, data))
            got, sent = data["vector"], self.acked[i]
            self.assertEqual(len(got), len(sent), i)
            # Stored as float32.
            self.assertTrue(all(abs(a - b) < 1e-6 for a, b in zip(got, sent)), (i, got, sent))

    def writing(self, seed):
        """Writes through both gateways until the returned event is set."""
        stop = threading.Event()

        def loop():
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    self.upsert(batch(5, seed + n), gateway=n % 2)
                except OSError:
                    pass
                time.sleep(0.02)
        t = threading.Thread(target=loop)
        t.start()
        return stop, t

    def restart(self, name):
        p = self.c.vectords[name]
        p.start()
        self.c.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3, name + " back")
        self.c.wait(serving("docs", 2, 3), "docs serving on all three")

    def test_1_a_vectord_leads_and_both_gateways_find_it(self):
        self.assertIsNone(self.c.storaged)
        leader = self.wait_controller()
        status, data = self.c.request("POST", "/v1/indexes",
                                      {"name": "docs", "dimension": 8, "shards": 2, "replicas": 3})
        self.assertEqual(status, 201, data)
        self.c.wait(serving("docs", 2, 3), "docs serving")
        for g in range(2):
            status, data = self.upsert(batch(40, 1 + g), gateway=g)
            self.assertEqual(status, 200, data)
        # Only the elected one places: the others campaign and wait.
        for name, p in self.c.vectords.items():
            elected = "elected the cluster's controller" in p.read_log()
            self.assertEqual(elected, name == leader, (name, leader))
        self.check_every_ack()

    def fail_controller(self, how, seed):
        """Stops the controller's vectord with `how` under writes; returns the
        victim, its successor and the seconds until both gateways write again."""
        self.c.wait(serving("docs", 2, 3), "docs serving")
        victim = self.wait_controller()
        stop, t = self.writing(seed)
        try:
            time.sleep(0.5)
            t0 = time.monotonic()
            how(self.c.vectords[victim])
            successor = self.wait_controller(other_than=victim)
            elected = time.monotonic() - t0
            self.wait_writable(seed + 50000)
            writable = time.monotonic() - t0
        finally:
            stop.set()
            t.join()
        return victim, successor, elected, writable

    def test_2_the_controllers_vectord_killed(self):
        victim, successor, elected, writable = self.fail_controller(
            lambda p: p.kill(), seed=10000)
        print("\n  controller's vectord SIGKILLed: %s leads after %.2f s, both gateways write "
              "after %.2f s (leases %d s)" % (successor, elected, writable, LEASE_S))
        self.check_every_ack()
        self.restart(victim)
        self.assertEqual(self.controller(), successor)  # a restart does not take the lead back
        self.wait_writable(20000)
        self.check_every_ack()

    def test_3_the_controllers_vectord_paused_past_its_lease(self):
        paused = []

        def pause(p):
            os.kill(p.proc.pid, signal.SIGSTOP)
            paused.append(p)
        try:
            victim, successor, elected, writable = self.fail_controller(pause, seed=30000)
        finally:
            for p in paused:
                os.kill(p.proc.pid, signal.SIGCONT)
        print("\n  controller's vectord SIGSTOPped: %s leads after %.2f s, both gateways write "
              "after %.2f s (leases %d s)" % (successor, elected, writable, LEASE_S))
        # Awake, it learns it lost the key, registers again as a node and follows.
        self.c.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3, victim + " back")
        self.c.wait(serving("docs", 2, 3), "docs serving on all three")
        self.assertEqual(self.controller(), successor)
        self.assertIn("no longer the cluster's controller",
                      self.c.vectords[victim].read_log())
        self.wait_writable(40000)
        self.check_every_ack()

    def test_4_a_clean_stop_hands_over_within_a_lease(self):
        victim, successor, elected, writable = self.fail_controller(
            lambda p: p.stop(), seed=50000)
        print("\n  controller's vectord stopped: %s leads after %.2f s, both gateways write "
              "after %.2f s (leases %d s)" % (successor, elected, writable, LEASE_S))
        # Its lease is revoked on the way out: no waiting for it to lapse.
        self.assertLess(elected, LEASE_S)
        self.check_every_ack()
        self.restart(victim)
        self.wait_writable(60000)
        self.check_every_ack()


class CoordinatorFlagsTest(unittest.TestCase):
    """A vectord refuses coordinator flags that cannot work, before it starts."""

    def refused(self, *args):
        data = tempfile.mkdtemp(prefix="quiver-covd-flags-")
        try:
            p = subprocess.run([os.path.join(BINDIR, "vectord"), "--data-dir", data, *args],
                               capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(data, ignore_errors=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        return p.stderr

    def test_bad_combinations_are_named(self):
        listen = ["--coordinator-listen", "127.0.0.1:0"]
        etcd = ["--etcd", "127.0.0.1:1"]
        self.assertIn("needs --etcd and --replica-logs", self.refused(*listen, "--replica-logs"))
        self.assertIn("needs --etcd and --replica-logs", self.refused(*listen, *etcd))
        self.assertIn("leave --coordinator out",
                      self.refused(*listen, *etcd, "--replica-logs", "--coordinator",
                                   "127.0.0.1:1"))
        self.assertIn("are the coordinator's",
                      self.refused(*etcd, "--replica-logs", "--node-timeout-ms", "1000"))
        self.assertIn("are the coordinator's",
                      self.refused(*etcd, "--replica-logs", "--write-quorum", "2"))
        self.assertIn("takes host:port", self.refused("--coordinator-listen", "nowhere", *etcd,
                                                      "--replica-logs"))


if __name__ == "__main__":
    unittest.main()
