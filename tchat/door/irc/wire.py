"""
IRC lines: reading them (with irctokens), writing them within IRC's limits,
and what the door does to IRC's formatting codes.

Limits (modern IRC and IRCv3 message-tags): a line is at most 512 bytes
without its tags, ``\\r\\n`` included; a client's tags are at most 4094 bytes
(the ``@`` and the space after them not counted, as IRCv3 says), the server's at most 8191.
A line from the server that would pass 512 bytes is split (a message's
text longer than a client could have sent in one line: see
L{encode_text}) or shortened (any other last parameter), on a UTF-8
boundary.
"""

from __future__ import annotations

import re
import time
from typing import Iterable, Sequence

import irctokens
from irctokens import Line

from tchat.events import millisecond

# Without tags, "\r\n" included.
LINE_MAX = 512
# What a client may send as tags ("@" and the space after them included).
CLIENT_TAGS_MAX = 4094
# What the server may send as tags.
SERVER_TAGS_MAX = 8191
# What the door reads before it gives up on a line: the client's tags and a
# line; past it, the line is dropped up to its end (417) and reading goes on.
READ_MAX = CLIENT_TAGS_MAX + 2 + LINE_MAX


class BadLine(ValueError):
    """A line that cannot be read as IRC: the reason, for a numeric or a notice."""

    def __init__(self, text: str, too_long: bool = False) -> None:
        super().__init__(text)
        self.too_long = too_long


def parse(raw: bytes) -> Line:
    """
    One line from a client (without ``\\n``; a trailing ``\\r`` is dropped),
    as an irctokens L{Line} whose command is upper case. Raises
    L{UnicodeDecodeError} for a line that is not UTF-8 (decoded whole, never
    in pieces), L{BadLine} for one too long or with no command. A blank line
    gives None.
    """
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    body = raw
    if raw.startswith(b"@"):
        tags, _, body = raw.partition(b" ")
        # 4094 bytes of tag data, the "@" and the space after it not counted (IRCv3 message-tags).
        if len(tags) - 1 > CLIENT_TAGS_MAX:
            raise BadLine("the tags of that line were over 4094 bytes", too_long=True)
    if len(body) + 2 > LINE_MAX:
        raise BadLine("that line was over 512 bytes", too_long=True)
    text = raw.decode("utf-8")
    if "\x00" in text:
        raise BadLine("a line may not hold a NUL byte")
    if not text.strip(" "):
        raise BadLine("")
    try:
        return irctokens.tokenise(text)
    except (ValueError, IndexError):
        raise BadLine("that line holds no command") from None


def server_time(ts: float) -> str:
    """The ``time`` tag (IRCv3 server-time): UTC, milliseconds, ``Z``."""
    whole, ms = divmod(millisecond(ts), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


# Commands whose last parameter is a word, not a text: written without ":".
_WORDS = frozenset({"JOIN", "MODE", "NICK", "INVITE", "PING", "BATCH", "MARKREAD", "324", "004"})


def _format(command: str, params: list[str], source: str | None) -> bytes:
    if not params or command in _WORDS or (len(params) < 2 and command not in ("QUIT", "ERROR", "AWAY")):
        return Line(None, source, command, params).format().encode("utf-8")
    # Texts always after ":", as IRC servers write them, even a single word.
    head = Line(None, source, command, params[:-1]).format()
    return (head + " :" + params[-1]).encode("utf-8")


def encode(
    command: str, params: Sequence[str], source: str | None = None, tags: dict[str, str] | None = None, most: int = LINE_MAX,
) -> bytes:
    """
    One line, ``\\r\\n``-terminated, shortened if it would pass ``most``
    bytes (512) without its tags (its last parameter is cut on a UTF-8
    boundary).
    """
    params = [p for p in params]
    data = _format(command, params, source)
    over = len(data) + 2 - most
    if over > 0 and params:
        last = params[-1].encode("utf-8")
        params[-1] = last[: max(0, len(last) - over)].decode("utf-8", "ignore")
        data = _format(command, params, source)
    if tags:
        return b"@" + _tags(tags) + b" " + data + b"\r\n"
    return data + b"\r\n"


def _tags(tags: dict[str, str]) -> bytes:
    formatted = Line(tags, None, "X", []).format()
    return formatted[1 : formatted.rindex(" ")].encode("utf-8")


def split_text(text: str, room: int) -> list[str]:
    """
    ``text`` in pieces of at most ``room`` bytes of UTF-8, cut at a space
    where one is near (within the last third), else on a character boundary.
    """
    room = max(room, 16)
    pieces: list[str] = []
    data = text.encode("utf-8")
    while len(data) > room:
        cut = room
        while cut > 0 and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        space = data.rfind(b" ", room * 2 // 3, cut)
        if space > 0:
            pieces.append(data[:space].decode("utf-8"))
            data = data[space + 1 :]
        else:
            pieces.append(data[:cut].decode("utf-8"))
            data = data[cut:]
    pieces.append(data.decode("utf-8"))
    return pieces


def encode_text(
    command: str, target: str, text: str, source: str, tags: dict[str, str] | None = None, wrap: tuple[str, str] = ("", ""),
) -> bytes:
    """
    A PRIVMSG or NOTICE of ``text`` to ``target``; ``wrap`` goes around each
    piece (a CTCP ACTION's ``\\x01ACTION `` and ``\\x01``). Every piece
    carries ``tags``.

    As Ergo does, a text that an IRC client could have sent in one line
    (``PRIVMSG target :text`` within 512 bytes) is relayed in one line, even
    where the sender's ``:nick!user@host`` prefix takes it past 512: cutting
    it would lose what the sender wrote, and splitting it would turn one
    message into two. A longer text (from the other doors, whose messages
    may be longer) is split into pieces that each fit 512 bytes with the
    prefix.
    """
    wrapping = len(wrap[0].encode("utf-8")) + len(wrap[1].encode("utf-8"))
    # A one-word text may come without its colon (``PRIVMSG nick word``): a byte more.
    colon = "" if text and not wrapping and " " not in text and not text.startswith(":") else ":"
    own = LINE_MAX - len(f"{command} {target} {colon}".encode("utf-8")) - 2 - wrapping
    if len(text.encode("utf-8")) <= own:
        # The line is let pass 512 by the prefix, and by the colon it always has.
        prefix = len(f":{source} ".encode("utf-8")) + (1 - len(colon))
        return encode(command, [target, wrap[0] + text + wrap[1]], source, tags, most=LINE_MAX + prefix)
    head = len(f":{source} {command} {target} :".encode("utf-8")) + 2
    room = LINE_MAX - head - wrapping
    return b"".join(
        encode(command, [target, wrap[0] + piece + wrap[1]], source, tags) for piece in split_text(text, room)
    )


# IRC's formatting: bold \x02, colour \x03 (with up to two numbers,
# "fg[,bg]"), hex colour \x04 (six hex digits, ",six" more), reset \x0f,
# monospace \x11, reverse \x16, italic \x1d, strikethrough \x1e, underline \x1f.
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?"
    r"|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


def strip_formatting(text: str) -> str:
    """
    ``text`` without IRC's formatting codes, colour numbers included (the
    hub would drop the control characters, but leave "04,01" of a colour
    behind in the text).
    """
    return _FORMATTING.sub("", text)


def join_targets(names: Iterable[str]) -> str:
    return ",".join(names)
