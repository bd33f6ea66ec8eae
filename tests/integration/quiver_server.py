"""Starts Quiver on free loopback ports for a test, and stops it.

QUIVER_MODE=standalone (default) runs the `quiver` binary; QUIVER_MODE=three-process
runs storaged + vectord + gatewayd, which must behave the same from the outside.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time

BIN = os.environ.get("QUIVER_BIN", "build/bin/quiver")
MODE = os.environ.get("QUIVER_MODE", "standalone")
START_TIMEOUT_S = 30  # a sanitizer build starts slowly

# Which daemon of the three-process mode takes a flag; --config and --log-level go
# to all, anything else to gatewayd.
STORAGE_FLAGS = {"--data-dir", "--fsync"}
INDEX_FLAGS = {"--snapshot-every-records", "--snapshot-interval-s", "--search-workers",
               "--insert-threads", "--write-nice"}


def split_flags(args):
    """[(flag, value or None)] from an argv list."""
    out, i = [], 0
    while i < len(args):
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out.append((args[i], args[i + 1]))
            i += 2
        else:
            out.append((args[i], None))
            i += 1
    return out


class Process:
    """One daemon; its log is appended to across restarts."""

    def __init__(self, name, argv, log_path, pattern):
        self.name, self.argv, self.log_path, self.pattern = name, argv, log_path, pattern
        self.start()

    def start(self):
        self.log = open(self.log_path, "a+")
        self.mark = self.log.tell()
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited early:\n%s" % (self.name, self.read_log()))
            m = re.search(self.pattern, self.read_log()[self.mark:])
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("%s did not start:\n%s" % (self.name, self.read_log()))

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class QuiverServer:
    """Quiver in the mode of QUIVER_MODE. `data_dir` reuses a directory (a restart)."""

    def __init__(self, *extra_args, data_dir=None, log_dir=None):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="quiver-it-")
        # Logs beside the data unless told otherwise (a test that fills the data
        # dir's disk keeps them elsewhere).
        self.log_dir = log_dir or self.data_dir
        self.args = list(extra_args)
        self.procs = {}
        bindir = os.path.dirname(BIN) or "."
        http_pattern = r"listening on https?://127\.0\.0\.1:(\d+)"
        caf_pattern = r"listening on caf://127\.0\.0\.1:(\d+)"
        if MODE == "standalone":
            self.log_path = os.path.join(self.log_dir, "server.log")
            self.procs["quiver"] = Process(
                "quiver", [BIN, "--port", "0", "--data-dir", self.data_dir, "--log-level", "info",
                           *self.args], self.log_path, http_pattern)
            self.port = self.procs["quiver"].port
            return
        if MODE != "three-process":
            raise RuntimeError("QUIVER_MODE must be standalone or three-process")
        flags = {"storaged": [], "vectord": [], "gatewayd": []}
        for flag, value in split_flags(self.args):
            pair = [flag] + ([value] if value is not None else [])
            if flag in ("--config", "--log-level"):
                for v in flags.values():
                    v.extend(pair)
            elif flag in STORAGE_FLAGS:
                flags["storaged"].extend(pair)
            elif flag in INDEX_FLAGS:
                flags["vectord"].extend(pair)
            else:
                flags["gatewayd"].extend(pair)
        self.log_path = os.path.join(self.log_dir, "gatewayd.log")
        self.flags = flags
        self.bindir = bindir
        s = self._spawn("storaged", 0, caf_pattern)
        v = self._spawn("vectord", 0, caf_pattern, "--storaged", "127.0.0.1:%d" % s.port)
        g = self._spawn("gatewayd", None, http_pattern, "--vectord", "127.0.0.1:%d" % v.port,
                        "--port", "0")
        self.port = g.port

    def _spawn(self, name, listen_port, pattern, *upstream):
        argv = [os.path.join(self.bindir, name), "--log-level", "info"]
        if name == "storaged":
            argv += ["--data-dir", os.path.join(self.data_dir, "storaged")]
        if listen_port is not None:
            argv += ["--listen", "127.0.0.1:%d" % listen_port]
        argv += list(upstream) + self.flags[name]
        proc = Process(name, argv, os.path.join(self.log_dir, name + ".log"), pattern)
        self.procs[name] = proc
        return proc

    # -- process control: `target` names a daemon (None: all of them) --
    def names(self, target=None):
        return [target] if target else list(self.procs)

    def kill(self, target=None):
        """SIGKILL: no shutdown code runs."""
        for n in self.names(target):
            self.procs[n].kill()

    def restart(self, target=None):
        """Starts killed or stopped daemons again on the same ports and data dir."""
        order = ["quiver", "storaged", "vectord", "gatewayd"]
        for n in [n for n in order if n in self.names(target)]:
            p = self.procs[n]
            if n in ("storaged", "vectord"):
                argv = list(p.argv)
                argv[argv.index("--listen") + 1] = "127.0.0.1:%d" % p.port
                p.argv = argv
            elif n == "gatewayd":
                p.argv[p.argv.index("--port") + 1] = str(p.port)
            elif n == "quiver":
                p.argv[p.argv.index("--port") + 1] = str(p.port)
            p.start()

    def read_log(self):
        return "\n".join("== %s ==\n%s" % (n, p.read_log()) for n, p in self.procs.items())

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

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops every daemon, the gateway first; returns the worst exit code."""
        codes = []
        for n in ["quiver", "gatewayd", "vectord", "storaged"]:
            if n in self.procs:
                codes.append(self.procs[n].stop(sig, timeout))
        return max(codes, key=lambda c: abs(c or 0))
