"""Crash recovery: SIGKILL under a mixed write load at random moments, then every
acknowledged write must be there after the restart (QUIVER_MODE picks the
standalone or the three-process deployment)."""
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from crash_harness import crash_loop, wait_ready  # noqa: E402
from quiver_server import MODE, QuiverServer  # noqa: E402

KILLS = int(os.environ.get("QUIVER_CRASH_KILLS", "20"))


def small_config(directory):
    """Small segments and frequent snapshots: kills land during segment rolls,
    snapshot writes and log truncation too."""
    path = os.path.join(directory, "crash.toml")
    with open(path, "w") as f:
        f.write("[storage]\nsegment_bytes = 65536\nsnapshot_every_records = 300\n")
    return path


class CrashTest(unittest.TestCase):
    """Standalone: the process is killed. Three-process mode: storaged, vectord or
    gatewayd, chosen at random per kill point (storaged and vectord most often)."""

    def test_no_acknowledged_write_is_lost(self):
        conf_dir = tempfile.mkdtemp(prefix="quiver-crash-conf-")
        d = QuiverServer("--config", small_config(conf_dir))
        target = None
        if MODE == "three-process":
            target = lambda rng: rng.choice(["storaged", "vectord", "vectord", "storaged", "gatewayd"])  # noqa: E731
        try:
            writers = crash_loop(self, d, KILLS, kill_target=target)
            acked = sum(w.acked for w in writers)
            print("%s: %d kills, %d acknowledged writes, %d unknown outcomes" %
                  (MODE, KILLS, acked, sum(w.unknown for w in writers)))
            # A clean shutdown snapshots every shard: the restart replays nothing.
            self.assertEqual(d.stop(), 0, d.read_log())
            d.restart()
            wait_ready(d)
            status, _, text = d.request("GET", "/metrics")
            self.assertEqual(status, 200)
            text = text.decode() if isinstance(text, bytes) else text
            replayed = re.search(r'quiver_index_replayed_records\{[^}]*index="crash"\} (\d+)', text)
            self.assertIsNotNone(replayed, text)
            self.assertEqual(int(replayed.group(1)), 0)
            problems = [p for w in writers for p in w.verify(d)]
            self.assertEqual(problems, [])
            # The verifier itself notices a write the server lost.
            victim = writers[0]
            status, _, _ = d.request("PUT", "/v1/indexes/crash/vectors/" + victim.ids[0],
                                     {"vector": [0.5] * 8})
            self.assertEqual(status, 200)
            self.assertEqual(len(victim.verify(d)), 1)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
