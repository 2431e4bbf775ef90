"""
The terminal itself, as the terminal UI sees it: how many columns a
character takes (L{char_width}: wide CJK characters two, combining marks
none), where text lands when the terminal wraps it (L{layout}), text cut to
a width (L{cut}), and raw mode for as long as the UI runs
(L{RawTerminal}).
"""

from __future__ import annotations

import atexit
import fcntl
import termios
import tty
import unicodedata
from typing import Any


def char_width(ch: str) -> int:
    """Columns a character takes on a terminal: 0, 1 or 2."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


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
