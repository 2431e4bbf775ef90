"""
Failing fast while the database is down: a circuit breaker in front of every store call.

::

             a call fails with StoreUnavailable
    closed ───────────────────────────────────────► open ──── every call fails at once
      ▲                                              │         with StoreUnavailable
      │ the probe answers            retry_after     │
      │ (any answer but              seconds later   ▼
      │  StoreUnavailable)                        probing ─── one call goes through;
      └──────────────────────────────────────────────┘        the others fail at once
                                                     │
                 the probe fails with StoreUnavailable: open again

While PostgreSQL hangs, each call would otherwise wait a whole timeout (10 s
by default) in a pool thread, and with four threads a busy chat would queue
hundreds of messages and logins behind them. Open, the breaker answers each
of them at once with the reason the last call failed, so chat without the
store (guests, live messages) goes on and everyone else gets a prompt,
clear answer. One probe at a time finds out when the database is back.

Any answer from the database closes the breaker, an error that carries
meaning (a duplicate msgid, a taken name) too: the database answered.
"""

from __future__ import annotations

import math
from typing import Literal

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from tchat.store.errors import StoreUnavailable

log = Logger()

State = Literal["closed", "open", "probing"]


class Breaker:
    """
    Decides, for each new call, whether it may go to the database.

    ``clock`` is an L{IReactorTime} (the reactor, or a ``task.Clock`` in
    tests); ``retry_after`` is how long calls fail at once after a failure
    before one is let through to try the database again; ``name`` (the
    database URL with no password) is for the log.
    """

    def __init__(self, clock: IReactorTime, retry_after: float, name: str = "the database") -> None:
        if retry_after < 0:
            raise ValueError("retry_after is a number of seconds, 0 or more")
        self.clock = clock
        self.retry_after = retry_after
        self.name = name
        self.state: State = "closed"
        self._retry_at = 0.0
        self._reason = ""
        self._down_since = 0.0

    @property
    def available(self) -> bool:
        """True unless the last call found the database unusable (and no call has succeeded since)."""
        return self.state == "closed"

    def refusal(self) -> StoreUnavailable | None:
        """
        None if a new call may go to the database now (the breaker is closed,
        or this call is the probe); otherwise the error to fail it with, at
        once.
        """
        if self.state == "closed":
            return None
        now = self.clock.seconds()
        if self.state == "open" and now >= self._retry_at:
            self.state = "probing"
            return None
        wait = max(0.0, self._retry_at - now)
        return StoreUnavailable(f"{self._reason}; try again in {max(1, math.ceil(wait))} s", retry_after=wait)

    def record(self, result: object) -> None:
        """Note how a call that went to the database ended (its result or L{Failure})."""
        if isinstance(result, Failure) and result.check(StoreUnavailable):
            self._failed(result.value.reason)
        else:
            self._answered()

    def _failed(self, reason: str) -> None:
        now = self.clock.seconds()
        if self.state == "closed":
            self._down_since = now
            log.warn(
                "{name} is unavailable: {reason}; store calls fail at once, and it is tried again"
                " every {retry_after} s",
                name=self.name, reason=reason, retry_after=self.retry_after,
            )
        self.state = "open"
        self._reason = reason
        self._retry_at = now + self.retry_after

    def _answered(self) -> None:
        if self.state != "closed":
            log.info(
                "{name} answers again, after {down:.1f} s unavailable",
                name=self.name, down=self.clock.seconds() - self._down_since,
            )
        self.state = "closed"
