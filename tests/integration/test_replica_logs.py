"""A cluster whose vectords each keep their replicas' logs (--replica-logs).

No log is shared: every write reaches the primary's own log and every in-sync
replica's before it is acknowledged. A primary killed under load loses no
acknowledged write; its node comes back, cuts any tail no later primary wrote,
reads what it missed from the new primary's log and rejoins the in-sync set;
then the other two nodes are killed one after the other and the node that came
back alone still answers every acknowledged write from its own log."""
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from test_cluster import BINDIR, SLOW, Cluster, primaries_by_node, vectors


def log_bytes(root):
    """Bytes in shard log segments under a data dir."""
    total = 0
    for dirpath, _, files in os.walk(os.path.join(root, "indexes")):
        if os.path.basename(dirpath) == "log":
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total


def run_printing_logs(c, scenario):
    """Runs scenario(c); prints the daemons' logs if it fails; stops the cluster."""
    try:
        scenario(c)
    except Exception:
        print(c.logs())
        raise
    finally:
        c.stop()


class Writers:
    """Threads that upsert batches of 5 random 8-d vectors (ids under `prefix`)
    through `upsert(items)` until stopped: `acked` holds what was answered 200,
    `failures` the rest (status and body, or the error of a request that got no
    answer)."""

    def __init__(self, upsert, prefix, threads=2):
        self.acked, self.failures = {}, []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(upsert, "%s%d" % (prefix, w)))
                         for w in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, upsert, name):
        n = 0
        while not self._stop.is_set():
            batch = [("%s-%05d" % (name, n + j), [random.uniform(-1, 1) for _ in range(8)])
                     for j in range(5)]
            n += 5
            try:
                status, body = upsert(batch)
            except Exception as e:  # noqa: BLE001 - no answer: not acknowledged
                self.failures.append(repr(e))
                continue
            if status != 200:
                self.failures.append((status, body))
                continue
            with self._lock:
                self.acked.update(batch)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join()


def in_sync(index, shards, members):
    """Every shard has a primary and `members` ready in-sync replicas that applied
    what the primary did (at least one record: the reports are fresh)."""
    def check(c):
        mine = [s for s in c["shards"] if s["index"] == index]
        if len(mine) != shards:
            return False
        for s in mine:
            head = [r["applied_seq"] for r in s["replicas"] if r["primary"]]
            if not s["primary"] or not head or head[0] == 0:
                return False
            if sum(r["in_sync"] and r["state"] == "ready" and r["applied_seq"] == head[0]
                   for r in s["replicas"]) != members:
                return False
        return True
    return check


class ReplicaLogsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(vectords=3, gateways=1, replica_logs=True)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def upsert(self, index, items):
        return self.c.request("POST", "/v1/indexes/%s/vectors" % index,
                              {"items": [{"id": i, "vector": v} for i, v in items]})

    def test_a_new_index_keeps_every_replica_in_sync_from_its_first_write(self):
        """A write right after the create reaches every replica: the primary may
        not know its replicas' actors yet (their nodes report them in their next
        heartbeat), and it waits for them a while rather than drop them from the
        in-sync set, which would leave the write with one copy."""
        c = self.c
        try:
            for n in range(3):
                name = "fresh%d" % n
                status, body = c.request("POST", "/v1/indexes",
                                         {"name": name, "dimension": 8, "shards": 2,
                                          "replicas": 3, "distance": "euclidean"})
                self.assertIn(status, (200, 201), body)
                status, body = self.upsert(name, vectors(20, 8, 7 + n))
                self.assertEqual(status, 200, body)
                if SLOW > 1:
                    continue  # a sanitizer's replica may need more than the 2 s it gets
                for s in [s for s in c.map()["shards"] if s["index"] == name]:
                    self.assertEqual(sum(r["in_sync"] for r in s["replicas"]), 3, s)
            for p in c.vectords.values() if SLOW == 1 else []:
                left = [line for line in p.read_log().splitlines()
                        if "/fresh" in line and "out of the set" in line]
                self.assertEqual(left, [], p.name)
        except Exception:
            print(c.logs())
            raise

    def test_every_replica_logs_every_acknowledged_write(self):
        try:
            self.every_replica_logs_every_acknowledged_write()
        except Exception:
            print(self.c.logs())
            raise

    def every_replica_logs_every_acknowledged_write(self):
        c = self.c
        status, body = c.request("POST", "/v1/indexes",
                                 {"name": "rl", "dimension": 8, "shards": 2, "replicas": 3,
                                  "distance": "euclidean"})
        self.assertIn(status, (200, 201), body)
        status, body = self.upsert("rl", vectors(300, 8, 1))
        self.assertEqual(status, 200, body)
        c.wait(in_sync("rl", 2, 3), "every replica in sync")
        # Each node's own data dir holds the logs; storaged's holds none.
        for name in c.vectords:
            self.assertGreater(log_bytes(c.vectord_dir(name)), 300 * 8 * 4 / 2, name)
        self.assertEqual(log_bytes(os.path.join(c.dir, "data")), 0)

        # Writers run while the node with the most primaries is SIGKILLed.
        writers = Writers(lambda batch: self.upsert("rl", batch), "w")
        acked = writers.acked
        time.sleep(1.5)
        victim = max(primaries_by_node(c.map(), "rl").items(), key=lambda kv: kv[1])[0]
        killed_at = time.monotonic()
        c.vectords[victim].kill()
        # Writes resume once the survivors lead (in sync) and the victim left the set.
        resumed = None
        deadline = time.monotonic() + 20 * SLOW
        before = len(acked)
        while time.monotonic() < deadline and resumed is None:
            time.sleep(0.05)
            if len(acked) > before + 20:
                resumed = time.monotonic() - killed_at
        time.sleep(1)
        writers.stop()
        self.assertIsNotNone(resumed, "writes resumed after the kill")
        print("\nreplica logs: SIGKILL %s; writes resumed after %.2f s; %d acked, %d not"
              % (victim, resumed, len(acked), len(writers.failures)))
        acked.update(vectors(300, 8, 1))
        self.assert_all_readable(acked)

        # The victim comes back from its own disk and rejoins the in-sync set.
        c.start_vectord(victim)
        more = [("more-%02d" % k, v) for k, (_, v) in enumerate(vectors(40, 8, 4))]
        self.assertEqual(self.upsert("rl", more)[0], 200)
        acked.update(more)
        c.wait(in_sync("rl", 2, 3), "victim back in sync")

        # Only the victim is left: it leads every shard from its own log.
        others = [n for n in c.vectords if n != victim]
        for n in others:
            c.vectords[n].kill()
            c.wait(lambda m, n=n: all(
                s["primary"] and s["primary"] != n for s in m["shards"] if s["index"] == "rl"),
                "shards led without " + n)
        c.wait(lambda m: all(s["primary"] == victim for s in m["shards"] if s["index"] == "rl"),
               "the victim leads")
        self.assert_all_readable(acked, check_vectors=True)
        status, body = c.request("GET", "/v1/indexes/rl")
        self.assertEqual(status, 200, body)
        self.assertGreaterEqual(body["count"], len(acked))

    def assert_all_readable(self, acked, check_vectors=False):
        missing, differ = [], []
        for i in sorted(acked):
            status, body = self.c.request("GET", "/v1/indexes/rl/vectors/%s" % i)
            if status != 200:
                missing.append((i, status))
            elif check_vectors and (len(body["vector"]) != len(acked[i]) or any(
                    abs(a - b) > 1e-5 for a, b in zip(body["vector"], acked[i]))):
                differ.append(i)
        self.assertEqual(missing, [], "acknowledged writes lost")
        self.assertEqual(differ, [], "acknowledged vectors differ")


