"""
txredisapi, adapted for L{tchat.cluster.redis.RedisBus}: a factory per
connection that tells the bus when the connection is usable and when it is
gone, and never stops reconnecting by itself; protocols that read a backlog
of replies at once; an endpoint whose failed attempts the bus hears of.

These call the bus's hooks (``_connected``, ``_disconnected``,
``_refused``, ``_problem``, ``_message``), which are the bus's side of
this seam and nobody else's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import txredisapi
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectingCancelledError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

if TYPE_CHECKING:
    from tchat.cluster.redis import RedisBus

__all__ = ["CommandProtocol", "Factory", "SubscriberProtocol", "Watched"]

class Factory(txredisapi.RedisFactory):
    """
    One connection (a pool of one) that tells its L{RedisBus} when it is
    usable and when it is gone, and that never stops reconnecting by itself.
    """

    def __init__(
        self, bus: "RedisBus", role: str, protocol: Any, dbid: int | None, charset: str | None,
        password: str | None, username: str | None,
    ) -> None:
        super().__init__(
            None, dbid, 1, isLazy=False, charset=charset, password=password, replyTimeout=bus.command_timeout,
            convertNumbers=False, username=username,
        )
        self.protocol = protocol
        self.bus = bus
        self.role = role
        self.initialDelay, self.maxDelay = bus.retry_delays

    def stopTrying(self) -> Deferred[None]:
        # txredisapi calls this when AUTH or SELECT fails (connectionMade), a
        # timeout or a connection lost in the middle included, and would then
        # never reconnect again. The bus stops with disconnect() alone.
        return defer.succeed(None)

    def connectionError(self, why: str) -> None:
        # AUTH or SELECT failed; the connection is being closed, and another
        # will be tried after the backoff.
        self.bus._refused(self.role, why)

    def addConnection(self, conn: Any) -> None:
        super().addConnection(conn)
        if conn in self.pool:
            self.bus._connected(self.role, conn)

    def delConnection(self, conn: Any) -> None:
        super().delConnection(conn)
        self.bus._disconnected(self.role, conn)


class _ReadNow:
    """
    txredisapi's pure-Python reader (without hiredis) hands the bytes that
    follow each bulk reply to the next reactor turn (``setLineMode`` does
    ``callLater(0, …)``): a busy node then reads a few replies of its bus per
    turn, and a backlog of bus messages grows without bound (cross-node
    latency of seconds at 250 messages/s). This reads them at once, in a
    loop (not by recursion), in order.
    """

    line_mode: int

    def setLineMode(self, extra: bytes = b"") -> None:
        self.line_mode = 1
        if extra:
            self._extra.append(extra)

    def dataReceived(self, data: bytes, unpause: bool = False) -> None:
        receive = super().dataReceived  # type: ignore[misc]
        if txredisapi.hiredis is not None:
            receive(data, unpause)
            return
        self._extra: list[bytes] = []
        receive(data, unpause)
        while self._extra:
            receive(self._extra.pop(), False)


class CommandProtocol(_ReadNow, txredisapi.RedisProtocol):
    def connectionLost(self, why: Failure) -> None:
        self.factory.bus._problem(why.getErrorMessage())
        super().connectionLost(why)


class SubscriberProtocol(_ReadNow, txredisapi.SubscriberProtocol):
    def connectionLost(self, why: Failure) -> None:
        self.factory.bus._problem(why.getErrorMessage())
        super().connectionLost(why)

    def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
        self.factory.bus._message(channel, message)


@implementer(IStreamClientEndpoint)
class Watched:
    """An endpoint whose failed attempts the bus hears of (for the sentence when start fails)."""

    def __init__(self, endpoint: IStreamClientEndpoint, bus: "RedisBus") -> None:
        self.endpoint = endpoint
        self.bus = bus

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        def failed(failure: Failure) -> Failure:
            if not failure.check(defer.CancelledError, ConnectingCancelledError):
                self.bus._problem(failure.getErrorMessage())
            return failure

        return self.endpoint.connect(protocolFactory).addErrback(failed)

    def __repr__(self) -> str:
        return f"Redis at {self.bus.where}"

