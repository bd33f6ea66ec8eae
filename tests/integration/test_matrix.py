"""Matrix search (API.md "Matrix search and playbooks") against real servers:
hits of several indexes merged by distance exactly as their own searches rank
them, a cache whose answers are byte-identical and retired by any applied write
(also one made through another gateway of a cluster), and playbooks whose
recorded fills reorder the next similar search."""
import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import QuiverServer  # noqa: E402

JOBS = {
    "w01": "forklift operator chicago night shift warehouse",
    "w02": "forklift driver warehouse chicago",
    "w03": "registered nurse boston hospital",
    "w04": "python developer remote backend",
    "w05": "warehouse picker chicago day shift",
    "w06": "forklift certified operator milwaukee",
    "w07": "truck driver cdl chicago",
    "w08": "line cook restaurant boston",
    "w09": "forklift operator chicago weekend",
    "w10": "night shift security guard chicago",
}
QUERY = "forklift operator chicago"


def raw(port, method, path, body=None, headers=None):
    """(status, raw body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def results_bytes(answer):
    """The bytes of "results" in an answer (it is rendered first)."""
    head, tail = b'{"results":', answer.rindex(b',"cached":')
    assert answer.startswith(head), answer
    return answer[len(head):tail]


class MatrixChecks:
    """Shared by the standalone and the cluster: `call(method, path, body, gw)`
    returns (status, parsed JSON) and `port(gw)` a gateway's port."""

    def embed(self, texts, dim):
        st, out = self.call("POST", "/v1/embed", {"texts": texts, "dimension": dim})
        self.assertEqual(st, 200, out)
        return out["vectors"]

    def load(self, index, dim, ids, shards=1, replicas=1, gw=0):
        st, out = self.call("POST", "/v1/indexes", {"name": index, "dimension": dim,
                                                    "shards": shards, "replicas": replicas,
                                                    "embedder": "hash-v1"}, gw)
        self.assertIn(st, (200, 201), out)
        vecs = self.embed([JOBS[i] for i in ids], dim)
        items = [{"id": i, "vector": v, "metadata": {"title": JOBS[i], "src": index}}
                 for i, v in zip(ids, vecs)]
        st, out = self.call("POST", "/v1/indexes/%s/vectors" % index, {"items": items}, gw)
        self.assertEqual(st, 200, out)

    def search(self, body, gw=0, status=200):
        st, out = self.call("POST", "/v1/matrix/search", body, gw)
        self.assertEqual(st, status, out)
        return out

    def own_searches(self, indexes, dims, text, k):
        """What each index's own search answers, merged in Python."""
        merged = []
        for index, dim in zip(indexes, dims):
            v = self.embed([text], dim)[0]
            st, out = self.call("POST", "/v1/indexes/%s/search" % index, {"vector": v, "k": k})
            self.assertEqual(st, 200, out)
            merged += [(r["distance"], indexes.index(index), r["id"], index)
                       for r in out["results"]]
        return [(idx, i, d) for d, _, i, idx in sorted(merged)[:k]]


