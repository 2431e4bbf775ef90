"""
Abuse of the web door over real loopback sockets, each bounded in bytes and
time: a WebSocket client that pings and never reads, HTTP pipelining without
reading, half-sent requests (slowloris), request bodies, and the counts and
timers around the WebSocket upgrade.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import defer, endpoints, protocol, reactor, ssl, task
from twisted.logger import ILogObserver, formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from tchat.door.web import HTTPLimits, WebChannel, WebDoor, WebSession
from tchat.chat import Hub, HubConfig
from tests.helpers import generous_limits
from tests.test_web_door import PEM, Response, WebServer, WebSocketClient, all_released, start

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

    # A TCP (or TLS) transport: connected, pauseProducing, abortConnection.
    transport: Any

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
            handle = self.transport.getHandle()
            if not isinstance(handle, socket.socket):  # TLS: the socket under it
                handle = self.transport.transport.getHandle()
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
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


class RawHTTPS:
    """One HTTPS request on its own connection."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def get(self, target: bytes) -> Response:
        client = RawClient()
        tls = ssl.CertificateOptions(verify=False)
        await endpoints.connectProtocol(endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", self.port, tls), client)
        client.transport.write(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await client.lost
        return client.responses()[0]


def channels_of(server: WebServer | WebDoor, send_buffer: int | None = None) -> list[WebChannel]:
    """
    Every HTTP channel the web door makes from now on, in order; with
    ``send_buffer``, the kernel's send buffer of each is that small (as for
    a client far away).
    """
    made: list[WebChannel] = []
    site = (server if isinstance(server, WebDoor) else server.web_door).site
    build = site.buildProtocol

    def recording(addr: Any) -> Any:
        channel = build(addr)
        made.append(channel)
        if send_buffer is not None:
            made_connection = channel.connectionMade

            def connectionMade() -> None:
                channel.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
                made_connection()

            channel.connectionMade = connectionMade
        return channel

    site.buildProtocol = recording  # type: ignore[method-assign]
    return made


@implementer(ILogObserver)
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
        session = next(iter(server.web_door.sessions))
        assert isinstance(session, WebSession)
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


class PipeliningTests(TestCase):
    timeout = 30

    async def test_a_pipelining_client_that_never_reads_is_not_answered_ahead(self) -> None:
        server = start(self, http=HTTPLimits(max_requests=10**6))
        channels = channels_of(server)
        bot = await server.line_client()
        bot.send_json(action="login", user="bot", id=0)
        await bot.wait_event("logged_in", re=0)
        request = b"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        hose = Firehose(request * 1000, limit=len(request) * 10_000)
        await connect(self, server, hose)
        await hose.finished
        # Everyone else is answered at once.
        for i in range(1, 4):
            began = time.monotonic()
            bot.send_json(action="ping", id=i)
            await bot.wait_event("pong", re=i)
            self.assertLess(time.monotonic() - began, 1.0)
        (channel,) = channels
        # It was answered only as fast as it read: what the kernel's socket
        # buffers take, then one transport buffer; the rest of the requests
        # wait unread in the kernel.
        self.assertLess(buffered(channel.transport) + len(channel._buffer), BUFFER_BOUND)
        self.assertTrue(channel._buffer_full)
        self.assertLess(channel._served, 1000)

    async def test_over_tls_too(self) -> None:
        hub = Hub(HubConfig(), reactor)
        door = WebDoor(hub, generous_limits(close_grace=2.0), reactor, http=HTTPLimits(max_requests=10**6))
        endpoint = endpoints.serverFromString(reactor, f"ssl:0:interface=127.0.0.1:privateKey={PEM}:certKey={PEM}")
        port = await endpoint.listen(door.site)
        self.addCleanup(port.stopListening)
        channels = channels_of(door)
        request = b"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        hose = Firehose(request * 1000, limit=len(request) * 20_000, first=request, start_after=b"HTTP/1.1 200")
        tls = ssl.CertificateOptions(verify=False)
        await endpoints.connectProtocol(endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port, tls), hose)
        await hose.finished
        for _ in range(20):  # the server has had many turns, a read of 64 KiB each
            self.assertEqual((await RawHTTPS(port.getHost().port).get(b"/nothing")).status, 404)
        channel = channels[0]
        self.assertTrue(channel._buffer_full)
        self.assertLess(buffered(channel.transport.transport) + len(channel._buffer), BUFFER_BOUND)
        hose.transport.abortConnection()
        await hose.lost
        await all_released(door.table.admission)

    async def test_it_goes_on_when_the_client_reads_again(self) -> None:
        server = start(self, http=HTTPLimits(max_requests=10**6))
        request = b"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        channels = channels_of(server, send_buffer=16384)
        client = await connect(self, server, RawClient())
        client.stop_reading(small_window=False)
        client.transport.write(request * 40 + b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await server.http(b"/")  # the server has had its turn meanwhile
        (channel, _) = channels
        self.assertTrue(channel._buffer_full)
        self.assertLess(channel._served, 40)
        client.transport.resumeProducing()
        await client.wait_for(b"not found\n")
        responses = client.responses()
        self.assertEqual([r.status for r in responses], [200] * 40 + [404])
        self.assertTrue(all(len(r.body) == len(server.web_door.files["/app.js"].body) for r in responses[:40]))

    async def test_after_max_requests_the_connection_is_closed(self) -> None:
        server = start(self, http=HTTPLimits(max_requests=3))
        client = await connect(self, server, RawClient())
        client.transport.write(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 5)
        await client.lost
        responses = client.responses()
        self.assertEqual([r.status for r in responses], [404] * 3)
        self.assertEqual(responses[-1].headers["connection"], "close")

    async def test_the_access_log_is_bounded_and_says_what_it_left_out(self) -> None:
        server = start(self, http=HTTPLimits(max_requests=10**6, log_burst=20, log_rate=1.0))
        log = LogLines(self)
        client = await connect(self, server, RawClient())
        began = time.monotonic()
        client.transport.write(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 1000 + b"GET /last HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await client.lost
        elapsed = time.monotonic() - began
        self.assertEqual(len(client.responses()), 1001)
        logged = len(log.matching('"GET /nothing HTTP/1.1"'))
        self.assertGreaterEqual(logged, 20)
        self.assertLessEqual(logged, 20 + int(elapsed * 1.0) + 1)
        server.web_door.log_budget.flush()
        (summary,) = log.matching("lines of the web log were left out")
        self.assertIn(f"{1001 - logged - len(log.matching('GET /last'))} lines", summary)


class SlowlorisTests(TestCase):
    timeout = 30

    async def test_half_sent_requests_count_against_the_address_from_the_first_byte(self) -> None:
        server = start(self, limits=generous_limits(max_per_address=5, close_grace=2.0))
        half = [await connect(self, server, RawClient()) for _ in range(5)]
        for client in half:
            client.transport.write(b"GET / HTTP/1.1\r\nHost: 127.")
        refused = await connect(self, server, RawClient())
        await refused.lost
        (response,) = refused.responses()
        self.assertEqual(response.status, 503)
        self.assertIn(b"127.0.0.1 has 5 connections open", response.body)
        self.assertEqual(response.headers["connection"], "close")
        self.assertEqual(server.web_door.table.admission.per_host, {"127.0.0.1": 5})
        # Another address still gets in, and gets the page.
        other = await connect(self, server, RawClient(), source="127.0.0.2")
        other.transport.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await other.lost
        self.assertEqual(other.responses()[0].status, 200)
        for client in half:
            client.transport.abortConnection()
        await all_released(server.web_door.table.admission)

    async def test_connections_not_logged_in_are_capped_http_ones_too(self) -> None:
        server = start(self, limits=generous_limits(max_pending=2, close_grace=2.0))
        for _ in range(2):
            (await connect(self, server, RawClient())).transport.write(b"GET / HT")
        busy = await connect(self, server, RawClient(), source="127.0.0.3")
        await busy.lost
        self.assertEqual(busy.responses()[0].status, 503)
        self.assertIn(b"too many connections are logging in", busy.data)

    async def test_a_trickled_request_is_answered_408_at_the_header_deadline(self) -> None:
        server = start(self, http=HTTPLimits(header_timeout=0.5))
        client = await connect(self, server, RawClient())
        began = time.monotonic()
        client.transport.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # One byte every 50 ms keeps twisted.web's idle timeout from firing;
        # at most 200 of them (10 s), in case nothing else stops it.
        dripped = [0]

        def drip() -> None:
            if dripped[0] < 200 and client.transport.connected:
                client.transport.write(b"x")
                dripped[0] += 1

        trickle = task.LoopingCall(drip)
        trickle.start(0.05)
        await client.lost
        trickle.stop()
        self.assertGreaterEqual(time.monotonic() - began, 0.5)
        (response,) = client.responses()
        self.assertEqual(response.status, 408)
        self.assertEqual(response.headers["connection"], "close")
        await all_released(server.web_door.table.admission)

    async def test_an_idle_keep_alive_connection_is_closed_quietly_at_the_deadline(self) -> None:
        server = start(self, http=HTTPLimits(header_timeout=0.3))
        client = await connect(self, server, RawClient())
        client.transport.write(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await client.wait_for(b"not found\n")
        await client.lost
        self.assertEqual([r.status for r in client.responses()], [404])  # no 408 after it

    async def test_the_counts_come_back_to_zero_whichever_side_closes(self) -> None:
        server = start(self)
        admission = server.web_door.table.admission
        page = await connect(self, server, RawClient())
        page.transport.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await page.wait_for(b"</html>")
        half = await connect(self, server, RawClient())
        half.transport.write(b"GET / HTTP/1.1\r\n")
        quitter = await server.browser("quitter")
        closer = await server.browser("closer")
        vanisher = await server.browser("vanisher")
        foreign = await server.websocket(origin="http://evil.example", wait_open=False)
        with self.assertRaises(ConnectionError):
            await foreign.opened
        self.assertEqual((admission.total, admission.per_host), (5, {"127.0.0.1": 5}))
        self.assertEqual(admission.pending, 2)  # the two HTTP connections; the browsers logged in
        quitter.send_json(action="quit")  # the server closes
        closer.sendClose(1000)  # the client closes
        vanisher.transport.abortConnection()  # the client vanishes
        page.transport.loseConnection()
        half.transport.abortConnection()
        await defer.gatherResults([quitter.lost, closer.lost, vanisher.lost, page.lost, half.lost])
        await all_released(admission)
        server.assertEmptyCounts()


class RequestBodyTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.spooled: list[Any] = []
        real = tempfile.TemporaryFile

        def recording(*args: Any, **kwargs: Any) -> Any:
            self.spooled.append(args)
            return real(*args, **kwargs)

        self.patch(tempfile, "TemporaryFile", recording)

    async def send(self, server: WebServer, head: bytes, body: bytes = b"x" * 1000) -> RawClient:
        client = await connect(self, server, RawClient())
        client.transport.write(head + b"Host: 127.0.0.1\r\n\r\n" + body)
        await client.lost
        return client

    async def test_a_huge_post_is_refused_as_soon_as_its_headers_are_in(self) -> None:
        server = start(self)
        client = await self.send(server, b"POST /index.html HTTP/1.1\r\nContent-Length: %d\r\n" % (300 << 20))
        (response,) = client.responses()
        self.assertEqual(response.status, 405)
        self.assertEqual((response.headers["allow"], response.headers["connection"]), ("GET, HEAD", "close"))
        self.assertIn("script-src 'self'", response.headers["content-security-policy"])
        self.assertEqual(self.spooled, [])

    async def test_a_body_on_any_request_is_refused_unread(self) -> None:
        server = start(self)
        chunked = await self.send(server, b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", b"1000\r\n" + b"x" * 100)
        self.assertEqual(chunked.responses()[0].status, 413)
        sized = await self.send(server, b"GET /ws HTTP/1.1\r\nContent-Length: 5000000\r\n")
        self.assertEqual(sized.responses()[0].status, 413)
        # No "100 Continue" invites the body first.
        expecting = await self.send(server, b"PUT / HTTP/1.1\r\nContent-Length: 200000\r\nExpect: 100-continue\r\n", b"")
        self.assertEqual([r.status for r in expecting.responses()], [405])
        self.assertEqual(self.spooled, [])
        # A request without a body is still served on the same terms.
        self.assertEqual((await server.http(b"/", method=b"POST", headers=b"Content-Length: 0\r\n")).status, 405)
        self.assertEqual((await server.http(b"/")).status, 200)


class UpgradeTests(TestCase):
    timeout = 30

    async def test_no_http_timer_fires_on_a_connection_that_became_a_websocket(self) -> None:
        clock = task.Clock()
        server = start(self, clock=clock, http=HTTPLimits(header_timeout=5, idle_timeout=7))
        web = await server.browser("webby")
        # A plain HTTP connection beside it, to show that the timers run.
        idle = await connect(self, server, RawClient())
        idle.transport.write(b"GET / HT")
        await server.http(b"/nothing")  # the server has seen the bytes
        clock.advance(30)
        await idle.lost
        self.assertEqual(idle.responses()[0].status, 408)
        web.send_json(action="ping", id="alive")
        await web.wait_event("pong", re="alive")
        (session,) = server.web_door.sessions
        self.assertFalse(session.closing)

    async def test_wss_gives_its_place_back_too(self) -> None:
        hub = Hub(HubConfig(), reactor)
        door = WebDoor(hub, generous_limits(close_grace=2.0), reactor)
        endpoint = endpoints.serverFromString(reactor, f"ssl:0:interface=127.0.0.1:privateKey={PEM}:certKey={PEM}")
        port = await endpoint.listen(door.site)
        self.addCleanup(port.stopListening)
        number = port.getHost().port
        factory = WebSocketClientFactory(f"wss://127.0.0.1:{number}/ws", origin=f"https://127.0.0.1:{number}")
        factory.protocol = WebSocketClient
        tls = ssl.CertificateOptions(verify=False)
        web = await endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", number, tls).connect(factory)
        await web.opened
        page = RawClient()
        await endpoints.connectProtocol(endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", number, tls), page)
        page.transport.write(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await page.wait_for(b"not found\n")
        self.assertEqual(door.table.admission.total, 2)
        web.send_json(action="quit")
        page.transport.loseConnection()
        await defer.gatherResults([web.lost, page.lost])
        await all_released(door.table.admission)
        self.assertEqual(json.loads(web.frames[-1])["event"], "bye")

    async def test_a_refusal_reaches_a_tls_client(self) -> None:
        # The 503 is written before the TLS handshake is done; TLS holds it
        # (and says "full") until then, so the channel must go on reading.
        hub = Hub(HubConfig(), reactor)
        door = WebDoor(hub, generous_limits(max_per_address=1, close_grace=5.0), reactor)
        endpoint = endpoints.serverFromString(reactor, f"ssl:0:interface=127.0.0.1:privateKey={PEM}:certKey={PEM}")
        port = await endpoint.listen(door.site)
        self.addCleanup(port.stopListening)
        tls = ssl.CertificateOptions(verify=False)
        tls_endpoint = endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port, tls)
        first, second = RawClient(), RawClient()
        await endpoints.connectProtocol(tls_endpoint, first)
        first.transport.write(b"GET / HT")
        await endpoints.connectProtocol(tls_endpoint, second)
        began = time.monotonic()
        await second.lost
        self.assertLess(time.monotonic() - began, 4.0)  # answered, not cut at the close grace
        self.assertEqual(second.responses()[0].status, 503)
        first.transport.abortConnection()
        await first.lost
        await all_released(door.table.admission)
