"""
The line editor under the terminal UI (L{tchat.client.ui.ChatUI}):
messages scroll above, the line being typed stays at the bottom.

L{LineEditor} is a L{HistoricRecvLine} that runs inside
L{twisted.conch.insults.insults.ServerProtocol} over
L{twisted.internet.stdio.StandardIO}, with the terminal in raw mode (see
L{tchat.client.terminal.RawTerminal}). It knows nothing of the chat: the
prompt (L{LineEditor._prompt}), what Enter does and what the history keeps
are the subclass's; so is how the typed text is drawn
(L{LineEditor._shown}: the chat UI draws passwords as ``*``).

How the screen is kept: the input area (an optional status row, an
optional banner row, the prompt plus what is typed, maybe wrapped over
several rows) is always the last thing on the screen, and the editor knows
where on it the terminal's cursor is (L{LineEditor._at}, a row and a column
counted from the start of the input area). To show a message it moves the
cursor to the start of the input area, erases to the end of the screen,
writes the message lines (the terminal scrolls as it needs to), then draws
the prompt and the typed text again and puts the cursor back where it was
in the text. After a resize it works out where the terminal put the input
area (L{Resize}).

Tab completes the word before the cursor (L{LineEditor.handle_TAB}): the
subclass says with what (L{LineEditor._completions}); Tab again, before
any other key, puts the next candidate in its place, and so on round.

Input is bytes: recvline's C{lineBuffer} is a list of C{bytes}. Here each
element is one whole character, UTF-8 encoded: bytes of 0x80 and above are
fed to an incremental UTF-8 decoder, and each character it completes is
inserted as one element, so the arrows and backspace move over and delete
whole characters. Column widths come from Unicode
(L{tchat.client.terminal.char_width}).
"""

from __future__ import annotations

import codecs
from typing import Any

from twisted.conch.recvline import HistoricRecvLine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from tchat.client.terminal import cut, layout
from tchat.names import clean_text

# How long the terminal may take to say where its cursor is after a resize.
ANSWER_WAIT = 0.5

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E, CTRL_F = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06"
CTRL_H, CTRL_K, CTRL_L, CTRL_N, CTRL_P, CTRL_U, CTRL_W = b"\x08", b"\x0b", b"\x0c", b"\x0e", b"\x10", b"\x15", b"\x17"


def split_chars(data: bytes) -> list[bytes]:
    """UTF-8 ``data`` as a recvline buffer: one element per character."""
    return [ch.encode("utf-8") for ch in data.decode("utf-8", errors="replace")]


class Resize:
    """
    What was on the screen when the terminal changed size, for working out
    where the terminal has put the input area since.

    A terminal that re-wraps its lines to the new width (tmux, VTE, kitty,
    iTerm2, Konsole, Windows Terminal...) moves the input area's rows and
    keeps the cursor on the same character; one that does not (xterm, the
    Linux console) cuts the rows and leaves the cursor on its row, its column
    held within the new width.
    """

    def __init__(self, drawn: list[str], cursor: int, at: tuple[int, int]) -> None:
        self.drawn, self.cursor, self.at = drawn, cursor, at
        self.asked = 0

    def rewrapped(self, width: int) -> tuple[int, int]:
        return layout(self.drawn, width)[self.cursor]

    def kept(self, width: int) -> tuple[int, int]:
        return self.at[0], min(self.at[1], width - 1)


