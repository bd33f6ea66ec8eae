"""The seed's six workflows (configs/load-seed.toml) against real daemons: the
text index ingested, every scenario run and self-checked, 0% failures; then the
same mix with SIGKILLs and SIGSTOPs, where a missing answer during recovery is
an interruption but a wrong one is a failure. QUIVER_MODE picks the standalone
binary or storaged + vectord + gatewayd."""
import os
import shutil
import tempfile
import unittest

import harness
from test_chaos_run import daemons

DURATION_S = int(os.environ.get("QUIVER_SEED_DURATION_S", "15"))
SEED_MIX = os.path.join(harness.HERE, "..", "..", "configs", "load-seed.toml")
SCENARIOS = ["seed_outreach", "seed_fill", "seed_swap", "seed_repeat", "seed_sms",
             "seed_playbook"]


class SeedRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.corpus = harness.make_corpus(3000, queries=50)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.corpus, ignore_errors=True)

    def run_seed(self, chaos):
        port = harness.free_port()
        data = tempfile.mkdtemp(prefix="quiver-seed-data-")
        self.addCleanup(shutil.rmtree, data, True)
        specs, target, extra = daemons(port, data)
        args = ["--target", target, "--corpus", self.corpus, "--scenarios", SEED_MIX,
                "--duration", str(DURATION_S), "--concurrency", "8", "--ingest", "--seed", "3"]
        if chaos:
            args += ["--chaos", "--chaos-schedule", "periodic", "--chaos-interval", "5",
                     "--chaos-stop-probability", "0.25"]
        code, report, output, _ = harness.run_load(args + extra + specs,
                                                   timeout=DURATION_S + 300)
        self.assertIsNotNone(report, output)
        for name in SCENARIOS:
            s = report["scenarios"][name]
            self.assertGreater(s["count"], 0, name)
            self.assertEqual(s["failed"], 0, (name, s["failures"], output[-3000:]))
        self.assertEqual(code, 0, output[-3000:])
        return report

    def test_the_seed_mix_passes_and_repeats_come_from_the_cache(self):
        report = self.run_seed(chaos=False)
        repeat = report["scenarios"]["seed_repeat"]
        # Nothing writes to the text index during the run: every repeat is a hit.
        self.assertEqual(repeat["notes"], {"repeats cached 4/4": repeat["count"]}, repeat)
        interrupted = sum(s["interrupted"] for s in report["scenarios"].values())
        self.assertEqual(interrupted, 0)

    def test_the_seed_mix_under_kills_is_never_wrong(self):
        report = self.run_seed(chaos=True)
        self.assertGreaterEqual(len(report["chaos"]), 2, report["chaos"])


if __name__ == "__main__":
    unittest.main()
