"""HTTP contract tests (API.md) against the real quiver binary on loopback."""
import json
import os
import random
import re
import socket
import struct
import sys
import time
import unittest
import urllib.parse

import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import QuiverServer  # noqa: E402


def enc(s):
    return urllib.parse.quote(s, safe="")


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = QuiverServer("--max-body-bytes", "4194304", "--max-batch", "10000")

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.stop()
        assert code == 0, "quiver did not shut down cleanly on SIGTERM: %s\n%s" % (code, cls.srv.read_log())

    def req(self, *a, **kw):
        return self.srv.request(*a, **kw)

    def create(self, name, dim=3, **params):
        status, _, body = self.req("POST", "/v1/indexes", {"name": name, "dimension": dim, **params})
        self.assertEqual(status, 201, body)
        return body

    def assertError(self, result, status, code):
        st, resp, body = result
        self.assertEqual(st, status, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertIsInstance(body["error"]["message"], str)
        self.assertIsInstance(body["error"]["details"], dict)
        return body["error"]

    # -- health and operations --

    def test_health_ready_metrics(self):
        self.assertEqual(self.req("GET", "/healthz")[2], {"status": "ok"})
        st, _, body = self.req("GET", "/readyz")
        self.assertEqual(st, 200)
        self.assertEqual(body["missing_shards"], [])
        self.create("metrics-idx")
        self.req("PUT", "/v1/indexes/metrics-idx/vectors/a", {"vector": [1, 2, 3]})
        st, resp, text = self.req("GET", "/metrics")
        self.assertEqual(st, 200)
        text = text.decode()
        self.assertIn('quiver_http_requests_total{route="GET /healthz",status="200"}', text)
        self.assertIn('quiver_http_request_duration_seconds_bucket{route="PUT /v1/indexes/{name}/vectors/{id}",le="+Inf"}', text)
        self.assertIn('quiver_index_vectors{tenant="default",index="metrics-idx"} 1', text)
        self.assertIn("quiver_process_resident_bytes", text)

    def test_every_metric_is_documented(self):
        """docs/METRICS.md lists every series this server exposes with its type, names
        only series the gateway's code emits, and the Grafana dashboard queries only
        documented series."""
        self.create("documented-idx")
        self.req("PUT", "/v1/indexes/documented-idx/vectors/a", {"vector": [1, 2, 3]})
        st, _, text = self.req("GET", "/metrics")
        self.assertEqual(st, 200)
        exposed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text.decode(), re.M))
        self.assertGreater(len(exposed), 15, exposed)
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        with open(os.path.join(root, "docs", "METRICS.md")) as f:
            documented = dict(re.findall(r"^\| `(quiver_\w+)` \| (\w+) \|", f.read(), re.M))
        for name, kind in exposed.items():
            self.assertEqual(documented.get(name), kind, "%s (%s) is not in docs/METRICS.md" % (name, kind))
        source = ""
        for path in ("daemons/gateway/prometheus_text.cpp", "common/metrics.cpp",
                     "matrix/result_cache.cpp", "matrix/embedder.cpp"):
            with open(os.path.join(root, path)) as f:
                source += f.read()
        for name in documented:
            self.assertIn(name, source, "docs/METRICS.md names %s, which no code emits" % name)
        with open(os.path.join(root, "docs", "grafana", "quiver.json")) as f:
            dashboard = json.load(f)
        queried = set()
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                queried |= set(re.findall(r"quiver_\w+", target["expr"]))
        self.assertGreater(len(queried), 20, queried)
        for name in queried:
            series = re.sub(r"_(bucket|sum|count)$", "", name) if name not in documented else name
            self.assertIn(series, documented, "the dashboard queries %s, which is not documented" % name)

    # -- indexes --

    def test_openapi_describes_routes_that_answer(self):
        # Every operation in GET /openapi.json reaches a route: nothing answers it
        # "no such route" (404 not_found) or "no such method" (405). The unit test
        # unit_openapi checks the other direction against the route table.
        st, resp, spec = self.req("GET", "/openapi.json")
        self.assertEqual(st, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("application/json"))
        self.assertTrue(spec["openapi"].startswith("3."))
        self.create("oa", 2)
        values = {"name": "oa", "id": "x", "field": "f"}
        bodies = {"PUT": {}, "POST": {}}
        checked = 0
        for path, item in spec["paths"].items():
            concrete = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
            for method in item:
                if method == "parameters":
                    continue
                st, _, body = self.req(method.upper(), concrete, bodies.get(method.upper()))
                code = body.get("error", {}).get("code") if isinstance(body, dict) else None
                self.assertNotEqual(st, 405, (method, path, body))
                self.assertFalse(st == 404 and code == "not_found", (method, path, body))
                checked += 1
        self.assertGreaterEqual(checked, 27)

    def test_index_lifecycle(self):
        body = self.create("life", 4, distance="euclidean", m=8, ef_construction=50, ef_search=20, shards=2)
        self.assertEqual(body, {"name": "life", "dimension": 4, "distance": "euclidean", "m": 8,
                                "ef_construction": 50, "ef_search": 20, "shards": 2, "replicas": 1,
                                "count": 0, "memory_bytes": 0, "status": "ready"})
        # Same params again: 200, idempotent. Other params: 409.
        st, _, again = self.req("POST", "/v1/indexes", {"name": "life", "dimension": 4, "distance": "euclidean",
                                                        "m": 8, "ef_construction": 50, "ef_search": 20, "shards": 2})
        self.assertEqual(st, 200)
        self.assertError(self.req("POST", "/v1/indexes", {"name": "life", "dimension": 5}), 409, "index_exists")
        names = [d["name"] for d in self.req("GET", "/v1/indexes")[2]["indexes"]]
        self.assertIn("life", names)
        self.req("PUT", "/v1/indexes/life/vectors/x", {"vector": [1, 2, 3, 4]})
        st, _, desc = self.req("GET", "/v1/indexes/life")
        self.assertEqual(st, 200)
        self.assertEqual(desc["count"], 1)
        self.assertGreater(desc["memory_bytes"], 0)
        self.assertEqual(self.req("DELETE", "/v1/indexes/life")[2], {"deleted": True})
        self.assertError(self.req("GET", "/v1/indexes/life"), 404, "index_not_found")
        self.assertError(self.req("DELETE", "/v1/indexes/life"), 404, "index_not_found")
        self.assertError(self.req("PUT", "/v1/indexes/life/vectors/x", {"vector": [1, 2, 3, 4]}), 404, "index_not_found")

    def test_create_rejects_bad_params(self):
        for body in [{"dimension": 3}, {"name": "x"}, {"name": "x", "dimension": 0},
                     {"name": "x", "dimension": "3"}, {"name": "-x", "dimension": 3},
                     {"name": "a" * 129, "dimension": 3}, {"name": "x", "dimension": 3, "distance": "l1"},
                     {"name": "x", "dimension": 3, "m": 0}, {"name": "x", "dimension": 3, "shards": 0},
                     {"name": "x", "dimension": 3, "replicas": 2}, {"name": "x", "dimension": 3, "bogus": 1},
                     [1, 2]]:
            self.assertError(self.req("POST", "/v1/indexes", body), 400, "invalid_argument")
        self.assertError(self.req("POST", "/v1/indexes", "{not json", {"Content-Type": "application/json"}),
                         400, "invalid_json")
        names = [d["name"] for d in self.req("GET", "/v1/indexes")[2]["indexes"]]
        self.assertNotIn("x", names)

    # -- vectors --

    def test_put_get_delete_and_metadata_semantics(self):
        self.create("vec")
        st, _, body = self.req("PUT", "/v1/indexes/vec/vectors/a", {"vector": [3, 4, 0], "metadata": {"k": [1, "two"]}})
        self.assertEqual(st, 200)
        self.assertEqual(body["id"], "a")
        self.assertIsInstance(body["seq"], int)
        rec = self.req("GET", "/v1/indexes/vec/vectors/a")[2]
        self.assertEqual(rec["id"], "a")
        for got, want in zip(rec["vector"], [3, 4, 0]):
            self.assertAlmostEqual(got, want, places=5)
        self.assertEqual(rec["metadata"], {"k": [1, "two"]})
        # Absent metadata keeps; {} clears; never-set metadata is null.
        self.req("PUT", "/v1/indexes/vec/vectors/a", {"vector": [0, 1, 0]})
        self.assertEqual(self.req("GET", "/v1/indexes/vec/vectors/a")[2]["metadata"], {"k": [1, "two"]})
        self.req("PUT", "/v1/indexes/vec/vectors/a", {"vector": [0, 1, 0], "metadata": {}})
        self.assertEqual(self.req("GET", "/v1/indexes/vec/vectors/a")[2]["metadata"], {})
        self.req("PUT", "/v1/indexes/vec/vectors/b", {"vector": [1, 1, 1]})
        self.assertIsNone(self.req("GET", "/v1/indexes/vec/vectors/b")[2]["metadata"])
        self.assertEqual(self.req("DELETE", "/v1/indexes/vec/vectors/b")[2], {"deleted": True})
        self.assertEqual(self.req("DELETE", "/v1/indexes/vec/vectors/b")[2], {"deleted": False})
        self.assertError(self.req("GET", "/v1/indexes/vec/vectors/b"), 404, "vector_not_found")

    def test_vector_validation_errors_change_nothing(self):
        self.create("valid")
        self.req("PUT", "/v1/indexes/valid/vectors/keep", {"vector": [1, 0, 0], "metadata": {"v": 1}})
        err = self.assertError(self.req("PUT", "/v1/indexes/valid/vectors/keep", {"vector": [1, 2]}), 400, "dimension_mismatch")
        self.assertEqual(err["details"], {"expected": 3, "got": 2, "index": 0})
        err = self.assertError(self.req("PUT", "/v1/indexes/valid/vectors/keep", {"vector": [1, 1e39, 0]}), 400, "non_finite_vector")
        self.assertEqual(err["details"]["component"], 1)
        self.assertError(self.req("PUT", "/v1/indexes/valid/vectors/keep", {"vector": [0, 0, 0]}), 400, "zero_vector")
        self.assertError(self.req("PUT", "/v1/indexes/valid/vectors/keep", {"vector": [1, 0, 0], "metadata": [1]}), 400, "invalid_argument")
        self.assertError(self.req("PUT", "/v1/indexes/valid/vectors/keep", {"metadata": {}}), 400, "invalid_argument")
        self.assertError(self.req("PUT", "/v1/indexes/valid/vectors/keep", "{\"vector\": [1, 0,", {"Content-Type": "application/json"}), 400, "invalid_json")
        self.assertError(self.req("PUT", "/v1/indexes/valid/vectors/" + "x" * 300, {"vector": [1, 0, 0]}), 400, "invalid_argument")
        # A batch with one bad item is rejected whole; details.index names it.
        err = self.assertError(self.req("POST", "/v1/indexes/valid/vectors", {"items": [
            {"id": "n1", "vector": [1, 1, 1]}, {"id": "keep", "vector": [0, 0, 1], "metadata": {}},
            {"id": "n2", "vector": [float("nan"), 0, 0]}]}), 400, "invalid_json")  # NaN is not JSON
        err = self.assertError(self.req("POST", "/v1/indexes/valid/vectors", {"items": [
            {"id": "n1", "vector": [1, 1, 1]}, {"id": "keep", "vector": [0, 0, 1], "metadata": {}},
            {"id": "n2", "vector": [0, 0, 0]}]}), 400, "zero_vector")
        self.assertEqual(err["details"]["index"], 2)
        rec = self.req("GET", "/v1/indexes/valid/vectors/keep")[2]
        self.assertEqual(rec["metadata"], {"v": 1})
        self.assertAlmostEqual(rec["vector"][0], 1, places=5)
        self.assertError(self.req("GET", "/v1/indexes/valid/vectors/n1"), 404, "vector_not_found")

    def test_ids_needing_percent_encoding(self):
        self.create("enc", 2)
        ids = ["a/b", "with space", "pct%41", "q?x=1#frag", "ünïcødé/🙂", "..", "plus+sign"]
        for i, vid in enumerate(ids):
            st, _, body = self.req("PUT", "/v1/indexes/enc/vectors/" + enc(vid), {"vector": [1, i + 1]})
            self.assertEqual(st, 200, body)
            self.assertEqual(body["id"], vid)
        for vid in ids:
            self.assertEqual(self.req("GET", "/v1/indexes/enc/vectors/" + enc(vid))[2]["id"], vid)
        listed = self.req("GET", "/v1/indexes/enc/ids")[2]
        self.assertEqual(sorted(listed["ids"]), sorted(ids))
        self.assertError(self.req("GET", "/v1/indexes/enc/vectors/%zz"), 400, "invalid_argument")
        self.assertEqual(self.req("DELETE", "/v1/indexes/enc/vectors/" + enc("a/b"))[2], {"deleted": True})

    def test_batch_upsert_last_wins_and_batch_delete(self):
        self.create("batch", 2, distance="euclidean")
        st, _, body = self.req("POST", "/v1/indexes/batch/vectors", {"items": [
            {"id": "d", "vector": [1, 1], "metadata": {"v": 1}}, {"id": "e", "vector": [2, 2]},
            {"id": "d", "vector": [3, 3], "metadata": {"v": 2}}]})
        self.assertEqual((st, body), (200, {"upserted": 2}))
        rec = self.req("GET", "/v1/indexes/batch/vectors/d")[2]
        self.assertEqual((rec["vector"], rec["metadata"]), ([3, 3], {"v": 2}))
        st, _, body = self.req("POST", "/v1/indexes/batch/vectors/delete", {"ids": ["d", "nope", "d"]})
        self.assertEqual(body, {"deleted": 1})
        self.assertError(self.req("POST", "/v1/indexes/batch/vectors/delete", {"ids": "d"}), 400, "invalid_argument")

    def test_ten_thousand_item_batch_and_limits(self):
        self.create("big", 8, shards=2)
        rng = random.Random(1)
        items = [{"id": "i%d" % i, "vector": [rng.uniform(-1, 1) for _ in range(8)]} for i in range(10000)]
        st, _, body = self.req("POST", "/v1/indexes/big/vectors", {"items": items})
        self.assertEqual((st, body), (200, {"upserted": 10000}))
        self.assertEqual(self.req("GET", "/v1/indexes/big")[2]["count"], 10000)
        items.append({"id": "one-too-many", "vector": [1] * 8})
        self.assertError(self.req("POST", "/v1/indexes/big/vectors", {"items": items}), 413, "payload_too_large")
        self.assertError(self.req("GET", "/v1/indexes/big/vectors/one-too-many"), 404, "vector_not_found")
        # Every live id exactly once across pages.
        seen, cursor = [], None
        while True:
            path = "/v1/indexes/big/ids?limit=777" + ("&cursor=" + cursor if cursor else "")
            page = self.req("GET", path)[2]
            seen += page["ids"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(len(seen), 10000)
        self.assertEqual(set(seen), {"i%d" % i for i in range(10000)})
        self.assertError(self.req("GET", "/v1/indexes/big/ids?limit=0"), 400, "invalid_argument")
        self.assertError(self.req("GET", "/v1/indexes/big/ids?cursor=xyz"), 400, "invalid_argument")
        self.assertError(self.req("GET", "/v1/indexes/big/ids?colour=red"), 400, "invalid_argument")

    def test_oversized_body_is_413(self):
        self.create("huge", 2)
        body = json.dumps({"items": [{"id": "x%d" % i, "vector": [1.123456789, 2.123456789]} for i in range(100000)]})
        self.assertGreater(len(body), 4194304)
        self.assertError(self.req("POST", "/v1/indexes/huge/vectors", body, {"Content-Type": "application/json"}),
                         413, "payload_too_large")
        self.assertEqual(self.req("GET", "/v1/indexes/huge")[2]["count"], 0)

    # -- search --

    def test_search_semantics(self):
        self.create("s", 2, distance="euclidean", shards=3)
        pts = {"p%d" % i: [float(i), 0.0] for i in range(20)}
        self.req("POST", "/v1/indexes/s/vectors", {"items": [
            {"id": k, "vector": v, "metadata": {"i": int(v[0])}} for k, v in pts.items()]})
        st, _, body = self.req("POST", "/v1/indexes/s/search", {"vector": [0, 0], "k": 5})
        self.assertEqual(st, 200)
        self.assertEqual([h["id"] for h in body["results"]], ["p0", "p1", "p2", "p3", "p4"])
        self.assertEqual([h["distance"] for h in body["results"]], [0, 1, 2, 3, 4])  # L2, not squared
        self.assertEqual(body["results"][1]["metadata"], {"i": 1})
        self.assertNotIn("vector", body["results"][0])
        self.assertIsInstance(body["took_ms"], (int, float))
        body = self.req("POST", "/v1/indexes/s/search", {"vector": [0, 0], "k": 3, "include_metadata": False,
                                                         "include_vectors": True, "exclude_ids": ["p0", "p2"]})[2]
        self.assertEqual([h["id"] for h in body["results"]], ["p1", "p3", "p4"])
        self.assertEqual(body["results"][0]["vector"], [1, 0])
        self.assertNotIn("metadata", body["results"][0])
        # Excluding almost everything still yields what qualifies; k beyond the count gives all.
        body = self.req("POST", "/v1/indexes/s/search", {"vector": [0, 0], "k": 10,
                                                         "exclude_ids": ["p%d" % i for i in range(18)]})[2]
        self.assertEqual([h["id"] for h in body["results"]], ["p18", "p19"])
        self.assertEqual(len(self.req("POST", "/v1/indexes/s/search", {"vector": [0, 0], "k": 100})[2]["results"]), 20)
        self.assertError(self.req("POST", "/v1/indexes/s/search", {"vector": [0, 0], "k": 0}), 400, "invalid_argument")
        self.assertError(self.req("POST", "/v1/indexes/s/search", {"vector": [0, 0, 0], "k": 1}), 400, "dimension_mismatch")
        self.assertError(self.req("POST", "/v1/indexes/s/search", {"k": 1}), 400, "invalid_argument")
        self.assertError(self.req("POST", "/v1/indexes/missing/search", {"vector": [0, 0]}), 404, "index_not_found")
        batch = self.req("POST", "/v1/indexes/s/search/batch", {"queries": [
            {"vector": [19, 0], "k": 1}, {"vector": [0, 0], "k": 2}]})[2]
        self.assertEqual([[h["id"] for h in r] for r in batch["results"]], [["p19"], ["p0", "p1"]])
        err = self.assertError(self.req("POST", "/v1/indexes/s/search/batch", {"queries": [
            {"vector": [19, 0]}, {"vector": [1]}]}), 400, "dimension_mismatch")
        self.assertEqual(err["details"]["index"], 1)

    def test_filtered_search_count_and_delete_by_filter(self):
        self.create("flt", 2, distance="euclidean", shards=3)
        cities = ["Austin", "Dallas", "Houston", "El Paso"]
        items = []
        for i in range(400):
            meta = {"city": cities[i % 4], "years": i % 10, "skills": ["cdl"] if i % 7 == 0 else []}
            if i % 50 == 0:
                meta = None  # no metadata: matches only exists: false
            item = {"id": "w%03d" % i, "vector": [float(i), 0.0]}
            if meta is not None:
                item["metadata"] = meta
            items.append(item)
        self.assertEqual(self.req("POST", "/v1/indexes/flt/vectors", {"items": items})[0], 200)

        def search(flt, k=10, **extra):
            st, _, body = self.req("POST", "/v1/indexes/flt/search",
                                   {"vector": [0, 0], "k": k, "filter": flt, **extra})
            self.assertEqual(st, 200, body)
            return [h["id"] for h in body["results"]]

        def expected(pred, k=10, exclude=()):
            out = [it["id"] for it in items if it["id"] not in exclude and pred(it.get("metadata"))]
            return out[:k]  # ids are in distance order already

        dallas_cdl = {"must": [{"key": "city", "match": "Dallas"}, {"key": "skills", "contains": "cdl"}]}
        self.assertEqual(search(dallas_cdl), expected(
            lambda m: m is not None and m["city"] == "Dallas" and "cdl" in m["skills"]))
        senior = {"must": [{"key": "years", "range": {"gte": 8}}],
                  "must_not": [{"key": "city", "in": ["Austin", "Houston"]}]}
        self.assertEqual(search(senior, k=25), expected(
            lambda m: m is not None and m["years"] >= 8 and m["city"] not in ("Austin", "Houston"), 25))
        # Fewer than k only when fewer match: 8 vectors have no metadata.
        none = {"must": [{"key": "city", "exists": False}]}
        self.assertEqual(search(none, k=50), expected(lambda m: m is None, 50))
        self.assertEqual(search(none, k=50, exclude_ids=["w000", "w100"]),
                         expected(lambda m: m is None, 50, exclude=("w000", "w100")))
        # Each query of a batch has its own filter.
        batch = self.req("POST", "/v1/indexes/flt/search/batch", {"queries": [
            {"vector": [0, 0], "k": 2, "filter": {"must": [{"key": "city", "match": "Houston"}]}},
            {"vector": [0, 0], "k": 2}]})[2]
        self.assertEqual([[h["id"] for h in r] for r in batch["results"]], [["w002", "w006"], ["w000", "w001"]])
        # MessagePack bodies carry the same filter.
        body = msgpack.packb({"vector": struct.pack("<2f", 0, 0), "k": 3, "filter": dallas_cdl}, use_bin_type=True)
        st, _, data = self.req("POST", "/v1/indexes/flt/search", body,
                               {"Content-Type": "application/msgpack", "Accept": "application/json"})
        self.assertEqual([h["id"] for h in data["results"]], search(dallas_cdl, k=3))

        count = lambda body: self.req("POST", "/v1/indexes/flt/count", body)
        self.assertEqual(count({})[2], {"count": 400})
        self.assertEqual(count({"filter": {"must": [{"key": "city", "match": "Dallas"}]}})[2],
                         {"count": sum(1 for it in items if (it.get("metadata") or {}).get("city") == "Dallas")})
        err = self.assertError(count({"filter": {"must": [{"key": "a", "match": 1}, {"key": "b", "range": {}}]}}),
                               400, "invalid_argument")
        self.assertEqual(err["message"], "filter.must[1].range: needs at least one of gt, gte, lt, lte")
        err = self.assertError(self.req("POST", "/v1/indexes/flt/search", {"vector": [0, 0], "filter": {
            "should": [{"key": "a", "regex": "x"}]}}), 400, "invalid_argument")
        self.assertIn("filter.should[0]", err["message"])
        self.assertError(count({"filter": {}, "extra": 1}), 400, "invalid_argument")
        self.assertError(self.req("POST", "/v1/indexes/nope/count", {}), 404, "index_not_found")

        # Delete by filter: what it matches goes, nothing else, durably like any delete.
        houston = {"must": [{"key": "city", "match": "Houston"}]}
        n_houston = count({"filter": houston})[2]["count"]
        self.assertGreater(n_houston, 0)
        self.assertError(self.req("POST", "/v1/indexes/flt/vectors/delete", {"ids": ["w001"], "filter": houston}),
                         400, "invalid_argument")
        self.assertError(self.req("POST", "/v1/indexes/flt/vectors/delete", {"filter": {}}), 400, "invalid_argument")
        self.assertEqual(count({})[2], {"count": 400})
        st, _, body = self.req("POST", "/v1/indexes/flt/vectors/delete", {"filter": houston})
        self.assertEqual((st, body), (200, {"deleted": n_houston}))
        self.assertEqual(count({"filter": houston})[2], {"count": 0})
        self.assertEqual(count({})[2], {"count": 400 - n_houston})
        self.assertEqual(self.req("GET", "/v1/indexes/flt/vectors/w002")[0], 404)
        self.assertEqual(self.req("GET", "/v1/indexes/flt/vectors/w001")[0], 200)
        self.assertEqual(self.req("POST", "/v1/indexes/flt/vectors/delete", {"filter": houston})[2], {"deleted": 0})

    def test_payload_indexes(self):
        self.create("pix", 2, distance="euclidean", shards=2)
        items = [{"id": "p%03d" % i, "vector": [float(i), 1.0],
                  "metadata": {"city": ["Austin", "Dallas", "Houston"][i % 3], "years": i % 12,
                               "ok": i % 2 == 0}} for i in range(300)]
        self.assertEqual(self.req("POST", "/v1/indexes/pix/vectors", {"items": items})[0], 200)
        flt = {"must": [{"key": "city", "match": "Dallas"}, {"key": "years", "range": {"gte": 6}}],
               "must_not": [{"key": "ok", "match": True}]}
        search = lambda: [h["id"] for h in self.req("POST", "/v1/indexes/pix/search",
                                                      {"vector": [0, 1], "k": 20, "filter": flt})[2]["results"]]
        count = lambda: self.req("POST", "/v1/indexes/pix/count", {"filter": flt})[2]["count"]
        before, n = search(), count()
        self.assertEqual(self.req("GET", "/v1/indexes/pix/fields")[2], {"fields": []})
        for field, kind in (("city", "keyword"), ("years", "integer"), ("ok", "bool")):
            st, _, body = self.req("PUT", "/v1/indexes/pix/fields/" + field, {"type": kind})
            self.assertEqual((st, body), (200, {"name": field, "type": kind}))
        self.assertEqual(self.req("PUT", "/v1/indexes/pix/fields/years", {"type": "integer"})[0], 200)
        self.assertEqual(self.req("GET", "/v1/indexes/pix/fields")[2], {"fields": [
            {"name": "city", "type": "keyword", "complete": True},
            {"name": "ok", "type": "bool", "complete": True},
            {"name": "years", "type": "integer", "complete": True}]})
        # Indexed or not, the same answers; writes after the index keep it true.
        self.assertEqual((search(), count()), (before, n))
        self.req("PUT", "/v1/indexes/pix/vectors/p001", {"vector": [1, 1], "metadata": {"city": "Dallas", "years": 9}})
        self.assertIn("p001", search())
        self.assertError(self.req("PUT", "/v1/indexes/pix/fields/x", {"type": "text"}), 400, "invalid_argument")
        self.assertError(self.req("PUT", "/v1/indexes/pix/fields/x", {}), 400, "invalid_argument")
        self.assertError(self.req("PUT", "/v1/indexes/pix/fields/" + "x" * 257, {"type": "bool"}), 400,
                         "invalid_argument")
        self.assertError(self.req("PUT", "/v1/indexes/nope/fields/x", {"type": "bool"}), 404, "index_not_found")
        self.assertEqual(self.req("DELETE", "/v1/indexes/pix/fields/ok")[2], {"deleted": True})
        self.assertEqual(self.req("DELETE", "/v1/indexes/pix/fields/ok")[2], {"deleted": False})
        self.assertEqual([f["name"] for f in self.req("GET", "/v1/indexes/pix/fields")[2]["fields"]],
                         ["city", "years"])
        self.assertIn("p001", search())

    def test_cosine_and_dot_distances(self):
        self.create("cos", 2)
        self.create("dot", 2, distance="dot")
        for name in ("cos", "dot"):
            self.req("PUT", "/v1/indexes/%s/vectors/p" % name, {"vector": [3, 4]})
        cos = self.req("POST", "/v1/indexes/cos/search", {"vector": [4, 3], "k": 1})[2]["results"][0]["distance"]
        self.assertAlmostEqual(cos, 1 - 24 / 25, places=5)
        dot = self.req("POST", "/v1/indexes/dot/search", {"vector": [1, 2], "k": 1})[2]["results"][0]["distance"]
        self.assertAlmostEqual(dot, -11, places=4)

    def test_merge(self):
        self.create("m-src", 2)
        self.create("m-dst", 2)
        self.create("m-other", 3)
        self.req("POST", "/v1/indexes/m-src/vectors", {"items": [
            {"id": "a", "vector": [1, 0], "metadata": {"from": "src"}}, {"id": "b", "vector": [0, 1]}]})
        self.assertEqual(self.req("POST", "/v1/indexes/m-dst/merge", {"source": "m-src"})[2], {"merged": 2})
        self.assertEqual(self.req("GET", "/v1/indexes/m-dst/vectors/a")[2]["metadata"], {"from": "src"})
        self.assertEqual(self.req("GET", "/v1/indexes/m-src")[0], 200)
        self.assertError(self.req("POST", "/v1/indexes/m-dst/merge", {"source": "m-other"}), 400, "invalid_argument")
        self.assertError(self.req("POST", "/v1/indexes/m-dst/merge", {"source": "nope"}), 404, "index_not_found")
        self.assertEqual(self.req("POST", "/v1/indexes/m-dst/merge", {"source": "m-src", "delete_source": True})[2], {"merged": 2})
        self.assertError(self.req("GET", "/v1/indexes/m-src"), 404, "index_not_found")

    def test_merge_streams_pages_across_shards(self):
        # More vectors than one merge page (1,000), from a sharded source.
        self.create("mp-src", 2, shards=3, distance="euclidean")
        self.create("mp-dst", 2, shards=2, distance="euclidean")
        n = 2500
        items = [{"id": "v%d" % i, "vector": [1.0 + i, 2.0], "metadata": {"i": i}} for i in range(n)]
        self.assertEqual(self.req("POST", "/v1/indexes/mp-src/vectors", {"items": items})[0], 200)
        st, _, out = self.req("POST", "/v1/indexes/mp-dst/merge", {"source": "mp-src"})
        self.assertEqual((st, out), (200, {"merged": n}))
        self.assertEqual(self.req("GET", "/v1/indexes/mp-dst")[2]["count"], n)
        for i in (0, 999, 1000, 2499):
            st, _, v = self.req("GET", "/v1/indexes/mp-dst/vectors/v%d" % i)
            self.assertEqual((st, v["vector"], v["metadata"]), (200, [1.0 + i, 2.0], {"i": i}))
        # Merging again is an upsert: nothing doubles.
        self.assertEqual(self.req("POST", "/v1/indexes/mp-dst/merge", {"source": "mp-src"})[2], {"merged": n})
        self.assertEqual(self.req("GET", "/v1/indexes/mp-dst")[2]["count"], n)

    def test_empty_batches_are_no_ops(self):
        self.create("empty-b", 2, shards=2)
        self.create("empty-a", 2)

        def appended():
            text = self.req("GET", "/metrics")[2].decode()
            line = [x for x in text.splitlines() if x.startswith("quiver_storage_appended_records_total ")]
            return int(line[0].split()[-1])

        before = appended()
        for name in ("empty-a", "empty-b"):
            st, _, out = self.req("POST", "/v1/indexes/%s/vectors" % name, {"items": []})
            self.assertEqual((st, out), (200, {"upserted": 0}))
            st, _, out = self.req("POST", "/v1/indexes/%s/vectors/delete" % name, {"ids": []})
            self.assertEqual((st, out), (200, {"deleted": 0}))
            self.assertEqual(self.req("GET", "/v1/indexes/" + name)[2]["count"], 0)
        self.assertEqual(appended(), before)  # nothing was logged
        self.assertError(self.req("POST", "/v1/indexes/nope/vectors", {"items": []}), 404, "index_not_found")

    def test_metrics_labels_are_a_closed_set(self):
        def series():
            text = self.req("GET", "/metrics")[2].decode()
            return {x.rsplit(" ", 1)[0] for x in text.splitlines() if x and not x.startswith("#")}

        def invented(i):
            self.req("BREW%d" % i, "/healthz")
            self.req("GET", "/invented/%d" % i)
            self.req("X-%d" % i, "/v1/indexes/i%d/vectors/v%d" % (i, i))

        invented(0)
        series()  # its own route's series exist from here on
        base = series()
        # Thirty more invented methods and paths create no series at all.
        for i in range(1, 31):
            invented(i)
        self.assertEqual(series() - base, set())
        text = self.req("GET", "/metrics")[2].decode()
        self.assertNotIn("BREW", text)
        self.assertNotIn("invented", text)
        self.assertIn('route="other /healthz"', text)

    # -- protocol --

    def test_routes_methods_and_content_types(self):
        self.create("proto", 2)
        self.assertError(self.req("GET", "/nope"), 404, "not_found")
        self.assertError(self.req("GET", "/v1/indexes/proto/bogus"), 404, "not_found")
        self.assertError(self.req("GET", "/v1/indexes/../../etc/passwd"), 404, "not_found")
        self.assertError(self.req("GET", "/v1/indexes/.."), 404, "index_not_found")
        st, resp, body = self.req("PATCH", "/v1/indexes/proto")
        self.assertError((st, resp, body), 405, "method_not_allowed")
        self.assertEqual(resp.getheader("Allow"), "GET, DELETE")
        self.assertError(self.req("GET", "/v1/indexes/proto/search"), 405, "method_not_allowed")
        self.assertError(self.req("POST", "/healthz"), 405, "method_not_allowed")
        self.assertError(self.req("PUT", "/v1/indexes/proto/vectors/a", '{"vector":[1,2]}',
                                  {"Content-Type": "text/plain"}), 415, "unsupported_media_type")
        self.assertError(self.req("GET", "/v1/indexes/proto/vectors/a"), 404, "vector_not_found")
        # Missing Content-Type: taken as JSON.
        st, _, _ = self.req("PUT", "/v1/indexes/proto/vectors/a", '{"vector":[1,2]}')
        self.assertEqual(st, 200)

    def test_msgpack_bodies_and_accept(self):
        self.create("mp", 3)
        floats = struct.pack("<3f", 1.0, 2.0, 3.0)
        body = msgpack.packb({"vector": floats, "metadata": {"n": 1, "s": "x"}}, use_bin_type=True)
        st, resp, data = self.req("PUT", "/v1/indexes/mp/vectors/bin", body, {"Content-Type": "application/msgpack"})
        self.assertEqual(st, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/msgpack")
        self.assertEqual(msgpack.unpackb(data)["id"], "bin")
        body = msgpack.packb({"vector": [1.0, 0.0, 0.0]}, use_bin_type=True)
        self.assertEqual(self.req("PUT", "/v1/indexes/mp/vectors/arr", body, {"Content-Type": "application/msgpack"})[0], 200)
        st, resp, data = self.req("GET", "/v1/indexes/mp/vectors/bin", headers={"Accept": "application/msgpack"})
        rec = msgpack.unpackb(data)
        self.assertEqual(rec["metadata"], {"n": 1, "s": "x"})
        self.assertTrue(all(isinstance(x, float) for x in rec["vector"]))
        self.assertEqual([round(x, 4) for x in rec["vector"]], [1.0, 2.0, 3.0])
        # msgpack in, JSON out when Accept asks for it.
        body = msgpack.packb({"vector": [1.0, 2.0, 3.0], "k": 1}, use_bin_type=True)
        st, _, data = self.req("POST", "/v1/indexes/mp/search", body,
                               {"Content-Type": "application/msgpack", "Accept": "application/json"})
        self.assertEqual(data["results"][0]["id"], "bin")
        st, resp, data = self.req("PUT", "/v1/indexes/mp/vectors/x", b"\xc1\x00", {"Content-Type": "application/msgpack"})
        self.assertEqual(st, 400)
        self.assertEqual(msgpack.unpackb(data)["error"]["code"], "invalid_json")

    def raw_exchange(self, payload, shutdown_write=False):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        s.sendall(payload)
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not shutdown_write and b"Connection: close" in b"".join(chunks):
                break
        s.close()
        return b"".join(chunks)

    def test_pipelined_requests_answer_in_order(self):
        self.create("pipe", 2)
        reqs = b""
        for i in range(5):
            body = json.dumps({"vector": [1, i + 1]}).encode()
            reqs += (b"PUT /v1/indexes/pipe/vectors/v%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (i, len(body))) + body
        reqs += b"GET /v1/indexes/pipe/vectors/v4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        out = self.raw_exchange(reqs).decode()
        self.assertEqual(out.count("HTTP/1.1 200 OK"), 6, out)
        import re
        self.assertEqual(re.findall(r'\{"id":"(v\d)"', out), ["v0", "v1", "v2", "v3", "v4", "v4"])

    def test_truncated_and_malformed_http(self):
        self.create("trunc", 2)
        out = self.raw_exchange(b"PUT /v1/indexes/trunc/vectors/t HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"vector\": [1,",
                                shutdown_write=True)
        self.assertIn(b"HTTP/1.1 400", out)
        self.assertError(self.req("GET", "/v1/indexes/trunc/vectors/t"), 404, "vector_not_found")
        out = self.raw_exchange(b"THIS IS NOT HTTP\r\n\r\n", shutdown_write=True)
        self.assertIn(b"400", out)
        # Keep-alive still works on a fresh connection after all that.
        conn = self.srv.connection()
        for _ in range(3):
            self.assertEqual(self.req("GET", "/healthz", conn=conn)[0], 200)
        conn.close()


class TimeoutTest(unittest.TestCase):
    def test_actor_timeout_is_503_with_retry_after(self):
        srv = QuiverServer("--request-timeout-ms", "1")
        try:
            # The create itself may beat or miss the 1 ms deadline; repeating it is safe.
            for _ in range(1000):
                st, _, _ = srv.request("POST", "/v1/indexes", {"name": "slow", "dimension": 64})
                if st in (200, 201):
                    break
                time.sleep(0.005)
            self.assertIn(st, (200, 201))
            rng = random.Random(2)
            items = [{"id": str(i), "vector": [rng.random() for _ in range(64)]} for i in range(3000)]
            st, resp, body = srv.request("POST", "/v1/indexes/slow/vectors", {"items": items})
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"]["code"], "unavailable")
            self.assertEqual(resp.getheader("Retry-After"), "1")
        finally:
            self.assertEqual(srv.stop(), 0)


class ConnectionLimitTest(unittest.TestCase):
    def test_connections_past_the_limit_are_closed_and_the_rest_are_served(self):
        import tempfile
        fd, config = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write("[server]\nmax_connections = 4\n")
        srv = QuiverServer("--config", config)
        health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

        def served(sock):
            try:
                sock.sendall(health)
                return sock.recv(4096).startswith(b"HTTP/1.1 200")
            except (ConnectionResetError, BrokenPipeError):
                return False

        try:
            held = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(4)]
            for s in held:
                self.assertTrue(served(s))
            extra = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            self.assertFalse(served(extra))
            extra.close()
            # The refusal is counted; /metrics goes through a held connection.
            held[0].sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            page = b""
            while b"quiver_http_connections_refused_total" not in page or not page.endswith(b"\n"):
                chunk = held[0].recv(65536)
                self.assertTrue(chunk, "the connection closed")
                page += chunk
            self.assertIn(b"\nquiver_http_connections_open 4\n", page)
            self.assertIn(b"\nquiver_http_connections_refused_total 1\n", page)
            # One held connection closes; its slot opens again once the server sees it.
            held.pop().close()
            ok = False
            for _ in range(100):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                ok = served(s)
                if ok:
                    held.append(s)
                    break
                s.close()
                time.sleep(0.05)
            self.assertTrue(ok)
            for s in held:
                self.assertTrue(served(s))
                s.close()
        finally:
            self.assertEqual(srv.stop(), 0)
            os.unlink(config)


class StartupTest(unittest.TestCase):
    def test_refuses_busy_port_and_shared_data_dir(self):
        a = QuiverServer()
        try:
            import subprocess
            from quiver_server import BIN
            busy = subprocess.run([BIN, "--port", str(a.port), "--data-dir", a.data_dir + "-2"],
                                  capture_output=True, timeout=30)
            self.assertNotEqual(busy.returncode, 0)
            shared = subprocess.run([BIN, "--port", "0", "--data-dir", a.data_dir], capture_output=True, timeout=30)
            self.assertNotEqual(shared.returncode, 0)
            self.assertIn(b"in use", shared.stderr + shared.stdout)
            bad = subprocess.run([BIN, "--host", "0.0.0.0", "--port", "0"], capture_output=True, timeout=30)
            self.assertNotEqual(bad.returncode, 0)
            self.assertIn(b"allow_insecure", bad.stderr)
            help_out = subprocess.run([BIN, "--help"], capture_output=True, timeout=30)
            self.assertEqual(help_out.returncode, 0)
            self.assertIn(b"--scheduler-policy", help_out.stdout)
        finally:
            self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    unittest.main()
