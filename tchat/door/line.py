"""
The line door: TCP (or TLS) connections speaking lines, in text or JSON mode.

Each connection is a L{LineSession}: a L{LineReceiver} that splits the byte
stream on ``\\n`` (a trailing ``\\r`` is dropped), decodes each whole line as
UTF-8, lets the first line choose the codec, and submits typed requests.
The limits every door shares (order, flood control, send queue, timeouts,
connection counts) come from L{tchat.door.session}; what is the line door's
own is framing, and text mode's current room (L{tchat.door.textmode}: a
plain line is a login or a message to it, a command that names no room is
about it):

- a line over the limit gets ``line_too_long``; the rest of it, up to the next
  newline, is thrown away and the connection goes on;
- a line that is not UTF-8 gets ``bad_encoding`` and is ignored;
- a client that shuts down its sending side (``printf … | nc -q1``) gets
  every reply to what it sent, then ``bye`` and the close, as if its last
  line were ``/quit`` (L{IHalfCloseableProtocol}); a last line without its
  newline is read too;
- a person in text mode is never sent ``PING`` lines: TCP keepalive and the
  TCP user timeout every door sets (L{tchat.door.limits.tune_socket}) find
  a peer that is gone, which tells a quiet reader from a dead connection.
"""

from __future__ import annotations

from typing import Any, Mapping

from twisted.internet.interfaces import IAddress, IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from tchat.codec import JSON, TEXT, codec_for_first_line
from tchat.commands import Request
from tchat.door.base import BaseDoor, DoorKind
from tchat.door.admission import Admission
from tchat.door.limits import Limits
from tchat.door.linestream import LineStream
from tchat.door.session import _NO_HOLDS, DoorSession
from tchat.door.textmode import WATCHED, TextMode
from tchat.events import Event
from tchat.chat import Hub

log = Logger()

# Kept under this name for the callers that only care about the line door.
LineLimits = Limits


