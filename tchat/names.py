"""
What a user name, a room name and a message text may contain.

Names are checked here and nowhere else: the hub calls :func:`check_name` and
:func:`check_room` on everything a client proposes, and keys its tables by
:func:`name_key`, so ``Alice`` and ``alice`` are one user, shown as chosen.

Message text is cleaned with :func:`clean_text` before it reaches anyone:
control characters (C0 but tab, DEL, C1) and whole ANSI escape sequences are
removed, so nobody can repaint someone else's terminal or split their line.
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 32
ROOM_MAX = 48
LOBBY = "#lobby"

_PUNCTUATION = frozenset("_-.")


class BadName(ValueError):
    """A proposed user or room name breaks the rules; the message says which."""


def _allowed(ch: str) -> bool:
    if ch in _PUNCTUATION:
        return True
    category = unicodedata.category(ch)
    # Letters and decimal digits, plus combining marks so that scripts which
    # need them (Devanagari vowel signs, say) can spell a name at all.
    return category[0] in "LM" or category == "Nd"


def _check_chars(text: str, what: str, limit: int) -> str:
    text = unicodedata.normalize("NFC", text)
    if not text:
        raise BadName(f"{what} must not be empty")
    if len(text) > limit:
        raise BadName(f"{what} is longer than {limit} characters")
    for ch in text:
        if not _allowed(ch):
            shown = repr(ch) if not ch.isprintable() or ch.isspace() else ch
            raise BadName(
                f"{what} may only hold letters, digits, '_', '-' and '.'"
                f" (found {shown})"
            )
    if unicodedata.category(text[0])[0] == "M":
        raise BadName(f"{what} must not start with a combining mark")
    return text


def check_name(proposed: str) -> str:
    """
    Return ``proposed`` as the user name to show (NFC), or raise L{BadName}.

    1-32 letters, digits, ``_``, ``-``, ``.``; not starting with ``#`` or
    ``-``; not made of digits only.
    """
    if proposed.startswith("#"):
        raise BadName("a user name must not start with '#' (that is a room)")
    name = _check_chars(proposed, "a user name", NAME_MAX)
    if name.startswith("-"):
        raise BadName("a user name must not start with '-'")
    if all(unicodedata.category(ch) == "Nd" for ch in name):
        raise BadName("a user name must not be only digits")
    return name


def check_room(proposed: str) -> str:
    """
    Return ``proposed`` as the room name to show, or raise L{BadName}.

    ``#`` followed by 1-48 letters, digits, ``_``, ``-``, ``.``.
    """
    if not proposed.startswith("#"):
        raise BadName("a room name starts with '#', as in #lobby")
    return "#" + _check_chars(proposed[1:], "a room name", ROOM_MAX)


def name_key(name: str) -> str:
    """The key under which a user or room name is unique (case-insensitive)."""
    return unicodedata.normalize("NFC", name).casefold()


def is_room(target: str) -> bool:
    """Whether a message target names a room rather than a user."""
    return target.startswith("#")


# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST),
# and the two-byte forms; plus the 8-bit CSI. Removed whole so no fragment
# such as "[31m" is left behind.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
)
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Line breaks become one space, so "hi\r\nthere" does not read "hithere".
_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x85]")


def clean_text(text: str) -> str:
    """
    Remove every control character but tab, and whole escape sequences;
    line breaks become a space.

    The result never holds ``\\r`` or ``\\n`` and cannot move a cursor.
    """
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub("", _ESCAPE.sub("", _BREAK.sub(" ", text)))
