"""Mutual TLS between daemons ([peer_tls] / --peer-cert, --peer-key, --peer-ca)
and HTTPS to etcd ([etcd] ca, cert, key).

The whole loopback cluster (storaged + coordinator, three vectord, two gatewayd)
runs the cluster suite with every CAF connection over TLS, and the etcd cluster
suite with etcd's members requiring the cluster's certificate from clients and
from each other. A process without the
cluster's credentials gets nothing from any daemon: peer_probe connects as a
daemon would (plain TCP; TLS with a certificate another CA signed, trusting
that CA or the cluster's) and gets no actor, and a TLS client without a
certificate reads not one byte; with the cluster's credentials the same probe
gets the catalog and the same client reads CAF's handshake, so the refusals are
the credentials', not the clients'. A daemon serving a non-loopback address
without peer TLS refuses to start; bad files are said at start."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import test_cluster
import test_cluster_etcd
from test_cluster import SLOW, Cluster

PROBE = os.path.join(test_cluster.BINDIR, "peer_probe")


def run(*argv, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def make_ca(dir, name):
    key, cert = os.path.join(dir, name + ".key"), os.path.join(dir, name + ".pem")
    r = run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=" + name, "-keyout", key, "-out", cert)
    assert r.returncode == 0, r.stderr
    return key, cert


def make_signed(dir, name, ca_key, ca_cert, ips=("127.0.0.1",)):
    """A daemon's or etcd member's certificate: it serves (on `ips`) and
    connects, so both key usages."""
    key, csr, cert = (os.path.join(dir, name + ext) for ext in (".key", ".csr", ".pem"))
    r = run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=" + name, "-keyout", key, "-out", csr)
    assert r.returncode == 0, r.stderr
    ext = os.path.join(dir, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n"
                % ",".join("IP:" + ip for ip in ips))
    r = run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert)
    assert r.returncode == 0, r.stderr
    return key, cert


class Credentials:
    """The cluster's CA and one certificate for every daemon (serving on `ips`),
    and a stranger's from another CA."""

    def __init__(self, ips=("127.0.0.1",)):
        self.dir = tempfile.mkdtemp(prefix="quiver-peer-tls-")
        self.ca_key, self.ca = make_ca(self.dir, "cluster-ca")
        self.key, self.cert = make_signed(self.dir, "node", self.ca_key, self.ca, ips)
        other_key, self.other_ca = make_ca(self.dir, "other-ca")
        self.stranger_key, self.stranger_cert = make_signed(self.dir, "stranger", other_key,
                                                            self.other_ca)

    def args(self):
        return ["--peer-cert", self.cert, "--peer-key", self.key, "--peer-ca", self.ca]


