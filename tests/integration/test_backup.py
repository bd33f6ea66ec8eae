"""Backup and restore (API.md "Backup and restore"): a consistent backup while
writes go on, a restore that rebuilds the index under another name and shard
count, damaged and foreign files refused with nothing created, quotas, and the
scratch directory left clean. Against real daemons (standalone or three-process)."""
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import QuiverServer  # noqa: E402

ADMIN_KEY = "backup-admin-key-0123456789"


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def scratch_config(scratch, extra=""):
    fd, path = tempfile.mkstemp(prefix="quiver-backup-", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write('[server]\nscratch_dir = "%s"\n%s' % (scratch, extra))
    return path


class BackupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="quiver-backup-")
        cls.scratch = os.path.join(cls.tmp, "scratch")
        os.makedirs(cls.scratch)
        cls.config = scratch_config(cls.scratch)
        cls.srv = QuiverServer("--config", cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        os.unlink(cls.config)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def req(self, method, path, body=None, headers=None):
        return self.srv.request(method, path, body, headers=headers)

    def backup(self, name):
        st, resp, data = self.req("GET", "/v1/indexes/%s/snapshot" % name)
        self.assertEqual(st, 200, data)
        self.assertEqual(resp.getheader("Content-Type"), "application/octet-stream")
        self.assertIn('filename="%s.qvbackup"' % name, resp.getheader("Content-Disposition"))
        return data

    def restore(self, name, data, query=""):
        return self.req("POST", "/v1/indexes/%s/restore%s" % (name, query), data,
                        headers={"Content-Type": "application/octet-stream"})

    def all_records(self, name):
        out, cursor = {}, None
        while True:
            path = "/v1/indexes/%s/ids?limit=500" % name + ("&cursor=" + cursor if cursor else "")
            st, _, page = self.req("GET", path)
            self.assertEqual(st, 200, page)
            for i in page["ids"]:
                st, _, rec = self.req("GET", "/v1/indexes/%s/vectors/%s" % (name, i))
                self.assertEqual(st, 200, rec)
                out[i] = rec
            cursor = page["next_cursor"]
            if not cursor:
                return out

    def fill(self, name, n, dim=8, shards=3, distance="cosine", seed=1):
        st, _, body = self.req("POST", "/v1/indexes", {"name": name, "dimension": dim,
                                                       "shards": shards, "distance": distance})
        self.assertEqual(st, 201, body)
        rng = random.Random(seed)
        items = []
        for i in range(n):
            item = {"id": "%s-%d" % (name, i), "vector": [rng.uniform(-1, 1) for _ in range(dim)]}
            if i % 4:
                item["metadata"] = {"i": i, "city": ["Austin", "Boston", "Chicago"][i % 3],
                                    "note": "caf\u00e9 <%d>" % i}
            items.append(item)
        for start in range(0, n, 250):
            st, _, body = self.req("POST", "/v1/indexes/%s/vectors" % name,
                                   {"items": items[start:start + 250]})
            self.assertEqual(st, 200, body)
        return items

    def assert_scratch_clean(self):
        deadline = time.monotonic() + 5
        while os.listdir(self.scratch) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(os.listdir(self.scratch), [])

    def test_round_trip_into_another_name_and_shard_count(self):
        items = self.fill("src", 700)
        st, _, body = self.req("PUT", "/v1/indexes/src/fields/city", {"type": "keyword"})
        self.assertEqual(st, 200, body)
        self.req("DELETE", "/v1/indexes/src/vectors/src-5")
        data = self.backup("src")
        self.assertEqual(data[:8], b"QVBACKUP")
        st, _, body = self.restore("copy", data, "?shards=2")
        self.assertEqual(st, 201, body)
        self.assertEqual((body["name"], body["restored"], body["shards"]), ("copy", 699, 2))
        self.assertEqual(body["source"]["index"], "src")
        self.assertEqual(len(body["source"]["seqs"]), 3)
        st, _, d = self.req("GET", "/v1/indexes/copy")
        self.assertEqual((d["count"], d["shards"], d["dimension"], d["distance"]),
                         (699, 2, 8, "cosine"))
        st, _, fields = self.req("GET", "/v1/indexes/copy/fields")
        self.assertEqual(fields["fields"], [{"name": "city", "type": "keyword", "complete": True}])
        want = self.all_records("src")
        got = self.all_records("copy")
        self.assertEqual(set(got), set(want))
        self.assertNotIn("src-5", got)
        for i, rec in got.items():
            self.assertEqual(rec["metadata"], want[i]["metadata"], i)
            for a, b in zip(rec["vector"], want[i]["vector"]):
                self.assertAlmostEqual(a, b, delta=1e-5)
        # The same answers to a filtered search.
        q = {"vector": items[7]["vector"], "k": 5, "filter": {"must": [{"key": "city", "match": "Boston"}]}}
        a = [h["id"] for h in self.req("POST", "/v1/indexes/src/search", q)[2]["results"]]
        b = [h["id"] for h in self.req("POST", "/v1/indexes/copy/search", q)[2]["results"]]
        self.assertEqual(a, b)
        self.assert_scratch_clean()

    def test_backup_is_consistent_while_writes_go_on(self):
        # One shard, one sequential writer: the backup must hold exactly a prefix of
        # the writes, at least every write acknowledged before the backup was asked.
        st, _, body = self.req("POST", "/v1/indexes", {"name": "live", "dimension": 4})
        self.assertEqual(st, 201, body)
        acked = []
        stop = threading.Event()

        def writer():
            conn = self.srv.connection()
            i = 0
            while not stop.is_set() and i < 20000:
                st, _, body = self.srv.request(
                    "PUT", "/v1/indexes/live/vectors/w%06d" % i,
                    {"vector": [1.0, float(i % 97) + 1, 0.5, float(i)]}, conn=conn)
                if st != 200:
                    raise AssertionError(body)
                acked.append(i)
                i += 1
            conn.close()

        t = threading.Thread(target=writer)
        t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        before = len(acked)
        data = self.backup("live")
        after = len(acked)
        stop.set()
        t.join()
        st, _, body = self.restore("live-copy", data)
        self.assertEqual(st, 201, body)
        got = sorted(self.all_records("live-copy"))
        n = len(got)
        self.assertEqual(got, ["w%06d" % i for i in range(n)])  # a prefix, no gap
        self.assertGreaterEqual(n, before)
        self.assertLessEqual(n, after + 1)  # +1: a write in flight when the snapshot was taken
        st, _, rec = self.req("GET", "/v1/indexes/live-copy/vectors/w%06d" % (n - 1))
        self.assertAlmostEqual(rec["vector"][3], float(n - 1), delta=1e-3 * n)

    def test_damaged_and_foreign_files_change_nothing(self):
        self.fill("dmg", 300, shards=2)
        good = self.backup("dmg")
        flipped = bytearray(good)
        flipped[len(good) // 3] ^= 0x10
        cases = {
            "flipped": (bytes(flipped), "checksum"),
            "cut": (good[: len(good) - 100], "not a usable Quiver backup"),
            "empty": (b"", "too short"),
            "foreign": (b"PK\x03\x04" + os.urandom(4000), "magic"),
            "newer": (good[:8] + struct.pack("<I", 2) + good[12:], "format version 2"),
        }
        for name, (data, reason) in cases.items():
            st, _, body = self.restore("bad-" + name, data)
            self.assertEqual(st, 400, (name, body))
            self.assertEqual(body["error"]["code"], "invalid_argument", name)
            self.assertIn(reason, body["error"]["message"], name)
            self.assertEqual(self.req("GET", "/v1/indexes/bad-" + name)[0], 404, name)
        st, _, body = self.req("POST", "/v1/indexes/bad-type/restore", {"x": 1})
        self.assertEqual(st, 415, body)
        # The name must be free; the overrides are checked.
        st, _, body = self.restore("dmg", good)
        self.assertEqual((st, body["error"]["code"]), (409, "index_exists"))
        for query in ("?shards=0", "?replicas=x", "?bogus=1", "?replicas=2"):
            st, _, body = self.restore("bad-query", good, query)
            self.assertEqual(st, 400, (query, body))
            self.assertEqual(self.req("GET", "/v1/indexes/bad-query")[0], 404, query)
        st, _, body = self.req("GET", "/v1/indexes/nope/snapshot")
        self.assertEqual((st, body["error"]["code"]), (404, "index_not_found"))
        self.assert_scratch_clean()

    def test_empty_index_round_trips(self):
        st, _, body = self.req("POST", "/v1/indexes", {"name": "void", "dimension": 3,
                                                       "distance": "dot", "shards": 2})
        self.assertEqual(st, 201, body)
        st, _, body = self.restore("void-copy", self.backup("void"))
        self.assertEqual((st, body["restored"]), (201, 0), body)
        st, _, d = self.req("GET", "/v1/indexes/void-copy")
        self.assertEqual((d["count"], d["distance"], d["shards"]), (0, "dot", 2))


class BackupAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="quiver-backup-auth-")
        cls.config = scratch_config(cls.tmp, '[auth]\nadmin_key = "%s"\n' % ADMIN_KEY)
        cls.srv = QuiverServer("--config", cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        os.unlink(cls.config)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def as_key(self, key, method, path, body=None, ctype=None):
        headers = {"Authorization": "Bearer " + key}
        if ctype:
            headers["Content-Type"] = ctype
        return self.srv.request(method, path, body, headers=headers)

    def tenant(self, name, quotas=None):
        body = {"name": name}
        if quotas:
            body["quotas"] = quotas
        st, _, out = self.as_key(ADMIN_KEY, "POST", "/v1/admin/tenants", body)
        self.assertEqual(st, 201, out)
        return out["api_key"]

    def test_quota_and_keys(self):
        big = self.tenant("big")
        self.as_key(big, "POST", "/v1/indexes", {"name": "x", "dimension": 4})
        items = [{"id": "v%d" % i, "vector": [1, i + 1, 2, 3]} for i in range(300)]
        st, _, body = self.as_key(big, "POST", "/v1/indexes/x/vectors", {"items": items})
        self.assertEqual(st, 200, body)
        st, _, data = self.as_key(big, "GET", "/v1/indexes/x/snapshot")
        self.assertEqual(st, 200)
        # Another tenant restores it under its own key; over its quota, nothing stays.
        small = self.tenant("small", {"max_vectors": 100})
        st, _, body = self.as_key(small, "POST", "/v1/indexes/x/restore", data,
                                  "application/octet-stream")
        self.assertEqual((st, body["error"]["code"]), (429, "quota_exceeded"), body)
        self.assertIn("dropped", body["error"]["message"])
        st, _, _ = self.as_key(small, "GET", "/v1/indexes/x")
        self.assertEqual(st, 404)
        roomy = self.tenant("roomy", {"max_vectors": 1000})
        st, _, body = self.as_key(roomy, "POST", "/v1/indexes/x/restore", data,
                                  "application/octet-stream")
        self.assertEqual((st, body.get("restored")), (201, 300), body)
        # No key: refused before the body is read; a tenant sees only its own indexes.
        st, _, body = self.srv.request("POST", "/v1/indexes/y/restore", data,
                                       headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(st, 401, body)
        st, _, body = self.as_key(roomy, "GET", "/v1/indexes/nothing/snapshot")
        self.assertEqual(st, 404, body)
        st, _, body = self.as_key(ADMIN_KEY, "GET", "/v1/indexes/x/snapshot")
        self.assertEqual(st, 403, body)
        self.assertEqual(os.listdir(self.tmp), [])


if __name__ == "__main__":
    unittest.main()
