"""The status page (GET /ui) in headless Chromium: a standalone, the same with
auth on (no key, then the admin key), and a 3-node cluster with a node down.
Each is screenshotted (PNG, checked to be a real picture) and its rendered DOM
checked for the expected text."""
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import QuiverServer  # noqa: E402
import test_cluster  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ADMIN_KEY = "ui-admin-key-0123456789"
SHOTS = os.environ.get("QUIVER_UI_SCREENSHOTS") or tempfile.mkdtemp(prefix="quiver-ui-")
os.makedirs(SHOTS, exist_ok=True)


def browser(url, *args):
    """Chromium, headless, with time for the page's fetches and one refresh."""
    if not CHROMIUM:
        raise AssertionError("chromium is not installed (scripts/setup installs it)")
    profile = tempfile.mkdtemp(prefix="quiver-ui-profile-")
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + profile,
                            "--virtual-time-budget=6000", *args, url],
                           capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return p


def page_text(url):
    p = browser(url, "--dump-dom")
    dom = p.stdout.decode("utf-8", "replace")
    body = dom[dom.find("<body"):dom.find("<script")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&quot;", '"')


def png_colours(path):
    """Distinct colours in a PNG (8-bit RGB or RGBA, as Chromium writes them)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, width, height, depth, ctype = 8, b"", 0, 0, 0, 0
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        kind, chunk = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        at += 12 + n
    assert depth == 8 and ctype in (2, 6), (depth, ctype)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 8 == 0:
            for x in range(0, width, 4):
                colours.add(bytes(line[x * bpp:x * bpp + 3]))
        prev = line
    return width, height, len(colours)


class UiTest(unittest.TestCase):
    def screenshot(self, url, name):
        path = os.path.join(SHOTS, name + ".png")
        if os.path.exists(path):
            os.unlink(path)
        p = browser(url, "--screenshot=" + path, "--window-size=1280,1000",
                    "--hide-scrollbars")
        self.assertTrue(os.path.exists(path), p.stderr.decode()[-2000:])
        width, height, colours = png_colours(path)
        self.assertEqual((width, height), (1280, 1000))
        self.assertGreater(colours, 8, "a blank page")
        print("\nscreenshot: %s" % path)

    def test_standalone(self):
        srv = QuiverServer()
        try:
            srv.request("POST", "/v1/indexes", {"name": "docs", "dimension": 4, "shards": 2})
            rng = random.Random(1)
            items = [{"id": "d%d" % i, "vector": [rng.uniform(-1, 1) for _ in range(4)]}
                     for i in range(1234)]
            self.assertEqual(srv.request("POST", "/v1/indexes/docs/vectors", {"items": items})[0], 200)
            st, resp, body = srv.request("GET", "/ui")
            self.assertEqual(st, 200)
            self.assertTrue(resp.getheader("Content-Type").startswith("text/html"))
            self.assertIn("default-src 'none'", resp.getheader("Content-Security-Policy"))
            url = "http://127.0.0.1:%d/ui" % srv.port
            text = page_text(url)
            for want in ("single node", "docs", "1,234", "ready", 'tenant "default"',
                         "every shard serves"):
                self.assertIn(want, text)
            self.screenshot(url, "standalone")
        finally:
            srv.stop()

    def test_auth_on_needs_the_admin_key(self):
        fd, config = tempfile.mkstemp(prefix="quiver-ui-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write('[auth]\nadmin_key = "%s"\n' % ADMIN_KEY)
        srv = QuiverServer("--config", config)
        try:
            admin = {"Authorization": "Bearer " + ADMIN_KEY}
            st, _, t = srv.request("POST", "/v1/admin/tenants", {"name": "acme"}, headers=admin)
            self.assertEqual(st, 201)
            key = {"Authorization": "Bearer " + t["api_key"]}
            srv.request("POST", "/v1/indexes", {"name": "secret-index", "dimension": 3}, headers=key)
            url = "http://127.0.0.1:%d/ui" % srv.port
            text = page_text(url)
            self.assertIn("enter the admin key", text)
            self.assertNotIn("secret-index", text)
            text = page_text(url + "#key=" + ADMIN_KEY)
            for want in ("acme", "secret-index", "ready"):
                self.assertIn(want, text)
            self.assertNotIn("enter the admin key", text)
        finally:
            srv.stop()
            os.unlink(config)

    def test_cluster_with_a_node_down(self):
        c = test_cluster.Cluster()
        try:
            st, body = c.request("POST", "/v1/indexes", {"name": "spread", "dimension": 4,
                                                         "shards": 3, "replicas": 2})
            self.assertEqual(st, 201, body)
            c.wait(test_cluster.serving("spread", 3, 2), "spread serving")
            c.vectords["vectord-3"].kill()
            c.wait(lambda m: any(n["name"] == "vectord-3" and n["status"] == "down"
                                 for n in m["nodes"]), "vectord-3 down")
            url = "http://127.0.0.1:%d/ui" % c.gateways[0].port
            text = page_text(url)
            self.assertIn("cluster", text)
            self.assertRegex(text, r"vectord-3 \S+ \S+ down")
            self.assertRegex(text, r"vectord-1 \S+ \S+ up")
            self.assertIn("nodes down 1", text)
            self.assertIn("default/spread/0", text)
            self.screenshot(url, "cluster-node-down")
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main()