class DivergentTailTest(unittest.TestCase):
    """A primary holds records no replica got (replication is delayed on every
    node) when it is SIGKILLed. Another in-sync replica leads; back, the old
    primary cuts that tail before it follows, so its copy of the write is gone
    and the new primary's records stand in its place. The write itself is
    acknowledged only if the gateway's retry wrote it again on the new primary;
    then it is readable to the end, else it is gone."""

    def test_a_returning_primary_cuts_what_no_later_primary_wrote(self):
        run_printing_logs(Cluster(vectords=3, gateways=1, replica_logs=True,
                                  vectord_args=["--debug-forward-delay-ms", str(1500 * SLOW)]),
                          self.run_scenario)

    def run_scenario(self, c):
        def upsert(items, timeout=30):
            return c.request("POST", "/v1/indexes/tail/vectors",
                             {"items": [{"id": i, "vector": v} for i, v in items]},
                             timeout=timeout)

        status, body = c.request("POST", "/v1/indexes", {"name": "tail", "dimension": 8,
                                                         "replicas": 3, "distance": "euclidean"})
        self.assertIn(status, (200, 201), body)
        first = [("a-%02d" % k, v) for k, (_, v) in enumerate(vectors(20, 8, 5))]
        deadline = time.monotonic() + 30 * SLOW
        while upsert(first)[0] != 200:  # the replicas may still be starting
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)
        c.wait(in_sync("tail", 1, 3), "every replica in sync")
        victim = c.map()["shards"][0]["primary"]

        # X reaches only the victim's log: it is killed inside the delay.
        lost = [("x-%02d" % k, v) for k, (_, v) in enumerate(vectors(5, 8, 6))]
        answer = []
        t = threading.Thread(target=lambda: answer.append(self.try_upsert(upsert, lost)))
        t.start()
        time.sleep(0.4 * SLOW)
        c.vectords[victim].kill()
        t.join()
        c.wait(lambda m: m["shards"][0]["primary"] not in (None, victim), "a new primary")
        second = [("b-%02d" % k, v) for k, (_, v) in enumerate(vectors(20, 8, 7))]
        deadline = time.monotonic() + 30 * SLOW
        while self.try_upsert(upsert, second) != 200:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)

        c.start_vectord(victim)
        c.wait(in_sync("tail", 1, 3), "the old primary back in sync")
        self.assertIn("cutting its log", c.vectords[victim].read_log())
        for n in [n for n in c.vectords if n != victim]:
            c.vectords[n].kill()
            c.wait(lambda m, n=n: m["shards"][0]["primary"] not in (None, n),
                   "led without " + n)
        c.wait(lambda m: m["shards"][0]["primary"] == victim, "the old primary leads")
        for i, v in first + second:
            status, body = c.request("GET", "/v1/indexes/tail/vectors/" + i)
            self.assertEqual(status, 200, (i, body))
            self.assertTrue(all(abs(a - b) <= 1e-5 for a, b in zip(body["vector"], v)), i)
        for i, v in lost:
            status, body = c.request("GET", "/v1/indexes/tail/vectors/" + i)
            if answer == [200]:  # written again on the new primary by the gateway
                self.assertEqual(status, 200, (i, body))
                self.assertTrue(all(abs(a - b) <= 1e-5 for a, b in zip(body["vector"], v)), i)
            else:
                self.assertEqual(status, 404, (i, body))
        print("\nthe write the old primary alone held: %s" % (answer or ["no answer"])[0])

    @staticmethod
    def try_upsert(upsert, items):
        try:
            return upsert(items, timeout=10 * SLOW)[0]
        except Exception:  # noqa: BLE001 - no answer: not acknowledged
            return 0