@unittest.skipUnless(shutil.which("openssl"), "needs openssl")
class PeerTlsClusterTest(test_cluster.ClusterTest):  # the suite again, over TLS
    """The cluster suite (sharding, replication, a SIGKILL under load and the
    node's return, whose links the gateways re-dial through the tunnel) with
    mutual TLS on every CAF connection."""

    @classmethod
    def setUpClass(cls):
        cls.creds = Credentials()
        cls.c = Cluster(common_args=cls.creds.args())

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.creds.dir, ignore_errors=True)

    def test_0_the_daemons_say_tls(self):
        for p in [self.c.storaged, *self.c.vectords.values()]:
            self.assertIn("peers with mutual TLS only", p.read_log(), p.name)

    def probe(self, port, *mode):
        r = run(PROBE, "127.0.0.1", str(port), *mode, timeout=60 * SLOW)
        return r.returncode, r.stdout + r.stderr

    def read_over_tls(self, port, cert=None, key=None):
        """What a TLS client (trusting the cluster's CA) reads in 2 s: b"" when
        the handshake is refused or nothing comes."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(self.creds.ca)
        if cert:
            ctx.load_cert_chain(cert, key)
        got = b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as raw:
                with ctx.wrap_socket(raw) as s:
                    s.settimeout(2 * SLOW)
                    while len(got) < 64:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        got += chunk
        except (ssl.SSLError, OSError):
            pass
        return got

    def test_3_a_process_without_the_credentials_gets_nothing(self):
        cr = self.creds
        ports = {"storaged": self.c.storaged.port, "coordinator": self.c.coordinator}
        ports.update({name: p.port for name, p in self.c.vectords.items()})
        strangers = {
            "plain TCP": ["plain"],
            "a certificate another CA signed": ["tls", cr.stranger_cert, cr.stranger_key,
                                                cr.other_ca],
            "a foreign certificate that trusts the cluster's CA": ["tls", cr.stranger_cert,
                                                                   cr.stranger_key, cr.ca],
        }
        for daemon, port in ports.items():
            for who, mode in strangers.items():
                rc, out = self.probe(port, *mode)
                self.assertEqual(rc, 3, "%s at %s: %s" % (who, daemon, out))
                self.assertIn("no actor", out)
            self.assertEqual(self.read_over_tls(port), b"",
                             "TLS without a certificate at %s" % daemon)
            self.assertGreater(len(self.read_over_tls(port, cr.cert, cr.key)), 0,
                               "CAF's handshake at %s for the cluster's certificate" % daemon)
            rc, out = self.probe(port, "tls", cr.cert, cr.key, cr.ca)
            self.assertEqual(rc, 0, "the cluster's credentials at %s: %s" % (daemon, out))
        rc, out = self.probe(self.c.storaged.port, "tls", cr.cert, cr.key, cr.ca)
        self.assertRegex(out, r"catalog: \d+ indexes")
        self.assertIn("hello: ok", out)
        rc, out = self.probe(self.c.coordinator, "tls", cr.cert, cr.key, cr.ca)
        self.assertIn("cluster status: cluster, 3 nodes", out)
        # The refused handshakes cost the cluster nothing.
        self.c.wait(lambda m: sum(n["status"] == "up" for n in m["nodes"]) == 3, "nodes up")
        status, _ = self.c.request("GET", "/v1/indexes")
        self.assertEqual(status, 200)


@unittest.skipUnless(shutil.which("openssl"), "needs openssl")
class PeerTlsEtcdClusterTest(test_cluster_etcd.EtcdClusterTest):  # the suite again, over TLS
    """The etcd cluster suite (leases, election, fencing, an etcd member or the
    quorum lost, restarts) with etcd serving HTTPS to clients and members that
    must show the cluster's certificate, and mutual TLS between daemons."""

    @classmethod
    def setUpClass(cls):
        cls.creds = Credentials()
        cls.tls = cls.creds
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.creds.dir, ignore_errors=True)

    def test_0_etcd_answers_only_the_clusters_certificate(self):
        import urllib.request
        port = self.etcd.members[0]["client"]
        req = urllib.request.Request("https://127.0.0.1:%d/v3/kv/range" % port,
                                     data=b'{"key":"L3F0Lw==","range_end":"L3F0MA=="}')
        anonymous = ssl.create_default_context(cafile=self.creds.ca)
        with self.assertRaises(OSError):
            urllib.request.urlopen(req, timeout=5, context=anonymous)
        with urllib.request.urlopen(req, timeout=5, context=self.etcd.context) as r:
            self.assertEqual(r.status, 200)
        for p in [self.c.storaged, *self.c.vectords.values()]:
            self.assertIn("peers with mutual TLS only", p.read_log(), p.name)


@unittest.skipUnless(shutil.which("openssl"), "needs openssl")
class PeerTlsStartupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.creds = Credentials()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.creds.dir, ignore_errors=True)

    def start(self, *argv):
        data = tempfile.mkdtemp(prefix="quiver-peer-tls-data-")
        try:
            return run(os.path.join(test_cluster.BINDIR, "storaged"), "--data-dir", data, *argv,
                       timeout=30)
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def test_a_public_address_needs_peer_tls(self):
        # Refused before anything binds: the address is never served.
        r = self.start("--listen", "192.0.2.1:0")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("refusing to serve CAF on 192.0.2.1", r.stderr)
        self.assertIn("without mutual TLS", r.stderr)
        r = self.start("--listen", "127.0.0.1:0", "--coordinator-listen", "192.0.2.1:0")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("refusing to serve CAF on 192.0.2.1", r.stderr)

    def test_bad_credentials_are_said_at_start(self):
        cr = self.creds
        missing = os.path.join(cr.dir, "missing.pem")
        cases = [
            (["--peer-cert", cr.cert, "--peer-key", cr.key], "go together"),
            (["--peer-cert", missing, "--peer-key", cr.key, "--peer-ca", cr.ca],
             "peer_tls.cert '%s'" % missing),
            (["--peer-cert", cr.cert, "--peer-key", cr.stranger_key, "--peer-ca", cr.ca],
             "does not belong"),
            (["--peer-cert", cr.cert, "--peer-key", cr.key, "--peer-ca", missing],
             "peer_tls.ca '%s'" % missing),
        ]
        for args, said in cases:
            r = self.start("--listen", "127.0.0.1:0", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(said, r.stderr)


if __name__ == "__main__":
    unittest.main()
