"""
MARKREAD (IRCv3 draft/read-marker): the hub's read markers (``markread``,
L{tchat.chat.readmarkers}).

``MARKREAD <target>`` asks up to when the user has read it, ``MARKREAD
<target> timestamp=YYYY-MM-DDThh:mm:ss.sssZ`` says so; either is answered
``MARKREAD <target> timestamp=…`` (``*`` when none is kept). A marker set on
another device of the user's comes as a MARKREAD too, and after a JOIN the
channel's comes before the end of its NAMES. Only for clients that asked
for ``draft/read-marker``; errors are standard replies (``FAIL MARKREAD
NEED_MORE_PARAMS`` / ``INVALID_PARAMS``).
"""

from __future__ import annotations

import calendar
import re
import time

from irctokens import Line

from tchat.commands import Request
from tchat.door.irc.replies import is_error
from tchat.door.irc.session import IrcSession, Items
from tchat.door.irc.wire import encode
from tchat.events import Event

CAP = "draft/read-marker"
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?Z")


def parse_timestamp(text: str) -> float | None:
    """Unix time of an IRCv3 timestamp (UTC, milliseconds optional, ``Z``); None if it is not one."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        time.strptime(f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    millis = int((m.group(7) or "0").ljust(3, "0"))
    return calendar.timegm((year, month, day, hour, minute, second)) + millis / 1000


def format_timestamp(ts: float) -> str:
    """``ts`` as an IRCv3 timestamp, to the millisecond (rounded, so what was parsed comes back the same)."""
    millis = round(ts * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def markread_line(s: IrcSession, e: Event) -> bytes:
    at = e.get("at")
    shown = "*" if at is None else "timestamp=" + format_timestamp(float(at))
    return encode("MARKREAD", [str(e["target"]), shown], s.server)


def fail(s: IrcSession, code: str, text: str) -> None:
    s.send(encode("FAIL", ["MARKREAD", code, text], s.server))


def cmd_markread(s: IrcSession, line: Line) -> Items | None:
    if not line.params or not line.params[0]:
        fail(s, "NEED_MORE_PARAMS", "MARKREAD needs a target")
        return None
    target = line.params[0]
    args: dict[str, object] = {"target": target}
    if len(line.params) > 1:
        given = line.params[1]
        ts = parse_timestamp(given[len("timestamp="):]) if given.startswith("timestamp=") else None
        if ts is None:
            fail(s, "INVALID_PARAMS", "The timestamp is timestamp=YYYY-MM-DDThh:mm:ss.sssZ")
            return None
        args["at"] = ts
    return [marker_request(s, args)]


def marker_request(s: IrcSession, args: dict[str, object]) -> Request:
    def answer(e: Event) -> None:
        if is_error(e):
            fail(s, "INVALID_PARAMS", e.get("text") or "That is not a channel or a nick")
        else:
            s.send(markread_line(s, e))

    return s.request("markread", args, answer)


def after_join(s: IrcSession, room: str) -> list[Request]:
    """The channel's MARKREAD, asked for after a JOIN (before its NAMES), for a client with the capability."""
    return [marker_request(s, {"target": room})] if CAP in s.caps else []
