"""
Coming back after the connection to the server is lost: how long to wait
before each try (L{Backoff}), and the tries themselves with a countdown a
person can watch (L{Redial}).

What counts as lost, and what ends the conversation instead (a ``/quit``,
a kick, a refused certificate), is the conversation's decision
(L{tchat.client.conversation.Conversation}), with L{goes_away} and
L{kicked_notice} to read the server's words; the way back once a try
works is L{tchat.client.comeback.ComingBack}'s; this module waits and
dials.

The waits are those of the web page (``tchat/web/static/connection.js``):
1, 2, 4, ... seconds, never more than 30, each a fifth more or less at
random, so that the clients of a restarted server do not all come back in
the same second. The wait starts again from 1 s once a login has worked.
"""

from __future__ import annotations

import math
import random
import re
from typing import Any, Callable

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectingCancelledError
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

FIRST_WAIT = 1.0
LONGEST_WAIT = 30.0
# Each wait is this fraction more or less, at random.
JITTER = 0.2
# No wait is shorter than this, whatever the jitter says.
SHORTEST_WAIT = 0.5


# The first words of a bye that means "do not come back": the person was
# put out on purpose (the server's kick says "kicked"; "banned" and
# "killed" are what servers say for the same, and what a later tchat may).
# Every other bye comes back: a shutdown or restart, "too slow", a ping or
# login timeout, "server full", "too many connections", a name taken by
# its account (the login then asks for another name).
GO_AWAY = re.compile(r"^\s*(kicked|banned|killed)\b", re.IGNORECASE)
# The notice the server sends just before such a bye: "You were kicked by alice: spam".
TOLD_TO_GO = re.compile(r"^\s*you (were|have been) (kicked|banned|killed)\b", re.IGNORECASE)


def goes_away(bye: dict[str, Any]) -> bool:
    """
    Whether a ``bye`` event (not one that answers our own ``quit``) means
    the client must not come back: its text starts with ``kicked``,
    ``banned`` or ``killed``, or its ``code`` (should a server send one) is
    one of those. Callers check first that no ``shutdown`` came before it:
    a shutdown's bye carries the operator's own words, whatever they are.
    """
    code = bye.get("code")
    if isinstance(code, str) and GO_AWAY.match(code):
        return True
    text = bye.get("text")
    return isinstance(text, str) and GO_AWAY.match(text) is not None


def kicked_notice(text: str) -> bool:
    """Whether a ``notice`` says the person was put out (``You were kicked by ...``)."""
    return TOLD_TO_GO.match(text) is not None


