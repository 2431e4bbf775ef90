"""
Slowing down guessers: failed password attempts, counted per key.

A key is whatever should be slowed down: an address, an account name. After
``free`` failures in a row, each further attempt must wait, twice as long as the
last time, up to ``ceiling`` seconds. A success clears the key. Entries expire
on their own once their wait is long past, so the table stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime


@dataclass
class _Record:
    failures: int
    last: float


class FailureThrottle:
    def __init__(
        self, clock: IReactorTime, free: int = 3, first_wait: float = 2.0, ceiling: float = 300.0
    ) -> None:
        self.clock = clock
        self.free = free
        self.first_wait = first_wait
        self.ceiling = ceiling
        self._records: dict[str, _Record] = {}

    def _wait_after(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.first_wait * 2 ** (failures - self.free), self.ceiling)

    def wait(self, *keys: str) -> float:
        """Seconds any of ``keys`` must still wait before another attempt (0: go)."""
        now = self.clock.seconds()
        longest = 0.0
        for key in keys:
            record = self._records.get(key)
            if record is None:
                continue
            remaining = record.last + self._wait_after(record.failures) - now
            if remaining > longest:
                longest = remaining
        return longest

    def failed(self, *keys: str) -> None:
        now = self.clock.seconds()
        self._expire(now)
        for key in keys:
            record = self._records.get(key)
            if record is None or self._stale(record, now):
                record = self._records[key] = _Record(0, now)
            record.failures += 1
            record.last = now

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._records.pop(key, None)

    def _stale(self, record: _Record, now: float) -> bool:
        # A record whose wait ended over a ceiling ago is forgotten: someone
        # who mistyped last week starts from the free attempts again.
        return record.last + self._wait_after(record.failures) + self.ceiling < now

    def _expire(self, now: float) -> None:
        if len(self._records) < 1024:
            return
        stale = [key for key, r in self._records.items() if self._stale(r, now)]
        for key in stale:
            del self._records[key]
