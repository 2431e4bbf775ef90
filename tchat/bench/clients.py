"""
The bench's connections: L{LoadClient} (the shared read path, timers and
socket options) and the two protocols it speaks, L{TchatClient} (tchat's
JSON mode) and L{IrcClient} (enough IRC for ngIRCd or any IRC server).

Received bytes are cut at the last newline and handed to the runner's marker
search first; lines are looked at one by one only when a cheap byte search
finds something that needs an answer or a record.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from tchat.bench.config import LOBBY, BenchError

if TYPE_CHECKING:
    from tchat.bench.runner import Bench

QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class LoadClient(Protocol):
    # A TCP (or TLS) transport, not just ITransport: TCP_NODELAY, abortConnection, getHandle.
    transport: Any
    """
    One connection of the bench. Subclasses speak a protocol: how to log in
    and join, how to send a room message, and which lines need a look.

    ``ready`` fires once the client is in the room, or fails with
    L{BenchError} if login or join fails or times out.
    """

    # Byte strings whose presence in a read means its lines must be looked
    # at one by one (during setup, and once set up).
    SETUP_WATCH: tuple[bytes, ...] = ()
    RUN_WATCH: tuple[bytes, ...] = ()

    def __init__(self, bench: "Bench", index: int) -> None:
        self.bench = bench
        self.index = index
        self.name = f"{bench.config.name_prefix}{index}"
        self.room = bench.config.room_name()
        self.ready: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self.is_ready = False
        self.connected = False
        self.received = 0
        self.sent = 0
        self.credit = 0
        self.to_send = 0
        self.started_at = 0.0
        self.connected_at: float | None = None
        self.ready_at: float | None = None
        self.connecting: Deferred[Any] | None = None
        self._quickack: socket.socket | None = None
        self._tail = b""
        self._watch = self.SETUP_WATCH
        self._login_timer: Any = None

    # Twisted calls these.

    def connectionMade(self) -> None:
        self.connected = True
        if self.bench.config.nodelay:
            try:
                self.transport.setTcpNoDelay(True)
            except (AttributeError, OSError):
                pass
        if self.bench.config.quickack and QUICKACK is not None:
            handle = getattr(self.transport, "getHandle", None)
            sock = handle() if handle else None
            if isinstance(sock, socket.socket):
                self._quickack = sock
        self.connected_at = self.bench.now()
        self._login_timer = self.bench.reactor.callLater(
            self.bench.config.login_timeout, self.fail, f"not in the room after {self.bench.config.login_timeout:g} s"
        )
        self.start_login()

    def dataReceived(self, data: bytes) -> None:
        bench = self.bench
        bench.bytes_in += len(data)
        if self._quickack is not None:
            # Linux falls back to delayed ACKs on its own; ask again after each read.
            try:
                assert QUICKACK is not None
                self._quickack.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            except OSError:
                self._quickack = None
        if self._tail:
            data = self._tail + data
        cut = data.rfind(b"\n") + 1
        if cut != len(data):
            self._tail = data[cut:]
            if len(self._tail) > 1 << 20:
                self.fail("a line of more than 1 MiB")
                return
            data = data[:cut]
            if not data:
                return
        elif self._tail:
            self._tail = b""
        if bench.counting:
            found = bench.count(data, self)
            if found == data.count(b"\n"):
                return  # every line was a delivery: nothing else to look at
        else:
            for needle in self._watch:
                if needle in data:
                    break
            else:
                return
        for line in data.split(b"\n"):
            line = line.rstrip(b"\r")
            if line:
                self.line_received(line)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.connected = False
        self._cancel_timer()
        if not self.ready.called:
            self.fail(f"connection closed while logging in: {reason.getErrorMessage() if reason else '?'}")
        elif self.is_ready:
            self.bench.member_lost(self, reason)
        if not self.lost.called:
            self.lost.callback(None)

    # Subclasses supply these.

    def start_login(self) -> None:
        raise NotImplementedError

    def line_received(self, line: bytes) -> None:
        raise NotImplementedError

    def message_line(self, text: bytes) -> bytes:
        raise NotImplementedError

    # Shared.

    def send_text(self, text: bytes) -> None:
        self.transport.write(self.message_line(text))

    def in_room(self) -> None:
        """The client is logged in and in the room."""
        if self.ready.called:
            return
        self._cancel_timer()
        self.is_ready = True
        self.ready_at = self.bench.now()
        self._watch = self.RUN_WATCH
        self.ready.callback(None)

    def fail(self, why: str) -> None:
        """Login or join failed: ``ready`` fails and the connection is dropped."""
        self._cancel_timer()
        if not self.ready.called:
            self.ready.errback(BenchError(f"{self.name}: {why}"))
        if self.connected and self.transport is not None:
            self.transport.abortConnection()

    def _cancel_timer(self) -> None:
        if self._login_timer is not None and self._login_timer.active():
            self._login_timer.cancel()
        self._login_timer = None


class TchatClient(LoadClient):
    """tchat's JSON mode: one JSON object per line, both ways."""

    SETUP_WATCH = (b'"event":"logged_in"', b'"re":2', b'"event":"error"', b'"event":"bye"',
                   b'"event":"ping"', b'"event":"shutdown"')
    RUN_WATCH = (b'"event":"error"', b'"event":"bye"', b'"event":"ping"', b'"event":"shutdown"')

    def start_login(self) -> None:
        self.transport.write(json.dumps({"action": "login", "user": self.name, "id": 1}).encode() + b"\n")
        self._prefix = b'{"action":"msg","to":%s,"text":"' % json.dumps(self.room).encode()

    def message_line(self, text: bytes) -> bytes:
        return self._prefix + text + b'"}\n'

    def line_received(self, line: bytes) -> None:
        if not line.startswith(b"{") or b'"event":"message"' in line or b'"event":"ok"' in line and self.is_ready:
            return  # the text greeting, a message (counted already), or the ok for a message
        if not self.is_ready:
            if b'"event":"logged_in"' in line:
                if self.bench.config.no_room:
                    self.transport.write(json.dumps({"action": "part", "room": LOBBY, "id": 2}).encode() + b"\n")
                elif self.room.casefold() == LOBBY:
                    self.in_room()
                else:
                    self.transport.write(json.dumps({"action": "join", "room": self.room, "id": 2}).encode() + b"\n")
                return
            if b'"event":"ok"' in line and b'"re":2' in line:
                self.in_room()
                return
        try:
            event = json.loads(line)
        except ValueError:
            return
        name = event.get("event")
        if name == "ping":
            self.transport.write(json.dumps({"action": "pong", "token": event.get("token")}).encode() + b"\n")
        elif name == "error":
            if not self.is_ready:
                self.fail(f"{event.get('code')}: {event.get('text')}")
            else:
                self.bench.server_error(self, str(event.get("code")), str(event.get("text")))
        elif name in ("bye", "shutdown"):
            if not self.is_ready:
                self.fail(f"server said {name}: {event.get('text')}")
            else:
                self.bench.server_error(self, name, str(event.get("text")))