class WriteQuorumTest(unittest.TestCase):
    """--write-quorum 2: every write must reach two copies besides every in-sync
    replica. An index of one replica is not held to more copies than it has.
    With the replica of a two-replica shard killed, the write that waited for it
    fails once it left the set, and later ones are refused before the log takes
    them (they change nothing); back and in sync, writes go on."""

    def test_without_the_quorum_writes_fail_and_change_nothing(self):
        run_printing_logs(Cluster(vectords=2, gateways=1, replica_logs=True,
                                  storaged_args=["--write-quorum", "2"]),
                          self.run_scenario)

    def run_scenario(self, c):
        def upsert(index, items):
            return c.request("POST", "/v1/indexes/%s/vectors" % index,
                             {"items": [{"id": i, "vector": v} for i, v in items]})

        for name, replicas in (("wq", 2), ("one", 1)):
            status, body = c.request("POST", "/v1/indexes", {"name": name, "dimension": 8,
                                                             "replicas": replicas})
            self.assertIn(status, (200, 201), body)
        acked = {}
        for name in ("wq", "one"):
            items = [("%s-a%02d" % (name, k), v) for k, (_, v) in enumerate(vectors(10, 8, 3))]
            deadline = time.monotonic() + 30 * SLOW
            while True:  # the replicas may still be starting
                status, body = upsert(name, items)
                if status == 200:
                    break
                self.assertEqual(status, 503, body)
                self.assertLess(time.monotonic(), deadline, body)
                time.sleep(0.2)
            acked.update(dict(items))
        c.wait(in_sync("wq", 1, 2), "both copies in sync")
        primary = next(s["primary"] for s in c.map()["shards"] if s["index"] == "wq")
        replica = next(n for n in c.vectords if n != primary)

        c.vectords[replica].kill()
        # The write in flight fails once the replica left the set; then writes are
        # refused before they are logged.
        deadline = time.monotonic() + 30 * SLOW
        n = 0
        while True:
            n += 1
            status, body = upsert("wq", [("wq-x%03d" % n, vectors(1, 8, 100 + n)[0][1])])
            self.assertNotEqual(status, 200, "a write with one copy was acknowledged")
            self.assertEqual(status, 503, body)
            if "nothing was written" in body["error"]["message"]:
                break
            self.assertLess(time.monotonic(), deadline, body)
            time.sleep(0.1)
        refused = [("wq-r%02d" % k, v) for k, (_, v) in enumerate(vectors(5, 8, 9))]
        status, body = upsert("wq", refused)
        self.assertEqual(status, 503, body)
        self.assertIn("copies the write quorum asks for are in sync", body["error"]["message"])
        for i, _ in refused:
            status, body = c.request("GET", "/v1/indexes/wq/vectors/" + i)
            self.assertEqual(status, 404, (i, body))

        c.start_vectord(replica)
        deadline = time.monotonic() + 60 * SLOW
        later = [("wq-b%02d" % k, v) for k, (_, v) in enumerate(vectors(10, 8, 5))]
        while upsert("wq", later)[0] != 200:
            self.assertLess(time.monotonic(), deadline, "no write after the replica came back")
            time.sleep(0.2)
        acked.update(dict(later))
        for i in sorted(acked):
            index = i.split("-")[0]
            status, body = c.request("GET", "/v1/indexes/%s/vectors/%s" % (index, i))
            self.assertEqual(status, 200, (i, body))


def index_dirs(root, name):
    """The directories of `name`'s incarnations under a data dir."""
    base = os.path.join(root, "indexes", "default")
    if not os.path.isdir(base):
        return []
    return [d for d in os.listdir(base) if d.split("@")[0] == name]


