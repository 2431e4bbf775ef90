"""
The web door: the browser page and its WebSocket, on one port.

A L{WebDoor} is a twisted.web L{Site} that serves two things:

- ``/ws``: a WebSocket (autobahn) speaking tchat's JSON mode, one JSON
  object per text frame. Each connection is a L{WebSession}, which mixes in
  L{DoorSession} exactly as the line door's ``LineSession`` does, so a
  browser gets the same limits as anyone on TCP: connection counts, order,
  flood control, the send queue, login and ping timeouts, closing.
- everything else: the page's files, read once at start from
  ``tchat/web/static`` (see L{StaticFiles}), and ``/protocol.json``, the
  command table the page reads typed lines with, made once at start from
  L{tchat.commands.protocol_table}. A request names a file by its exact
  path or gets a 404; no request path ever reaches the file system, so
  ``..``, encoded slashes and absolute paths cannot leave that folder.

What is the web door's own:

- **framing**: a text frame is one request. A binary frame gets
  ``bad_request``; a frame that is not UTF-8 gets ``bad_encoding``; a message
  longer than ``max_line`` bytes gets ``line_too_long`` and is thrown away
  as it arrives (never buffered). In each case the connection stays open,
  as on the line door.
- **origin**: a browser's WebSocket is refused (HTTP 403) unless its
  ``Origin`` is the page's own (same host and port as the request's
  ``Host``), or one of the ``--web-origin`` allow-list. Clients that send
  no ``Origin`` (programs, not browsers) are let in: the check protects
  people's browsers from other sites' pages, not the server from programs.
- **WebSocket pings**: autobahn sends a WebSocket ping every
  ``idle_timeout`` and drops a peer whose pong does not come within
  ``ping_timeout`` (browsers answer these by themselves). This is on top of
  the shared JSON ``ping`` event, which the page answers like any JSON
  client; a WebSocket pong does not count as an answer to it.
- **closing**: ``bye``, then a WebSocket close with code 1000.
- **send queue**: every frame written counts against it, not only events
  (autobahn answers pings with pongs on its own), see L{WebSession.sendData}.
- **HTTP connections** (L{WebChannel}, numbers in L{HTTPLimits}): counted
  in the shared L{Admission} from the moment they open (503 over a limit),
  each request's headers due within a deadline (408), no request body ever
  read (405/413), pipelined requests answered only while the send buffer
  has room, a cap of requests per connection, and an access log held to a
  rate (L{LogBudget}).

Every event is sent as the bytes the JSON codec made for it once (shared
with JSON clients of the line door), trailing ``\\r\\n`` included: JSON
allows whitespace after the value, so ``JSON.parse`` reads it as is.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import mimetypes
import os
from dataclasses import dataclass
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import unquote_to_bytes, urlsplit

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.http import Request as HTTPRequest
from twisted.web.resource import IResource
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tchat.codec import JSON
from tchat.commands import protocol_table
from tchat.door.base import BaseDoor, DoorKind
from tchat.door.session import Admission, DoorSession, Limits, Ticket, TokenBucket, awaits_proxy_header, tune_socket
from tchat.chat import Hub

log = Logger()

WS_PATH = b"ws"
SERVER_HEADER = b"tchat"

# Sent with every file and every error page. connect-src 'self' covers ws:
# and wss: to this same host and port (CSP level 3; Chromium, Firefox, Safari).
SECURITY_HEADERS: dict[bytes, bytes] = {
    b"content-security-policy": (
        b"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}

DEFAULT_PORTS = {"http": 80, "https": 443}

# The server's command table, for the page (commands.js fetches it).
PROTOCOL_PATH = "/protocol.json"


# -- the page's files --------------------------------------------------------


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: bytes


def static_file(body: bytes, content_type: str) -> StaticFile:
    """A file to serve, with its ETag (a hash of the body)."""
    return StaticFile(body, content_type, b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"')


def protocol_file() -> StaticFile:
    """
    ``/protocol.json``: L{tchat.commands.protocol_table}, the one command
    table, as the page fetches it to read what people type.
    """
    body = json.dumps(protocol_table(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return static_file(body, _TYPES[".json"])


def static_folder() -> Any:
    """The package's ``tchat/web/static`` folder (a Traversable)."""
    return resources.files("tchat.web") / "static"


