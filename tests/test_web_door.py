"""
The web door on real loopback sockets: an autobahn WebSocket client and line
clients in the same hub, the page's files and their headers, and the limits
every door shares.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, endpoints, protocol, reactor, ssl
from twisted.python import usage
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor
from tchat.door.admission import Admission
from tchat.door.limits import Limits
from tchat.commands import protocol_table
from tchat.door.web import SECURITY_HEADERS, HTTPLimits, OriginPolicy, StaticFile, WebDoor, load_static
from tchat.chat import Hub, HubConfig
from tchat.tap import DEFAULT_WEB_PORT, Options
from tests.helpers import Inbox, LineClient, event_matcher, generous_limits


class WebSocketClient(WebSocketClientProtocol):
    """
    A WebSocket client that keeps every frame it receives. L{wait_event}
    looks through the events not yet matched, in order, then waits.
    """

    # A TCP (or TLS) transport: connected, abortConnection.
    transport: Any

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[bytes] = []
        self.inbox = Inbox()
        self.events: list[dict[str, Any]] = self.inbox.items
        self.opened: defer.Deferred[None] = defer.Deferred()
        # (code, reason) of the close, once the TCP connection is gone
        self.closed: defer.Deferred[tuple[int | None, str | None]] = defer.Deferred()
        self.lost: defer.Deferred[None] = defer.Deferred()

    def onOpen(self) -> None:
        self.opened.callback(None)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.frames.append(payload)
        self.inbox.add(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if not self.opened.called:
            self.opened.errback(ConnectionError(f"handshake failed: {reason}"))
        if not self.closed.called:
            self.closed.callback((code, reason))
        self.inbox.end(f"closed ({code}, {reason})")

    def connectionLost(self, reason: Any = None) -> None:
        super().connectionLost(reason)
        if not self.lost.called:
            self.lost.callback(None)

    def wait_event(self, name: str, **fields: Any) -> defer.Deferred[dict[str, Any]]:
        """The next event called ``name`` whose fields include ``fields``."""
        return self.inbox.wait_for(event_matcher(name, **fields))

    def send_json(self, **obj: Any) -> None:
        self.sendMessage(json.dumps(obj).encode("utf-8"))


class RawHTTP(protocol.Protocol):
    """Sends one request as given, byte for byte, and keeps the whole answer."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.data = b""
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any = None) -> None:
        self.done.callback(self.data)


class Response:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split()[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.decode().strip().lower()] = value.decode().strip()


def all_released(admission: Admission) -> defer.Deferred[None]:
    """Fires once ``admission`` counts no connection (at once if it counts none)."""
    done: defer.Deferred[None] = defer.Deferred()
    release = admission._release

    def counted_release(ticket: Any) -> None:
        release(ticket)
        if admission.total == 0 and not done.called:
            done.callback(None)

    admission._release = counted_release  # type: ignore[method-assign]
    if admission.total == 0:
        done.callback(None)
    return done


