"""Reading lines straight off a TCP (or TLS) transport, for the doors that do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet import tcp
from twisted.protocols.basic import LineReceiver

__all__ = ["LineStream"]


class LineStream(LineReceiver):
    """
    A door's connection that reads lines straight off a TCP (or TLS)
    transport, as the line door and the IRC door do; first in the session's
    bases, before L{DoorSession}. It gives L{DoorSession}'s five hooks, checks
    the peer (a PROXY header) on the first bytes, and skips the rest of an
    overlong line, going on with the lines after it: the door says what it
    answers to one (L{line_too_long}).
    """

    transport: Any
    _discarding = False
    _resume = b""
    _peer_checked = False
    # Whether write_now may send on the socket itself (a plain TCP transport).
    _sends_directly: bool | None = None
    if TYPE_CHECKING:
        # DoorSession's.
        def check_peer(self, transport: Any) -> bool: ...

        def heard(self) -> None: ...

    def line_too_long(self) -> None:
        """Answer a line over the limit (it is dropped up to its end)."""
        raise NotImplementedError

    def dataReceived(self, data: bytes) -> None:
        if not self._peer_checked:
            self._peer_checked = True
            if not self.check_peer(self.transport):
                return
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

    def lineLengthExceeded(self, line: bytes) -> None:
        self.heard()
        self.line_too_long()
        newline = line.find(b"\n")
        if newline < 0:
            self._discarding = True
        else:
            self._resume = line[newline + 1 :]

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def write_now(self, data: bytes) -> None:
        """
        Write ``data`` (a reactor turn's events, at the turn's end) straight
        to the socket when nothing waits before it in the transport's buffer:
        one send() now, instead of a write that watches the socket for
        writability and sends at the reactor's next turn. What the socket
        does not take goes through the transport as any write does.
        """
        transport = self.transport
        direct = self._sends_directly
        if direct is None:
            direct = self._sends_directly = can_send_directly(transport)
        if (direct and not transport._tempDataLen and len(transport.dataBuffer) == transport.offset
                and transport.connected and not transport.disconnecting and not transport._writeDisconnected):
            sent = transport.writeSomeData(data)
            if type(sent) is int and sent > 0:
                if sent == len(data):
                    return
                data = data[sent:]
        self.write(data)

    def pause_reading(self) -> None:
        self.pauseProducing()

    def resume_reading(self) -> None:
        if self.transport.connected and not self.transport.disconnecting:
            self.resumeProducing()

    def lose(self) -> None:
        self.transport.loseConnection()

    def abort(self) -> None:
        self.transport.abortConnection()


def can_send_directly(transport: Any) -> bool:
    """A plain TCP connection of Twisted's, whose buffer L{LineStream.write_now} can see is empty (never TLS)."""
    return (
        isinstance(transport, tcp.Connection)
        and not getattr(transport, "TLS", False)
        and all(hasattr(transport, name) for name in ("_tempDataLen", "dataBuffer", "offset", "_writeDisconnected"))
    )
