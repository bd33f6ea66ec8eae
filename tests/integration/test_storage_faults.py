"""A full disk under a running Quiver: writes are refused with 507 and resume by
themselves once the disk takes them again, reads are served all along (also after
a restart on the full disk), and nothing acknowledged is lost.

The data dir is a 24 MiB tmpfs the test mounts (root only; skipped otherwise). A
read-only file system and a quota (EROFS, EDQUOT) take the same path; the storage
engine's unit tests inject those (a tmpfs cannot be remounted read-only while the
server holds its logs open for writing).
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import QuiverServer  # noqa: E402

DIM = 768
BATCH = 50
MAX_BATCHES = 400  # the disk fills after ~130 batches (about 155 KB of log each)


def vector(i):
    rng = random.Random(i)  # one distinct vector per id
    return [rng.random() + 0.001 for _ in range(DIM)]


class FullDiskTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("mounting a tmpfs needs root")
        cls.mnt = tempfile.mkdtemp(prefix="quiver-disk-")
        cls.logs = tempfile.mkdtemp(prefix="quiver-disk-logs-")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", cls.mnt]).returncode:
            raise unittest.SkipTest("cannot mount a tmpfs here")

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["umount", "-l", cls.mnt])
        shutil.rmtree(cls.mnt, ignore_errors=True)
        shutil.rmtree(cls.logs, ignore_errors=True)

    def upsert(self, srv, first, n=BATCH):
        items = [{"id": "v%d" % i, "vector": vector(i), "metadata": {"i": i}} for i in range(first, first + n)]
        return srv.request("POST", "/v1/indexes/disk/vectors", {"items": items})

    def await_writes(self, srv, first, seconds=15):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            st, _, body = self.upsert(srv, first, 1)
            if st == 200:
                return
            self.assertEqual(st, 507, body)
            time.sleep(0.2)
        self.fail("writes did not resume within %d s" % seconds)

    def await_ready(self, srv, seconds=120):  # a sanitizer build replays slowly
        deadline = time.monotonic() + seconds
        while srv.request("GET", "/readyz")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "not ready within %d s" % seconds)
            time.sleep(0.1)

    def check_reads(self, srv, acked):
        st, _, d = srv.request("GET", "/v1/indexes/disk")
        self.assertEqual((st, d["status"], d["count"]), (200, "ready", len(acked)), d)
        for i in sorted(acked)[:: max(1, len(acked) // 25)]:
            st, _, v = srv.request("GET", "/v1/indexes/disk/vectors/v%d" % i)
            self.assertEqual((st, v["metadata"]), (200, {"i": i}), v)
        st, _, hits = srv.request("POST", "/v1/indexes/disk/search",
                                  {"vector": vector(3), "k": 10, "ef": 400})
        self.assertEqual(st, 200, hits)
        self.assertIn("v3", [h["id"] for h in hits["results"]])

    def test_full_disk(self):
        balloon = os.path.join(self.mnt, "balloon")
        with open(balloon, "wb") as f:
            f.write(b"\0" * (4 << 20))
        data = os.path.join(self.mnt, "data")
        # Snapshots by replay cost off: a sanitizer build replays slowly, so one
        # would follow the restart below and, by truncating the log, free the
        # space this test keeps the disk out of.
        srv = QuiverServer("--snapshot-replay-budget-ms", "0", data_dir=data,
                           log_dir=self.logs)
        try:
            st, _, body = srv.request("POST", "/v1/indexes", {"name": "disk", "dimension": DIM,
                                                          "m": 8, "ef_construction": 40})
            self.assertEqual(st, 201, body)
            acked, refused = set(), None
            for b in range(MAX_BATCHES):
                st, _, body = self.upsert(srv, b * BATCH)
                if st != 200:
                    refused = (st, body)
                    break
                acked.update(range(b * BATCH, (b + 1) * BATCH))
            self.assertIsNotNone(refused, "the disk never filled")
            st, body = refused
            self.assertEqual(st, 507, body)
            err = body["error"]
            self.assertEqual(err["code"], "insufficient_storage")
            self.assertTrue(err["details"]["path"].startswith(data), err)
            self.assertIsInstance(err["details"]["free_bytes"], int)
            self.assertGreater(len(acked), 1000)
            # Reads go on; writes keep being refused, at once and changing nothing.
            self.check_reads(srv, acked)
            self.assertEqual(self.upsert(srv, 10**6)[0], 507)
            self.check_reads(srv, acked)

            # A restart on the still-full disk serves reads.
            srv.kill()
            srv.restart()
            self.await_ready(srv)
            self.check_reads(srv, acked)
            self.assertEqual(self.upsert(srv, 10**6)[0], 507)

            # Space again: writes resume by themselves, nothing torn or quarantined.
            os.remove(balloon)
            self.await_writes(srv, 10**6)
            acked.add(10**6)
            st, _, body = self.upsert(srv, 2 * 10**6)
            self.assertEqual(st, 200, body)
            acked.update(range(2 * 10**6, 2 * 10**6 + BATCH))
            self.check_reads(srv, acked)

        finally:
            code = srv.stop()
        self.assertEqual(code, 0, srv.read_log())
        # Everything acknowledged is there after a clean restart too.
        srv = QuiverServer(data_dir=data, log_dir=self.logs)
        try:
            self.await_ready(srv)
            self.check_reads(srv, acked)
            self.assertNotIn("quarantined", srv.read_log())
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
