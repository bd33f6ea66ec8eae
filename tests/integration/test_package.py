"""The Debian package (cmake/QuiverPackage.cmake): built with cpack from the build
tree, installed with `dpkg -i` into a chroot that is a copy-on-write overlay of this
machine's root (the host's files and dpkg database stay untouched), started once
with its systemd unit's command line as the `quiver` user, then removed. Needs root
(mount, chroot); QUIVER_BUILD_DIR names the release build tree."""
import glob
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BUILD_DIR = os.environ.get("QUIVER_BUILD_DIR", "build")


def run(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=check)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipUnless(os.geteuid() == 0, "needs root for mount and chroot")
class PackageTest(unittest.TestCase):
    def setUp(self):
        out = os.path.join(os.path.abspath(BUILD_DIR), "package")
        shutil.rmtree(out, ignore_errors=True)
        run("cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"))
        debs = glob.glob(os.path.join(out, "quiver_*_amd64.deb"))
        self.assertEqual(len(debs), 1, debs)
        self.deb = debs[0]
        self.tmp = tempfile.mkdtemp(prefix="quiver-pkg-")
        self.root = os.path.join(self.tmp, "root")
        self.mounts = []
        for d in ("upper", "work", "root"):
            os.mkdir(os.path.join(self.tmp, d))
        self.mount("-t", "overlay", "overlay", "-o",
                   "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (self.tmp, self.tmp), self.root)
        self.mount("-t", "proc", "proc", self.root + "/proc")
        self.mount("--bind", "/dev", self.root + "/dev")
        shutil.copy(self.deb, self.root + "/tmp/quiver.deb")

    def mount(self, *args):
        run("mount", *args)
        self.mounts.append(args[-1])

    def tearDown(self):
        for m in reversed(self.mounts):
            run("umount", "-l", m, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def chroot(self, *argv, check=True):
        return run("chroot", self.root, *argv, check=check)

    @staticmethod
    def read(path):
        with open(path) as f:
            return f.read()

    def request(self, port, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
        conn.close()
        return resp.status, data

    def test_installs_starts_as_its_user_and_removes_cleanly(self):
        host_before = run("dpkg-query", "-W", "quiver", check=False).returncode
        installed = self.chroot("dpkg", "-i", "/tmp/quiver.deb", check=False)
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
        self.assertIn("install ok installed",
                      self.chroot("dpkg-query", "-W", "-f", "${Status}", "quiver").stdout)
        user = self.chroot("getent", "passwd", "quiver").stdout.split(":")
        self.assertEqual(user[5], "/var/lib/quiver")
        uid = int(user[2])
        self.assertEqual(os.stat(self.root + "/var/lib/quiver").st_uid, uid)
        for path in ("/usr/bin/quiver", "/usr/bin/vectord", "/usr/bin/quiver-load", "/usr/bin/quiverctl",
                     "/etc/quiver/standalone.toml", "/etc/default/quiver-vectord",
                     "/lib/systemd/system/quiver.service", "/usr/share/doc/quiver/API.md"):
            self.assertTrue(os.path.exists(self.root + path), path)

        # The unit's own command line, as the unit's user, on a free port.
        with open(self.root + "/lib/systemd/system/quiver.service") as f:
            unit = f.read()
        self.assertIn("User=quiver", unit)
        exec_start = next(l.split("=", 1)[1] for l in unit.splitlines() if l.startswith("ExecStart="))
        port = free_port()
        log = open(os.path.join(self.tmp, "quiver.log"), "w")
        # chroot execs the command (no runuser in between), so SIGTERM reaches quiver.
        proc = subprocess.Popen(["chroot", "--userspec=%d:%s" % (uid, user[3]), "--groups=",
                                 self.root] + shlex.split(exec_start) + ["--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            status = None
            for _ in range(300):  # 30 s at most
                try:
                    status, _ = self.request(port, "GET", "/healthz")
                    break
                except OSError:
                    if proc.poll() is not None:
                        self.fail("quiver exited: " + self.read(log.name))
                    time.sleep(0.1)
            self.assertEqual(status, 200, self.read(log.name))
            self.assertEqual(self.request(port, "POST", "/v1/indexes",
                                          {"name": "pkg", "dimension": 2})[0], 201)
            self.assertEqual(self.request(port, "PUT", "/v1/indexes/pkg/vectors/a",
                                          {"vector": [1, 2]})[0], 200)
            st, rec = self.request(port, "GET", "/v1/indexes/pkg/vectors/a")
            self.assertEqual((st, rec["id"]), (200, "a"))
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            log.close()
        self.assertEqual(code, 0, self.read(log.name))
        data = self.root + "/var/lib/quiver/standalone"
        self.assertEqual(os.stat(data).st_uid, uid)
        self.assertTrue(os.listdir(data))

        removed = self.chroot("dpkg", "-r", "quiver", check=False)
        self.assertEqual(removed.returncode, 0, removed.stdout + removed.stderr)
        self.assertFalse(os.path.exists(self.root + "/usr/bin/quiver"))
        # Configuration files and the data stay after a remove.
        self.assertTrue(os.path.exists(self.root + "/etc/quiver/standalone.toml"))
        self.assertTrue(os.listdir(data))
        # The host never saw any of it.
        self.assertEqual(run("dpkg-query", "-W", "quiver", check=False).returncode, host_before)
        if host_before != 0:  # not installed on the host: none of its files are there
            self.assertFalse(os.path.exists("/etc/quiver/standalone.toml"))


if __name__ == "__main__":
    unittest.main()