class LineEditor(HistoricRecvLine):
    """
    The line editor and message display of the terminal client, without
    the chat: see L{tchat.client.ui.ChatUI} for what callers may rely on.

    L{show} never disturbs what is being typed. L{closed} fires when the
    terminal side is gone.
    """

    def __init__(self, clock: IReactorTime | None = None) -> None:
        self.closed: Deferred[None] = Deferred()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Where the terminal's cursor is, as (row, column) from the prompt's start.
        self._at = (0, 0)
        self._draft: list[bytes] | None = None
        self._connected = False
        # A status line (the chat UI: how the connection is while it is down),
        # drawn on its own row above the prompt.
        self._status: str | None = None
        # While the terminal is asked where its cursor went after a resize:
        # nothing is drawn, and lines to show wait in _queued.
        self._resize: Resize | None = None
        self._resize_timer: Any = None
        self._queued: list[str] = []
        # While Tab goes through the candidates for a word: where the word
        # starts in the buffer, the candidates, and which one is in place.
        self._cycle: tuple[int, list[str], int] | None = None
        self.clock = clock

    # -- Twisted calls these -------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        self._connected = True
        self.keyHandlers.update(
            {
                CTRL_A: self.handle_HOME,
                CTRL_E: self.handle_END,
                CTRL_B: self.handle_LEFT,
                CTRL_F: self.handle_RIGHT,
                CTRL_P: self.handle_UP,
                CTRL_N: self.handle_DOWN,
                CTRL_H: self.handle_BACKSPACE,
                CTRL_K: self.handle_CTRL_K,
                CTRL_U: self.handle_CTRL_U,
                CTRL_W: self.handle_CTRL_W,
                CTRL_L: self.handle_CTRL_L,
            }
        )

    def initializeScreen(self) -> None:
        # recvline would reset (clear) the whole terminal and switch it to
        # insert mode; a chat client leaves the scrollback alone and redraws
        # the input line itself, so neither is needed.
        self.mode = "insert"
        self._at = (0, 0)
        self._draw_input()

    def terminalSize(self, width: int, height: int) -> None:
        """
        The terminal is now ``width`` by ``height``: draw the input area
        again, once, where it starts now.

        The terminal has already moved things by the time it says so: the
        input area that wrapped over several rows may have been re-wrapped
        to the new width, and the cursor, which may be on any of its rows,
        with it. Drawing again from the cursor's row (as this once did)
        left the rows above it on the screen: a stale copy of a long typed
        line. So the input area's first row is worked out both ways (see
        L{Resize}); when the two differ, the terminal is asked where its
        cursor is (a cursor position report) and the column tells which way
        it went. Until it answers (at most L{ANSWER_WAIT} seconds, then it
        is taken to re-wrap, as most do), nothing is drawn.
        """
        width = max(width, 2)
        if not self._connected:
            self.width, self.height = width, height
            return
        if self._resize is None:
            self._resize = Resize(self._chars(), self._head_len() + self.lineBufferIndex, self._at)
        self.width, self.height = width, height
        rewrapped, kept = self._resize.rewrapped(width), self._resize.kept(width)
        if rewrapped[0] == kept[0] or rewrapped[1] == kept[1]:
            # The same row either way, or no telling them apart by the column.
            self._resized(rewrapped[0])
            return
        self._resize.asked += 1
        asked = self._resize.asked
        self.terminal.reportCursorPosition().addCallback(lambda xy: self._cursor_reported(xy, asked))
        if self._resize_timer is None or not self._resize_timer.active():
            self._resize_timer = self._clock().callLater(ANSWER_WAIT, self._cursor_reported, None, asked)

    def _cursor_reported(self, xy: tuple[int, int] | None, asked: int) -> None:
        """The terminal says where its cursor is (``xy``), or did not say in time (None)."""
        resize = self._resize
        if resize is None or (xy is not None and asked != resize.asked):
            return  # an answer to an earlier question: a later one is coming
        rewrapped, kept = resize.rewrapped(self.width), resize.kept(self.width)
        self._resized(kept[0] if xy is not None and xy[0] == kept[1] else rewrapped[0])

    def _resized(self, row: int) -> None:
        """The cursor is on ``row`` of the input area: draw it all again from its first row."""
        self._resize = None
        if self._resize_timer is not None and self._resize_timer.active():
            self._resize_timer.cancel()
        self._resize_timer = None
        self.terminal.write(b"\r")
        self._at = (row, 0)
        queued, self._queued = self._queued, []
        if queued:
            self.show(queued)
        else:
            self._redraw()

    def _clock(self) -> IReactorTime:
        if self.clock is None:
            from twisted.internet import reactor

            self.clock = reactor
        return self.clock

    def keystrokeReceived(self, keyID: Any, modifier: Any) -> None:
        if keyID != b"\t":
            self._cycle = None  # any other key ends a round of Tab
        if isinstance(keyID, bytes) and len(keyID) == 1 and keyID >= b"\x80" and modifier is None:
            for ch in self._decoder.decode(keyID):
                self.characterReceived(ch.encode("utf-8"), False)
            return
        # Any other key ends a character left half-typed.
        self._decoder.reset()
        if modifier is not None:
            return  # Alt-combinations are not bound to anything
        handler = self.keyHandlers.get(keyID)
        if handler is not None:
            handler()
        elif isinstance(keyID, bytes) and len(keyID) == 1 and keyID.decode("latin-1").isprintable():
            self.characterReceived(keyID, False)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._connected = False
        if not self.closed.called:
            self.closed.callback(None)

    # -- showing -------------------------------------------------------------

    def show(self, lines: list[str]) -> None:
        """Write ``lines`` above the input line, which is drawn again below."""
        if not self._connected:
            return
        if self._resize is not None:
            self._queued += lines
            return
        self._go((0, 0))
        self.terminal.eraseToDisplayEnd()
        # ServerProtocol.write turns each \n into \r\n for the raw terminal.
        self.terminal.write("".join(line + "\n" for line in lines).encode("utf-8"))
        self._at = (0, 0)
        self._draw_input()

    def finish(self) -> None:
        """Erase the input line, leaving the messages above it as they are."""
        if self._connected:
            if self._resize is not None:
                self._cursor_reported(None, self._resize.asked)
            self._go((0, 0))
            self.terminal.eraseToDisplayEnd()

    def close(self) -> Deferred[None]:
        """Flush the output and close the terminal side; fires when done."""
        if self._connected:
            # Not ServerProtocol.loseConnection: it resets (clears) the screen.
            self.terminal.transport.loseConnection()
        return self.closed

    # -- editing -------------------------------------------------------------

    def characterReceived(self, ch: bytes, moreCharactersComing: bool) -> None:
        at_end = self.lineBufferIndex == len(self.lineBuffer)
        before = list(self._shown()) if at_end else []
        if self.mode == "insert" or at_end:
            self.lineBuffer.insert(self.lineBufferIndex, ch)
        else:
            self.lineBuffer[self.lineBufferIndex] = ch
        self.lineBufferIndex += 1
        if at_end and self._shown()[:-1] == before:
            # Typing at the end needs no redraw: write it where the cursor is.
            self._write_input(self.lineBufferIndex - 1)
        else:
            self._redraw()

    def handle_TAB(self) -> None:
        """
        Complete the word before the cursor with the first of its
        candidates (L{_completions}); pressed again, with the next one, and
        round again after the last. Nothing happens when there is none.
        """
        cycle = self._cycle
        if cycle is not None:
            start, candidates, index = cycle
            if self.lineBuffer[start : self.lineBufferIndex] == split_chars(candidates[index].encode("utf-8")):
                index = (index + 1) % len(candidates)
                self._put_completion(start, candidates, index)
                return
        start = self.lineBufferIndex
        while start > 0 and self.lineBuffer[start - 1] != b" ":
            start -= 1
        word = b"".join(self.lineBuffer[start : self.lineBufferIndex]).decode("utf-8", errors="replace")
        candidates = self._completions(word, start == 0) if word else []
        if candidates:
            self._put_completion(start, candidates, 0)

    def _put_completion(self, start: int, candidates: list[str], index: int) -> None:
        chars = split_chars(candidates[index].encode("utf-8"))
        self.lineBuffer[start : self.lineBufferIndex] = chars
        self.lineBufferIndex = start + len(chars)
        self._cycle = (start, candidates, index)
        self._redraw()

    def _completions(self, word: str, line_start: bool) -> list[str]:
        """
        What may take the place of ``word`` (never empty), the text before
        the cursor back to a space, in order (``line_start``: the word
        begins the line); each is put in whole, with whatever should follow it.
        """
        return []

    def handle_LEFT(self) -> None:
        if self.lineBufferIndex > 0:
            self.lineBufferIndex -= 1
            self._go(self._layout()[self._head_len() + self.lineBufferIndex])

    def handle_RIGHT(self) -> None:
        if self.lineBufferIndex < len(self.lineBuffer):
            self.lineBufferIndex += 1
            self._go(self._layout()[self._head_len() + self.lineBufferIndex])

    def handle_HOME(self) -> None:
        self.lineBufferIndex = 0
        self._go(self._layout()[self._head_len()])

    def handle_END(self) -> None:
        self.lineBufferIndex = len(self.lineBuffer)
        self._go(self._layout()[-1])

    def handle_BACKSPACE(self) -> None:
        if self.lineBufferIndex > 0:
            self.lineBufferIndex -= 1
            del self.lineBuffer[self.lineBufferIndex]
            self._redraw()

    def handle_DELETE(self) -> None:
        if self.lineBufferIndex < len(self.lineBuffer):
            del self.lineBuffer[self.lineBufferIndex]
            self._redraw()

    def handle_INSERT(self) -> None:
        self.mode = "typeover" if self.mode == "insert" else "insert"

    def handle_CTRL_K(self) -> None:
        del self.lineBuffer[self.lineBufferIndex :]
        self._redraw()

    def handle_CTRL_U(self) -> None:
        del self.lineBuffer[: self.lineBufferIndex]
        self.lineBufferIndex = 0
        self._redraw()

    def handle_CTRL_W(self) -> None:
        start = self.lineBufferIndex
        while start > 0 and self.lineBuffer[start - 1] == b" ":
            start -= 1
        while start > 0 and self.lineBuffer[start - 1] != b" ":
            start -= 1
        del self.lineBuffer[start : self.lineBufferIndex]
        self.lineBufferIndex = start
        self._redraw()

    def handle_CTRL_L(self) -> None:
        # From the top of a clear screen: wherever a resize left things.
        self._resize = None
        queued, self._queued = self._queued, []
        self.terminal.eraseDisplay()
        self.terminal.cursorHome()
        self._at = (0, 0)
        self._draw_input()
        if queued:
            self.show(queued)

    def _replace_buffer(self, buffer: list[bytes]) -> None:
        self.lineBuffer = buffer
        self.lineBufferIndex = len(buffer)
        self._redraw()

    # -- drawing -------------------------------------------------------------

    def _prompt(self) -> str:
        """What the prompt says now."""
        raise NotImplementedError

    def _shown(self) -> list[bytes]:
        """The buffer as it is drawn, one element per character."""
        return self.lineBuffer

    def _banner(self) -> str | None:
        """A row to keep above the prompt (the chat's: the current room's topic), or None."""
        return None

    def _head(self) -> str:
        """
        What comes before the typed text in the input area: the status row
        and the banner row, each if there is one (cleaned, a tab made a
        space, and cut to the width, so the terminal never wraps it), then
        the prompt.
        """
        banner = self._banner()
        rows = [f"*** {self._status}"] if self._status is not None else []
        rows += [banner] if banner is not None else []
        return "".join(cut(clean_text(row).replace("\t", " "), self.width - 1) + "\n" for row in rows) + self._prompt()

    def _head_len(self) -> int:
        return len(self._head())

    def _chars(self) -> list[str]:
        """The input area as it is drawn, one item per character."""
        return list(self._head()) + [b.decode("utf-8", errors="replace") for b in self._shown()]

    def _layout(self) -> list[tuple[int, int]]:
        """
        (row, column) of each character of the input area (L{_chars}), and
        as the last item where it ends, at the terminal's width.
        """
        return layout(self._chars(), self.width)

    def _go(self, place: tuple[int, int]) -> None:
        """Move the terminal's cursor to ``place`` in the input area."""
        if place == self._at or self._resize is not None:
            return
        row, col = place
        if row < self._at[0]:
            self.terminal.cursorUp(self._at[0] - row)
        elif row > self._at[0]:
            self.terminal.cursorDown(row - self._at[0])
        self.terminal.write(b"\r")
        if col:
            self.terminal.cursorForward(col)
        self._at = place

    def _write_input(self, start: int) -> None:
        """Write the buffer from element ``start`` on, then put the cursor right."""
        if self._resize is not None:
            return
        places = self._layout()
        offset = self._head_len()
        self._go(places[offset + start])
        self.terminal.write(b"".join(self._shown()[start:]))
        self._settle(places)

    def _draw_input(self) -> None:
        """Draw prompt and buffer from the start of the (erased) input area."""
        places = self._layout()
        self._go((0, 0))
        # ServerProtocol.write turns the status row's \n into \r\n.
        self.terminal.write(self._head().encode("utf-8") + b"".join(self._shown()))
        self._settle(places)

    def _settle(self, places: list[tuple[int, int]]) -> None:
        end = places[-1]
        if end[1] == 0 and end[0] > 0:
            # The text ended on the last column: the terminal holds the cursor
            # there until the next character. Make it wrap now, so the cursor
            # is where the layout says.
            self.terminal.write(b" \r")
        self._at = end
        self._go(places[self._head_len() + self.lineBufferIndex])

    def _redraw(self) -> None:
        if not self._connected or self._resize is not None:
            return
        self._go((0, 0))
        self.terminal.eraseToDisplayEnd()
        self._draw_input()
