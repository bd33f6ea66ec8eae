"""A small in-memory stand-in for Quiver's REST API (brute-force search), with
switchable faults, so the load harness can be shown to catch wrong answers.

Usage: python3 fake_quiver.py PORT FAULT   (FAULT: none, unsorted, exclude, repeat,
stale, lose, forget). Prints "listening on PORT" once it serves.
"""
import json
import math
import random
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgpack

FAULT = sys.argv[2] if len(sys.argv) > 2 else "none"
LOCK = threading.Lock()
INDEXES = {}  # name -> {"dim": int, "vectors": {id: (vector, metadata)}}
STATS = {"puts": 0, "first_request": None, "forgotten": None}
FORGET_AFTER_S = 2.0


def distance(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    return 1.0 - dot / (na * nb)


def f32(values):
    return [struct.unpack("f", struct.pack("f", x))[0] for x in values]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code):
        self.reply(status, {"error": {"code": code, "message": code, "details": {}}})

    def body(self):
        n = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Type", "").startswith("application/msgpack"):
            return msgpack.unpackb(raw, raw=False)
        return json.loads(raw) if raw else None

    def parts(self):
        path = urllib.parse.urlsplit(self.path).path
        return [urllib.parse.unquote(p) for p in path.strip("/").split("/")]

    def maybe_forget(self):
        """forget: some time into the run, silently drop one stored vector of the
        write index (only the ledger verification can notice)."""
        if STATS["first_request"] is None:
            STATS["first_request"] = time.monotonic()
        if FAULT != "forget" or STATS["forgotten"] is not None:
            return
        if time.monotonic() - STATS["first_request"] < FORGET_AFTER_S:
            return
        for name, ix in INDEXES.items():
            if name.endswith("_live") and ix["vectors"]:
                victim = sorted(ix["vectors"])[0]
                del ix["vectors"][victim]
                STATS["forgotten"] = victim
                return

    def do_GET(self):
        with LOCK:
            self.maybe_forget()
            p = self.parts()
            if p == ["readyz"] or p == ["healthz"]:
                return self.reply(200, {"status": "ok"})
            if len(p) == 3 and p[:2] == ["v1", "indexes"]:
                ix = INDEXES.get(p[2])
                if not ix:
                    return self.error(404, "index_not_found")
                return self.reply(200, {"name": p[2], "dimension": ix["dim"], "count": len(ix["vectors"])})
            if len(p) == 5 and p[3] == "vectors":
                ix = INDEXES.get(p[2])
                if not ix:
                    return self.error(404, "index_not_found")
                if p[4] not in ix["vectors"]:
                    return self.error(404, "vector_not_found")
                v, m = ix["vectors"][p[4]]
                return self.reply(200, {"id": p[4], "vector": v, "metadata": m})
            self.error(404, "not_found")

    def do_DELETE(self):
        with LOCK:
            self.maybe_forget()
            p = self.parts()
            if len(p) == 3:
                INDEXES.pop(p[2], None)
                return self.reply(200, {"deleted": True})
            ix = INDEXES.get(p[2])
            if not ix:
                return self.error(404, "index_not_found")
            existed = ix["vectors"].pop(p[4], None) is not None
            if FAULT == "stale" and existed:
                ix.setdefault("ghosts", set()).add(p[4])
            return self.reply(200, {"deleted": existed})

    def do_PUT(self):
        with LOCK:
            self.maybe_forget()
            p = self.parts()
            ix = INDEXES.get(p[2])
            if not ix:
                return self.error(404, "index_not_found")
            b = self.body()
            STATS["puts"] += 1
            if FAULT == "lose" and STATS["puts"] % 7 == 0:
                return self.reply(200, {"id": p[4], "seq": STATS["puts"]})  # acked, not stored
            ix["vectors"][p[4]] = (f32(b["vector"]), b.get("metadata"))
            ix.get("ghosts", set()).discard(p[4])
            self.reply(200, {"id": p[4], "seq": STATS["puts"]})

    def do_POST(self):
        with LOCK:
            self.maybe_forget()
            p = self.parts()
            b = self.body()
            if p == ["v1", "indexes"]:
                if b["name"] in INDEXES:
                    return self.reply(200, {"name": b["name"]})
                INDEXES[b["name"]] = {"dim": b["dimension"], "vectors": {}}
                return self.reply(201, {"name": b["name"]})
            ix = INDEXES.get(p[2])
            if not ix:
                return self.error(404, "index_not_found")
            if p[3:] == ["vectors"]:
                for item in b["items"]:
                    v = item["vector"]
                    if isinstance(v, bytes):
                        v = list(struct.unpack("%df" % (len(v) // 4), v))
                    ix["vectors"][item["id"]] = (f32(v), item.get("metadata"))
                return self.reply(200, {"upserted": len(b["items"])})
            if p[3:] == ["search"]:
                return self.search(ix, b)
            self.error(404, "not_found")

    def search(self, ix, b):
        exclude = set(b.get("exclude_ids", []))
        if FAULT == "exclude":
            exclude = set()
        scored = []
        for i, (v, m) in ix["vectors"].items():
            if i not in exclude:
                scored.append((distance(b["vector"], v), i, m))
        for g in ix.get("ghosts", ()):
            scored.append((0.5, g, None))
        scored.sort(key=lambda t: (t[0], t[1]))
        top = scored[: b["k"]]
        if FAULT == "unsorted" and len(top) > 2:
            top[0], top[-1] = top[-1], top[0]
        if FAULT == "repeat" and len(top) > 2 and random.random() < 0.5:
            top = top[:-1] + [scored[b["k"]]] if len(scored) > b["k"] else top[:-1]
        results = []
        for d, i, m in top:
            r = {"id": i, "distance": d}
            if b.get("include_metadata", True):
                r["metadata"] = m
            results.append(r)
        self.reply(200, {"results": results, "took_ms": 0})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("listening on %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
