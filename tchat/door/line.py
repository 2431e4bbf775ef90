"""
The line door: TCP (or TLS) connections speaking lines, in text or JSON mode.

Each connection is a L{LineSession}: a L{LineReceiver} that splits the byte
stream on ``\\n`` (a trailing ``\\r`` is dropped), decodes each whole line as
UTF-8, lets the first line choose the codec, and hands the hub typed requests.
It owns everything about bytes and nothing about chat rules:

- a line over the limit gets ``line_too_long``; the rest of it, up to the next
  newline, is thrown away and the connection goes on;
- a line that is not UTF-8 gets ``bad_encoding`` and is ignored;
- requests are carried out one at a time, in order: while the hub works on one
  (waiting on the store, say), the session stops reading;
- the send queue is bounded. The session registers itself as a producer with
  its transport, so it hears when the transport's buffer is full; whatever is
  written after that is counted, and past the limit the client is told ``bye``
  ("too slow") and dropped, so one reader that does not read can never grow
  the server's memory or hold up a room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from tchat.codec import JSON, TEXT, JSONCodec, TextCodec, codec_for_first_line
from tchat.commands import BadRequest
from tchat.events import Event, error_event, make_event
from tchat.hub import Hub

log = Logger()


@dataclass
class LineLimits:
    """What one connection may cost the server."""

    max_line: int = 4096
    # Bytes queued for a client beyond what its transport buffers (64 KiB)
    # before it is dropped as too slow.
    sendq: int = 1 << 20
    # Seconds a closing connection gets to take its last lines before it is cut.
    close_grace: float = 5.0


def format_address(address: IAddress) -> tuple[str, str]:
    """``(host, "host:port")`` of a peer, for logs and ``/debug``."""
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None:
        return str(address), str(address)
    return host, (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


@implementer(IPushProducer)
class SendQueue:
    """
    Counts what is written to a transport whose buffer is full.

    The transport calls L{pauseProducing} when its buffer passes its own size
    and L{resumeProducing} when it has drained; in between, L{LineSession}
    adds every write to ``backlog``.
    """

    def __init__(self) -> None:
        self.full = False
        self.backlog = 0

    def pauseProducing(self) -> None:
        self.full = True

    def resumeProducing(self) -> None:
        self.full = False
        self.backlog = 0

    def stopProducing(self) -> None:
        self.full = False


class LineSession(LineReceiver):
    delimiter = b"\n"

    def __init__(self, door: "LineDoor") -> None:
        self.door = door
        self.hub: Hub = door.hub
        self.MAX_LENGTH = door.limits.max_line
        self.codec: JSONCodec | TextCodec | None = None
        self.host = self.address = "?"
        self.sendq = SendQueue()
        self._discarding = False
        self._resume = b""
        self._abort: IDelayedCall | None = None
        self._closing = False

    # -- Twisted calls these ---------------------------------------------

    def connectionMade(self) -> None:
        self.host, self.address = format_address(self.transport.getPeer())
        self.transport.registerProducer(self.sendq, True)
        self.door.sessions.add(self)
        self.hub.connect(self)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        self.door.sessions.discard(self)
        self.hub.disconnect(self, "connection lost")
        self.door.session_gone()

    def dataReceived(self, data: bytes) -> None:
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return
            data = data[newline + 1 :]
            self._discarding = False
        super().dataReceived(data)
        # lineLengthExceeded left the lines after an overlong one here.
        while self._resume and not self.paused and not self.transport.disconnecting:
            data, self._resume = self._resume, b""
            super().dataReceived(data)

    def lineLengthExceeded(self, data: bytes) -> None:
        self._send_now(
            error_event("line_too_long", f"a line may be at most {self.MAX_LENGTH} bytes; that one was dropped")
        )
        newline = data.find(b"\n")
        if newline < 0:
            self._discarding = True
        else:
            self._resume = data[newline + 1 :]

    def lineReceived(self, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.deliver(error_event("bad_encoding", f"that line was not UTF-8 (bad byte at {e.start}); it was ignored"))
            return
        if self.codec is None:
            line = line.lstrip("\ufeff")
            if not line.strip():
                return
            self.codec = codec_for_first_line(line)
            if self.codec is JSON:
                self.hub.greet(self)
        try:
            request = self.codec.decode(line)
        except BadRequest as e:
            self.deliver(error_event(e.code, e.text, re=e.id))
            return
        if request is None:
            return
        done = self.hub.handle(self, request)
        if not done.called:
            # One request at a time: read no further until this one is done.
            self.pauseProducing()
            done.addBoth(self._request_done)

    def _request_done(self, _: Any) -> None:
        if self.transport.connected and not self.transport.disconnecting:
            self.resumeProducing()

    # -- the hub calls these ---------------------------------------------

    def deliver(self, event: Event) -> None:
        if self._closing:
            return
        data = event.encoded(self.codec or TEXT)
        if self.sendq.full:
            self.sendq.backlog += len(data)
            if self.sendq.backlog > self.door.limits.sendq:
                self._too_slow()
                return
        self.transport.write(data)

    def close(self, reason: str) -> None:
        if self._closing:
            return
        self._send_now(make_event("bye", text=reason))
        self._closing = True
        self.transport.loseConnection()
        self._abort = self.door.clock.callLater(self.door.limits.close_grace, self.transport.abortConnection)

    def describe(self) -> dict[str, str]:
        mode = "undecided" if self.codec is None else self.codec.name
        return {"address": self.address, "host": self.host, "door": f"tcp/{mode}"}

    # -- inside ----------------------------------------------------------

    def _send_now(self, event: Event) -> None:
        """Write past the send-queue check: errors about framing, and ``bye``."""
        if not self._closing:
            self.transport.write(event.encoded(self.codec or TEXT))

    def _too_slow(self) -> None:
        log.warn("{address} is too slow to read; dropped", address=self.address)
        self.hub.disconnect(self, "too slow")
        self.close("too slow: your connection did not read its messages")


class LineDoor(ServerFactory):
    """The factory of the line door: the hub, the limits, the open sessions."""

    protocol = LineSession  # type: ignore[assignment]
    noisy = False

    def __init__(self, hub: Hub, limits: LineLimits, clock: IReactorTime) -> None:
        self.hub = hub
        self.limits = limits
        self.clock = clock
        self.sessions: set[LineSession] = set()
        self._all_gone: list[Deferred[None]] = []

    def buildProtocol(self, addr: IAddress) -> LineSession:
        return LineSession(self)

    def session_gone(self) -> None:
        if not self.sessions:
            waiting, self._all_gone = self._all_gone, []
            for d in waiting:
                d.callback(None)

    def wait_closed(self) -> Deferred[None]:
        """Fires once every session of this door has disconnected."""
        if not self.sessions:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._all_gone.append(d)
        return d