# IRC numerics that end a login or a join.
IRC_FATAL = {b"401", b"403", b"405", b"431", b"432", b"433", b"436", b"437", b"451", b"461", b"462",
             b"464", b"465", b"471", b"473", b"474", b"475", b"476", b"477"}


class IrcClient(LoadClient):
    """Enough IRC to log in, join a channel, send PRIVMSG and answer PING."""

    SETUP_WATCH = (b"PING", b"ERROR", b" 001 ", b" 366 ", b" 40", b" 43", b" 45", b" 46", b" 47")
    RUN_WATCH = (b"PING", b"ERROR", b" 40", b" 41", b" 42", b" 43", b" 44", b" 47", b" 48")

    def start_login(self) -> None:
        name = self.name.encode()
        self.transport.write(b"NICK %s\r\nUSER %s 0 * :tchat-bench\r\n" % (name, name))
        self._prefix = b"PRIVMSG %s :" % self.room.encode()

    def message_line(self, text: bytes) -> bytes:
        return self._prefix + text + b"\r\n"

    def line_received(self, line: bytes) -> None:
        if line.startswith(b"PING"):
            self.transport.write(b"PONG" + line[4:] + b"\r\n")
            return
        if line.startswith(b"ERROR"):
            why = line.decode("utf-8", "replace")
            if self.is_ready:
                self.bench.server_error(self, "ERROR", why)
            else:
                self.fail(why)
            return
        parts = line.split(b" ", 3)
        if len(parts) < 2 or not line.startswith(b":"):
            return
        command = parts[1]
        if command == b"PRIVMSG" or command == b"NOTICE":
            return  # a message (counted already), or a notice
        if command == b"001" and not self.is_ready:
            if self.bench.config.no_room:
                self.in_room()
            else:
                self.transport.write(b"JOIN %s\r\n" % self.room.encode())
        elif command == b"366" and not self.is_ready:
            if len(parts) > 3 and parts[3].split(b" ", 1)[0].lower() == self.room.encode().lower():
                self.in_room()
        elif len(command) == 3 and command.isdigit() and command[:1] == b"4":
            why = line.decode("utf-8", "replace")
            if not self.is_ready and command in IRC_FATAL:
                self.fail(why)
            elif self.is_ready:
                self.bench.server_error(self, command.decode(), why)
