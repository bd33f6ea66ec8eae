"""Noisy neighbor, CI-sized: tenant A (rate-limited by its quota) floods searches and
20-vector upserts from three processes; tenant B's search p99 must stay within 3x
of its solo p99 (median of alternating solo/flooded rounds). The benchmark-sized
run is tests/bench/tenants_bench.py (docs/BENCHMARKS.md)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import tenants_bench  # noqa: E402


class NoisyNeighborTest(unittest.TestCase):
    def test_quiet_tenant_p99_within_3x_of_solo(self):
        binary = os.environ.get("QUIVER_BIN", "build/bin/quiver")
        r = tenants_bench.noisy(binary, dim=128, count=600, flooders=3, rate=50, rounds=5)
        print(r)
        # The flood really ran and was really limited.
        self.assertGreater(r["noisy_requests"], 500)
        self.assertGreater(r["noisy_rate_limited"], 0)
        self.assertLessEqual(r["p99_ratio_median"], 3.0, r)


if __name__ == "__main__":
    unittest.main()