class DroppedIndexFilesTest(unittest.TestCase):
    """Each node keeps its replicas' files: a dropped index's go from every node,
    also from one that was down when it was dropped; another index's stay."""

    def test_a_dropped_index_leaves_no_files_on_any_node(self):
        run_printing_logs(Cluster(vectords=2, gateways=1, replica_logs=True), self.run_scenario)

    def run_scenario(self, c):
        for name in ("gone", "kept"):
            status, body = c.request("POST", "/v1/indexes", {"name": name, "dimension": 8,
                                                             "replicas": 2})
            self.assertIn(status, (200, 201), body)
            items = [("%s-%02d" % (name, k), v) for k, (_, v) in enumerate(vectors(20, 8, 4))]
            deadline = time.monotonic() + 30 * SLOW
            while c.request("POST", "/v1/indexes/%s/vectors" % name,
                            {"items": [{"id": i, "vector": v} for i, v in items]})[0] != 200:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.2)
            c.wait(in_sync(name, 1, 2), name + " in sync on both nodes")
        dirs = {n: c.vectord_dir(n) for n in c.vectords}
        for n, d in dirs.items():
            self.assertEqual(len(index_dirs(d, "gone")), 1, n)

        away = "vectord-2"
        c.vectords[away].kill()
        c.wait(lambda m: any(x["name"] == away and x["status"] == "down" for x in m["nodes"]),
               away + " down")
        status, body = c.request("DELETE", "/v1/indexes/gone")
        self.assertEqual(status, 200, body)

        def gone_from(node):
            deadline = time.monotonic() + 30 * SLOW
            while index_dirs(dirs[node], "gone"):
                self.assertLess(time.monotonic(), deadline, node + " keeps the dropped files")
                time.sleep(0.2)

        gone_from("vectord-1")
        self.assertEqual(len(index_dirs(dirs[away], "gone")), 1)  # down: untouched
        c.start_vectord(away)
        gone_from(away)
        # The files go before the line that says so is written.
        deadline = time.monotonic() + 10 * SLOW
        while "deleted the files of index default/gone" not in c.vectords[away].read_log():
            self.assertLess(time.monotonic(), deadline, away + " never logged the deletion")
            time.sleep(0.1)
        for n, d in dirs.items():
            self.assertEqual(len(index_dirs(d, "kept")), 1, n)
        status, body = c.request("GET", "/v1/indexes/kept/vectors/kept-00")
        self.assertEqual(status, 200, body)


class WriteQuorumFlagTest(unittest.TestCase):
    def test_a_bad_write_quorum_is_a_usage_error(self):
        storaged = os.path.join(BINDIR, "storaged")
        base = [storaged, "--data-dir", tempfile.mkdtemp(prefix="quiver-wq-"),
                "--listen", "127.0.0.1:0", "--coordinator-listen", "127.0.0.1:0"]
        try:
            for extra, says in ((["--write-quorum", "2"], "give --replica-logs too"),
                                (["--replica-logs", "--write-quorum", "0"], "takes 1 to 5"),
                                (["--replica-logs", "--write-quorum", "6"], "takes 1 to 5")):
                p = subprocess.run(base + extra, capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, (extra, p.stderr))
                self.assertIn(says, p.stderr)
        finally:
            shutil.rmtree(base[2], ignore_errors=True)


class BootstrapTest(unittest.TestCase):
    """A replica whose node was away while its primary snapshotted and released
    the log it lacks takes the primary's snapshot over the wire (checksummed
    chunks), restarts its log after it, reads the rest and rejoins the in-sync
    set; then it alone answers every acknowledged write."""

    def test_a_replica_far_behind_takes_its_primarys_snapshot(self):
        root = tempfile.mkdtemp(prefix="quiver-boot-")
        config = os.path.join(root, "quiver.toml")
        with open(config, "w") as f:
            f.write("[storage]\nsegment_bytes = 65536\n")
        try:
            run_printing_logs(Cluster(vectords=2, gateways=1, replica_logs=True,
                                      vectord_args=["--config", config,
                                                    "--snapshot-every-records", "300"]),
                              self.run_scenario)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def run_scenario(self, c):
        status, body = c.request("POST", "/v1/indexes", {"name": "boot", "dimension": 16,
                                                         "replicas": 2, "distance": "euclidean"})
        self.assertIn(status, (200, 201), body)
        acked = {}

        def put(items):
            deadline = time.monotonic() + 30 * SLOW
            while True:
                status, body = c.request("POST", "/v1/indexes/boot/vectors",
                                         {"items": [{"id": i, "vector": v} for i, v in items]})
                if status == 200:
                    acked.update(items)
                    return
                self.assertLess(time.monotonic(), deadline, body)
                time.sleep(0.2)

        put(vectors(50, 16, 1))
        c.wait(in_sync("boot", 1, 2), "both in sync")
        behind = [r["node"] for r in c.map()["shards"][0]["replicas"] if not r["primary"]][0]
        c.vectords[behind].kill()
        # Enough for several snapshots and released segments on the primary.
        rng = random.Random(2)
        for b in range(30):
            put([("b%02d-%03d" % (b, k), [rng.uniform(-1, 1) for _ in range(16)])
                 for k in range(100)])
        c.start_vectord(behind)
        c.wait(in_sync("boot", 1, 2), "the replica back in sync", timeout=60 * SLOW)
        log = c.vectords[behind].read_log()
        self.assertIn("taking its snapshot", log)
        self.assertIn("took the primary's snapshot", log)
        put([("after-%02d" % k, v) for k, (_, v) in enumerate(vectors(20, 16, 3))])
        c.wait(in_sync("boot", 1, 2), "in sync after more writes")
        primary = c.map()["shards"][0]["primary"]
        c.vectords[primary].kill()
        c.wait(lambda m: m["shards"][0]["primary"] == behind, "the bootstrapped replica leads")
        missing = []
        for i, v in sorted(acked.items()):
            status, body = c.request("GET", "/v1/indexes/boot/vectors/" + i)
            if status != 200 or any(abs(a - b) > 1e-5 for a, b in zip(body["vector"], v)):
                missing.append((i, status))
        self.assertEqual(missing, [], "acknowledged writes lost or changed")