def load_static(folder: Any = None) -> dict[str, StaticFile]:
    """
    Every regular file under ``folder`` (default: the package's static
    folder), keyed by its URL path (``/app.js``, ``/icons/x.svg``). Symbolic
    links and hidden files are left out, so nothing outside the folder can be
    served even if someone links it in.
    """
    folder = static_folder() if folder is None else folder
    files: dict[str, StaticFile] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name.startswith("."):
                continue
            if isinstance(child, Path) and child.is_symlink():
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.is_file():
                body = child.read_bytes()
                kind = _TYPES.get(os.path.splitext(child.name)[1].lower())
                if kind is None:
                    kind = mimetypes.guess_type(child.name)[0] or "application/octet-stream"
                files[prefix + child.name] = static_file(body, kind)

    if folder.is_dir():
        walk(folder, "/")
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    if "/admin.html" in files:
        files["/admin"] = files["/admin.html"]  # the admin page (docs/operations.rst)
    return files


def _security_headers(request: Request) -> None:
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)
    request.setHeader(b"server", SERVER_HEADER)


class StaticFiles(Resource):
    """
    The page's files, looked up by exact path in a table made at start.

    A path is percent-decoded once and must then equal a file's path, so
    ``/../x``, ``/%2e%2e/x``, ``/a%2fb`` and ``//etc/passwd`` are simply
    not found. No directory is ever listed.
    """

    isLeaf = True

    def __init__(self, files: dict[str, StaticFile]) -> None:
        super().__init__()
        self.files = files

    def render(self, request: Request) -> bytes:
        _security_headers(request)
        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.setHeader(b"allow", b"GET, HEAD")
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"method not allowed\n"
        try:
            path = unquote_to_bytes(request.path).decode("utf-8")
        except UnicodeDecodeError:
            path = ""
        found = self.files.get(path)
        if found is None:
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"not found\n"
        request.setHeader(b"content-type", found.content_type.encode())
        # Always ask: after an upgrade the page and its scripts change together.
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"etag", found.etag)
        if request.getHeader(b"if-none-match") == found.etag:
            request.setResponseCode(304)
            return b""
        return found.body


# -- origins -----------------------------------------------------------------


