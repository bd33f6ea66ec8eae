"""The load harness catches wrong answers: against a fake server with one fault at a
time, the scenario that looks at that behaviour fails (and the run exits 1), while
the honest fake passes every scenario. The ledger verifier catches a write that
was acknowledged and later lost."""
import http.client
import json
import os
import subprocess
import sys
import unittest

import harness

ALL = {"cold_search": 1, "upsert_then_read": 1, "profile_swap": 1, "repeat_query": 1,
       "small_index_churn": 1, "batch_ingest": 1}
SMALL_BATCHES = {"min": 5, "max": 20}


class FakeServer:
    def __init__(self, fault):
        self.port = harness.free_port()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(harness.HERE, "fake_quiver.py"), str(self.port), fault],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            self.stop()
            raise RuntimeError("fake server did not start: %r" % line)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class HarnessSelfTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.corpus = harness.make_corpus(200, queries=20)

    def run_against(self, fault, weights, duration=4, **sections):
        server = FakeServer(fault)
        try:
            scenarios = harness.scenario_file(weights, batch_ingest=SMALL_BATCHES, **sections)
            return harness.run_load(
                ["--target", "127.0.0.1:%d" % server.port, "--corpus", self.corpus,
                 "--scenarios", scenarios, "--duration", str(duration), "--concurrency", "3",
                 "--ingest"], timeout=120)
        finally:
            server.stop()

    def test_honest_fake_passes_every_scenario(self):
        code, report, output, _ = self.run_against("none", ALL)
        self.assertEqual(code, 0, output)
        # The seed's workflows need the matrix tier, which the fake has not:
        # test_seed_run runs them against real daemons.
        for name in ALL:
            s = report["scenarios"][name]
            self.assertGreater(s["count"], 0, name)
            self.assertEqual(s["failed"], 0, (name, s["failures"], s["examples"]))
        self.assertEqual(report["ledger"]["lost"], 0)
        self.assertGreater(report["ledger"]["acknowledged_writes"], 0)

    def test_each_fault_fails_its_scenario(self):
        cases = [("unsorted", "cold_search", "distances not ascending"),
                 ("exclude", "profile_swap", "excluded id"),
                 ("repeat", "repeat_query", "different results"),
                 ("stale", "small_index_churn", "deleted id"),
                 ("lose", "upsert_then_read", "not found")]
        for fault, scenario, reason in cases:
            with self.subTest(fault=fault):
                code, report, output, _ = self.run_against(fault, {scenario: 1})
                self.assertEqual(code, 1, output)
                s = report["scenarios"][scenario]
                self.assertGreater(s["failed"], 0, output)
                self.assertTrue(any(reason in r for r in s["failures"]), s["failures"])

    def test_ledger_catches_a_write_lost_after_its_ack(self):
        # The fake drops one stored record of the write index two seconds in; the
        # scenarios read their records back only right after writing them, so the
        # end-of-run verification is what must notice.
        code, report, output, _ = self.run_against(
            "forget", {"upsert_then_read": 1}, duration=5,
            upsert_then_read={"delete_probability": 0})
        self.assertEqual(code, 1, output)
        self.assertGreaterEqual(report["ledger"]["lost"], 1, output)
        self.assertTrue(any("absent" in e for e in report["ledger"]["examples"]), report["ledger"])

    def test_preload_fills_the_write_index_before_the_run(self):
        # 200 corpus records, half preloaded; the run only searches, so the write
        # index holds exactly the preloaded ones at the end.
        server = FakeServer("none")
        try:
            scenarios = harness.scenario_file({"cold_search": 1}, write_index={"preload": 0.5})
            code, _, output, _ = harness.run_load(
                ["--target", "127.0.0.1:%d" % server.port, "--corpus", self.corpus,
                 "--scenarios", scenarios, "--duration", "1", "--concurrency", "2", "--ingest"],
                timeout=120)
            self.assertEqual(code, 0, output)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/v1/indexes/workers_live")
            reply = json.loads(conn.getresponse().read())
            conn.close()
            self.assertEqual(reply["count"], 100, reply)
        finally:
            server.stop()
        bad = harness.scenario_file({"cold_search": 1}, write_index={"preload": 2})
        proc = subprocess.run([harness.LOAD_BIN, "run", "--target", "127.0.0.1:1", "--corpus",
                               self.corpus, "--scenarios", bad], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("at most 1", proc.stderr)

    def test_bad_arguments_are_rejected(self):
        bad = harness.scenario_file({"cold_serch": 1})
        proc = subprocess.run([harness.LOAD_BIN, "run", "--target", "127.0.0.1:1", "--corpus",
                               self.corpus, "--scenarios", bad], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown scenario", proc.stderr)
        proc = subprocess.run([harness.LOAD_BIN, "run", "--target", "nohost", "--corpus",
                               self.corpus], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("host:port", proc.stderr)
        proc = subprocess.run([harness.LOAD_BIN, "run", "--target", "127.0.0.1:1", "--corpus",
                               self.corpus, "--concurrency", "0"], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--concurrency must be > 0", proc.stderr)


if __name__ == "__main__":
    unittest.main()