def shard_dirs(root, name):
    """The shards of `name` whose files a data dir holds."""
    out = set()
    for d in index_dirs(root, name):
        base = os.path.join(root, "indexes", "default", d)
        out.update(int(x) for x in os.listdir(base) if x.isdigit())
    return out


class MovedShardFilesTest(unittest.TestCase):
    """With the in-sync set in etcd, a node deletes its files of a shard that
    moved to other nodes for good (it is neither placed for it nor in sync);
    every node ends up with the files of exactly the shards it hosts."""

    def test_files_of_shards_moved_off_a_node_go(self):
        import test_cluster_etcd
        root = tempfile.mkdtemp(prefix="quiver-moved-")
        etcd = test_cluster_etcd.Etcd(root)
        config = test_cluster_etcd.write_etcd_config(root, "/qm/")
        self.lease = test_cluster_etcd.LEASE_S
        try:
            run_printing_logs(Cluster(vectords=3, gateways=1, replica_logs=True,
                                      common_args=["--config", config, "--etcd", etcd.endpoints()],
                                      node_timeout_ms=1000 * SLOW * 10),
                              self.run_scenario)
        finally:
            etcd.stop()
            shutil.rmtree(root, ignore_errors=True)

    def run_scenario(self, c):
        status, body = c.request("POST", "/v1/indexes", {"name": "mv", "dimension": 8,
                                                         "shards": 4, "replicas": 2})
        self.assertIn(status, (200, 201), body)
        acked = {}

        def put(items):
            deadline = time.monotonic() + 30 * SLOW
            while c.request("POST", "/v1/indexes/mv/vectors",
                            {"items": [{"id": i, "vector": v} for i, v in items]})[0] != 200:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.2)
            acked.update(items)

        put(vectors(200, 8, 1))
        c.wait(in_sync("mv", 4, 2), "mv in sync")
        hosted = lambda m, n: {s["shard"] for s in m["shards"] if s["index"] == "mv"  # noqa: E731
                               for r in s["replicas"] if r["node"] == n}
        m = c.map()
        victim = max(c.vectords, key=lambda n: len(hosted(m, n)))
        c.vectords[victim].kill()
        c.wait(lambda m: not hosted(m, victim) and in_sync("mv", 4, 2)(m),
               "mv re-replicated without " + victim, timeout=60 * SLOW)
        put([("later-%03d" % k, v) for k, (_, v) in enumerate(vectors(100, 8, 2))])
        c.start_vectord(victim)  # within its old registration's lease
        c.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3 and
               in_sync("mv", 4, 2)(m), "mv in sync with every node up", timeout=60 * SLOW)

        # Settled (no move under way): each node's files are those of the
        # shards it hosts.
        deadline = time.monotonic() + 60 * SLOW
        while True:
            m = c.map()
            held = {n: shard_dirs(c.vectord_dir(n), "mv") for n in c.vectords}
            want = {n: hosted(m, n) for n in c.vectords}
            settled = in_sync("mv", 4, 2)(m) and all(
                len(s["replicas"]) == 2 for s in m["shards"] if s["index"] == "mv")
            if held == want and settled:
                break
            self.assertLess(time.monotonic(), deadline, "files %s, hosted %s" % (held, want))
            time.sleep(0.5)
        logs = "".join(c.vectords[n].read_log() for n in c.vectords)
        self.assertIn("which moved to other nodes", logs)
        self.assertEqual(sum(len(x) for x in held.values()), 8)
        for i, v in sorted(acked.items()):
            status, body = c.request("GET", "/v1/indexes/mv/vectors/" + i)
            self.assertEqual(status, 200, (i, body))


