"""Paced garbage collection (tchat.collect): which generation is collected when, and the service's hold on gc."""

from __future__ import annotations

import gc
import weakref

from twisted.internet.task import Clock
from twisted.trial import unittest

from tchat.collect import PacedCollectionService, PacedCollector


class Cycle:
    def __init__(self) -> None:
        self.me = self


class Counts:
    """Fake collector counts, collections and time."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.collected: list[int] = []
        self.time = 100.0

    def collector(self) -> PacedCollector:
        return PacedCollector(
            min_interval=(0.0, 1.0, 30.0), counts=lambda: (self.counts[0], self.counts[1], self.counts[2]),
            thresholds=lambda: (700, 10, 10), collect=self.collect, now=lambda: self.time,
        )

    def collect(self, generation: int) -> int:
        self.collected.append(generation)
        for g in range(generation + 1):
            self.counts[g] = 0
        return 0


class PacedCollectorTests(unittest.TestCase):
    def test_nothing_under_the_thresholds(self) -> None:
        c = Counts()
        paced = c.collector()
        c.counts = [700, 10, 10]
        self.assertIsNone(paced.check())
        self.assertEqual(c.collected, [])

    def test_the_youngest_as_soon_as_it_is_over(self) -> None:
        c = Counts()
        paced = c.collector()
        c.counts[0] = 701
        self.assertEqual(paced.check(), 0)
        self.assertEqual(c.collected, [0])
        self.assertIsNone(paced.check())

    def test_the_oldest_waits_for_its_interval_and_a_younger_one_goes_meanwhile(self) -> None:
        c = Counts()
        paced = c.collector()
        c.counts = [701, 5, 11]
        c.time += 29.0
        # Generation 2 was collected (as far as the collector knows) at start: 29 s ago.
        self.assertEqual(paced.check(), 0)
        c.counts = [701, 11, 11]
        self.assertEqual(paced.check(), 1)
        c.time += 1.0
        c.counts = [701, 11, 11]
        self.assertEqual(paced.check(), 2)
        self.assertEqual(c.collected, [0, 1, 2])
        self.assertEqual(paced.collections, [1, 1, 1])
        # Collecting 2 collected 1 with it: 1 waits its second again.
        c.time += 0.5
        c.counts = [0, 11, 0]
        self.assertIsNone(paced.check())
        c.time += 0.5
        self.assertEqual(paced.check(), 1)


class PacedCollectionServiceTests(unittest.TestCase):
    def setUp(self) -> None:
        self.was_enabled = gc.isenabled()

        def restore() -> None:
            gc.unfreeze()
            if self.was_enabled:
                gc.enable()

        self.addCleanup(restore)

    def test_holds_gc_while_running_and_gives_it_back(self) -> None:
        clock = Clock()
        s = PacedCollectionService(clock)
        s.startService()
        self.assertFalse(gc.isenabled())
        self.assertGreater(gc.get_freeze_count(), 0)
        s.stopService()
        self.assertEqual(gc.isenabled(), self.was_enabled)
        self.assertEqual(gc.get_freeze_count(), 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cycles_made_while_running_are_collected_within_a_period(self) -> None:
        clock = Clock()
        s = PacedCollectionService(clock, period=0.1)
        s.startService()
        self.addCleanup(s.stopService)
        cycles = [Cycle() for _ in range(2 * gc.get_threshold()[0])]
        ref = weakref.ref(cycles[0])
        del cycles
        # Automatic collection is off: the garbage stays until the check.
        self.assertIsNotNone(ref())
        clock.advance(0.1)
        self.assertIsNone(ref())
        self.assertGreaterEqual(sum(s.collector.collections), 1)


class OptionTests(unittest.TestCase):
    def test_twistd_runs_paced_collection_unless_told_python(self) -> None:
        from twisted.python import usage

        from tchat.tap import makeService
        from tests.test_doors import parse

        base = ("--port", "tcp:0", "--web-port", "off", "--irc-port", "off", "--db", "memory")
        paced = [s for s in makeService(parse(*base)) if isinstance(s, PacedCollectionService)]
        self.assertEqual(len(paced), 1)
        self.assertEqual([s for s in makeService(parse(*base, "--gc", "python")) if isinstance(s, PacedCollectionService)], [])
        with self.assertRaises(usage.UsageError):
            parse(*base, "--gc", "sometimes")
