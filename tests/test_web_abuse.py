"""
Abuse of the web door over real loopback sockets, each bounded in bytes and
time: a WebSocket client that pings and never reads.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import defer, endpoints, protocol, reactor
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from tchat.door.web import WebSession
from tests.helpers import generous_limits
from tests.test_web_door import Response, WebServer, start

# What a server may hold for one connection whatever the client does: the
# transport's own buffer (64 KiB) before it says "full", what one read of
# 64 KiB can make it answer, the largest file, and some slack.
BUFFER_BOUND = 64 * 1024 + 64 * 1024 + 32 * 1024 + 32 * 1024


def buffered(transport: Any) -> int:
    """Bytes a Twisted TCP transport holds, not yet sent."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def ping_frame(payload: bytes = b"p" * 125) -> bytes:
    """A masked WebSocket ping frame, as a client must send it."""
    mask = os.urandom(4)
    return bytes([0x89, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class RawClient(protocol.Protocol):
    """
    A client on a real socket that writes bytes as given and keeps what it
    receives. With L{stop_reading} it reads nothing more (with a small receive
    window, so the kernel holds little for it either).
    """

    def __init__(self) -> None:
        self.data = b""
        self.lost: defer.Deferred[None] = defer.Deferred()
        self._waiting: list[tuple[bytes, defer.Deferred[None]]] = []

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        waiting, self._waiting = self._waiting, []
        for marker, d in waiting:
            if marker in self.data:
                d.callback(None)
            else:
                self._waiting.append((marker, d))

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.callback(None)
        for _, d in self._waiting:
            d.errback(ConnectionError(f"lost while waiting; received {self.data[:200]!r}"))
        self._waiting = []

    def wait_for(self, marker: bytes) -> defer.Deferred[None]:
        """Fires once what was received contains ``marker``."""
        if marker in self.data:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiting.append((marker, d))
        return d

    def stop_reading(self, small_window: bool = True) -> None:
        if small_window:
            self.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.transport.pauseProducing()

    def responses(self) -> list[Response]:
        """The HTTP responses received, each with a body of its Content-Length."""
        found, rest = [], self.data
        while rest:
            head, _, rest = rest.partition(b"\r\n\r\n")
            response = Response(head + b"\r\n\r\n")
            length = int(response.headers.get("content-length", "0"))
            response.body, rest = rest[:length], rest[length:]
            found.append(response)
        return found


class Firehose(RawClient):
    """
    Writes ``chunk`` again and again, as fast as its transport takes it, and
    never reads; stops after ``limit`` bytes or when the connection is lost.
    """

    def __init__(self, chunk: bytes, limit: int, first: bytes = b"", start_after: bytes | None = None) -> None:
        super().__init__()
        self.chunk, self.limit, self.first, self.start_after = chunk, limit, first, start_after
        self.sent = 0
        self.paused = False
        self.started = False
        self.finished: defer.Deferred[None] = defer.Deferred()
        self.on_chunk: Any = lambda: None

    def connectionMade(self) -> None:
        self.transport.write(self.first)
        if self.start_after is None:
            self._start()

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        if not self.started and self.start_after is not None and self.start_after in self.data:
            self._start()

    def _start(self) -> None:
        self.started = True
        self.stop_reading()
        self.transport.registerProducer(self, True)
        self._pump()

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._pump()

    def stopProducing(self) -> None:
        self._finish()

    def _pump(self) -> None:
        if self.paused or self.finished.called or not self.transport.connected:
            return
        if self.sent >= self.limit:
            self._finish()
            return
        self.transport.write(self.chunk)
        self.sent += len(self.chunk)
        self.on_chunk()
        reactor.callLater(0, self._pump)

    def _finish(self) -> None:
        if not self.finished.called:
            self.finished.callback(None)

    def connectionLost(self, reason: Any = None) -> None:
        self._finish()
        super().connectionLost(reason)


async def connect(case: TestCase, server: WebServer, client: RawClient, source: str = "127.0.0.1") -> RawClient:
    """Connect ``client`` to the web door from ``source``; it is cut when the test ends."""
    endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", server.web_port, bindAddress=(source, 0))
    await endpoints.connectProtocol(endpoint, client)

    async def cut() -> None:
        if client.transport.connected:
            client.transport.abortConnection()
        await client.lost

    case.addCleanup(lambda: defer.Deferred.fromCoroutine(cut()))
    return client


class LogLines:
    """The text of every log event from now until the test ends."""

    def __init__(self, case: TestCase) -> None:
        self.lines: list[str] = []
        globalLogPublisher.addObserver(self)
        case.addCleanup(globalLogPublisher.removeObserver, self)

    def __call__(self, event: dict[str, Any]) -> None:
        self.lines.append(formatEvent(event))

    def matching(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]


async def chat_still_works(server: WebServer) -> None:
    """A browser and a terminal user log in and hear each other."""
    term = await server.line_client()
    term.send("termy")
    await term.wait_for(lambda line: line.startswith("*** You are termy."))
    web = await server.browser("webby")
    web.send_json(action="msg", to="#lobby", text="still chatting", id="m")
    await web.wait_event("ok", re="m")
    await term.wait_for("[#lobby] <~webby> still chatting")


class WebSocketFloodTests(TestCase):
    timeout = 30

    async def test_a_client_that_pings_and_never_reads_is_dropped_and_costs_little(self) -> None:
        # Pongs count against the send queue like events: once the buffer is
        # full and sendq more bytes are waiting, the client is dropped.
        server = start(self, limits=generous_limits(sendq=8192, close_grace=0.5))
        log = LogLines(self)
        pinger = Firehose(ping_frame() * 500, limit=32 * 1024 * 1024, first=UPGRADE, start_after=b"\r\n\r\n")
        await connect(self, server, pinger)
        await pinger.wait_for(b"101 Switching Protocols")
        session: WebSession = next(iter(server.web_door.sessions))
        most = [0]

        def measure() -> None:
            if session.transport is not None and session.transport.connected:
                most[0] = max(most[0], buffered(session.transport))

        pinger.on_chunk = measure
        await pinger.finished
        # The server cut the connection long before the client ran out of pings.
        self.assertLess(pinger.sent, pinger.limit)
        await pinger.lost
        self.assertEqual(len(log.matching("is too slow to read; dropped")), 1)
        self.assertGreater(pinger.sent, 20 * 8192)
        self.assertLess(most[0], BUFFER_BOUND)
        await chat_still_works(server)
