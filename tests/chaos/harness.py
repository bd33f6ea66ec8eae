"""Shared helpers for the load-harness tests: paths, free ports, running quiver-load."""
import json
import os
import socket
import subprocess
import tempfile

LOAD_BIN = os.environ.get("QUIVER_LOAD_BIN", "build/bin/quiver-load")
BIN_DIR = os.environ.get("QUIVER_BIN_DIR", "build/bin")
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_corpus(n, queries=50):
    d = tempfile.mkdtemp(prefix="quiver-corpus-")
    subprocess.run([LOAD_BIN, "corpus", "--out", d, "--n", str(n), "--queries", str(queries)],
                   check=True, capture_output=True, timeout=120)
    return d


def scenario_file(weights, **sections):
    """A scenario TOML with the given weights (others 0) and extra [section] keys."""
    fd, path = tempfile.mkstemp(prefix="quiver-scenarios-", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write("[weights]\n")
        for name, w in weights.items():
            f.write("%s = %s\n" % (name, w))
        for section, keys in sections.items():
            f.write("[%s]\n" % section)
            for k, v in keys.items():
                f.write("%s = %s\n" % (k, v))
    return path


def run_load(args, timeout):
    """Runs `quiver-load run ARGS --out DIR`; returns (exit code, report dict, output)."""
    out = tempfile.mkdtemp(prefix="quiver-load-report-")
    proc = subprocess.run([LOAD_BIN, "run", "--no-progress", "--out", out] + args,
                          capture_output=True, text=True, timeout=timeout)
    report = None
    path = os.path.join(out, "report.json")
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
    return proc.returncode, report, proc.stdout + proc.stderr, out
