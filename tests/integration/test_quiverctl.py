"""quiverctl against a real server: indexes, the import formats and their
checks, resuming an interrupted import, tenants and keys, exit codes, and
import-seed from files written by the seed's format (seed_format.py)."""
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import QuiverServer  # noqa: E402
import seed_format  # noqa: E402

CTL = os.environ.get("QUIVERCTL_BIN", "build/bin/quiverctl")
ADMIN_KEY = "ctl-admin-key-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ctl:
    """Runs quiverctl against one server, with its own checkpoint directory."""

    def __init__(self, port, state_dir, key=None):
        self.url = "http://127.0.0.1:%d" % port
        self.env = dict(os.environ, XDG_STATE_HOME=state_dir)
        self.env.pop("QUIVER_URL", None)
        self.env.pop("QUIVER_KEY", None)
        self.key = key

    def argv(self, *args):
        out = [CTL, *args, "--url", self.url]
        if self.key:
            out += ["--key", self.key]
        return out

    def __call__(self, *args, env=None):
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=300,
                           env=env or self.env)
        return p.returncode, p.stdout, p.stderr


def write_fvecs(path, rows, byte=False):
    with open(path, "wb") as f:
        for v in rows:
            f.write(struct.pack("<i", len(v)))
            f.write(bytes(v) if byte else struct.pack("<%df" % len(v), *v))


def write_npy(path, rows):
    cols = len(rows[0])
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), cols)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        for v in rows:
            f.write(struct.pack("<%df" % cols, *v))


def rand_rows(n, dim, seed):
    rng = random.Random(seed)
    return [[rng.uniform(-1, 1) for _ in range(dim)] for _ in range(n)]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


class CtlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = QuiverServer()
        cls.tmp = tempfile.TemporaryDirectory(prefix="quiverctl-")
        cls.ctl = Ctl(cls.srv.port, cls.tmp.name + "/state")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def describe(self, name):
        status, _, body = self.srv.request("GET", "/v1/indexes/" + name)
        return status, body

    def get(self, index, id_):
        status, _, body = self.srv.request("GET", "/v1/indexes/%s/vectors/%s" % (index, id_))
        self.assertEqual(status, 200, body)
        return body

    def assert_close(self, got, want):
        self.assertEqual(len(got), len(want))
        for g, w in zip(got, want):
            self.assertAlmostEqual(g, f32(w), delta=1e-5 * max(1.0, abs(w)))

    def test_help_and_usage_errors(self):
        rc, out, _ = self.ctl("--help")
        self.assertEqual(rc, 0)
        for word in ("indexes", "import", "import-seed", "search", "tenants", "cluster",
                     "exit codes"):
            self.assertIn(word, out)
        rc, out, _ = self.ctl("import", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("resumes", out)
        self.assertEqual(subprocess.run([CTL], capture_output=True).returncode, 2)
        rc, _, err = self.ctl("frobnicate")
        self.assertEqual(rc, 2)
        rc, _, err = self.ctl("indexes", "create", "x")
        self.assertEqual(rc, 2)
        self.assertIn("--dimension", err)
        rc, _, err = self.ctl("indexes", "list", "--bogus")
        self.assertEqual(rc, 2)
        self.assertIn("--bogus", err)
        rc, _, err = self.ctl("indexes", "list", "--output", "yaml")
        self.assertEqual(rc, 2)

    def test_index_lifecycle(self):
        rc, out, err = self.ctl("indexes", "create", "life", "--dimension", "8", "--distance",
                                "euclidean", "--ef-search", "32")
        self.assertEqual(rc, 0, err)
        self.assertIn("life", out)
        self.assertIn("euclidean", out)
        rc, out, _ = self.ctl("indexes", "create", "life", "--dimension", "8", "--distance",
                              "euclidean", "--ef-search", "32")
        self.assertEqual(rc, 0)  # the same parameters: nothing changes
        rc, _, err = self.ctl("indexes", "create", "life", "--dimension", "9")
        self.assertEqual(rc, 1)
        self.assertIn("index_exists", err)
        rc, out, _ = self.ctl("indexes", "describe", "life", "--output", "json")
        self.assertEqual(rc, 0)
        d = json.loads(out)
        self.assertEqual((d["dimension"], d["distance"], d["ef_search"]), (8, "euclidean", 32))
        rc, out, _ = self.ctl("indexes", "list", "--output", "json")
        self.assertIn("life", [i["name"] for i in json.loads(out)["indexes"]])
        rc, _, err = self.ctl("indexes", "drop", "life")
        self.assertEqual(rc, 2)
        self.assertIn("--yes", err)
        self.assertEqual(self.describe("life")[0], 200)
        rc, _, _ = self.ctl("indexes", "drop", "life", "--yes")
        self.assertEqual(rc, 0)
        self.assertEqual(self.describe("life")[0], 404)
        rc, _, err = self.ctl("indexes", "describe", "life")
        self.assertEqual(rc, 4)
        self.assertIn("index_not_found", err)

    def test_an_index_with_an_embedder_is_searched_by_text(self):
        rc, out, err = self.ctl("indexes", "create", "texts", "--dimension", "32", "--embedder",
                                "hash-v1", "--output", "json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["embedder"], "hash-v1")
        st, _, body = self.srv.request("POST", "/v1/indexes/texts/vectors", {"items": [
            {"id": "a", "text": "forklift operator chicago"},
            {"id": "b", "text": "registered nurse boston"}]})
        self.assertEqual(st, 200, body)
        rc, out, err = self.ctl("search", "texts", "--text", "nurse in boston", "--k", "1",
                                "--output", "json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["results"][0]["id"], "b")
        rc, _, err = self.ctl("search", "texts", "--text", "x", "--vector", "[1]")
        self.assertEqual(rc, 2, err)
        rc, _, err = self.ctl("indexes", "create", "bad", "--dimension", "32", "--embedder", "nope")
        self.assertEqual(rc, 1)
        self.assertIn("unknown embedder", err)

    def test_import_jsonl_then_search_and_get(self):
        rows = rand_rows(300, 12, 1)
        with open(self.path("a.jsonl"), "w") as f:
            for i, v in enumerate(rows):
                rec = {"id": "doc-%d" % i, "vector": v}
                if i % 3:
                    rec["metadata"] = {"n": i, "tag": "t%d" % (i % 5)}
                f.write(json.dumps(rec) + "\n")
                if i == 10:
                    f.write("\n")  # blank lines are skipped
        rc, out, err = self.ctl("import", self.path("a.jsonl"), "--index", "docs", "--create",
                                "--batch", "64", "--output", "json")
        self.assertEqual(rc, 0, err)
        summary = json.loads(out)
        self.assertEqual((summary["records"], summary["sent"], summary["count"]), (300, 300, 300))
        got = self.get("docs", "doc-4")
        self.assert_close(got["vector"], rows[4])
        self.assertEqual(got["metadata"], {"n": 4, "tag": "t4"})
        self.assertIsNone(self.get("docs", "doc-3")["metadata"])
        rc, out, err = self.ctl("search", "docs", "--like", "doc-7", "--k", "3", "--output", "json")
        self.assertEqual(rc, 0, err)
        hits = json.loads(out)["results"]
        self.assertEqual(hits[0]["id"], "doc-7")
        self.assertEqual(len(hits), 3)
        rc, out, _ = self.ctl("search", "docs", "--vector", json.dumps(rows[9]), "--k", "2",
                              "--exclude", "doc-9")
        self.assertEqual(rc, 0)
        self.assertNotIn("doc-9 ", out)
        rc, out, _ = self.ctl("get", "docs", "doc-5")
        self.assertEqual(rc, 0)
        self.assertIn('"tag":"t0"', out)
        rc, _, err = self.ctl("get", "docs", "nope")
        self.assertEqual(rc, 4)

    def test_bad_files_change_nothing(self):
        cases = {
            "dim.jsonl": ['{"id":"a","vector":[1,2,3]}', '{"id":"b","vector":[1,2]}'],
            "zero.jsonl": ['{"id":"a","vector":[1,2,3]}', '{"id":"b","vector":[0,0,0]}'],
            "meta.jsonl": ['{"id":"a","vector":[1,2,3],"metadata":[1]}'],
            "text.jsonl": ['{"id":"a","text":"hello","vector":[1,2,3]}'],
            "noid.jsonl": ['{"vector":[1,2,3]}'],
            "json.jsonl": ['{"id":"a","vector":[1,2,3]}', '{"id":"b","vector":[1,2,'],
            "field.jsonl": ['{"id":"a","vector":[1,2,3],"extra":1}'],
        }
        for name, lines in cases.items():
            with open(self.path(name), "w") as f:
                f.write("\n".join(lines) + "\n")
            rc, _, err = self.ctl("import", self.path(name), "--index", "bad-" + name[:-6],
                                  "--create")
            self.assertEqual(rc, 6, (name, err))
            self.assertIn("line", err)
            self.assertEqual(self.describe("bad-" + name[:-6])[0], 404, name)
        # A cut-short fvecs and a wrong-dimension file against an existing index.
        with open(self.path("cut.fvecs"), "wb") as f:
            f.write(struct.pack("<i4f", 4, 1, 2, 3, 4) + struct.pack("<i2f", 4, 1, 2))
        rc, _, err = self.ctl("import", self.path("cut.fvecs"), "--index", "cut", "--create")
        self.assertEqual(rc, 6, err)
        self.assertIn("cut short", err)
        self.srv.request("POST", "/v1/indexes", {"name": "five", "dimension": 5})
        write_fvecs(self.path("four.fvecs"), rand_rows(10, 4, 2))
        rc, _, err = self.ctl("import", self.path("four.fvecs"), "--index", "five")
        self.assertEqual(rc, 6)
        self.assertIn("dimension 4", err)
        self.assertEqual(self.describe("five")[1]["count"], 0)
        rc, _, err = self.ctl("import", self.path("four.fvecs"), "--index", "missing")
        self.assertEqual(rc, 4)
        self.assertIn("--create", err)

    def test_import_vector_formats(self):
        rows = rand_rows(120, 6, 3)
        write_fvecs(self.path("v.fvecs"), rows)
        with open(self.path("v.ids"), "w") as f:
            f.write("".join("fv-%d\n" % i for i in range(len(rows))))
        rc, _, err = self.ctl("import", self.path("v.fvecs"), "--index", "fv", "--create",
                              "--ids", self.path("v.ids"), "--batch", "50")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.describe("fv")[1]["count"], 120)
        self.assert_close(self.get("fv", "fv-77")["vector"], rows[77])

        brows = [[random.Random(i).randrange(1, 256) for _ in range(5)] for i in range(40)]
        write_fvecs(self.path("v.bvecs"), brows, byte=True)
        rc, _, err = self.ctl("import", self.path("v.bvecs"), "--index", "bv", "--create",
                              "--distance", "euclidean", "--id-prefix", "b")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.get("bv", "b39")["vector"], [float(x) for x in brows[39]])

        nrows = [[float(1000 + i)] + v for i, v in enumerate(rand_rows(30, 4, 4))]
        write_npy(self.path("v.npy"), nrows)
        rc, _, err = self.ctl("import", self.path("v.npy"), "--index", "np", "--create",
                              "--id-column", "0")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.describe("np")[1]["dimension"], 4)
        self.assert_close(self.get("np", "1029")["vector"], nrows[29][1:])
        rc, _, err = self.ctl("import", self.path("v.npy"), "--index", "np2", "--create")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.describe("np2")[1]["dimension"], 5)
        self.assertEqual(self.describe("np2")[1]["count"], 30)

    def test_interrupted_import_resumes(self):
        n, dim = 40000, 16
        write_fvecs(self.path("big.fvecs"), rand_rows(n, dim, 5))
        argv = self.ctl.argv("import", self.path("big.fvecs"), "--index", "big", "--create",
                             "--batch", "20", "--parallel", "1", "--output", "json")
        state = os.path.join(self.tmp.name, "state", "quiverctl")
        p = subprocess.Popen(argv, env=self.ctl.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        done = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None and done < 2000:
            for name in os.listdir(state) if os.path.isdir(state) else []:
                try:
                    with open(os.path.join(state, name)) as f:
                        parts = f.read().split()
                    done = int(parts[2]) if len(parts) == 4 else done
                except (OSError, ValueError):
                    pass
            time.sleep(0.005)
        self.assertIsNone(p.poll(), "the import ended before it could be interrupted")
        p.send_signal(signal.SIGKILL)
        p.communicate()
        with open(os.path.join(state, os.listdir(state)[0])) as f:
            checkpoint = int(f.read().split()[2])
        self.assertGreater(checkpoint, 0)
        self.assertLess(checkpoint, n)
        rc, out, err = self.ctl("import", self.path("big.fvecs"), "--index", "big", "--batch",
                                "500", "--output", "json")
        self.assertEqual(rc, 0, err)
        self.assertIn("resuming at record %d" % checkpoint, err)
        summary = json.loads(out)
        self.assertEqual(summary["sent"], n - checkpoint)
        self.assertEqual(summary["count"], n)
        self.assertEqual(os.listdir(state), [])  # a finished import leaves no checkpoint

    def test_backup_and_restore(self):
        write_fvecs(self.path("bk.fvecs"), rand_rows(500, 8, 9))
        rc, _, err = self.ctl("import", self.path("bk.fvecs"), "--index", "bk", "--create",
                              "--shards", "2", "--quiet")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.ctl("backup", "bk", self.path("bk.qvbackup"), "--output", "json")
        self.assertEqual(rc, 0, err)
        size = os.path.getsize(self.path("bk.qvbackup"))
        self.assertEqual(json.loads(out)["bytes"], size)
        self.assertFalse(os.path.exists(self.path("bk.qvbackup.part")))
        rc, out, err = self.ctl("restore", self.path("bk.qvbackup"), "--index", "bk2",
                                "--shards", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("restored 500 vectors", out)
        self.assertEqual(self.describe("bk2")[1]["shards"], 1)
        self.assertEqual(self.get("bk2", "77")["vector"], self.get("bk", "77")["vector"])
        rc, _, err = self.ctl("restore", self.path("bk.qvbackup"), "--index", "bk2")
        self.assertEqual(rc, 1)
        self.assertIn("index_exists", err)
        with open(self.path("bk.qvbackup"), "r+b") as f:
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 1]))
        rc, _, err = self.ctl("restore", self.path("bk.qvbackup"), "--index", "bk3")
        self.assertEqual(rc, 1)
        self.assertIn("checksum", err)
        self.assertEqual(self.describe("bk3")[0], 404)
        rc, _, err = self.ctl("backup", "missing", self.path("missing.qvbackup"))
        self.assertEqual(rc, 4)
        self.assertFalse(os.path.exists(self.path("missing.qvbackup")))
        rc, _, err = self.ctl("restore", self.path("nothing-here"), "--index", "x")
        self.assertEqual(rc, 6)

    def test_unreachable_server(self):
        ctl = Ctl(free_port(), self.tmp.name + "/state")
        rc, _, err = ctl("indexes", "list")
        self.assertEqual(rc, 3)
        self.assertIn("is the server running", err)
        p = subprocess.run([CTL, "indexes", "list", "--url", "https://127.0.0.1:1"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("plain HTTP", p.stderr)

    def test_import_seed_v2(self):
        rng = random.Random(7)
        vectors = {"w%03d" % i: [rng.uniform(-1, 1) for _ in range(8)] for i in range(200)}
        raw = {}
        for i, k in enumerate(vectors):
            if i % 4 == 0:
                continue  # added without metadata: only the v2 id list names it
            name = ("Worker <%d> & co" if i % 8 == 2 else "Worker %d") % i
            raw[k] = seed_format.go_json({"name": name, "skills": ["a", "b"],
                                          "rate": i + 0.5, "active": i % 2 == 0})
        raw["w001"] = '{"nested":{"deep":[1,2.50,{"x":null}]},"unicode":"caf\\u00e9 \u2603"}'
        params = {"name": "workers", "dimension": 8, "m": 12, "ef_search": 40,
                  "distance": "cosine"}
        with open(self.path("seed.json"), "wb") as f:
            f.write(seed_format.envelope_bytes(2, params, raw, ids=list(vectors)))
        with open(self.path("seed.graph"), "wb") as f:
            f.write(seed_format.graph_bytes(vectors, m=12, ef_search=40))
        rc, out, err = self.ctl("import-seed", self.path("seed.json"), self.path("seed.graph"),
                                "--check", "200", "--output", "json")
        self.assertEqual(rc, 0, err)
        summary = json.loads(out)
        self.assertEqual((summary["records"], summary["count"], summary["checked"]),
                         (200, 200, 200))
        # Compact metadata without escapes or trailing zeros reads back byte for byte.
        self.assertGreater(summary["metadata_byte_exact"], 0)
        status, d = self.describe("workers")
        self.assertEqual((d["m"], d["ef_search"], d["distance"]), (12, 40, "cosine"))
        self.assertIsNone(self.get("workers", "w004")["metadata"])
        self.assert_close(self.get("workers", "w004")["vector"], vectors["w004"])
        self.assertEqual(self.get("workers", "w001")["metadata"],
                         json.loads(raw["w001"]))
        self.assertEqual(self.get("workers", "w002")["metadata"]["name"], "Worker <2> & co")

    def test_import_seed_v1_and_damaged_files(self):
        rng = random.Random(8)
        vectors = {"e%d" % i: [rng.uniform(-1, 1) for _ in range(4)] for i in range(50)}
        raw = {k: seed_format.go_json({"i": i}) for i, k in enumerate(vectors) if i % 5}
        raw["ghost"] = '{"i":-1}'  # metadata without a node: the seed never served it
        params = {"name": "old", "dimension": 4, "m": 16, "ef_search": 20,
                  "distance": "euclidean"}
        with open(self.path("v1.json"), "wb") as f:
            f.write(seed_format.envelope_bytes(1, params, raw))
        graph = seed_format.graph_bytes(vectors, distance="euclidean")
        with open(self.path("v1.graph"), "wb") as f:
            f.write(graph)
        with open(self.path("cut.graph"), "wb") as f:
            f.write(graph[: len(graph) // 2])
        rc, _, err = self.ctl("import-seed", self.path("v1.json"), self.path("cut.graph"),
                              "--index", "old-cut")
        self.assertEqual(rc, 6)
        self.assertIn("cut short", err)
        self.assertEqual(self.describe("old-cut")[0], 404)
        with open(self.path("v9.json"), "wb") as f:
            f.write(seed_format.envelope_bytes(9, params, {}))
        rc, _, err = self.ctl("import-seed", self.path("v9.json"), self.path("v1.graph"))
        self.assertEqual(rc, 6)
        self.assertIn("version 9", err)

        rc, out, err = self.ctl("import-seed", self.path("v1.json"), self.path("v1.graph"),
                                "--output", "json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["count"], 50)  # nodes without metadata came along
        self.assertIn("imported too", err)
        self.assertIn("left out the metadata of 1", err)
        self.assertEqual(self.describe("old")[1]["distance"], "euclidean")
        self.assertEqual(self.get("old", "e7")["metadata"], {"i": 7})
        self.assertIsNone(self.get("old", "e5")["metadata"])


class SeedFormatTest(unittest.TestCase):
    def test_writer_round_trips(self):
        rng = random.Random(3)
        vectors = {"n%d" % i: [rng.uniform(-2, 2) for _ in range(5)] for i in range(64)}
        data = seed_format.graph_bytes(vectors, m=6, ml=0.5, ef_search=33, distance="euclidean")
        params, layers = seed_format.read_graph(data)
        self.assertEqual(params, {"version": 1, "m": 6, "ml": 0.5, "ef_search": 33,
                                  "distance": "euclidean"})
        self.assertEqual(set(layers[0]), set(vectors))
        for k, (vec, neighbours) in layers[0].items():
            self.assertEqual(vec, [f32(x) for x in vectors[k]])
            self.assertLessEqual(len(neighbours), 6)
            self.assertTrue(set(neighbours) <= set(vectors))
        for layer in layers[1:]:
            self.assertTrue(set(layer) <= set(layers[0]))
        for v in (0, 1, -1, 63, -64, 300, -300, 2 ** 40):
            buf = seed_format.io.BytesIO()
            seed_format.put_varint(buf, v)
            buf.seek(0)
            self.assertEqual(seed_format.get_varint(buf), v)
        env = seed_format.envelope_bytes(2, {"name": "x", "dimension": 5}, {"b": '{"k":1}',
                                                                          "a": None}, ids=["a", "b"])
        self.assertEqual(env, b'{"version":2,"params":{"name":"x","dimension":5},'
                              b'"metadata":{"a":null,"b":{"k":1}},"ids":["a","b"]}\n')


class CtlAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fd, cls.config = tempfile.mkstemp(prefix="quiverctl-auth-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write('[auth]\nadmin_key = "%s"\n' % ADMIN_KEY)
        cls.srv = QuiverServer("--config", cls.config)
        cls.tmp = tempfile.TemporaryDirectory(prefix="quiverctl-auth-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.tmp.cleanup()
        os.unlink(cls.config)

    def test_keys_tenants_and_exit_codes(self):
        anon = Ctl(self.srv.port, self.tmp.name)
        rc, _, err = anon("indexes", "list")
        self.assertEqual(rc, 5)
        self.assertIn("--key", err)
        admin = Ctl(self.srv.port, self.tmp.name, ADMIN_KEY)
        rc, out, err = admin("tenants", "create", "acme", "--max-indexes", "2")
        self.assertEqual(rc, 0, err)
        key = out.strip()
        self.assertGreaterEqual(len(key), 16)
        self.assertIn("shown only now", err)
        rc, out, _ = admin("tenants", "get", "acme", "--output", "json")
        self.assertEqual(json.loads(out)["quotas"]["max_indexes"], 2)
        rc, _, err = admin("indexes", "list")
        self.assertEqual(rc, 5)  # the admin key is not a tenant's
        env = dict(anon.env, QUIVER_KEY=key, QUIVER_URL=anon.url)
        p = subprocess.run([CTL, "indexes", "create", "t1", "--dimension", "3"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        tenant = Ctl(self.srv.port, self.tmp.name, key)
        for name in ("t2", "t3"):
            rc, _, err = tenant("indexes", "create", name, "--dimension", "3")
        self.assertEqual(rc, 1)
        self.assertIn("quota_exceeded", err)
        rc, out, _ = admin("tenants", "list")
        self.assertEqual(rc, 0)
        self.assertIn("acme", out)
        rc, out, _ = admin("tenants", "rotate-key", "acme")
        self.assertEqual(rc, 0)
        rc, _, _ = tenant("indexes", "list")
        self.assertEqual(rc, 5)  # the old key stopped working
        rc, out, err = admin("cluster", "status", "--output", "json")
        self.assertEqual(rc, 0, err)
        self.assertIn("mode", json.loads(out))
        rc, _, _ = admin("tenants", "drop", "acme", "--yes")
        self.assertEqual(rc, 0)
        rc, _, _ = admin("tenants", "get", "acme")
        self.assertEqual(rc, 4)


if __name__ == "__main__":
    unittest.main()
