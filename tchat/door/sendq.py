"""A session's send queue: what is written while its transport's buffer is full."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

__all__ = ["SendQueue"]


@implementer(IPushProducer)
class SendQueue:
    """
    Counts what is written to a transport whose buffer is full.

    The transport calls L{pauseProducing} when its buffer passes its own size
    (or, under TLS, while it buffers writes during the handshake) and
    L{resumeProducing} when it has drained; in between, the session adds
    every write to ``backlog``.
    """

    __slots__ = ("full", "backlog", "_waiting")

    def __init__(self) -> None:
        self.full = False
        self.backlog = 0
        # Who waits for room: made only when someone does.
        self._waiting: list[Deferred[None]] | None = None

    def pauseProducing(self) -> None:
        self.full = True

    def resumeProducing(self) -> None:
        self.full = False
        self.backlog = 0
        self._wake()

    def stopProducing(self) -> None:
        # The connection is going: nobody waits for room any more.
        self.full = False
        self._wake()

    def drained(self) -> Deferred[None]:
        """Fires once the transport's buffer has room (at once if it has)."""
        if not self.full:
            return succeed(None)
        d: Deferred[None] = Deferred()
        if self._waiting is None:
            self._waiting = []
        self._waiting.append(d)
        return d

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, None
        for d in waiting or ():
            d.callback(None)