class WebServer:
    """
    A hub with a line door and a web door on 127.0.0.1, port 0, and the
    clients of a test. When the test is over, every client is closed and
    the web door's connection counts must come back to zero.
    """

    def __init__(
        self,
        case: TestCase,
        limits: Limits,
        origins: list[str],
        files: Any,
        http: HTTPLimits | None = None,
        clock: Any = None,
        **config: Any,
    ) -> None:
        self.hub = Hub(HubConfig(**config), reactor, batch=True)
        self.line_door = LineDoor(self.hub, limits, reactor)
        self.web_door = WebDoor(self.hub, limits, clock or reactor, origins=origins, files=files, http=http)
        self.line_port = reactor.listenTCP(0, self.line_door, interface="127.0.0.1")
        self.web_listener = reactor.listenTCP(0, self.web_door.site, interface="127.0.0.1")
        self.web_port = self.web_listener.getHost().port
        self.clients: list[Any] = []
        case.addCleanup(lambda: defer.Deferred.fromCoroutine(self.stop()))

    async def stop(self) -> None:
        await self.line_port.stopListening()
        await self.web_listener.stopListening()
        self.hub.close_all("test over")
        await defer.gatherResults([self.line_door.wait_closed(), self.web_door.wait_closed()])
        for client in self.clients:
            if client.transport is not None and client.transport.connected:
                client.transport.loseConnection()
        await defer.gatherResults([c.lost for c in self.clients])
        # Every HTTP connection and WebSocket gave its place back.
        await all_released(self.web_door.table.admission)
        self.assertEmptyCounts()

    def assertEmptyCounts(self) -> None:
        admission = self.web_door.table.admission
        assert (admission.total, admission.pending, admission.per_host) == (0, 0, {}), vars(admission)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    async def websocket(self, origin: str | None = "same", wait_open: bool = True) -> WebSocketClient:
        if origin == "same":
            origin = self.origin
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.web_port}/ws", origin=origin)
        factory.protocol = WebSocketClient
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.web_port)
        client = await endpoint.connect(factory)
        self.clients.append(client)
        if wait_open:
            await client.opened
        return client

    async def browser(self, name: str) -> WebSocketClient:
        client = await self.websocket()
        client.send_json(action="login", user=name, id="login")
        await client.wait_event("logged_in", re="login")
        return client

    async def line_client(self) -> LineClient:
        client = LineClient()
        self.clients.append(client)
        await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.line_port.getHost().port), client)
        return client

    async def http(self, target: bytes, method: bytes = b"GET", headers: bytes = b"") -> Response:
        request = (
            method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % self.web_port
            + headers + b"\r\n"
        )
        client = RawHTTP(request)
        await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.web_port), client)
        return Response(await client.done)


def start(
    case: TestCase,
    limits: Limits | None = None,
    origins: list[str] | None = None,
    files: Any = None,
    http: HTTPLimits | None = None,
    clock: Any = None,
    **config: Any,
) -> WebServer:
    return WebServer(case, limits or generous_limits(close_grace=2.0), origins or [], files, http, clock, **config)