def parse_origin(value: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin such as ``https://chat.example.org``; None if it is not one."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _parse_host(value: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit("//" + value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port


class OriginPolicy:
    """
    Which browser pages may open the WebSocket.

    With no allow-list, only a page from the same host and port as the
    WebSocket request's ``Host`` (that is, a page this server served, or one
    served through a proxy that keeps ``Host``). With an allow-list, exactly
    the origins listed (``*`` allows any).
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        allowed = list(allowed)
        self.any = "*" in allowed
        self.allowed: set[tuple[str, str, int]] = set()
        for value in allowed:
            if value == "*":
                continue
            origin = parse_origin(value)
            if origin is None:
                raise ValueError(f"{value!r} is not an origin: give scheme://host[:port], like https://chat.example.org, or *")
            self.allowed.add(origin)

    def allows(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True  # not a browser: the Origin check protects browsers only
        if self.any:
            return True
        parsed = parse_origin(origin)
        if parsed is None:
            return False  # "null" (sandboxed frames, file: pages) and garbage
        if self.allowed:
            return parsed in self.allowed
        if host is None:
            return False
        request_host = _parse_host(host)
        if request_host is None:
            return False
        name, port = request_host
        scheme, origin_name, origin_port = parsed
        return name == origin_name and (port or DEFAULT_PORTS[scheme]) == origin_port


# -- the WebSocket -----------------------------------------------------------


class WebSession(WebSocketServerProtocol, DoorSession):  # type: ignore[misc]  # autobahn's own bases disagree
    """
    One browser (or program) on the WebSocket. It holds the L{Ticket} its
    HTTP connection was admitted with, and gives it back exactly once when
    the connection is lost, whether or not the WebSocket ever opened.
    """

    # A TCP (or TLS) transport: connected, disconnecting, pauseProducing, abortConnection.
    transport: Any
    door_name = "web"
    # Every frame (messages, pongs, pings, closes) is counted in sendData.
    counts_own_writes = True

    def __init__(self, door: "WebDoor", ticket: Ticket | None = None, forwarded: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.door = door
        self.ticket = ticket  # type: ignore[assignment]
        # (host, address) of the client a trusted proxy named, if one did.
        self.forwarded = forwarded
        self._opened = False
        self._oversized = False

    # -- DoorSession hooks -----------------------------------------------

    def write(self, data: bytes) -> None:
        if self.state == self.STATE_OPEN:
            self.sendMessage(data, isBinary=False)

    def pause_reading(self) -> None:
        self.transport.pauseProducing()

    def resume_reading(self) -> None:
        if self.transport.connected and not self.transport.disconnecting:
            self.transport.resumeProducing()

    def lose(self) -> None:
        if self.state == self.STATE_OPEN:
            self.sendClose(code=self.CLOSE_STATUS_CODE_NORMAL)
        else:
            self.transport.loseConnection()

    def abort(self) -> None:
        self.transport.abortConnection()

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Every byte autobahn writes passes here: the events, and also the
        # pongs it answers a client's pings with, its own pings, and close
        # frames. When only events counted, a client that sent pings and
        # never read was answered without limit and never dropped (the
        # session goes on reading while the buffer is full, so this count is
        # what bounds it: past sendq the client is dropped).
        if self._opened and self.sendq.full and not self.count_unsent(len(data)):
            return
        super().sendData(data, sync, chopsize)

    # -- autobahn calls these --------------------------------------------

    def onConnect(self, request: Any) -> None:
        origin = request.headers.get("origin")
        if not self.door.origins.allows(origin, request.headers.get("host")):
            log.info("refused a WebSocket from {peer}: origin {origin} not allowed", peer=request.peer, origin=origin)
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "this page's origin may not use this chat server")
        return None

    def onOpen(self) -> None:
        # The HTTP channel that carried the upgrade is still the transport's
        # producer; the send queue takes its place (a transport has one).
        self.transport.unregisterProducer()
        host, address = self.forwarded or self.door.peer(self.transport)
        self.codec = JSON
        self._opened = True
        self.open_session(self.door.table, host, address, self.transport, ticket=self.ticket)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        super().connectionLost(reason)
        if self._opened:
            self._opened = False
            self.session_closed()
        # A WebSocket refused before it opened (origin, bad handshake) still
        # holds the HTTP connection's place; release() happens only once.
        if self.ticket is not None:
            self.ticket.release()

    # A message over max_line is thrown away frame by frame as it arrives, so
    # the connection can go on (as on the line door) and memory stays bounded.

    def onMessageBegin(self, isBinary: bool) -> None:
        self._oversized = False
        super().onMessageBegin(isBinary)

    def onMessageFrameBegin(self, length: int) -> None:
        if self._oversized:
            return
        if self.message_data_total_length + length > self.door.limits.max_line:
            self._oversized = True
            self.message_data = []
            self.heard()
            self.submit_error("line_too_long", f"a message may be at most {self.door.limits.max_line} bytes; that one was dropped")
            return
        super().onMessageFrameBegin(length)

    def onMessageFrameData(self, payload: bytes) -> None:
        if not self._oversized:
            super().onMessageFrameData(payload)

    def onMessageFrameEnd(self) -> None:
        if self._oversized:
            self.frame_data = None  # type: ignore[assignment]  # as autobahn itself does
            return
        super().onMessageFrameEnd()

    def onMessageEnd(self) -> None:
        if self._oversized:
            self._oversized = False
            self.message_data = None  # type: ignore[assignment]  # as autobahn itself does
            return
        super().onMessageEnd()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.heard()
        if not self._opened or self.closing:
            return
        if isBinary:
            self.submit_error("bad_request", "binary frames are not read here: send each request as a JSON text frame")
            return
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as e:
            self.submit_error("bad_encoding", f"that frame was not UTF-8 (bad byte at {e.start}); it was ignored")
            return
        self.submit_text(JSON, text)


class _SocketFactory(WebSocketServerFactory):
    def __init__(self, door: "WebDoor") -> None:
        super().__init__(server=SERVER_HEADER.decode())
        self.door = door
        limits = door.limits
        self.setProtocolOptions(
            webStatus=False,
            # A frame over max_line fails the connection (1009) only if it
            # ever gets past onMessageFrameBegin, which answers line_too_long
            # and discards it. No autobahn message limit: autobahn applies it
            # to what the server sends too, and the server's answers (help,
            # history) may be longer than what a client may send.
            maxFramePayloadSize=limits.max_line,
            maxMessagePayloadSize=0,
            # Checked in onMessage, to answer bad_encoding and go on.
            utf8validateIncoming=False,
            # txaio's timers round to whole seconds: under 1 s they would fire at once.
            autoPingInterval=max(limits.idle_timeout, 1.0),
            autoPingTimeout=max(limits.ping_timeout, 1.0),
            closeHandshakeTimeout=limits.close_grace,
            openHandshakeTimeout=max(limits.login_timeout, 1.0),
            # No permessage-deflate: a small frame could inflate past the
            # limits, and each recipient's frame would be compressed anew.
            perMessageCompressionAccept=lambda offers: None,
        )

    # The Ticket of the HTTP connection being upgraded, for the one
    # buildProtocol call autobahn's WebSocketResource.render makes (see _Socket).
    handing_over: Ticket | None = None
    forwarded: tuple[str, str] | None = None

    def buildProtocol(self, addr: IAddress | None) -> WebSession:
        ticket, self.handing_over = self.handing_over, None
        forwarded, self.forwarded = self.forwarded, None
        session = WebSession(self.door, ticket, forwarded)
        session.factory = self
        return session


class _Socket(WebSocketResource):
    """
    autobahn's WebSocket resource, handing the HTTP connection's place in
    the connection counts (its L{Ticket}) to the L{WebSession} that takes
    the connection over, and stopping the channel's timers when it does.
    """

    def render(self, request: Request) -> Any:
        channel = request.channel
        if not isinstance(channel, WebChannel) or channel.transport is None:
            return super().render(request)
        factory = self._factory
        door = factory.door
        if channel.via_trusted_proxy and channel.ticket is not None:
            # The proxy says who the client is; it is counted there from now on.
            host = forwarded_client(request, door.trusted, door.peer(channel.transport)[0])
            refused = door.table.admission.rehome(channel.ticket, host)
            if refused is not None:
                channel.ticket = None
                request.setResponseCode(503)
                request.setHeader(b"content-type", b"text/plain; charset=utf-8")
                request.setHeader(b"connection", b"close")
                return refused[1].encode() + b"\n"
            factory.forwarded = (host, host)
        factory.handing_over, channel.ticket = channel.ticket, None
        try:
            result = super().render(request)
        finally:
            if factory.handing_over is not None:
                # No WebSocket was made: the place stays with the channel.
                channel.ticket, factory.handing_over = factory.handing_over, None
            factory.forwarded = None
        if channel.transport is None:
            # The WebSocket took the connection over; the channel never hears
            # of it again (its connectionLost is not called), so its timers
            # must not fire on a transport it no longer has.
            channel.became_websocket()
        return result


class TrustedProxies:
    """The addresses (or networks) whose ``X-Forwarded-For`` is believed; none by default."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.networks = [ipaddress.ip_network(value.strip(), strict=False) for value in values]

    def holds(self, host: str | None) -> bool:
        if not self.networks or host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def forwarded_client(request: Request, trusted: TrustedProxies, proxy: str) -> str:
    """
    The client a trusted proxy (at address ``proxy``) forwarded ``request``
    for: the right-most address of ``X-Forwarded-For`` that is not itself a
    trusted proxy (everything left of it the client could have written);
    ``proxy`` if the header is missing or holds nothing usable.
    """
    hops = []
    for value in request.requestHeaders.getRawHeaders(b"x-forwarded-for", []):
        hops += [hop.strip() for hop in value.decode("latin-1").split(",")]
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return proxy  # garbage in the chain: believe nothing left of it
        if not trusted.holds(address):
            return address
    return proxy


HEALTH_PATH = b"health"


def health_of(hub: Hub) -> tuple[bool, dict[str, Any]]:
    """
    Whether this server can serve people fully, and what a load balancer
    or a person is shown: ``status`` "ok", "starting" (the store is not open
    yet) or "unavailable" (the store does not answer), and the store's state.
    """
    store = hub.store
    if store is None:
        return False, {"status": "starting", "store": None}
    state = {"engine": store.engine, "url": store.url.shown, "available": store.available}
    if store.available:
        return True, {"status": "ok", "store": state}
    # Nobody may be using the store just now: ask it something cheap, so
    # that the next check sees it back once it is (the store's breaker
    # lets at most one such call through at a time).
    store.schema_version().addErrback(lambda _: None)
    return False, {"status": "unavailable", "store": state, "text": "the database is not answering; live chat goes on"}


class HealthCheck(Resource):
    """``/health``: 200 with ``{"status": "ok", …}`` while the server is whole, 503 naming what failed."""

    isLeaf = True

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub

    def render(self, request: Request) -> bytes:
        _security_headers(request)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.setHeader(b"allow", b"GET, HEAD")
            return b'{"status": "method not allowed"}\n'
        healthy, body = health_of(self.hub)
        request.setResponseCode(200 if healthy else 503)
        return json.dumps(body).encode() + b"\n"


class _Root(Resource):
    def __init__(self, socket: IResource, files: IResource, health: IResource) -> None:
        super().__init__()
        self.socket = socket
        self.files = files
        self.health = health

    def getChildWithDefault(self, path: bytes, request: Request) -> IResource:
        if path == WS_PATH and not request.postpath:
            return self.socket
        if path == HEALTH_PATH and not request.postpath:
            return self.health
        return self.files

    def render(self, request: Request) -> bytes:
        return self.files.render(request)


# -- HTTP connections -------------------------------------------------------


@dataclass(frozen=True)
class HTTPLimits:
    """
    What one HTTP connection to the web door may cost, on top of the shared
    L{Limits} (which count HTTP connections too, from the moment they open).
    """

    # Seconds for a request line and all its headers to arrive, counted from
    # the connection's opening or the end of the previous response; unlike
    # twisted.web's idle timeout, no byte that arrives puts it off.
    header_timeout: float = 10.0
    # Requests answered on one connection; the last says Connection: close.
    max_requests: int = 100
    # twisted.web's own timeout: a connection that sends nothing for this
    # long is closed (a WebSocket is not affected: it leaves the channel).
    idle_timeout: float = 60.0
    # Lines of the access log (and notes on refused or timed-out
    # connections), over all connections together: at once, then a second.
    log_burst: int = 100
    log_rate: float = 10.0


_REASONS = {
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    503: b"Service Unavailable",
}


def plain_response(code: int, text: str, headers: dict[bytes, bytes] | None = None) -> bytes:
    """A whole HTTP/1.1 response with a one-line text body, the security headers and ``Connection: close``."""
    body = text.encode("utf-8") + b"\n"
    fields = {
        b"content-type": b"text/plain; charset=utf-8",
        b"content-length": b"%d" % len(body),
        b"connection": b"close",
        b"server": SERVER_HEADER,
        **SECURITY_HEADERS,
        **(headers or {}),
    }
    head = b"HTTP/1.1 %d %s\r\n" % (code, _REASONS[code])
    return head + b"".join(name + b": " + value + b"\r\n" for name, value in fields.items()) + b"\r\n" + body


class LogBudget:
    """
    The lines the web door may log: ``burst`` at once, then ``rate`` a second,
    for all connections together, so that no client can fill the disk or
    take the reactor's time with log lines. Lines left out are counted; the
    count is logged before the next line that is let through, and at stop.
    """

    def __init__(self, rate: float, burst: int, clock: IReactorTime) -> None:
        self.rate = rate
        self.bucket = TokenBucket(rate, burst, clock)
        self.skipped = 0

    def allow(self) -> bool:
        """Whether one more line may be written now (if not, it is counted)."""
        if self.bucket.take() > 0:
            self.skipped += 1
            return False
        self.flush()
        return True

    def note(self, format: str, **fields: Any) -> None:
        """Log ``format`` at info level, if the budget allows."""
        if self.allow():
            log.info(format, **fields)

    def flush(self) -> None:
        """Log how many lines were left out since the last time, if any."""
        if self.skipped:
            count, self.skipped = self.skipped, 0
            log.warn("{count} lines of the web log were left out (at most {rate:g} a second)", count=count, rate=self.rate)


class WebRequest(Request):
    """A request of the web door: it never has a body (L{WebChannel} refuses those unread)."""

    def gotLength(self, length: int | None) -> None:
        # twisted.web spools a body of unknown or large length to a temporary
        # file; here a request with a body is refused before it gets this far,
        # and no request's content is ever anything but empty.
        self.content = BytesIO()  # type: ignore[assignment]  # typed None in twisted.web


class WebChannel(HTTPChannel):
    """
    One HTTP connection to the web door, within the door's limits:

    - it is counted in the shared L{Admission} from the moment it opens; one
      over a limit is answered 503 (too many from that address, server full,
      server busy) and closed. Its L{Ticket} passes to the L{WebSession} if
      it turns into a WebSocket, and is otherwise released when it closes;
    - each request's line and headers must arrive within
      ``header_timeout`` of the connection opening or of the previous
      response (then 408, and closed), however slowly they trickle in;
    - a request that announces a body is refused (405 or 413) as soon as its
      headers are in, and closed without its body being read;
    - while the transport's send buffer is full, no further request already
      read is parsed, and nothing more is read, until it drains;
    - after ``max_requests`` requests it answers with ``Connection: close``;
    - every close that waits for the client to read is cut after the
      door's ``close_grace``.
    """

    # A TCP (or TLS) transport, None once a WebSocket has taken it.
    transport: Any
    site: "WebSite"
    ticket: Ticket | None = None
    address = "?"
    _deadline: IDelayedCall | None = None
    _cut: IDelayedCall | None = None
    # Answered for the last time (or handed to a WebSocket): whatever else
    # arrives is dropped and no timer may fire.
    _done = False
    # The transport's send buffer is full.
    _buffer_full = False
    # Some line of a request has arrived and its headers are not all in.
    _in_request = False
    _served = 0
    _peer_checked = False
    via_trusted_proxy = False

    # -- Twisted calls these ---------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        door = self.site.door
        # Twisted's own idle close is cut after this long, as every door's is.
        self.abortTimeout = door.limits.close_grace  # type: ignore[assignment]
        tune_socket(self.transport, door.limits.idle_timeout, door.limits.ping_timeout)
        host, self.address = door.peer(self.transport)
        # A trusted proxy's connection carries many clients' requests: a
        # WebSocket on it is counted under the client the proxy names, at
        # the upgrade; behind a PROXY-protocol proxy, the client is counted
        # once the header names it.
        self.via_trusted_proxy = door.trusted.holds(host)
        later = self.via_trusted_proxy or awaits_proxy_header(self.transport)
        admitted = door.table.admission.admit(None if later else host)
        if not isinstance(admitted, Ticket):
            _, text = admitted
            door.log_budget.note("refused {address}: {text}", address=self.address, text=text)
            self._answer_and_close(503, text)
            return
        self.ticket = admitted
        self._start_deadline()

    def dataReceived(self, data: bytes) -> None:
        if self._done:
            return
        super().dataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        if not self._peer_checked and not self.via_trusted_proxy:
            # Behind a proxy speaking the PROXY protocol, the real client is
            # known only once bytes have come: count it there.
            self._peer_checked = True
            host, address = self.site.door.peer(self.transport)
            if self.ticket is not None and (host != self.ticket.host or self.ticket.host is None):
                self.address = address
                refused = self.site.door.table.admission.rehome(self.ticket, host)
                if refused is not None:
                    self.ticket = None
                    self._answer_and_close(503, refused[1])
                    return
        self._in_request = True
        super().lineReceived(line)

    def allHeadersReceived(self) -> None:
        self._in_request = False
        self._stop_deadline()
        request = self.requests[-1]
        # Refused before twisted.web reads the body (or spools it to a file,
        # or answers Expect: 100-continue): nothing here takes one.
        if self.length != 0 or request.requestHeaders.hasHeader(b"transfer-encoding"):
            if self._command in (b"GET", b"HEAD"):
                self._answer_and_close(413, "this server takes no request bodies")
            else:
                self._answer_and_close(405, "method not allowed", {b"allow": b"GET, HEAD"})
            return
        super().allHeadersReceived()
        self._served += 1
        if self._served >= self.site.door.http.max_requests:
            self.persistent = False
            request.responseHeaders.setRawHeaders(b"connection", [b"close"])

    def allContentReceived(self) -> None:
        if self._done:
            return  # refused in allHeadersReceived: not to be served
        super().allContentReceived()

    def requestDone(self, request: Request) -> None:
        # The next request's headers are due within header_timeout of the
        # end of this response (unless the client is not reading it yet).
        if self.persistent and not self._done and not self._buffer_full:
            self._start_deadline()
        super().requestDone(request)

    def pauseProducing(self) -> None:
        # The transport's send buffer is full. twisted.web would go on
        # answering every request it has already read (LineReceiver's
        # `paused` is not set by HTTPChannel), and go on reading while a
        # request is being answered: one pipelining client that never read
        # grew the server by gigabytes. Stop parsing between requests, stop
        # reading, and do not count the wait against the client's headers.
        if self._done:
            # Closing: nothing more is parsed anyway, and TLS says "full"
            # while it holds a refusal written before its handshake, which
            # could not finish if reading stopped.
            return
        self._buffer_full = True
        self.paused = True
        self._stop_deadline()
        super().pauseProducing()
        self._networkProducer.pauseProducing()

    def resumeProducing(self) -> None:
        self._buffer_full = False
        self.paused = False
        super().resumeProducing()
        if self._done or self._handlingRequest:
            return
        self._start_deadline()
        if self._buffer:
            self.dataReceived(b"")  # the requests already read, in turn

    def loseConnection(self) -> None:
        self._done = True
        self._stop_deadline()
        super().loseConnection()
        # A client that does not read would otherwise keep the connection,
        # and its place in the counts, for as long as it likes.
        if self._cut is None:
            self._cut = self.callLater(self.site.door.limits.close_grace, self._abort)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._done = True
        self._stop_deadline()
        if self._cut is not None and self._cut.active():
            self._cut.cancel()
        super().connectionLost(reason)
        if self.ticket is not None:
            self.ticket.release()

    # -- the WebSocket resource calls this -------------------------------

    def became_websocket(self) -> None:
        """
        A WebSocket took this connection's transport (and its ticket): this
        channel will not hear of the connection again, so none of its timers
        may fire.
        """
        self._done = True
        self._stop_deadline()
        self.setTimeout(None)
        self._savedTimeOut = None
        if self._cut is not None and self._cut.active():
            self._cut.cancel()

    # -- inside ----------------------------------------------------------

    def _start_deadline(self) -> None:
        timeout = self.site.door.http.header_timeout
        if self._deadline is not None and self._deadline.active():
            self._deadline.reset(timeout)
        else:
            self._deadline = self.callLater(timeout, self._deadline_passed)

    def _stop_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self._done:
            return
        if self._in_request or self._buffer:
            timeout = self.site.door.http.header_timeout
            self.site.door.log_budget.note("{address} did not send a request's headers in time", address=self.address)
            self._answer_and_close(408, f"a request's line and headers must arrive within {timeout:g} seconds")
        else:
            # Idle between requests: nothing to answer, and a 408 could cross
            # a request the client is sending just now.
            self.loseConnection()

    def _answer_and_close(self, code: int, text: str, headers: dict[bytes, bytes] | None = None) -> None:
        self._done = True
        self.transport.write(plain_response(code, text, headers))
        self.loseConnection()

    def _abort(self) -> None:
        self._cut = None
        if self.transport is not None:
            self.transport.abortConnection()


class WebSite(Site):
    """The twisted.web site of a L{WebDoor}: its connections are L{WebChannel}s."""

    protocol = WebChannel  # type: ignore[assignment]

    def __init__(self, door: "WebDoor", root: Resource) -> None:
        super().__init__(root, requestFactory=WebRequest, timeout=door.http.idle_timeout, reactor=door.clock)
        self.door = door
        self.displayTracebacks = False
        self.noisy = False

    def log(self, request: HTTPRequest) -> None:
        # One line per request, within the door's log budget: a pipelining
        # client wrote 90 MB of access log in 45 s.
        if self.door.log_budget.allow():
            super().log(request)

    def startFactory(self) -> None:
        super().startFactory()
        self.door.table.start()

    def stopFactory(self) -> None:
        self.door.table.stop()
        self.door.log_budget.flush()
        super().stopFactory()


class WebDoor(BaseDoor):
    """
    The web door: the hub, the limits, the open sessions, the page. Listen
    with its L{site} (a twisted.web L{Site}); one door may listen on several
    ports.
    """

    name = WebSession.door_name

    def __init__(
        self,
        hub: Hub,
        limits: Limits,
        clock: IReactorTime,
        origins: Iterable[str] = (),
        files: dict[str, StaticFile] | None = None,
        admission: Admission | None = None,
        http: HTTPLimits | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        super().__init__(hub, limits, clock, admission)
        self.http = http if http is not None else HTTPLimits()
        self.log_budget = LogBudget(self.http.log_rate, self.http.log_burst, clock)
        self.origins = OriginPolicy(origins)
        self.trusted = TrustedProxies(trusted_proxies)
        # The page's files and, made from the command table, /protocol.json
        # (never a file of that name: there is one table).
        self.files = {**(load_static() if files is None else files), PROTOCOL_PATH: protocol_file()}
        self.socket_factory = _SocketFactory(self)
        self.site = WebSite(self, _Root(_Socket(self.socket_factory), StaticFiles(self.files), HealthCheck(hub)))

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], hub: Hub, limits: Limits, clock: IReactorTime, admission: Admission
    ) -> "WebDoor":
        return cls(
            hub, limits, clock, origins=options["web-origins"], admission=admission, trusted_proxies=options["trusted-proxies"]
        )

    @property
    def factory(self) -> WebSite:
        return self.site

    def reload(self, options: Mapping[str, Any]) -> None:
        """``--web-origin`` and ``--trusted-proxy`` change on SIGHUP."""
        self.origins = OriginPolicy(options["web-origins"])
        self.trusted = TrustedProxies(options["trusted-proxies"])


WEB_DOOR = DoorKind(
    name=WebDoor.name,
    option="web-port",
    default="5000",
    help=(
        "Serve the browser page, and its WebSocket at /ws, on WEB_PORT: a number or an endpoint string "
        '(ssl:... for https and wss). Repeat to serve on several; "off" for none (default: 5000).'
    ),
    build=WebDoor.from_options,
    can_be_off=True,
)