@implementer(IHalfCloseableProtocol)
class LineSession(LineStream, DoorSession):
    # A TCP (or TLS) transport: connected, disconnecting, abortConnection.
    transport: Any
    delimiter = b"\n"
    door_name = "tcp"

    # Every attribute an idle connection has, in slots rather than the
    # instance dict: an instance dict of this many keys that is not sharing
    # its keys (and this class's, with its bases' many class-level defaults,
    # did not) is 832 bytes per connection, the slots 8 bytes each. What is
    # rarer (timers, text mode) still goes into the dict the bases give.
    # A slot hides its bases' class-level default, so __init__ sets each.
    __slots__ = (
        "door", "MAX_LENGTH", "connected", "transport", "table", "hub", "limits", "clock", "host", "address",
        "opened_at", "last_heard", "sendq", "_tokens", "_stamp", "_queue", "ticket", "_sends_directly", "_peer_checked",
        "_busyReceiving", "_buffer", "codec", "out_codec", "_carrying", "busy", "_holds", "paused",
    )

    def __init__(self, door: "LineDoor") -> None:
        self.door = door
        self.MAX_LENGTH = door.limits.max_line
        self.connected = 0
        self.transport = None
        self.host = self.address = "?"
        self._sends_directly = None
        self._peer_checked = False
        self._busyReceiving = False
        self._buffer = b""
        self.codec = None
        # Events are plain bytes in the session's codec until it chose
        # (text), and in JSON mode after; text mode takes them one by one
        # (L{_to_text_mode}).
        self.out_codec = TEXT
        self._carrying = False
        self.busy = False
        self._holds = _NO_HOLDS
        self.paused = False

    # The client will send nothing more; once what it sent is read, it quits.
    _input_ended = False

    # -- DoorSession hooks -----------------------------------------------

    def resume_reading(self) -> None:
        if self.transport.connected and not self.transport.disconnecting:
            super().resume_reading()
            self._quit_if_all_read()

    def must_answer_pings(self) -> bool:
        # People in text mode are not pinged (TCP keepalive finds peers that
        # are really gone). Programs must answer.
        return self.codec is JSON

    # -- text mode ---------------------------------------------------------

    # Text mode's current room (None in JSON mode, and before the first line).
    text_mode: TextMode | None = None

    def complete(self, request: Request) -> Request:
        if self.text_mode is None:
            return request
        # The answers to the requests before it, delivered but perhaps not yet
        # written this turn, go (and are watched) first.
        self.hub.flush()
        return self.text_mode.complete(request)

    def _deliver_text(self, event: Event) -> None:
        """L{deliver} in text mode: what can move the current room goes by L{TextMode} first."""
        if event.name in WATCHED and self.text_mode is not None:
            event = self.text_mode.shown(event)
        DoorSession.deliver(self, event)

    def _to_text_mode(self) -> None:
        self.text_mode = TextMode()
        # Its events come one by one through deliver, which watches them
        # (not as a reactor turn's bytes: see tchat.chat.delivery).
        self.out_codec = None
        # Only a person's connection pays for watching: JSON mode's deliver
        # (the fan-out's inner loop) stays DoorSession's.
        self.deliver = self._deliver_text  # type: ignore[method-assign]

    # -- Twisted calls these ---------------------------------------------

    def connectionMade(self) -> None:
        host, address = self.door.peer(self.transport)
        self.open_session(self.door.table, host, address, self.transport)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.session_closed()

    def readConnectionLost(self) -> None:
        self._input_ended = True
        self._quit_if_all_read()

    def writeConnectionLost(self) -> None:
        # Nothing can reach the client any more.
        self.transport.loseConnection()

    def _quit_if_all_read(self) -> None:
        """After the client's input ended: once every line it sent is read, a quit takes its turn."""
        if not self._input_ended or self._busyReceiving or self.paused or self.closing or self._resume or b"\n" in self._buffer:
            return
        self._input_ended = False  # (not del: see DoorSession.heard)
        if self._buffer and not self._discarding:
            last, self._buffer = self._buffer, b""
            self.lineReceived(last)
        self.submit(Request("quit", {}))

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self._quit_if_all_read()

    def line_too_long(self) -> None:
        self.submit_error("line_too_long", f"a line may be at most {self.MAX_LENGTH} bytes; that one was dropped")

    def lineReceived(self, raw: bytes) -> None:
        self.heard()
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.submit_error("bad_encoding", f"that line was not UTF-8 (bad byte at {e.start}); it was ignored")
            return
        if self.codec is None:
            line = line.lstrip("\ufeff")
            if not line.strip():
                return
            self.codec = codec_for_first_line(line)
            if self.codec is JSON:
                self.out_codec = JSON
                self.hub.greet(self)
            else:
                self._to_text_mode()
        self.submit_text(self.codec, line)


class LineDoor(BaseDoor, ServerFactory):
    """The factory of the line door: the hub, the limits, the open sessions."""

    name = LineSession.door_name
    noisy = False

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], hub: Hub, limits: Limits, clock: IReactorTime, admission: Admission
    ) -> "LineDoor":
        return cls(hub, limits, clock, admission)

    @property
    def factory(self) -> "LineDoor":
        """It is its own factory: one L{LineSession} per connection."""
        return self

    def buildProtocol(self, addr: IAddress | None) -> LineSession:
        return LineSession(self)

    def startFactory(self) -> None:
        self.table.start()

    def stopFactory(self) -> None:
        self.table.stop()


LINE_DOOR = DoorKind(
    name=LineDoor.name,
    option="port",
    short="p",
    default="4321",
    help=(
        "Listen on PORT: a number, or an endpoint string such as tcp:4321:interface=127.0.0.1 or "
        "ssl:6697:privateKey=key.pem:certKey=cert.pem. Repeat to listen on several (default: 4321)."
    ),
    build=LineDoor.from_options,
    log_as="tchat",
)