class ChatThroughTheWebDoorTests(TestCase):
    timeout = 20

    async def test_browser_and_terminal_users_chat_both_ways(self) -> None:
        server = start(self)
        web = await server.websocket()
        welcome = await web.wait_event("welcome")
        self.assertEqual(welcome["server"], "tchat")
        web.send_json(action="login", user="webby", id=1)
        logged = await web.wait_event("logged_in", re=1)
        self.assertEqual(logged["rooms"], ["#lobby"])

        term = await server.line_client()
        term.send("termy")
        await term.wait_for(lambda line: line.startswith("*** You are termy."))
        joined = await web.wait_event("join")
        self.assertEqual((joined["user"], joined["room"]), ("termy", "#lobby"))

        # public, terminal -> browser
        term.send("hello from the terminal <b>")
        message = await web.wait_event("message")
        self.assertEqual((message["from"], message["to"], message["text"], message["kind"]),
                         ("termy", "#lobby", "hello from the terminal <b>", "public"))
        # public, browser -> terminal; the browser gets its ok, not its own message
        web.send_json(action="msg", to="#lobby", text="hello from the browser", id=2)
        ok = await web.wait_event("ok", re=2)
        self.assertIn("msgid", ok)
        await term.wait_for("[#lobby] <~webby> hello from the browser")
        # private, both ways
        web.send_json(action="msg", to="termy", text="just you", id=3)
        await web.wait_event("ok", re=3)
        await term.wait_for("[private] <~webby> just you")
        term.send("/msg webby and back")
        private = await web.wait_event("message", kind="private")
        self.assertEqual((private["from"], private["to"], private["text"]), ("termy", "webby", "and back"))
        self.assertNotIn({"event": "message", "from": "webby"}, [{"event": e["event"], "from": e.get("from")} for e in web.events])

        # a browser sees the same rooms as everyone
        web.send_json(action="join", room="#dev", id=4)
        ok = await web.wait_event("ok", re=4)
        self.assertEqual(ok["users"], ["webby"])
        term.send("/join #dev")
        await web.wait_event("join", room="#dev", user="termy")
        web.send_json(action="users", room="#dev", id=5)
        users = await web.wait_event("users", re=5)
        self.assertEqual(users["users"], ["termy", "webby"])

        web.send_json(action="quit", id=6)
        bye = await web.wait_event("bye")
        self.assertEqual(bye["text"], "you left the chat")
        code, _ = await web.closed
        self.assertEqual(code, 1000)
        await term.wait_for("*** webby left #lobby, #dev (quit)")

    async def test_a_fan_out_sends_json_clients_on_both_doors_the_same_bytes(self) -> None:
        server = start(self)
        web = await server.browser("webby")
        bot = await server.line_client()
        bot.send_json(action="login", user="bot", id=1)
        await bot.wait_event("logged_in", re=1)
        writer = await server.browser("writer")
        writer.send_json(action="msg", to="#lobby", text="to all", id=2)
        await writer.wait_event("ok", re=2)
        line = await bot.wait_event("message", text="to all")
        await web.wait_event("message", text="to all")
        (frame,) = [f for f in web.frames if b'"to all"' in f]
        self.assertEqual(frame, json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\r\n")
        self.assertEqual([s.describe()["door"] for s in server.web_door.sessions], ["web/json", "web/json"])

    async def test_the_session_lives_until_the_browser_closes_and_its_rooms_are_told(self) -> None:
        server = start(self)
        term = await server.line_client()
        term.send("termy")
        web = await server.browser("webby")
        await term.wait_for("*** webby joined #lobby")
        web.sendClose(1000)
        await web.lost
        await term.wait_for("*** webby left #lobby (connection lost)")
        self.assertEqual(server.web_door.sessions, set())


class WebSocketFramingTests(TestCase):
    timeout = 20

    async def test_malformed_json_gets_bad_request_and_the_socket_stays(self) -> None:
        server = start(self)
        web = await server.websocket()
        web.sendMessage(b'{"action": "login", "user": ')
        error = await web.wait_event("error")
        self.assertEqual(error["code"], "bad_request")
        web.sendMessage(b"[1, 2]")
        self.assertEqual((await web.wait_event("error"))["code"], "bad_request")
        web.send_json(action="no-such-thing", id=7)
        self.assertEqual((await web.wait_event("error", re=7))["code"], "unknown_command")
        web.send_json(action="msg", to="#lobby", text="hi", id=8)
        self.assertEqual((await web.wait_event("error", re=8))["code"], "not_logged_in")
        web.send_json(action="login", user="still_here", id=9)
        await web.wait_event("logged_in", re=9)

    async def test_binary_and_non_utf8_frames_get_errors_and_the_socket_stays(self) -> None:
        server = start(self)
        web = await server.browser("webby")
        web.sendMessage(b'{"action": "ping"}', isBinary=True)
        error = await web.wait_event("error")
        self.assertEqual(error["code"], "bad_request")
        self.assertIn("binary", error["text"])
        web.sendMessage(b'{"action": "msg", "to": "#lobby", "text": "\xff"}')
        self.assertEqual((await web.wait_event("error"))["code"], "bad_encoding")
        web.send_json(action="ping", id="p")
        await web.wait_event("pong", re="p")

    async def test_an_oversized_message_gets_line_too_long_and_the_socket_stays(self) -> None:
        server = start(self, limits=generous_limits(max_line=1000, close_grace=2.0))
        web = await server.browser("webby")
        big = json.dumps({"action": "msg", "to": "#lobby", "text": "x" * 100_000}).encode()
        web.sendMessage(big)
        error = await web.wait_event("error")
        self.assertEqual(error["code"], "line_too_long")
        # in fragments, each small, together too big
        web.sendMessage(big, fragmentSize=200)
        self.assertEqual((await web.wait_event("error"))["code"], "line_too_long")
        # exactly the limit is fine
        fits = json.dumps({"action": "ping", "token": "y" * 900}).encode()
        fits += b" " * (1000 - len(fits))
        web.sendMessage(fits)
        self.assertEqual((await web.wait_event("pong"))["token"], "y" * 900)
        self.assertEqual([e["code"] for e in web.events if e["event"] == "error"], ["line_too_long", "line_too_long"])

    async def test_events_longer_than_the_limit_still_reach_the_browser(self) -> None:
        # max_line bounds what a client sends; the server's answers (help,
        # history, a long user list) may be longer.
        server = start(self, limits=generous_limits(max_line=200, close_grace=2.0))
        web = await server.browser("webby")
        web.send_json(action="help", id="h")
        answer = await web.wait_event("help", re="h")
        self.assertGreater(len(json.dumps(answer)), 1000)

    async def test_flood_control_applies_to_the_websocket(self) -> None:
        limits = generous_limits(flood_burst=3, flood_rate=0.01, flood_queue=2, close_grace=2.0)
        server = start(self, limits=limits)
        web = await server.websocket()
        for i in range(8):
            web.send_json(action="ping", id=i)
        # three at once (the burst), two wait their turn, the rest are refused
        for i in range(3):
            await web.wait_event("pong", re=i)
        for i in range(5, 8):
            self.assertEqual((await web.wait_event("error", re=i))["code"], "rate_limited")

    async def test_too_many_connections_from_one_address_are_refused(self) -> None:
        # Counted from the HTTP request, so the one too many is refused
        # before any upgrade, with a plain 503.
        server = start(self, limits=generous_limits(max_per_address=1, close_grace=2.0))
        first = await server.websocket()
        second = await server.websocket(wait_open=False)
        with self.assertRaises(ConnectionError) as caught:
            await second.opened
        self.assertIn("503", str(caught.exception))
        first.send_json(action="ping", id=1)
        await first.wait_event("pong", re=1)

    async def test_a_browser_that_does_not_log_in_is_closed(self) -> None:
        server = start(self, limits=generous_limits(login_timeout=0.3, close_grace=2.0))
        web = await server.websocket()
        bye = await web.wait_event("bye")
        self.assertIn("login timeout", bye["text"])
        await web.closed

    async def test_a_silent_browser_is_pinged_and_stays_if_it_answers(self) -> None:
        server = start(self, limits=generous_limits(idle_timeout=0.3, ping_timeout=60, close_grace=2.0))
        web = await server.browser("webby")
        ping = await web.wait_event("ping")
        web.send_json(action="pong", token=ping["token"])
        web.send_json(action="ping", id="still")
        await web.wait_event("pong", re="still")

    async def test_a_silent_browser_that_does_not_answer_the_ping_is_dropped(self) -> None:
        server = start(self, limits=generous_limits(idle_timeout=0.3, ping_timeout=0.3, close_grace=2.0))
        term = await server.line_client()
        term.send("termy")
        web = await server.browser("webby")
        bye = await web.wait_event("bye")
        self.assertIn("ping timeout", bye["text"])
        await term.wait_for("*** webby left #lobby (ping timeout)")

    async def test_the_socket_path_without_an_upgrade_is_refused_plainly(self) -> None:
        server = start(self)
        response = await server.http(b"/ws")
        self.assertGreaterEqual(response.status, 400)
        self.assertNotIn(b"Autobahn", response.body)

    async def test_the_send_queue_is_the_transports_producer_and_drops_a_slow_reader(self) -> None:
        server = start(self, limits=generous_limits(sendq=10_000, close_grace=2.0))
        slow = await server.browser("slow")
        (session,) = server.web_door.sessions
        # The HTTP channel that carried the upgrade gave way to the send queue.
        self.assertIs(session.transport.producer, session.sendq)
        term = await server.line_client()
        term.send("termy")
        await term.wait_for(lambda line: line.startswith("*** You are termy."))
        session.sendq.pauseProducing()  # as the transport does when its buffer is full
        for i in range(30):
            term.send(f"{i} " + "z" * 500)
        await term.wait_for("*** slow left #lobby (too slow)")
        bye = await slow.wait_event("bye")
        self.assertIn("too slow", bye["text"])

    def test_autobahn_limits_and_pings_follow_the_shared_limits(self) -> None:
        limits = Limits(max_line=2048, idle_timeout=33, ping_timeout=11, close_grace=4)
        door = WebDoor(Hub(HubConfig(), reactor), limits, reactor, files={})
        factory = door.socket_factory
        # autobahn's message limit would also refuse the server's own long
        # events; the door checks incoming messages itself (see WebSession).
        self.assertEqual((factory.maxMessagePayloadSize, factory.maxFramePayloadSize), (0, 2048))
        self.assertEqual((factory.autoPingInterval, factory.autoPingTimeout), (33, 11))
        self.assertEqual(factory.closeHandshakeTimeout, 4)
        self.assertIsNone(factory.perMessageCompressionAccept([object()]))  # no compression offered is taken


class StoppingTests(TestCase):
    timeout = 20

    async def test_shutdown_reaches_a_browser_as_shutdown_then_bye_then_a_normal_close(self) -> None:
        server = start(self, admin_password="pw")
        web = await server.browser("webby")
        root = await server.line_client()
        root.send("root")
        root.send("/admin pw")
        await root.wait_for(lambda line: line.startswith("*** you are an admin now"))
        root.send("/shutdown back soon")
        shutdown = await web.wait_event("shutdown")
        self.assertEqual((shutdown["text"], shutdown["delay"]), ("back soon", 0))
        bye = await web.wait_event("bye")
        self.assertEqual(bye["text"], "back soon")
        code, _ = await web.closed
        self.assertEqual(code, 1000)
        await server.web_door.wait_closed()

    async def test_a_stop_without_shutdown_says_goodbye_to_browsers_too(self) -> None:
        server = start(self)
        web = await server.browser("webby")
        server.hub.close_all("server stopping")
        self.assertEqual((await web.wait_event("shutdown"))["text"], "server stopping")
        await web.wait_event("bye")
        code, _ = await web.closed
        self.assertEqual(code, 1000)
        await server.web_door.wait_closed()


class OriginTests(TestCase):
    timeout = 20

    async def test_a_page_from_another_site_cannot_open_the_socket(self) -> None:
        server = start(self)
        foreign = await server.websocket(origin="http://evil.example", wait_open=False)
        with self.assertRaises(ConnectionError) as caught:
            await foreign.opened
        self.assertIn("403", str(caught.exception))
        # same host, other port: another origin too
        other_port = await server.websocket(origin=f"http://127.0.0.1:{server.web_port + 1}", wait_open=False)
        with self.assertRaises(ConnectionError):
            await other_port.opened
        self.assertEqual(server.web_door.sessions, set())
        # the page's own origin, and a program that sends none, are let in
        await server.websocket()
        await server.websocket(origin=None)

    async def test_an_allow_list_replaces_the_same_host_rule(self) -> None:
        server = start(self, origins=["https://chat.example.org"])
        allowed = await server.websocket(origin="https://chat.example.org")
        allowed.send_json(action="ping", id=1)
        await allowed.wait_event("pong", re=1)
        same_host = await server.websocket(wait_open=False)
        with self.assertRaises(ConnectionError):
            await same_host.opened
        foreign = await server.websocket(origin="https://chat.example.org.evil.example", wait_open=False)
        with self.assertRaises(ConnectionError):
            await foreign.opened

    def test_origin_policy(self) -> None:
        own = OriginPolicy()
        self.assertTrue(own.allows("http://chat.example.org:5000", "chat.example.org:5000"))
        self.assertTrue(own.allows("https://Chat.Example.org", "chat.example.org"))
        self.assertTrue(own.allows("https://chat.example.org", "chat.example.org:443"))
        self.assertTrue(own.allows("http://[::1]:5000", "[::1]:5000"))
        self.assertFalse(own.allows("http://chat.example.org:5001", "chat.example.org:5000"))
        self.assertFalse(own.allows("http://evil.example", "chat.example.org"))
        self.assertFalse(own.allows("null", "chat.example.org"))
        self.assertFalse(own.allows("http://chat.example.org", None))
        self.assertFalse(own.allows("javascript:alert(1)", "chat.example.org"))
        self.assertTrue(own.allows(None, "chat.example.org"))
        listed = OriginPolicy(["https://chat.example.org", "http://localhost:8080"])
        self.assertTrue(listed.allows("https://chat.example.org:443", "anything"))
        self.assertTrue(listed.allows("http://LOCALHOST:8080", "anything"))
        self.assertFalse(listed.allows("http://chat.example.org", "chat.example.org"))
        self.assertTrue(OriginPolicy(["*"]).allows("http://anywhere.example", "chat.example.org"))
        for bad in ["chat.example.org", "ftp://x", "https://x/path", "https://user@x"]:
            with self.assertRaises(ValueError):
                OriginPolicy([bad])


PEM = os.path.join(os.path.dirname(os.path.abspath(__import__("twisted.test").test.__file__)), "server.pem")
OUTSIDE_MARKER = b"The web door's page"  # from tchat/web/__init__.py, beside static/


class StaticFilesTests(TestCase):
    timeout = 20

    async def test_the_page_is_served_with_its_security_headers(self) -> None:
        server = start(self)
        page = await server.http(b"/")
        self.assertEqual(page.status, 200)
        self.assertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b'<script type="module" src="app.js"></script>', page.body)
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(page.headers[name.decode()], value.decode())
        csp = dict(
            (part.split()[0], part.split()[1:]) for part in page.headers["content-security-policy"].split(";")
        )
        self.assertEqual(csp["script-src"], ["'self'"])
        self.assertNotIn("'unsafe-inline'", page.headers["content-security-policy"])
        self.assertEqual(csp["connect-src"], ["'self'"])
        self.assertEqual(page.headers["x-content-type-options"], "nosniff")
        self.assertEqual(page.headers["referrer-policy"], "no-referrer")

        script = await server.http(b"/app.js")
        self.assertEqual(script.status, 200)
        self.assertEqual(script.headers["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(script.headers["content-security-policy"], page.headers["content-security-policy"])
        style = await server.http(b"/style.css")
        self.assertEqual(style.headers["content-type"], "text/css; charset=utf-8")
        self.assertEqual((await server.http(b"/index.html")).body, page.body)

        again = await server.http(b"/app.js", headers=b"If-None-Match: " + script.headers["etag"].encode() + b"\r\n")
        self.assertEqual((again.status, again.body), (304, b""))
        head = await server.http(b"/app.js", method=b"HEAD")
        self.assertEqual((head.status, head.body), (200, b""))
        post = await server.http(b"/", method=b"POST", headers=b"Content-Length: 0\r\n")
        self.assertEqual(post.status, 405)
        missing = await server.http(b"/nothing-here")
        self.assertEqual(missing.status, 404)
        self.assertEqual(missing.headers["content-security-policy"], page.headers["content-security-policy"])

    async def test_the_admin_page_is_served_at_admin_with_the_same_headers(self) -> None:
        server = start(self)
        page = await server.http(b"/")
        admin = await server.http(b"/admin")
        self.assertEqual(admin.status, 200)
        self.assertEqual(admin.headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b'<script type="module" src="admin.js"></script>', admin.body)
        self.assertEqual((await server.http(b"/admin.html")).body, admin.body)
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(admin.headers[name.decode()], value.decode())
            self.assertEqual(admin.headers[name.decode()], page.headers[name.decode()])
        self.assertEqual(admin.headers["cache-control"], "no-cache")
        for path, kind in ((b"/admin.js", "text/javascript; charset=utf-8"), (b"/admin.css", "text/css; charset=utf-8")):
            response = await server.http(path)
            self.assertEqual((response.status, response.headers["content-type"]), (200, kind))
            self.assertEqual(response.headers["content-security-policy"], page.headers["content-security-policy"])
        # Only the exact path: nothing under it, nor another spelling.
        for path in (b"/admin/", b"/admin/x", b"/Admin"):
            self.assertEqual((await server.http(path)).status, 404, path)

    async def test_no_file_outside_the_static_folder_is_reachable(self) -> None:
        server = start(self)
        tries = [
            b"/../__init__.py",
            b"/%2e%2e/__init__.py",
            b"/%2E%2E/__init__.py",
            b"/..%2f__init__.py",
            b"/%2e%2e%2f__init__.py",
            b"/.%2e/.%2e/door/web.py",
            b"/..%5c__init__.py",
            b"/static/../../web/__init__.py",
            b"/%252e%252e/__init__.py",
            b"//etc/passwd",
            b"/etc/passwd",
            b"/%2fetc%2fpasswd",
            b"/../../../../../../etc/passwd",
            b"http://127.0.0.1/../../etc/passwd",
            b"/index.html/../../__init__.py",
            b"/ws/../__init__.py",
            b"/%00",
            b"/%ff",
        ]
        for target in tries:
            response = await server.http(target)
            self.assertIn(response.status, (400, 404), target)
            self.assertNotIn(OUTSIDE_MARKER, response.body, target)
            self.assertNotIn(b"root:", response.body, target)

    async def test_folders_are_not_listed(self) -> None:
        files = load_static()
        folders = {path.rsplit("/", 1)[0] + "/" for path in files if path.count("/") > 1}
        server = start(self)
        for folder in sorted(folders) + ["/."]:
            response = await server.http(folder.encode())
            self.assertEqual(response.status, 404, folder)

    def test_links_and_hidden_files_in_the_folder_are_not_served(self) -> None:
        from pathlib import Path

        with tempfile.TemporaryDirectory() as top:
            outside = Path(top, "secret.txt")
            outside.write_text("secret")
            folder = Path(top, "static")
            folder.mkdir()
            (folder / "index.html").write_text("<p>hi</p>")
            (folder / ".hidden").write_text("hidden")
            os.symlink(outside, folder / "linked.txt")
            os.symlink(top, folder / "up")
            files = load_static(folder)
        self.assertEqual(sorted(files), ["/", "/index.html"])

    def test_the_page_and_its_scripts_are_in_the_package(self) -> None:
        files = load_static()
        for path in ["/index.html", "/app.js", "/style.css", "/admin.html", "/admin.js", "/admin.css"]:
            self.assertIn(path, files)
        self.assertIs(files["/admin"], files["/admin.html"])
        for name in ("/index.html", "/admin.html"):
            page = files[name].body.decode()
            # No inline script, handlers or styles: the CSP would block them.
            self.assertNotRegex(page, r"<script(?![^>]*\bsrc=)")
            self.assertNotRegex(page, r"\son[a-z]+=")
            self.assertNotRegex(page, r"<style|\sstyle=")
        # Nothing from elsewhere: the page must work offline.
        for body in (f.body for f in files.values()):
            self.assertNotRegex(body, rb"(?i)(src|href)=[\"']?(https?:)?//")
            self.assertNotRegex(body, rb"(?i)@import\s+url\([\"']?https?:")

    async def test_the_command_table_is_served_as_protocol_json(self) -> None:
        """/protocol.json is tchat.commands' table, made at start, served as the page's files are."""
        server = start(self)
        served = await server.http(b"/protocol.json")
        self.assertEqual(served.status, 200)
        self.assertEqual(served.headers["content-type"], "application/json")
        self.assertEqual(served.headers["cache-control"], "no-cache")
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(served.headers[name.decode()], value.decode())
        self.assertEqual(json.loads(served.body), protocol_table())
        again = await server.http(b"/protocol.json", headers=b"If-None-Match: " + served.headers["etag"].encode() + b"\r\n")
        self.assertEqual((again.status, again.body), (304, b""))

    def test_the_page_spells_no_command_of_the_servers(self) -> None:
        """
        The page reads typed lines with /protocol.json only: no list of
        words of its own for any command the server has, no alias, and every
        test an argument may put to its word is one the page knows.
        """
        script = load_static()["/commands.js"].body.decode()
        table = protocol_table()["commands"]
        server_words = {w for c in table for f in c["forms"] for w in f["words"]}
        for listed in re.findall(r"words:\s*\[([^\]]*)\]", script):
            spelt = set(re.findall(r'"([^"]*)"', listed))
            self.assertFalse(spelt & server_words, f"commands.js spells the server's command words {spelt & server_words}")
        for alias in {w for c in table for f in c["forms"] for w in f["words"][1:]}:
            self.assertNotIn(f'"{alias}"', script, f"commands.js spells the server's alias /{alias}")
        known = set(re.findall(r"^  (\w+):", script.split("const ACCEPTS = {", 1)[1].split("};", 1)[0], re.M))
        used = {a["accepts"] for c in table for f in c["forms"] for a in f["args"]} - {None}
        self.assertLessEqual(used, known, "an argument test the page does not know (ACCEPTS in commands.js)")
        # What the page does itself with an action is for actions that exist.
        on_page = set(re.findall(r"^  (\w+)[:,]", script.split("const ON_PAGE = {", 1)[1].split("};", 1)[0], re.M))
        self.assertLessEqual(on_page, {c["action"] for c in table} | {"clear"})

    def test_a_static_file_cannot_stand_in_for_the_command_table(self) -> None:
        fake = {"/protocol.json": StaticFile(b"{}", "application/json", b'"x"')}
        door = WebDoor(Hub(HubConfig(), reactor), generous_limits(), reactor, files=fake)
        self.assertEqual(json.loads(door.files["/protocol.json"].body), protocol_table())


class TLSTests(TestCase):
    timeout = 20

    async def test_wss_and_https_through_an_ssl_endpoint(self) -> None:
        pem = PEM
        hub = Hub(HubConfig(), reactor)
        door = WebDoor(hub, generous_limits(close_grace=2.0), reactor)
        endpoint = endpoints.serverFromString(reactor, f"ssl:0:interface=127.0.0.1:privateKey={pem}:certKey={pem}")
        port = await endpoint.listen(door.site)
        number = port.getHost().port
        client_tls = ssl.CertificateOptions(verify=False)

        factory = WebSocketClientFactory(f"wss://127.0.0.1:{number}/ws", origin=f"https://127.0.0.1:{number}")
        factory.protocol = WebSocketClient
        web = await endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", number, client_tls).connect(factory)

        async def stop() -> None:
            await port.stopListening()
            hub.close_all("test over")
            await door.wait_closed()
            await web.lost

        self.addCleanup(lambda: defer.Deferred.fromCoroutine(stop()))
        await web.opened
        web.send_json(action="login", user="secure", id=1)
        await web.wait_event("logged_in", re=1)
        web.send_json(action="ping", id=2)
        await web.wait_event("pong", re=2)
        self.assertEqual(len(door.sessions), 1)
        page = RawHTTP(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await endpoints.connectProtocol(endpoints.SSL4ClientEndpoint(reactor, "127.0.0.1", number, client_tls), page)
        response = Response(await page.done)
        self.assertEqual(response.status, 200)
        self.assertIn("script-src 'self'", response.headers["content-security-policy"])


class OptionsTests(TestCase):
    def options(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_the_web_door_listens_on_5000_unless_told(self) -> None:
        self.assertEqual(self.options()["web-ports"], [DEFAULT_WEB_PORT])
        self.assertTrue(DEFAULT_WEB_PORT.startswith("tcp:5000:"))
        self.assertEqual(self.options("--web-port", "8080")["web-ports"], ["tcp:8080:backlog=1024"])
        self.assertEqual(
            self.options("--web-port", "tcp:0:interface=127.0.0.1", "--web-port", f"ssl:8443:privateKey={PEM}")["web-ports"],
            ["tcp:0:interface=127.0.0.1", f"ssl:8443:privateKey={PEM}"],
        )
        self.assertEqual(self.options("--web-port", "off")["web-ports"], [])

    def test_bad_web_options_are_usage_errors(self) -> None:
        with self.assertRaises(usage.UsageError):
            self.options("--web-port", "nonsense:1")
        with self.assertRaises(usage.UsageError):
            self.options("--web-port", "off", "--web-port", "5000")
        with self.assertRaises(usage.UsageError):
            self.options("--web-origin", "chat.example.org")
        self.assertEqual(
            self.options("--web-origin", "https://chat.example.org", "--web-origin", "*")["web-origins"],
            ["https://chat.example.org", "*"],
        )
