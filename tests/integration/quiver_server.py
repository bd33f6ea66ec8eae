"""Starts a real quiver binary on a free loopback port for a test, and stops it."""
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time

BIN = os.environ.get("QUIVER_BIN", "build/bin/quiver")
START_TIMEOUT_S = 20  # a sanitizer build starts slowly


class QuiverServer:
    """A quiver process. `data_dir` reuses a directory (a restart); the log is
    appended to, and `log_mark` says where this run's part starts."""

    def __init__(self, *extra_args, data_dir=None):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="quiver-it-")
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.log = open(self.log_path, "a+")
        self.log_mark = self.log.tell()
        self.proc = subprocess.Popen(
            [BIN, "--port", "0", "--data-dir", self.data_dir, "--log-level", "info", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.port = self._wait_for_port()

    def _wait_for_port(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("quiver exited early:\n" + self.read_log())
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.read_log()[self.log_mark:])
            if m:
                return int(m.group(1))
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("quiver did not start:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, headers, parsed JSON or raw bytes)."""
        own = conn is None
        conn = conn or self.connection()
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        if own:
            conn.close()
        ctype = resp.getheader("Content-Type", "")
        if ctype.startswith("application/json"):
            data = json.loads(data)
        return resp.status, resp, data

    def kill(self):
        """SIGKILL: no shutdown code runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode
