"""
The terminal front-end: messages scroll above, the line being typed stays
at the bottom.

L{ChatUI} is a L{HistoricRecvLine} that runs inside
L{twisted.conch.insults.insults.ServerProtocol} over
L{twisted.internet.stdio.StandardIO}, with the terminal in raw mode (see
L{RawTerminal}). It is the client's L{tchat.client.connection.Display}.

How the screen is kept: the input area (prompt plus what is typed, maybe
wrapped over several rows) is always the last thing on the screen, and the UI
knows where on it the terminal's cursor is (L{ChatUI._at}, a row and a column
counted from the start of the prompt). To show a message it moves the cursor
to the start of the input area, erases to the end of the screen, writes the
message lines (the terminal scrolls as it needs to), then draws the prompt
and the typed text again and puts the cursor back where it was in the text.

Input is bytes: recvline's C{lineBuffer} is a list of C{bytes}. Here each
element is one whole character, UTF-8 encoded: bytes of 0x80 and above are
fed to an incremental UTF-8 decoder, and each character it completes is
inserted as one element, so the arrows and backspace move over and delete
whole characters. Column widths come from Unicode (wide CJK characters take
two columns, combining marks none).

Passwords: at the ``Password for NAME:`` prompt every typed character is
drawn as ``*``, and so is the password part of a typed ``/login``,
``/register``, ``/passwd``, ``/admin`` or ``/account create|reset`` (see
L{tchat.client.connection.secret_start}); the screen only ever gets
L{ChatUI._shown}, never the buffer itself. Neither kind of line is kept in
the up-arrow history.
"""

from __future__ import annotations

import atexit
import codecs
import fcntl
import termios
import tty
import unicodedata
from typing import Any, Protocol

from twisted.conch.recvline import HistoricRecvLine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from tchat.client.connection import holds_password, secret_start
from tchat.client.render import Renderer
from tchat.commands import BadRequest, parse_text
from tchat.names import clean_text

NAME_PROMPT = "Name: "
# How long the terminal may take to say where its cursor is after a resize.
ANSWER_WAIT = 0.5
# While a rate-limited login waits for the person to try again.
RETRY_PROMPT = "[Enter: try again] "

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E, CTRL_F = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06"
CTRL_H, CTRL_K, CTRL_L, CTRL_N, CTRL_P, CTRL_U, CTRL_W = b"\x08", b"\x0b", b"\x0c", b"\x0e", b"\x10", b"\x15", b"\x17"


class Client(Protocol):
    """What the UI needs of L{tchat.client.connection.ChatClient}."""

    logged_in: bool

    @property
    def reconnecting(self) -> bool: ...
    def send_typed(self, line: str) -> None: ...
    def login(self, name: str, password: str | None = None) -> None: ...
    def quit(self, reason: str | None = None, status: int = 0) -> None: ...
    def retry_now(self) -> bool: ...
    def prompt(self) -> str: ...


def char_width(ch: str) -> int:
    """Columns a character takes on a terminal: 0, 1 or 2."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def split_chars(data: bytes) -> list[bytes]:
    """UTF-8 ``data`` as a recvline buffer: one element per character."""
    return [ch.encode("utf-8") for ch in data.decode("utf-8", errors="replace")]


def layout(chars: list[str], width: int) -> list[tuple[int, int]]:
    """
    (row, column) where each of ``chars`` starts on a terminal ``width``
    columns wide, and as the last item where the text ends: wrapping as the
    terminal does (a wide character that does not fit goes to the next
    row), and ``"\n"`` starting a new row.
    """
    row = col = 0
    places = []
    for ch in chars:
        if ch == "\n":
            places.append((row, col))
            row, col = row + 1, 0
            continue
        w = char_width(ch)
        if col + w > width:
            row, col = row + 1, 0
        places.append((row, col))
        col += w
    if col >= width:
        row, col = row + 1, 0
    places.append((row, col))
    return places


def cut(text: str, columns: int) -> str:
    """``text`` cut to fit in ``columns`` columns (``…`` ends a cut one)."""
    if sum(char_width(ch) for ch in text) <= columns:
        return text
    kept, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > columns - 1:
            break
        kept.append(ch)
        used += w
    return "".join(kept) + "…"


class _Resize:
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


class ChatUI(HistoricRecvLine):
    """
    The line editor and message display of the terminal client.

    Callers may rely on: typed lines go to the client whole, decoded
    (L{Client.send_typed}); L{show} never disturbs what is being typed; Enter
    clears the input line (what was sent shows up above once the server has
    it); Ctrl-C, and Ctrl-D on an empty line, call L{Client.quit}.
    L{closed} fires when the terminal side is gone. A password typed at the
    password prompt goes to L{Client.login}; it is never drawn, and never
    kept in the history.
    """

    def __init__(self, client: Client, renderer: Renderer | None = None, clock: IReactorTime | None = None) -> None:
        self.client = client
        self.renderer = renderer or Renderer()
        self.asking_name = False
        # The name whose password is being asked for, while it is.
        self.asking_password: str | None = None
        # After rate_limited: the next Enter shows the password prompt again.
        self._retry_on_enter = False
        self.closed: Deferred[None] = Deferred()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Where the terminal's cursor is, as (row, column) from the prompt's start.
        self._at = (0, 0)
        self._draft: list[bytes] | None = None
        self._connected = False
        # How the connection is while it is down (ChatClient.reconnect_with):
        # drawn on its own row above the prompt.
        self._status: str | None = None
        # Whether a login has worked: from then on the typed line and the
        # history belong to the chat, and outlive a name or password prompt.
        self._chatted = False
        # The chat line put aside while a name or password is asked.
        self._stash: tuple[list[bytes], int] | None = None
        # While the terminal is asked where its cursor went after a resize:
        # nothing is drawn, and lines to show wait in _queued.
        self._resize: _Resize | None = None
        self._resize_timer: Any = None
        self._queued: list[str] = []
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
                CTRL_C: self.handle_CTRL_C,
                CTRL_D: self.handle_CTRL_D,
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
        L{_Resize}); when the two differ, the terminal is asked where its
        cursor is (a cursor position report) and the column tells which way
        it went. Until it answers (at most L{ANSWER_WAIT} seconds, then it
        is taken to re-wrap, as most do), nothing is drawn.
        """
        width = max(width, 2)
        if not self._connected:
            self.width, self.height = width, height
            return
        if self._resize is None:
            self._resize = _Resize(self._chars(), self._head_len() + self.lineBufferIndex, self._at)
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
        self.client.quit()
        if not self.closed.called:
            self.closed.callback(None)

    # -- Display -------------------------------------------------------------

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

    def ask_name(self, problem: str | None, code: str | None) -> None:
        if problem is not None:
            self.show(self.renderer.error(problem))
        self._put_line_aside()
        self.asking_name = True
        self._redraw()

    def ask_password(self, name: str, problem: str, code: str) -> None:
        self._put_line_aside()
        self.asking_name = False
        self.asking_password = name
        self._retry_on_enter = code == "rate_limited"
        # Whatever was half typed is not the password.
        self.lineBuffer, self.lineBufferIndex = [], 0
        if not self._chatted:
            # At the start, the lines typed before this prompt (the password
            # typed too early, maybe) are forgotten. After a reconnect the
            # history is the chat's: it was all typed while logged in.
            self.historyLines, self.historyPosition, self._draft = [], 0, None
        if code == "password_required":
            self.show(self.renderer.notice(
                f"{name} is registered: type its password (Enter alone: other name)"
            ))
        else:
            self.show(self.renderer.error(problem))
        if self._retry_on_enter:
            self.show(self.renderer.notice("press Enter to try again"))
        self._redraw()

    def changed(self) -> None:
        if self.client.logged_in:
            self._chatted = True
            if self._stash is not None and not self.asking_name and self.asking_password is None:
                # Logged in again: the line that was being typed comes back.
                (self.lineBuffer, self.lineBufferIndex), self._stash = self._stash, None
        self._redraw()

    def status(self, text: str | None, update: bool) -> None:
        """Show ``text`` on a row of its own above the prompt (None: no such row)."""
        self._status = text
        self._redraw()

    def _put_line_aside(self) -> None:
        """
        A name or password is asked after a reconnect: keep the chat line
        being typed for when the login is done. (At the start there is none
        to keep: what was typed before the prompt may be the password.)
        """
        if self._chatted and self._stash is None and not self.asking_name and self.asking_password is None:
            self._stash = (self.lineBuffer, self.lineBufferIndex)
            self.lineBuffer, self.lineBufferIndex = [], 0

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
        if self._retry_on_enter:
            return  # only Enter means something until the password is asked again
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
        self.characterReceived(b" ", False)

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

    def handle_CTRL_C(self) -> None:
        self.client.quit()

    def handle_CTRL_D(self) -> None:
        if self.lineBuffer:
            self.handle_DELETE()  # as in readline: Ctrl-D leaves only from an empty line
        else:
            self.client.quit()

    # -- history -------------------------------------------------------------

    def handle_UP(self) -> None:
        if self.historyPosition == 0 or self.asking_password is not None:
            return
        if self.historyPosition == len(self.historyLines):
            # Keep what was being typed, to come back to with the down arrow.
            self._draft = list(self.lineBuffer)
        self.historyPosition -= 1
        self._replace_buffer(split_chars(self.historyLines[self.historyPosition]))

    def handle_DOWN(self) -> None:
        if self.historyPosition >= len(self.historyLines) or self.asking_password is not None:
            return
        self.historyPosition += 1
        if self.historyPosition == len(self.historyLines):
            buffer, self._draft = self._draft or [], None
        else:
            buffer = split_chars(self.historyLines[self.historyPosition])
        self._replace_buffer(buffer)

    def handle_RETURN(self) -> None:
        data = b"".join(self.lineBuffer)
        line = data.decode("utf-8", errors="replace")
        typing = not self.asking_name and self.asking_password is None
        if typing and self.client.reconnecting:
            self._not_connected(line)
            return
        if data.strip() and typing and not holds_password(line):
            if not self.historyLines or self.historyLines[-1] != data:
                self.historyLines.append(data)
        self.historyPosition = len(self.historyLines)
        self._draft = None
        self.lineBuffer = []
        self.lineBufferIndex = 0
        if self.asking_password is not None:
            self._password_typed(self.asking_password, line)
        elif self.asking_name:
            self._name_typed(line)
        else:
            self._redraw()
            self.client.send_typed(line)

    def _not_connected(self, line: str) -> None:
        """
        Enter while the connection is down: nothing can be sent, so the line
        stays where it is, to be sent with Enter once the client is back;
        Enter also cuts the wait before the next try short. /quit still leaves.
        """
        try:
            request = parse_text(line) if line.strip() else None
        except BadRequest:
            request = None
        if request is not None and request.action == "quit":
            self.client.quit()
            return
        trying = self.client.retry_now()
        if line.strip():
            self.show(self.renderer.error(
                "not connected, so not sent: the line stays here; Enter sends it once the client is back"
                + ("; trying to reconnect now" if trying else "")
            ))

    def _password_typed(self, name: str, password: str) -> None:
        if self._retry_on_enter:
            self._retry_on_enter = False
            self._redraw()
            return
        self.asking_password = None
        if not password.strip():
            # Enter alone: this is not my name after all.
            self.asking_name = True
            self._redraw()
            return
        self._redraw()
        self.client.login(name, password.strip())

    def _name_typed(self, line: str) -> None:
        name = line.strip()
        if not name:
            self._redraw()
            return
        if name.startswith("/"):
            try:
                request = parse_text(name)
            except BadRequest as e:
                self.show(self.renderer.error(e.text))
                return
            if request is not None and request.action == "quit":
                self._redraw()
                self.client.quit()
            elif request is not None and request.action == "login":
                self.asking_name = False
                self._redraw()
                self.client.login(request.args["user"], request.args.get("password"))
            else:
                self.show(self.renderer.error("choose a name first (or /login NAME PASSWORD, or /quit)"))
            return
        self.asking_name = False
        self._redraw()
        self.client.login(name)

    def _replace_buffer(self, buffer: list[bytes]) -> None:
        self.lineBuffer = buffer
        self.lineBufferIndex = len(buffer)
        self._redraw()

    # -- drawing -------------------------------------------------------------

    def _prompt(self) -> str:
        if self.asking_password is not None:
            return RETRY_PROMPT if self._retry_on_enter else f"Password for {clean_text(self.asking_password)}: "
        return NAME_PROMPT if self.asking_name else self.client.prompt()

    def _shown(self) -> list[bytes]:
        """
        The buffer as it is drawn, one element per character: a password,
        or the password part of a typed command, as ``*``.
        """
        if self.asking_password is not None:
            return [b"*"] * len(self.lineBuffer)
        chars = [b.decode("utf-8", errors="replace") for b in self.lineBuffer]
        start = secret_start("".join(chars)) if chars and chars[0] == "/" else None
        if start is None:
            return self.lineBuffer
        return self.lineBuffer[:start] + [b"*"] * (len(self.lineBuffer) - start)

    def _head(self) -> str:
        """
        What comes before the typed text in the input area: the status row,
        if there is one (cut to the width, so the terminal never wraps it),
        then the prompt.
        """
        if self._status is None:
            return self._prompt()
        return cut(clean_text(f"*** {self._status}"), self.width - 1) + "\n" + self._prompt()

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


class RawTerminal:
    """
    The terminal in raw mode for as long as the UI runs.

    L{restore} puts back the terminal's settings and the descriptors' flags
    (StandardIO makes them non-blocking, which the shell would inherit). It
    may be called any number of times; it is also registered with L{atexit},
    so an exit that skips the caller's C{finally} still restores.
    """

    def __init__(self, fd_in: int = 0, fd_out: int = 1) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out
        self._saved: list[Any] | None = None
        self._flags: dict[int, int] = {}

    def enter(self) -> None:
        self._flags = {fd: fcntl.fcntl(fd, fcntl.F_GETFL) for fd in {self.fd_in, self.fd_out}}
        self._saved = termios.tcgetattr(self.fd_in)
        atexit.register(self.restore)
        tty.setraw(self.fd_in, termios.TCSANOW)

    def restore(self) -> None:
        for fd, flags in self._flags.items():
            try:
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)
            except OSError:
                pass
        self._flags = {}
        if self._saved is not None:
            saved, self._saved = self._saved, None
            try:
                termios.tcsetattr(self.fd_in, termios.TCSADRAIN, saved)
            except termios.error:
                pass