class Backoff:
    """
    The waits between tries to connect: ``first``, twice that, and so on up
    to ``longest``, each scaled by a random factor within ``jitter`` of 1.

    Callers may rely on: L{next} never returns less than L{SHORTEST_WAIT}
    nor more than ``longest``; after L{reset} the next wait is about
    ``first`` again. ``random`` gives numbers in [0, 1) (for tests).
    """

    def __init__(
        self, first: float = FIRST_WAIT, longest: float = LONGEST_WAIT, jitter: float = JITTER,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.first = first
        self.longest = longest
        self.jitter = jitter
        self.random = random
        self.tries = 0

    def next(self) -> float:
        """The wait before the next try, in seconds; each call counts one try."""
        # The exponent is bounded: past the cap it changes nothing, and a
        # client left retrying for days must not overflow a float.
        base = min(self.longest, self.first * 2 ** min(self.tries, 64))
        self.tries += 1
        scaled = base * (1 - self.jitter + 2 * self.jitter * self.random())
        return max(SHORTEST_WAIT, min(self.longest, scaled))

    def reset(self) -> None:
        """A try worked: the next wait is the first one again."""
        self.tries = 0


def failure_text(reason: Failure) -> str:
    """A short reason a try failed, for a person: ``connection refused``, ``timed out``."""
    text = reason.getErrorMessage()
    # Twisted's connect errors read "Connection was refused by other side:
    # 111: Connection refused."; the part after the last colon says it.
    short = text.rsplit(":", 1)[-1].strip().rstrip(".")
    return (short or text).lower()


class Redial:
    """
    Tries to connect again after a lost connection, waiting longer after
    each failed try (L{Backoff}), and tells ``report`` what it is doing:

    - ``report(text, False)`` when a wait begins (``connection lost;
      reconnecting in 4 s…``) and when a try begins (``reconnecting…``);
    - ``report(text, True)`` once a second during a wait, with the count
      down by one: the same state, only updated (a pipe need not print it).

    ``connect`` makes one try: it returns a Deferred that fires when the
    connection is made (its protocol then takes over) or fails with why
    not. Callers may rely on: at most one try or wait at a time; after
    L{stop} nothing more is tried or reported; L{logged_in} resets the
    waits.
    """

    def __init__(
        self, clock: IReactorTime, connect: Callable[[], Deferred[Any]],
        report: Callable[[str, bool], None], backoff: Backoff | None = None,
    ) -> None:
        self.clock = clock
        self.connect = connect
        self.report = report
        self.backoff = backoff or Backoff()
        self.stopped = False
        self._why = "connection lost"
        self._due: IDelayedCall | None = None
        self._tick: IDelayedCall | None = None
        self._left = 0
        self._due_at = 0.0
        self._failed: str | None = None
        self._trying: Deferred[Any] | None = None

    @property
    def waiting(self) -> bool:
        """Whether a wait or a try is under way (the connection is down)."""
        return self._due is not None or self._trying is not None

    def lost(self, why: str = "connection lost") -> None:
        """The connection is gone: wait, then try again (``why`` heads the countdown)."""
        if self.stopped:
            return
        self._why = why
        self._wait(self.backoff.next(), None)

    def now(self) -> bool:
        """
        Skip the rest of the wait and try at once; False (and nothing done)
        when no wait is under way (a try is already being made, say).
        """
        if self.stopped or self._due is None:
            return False
        self._cancel_timers()
        self._try()
        return True

    def logged_in(self) -> None:
        """The try led to a login: the next loss starts with the shortest wait."""
        self.backoff.reset()

    def stop(self) -> None:
        """No more tries: cancel the wait, or the try being made."""
        self.stopped = True
        self._cancel_timers()
        trying, self._trying = self._trying, None
        if trying is not None:
            trying.cancel()

    # -- inside ----------------------------------------------------------

    def _wait(self, seconds: float, failed: str | None) -> None:
        self._cancel_timers()
        self._left = math.ceil(seconds)
        self._failed = failed
        self._due_at = self.clock.seconds() + seconds
        self._due = self.clock.callLater(seconds, self._try)
        self._say(False)
        self._schedule_tick()

    def _schedule_tick(self) -> None:
        # The count shows the whole seconds left, rounded up: it goes down
        # by one each time the time left crosses a whole number. The moment
        # is reckoned from when the try is due, so a late tick does not make
        # the ones after it late too.
        if self._left > 1:
            at = self._due_at - (self._left - 1)
            self._tick = self.clock.callLater(max(0.0, at - self.clock.seconds()), self._count_down)

    def _count_down(self) -> None:
        self._tick = None
        self._left -= 1
        self._say(True)
        self._schedule_tick()

    def _say(self, update: bool) -> None:
        last = f" (last try: {self._failed})" if self._failed else ""
        self.report(f"{self._why}; reconnecting in {self._left} s…{last}", update)

    def _try(self) -> None:
        self._cancel_timers()
        self.report(f"{self._why}; reconnecting…", False)
        trying = self._trying = self.connect()
        trying.addCallbacks(self._made, self._failed_try, errbackArgs=(trying,))

    def _made(self, result: Any) -> Any:
        self._trying = None
        return result

    def _failed_try(self, reason: Failure, trying: Deferred[Any]) -> None:
        if self._trying is not trying or self.stopped or reason.check(CancelledError, ConnectingCancelledError):
            return
        self._trying = None
        self._wait(self.backoff.next(), failure_text(reason))

    def _cancel_timers(self) -> None:
        for call in (self._due, self._tick):
            if call is not None and call.active():
                call.cancel()
        self._due = self._tick = None
