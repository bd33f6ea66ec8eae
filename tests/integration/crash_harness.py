"""SIGKILL crash testing: writers keep a ledger of what the server acknowledged,
the server is killed at random moments, restarted, and every acknowledged write
must be there (and every acknowledged delete absent).

The ledger keeps, per id, the set of states the id may be in: one state after an
acknowledged write; after a write whose outcome is unknown (the connection broke
when the server died) both the state before and the state after. A later write
maps every possible state, so nothing needs to be thrown away.
"""
import http.client
import json
import random
import struct
import threading
import time

ABSENT = ("absent",)


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def meta_key(m):
    return None if m is None else json.dumps(m, sort_keys=True)


class Writer:
    """Owns ids "<name>-<n>": no other writer touches them, so per-id order is the
    order of this thread's acknowledged requests."""

    def __init__(self, name, index, dim, ids, seed, deployment):
        self.name, self.index, self.dim = name, index, dim
        self.ids = ["%s-%d" % (name, i) for i in range(ids)]
        self.rng = random.Random(seed)
        self.deployment = deployment
        self.states = {i: {ABSENT} for i in self.ids}
        self.stop_flag = threading.Event()
        self.acked = 0
        self.unknown = 0
        self.errors = []

    # -- state transitions --
    @staticmethod
    def after_upsert(state, vec, meta):
        # metadata absent keeps what is stored (nothing for a new id); {} clears
        if meta is None:
            kept = None if state == ABSENT else state[1]
            return (vec, kept)
        return (vec, meta_key(meta))

    def apply(self, changes, certain):
        for id_, fn in changes:
            new = {fn(s) for s in self.states[id_]}
            self.states[id_] = new if certain else new | self.states[id_]

    def random_vec(self):
        return [round(self.rng.uniform(-10, 10), 3) for _ in range(self.dim)]

    def random_meta(self):
        r = self.rng.random()
        if r < 0.3:
            return None
        if r < 0.45:
            return {}
        return {"n": self.rng.randrange(1000), "w": self.name}

    def one_op(self):
        r = self.rng.random()
        base = "/v1/indexes/%s/vectors" % self.index
        if r < 0.45:
            ids = self.rng.sample(self.ids, self.rng.randint(1, 10))
            items, changes = [], []
            for i in ids:
                vec, meta = self.random_vec(), self.random_meta()
                item = {"id": i, "vector": vec}
                if meta is not None:
                    item["metadata"] = meta
                items.append(item)
                v32 = tuple(f32(x) for x in vec)
                changes.append((i, lambda s, v=v32, m=meta: self.after_upsert(s, v, m)))
            return "POST", base, {"items": items}, changes
        if r < 0.7:
            i = self.rng.choice(self.ids)
            vec, meta = self.random_vec(), self.random_meta()
            body = {"vector": vec}
            if meta is not None:
                body["metadata"] = meta
            v32 = tuple(f32(x) for x in vec)
            return ("PUT", base + "/" + i, body,
                    [(i, lambda s, v=v32, m=meta: self.after_upsert(s, v, m))])
        if r < 0.85:
            ids = self.rng.sample(self.ids, self.rng.randint(1, 5))
            return "POST", base + "/delete", {"ids": ids}, [(i, lambda s: ABSENT) for i in ids]
        i = self.rng.choice(self.ids)
        return "DELETE", base + "/" + i, None, [(i, lambda s: ABSENT)]

    def run(self):
        conn = None
        while not self.stop_flag.is_set():
            if self.errors:
                break
            method, path, body, changes = self.one_op()
            status = None
            try:
                if conn is None:
                    conn = self.deployment.connection()
                data = json.dumps(body) if body is not None else None
                conn.request(method, path, body=data,
                             headers={"Content-Type": "application/json"} if data else {})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
            if status == 200:
                self.apply(changes, certain=True)
                self.acked += 1
            elif status is not None and 400 <= status < 500:
                self.errors.append("%s %s -> %d" % (method, path, status))
            else:
                # 503 or a broken connection: it may or may not have been applied
                self.apply(changes, certain=False)
                self.unknown += 1
        if conn is not None:
            conn.close()

    def verify(self, deployment):
        """Returns a list of problems (empty: every acknowledged write is there)."""
        problems = []
        conn = deployment.connection()
        for i in self.ids:
            conn.request("GET", "/v1/indexes/%s/vectors/%s" % (self.index, i))
            resp = conn.getresponse()
            body = json.loads(resp.read())
            if resp.status == 404 and body["error"]["code"] == "vector_not_found":
                got = ABSENT
            elif resp.status == 200:
                got = (tuple(f32(x) for x in body["vector"]), meta_key(body["metadata"]))
            else:
                problems.append("%s: GET answered %d %s" % (i, resp.status, body))
                continue
            if got not in self.states[i]:
                problems.append("%s: found %s, expected one of %s" % (i, got, self.states[i]))
            # What the server holds now is the truth from here on.
            self.states[i] = {got}
        conn.close()
        return problems


def wait_ready(deployment, timeout=60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            conn = deployment.connection()
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            last = resp.read()
            conn.close()
            if resp.status == 200:
                return
        except (OSError, http.client.HTTPException) as e:
            last = str(e)
        time.sleep(0.05)
    raise AssertionError("not ready within %d s: %s" % (timeout, last))


def crash_loop(test, deployment, kills, index="crash", dim=8, shards=2, writers=4, ids=40,
               seed=1234, kill_target=None):
    """Runs `kills` kill/restart cycles under load and verifies after each.
    `kill_target(rng)` names the process to kill (multi-process deployments)."""
    rng = random.Random(seed)
    status, _, body = deployment.request(
        "POST", "/v1/indexes",
        {"name": index, "dimension": dim, "distance": "euclidean", "shards": shards})
    test.assertEqual(status, 201, body)
    ws = [Writer("w%d" % k, index, dim, ids, seed + k, deployment) for k in range(writers)]
    total_acked = 0
    for kill in range(kills):
        for w in ws:
            w.stop_flag.clear()
        threads = [threading.Thread(target=w.run, daemon=True) for w in ws]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.15, 0.9))
        target = kill_target(rng) if kill_target else None
        deployment.kill(target)
        for w in ws:
            w.stop_flag.set()
        for t in threads:
            t.join(timeout=60)
            test.assertFalse(t.is_alive(), "a writer hung")
        deployment.restart(target)
        wait_ready(deployment)
        test.assertEqual([e for w in ws for e in w.errors], [])
        problems = [p for w in ws for p in w.verify(deployment)]
        test.assertEqual(problems, [], "after kill %d:\n%s" % (kill, "\n".join(problems[:20])))
        total_acked = sum(w.acked for w in ws)
    test.assertGreater(total_acked, kills * 5, "too few writes were acknowledged to prove anything")
    return ws
