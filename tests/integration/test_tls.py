"""HTTPS on the gateway ([tls] cert, key, client_ca), checked with curl against
certificates this test makes with openssl: server authentication, mutual TLS, no
plain HTTP on a TLS port, and clear start-up errors for bad files."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import BIN, QuiverServer  # noqa: E402


def run(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def make_ca(dir, name):
    key, cert = os.path.join(dir, name + ".key"), os.path.join(dir, name + ".pem")
    r = run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=" + name, "-keyout", key, "-out", cert)
    assert r.returncode == 0, r.stderr
    return key, cert


def make_signed(dir, name, ca_key, ca_cert, ip=None):
    key, csr, cert = (os.path.join(dir, name + ext) for ext in (".key", ".csr", ".pem"))
    r = run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
            "-keyout", key, "-out", csr)
    assert r.returncode == 0, r.stderr
    ext = os.path.join(dir, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s\n" % ip if ip else "extendedKeyUsage=clientAuth\n")
    r = run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert)
    assert r.returncode == 0, r.stderr
    return key, cert


@unittest.skipUnless(shutil.which("openssl") and shutil.which("curl"), "needs openssl and curl")
class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="quiver-tls-")
        cls.ca_key, cls.ca = make_ca(cls.dir, "test-ca")
        cls.key, cls.cert = make_signed(cls.dir, "server", cls.ca_key, cls.ca, ip="127.0.0.1")
        cls.client_key, cls.client_cert = make_signed(cls.dir, "client", cls.ca_key, cls.ca)
        cls.other_ca_key, cls.other_ca = make_ca(cls.dir, "other-ca")
        cls.stranger_key, cls.stranger_cert = make_signed(cls.dir, "stranger", cls.other_ca_key,
                                                          cls.other_ca)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def config(self, **tls):
        path = os.path.join(self.dir, "tls-%d.toml" % len(os.listdir(self.dir)))
        with open(path, "w") as f:
            f.write("[tls]\n" + "".join('%s = "%s"\n' % kv for kv in tls.items()))
        return path

    def curl(self, srv, path, *args, scheme="https", data=None):
        argv = ["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", *args]
        if data is not None:
            argv += ["-H", "Content-Type: application/json", "-d", json.dumps(data)]
        r = run(*argv, "%s://127.0.0.1:%d%s" % (scheme, srv.port, path))
        if r.returncode != 0:
            return None, r.stderr
        body, _, code = r.stdout.rpartition("\n")
        return int(code), body

    def test_https_with_a_ca_the_client_trusts(self):
        srv = QuiverServer("--config", self.config(cert=self.cert, key=self.key))
        try:
            self.assertIn("listening on https://", srv.read_log())
            self.assertEqual(self.curl(srv, "/healthz", "--cacert", self.ca), (200, '{"status":"ok"}'))
            st, body = self.curl(srv, "/v1/indexes", "--cacert", self.ca, data={"name": "t", "dimension": 2})
            self.assertEqual(st, 201, body)
            # A client that does not trust the CA refuses the server; plain HTTP gets nothing.
            code, err = self.curl(srv, "/healthz")
            self.assertIsNone(code)
            self.assertIn("certificate", err.lower())
            code, _ = self.curl(srv, "/healthz", scheme="http")
            self.assertIsNone(code)
            # The server still serves after those.
            self.assertEqual(self.curl(srv, "/v1/indexes/t", "--cacert", self.ca)[0], 200)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_mutual_tls_needs_a_client_certificate_the_ca_signed(self):
        srv = QuiverServer("--config", self.config(cert=self.cert, key=self.key, client_ca=self.ca))
        try:
            ok = ("--cacert", self.ca, "--cert", self.client_cert, "--key", self.client_key)
            self.assertEqual(self.curl(srv, "/healthz", *ok)[0], 200)
            self.assertIsNone(self.curl(srv, "/healthz", "--cacert", self.ca)[0])
            stranger = ("--cacert", self.ca, "--cert", self.stranger_cert, "--key", self.stranger_key)
            self.assertIsNone(self.curl(srv, "/healthz", *stranger)[0])
            self.assertEqual(self.curl(srv, "/healthz", *ok)[0], 200)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_bad_tls_settings_stop_the_start_with_a_clear_message(self):
        data = tempfile.mkdtemp(prefix="quiver-tls-data-")
        cases = [
            (self.config(cert=self.cert), "tls.cert and tls.key go together"),
            (self.config(cert=os.path.join(self.dir, "missing.pem"), key=self.key), "tls.cert"),
            (self.config(cert=self.cert, key=self.other_ca_key), "tls.key"),
            (self.config(cert=self.cert, key=self.key, client_ca=os.path.join(self.dir, "nope")),
             "tls.client_ca"),
        ]
        for config, message in cases:
            r = run(BIN, "--port", "0", "--data-dir", data, "--config", config)
            self.assertNotEqual(r.returncode, 0, config)
            self.assertIn(message, r.stdout + r.stderr)
        shutil.rmtree(data, ignore_errors=True)

    def test_a_public_address_without_tls_warns_loudly(self):
        # A non-loopback address, on the loopback device of a network namespace
        # of this test's own (TEST-NET-1, nothing is sent to it).
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
            self.skipTest("needs root, unshare and ip")
        data = tempfile.mkdtemp(prefix="quiver-tls-data-")
        config = os.path.join(self.dir, "public.toml")
        with open(config, "w") as f:
            f.write('[auth]\nadmin_key = "admin-key-0123456789"\n')
        log = os.path.join(data, "server.log")
        script = ("ip link set lo up && ip addr add 192.0.2.10/32 dev lo && "
                  "exec %s --host 192.0.2.10 --port 0 --data-dir %s --config %s" % (BIN, data, config))
        with open(log, "w") as out:
            proc = subprocess.Popen(["unshare", "--net", "sh", "-c", script], stdout=out,
                                    stderr=subprocess.STDOUT)
        try:
            text, deadline = "", time.monotonic() + 30
            while "listening on" not in text and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                with open(log) as f:
                    text = f.read()
            self.assertIn("listening on http://192.0.2.10:", text)
            self.assertIn("WITHOUT TLS", text)
        finally:
            proc.kill()
            proc.wait()
            shutil.rmtree(data, ignore_errors=True)

if __name__ == "__main__":
    unittest.main()
