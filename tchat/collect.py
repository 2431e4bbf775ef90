"""
Paced garbage collection: Python's cyclic collector run from the reactor,
at most so often per generation, instead of inside whatever allocation
happens to cross a threshold.

Left to itself, the collector runs a full (generation 2) collection in the
middle of a fan-out every few seconds under load, and each walks every
object the server holds: tens of milliseconds with a few thousand members
online, during which no one is read or written to. Here the objects made at
start (modules, the configuration, the command table) are frozen out of
every collection, automatic collection is off, and a check every
``period`` seconds collects the oldest generation past Python's own
threshold whose last collection is at least its minimum interval ago
(Synapse paces its collector the same way). Cycles are still collected:
the youngest within a period, the oldest within ``min_interval[2]``.
"""

from __future__ import annotations

import gc
import time
from typing import Callable, Sequence

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

# Seconds between two collections of generation 0, 1 and 2 at the least.
MIN_INTERVAL = (0.0, 1.0, 30.0)
# Seconds between two looks at the collector's counts.
PERIOD = 0.1


class PacedCollector:
    """
    Decides which generation to collect, if any, from the collector's
    counts and thresholds and the time of each generation's last collection.
    ``counts``, ``thresholds``, ``collect`` and ``now`` are the gc module's
    and time's unless given (tests).
    """

    def __init__(
        self,
        min_interval: Sequence[float] = MIN_INTERVAL,
        counts: Callable[[], tuple[int, int, int]] = gc.get_count,
        thresholds: Callable[[], tuple[int, ...]] = gc.get_threshold,
        collect: Callable[[int], int] = gc.collect,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = tuple(min_interval)
        self._counts = counts
        self._thresholds = thresholds
        self._collect = collect
        self._now = now
        self.last = [now()] * 3
        self.collections = [0, 0, 0]

    def check(self) -> int | None:
        """Collect the oldest generation that is due; which one (or None)."""
        counts, thresholds, now = self._counts(), self._thresholds(), self._now()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation] and now - self.last[generation] >= self.min_interval[generation]:
                self._collect(generation)
                # Collecting a generation collects the younger ones too.
                for younger in range(generation + 1):
                    self.last[younger] = now
                self.collections[generation] += 1
                return generation
        return None


class PacedCollectionService(service.Service):
    """
    While running: start-up objects frozen, automatic collection off, a
    L{PacedCollector} checked every ``period`` seconds. Stopping gives the
    collector back as it was.
    """

    def __init__(self, clock: IReactorTime, collector: PacedCollector | None = None, period: float = PERIOD) -> None:
        self.clock = clock
        self.collector = collector or PacedCollector()
        self.period = period
        self._loop: LoopingCall | None = None
        self._was_enabled = True

    def startService(self) -> None:
        super().startService()
        self._was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
        self._loop = LoopingCall(self.collector.check)
        self._loop.clock = self.clock
        self._loop.start(self.period, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()
