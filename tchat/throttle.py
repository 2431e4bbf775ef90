"""
Slowing down guessers and the costly requests, without locking anyone out.

Two tools:

- L{TokenBucket} and L{RateLimit}: ``burst`` at once, then ``rate`` a second,
  per key (a connection, an address, an account). Used for flood control and
  for what costs a password hash (``/register``, ``/passwd``).
- L{GuessThrottle}: password guesses against one secret (an account's
  password, the admin password). The rules, chosen so that an attacker is
  slowed down and the owner is never refused because of someone else's
  failures:

  1. **Per secret and address**: ``free`` wrong guesses (3), then each next
     try from that address must wait twice as long as the last (2 s, 4 s,
     8 s … up to ``ceiling``, 300 s). A right password clears it.
  2. **Per address, over every secret**: a leaky budget of wrong guesses
     (``address_budget``, 30, one more every ``address_refill`` seconds) for
     an address spraying many accounts; past it that address waits. Behind a
     reverse proxy every client shares the proxy's address: give tchat the
     real addresses with the PROXY protocol (``--port haproxy:tcp:4321``).
  3. **Per secret, over every address**: once a secret has had
     ``attack_threshold`` (10) recent wrong guesses from anywhere, it is
     under attack and rule 1 allows each address one free guess instead of
     three. An address that has not failed against it still gets its try:
     the owner, logging in from home, is never refused because a botnet
     guesses elsewhere.

  A try is counted *before* the password is checked (L{GuessThrottle.attempt}
  reserves it as a failure, L{Guess.succeeded} gives it back), so twenty
  guesses sent at once get three checks, not twenty.

Entries expire on their own once their wait is long past, so the tables stay
small.
"""

from __future__ import annotations

from typing import Callable

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime


def refill(tokens: float, stamp: float, now: float, rate: float, burst: float) -> float:
    """The tokens a bucket holding ``tokens`` at ``stamp`` holds at ``now``: ``burst`` at most, ``rate`` a second."""
    return min(burst, tokens + (now - stamp) * rate)


