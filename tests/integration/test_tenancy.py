"""Multi-tenancy (API.md "Auth and tenants", "Admin"): keys, isolation, quotas,
rate limits, rotation and revocation, restart; against real daemons with auth on."""
import json
import os
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import MODE, QuiverServer  # noqa: E402

ADMIN_KEY = "it-admin-key-0123456789"


def enc(s):
    return urllib.parse.quote(s, safe="")


def auth_config(extra=""):
    """A config file that turns auth on (every daemon gets it in three-process mode)."""
    fd, path = tempfile.mkstemp(prefix="quiver-auth-", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write('[auth]\nadmin_key = "%s"\n%s' % (ADMIN_KEY, extra))
    return path


class Client:
    def __init__(self, srv, key):
        self.srv, self.key = srv, key

    def __call__(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.key} if self.key else {}
        return self.srv.request(method, path, body, headers=headers)


class TenantServer(unittest.TestCase):
    @classmethod
    def start(cls, data_dir=None):
        cls.config = cls.__dict__.get("config") or auth_config()
        cls.srv = QuiverServer("--config", cls.config, data_dir=data_dir)
        cls.admin = Client(cls.srv, ADMIN_KEY)

    @classmethod
    def setUpClass(cls):
        cls.start()

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.stop()
        os.unlink(cls.config)
        assert code == 0, "did not shut down cleanly: %s\n%s" % (code, cls.srv.read_log())

    def tenant(self, name, **quotas):
        body = {"name": name}
        if quotas:
            body["quotas"] = quotas
        st, _, out = self.admin("POST", "/v1/admin/tenants", body)
        self.assertEqual(st, 201, out)
        self.assertEqual(out["name"], name)
        self.assertGreaterEqual(len(out["api_key"]), 32)
        return Client(self.srv, out["api_key"])

    def usage(self, name):
        st, _, out = self.admin("GET", "/v1/admin/tenants/" + name)
        self.assertEqual(st, 200, out)
        return out["usage"]

    def assertError(self, result, status, code=None):
        st, resp, body = result
        self.assertEqual(st, status, body)
        if code:
            self.assertEqual(body["error"]["code"], code, body)
        return resp

    def ok(self, result, status=200):
        st, _, body = result
        self.assertEqual(st, status, body)
        return body


class AuthTest(TenantServer):
    def test_keys_are_required_and_scoped(self):
        t = self.tenant("auth-t")
        nobody = Client(self.srv, None)
        wrong = Client(self.srv, "qk_" + "0" * 48)
        for c in (nobody, wrong):
            self.assertError(c("GET", "/v1/indexes"), 401, "unauthenticated")
            self.assertError(c("POST", "/v1/indexes", {"name": "x", "dimension": 2}), 401)
            self.assertError(c("GET", "/v1/admin/tenants"), 401)
            self.assertError(c("GET", "/metrics"), 401)
        # A malformed header is no key either.
        st, _, _ = self.srv.request("GET", "/v1/indexes", headers={"Authorization": "Basic " + ADMIN_KEY})
        self.assertEqual(st, 401)
        # Health needs no key; readiness does not tell index names to strangers.
        self.assertEqual(self.ok(nobody("GET", "/healthz")), {"status": "ok"})
        self.assertIn("/v1/indexes", self.ok(nobody("GET", "/openapi.json"))["paths"])
        self.ok(t("POST", "/v1/indexes", {"name": "hidden-name", "dimension": 2}), 201)
        self.assertNotIn("hidden-name", json.dumps(self.ok(nobody("GET", "/readyz"))))
        # Admin routes need the admin key; index routes a tenant's.
        self.assertError(t("GET", "/v1/admin/tenants"), 403, "forbidden")
        self.assertError(t("POST", "/v1/admin/tenants", {"name": "evil"}), 403)
        self.assertError(t("GET", "/metrics"), 403)
        self.assertError(self.admin("GET", "/v1/indexes"), 403, "forbidden")
        self.ok(self.admin("GET", "/metrics"))
        # Admin input is validated; a taken name is a conflict.
        self.assertError(self.admin("POST", "/v1/admin/tenants", {"name": "../evil"}), 400)
        self.assertError(self.admin("POST", "/v1/admin/tenants", {"name": "x", "quotas": {"max_vectors": -1}}), 400)
        self.assertError(self.admin("POST", "/v1/admin/tenants", {"name": "x", "quotas": {"bogus": 1}}), 400)
        self.assertError(self.admin("POST", "/v1/admin/tenants", {"name": "auth-t"}), 409, "tenant_exists")
        self.assertError(self.admin("GET", "/v1/admin/tenants/nobody"), 404)
        self.assertError(self.admin("DELETE", "/v1/admin/tenants/nobody"), 404)
        self.assertError(self.admin("POST", "/v1/admin/tenants/nobody/keys"), 404)
        names = [x["name"] for x in self.ok(self.admin("GET", "/v1/admin/tenants"))["tenants"]]
        self.assertIn("auth-t", names)

    def test_admin_metrics_show_every_tenants_indexes(self):
        a, b = self.tenant("met-a"), self.tenant("met-b")
        self.ok(a("POST", "/v1/indexes", {"name": "ia", "dimension": 2}), 201)
        self.ok(b("POST", "/v1/indexes", {"name": "ib", "dimension": 2}), 201)
        self.ok(b("PUT", "/v1/indexes/ib/vectors/x", {"vector": [1, 2]}))
        st, _, text = self.admin("GET", "/metrics")
        self.assertEqual(st, 200)
        text = text.decode()
        self.assertIn('quiver_index_vectors{tenant="met-a",index="ia"} 0', text)
        self.assertIn('quiver_index_vectors{tenant="met-b",index="ib"} 1', text)
        self.assertIn('quiver_index_ready{tenant="met-b",index="ib"} 1', text)

    def test_rotation_and_revocation_apply_at_once(self):
        t = self.tenant("rot")
        self.ok(t("POST", "/v1/indexes", {"name": "p", "dimension": 2}), 201)
        self.ok(t("PUT", "/v1/indexes/p/vectors/a", {"vector": [1, 2]}))
        st, _, out = self.admin("POST", "/v1/admin/tenants/rot/keys")
        self.assertEqual(st, 200, out)
        fresh = Client(self.srv, out["api_key"])
        self.assertNotEqual(fresh.key, t.key)
        self.assertError(t("GET", "/v1/indexes/p"), 401)  # the old key is dead at once
        self.assertEqual(self.ok(fresh("GET", "/v1/indexes/p/vectors/a"))["vector"], [1, 2])
        # Deleting the tenant revokes its key and removes its indexes and files.
        tenant_dir = os.path.join(self.srv.data_dir, *(["storaged"] if MODE != "standalone" else []),
                                  "indexes", "rot")
        self.assertTrue(os.path.isdir(tenant_dir))
        self.ok(self.admin("DELETE", "/v1/admin/tenants/rot"))
        self.assertError(fresh("GET", "/v1/indexes"), 401)
        self.assertFalse(os.path.exists(tenant_dir))
        again = self.tenant("rot")
        self.assertEqual(self.ok(again("GET", "/v1/indexes"))["indexes"], [])


class IsolationTest(TenantServer):
    """As tenant B, try every route against tenant A's names, ids and merge sources."""

    def snapshot_of(self, client):
        out = {}
        for d in self.ok(client("GET", "/v1/indexes"))["indexes"]:
            ids = self.ok(client("GET", "/v1/indexes/%s/ids?limit=10000" % d["name"]))["ids"]
            out[d["name"]] = {i: self.ok(client("GET", "/v1/indexes/%s/vectors/%s" % (d["name"], enc(i))))
                              for i in ids}
        return out

    def test_tenant_b_cannot_reach_tenant_a(self):
        a = self.tenant("iso-a")
        b = self.tenant("iso-b")
        for name in ("products", "secret"):
            self.ok(a("POST", "/v1/indexes", {"name": name, "dimension": 3}), 201)
            self.ok(a("POST", "/v1/indexes/%s/vectors" % name, {"items": [
                {"id": "a1", "vector": [1, 0, 0], "metadata": {"owner": "a"}},
                {"id": "a/2", "vector": [0, 1, 0]}]}))
        # B owns a "products" of its own: same name, other index.
        self.ok(b("POST", "/v1/indexes", {"name": "products", "dimension": 3}), 201)
        self.ok(b("PUT", "/v1/indexes/products/vectors/b1", {"vector": [0, 0, 1]}))
        before = self.snapshot_of(a)

        self.assertEqual([d["name"] for d in self.ok(b("GET", "/v1/indexes"))["indexes"]], ["products"])
        self.assertEqual(self.ok(b("GET", "/v1/indexes/products"))["count"], 1)
        self.assertError(b("GET", "/v1/indexes/products/vectors/a1"), 404, "vector_not_found")
        hits = self.ok(b("POST", "/v1/indexes/products/search", {"vector": [1, 0, 0], "k": 10}))["results"]
        self.assertEqual([h["id"] for h in hits], ["b1"])
        self.assertEqual(self.ok(b("GET", "/v1/indexes/products/ids"))["ids"], ["b1"])

        names = ["secret", "iso-a", "iso-a/secret", "../iso-a/secret", "..", ".", "%2e%2e",
                 "iso-a%2Fsecret", "..%2F..%2Fiso-a%2Fsecret", "secret%00", "secret\x00",
                 "x" * 5000, "SECRET", "secret/"]
        attempts = []
        for n in names:
            p = "/v1/indexes/" + (n if "%" in n else enc(n))
            attempts += [
                ("GET", p, None), ("DELETE", p, None),
                ("GET", p + "/vectors/a1", None), ("DELETE", p + "/vectors/a1", None),
                ("PUT", p + "/vectors/a1", {"vector": [9, 9, 9]}),
                ("POST", p + "/vectors", {"items": [{"id": "a1", "vector": [9, 9, 9]}]}),
                ("POST", p + "/vectors/delete", {"ids": ["a1", "a/2"]}),
                ("GET", p + "/ids", None),
                ("POST", p + "/search", {"vector": [1, 0, 0], "k": 5}),
                ("POST", p + "/search/batch", {"queries": [{"vector": [1, 0, 0], "k": 5}]}),
                ("POST", p + "/merge", {"source": "products"}),
                ("POST", "/v1/indexes/products/merge", {"source": n}),
                ("POST", "/v1/indexes/products/merge", {"source": n, "delete_source": True}),
            ]
        for method, path, body in attempts:
            st, _, out = b(method, path, body)
            self.assertIn(st, (400, 404), "%s %s -> %s %s" % (method, path[:80], st, out))
        # B's own index saw none of A's data; A's indexes are exactly as before.
        self.assertEqual(self.ok(b("GET", "/v1/indexes/products/ids"))["ids"], ["b1"])
        self.assertEqual(self.snapshot_of(a), before)
        # Ids are data, never paths: a crafted id stays in B's index.
        self.ok(b("PUT", "/v1/indexes/products/vectors/" + enc("../../iso-a/secret@1/0"), {"vector": [1, 1, 1]}))
        self.assertEqual(self.snapshot_of(a), before)
        root = os.path.join(self.srv.data_dir, *(["storaged"] if MODE != "standalone" else []), "indexes")
        self.assertEqual(sorted(os.listdir(root)), ["iso-a", "iso-b"])
        for entry in os.listdir(os.path.join(root, "iso-b")):
            self.assertTrue(entry.startswith("products@"), entry)
        # Deleting B leaves A alone.
        self.ok(self.admin("DELETE", "/v1/admin/tenants/iso-b"))
        self.assertEqual(self.snapshot_of(a), before)


class QuotaTest(TenantServer):
    def test_vector_quota_boundary_and_whole_batch_rejection(self):
        t = self.tenant("qv", max_vectors=5)
        self.ok(t("POST", "/v1/indexes", {"name": "p", "dimension": 2}), 201)
        self.ok(t("POST", "/v1/indexes/p/vectors", {"items": [
            {"id": str(i), "vector": [i + 1, 1]} for i in range(5)]}))  # exactly at the limit
        err = self.assertError(t("PUT", "/v1/indexes/p/vectors/new", {"vector": [1, 1]}), 429, "quota_exceeded")
        self.assertIsNone(err.getheader("Retry-After"))
        # Replacing at the limit adds nothing and is allowed.
        self.ok(t("PUT", "/v1/indexes/p/vectors/0", {"vector": [7, 7]}))
        # A batch crossing the limit is rejected whole: its replace is not applied either.
        self.assertError(t("POST", "/v1/indexes/p/vectors", {"items": [
            {"id": "1", "vector": [8, 8]}, {"id": "new", "vector": [1, 2]}]}), 429, "quota_exceeded")
        self.assertEqual(self.ok(t("GET", "/v1/indexes/p/vectors/1"))["vector"], [2, 1])
        self.assertEqual(self.ok(t("GET", "/v1/indexes/p"))["count"], 5)
        self.assertEqual(self.usage("qv")["vectors"], 5)
        # A delete makes room; the quota spans the tenant's indexes.
        self.ok(t("DELETE", "/v1/indexes/p/vectors/4"))
        self.ok(t("POST", "/v1/indexes", {"name": "q", "dimension": 2}), 201)
        self.ok(t("PUT", "/v1/indexes/q/vectors/x", {"vector": [1, 1]}))
        self.assertError(t("PUT", "/v1/indexes/p/vectors/y", {"vector": [1, 1]}), 429, "quota_exceeded")
        # Dropping an index frees its usage, once its shards' actors have ended, which
        # may be a moment after the drop is acknowledged.
        self.ok(t("DELETE", "/v1/indexes/q"))
        for _ in range(100):
            if self.usage("qv")["vectors"] == 4:
                break
            time.sleep(0.05)
        self.assertEqual(self.usage("qv")["vectors"], 4)
        self.ok(t("PUT", "/v1/indexes/p/vectors/y", {"vector": [1, 1]}))

    def test_byte_and_index_quotas(self):
        t = self.tenant("qb", max_bytes=48, max_indexes=2)  # 48 bytes: three 4-d vectors
        self.ok(t("POST", "/v1/indexes", {"name": "p", "dimension": 4}), 201)
        for i in range(3):
            self.ok(t("PUT", "/v1/indexes/p/vectors/%d" % i, {"vector": [1, 2, 3, i + 1]}))
        self.assertEqual(self.usage("qb")["bytes"], 48)
        self.assertError(t("PUT", "/v1/indexes/p/vectors/3", {"vector": [1, 1, 1, 1]}), 429, "quota_exceeded")
        # Metadata counts too: adding some to a stored vector is growth.
        self.assertError(t("PUT", "/v1/indexes/p/vectors/0", {"vector": [1, 1, 1, 1], "metadata": {"x": 1}}),
                         429, "quota_exceeded")
        self.ok(t("PUT", "/v1/indexes/p/vectors/0", {"vector": [1, 1, 1, 1]}))  # metadata kept (none)
        self.assertIsNone(self.ok(t("GET", "/v1/indexes/p/vectors/0"))["metadata"])
        self.ok(t("POST", "/v1/indexes", {"name": "q", "dimension": 2}), 201)
        self.assertError(t("POST", "/v1/indexes", {"name": "r", "dimension": 2}), 429, "quota_exceeded")
        self.ok(t("POST", "/v1/indexes", {"name": "q", "dimension": 2}), 200)  # idempotent re-create
        self.assertEqual(self.usage("qb")["indexes"], 2)

    def test_rate_limit_answers_429_with_retry_after(self):
        slow = self.tenant("rl", max_requests_per_s=5)
        other = self.tenant("rl-other")
        self.assertEqual([slow("GET", "/v1/indexes")[0] for _ in range(5)], [200] * 5)  # the burst
        started = time.monotonic()
        resp = self.assertError(slow("GET", "/v1/indexes"), 429, "rate_limited")
        # Held until a token would be there (1/5 s), so retrying at once cannot flood.
        self.assertGreaterEqual(time.monotonic() - started, 0.15)
        self.assertGreaterEqual(int(resp.getheader("Retry-After")), 1)
        self.assertEqual(other("GET", "/v1/indexes")[0], 200)  # per tenant
        # A client retrying at once gets through at about the limit, no faster.
        started, answered = time.monotonic(), 0
        while time.monotonic() - started < 2:
            answered += slow("GET", "/v1/indexes")[0] == 200
        self.assertLessEqual(answered, 5 * 2 + 2)
        self.assertGreaterEqual(answered, 5)
        st, _, text = self.admin("GET", "/metrics")
        line = [x for x in text.decode().splitlines() if x.startswith('quiver_tenant_rate_limited_total{tenant="rl"}')]
        self.assertTrue(line and int(line[0].split()[-1]) >= 1, line)


class AdoptDefaultTest(unittest.TestCase):
    def test_indexes_made_with_auth_off_are_reached_through_a_default_tenant(self):
        srv = QuiverServer()
        try:
            self.assertEqual(srv.request("POST", "/v1/indexes", {"name": "old", "dimension": 2})[0], 201)
            self.assertEqual(srv.request("PUT", "/v1/indexes/old/vectors/a", {"vector": [1, 2]})[0], 200)
            self.assertEqual(srv.stop(), 0)
            config = auth_config()
            self.addCleanup(os.unlink, config)
            srv = QuiverServer("--config", config, data_dir=srv.data_dir)
            self.assertEqual(srv.request("GET", "/v1/indexes/old")[0], 401)
            admin = Client(srv, ADMIN_KEY)
            st, _, out = admin("POST", "/v1/admin/tenants", {"name": "default"})
            self.assertEqual(st, 201, out)
            t = Client(srv, out["api_key"])
            st, _, out = t("GET", "/v1/indexes/old/vectors/a")
            self.assertEqual((st, out["vector"]), (200, [1, 2]), out)
        finally:
            self.assertEqual(srv.stop(), 0)


class RestartTest(TenantServer):
    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def test_restart_keeps_tenants_keys_and_usage(self):
        self.start()
        try:
            t = self.tenant("keep", max_vectors=3)
            self.ok(t("POST", "/v1/indexes", {"name": "p", "dimension": 2}), 201)
            self.ok(t("POST", "/v1/indexes/p/vectors", {"items": [
                {"id": "a", "vector": [1, 0], "metadata": {"m": 1}}, {"id": "b", "vector": [0, 1]}]}))
            usage = self.usage("keep")
            for how in ("SIGTERM", "SIGKILL"):
                if how == "SIGKILL":
                    self.srv.kill()
                else:
                    self.assertEqual(self.srv.stop(), 0)
                data_dir = self.srv.data_dir
                self.start(data_dir)
                t = Client(self.srv, t.key)
                for _ in range(300):  # shards recover after the catalog
                    if self.srv.request("GET", "/readyz")[0] == 200:
                        break
                    time.sleep(0.05)
                self.assertEqual(self.usage("keep"), usage, how)
                self.assertEqual(self.ok(t("GET", "/v1/indexes/p/vectors/a"))["metadata"], {"m": 1})
                self.ok(t("PUT", "/v1/indexes/p/vectors/c", {"vector": [1, 1]}))  # the third fits
                self.assertError(t("PUT", "/v1/indexes/p/vectors/d", {"vector": [1, 1]}), 429, "quota_exceeded")
                self.ok(t("DELETE", "/v1/indexes/p/vectors/c"))
        finally:
            os.unlink(self.config)
            self.assertEqual(self.srv.stop(), 0)


if __name__ == "__main__":
    unittest.main()