if __name__ == "__main__":
    unittest.main()


class PlannedMoveTest(unittest.TestCase):
    """A node that joins takes the replicas the balanced placement gives it, and
    with them primaries: a planned move (the new node serves the shard as a
    replica first, then the old primary is fenced and a desired replica
    promoted). Writes through the gateway meanwhile all succeed: the gateway
    retries a write that meets a primary on its way out, after a backoff, until
    the new one serves."""

    def test_writes_through_planned_primary_moves_all_succeed(self):
        run_printing_logs(Cluster(vectords=2, gateways=1, replica_logs=True), self.run_scenario)

    def run_scenario(self, c):
        def upsert(items):
            return c.request("POST", "/v1/indexes/pm/vectors",
                             {"items": [{"id": i, "vector": v} for i, v in items]},
                             timeout=20 * SLOW)

        def settled(m):
            """Every shard on exactly 2 replicas, both ready and in sync, one primary."""
            mine = [s for s in m["shards"] if s["index"] == "pm"]
            return len(mine) == 8 and all(
                s["primary"] and len(s["replicas"]) == 2
                and all(r["state"] == "ready" and r["in_sync"] for r in s["replicas"])
                for s in mine)

        status, body = c.request("POST", "/v1/indexes",
                                 {"name": "pm", "dimension": 8, "shards": 8, "replicas": 2,
                                  "distance": "euclidean"})
        self.assertIn(status, (200, 201), body)
        acked = dict(vectors(100, 8, 11))
        status, body = upsert(list(acked.items()))
        self.assertEqual(status, 200, body)
        before = c.wait(settled, "every shard on both nodes")

        writers = Writers(upsert, "pm")
        try:
            time.sleep(0.5)
            c.start_vectord("vectord-3")
            # Moves add the new replica before the old one goes: a shard on two
            # nodes again, one of them vectord-3, is done moving.
            after = c.wait(lambda m: settled(m) and any(
                r["node"] == "vectord-3" for s in m["shards"] if s["index"] == "pm"
                for r in s["replicas"]), "the shards spread over three nodes", timeout=60 * SLOW)
            time.sleep(1)
        finally:
            writers.stop()
        acked.update(writers.acked)
        failures = writers.failures
        moved = sum(1 for s in before["shards"] if s["index"] == "pm"
                    for a in after["shards"] if a["index"] == "pm" and a["shard"] == s["shard"]
                    and a["primary"] != s["primary"])
        print("\nplanned moves: %d primaries moved; %d writes acknowledged, %d failed"
              % (moved, len(acked), len(failures)))
        self.assertGreater(moved, 0)
        if SLOW == 1:
            self.assertEqual(failures, [], "writes failed through planned primary moves")
        else:
            # A sanitizer's move can outlast the gateway's 3 s of retries: then
            # a write may fail, but only as unavailable.
            self.assertTrue(all(isinstance(f, tuple) and f[0] == 503 for f in failures),
                            failures[:5])
        for i, v in sorted(acked.items()):
            status, body = c.request("GET", "/v1/indexes/pm/vectors/" + i)
            self.assertEqual(status, 200, (i, body))
