"""
What a user name, a room name and a message text may contain.

Names are checked here and nowhere else: the hub calls :func:`check_name` and
:func:`check_room` on everything a client proposes, and keys its tables by
:func:`name_key`, so ``Alice`` and ``alice`` are one user, shown as chosen.

Two names with different keys but one :func:`skeleton` look alike
(``alice`` and ``\u0430lice``, whose first letter is Cyrillic): the hub
refuses a new name or room that looks like one in use or registered. The
skeleton is Unicode's (UTS #39), from the confusables data that the
confusable-homoglyphs package carries; see :func:`skeleton`.

Message text is cleaned with :func:`clean_text` before it reaches anyone:
control characters (C0 but tab, DEL, C1) and whole ANSI escape sequences are
removed, so nobody can repaint someone else's terminal or split their line.
Invisible Unicode is decided per class (docs/protocol.rst, "Text"):

- line and paragraph separators (U+2028, U+2029, like ``\n``): a space, so
  no line breaks in two on a page or in a JSON client that honours them;
- explicit bidirectional formatting (embeddings and overrides U+202A-U+202E,
  isolates U+2066-U+2069): removed, so no text can make the rest of someone
  else's line (the next message, the sender's name) render backwards. The
  marks U+200E, U+200F and U+061C stay: they are how right-to-left text is
  written correctly, and they act only inside the message, which the page
  shows isolated (``dir="auto"``) from what is around it;
- U+FEFF (a byte-order mark, not text inside a message), the deprecated
  format controls U+206A-U+206F and the interlinear annotation controls
  U+FFF9-U+FFFB: removed;
- zero-width space, joiner and non-joiner, word joiner (U+200B-U+200D,
  U+2060): kept. Emoji sequences and several scripts (Persian, Indic) need
  the joiners, and none of them can move or break text. Names never hold
  any of these (only letters, marks, digits and ``_-.``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

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
    if not any(unicodedata.category(ch)[0] == "L" or unicodedata.category(ch) == "Nd" for ch in text):
        raise BadName(f"{what} needs a letter or a digit (not only '_', '-' and '.')")
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


def skeleton(name: str) -> str:
    """
    What ``name`` looks like: two names with one skeleton are confusable.

    The UTS #39 skeleton (NFD, each character replaced by its prototype in
    Unicode's confusables data, NFD again) of the name's L{name_key}, so it
    is the same for every spelling of one key (``Alice``, ``alice``). Its
    result is case-folded and mapped once more, because some prototypes are
    capitals (``0`` looks like ``O``) that the key has already made small.
    A key always has one skeleton; a skeleton is never shown.
    """
    return _fold(_fold(name_key(name)).casefold())


def _fold(text: str) -> str:
    prototypes = _prototypes()
    return unicodedata.normalize(
        "NFD", "".join(prototypes.get(ch, ch) for ch in unicodedata.normalize("NFD", text))
    )


@cache
def _prototypes() -> dict[str, str]:
    """
    Each confusable character's representative: one per class of Unicode's
    confusables (a prototype and the characters that map to it).

    confusable-homoglyphs keeps each line of confusables.txt both ways
    (character to prototype, prototype to character), so which side was the
    prototype is not kept; but each class is a star around its prototype,
    so the classes are the connected groups, and any one member can stand
    for its class. The prototype is taken where it shows: the member linked
    to all the others, else a sequence (``m`` looks like ``rn``: ``rn``
    must stay two letters), else the smallest, so the choice never changes
    for the same data. The data spells right-to-left characters between
    left-to-right marks (from the file's comments): the marks are dropped.
    """
    from confusable_homoglyphs.confusables import confusables_data

    linked: dict[str, set[str]] = {}
    for glyph, alikes in confusables_data.items():
        for alike in alikes:
            one, other = _unmarked(glyph), _unmarked(alike["c"])
            if one and other and one != other:
                linked.setdefault(one, set()).add(other)
                linked.setdefault(other, set()).add(one)
    prototypes: dict[str, str] = {}
    placed: set[str] = set()
    for start in linked:
        if start in placed:
            continue
        group, waiting = set(), [start]
        while waiting:
            glyph = waiting.pop()
            if glyph not in group:
                group.add(glyph)
                waiting.extend(linked[glyph])
        placed |= group
        prototype = min(group, key=lambda g: (-len(linked[g]), len(g) == 1, g))
        for glyph in group:
            if len(glyph) == 1 and glyph != prototype:
                prototypes[glyph] = prototype
    return prototypes


def _unmarked(text: str) -> str:
    return text.replace("\u200e", "").replace("\u200f", "")


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
_CONTROL = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u206a-\u206f\ufeff\ufff9-\ufffb]"
)
# Line breaks become one space, so "hi\r\nthere" does not read "hithere".
_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")


def clean_text(text: str) -> str:
    """
    Remove every control character but tab, whole escape sequences, bidi
    embeddings, overrides and isolates, and the other invisible controls
    listed above; line and paragraph breaks become a space.

    The result never holds a line break, cannot move a cursor, and cannot
    reorder text outside itself.
    """
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub("", _ESCAPE.sub("", _BREAK.sub(" ", text)))