class MatrixTest(MatrixChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = QuiverServer()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def call(self, method, path, body=None, gw=0):
        st, _, out = self.srv.request(method, path, body)
        return st, out

    def port(self, gw=0):
        return self.srv.port

    def metric(self, name):
        st, _, text = self.srv.request("GET", "/metrics")
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        self.fail("no metric " + name)

    def test_hits_of_several_indexes_merge_as_their_own_searches_rank_them(self):
        self.load("m_a", 64, ["w01", "w03", "w05", "w07", "w09"])
        self.load("m_b", 96, ["w02", "w04", "w06", "w08", "w10"])
        out = self.search({"indexes": ["m_a", "m_b"], "text": QUERY, "k": 6})
        got = [(r["index"], r["id"], r["distance"]) for r in out["results"]]
        want = self.own_searches(["m_a", "m_b"], [64, 96], QUERY, 6)
        self.assertEqual([(a, b) for a, b, _ in got], [(a, b) for a, b, _ in want])
        for (_, _, d1), (_, _, d2) in zip(got, want):
            self.assertAlmostEqual(d1, d2, places=5)
        self.assertEqual({r["index"] for r in out["results"]}, {"m_a", "m_b"})
        self.assertEqual(out["results"][0]["metadata"]["src"], out["results"][0]["index"])
        # exclude_ids and a filter apply to every index.
        ex = self.search({"indexes": ["m_a", "m_b"], "text": QUERY, "k": 6,
                          "exclude_ids": [got[0][1]], "include_metadata": False,
                          "filter": {"must_not": [{"key": "src", "match": "m_b"}]}})
        ids = [r["id"] for r in ex["results"]]
        self.assertNotIn(got[0][1], ids)
        self.assertEqual({r["index"] for r in ex["results"]}, {"m_a"})
        self.assertNotIn("metadata", ex["results"][0])
        self.assertEqual(len(ids), 4)  # m_a's five, less the excluded one
        # A vector query goes to indexes of its dimension.
        v = self.embed([QUERY], 64)[0]
        byvec = self.search({"indexes": ["m_a"], "vector": v, "k": 3})
        self.assertEqual([r["id"] for r in byvec["results"]],
                         [i for idx, i, _ in self.own_searches(["m_a"], [64], QUERY, 3)])

    def test_a_repeat_is_cached_byte_identical_until_a_write_lands(self):
        self.load("c_a", 64, ["w01", "w02", "w03"])
        self.load("c_b", 64, ["w05", "w06"])
        self.load("c_other", 64, ["w07"])
        body = {"indexes": ["c_a", "c_b"], "text": QUERY, "k": 4}
        port = self.port()
        hits0, stale0 = (self.metric('quiver_matrix_cache_requests_total{result="hit"}'),
                         self.metric("quiver_matrix_cache_stale_total"))
        st, first = raw(port, "POST", "/v1/matrix/search", body)
        self.assertEqual(st, 200, first)
        self.assertFalse(json.loads(first)["cached"])
        st, second = raw(port, "POST", "/v1/matrix/search", body)
        self.assertTrue(json.loads(second)["cached"])
        self.assertEqual(results_bytes(first), results_bytes(second))
        self.assertEqual(self.metric('quiver_matrix_cache_requests_total{result="hit"}'),
                         hits0 + 1)
        # A write to an index it did not read changes nothing.
        vec = self.embed(["forklift operator chicago"], 64)[0]
        st, out = self.call("POST", "/v1/indexes/c_other/vectors",
                            {"items": [{"id": "x", "vector": vec}]})
        self.assertEqual(st, 200, out)
        self.assertTrue(self.search(body)["cached"])
        # An upsert, a delete, each retire the answer; the fresh one shows them.
        st, out = self.call("POST", "/v1/indexes/c_b/vectors",
                            {"items": [{"id": "new", "vector": vec}]})
        self.assertEqual(st, 200, out)
        fresh = self.search(body)
        self.assertFalse(fresh["cached"])
        self.assertEqual((fresh["results"][0]["index"], fresh["results"][0]["id"]), ("c_b", "new"))
        self.assertTrue(self.search(body)["cached"])
        st, out = self.call("DELETE", "/v1/indexes/c_b/vectors/new")
        self.assertEqual(st, 200, out)
        after = self.search(body)
        self.assertFalse(after["cached"])
        self.assertNotIn("new", [r["id"] for r in after["results"]])
        self.assertEqual(self.metric("quiver_matrix_cache_stale_total"), stale0 + 2)
        # A dropped and recreated index is another index, whatever its seqs.
        self.call("DELETE", "/v1/indexes/c_a")
        self.load("c_a", 64, ["w01", "w02", "w03"])
        self.assertFalse(self.search(body)["cached"])

    def test_a_recorded_fill_changes_the_next_similar_searchs_order(self):
        self.load("p_jobs", 64, list(JOBS))
        plain = self.search({"indexes": ["p_jobs"], "text": QUERY, "k": 5})
        order = [r["id"] for r in plain["results"]]
        pick = order[3]
        st, out = self.call("POST", "/v1/matrix/playbooks/fills/record",
                            {"query": "forklift operator in chicago", "chosen_ids": [pick],
                             "outcome": "filled"})
        self.assertEqual(st, 201, out)
        self.assertTrue(out["id"])
        boosted = self.search({"indexes": ["p_jobs"], "text": QUERY, "k": 5,
                               "use_playbook": True, "playbook": "fills"})
        self.assertEqual(boosted["results"][0]["id"], pick, (order, boosted))
        self.assertGreater(boosted["results"][0]["boost"], 0.5)
        self.assertEqual(sorted(r["id"] for r in boosted["results"]), sorted(order))
        # Without the playbook the order is the plain one; an unlike query's is too.
        again = self.search({"indexes": ["p_jobs"], "text": QUERY, "k": 5})
        self.assertEqual([r["id"] for r in again["results"]], order)
        unlike = self.search({"indexes": ["p_jobs"], "text": "registered nurse boston", "k": 3,
                              "use_playbook": True, "playbook": "fills"})
        self.assertNotIn("boost", unlike["results"][0])
        # A declined pick sinks: the old top one, declined twice, leaves the top.
        top = order[0]
        for _ in range(2):
            st, out = self.call("POST", "/v1/matrix/playbooks/fills/record",
                                {"query": QUERY, "chosen_ids": [top], "outcome": "declined"})
            self.assertEqual(st, 201, out)
        sunk = self.search({"indexes": ["p_jobs"], "text": QUERY, "k": 5,
                            "use_playbook": True, "playbook": "fills"})
        ids = [r["id"] for r in sunk["results"]]
        self.assertGreater(ids.index(top) if top in ids else 99, 0)
        self.assertFalse(sunk["cached"])  # the records changed the playbook's version
        st, out = self.call("GET", "/v1/matrix/playbooks/fills")
        self.assertEqual((st, out["records"], out["index"]), (200, 3, "playbook.fills"))
        st, out = self.call("DELETE", "/v1/matrix/playbooks/fills")
        self.assertEqual(st, 200, out)
        st, out = self.call("GET", "/v1/matrix/playbooks/fills")
        self.assertEqual((st, out["error"]["code"]), (404, "index_not_found"))
        gone = self.search({"indexes": ["p_jobs"], "text": QUERY, "k": 5,
                            "use_playbook": True, "playbook": "fills"})
        self.assertEqual([r["id"] for r in gone["results"]], order)

    def test_small_playbook_churn_under_load_never_fails(self):
        self.load("churn_jobs", 64, list(JOBS))
        failures, done = [], [0]
        lock = threading.Lock()

        def worker(n):
            for i in range(40):
                if i % 4 == 0:
                    st, out = self.call("POST", "/v1/matrix/playbooks/churn/record",
                                        {"query": "%s %d" % (QUERY, i), "chosen_ids": ["w%02d" % (1 + i % 10)],
                                         "outcome": ["filled", "declined"][i % 2]})
                    ok = st == 201
                elif i % 13 == 5 and n == 0:
                    st, out = self.call("DELETE", "/v1/matrix/playbooks/churn")
                    ok = st in (200, 404)
                else:
                    st, out = self.call("POST", "/v1/matrix/search",
                                        {"indexes": ["churn_jobs"], "text": QUERY, "k": 3,
                                         "use_playbook": True, "playbook": "churn"})
                    ok = st == 200 and len(out["results"]) == 3
                with lock:
                    done[0] += 1
                    if not ok:
                        failures.append((st, out))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(done[0], 240)
        self.assertEqual(failures, [])

    def test_bad_requests_are_refused_and_change_nothing(self):
        self.load("b_cos", 64, ["w01"])
        st, out = self.call("POST", "/v1/indexes", {"name": "b_l2", "dimension": 64,
                                                    "distance": "euclidean",
                                                    "embedder": "hash-v1"})
        self.assertEqual(st, 201, out)
        st, out = self.call("POST", "/v1/indexes", {"name": "b_plain", "dimension": 64})
        self.assertEqual(st, 201, out)
        for body, status, code in [
            ({"indexes": ["b_cos", "nope"], "text": QUERY}, 404, "index_not_found"),
            ({"indexes": ["b_cos", "b_l2"], "text": QUERY}, 400, "invalid_argument"),
            ({"indexes": ["b_cos", "b_plain"], "text": QUERY}, 400, "invalid_argument"),
            ({"indexes": ["b_cos"], "vector": [1, 2]}, 400, "dimension_mismatch"),
            ({"indexes": ["b_cos"], "text": "!!!"}, 400, "invalid_argument"),
            ({"indexes": ["b_cos"], "vector": [1] * 64, "use_playbook": True}, 400,
             "invalid_argument"),
        ]:
            st, out = self.call("POST", "/v1/matrix/search", body)
            self.assertEqual((st, out["error"]["code"]), (status, code), (body, out))
        for body in [{"query": QUERY, "chosen_ids": ["w01"], "outcome": "maybe"},
                     {"query": "", "chosen_ids": ["w01"], "outcome": "filled"},
                     {"query": QUERY, "chosen_ids": [], "outcome": "filled"}]:
            st, out = self.call("POST", "/v1/matrix/playbooks/bad/record", body)
            self.assertEqual(st, 400, (body, out))
        st, out = self.call("GET", "/v1/matrix/playbooks/bad")
        self.assertEqual(st, 404, out)  # nothing was made
        # An index of that name that is not a playbook is not written to.
        st, out = self.call("POST", "/v1/indexes", {"name": "playbook.taken", "dimension": 8})
        self.assertEqual(st, 201, out)
        st, out = self.call("POST", "/v1/matrix/playbooks/taken/record",
                            {"query": QUERY, "chosen_ids": ["w01"], "outcome": "filled"})
        self.assertEqual((st, out["error"]["code"]), (409, "index_exists"), out)
        st, out = self.call("GET", "/v1/indexes/playbook.taken")
        self.assertEqual(out["count"], 0)

    def test_a_msgpack_body_gets_the_same_answer(self):
        import msgpack
        self.load("mp_a", 64, ["w01", "w02", "w03"])
        body = {"indexes": ["mp_a"], "text": QUERY, "k": 2}
        as_json = self.search(body)
        st, _, out = self.srv.request("POST", "/v1/matrix/search", msgpack.packb(body),
                                      headers={"Content-Type": "application/msgpack"})
        self.assertEqual(st, 200, out)
        self.assertEqual(out["results"], as_json["results"])


class TextIndexTest(unittest.TestCase):
    """An index that names an embedder takes text in upserts and searches; the
    embedder survives a SIGKILL (catalog, snapshot) and a backup and restore."""

    def setUp(self):
        self.srv = QuiverServer("--snapshot-every-records", "5")
        self.addCleanup(self.srv.stop)

    def call(self, method, path, body=None):
        st, _, out = self.srv.request(method, path, body)
        return st, out

    def embed(self, texts, dim):
        st, out = self.call("POST", "/v1/embed", {"texts": texts, "dimension": dim})
        self.assertEqual(st, 200, out)
        return out["vectors"]

    def test_text_goes_where_a_vector_goes(self):
        st, out = self.call("POST", "/v1/indexes", {"name": "jobs", "dimension": 64,
                                                    "embedder": "hash-v1"})
        self.assertEqual((st, out.get("embedder")), (201, "hash-v1"), out)
        ids = sorted(JOBS)
        st, out = self.call("POST", "/v1/indexes/jobs/vectors", {"items": [
            {"id": i, "text": JOBS[i], "metadata": {"title": JOBS[i]}} for i in ids[:-1]]})
        self.assertEqual(st, 200, out)
        st, out = self.call("PUT", "/v1/indexes/jobs/vectors/" + ids[-1], {"text": JOBS[ids[-1]]})
        self.assertEqual(st, 200, out)
        # What is stored is the embedder's vector of each text.
        want = self.embed([JOBS[ids[0]]], 64)[0]
        st, out = self.call("GET", "/v1/indexes/jobs/vectors/" + ids[0])
        self.assertEqual(st, 200, out)
        for a, b in zip(out["vector"], want):
            self.assertAlmostEqual(a, b, places=5)
        # A text search answers what a search by the text's vector answers.
        st, by_text = self.call("POST", "/v1/indexes/jobs/search", {"text": QUERY, "k": 4})
        self.assertEqual(st, 200, by_text)
        st, by_vec = self.call("POST", "/v1/indexes/jobs/search",
                               {"vector": self.embed([QUERY], 64)[0], "k": 4})
        self.assertEqual([r["id"] for r in by_text["results"]],
                         [r["id"] for r in by_vec["results"]])
        st, batch = self.call("POST", "/v1/indexes/jobs/search/batch", {"queries": [
            {"text": QUERY, "k": 4}, {"vector": self.embed(["nurse boston"], 64)[0], "k": 1}]})
        self.assertEqual(st, 200, batch)
        self.assertEqual([r["id"] for r in batch["results"][0]],
                         [r["id"] for r in by_text["results"]])
        self.assertEqual(batch["results"][1][0]["id"], "w03")
        # Bad text changes nothing.
        for body, code in [({"items": [{"id": "n1", "text": "ok words"}, {"id": "n2", "text": "!!"}]},
                            "invalid_argument"),
                           ({"items": [{"id": "n3", "text": "x", "vector": [1] * 64}]},
                            "invalid_argument")]:
            st, out = self.call("POST", "/v1/indexes/jobs/vectors", body)
            self.assertEqual((st, out["error"]["code"]), (400, code), out)
        st, out = self.call("GET", "/v1/indexes/jobs/vectors/n1")
        self.assertEqual(st, 404, out)
        self.assertEqual(self.call("GET", "/v1/indexes/jobs")[1]["count"], len(JOBS))
        # An index without an embedder takes no text.
        st, out = self.call("POST", "/v1/indexes", {"name": "plain", "dimension": 64})
        self.assertEqual(st, 201, out)
        self.assertNotIn("embedder", out)
        st, out = self.call("POST", "/v1/indexes/plain/search", {"text": QUERY})
        self.assertEqual((st, out["error"]["code"]), (400, "invalid_argument"), out)
        self.assertIn("names no embedder", out["error"]["message"])
        st, out = self.call("POST", "/v1/indexes", {"name": "tiny", "dimension": 4,
                                                    "embedder": "hash-v1"})
        self.assertEqual(st, 400, out)

    def test_the_embedder_survives_a_kill_and_a_backup(self):
        st, out = self.call("POST", "/v1/indexes", {"name": "kept", "dimension": 32,
                                                    "embedder": "hash-v1", "shards": 2})
        self.assertEqual(st, 201, out)
        st, out = self.call("POST", "/v1/indexes/kept/vectors", {"items": [
            {"id": i, "text": t} for i, t in sorted(JOBS.items())]})
        self.assertEqual(st, 200, out)
        st, before = self.call("POST", "/v1/indexes/kept/search", {"text": QUERY, "k": 3})
        self.assertEqual(st, 200, before)
        self.srv.kill()
        self.srv.restart()
        deadline = time.monotonic() + 30
        while True:
            st, out = self.call("GET", "/v1/indexes/kept")
            if (st == 200 and out["status"] == "ready") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(out.get("embedder"), "hash-v1", out)
        self.assertEqual(out["status"], "ready", out)
        st, after = self.call("POST", "/v1/indexes/kept/search", {"text": QUERY, "k": 3})
        self.assertEqual(st, 200, after)
        self.assertEqual([r["id"] for r in after["results"]], [r["id"] for r in before["results"]])
        st, _, backup = self.srv.request("GET", "/v1/indexes/kept/snapshot")
        self.assertEqual(st, 200)
        self.call("DELETE", "/v1/indexes/kept")
        st, _, out = self.srv.request("POST", "/v1/indexes/kept/restore", backup,
                                      headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(st, 201, out)
        st, out = self.call("GET", "/v1/indexes/kept")
        self.assertEqual((out.get("embedder"), out["count"]), ("hash-v1", len(JOBS)), out)
        st, again = self.call("POST", "/v1/indexes/kept/search", {"text": QUERY, "k": 3})
        self.assertEqual([r["id"] for r in again["results"]], [r["id"] for r in before["results"]])


class MatrixClusterTest(MatrixChecks, unittest.TestCase):
    """Two gateways: a write through one retires the other's cached answer."""

    @classmethod
    def setUpClass(cls):
        from test_cluster import Cluster, serving
        cls.c = Cluster(vectords=2, gateways=2)
        cls.serving = staticmethod(serving)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def call(self, method, path, body=None, gw=0):
        return self.c.request(method, path, body, gateway=gw)

    def test_a_write_through_another_gateway_retires_the_cached_answer(self):
        self.load("k_a", 64, ["w01", "w03", "w05"], shards=2, replicas=2)
        self.load("k_b", 64, ["w02", "w04", "w06"], shards=2, replicas=2)
        self.c.wait(self.serving("k_b", 2, 2), "k_b serving")
        body = {"indexes": ["k_a", "k_b"], "text": QUERY, "k": 4}
        first = self.search(body, gw=0)
        self.assertFalse(first["cached"])
        want = self.own_searches(["k_a", "k_b"], [64, 64], QUERY, 4)
        self.assertEqual([(r["index"], r["id"]) for r in first["results"]],
                         [(a, b) for a, b, _ in want])
        self.assertTrue(self.search(body, gw=0)["cached"])
        vec = self.embed([QUERY], 64)[0]
        st, out = self.call("POST", "/v1/indexes/k_a/vectors",
                            {"items": [{"id": "via-1", "vector": vec}]}, gw=1)
        self.assertEqual(st, 200, out)
        fresh = self.search(body, gw=0)
        self.assertFalse(fresh["cached"])
        self.assertEqual(fresh["results"][0]["id"], "via-1")
        # Playbooks work the same through either gateway.
        pick = fresh["results"][3]["id"]
        st, out = self.call("POST", "/v1/matrix/playbooks/c/record",
                            {"query": QUERY, "chosen_ids": [pick], "outcome": "filled"}, gw=1)
        self.assertEqual(st, 201, out)
        deadline = time.monotonic() + 10
        while True:
            boosted = self.search(dict(body, use_playbook=True, playbook="c"), gw=0)
            if boosted["results"][0]["id"] == pick or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(boosted["results"][0]["id"], pick, boosted)


if __name__ == "__main__":
    unittest.main()