def wait_for_token(tokens: float, rate: float) -> float:
    """The seconds until a bucket holding ``tokens`` (less than one) has one."""
    return (1 - tokens) / rate


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` a second."""

    __slots__ = ("rate", "burst", "clock", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, clock: IReactorTime) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock.seconds()

    def _refill(self) -> None:
        now = self.clock.seconds()
        self.tokens = refill(self.tokens, self.stamp, now, self.rate, self.burst)
        self.stamp = now

    def take(self) -> float:
        """Take a token and return 0; or, if there is none, the seconds until there is."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return wait_for_token(self.tokens, self.rate)

    def full(self) -> bool:
        """Whether the bucket is back to its burst (nothing to remember)."""
        self._refill()
        return self.tokens >= self.burst


class RateLimit:
    """One L{TokenBucket} per key, forgotten once full again."""

    def __init__(self, rate: float, burst: int, clock: IReactorTime) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def wait(self, *keys: str) -> float:
        """
        Take a token from each key's bucket and return 0; or, if any of them
        is empty, take none and return the seconds until all have one.
        """
        buckets = [self._buckets.get(key) or TokenBucket(self.rate, self.burst, self.clock) for key in keys]
        longest = 0.0
        for bucket in buckets:
            bucket._refill()
            if bucket.tokens < 1:
                longest = max(longest, wait_for_token(bucket.tokens, self.rate))
        if longest > 0:
            return longest
        for key, bucket in zip(keys, buckets):
            bucket.tokens -= 1
            self._buckets[key] = bucket
        self._expire()
        return 0.0

    def _expire(self) -> None:
        if len(self._buckets) < 1024:
            return
        for key in [key for key, bucket in self._buckets.items() if bucket.full()]:
            del self._buckets[key]


@dataclass
class _Record:
    failures: int
    last: float


class FailureThrottle:
    """
    Failures in a row per key: after ``free`` of them, each further attempt
    must wait twice as long as the last time, up to ``ceiling`` seconds.
    """

    def __init__(self, clock: IReactorTime, free: int = 3, first_wait: float = 2.0, ceiling: float = 300.0) -> None:
        self.clock = clock
        self.free = free
        self.first_wait = first_wait
        self.ceiling = ceiling
        self._records: dict[str, _Record] = {}

    def _wait_after(self, failures: int, free: int) -> float:
        if failures < free:
            return 0.0
        return min(self.first_wait * 2 ** (failures - free), self.ceiling)

    def wait(self, key: str, free: int | None = None) -> float:
        """Seconds ``key`` must still wait before another attempt (0: go)."""
        record = self._records.get(key)
        if record is None:
            return 0.0
        return max(0.0, record.last + self._wait_after(record.failures, self.free if free is None else free) - self.clock.seconds())

    def failures(self, key: str) -> int:
        record = self._records.get(key)
        return 0 if record is None else record.failures

    def failed(self, key: str) -> None:
        now = self.clock.seconds()
        self._expire(now)
        record = self._records.get(key)
        if record is None or self._stale(record, now):
            record = self._records[key] = _Record(0, now)
        record.failures += 1
        record.last = now

    def forgive(self, key: str) -> None:
        """Take back one failure of ``key`` (a try that turned out right)."""
        record = self._records.get(key)
        if record is not None:
            record.failures -= 1
            if record.failures <= 0:
                del self._records[key]

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def _stale(self, record: _Record, now: float) -> bool:
        # A record whose wait ended over a ceiling ago is forgotten: someone
        # who mistyped last week starts from the free attempts again.
        return record.last + self._wait_after(record.failures, self.free) + self.ceiling < now

    def _expire(self, now: float) -> None:
        if len(self._records) < 1024:
            return
        for key in [key for key, r in self._records.items() if self._stale(r, now)]:
            del self._records[key]


class _Leaky:
    """A level that drains by one every ``refill`` seconds."""

    __slots__ = ("level", "stamp")

    def __init__(self, now: float) -> None:
        self.level = 0.0
        self.stamp = now

    def drain(self, now: float, refill: float) -> float:
        self.level = max(0.0, self.level - (now - self.stamp) / refill)
        self.stamp = now
        return self.level


class Guess:
    """One reserved try: tell the throttle how it went, exactly once."""

    __slots__ = ("_throttle", "secret", "host", "_done")

    def __init__(self, throttle: "GuessThrottle", secret: str, host: str) -> None:
        self._throttle = throttle
        self.secret = secret
        self.host = host
        self._done = False

    def succeeded(self) -> None:
        if not self._done:
            self._done = True
            self._throttle._succeeded(self)

    def failed(self) -> None:
        if not self._done:
            self._done = True
            self._throttle._failed(self)

    def abandoned(self) -> None:
        """The password was never checked (the store was down, say): the try does not count."""
        if not self._done:
            self._done = True
            self._throttle._forgive(self)


class GuessThrottle:
    """Password guesses against secrets, by the three rules of this module's docstring."""

    def __init__(
        self,
        clock: IReactorTime,
        free: int = 3,
        first_wait: float = 2.0,
        ceiling: float = 300.0,
        address_budget: int = 30,
        address_refill: float = 10.0,
        attack_threshold: int = 10,
        attack_refill: float = 30.0,
    ) -> None:
        self.clock = clock
        self.free = free
        self.pairs = FailureThrottle(clock, free, first_wait, ceiling)
        self.address_budget = address_budget
        self.address_refill = address_refill
        self.attack_threshold = attack_threshold
        self.attack_refill = attack_refill
        self._addresses: dict[str, _Leaky] = {}
        self._secrets: dict[str, _Leaky] = {}
        # Told of each wrong guess made here (the other nodes count it too).
        self.on_failed: Callable[[str, str], None] | None = None

    def wait(self, secret: str, host: str) -> float:
        """Seconds ``host`` must wait before its next try of ``secret`` (0: it may try now); reserves nothing."""
        free = 1 if self.under_attack(secret) else self.free
        wait = self.pairs.wait(self._pair(secret, host), free)
        address = self._level(self._addresses, host, self.address_refill)
        if address >= self.address_budget:
            wait = max(wait, (address - self.address_budget + 1) * self.address_refill)
        return wait

    def under_attack(self, secret: str) -> bool:
        level = self._level(self._secrets, secret, self.attack_refill)
        return level >= self.attack_threshold

    def attempt(self, secret: str, host: str) -> Guess | float:
        """
        Reserve one try of ``secret`` from ``host``: a L{Guess} to resolve
        once the password is checked, or the seconds to wait first.
        """
        wait = self.wait(secret, host)
        if wait > 0:
            return wait
        self.pairs.failed(self._pair(secret, host))
        self._bucket(self._addresses, host).level += 1
        return Guess(self, secret, host)

    def failed_elsewhere(self, secret: str, host: str) -> None:
        """A wrong guess of ``secret`` from ``host`` made on another node: it counts here as if made here."""
        self.pairs.failed(self._pair(secret, host))
        self._bucket(self._addresses, host).level += 1
        self._bucket(self._secrets, secret).level += 1

    def clear(self, secret: str) -> None:
        """Forget every failure against ``secret`` (an admin set a new password)."""
        prefix = secret + "\0"
        for key in [k for k in self.pairs._records if k.startswith(prefix)]:
            del self.pairs._records[key]
        self._secrets.pop(secret, None)

    # -- inside ----------------------------------------------------------

    @staticmethod
    def _pair(secret: str, host: str) -> str:
        return f"{secret}\0{host}"

    def _succeeded(self, guess: Guess) -> None:
        self.pairs.succeeded(self._pair(guess.secret, guess.host))
        self._address_forgive(guess.host)

    def _failed(self, guess: Guess) -> None:
        # The try was counted when it was reserved; its time is now.
        record = self.pairs._records.get(self._pair(guess.secret, guess.host))
        if record is not None:
            record.last = self.clock.seconds()
        self._bucket(self._secrets, guess.secret).level += 1
        if self.on_failed is not None:
            self.on_failed(guess.secret, guess.host)

    def _forgive(self, guess: Guess) -> None:
        self.pairs.forgive(self._pair(guess.secret, guess.host))
        self._address_forgive(guess.host)

    def _address_forgive(self, host: str) -> None:
        bucket = self._addresses.get(host)
        if bucket is not None:
            bucket.level = max(0.0, bucket.level - 1)

    def _bucket(self, table: dict[str, _Leaky], key: str) -> _Leaky:
        bucket = table.get(key)
        if bucket is None:
            if len(table) >= 1024:
                now = self.clock.seconds()
                refill = self.address_refill if table is self._addresses else self.attack_refill
                for k in [k for k, b in table.items() if b.drain(now, refill) == 0]:
                    del table[k]
            bucket = table[key] = _Leaky(self.clock.seconds())
        else:
            refill = self.address_refill if table is self._addresses else self.attack_refill
            bucket.drain(self.clock.seconds(), refill)
        return bucket

    def _level(self, table: dict[str, _Leaky], key: str, refill: float) -> float:
        bucket = table.get(key)
        return 0.0 if bucket is None else bucket.drain(self.clock.seconds(), refill)
