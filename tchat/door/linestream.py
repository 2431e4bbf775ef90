"""Reading lines straight off a TCP (or TLS) transport, for the doors that do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

    def pause_reading(self) -> None:
        self.pauseProducing()

    def resume_reading(self) -> None:
        if self.transport.connected and not self.transport.disconnecting:
            self.resumeProducing()

    def lose(self) -> None:
        self.transport.loseConnection()

    def abort(self) -> None:
        self.transport.abortConnection()
