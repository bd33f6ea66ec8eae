"""The Python client against a real standalone Quiver (QUIVER_BIN), once with JSON
bodies and once with MessagePack `bin` vectors. Run with the interpreter the
package was installed into (see clients/python/tests/run)."""
import os
import random
import sys
import tempfile
import time
import unittest

import quiver_client
from quiver_client import Hit, Quiver, QuiverError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))
from quiver_server import QuiverServer  # noqa: E402

ADMIN_KEY = "py-client-admin-key-0123456789"


def config_file(text):
    fd, path = tempfile.mkstemp(prefix="quiver-py-", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class ClientTest(unittest.TestCase):
    use_msgpack = False

    @classmethod
    def setUpClass(cls):
        # Idle connections close after 1 s, so the reconnect path is exercised.
        cls.config = config_file("[server]\nidle_timeout_s = 1\n")
        cls.srv = QuiverServer("--config", cls.config)
        cls.q = Quiver("http://127.0.0.1:%d" % cls.srv.port, use_msgpack=cls.use_msgpack)

    @classmethod
    def tearDownClass(cls):
        cls.q.close()
        assert cls.srv.stop() == 0, cls.srv.read_log()
        os.unlink(cls.config)

    def name(self, base):
        return "%s-%s" % (base, "mp" if self.use_msgpack else "js")

    def test_the_package_installed_is_the_one_tested(self):
        self.assertNotIn(os.path.join("clients", "python", "quiver_client"),
                         os.path.abspath(quiver_client.__file__))
        self.assertEqual(self.q.use_msgpack, self.use_msgpack)

    def test_index_lifecycle(self):
        name = self.name("life")
        desc = self.q.create_index(name, 4, distance="euclidean", m=8, ef_search=32)
        self.assertEqual((desc["dimension"], desc["distance"], desc["m"]), (4, "euclidean", 8))
        self.assertEqual(self.q.create_index(name, 4, distance="euclidean", m=8, ef_search=32)["name"],
                         name)
        with self.assertRaises(QuiverError) as e:
            self.q.create_index(name, 5)
        self.assertEqual((e.exception.status, e.exception.code), (409, "index_exists"))
        self.assertIn(name, [i["name"] for i in self.q.list_indexes()])
        self.assertEqual(self.q.describe_index(name)["count"], 0)
        self.assertTrue(self.q.drop_index(name))
        with self.assertRaises(QuiverError) as e:
            self.q.describe_index(name)
        self.assertEqual((e.exception.status, e.exception.code), (404, "index_not_found"))

    def test_vectors_metadata_and_errors(self):
        name = self.name("vec")
        self.q.create_index(name, 3)
        self.q.upsert(name, "a/b c", [1, 2, 3], {"city": "Austin"})
        got = self.q.get(name, "a/b c")
        self.assertEqual(got["metadata"], {"city": "Austin"})
        self.assertEqual([round(x, 4) for x in got["vector"]], [1.0, 2.0, 3.0])
        # Metadata omitted keeps what is stored; {} clears it.
        self.q.upsert(name, "a/b c", [3, 2, 1])
        self.assertEqual(self.q.get(name, "a/b c")["metadata"], {"city": "Austin"})
        self.q.upsert(name, "a/b c", [3, 2, 1], {})
        self.assertEqual(self.q.get(name, "a/b c")["metadata"], {})
        self.q.upsert(name, "bare", [1, 1, 1], None)
        self.assertIsNone(self.q.get(name, "bare")["metadata"])
        self.assertIsNone(self.q.get(name, "missing"))
        with self.assertRaises(QuiverError) as e:
            self.q.upsert(name, "x", [1, 2])
        self.assertEqual((e.exception.status, e.exception.code), (400, "dimension_mismatch"))
        self.assertEqual(e.exception.details["expected"], 3)
        with self.assertRaises(QuiverError) as e:
            self.q.upsert(name, "x", [0, 0, 0])
        self.assertEqual(e.exception.code, "zero_vector")
        self.assertIsNone(self.q.get(name, "x"))
        self.assertTrue(self.q.delete(name, "bare"))
        self.assertFalse(self.q.delete(name, "bare"))

    def test_batches_paging_search_filters_and_deletes(self):
        name = self.name("batch")
        self.q.create_index(name, 8)
        rng = random.Random(7)
        vectors = {"v%04d" % i: [rng.uniform(-1, 1) for _ in range(8)] for i in range(2500)}
        items = [("v%04d" % i, vectors["v%04d" % i], {"n": i, "even": i % 2 == 0})
                 if i % 5 else {"id": "v%04d" % i, "vector": vectors["v%04d" % i]}
                 for i in range(2500)]
        self.assertEqual(self.q.upsert_batch(name, items, batch_size=1000), 2500)
        self.assertEqual(self.q.count(name), 2500)
        ids = list(self.q.ids(name, page_size=700))
        self.assertEqual(sorted(ids), sorted(vectors))
        # Ids stored without metadata count too, and filters see only those with it.
        self.assertEqual(self.q.count(name, {"must": [{"key": "even", "match": True}]}),
                         sum(1 for i in range(2500) if i % 5 and i % 2 == 0))

        hits = self.q.search(name, vectors["v0042"], k=5, include_vectors=True)
        self.assertIsInstance(hits[0], Hit)
        self.assertEqual(hits[0].id, "v0042")
        self.assertLess(hits[0].distance, 1e-4)
        self.assertEqual(len(hits[0].vector), 8)
        self.assertEqual([h.distance for h in hits], sorted(h.distance for h in hits))
        hits = self.q.search(name, vectors["v0042"], k=5, exclude_ids=["v0042"],
                             filter={"must": [{"key": "even", "match": True}]})
        self.assertEqual(len(hits), 5)
        self.assertTrue(all(h.id != "v0042" and h.metadata["even"] for h in hits))
        batch = self.q.search_batch(name, [vectors["v0007"], vectors["v1234"]], k=3, ef=64)
        self.assertEqual([b[0].id for b in batch], ["v0007", "v1234"])

        self.assertEqual(self.q.delete_many(name, ids=["v0001", "v0002", "nope"]), 2)
        self.assertEqual(self.q.delete_many(name, filter={"must": [{"key": "n", "range": {"lt": 10}}]}),
                         sum(1 for i in range(3, 10) if i % 5))
        with self.assertRaises(ValueError):
            self.q.delete_many(name)
        self.assertEqual(self.q.count(name), 2500 - 2 - sum(1 for i in range(3, 10) if i % 5))

    def test_text_with_an_embedder(self):
        name = self.name("text")
        desc = self.q.create_index(name, 64, embedder="hash-v1")
        self.assertEqual(desc["embedder"], "hash-v1")
        self.q.upsert(name, "n1", text="registered nurse boston hospital", metadata={"k": 1})
        self.assertEqual(self.q.upsert_batch(name, [
            {"id": "f1", "text": "forklift operator chicago warehouse"},
            {"id": "c1", "text": "line cook restaurant", "metadata": {"k": 2}},
            ("v1", self.q.embed(["python developer remote"], dimension=64)[0])]), 3)
        self.assertEqual(self.q.search(name, "nurse in boston", k=1)[0].id, "n1")
        batch = self.q.search_batch(name, ["forklift chicago",
                                           self.q.embed(["line cook"], dimension=64)[0]], k=1)
        self.assertEqual([b[0].id for b in batch], ["f1", "c1"])
        # The stored vector is the text's embedding.
        stored = self.q.get(name, "f1")["vector"]
        made = self.q.embed(["forklift operator chicago warehouse"], "hash-v1", 64)[0]
        self.assertEqual([round(x, 4) for x in stored], [round(x, 4) for x in made])
        with self.assertRaises(ValueError):
            self.q.upsert(name, "x", [0.1] * 64, text="both")
        with self.assertRaises(ValueError):
            self.q.upsert(name, "x")
        plain = self.name("plain")
        self.q.create_index(plain, 4)
        with self.assertRaises(QuiverError) as e:
            self.q.search(plain, "no embedder here")
        self.assertEqual((e.exception.status, e.exception.code), (400, "invalid_argument"))

    def test_payload_indexes(self):
        name = self.name("fields")
        self.q.create_index(name, 2)
        self.assertEqual(self.q.create_field_index(name, "city", "keyword")["type"], "keyword")
        self.assertEqual([f["name"] for f in self.q.list_field_indexes(name)], ["city"])
        self.assertTrue(self.q.drop_field_index(name, "city"))
        self.assertEqual(self.q.list_field_indexes(name), [])

    def test_a_connection_the_server_closed_is_reopened(self):
        self.assertEqual(self.q.health()["status"], "ok")
        time.sleep(1.5)  # past idle_timeout_s: the server has closed the connection
        self.assertEqual(self.q.health()["status"], "ok")
        self.assertTrue(self.q.ready())
        self.assertEqual(self.q.cluster()["mode"], "single-node")

    def test_bad_urls_are_refused(self):
        for url in ("127.0.0.1:4210", "ftp://x", "http://"):
            with self.assertRaises(ValueError):
                Quiver(url)
        down = Quiver("http://127.0.0.1:1", retries=1)
        with self.assertRaises(QuiverError) as e:
            down.health()
        self.assertEqual((e.exception.status, e.exception.code), (0, "connection"))


class MsgpackClientTest(ClientTest):
    use_msgpack = True


class AdminAndRetryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.config = config_file('[auth]\nadmin_key = "%s"\n' % ADMIN_KEY)
        cls.srv = QuiverServer("--config", cls.config)
        cls.url = "http://127.0.0.1:%d" % cls.srv.port
        cls.admin = Quiver(cls.url, api_key=ADMIN_KEY)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        assert cls.srv.stop() == 0, cls.srv.read_log()
        os.unlink(cls.config)

    def test_tenants_keys_and_rate_limits(self):
        made = self.admin.create_tenant("acme", {"max_requests_per_s": 2})
        self.assertEqual(made["name"], "acme")
        self.assertIn("acme", [t["name"] for t in self.admin.list_tenants()])
        self.assertEqual(self.admin.get_tenant("acme")["quotas"]["max_requests_per_s"], 2)

        # Without retries a burst meets 429 with Retry-After; with them, every
        # request gets through by waiting as told.
        impatient = Quiver(self.url, api_key=made["api_key"], retries=0)
        with self.assertRaises(QuiverError) as e:
            for _ in range(10):
                impatient.list_indexes()
        self.assertEqual((e.exception.status, e.exception.code), (429, "rate_limited"))
        self.assertIsNotNone(e.exception.retry_after)
        patient = Quiver(self.url, api_key=made["api_key"], retries=5)
        start = time.monotonic()
        for _ in range(6):
            self.assertEqual(patient.list_indexes(), [])
        self.assertGreater(time.monotonic() - start, 1.0)  # the rate held

        new_key = self.admin.rotate_key("acme")
        with self.assertRaises(QuiverError) as e:
            Quiver(self.url, api_key=made["api_key"]).list_indexes()
        self.assertEqual((e.exception.status, e.exception.code), (401, "unauthenticated"))
        time.sleep(1.1)
        self.assertEqual(Quiver(self.url, api_key=new_key).list_indexes(), [])
        self.assertTrue(self.admin.drop_tenant("acme"))
        with self.assertRaises(QuiverError) as e:
            self.admin.get_tenant("acme")
        self.assertEqual(e.exception.status, 404)


if __name__ == "__main__":
    unittest.main()
