"""
The web door's WebSocket: L{WebSession}, one browser (or program) on
``/ws``, autobahn's protocol mixed with L{DoorSession}; and the factory and
resource that hand an HTTP connection (and its place in the connection
counts) over to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.interfaces import IAddress
from twisted.python.failure import Failure
from twisted.web.server import Request

from tchat.codec import JSON
from tchat.door.admission import Ticket
from tchat.door.session import DoorSession
from tchat.door.web.files import SERVER_HEADER
from tchat.door.web.http import WebChannel, log
from tchat.door.web.proxies import forwarded_client

if TYPE_CHECKING:
    from tchat.door.web.door import WebDoor


WS_PATH = b"ws"


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
