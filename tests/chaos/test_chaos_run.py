"""A CI-sized chaos run: quiver-load owns real daemons, SIGKILLs (and SIGSTOPs) them
under the full scenario mix, and must end with 0% failures on every scenario, every
acknowledged write verified, and every fault recovered. QUIVER_MODE picks the
standalone binary or storaged + vectord + gatewayd."""
import os
import tempfile
import unittest

import harness

MODE = os.environ.get("QUIVER_MODE", "standalone")
DURATION_S = int(os.environ.get("QUIVER_CHAOS_DURATION_S", "30"))


def daemons(port, data):
    b = harness.BIN_DIR
    # Small segments and frequent snapshots so kills land in segment rolls and
    # snapshot writes too.
    conf = os.path.join(data, "chaos.toml")
    with open(conf, "w") as f:
        f.write("[storage]\nsegment_bytes = 262144\nsnapshot_every_records = 500\n")
    data = os.path.join(data, "data")
    if MODE == "standalone":
        return ["--daemon", "quiver=%s/quiver --config %s --port %d --data-dir %s"
                % (b, conf, port, data)]
    s, v = harness.free_port(), harness.free_port()
    return ["--daemon", "storaged=%s/storaged --config %s --data-dir %s --listen 127.0.0.1:%d"
            % (b, conf, data, s),
            "--daemon", "vectord=%s/vectord --config %s --storaged 127.0.0.1:%d --listen 127.0.0.1:%d"
            % (b, conf, s, v),
            "--daemon", "gatewayd=%s/gatewayd --config %s --vectord 127.0.0.1:%d --port %d"
            % (b, conf, v, port)]


class ChaosRunTest(unittest.TestCase):
    def test_kills_under_load_lose_nothing(self):
        corpus = harness.make_corpus(2000, queries=100)
        port = harness.free_port()
        data = tempfile.mkdtemp(prefix="quiver-chaos-data-")
        scenarios = harness.scenario_file(
            {"cold_search": 35, "upsert_then_read": 15, "profile_swap": 15, "repeat_query": 15,
             "small_index_churn": 20, "batch_ingest": 1},
            batch_ingest={"min": 100, "max": 300})
        code, report, output, out = harness.run_load(
            ["--target", "127.0.0.1:%d" % port, "--corpus", corpus, "--scenarios", scenarios,
             "--duration", str(DURATION_S), "--concurrency", "8", "--ingest",
             "--chaos", "--chaos-schedule", "periodic", "--chaos-interval", "6",
             "--chaos-stop-probability", "0.25", "--seed", "7"] + daemons(port, data),
            timeout=DURATION_S + 400)
        self.assertEqual(code, 0, output)
        self.assertGreaterEqual(len(report["chaos"]), 3, output)
        for e in report["chaos"]:
            self.assertGreaterEqual(e["recovery_s"], 0, e)
        for name, s in report["scenarios"].items():
            self.assertGreater(s["count"], 0, name)
            self.assertEqual(s["failed"], 0, (name, s["failures"], s["examples"]))
        ledger = report["ledger"]
        self.assertEqual(ledger["lost"], 0, ledger)
        self.assertEqual(ledger["unreadable"], 0, ledger)
        self.assertGreater(ledger["acknowledged_writes"], 100, ledger)
        for f in ("summary.txt", "timeseries.csv", "plot.gp"):
            self.assertTrue(os.path.exists(os.path.join(out, f)), f)


if __name__ == "__main__":
    unittest.main()
