"""
benchmarks/compare's choice of what its tables show when each load ran
several times: each phase is its median run's, whole.
"""

from __future__ import annotations

import sys
import types
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any

from twisted.trial.unittest import TestCase

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_compare() -> Any:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    module = types.ModuleType("tchat_compare_script")
    module.__file__ = str(BENCHMARKS / "compare")
    SourceFileLoader(module.__name__, module.__file__).exec_module(module)
    return module


def run(burst: float, p99: float, tag: str) -> dict[str, Any]:
    return {"ok": True, "phases": [
        {"kind": "burst", "deliveries_per_s": burst, "latency_ms": {"p99": 10.0}, "tag": tag},
        {"kind": "steady", "deliveries_per_s": 12_250.0, "latency_ms": {"p99": p99}, "tag": tag},
    ]}


class MedianResultTests(TestCase):
    def setUp(self) -> None:
        self.compare = load_compare()

    def test_each_phase_is_its_own_median_run_whole(self) -> None:
        merged = self.compare.median_result([run(900.0, 1.0, "a"), run(1_100.0, 3.0, "b"), run(1_000.0, 2.0, "c")])
        burst, steady = merged["phases"]
        # The burst's median by deliveries/s is c's; the steady load's by p99 is c's too here...
        self.assertEqual((burst["tag"], burst["deliveries_per_s"]), ("c", 1_000.0))
        self.assertEqual((steady["tag"], steady["latency_ms"]["p99"]), ("c", 2.0))
        self.assertEqual(merged["runs"], 3)
        # ...and each phase is chosen by its own measure.
        merged = self.compare.median_result([run(900.0, 3.0, "a"), run(1_100.0, 1.0, "b"), run(1_000.0, 2.0, "c")])
        self.assertEqual([p["tag"] for p in merged["phases"]], ["c", "c"])
        merged = self.compare.median_result([run(900.0, 2.0, "a"), run(1_100.0, 1.0, "b"), run(1_000.0, 3.0, "c")])
        self.assertEqual([p["tag"] for p in merged["phases"]], ["c", "a"])

    def test_a_failed_run_counts_for_nothing_and_one_run_is_itself(self) -> None:
        failed = {"ok": False, "error": "did not end", "phases": []}
        merged = self.compare.median_result([failed, run(900.0, 1.0, "a"), run(1_100.0, 3.0, "b")])
        self.assertEqual([p["tag"] for p in merged["phases"]], ["b", "b"])
        only = run(5.0, 5.0, "x")
        self.assertIs(self.compare.median_result([only]), only)
        self.assertIs(self.compare.median_result([failed]), failed)
