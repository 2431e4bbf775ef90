"""
How a line for a person is made, whatever the event: L{Segment}s (a text and
a style), the L{PALETTE} of styles, and L{LineMaker}, which stamps a body of
segments with its time, cleans every segment's text and colours it (the one
way a line is made: see L{tchat.client.render}), and builds the pieces many
events share (a message, a sender with its marks, a time, who ``you`` are).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable, Iterable, Mapping, NamedTuple, TextIO

from termcolor import colored

from tchat.codec import ONLY_SHOWN
from tchat.names import clean_text, name_key

__all__ = [
    "MODE_LETTERS", "PALETTE", "LineMaker", "Marks", "Segment", "duration", "is_number", "listed", "marked",
    "mode_change", "mode_letters", "plain", "timestamp", "use_color",
]

# Who is what in a room, for the marks: mark(room, user) gives "@", "+" or "".
Marks = Callable[[str, str], str]


class Segment(NamedTuple):
    """A piece of a line and the name of its style (a key of L{PALETTE})."""

    text: str
    style: str = "plain"


# style -> (termcolor colour, attributes). Each kind of line has its own look
# so that a glance tells your words, others' words, private words, the
# server's words and errors apart.
PALETTE: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "plain": (None, ()),
    "time": ("dark_grey", ()),
    "room": ("blue", ()),
    "own_nick": ("green", ("bold",)),
    "own_action": ("green", ("italic",)),
    "nick": ("cyan", ("bold",)),
    "action": ("cyan", ("italic",)),
    "private_tag": ("magenta", ()),
    "private_nick": ("magenta", ("bold",)),
    "private_text": ("magenta", ()),
    "sent_arrow": ("green", ("bold",)),
    "notice": ("yellow", ()),
    "server": ("yellow", ("bold",)),
    "presence": ("dark_grey", ()),
    "error": ("red", ("bold",)),
    "error_text": ("red", ()),
    "mark": ("dark_grey", ("italic",)),
    # The ~ before a guest's name: dim beside the bold name, so it reads as
    # a mark about the name, not as a letter of it.
    "guest": ("dark_grey", ()),
    # The @ of a room's operator, the + of a voiced user.
    "op_mark": ("yellow", ("bold",)),
}


def use_color(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """
    Whether output should be coloured: never when C{NO_COLOR} is set to
    anything non-empty (https://no-color.org), never when ``stream``
    (stdout by default) is not a terminal.
    """
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR"):
        return False
    stream = stream if stream is not None else sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def listed(names: Iterable[Any]) -> str:
    shown = [str(n) for n in names]
    return ", ".join(shown) if shown else "nobody"


def marked(users: Iterable[Any], ops: Any = None, voiced: Any = None) -> list[str]:
    """Names with IRC's marks: ``@`` an operator, ``+`` voiced (``ops``, ``voiced``: lists of names)."""
    op_keys = {name_key(n) for n in ops if isinstance(n, str)} if isinstance(ops, list) else set()
    voice_keys = {name_key(n) for n in voiced if isinstance(n, str)} if isinstance(voiced, list) else set()
    out = []
    for user in users:
        key = name_key(str(user))
        out.append(("@" if key in op_keys else "+" if key in voice_keys else "") + str(user))
    return out


# The letters of the modes, in the order the server gives them.
MODE_LETTERS = (
    ("invite_only", "i"), ("moderated", "m"), ("members_only", "n"), ("secret", "s"), ("topic_locked", "t"), ("key", "k"), ("limit", "l"), ("history", "H"),
)


def _mode_on(field: str, value: Any) -> bool:
    return value == "since_join" if field == "history" else value is not None and value is not False


def mode_letters(modes: Mapping[str, Any]) -> str:
    """``+imt``-like, from a ``modes`` object; ``none`` when no mode is on."""
    letters = "".join(letter for field, letter in MODE_LETTERS if _mode_on(field, modes.get(field)))
    return "+" + letters if letters else "none"


def mode_change(field: str, value: Any) -> str:
    """One change of a ``mode`` event's ``set``, as a letter and words: ``+m (moderated)``."""
    letter = dict(MODE_LETTERS).get(field)
    on = _mode_on(field, value)
    sign = "+" if on else "-"
    words = {
        "invite_only": ("invite-only", "not invite-only"),
        "moderated": ("moderated", "not moderated"),
        "topic_locked": ("only ops set the topic", "anyone sets the topic"),
        "secret": ("secret: shown to members only", "not secret"),
        "members_only": ("only members send to it", "anyone may send to it without joining"),
        "key": ("a key to join", "no key"),
        "limit": (f"at most {value} members", "no limit"),
        "history": ("history only from joining", "all of the history"),
    }.get(field)
    if letter is None or words is None:
        return f"{plain(field)} {plain(value)}"
    return f"{sign}{letter} ({words[0] if on else words[1]})"


def duration(seconds: float) -> str:
    """A duration, roughly: ``45s``, ``12m``, ``3h``, ``2d``."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

def plain(value: Any) -> str:
    """Any JSON value as readable text, its strings cleaned before they are quoted."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{plain(k)}: {plain(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def timestamp(value: Any, now: Callable[[], float]) -> float:
    """The event's ``ts`` when it is a usable number, else now."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e11:
        return float(value)
    return now()


class LineMaker:
    """
    Makes display lines (``str``, without line ends) from bodies of segments.

    With ``color`` off the lines hold no escape sequence at all. ``now``
    gives the current time (a Unix timestamp); it is used for lines the
    client makes itself and to tell whether a timestamp is from today.
    """

    def __init__(self, color: bool = False, now: Callable[[], float] = time.time) -> None:
        self.color = color
        self.now = now

    # -- building ----------------------------------------------------------

    def _finish(self, ts: float, body: list[Segment]) -> str:
        """
        Clean every segment, then colour it: the one way a line is made. A
        body that starts with its own ``time`` segment (a history line) keeps it.
        """
        segments = body if body and body[0].style == "time" else [Segment(self._stamp(ts), "time"), Segment(" "), *body]
        return "".join(self._paint(clean_text(s.text), s.style) for s in segments)

    def _paint(self, text: str, style: str) -> str:
        color, attrs = PALETTE.get(style, (None, ()))
        if not self.color or not text or (color is None and not attrs):
            return text
        return colored(text, color, attrs=attrs, force_color=True)

    def _stamp(self, ts: float) -> str:
        here = time.localtime(ts)
        if time.strftime("%Y-%m-%d", here) != time.strftime("%Y-%m-%d", time.localtime(self.now())):
            # An old timestamp (a delayed message, history) says which day.
            return time.strftime("[%Y-%m-%d %H:%M]", here)
        return time.strftime("[%H:%M]", here)

    @staticmethod
    def _info(text: str, style: str = "plain") -> list[Segment]:
        return [Segment("***", "notice"), Segment(" " + text, style)]

    @staticmethod
    def _err(text: str) -> list[Segment]:
        return [Segment("!!!", "error"), Segment(" " + text, "error_text")]



    @staticmethod
    def _sender(name: str, registered: bool, style: str, before: str = "", after: str = "", rank: str = "") -> list[Segment]:
        """
        ``before``, the sender's name and ``after``, in ``style``: with a
        ``~`` (in its own style) in front of the name unless ``registered``,
        and before that the ``rank`` mark (``@`` an operator, ``+`` voiced).
        """
        ranked = [Segment(rank, "op_mark")] if rank else []
        mark = [] if registered else [Segment("~", "guest")]
        return [Segment(before, style), *ranked, *mark, Segment(name + after, style)]

    def _message_body(
        self, sender: str, to: str, text: str, kind: str | None, me: str | None, registered: bool, rank: str = "",
    ) -> list[Segment]:
        own = me is not None and name_key(sender) == name_key(me)
        action = kind == "action"
        if to.startswith("#"):
            nick_style = "own_nick" if own else "nick"
            head = [Segment(f"[{to}]", "room"), Segment(" ")]
        elif own and name_key(to) != name_key(sender):
            # A private message you sent: say who it went to.
            head = [Segment("->", "sent_arrow"), Segment(" "), Segment(f"{to}:", "private_nick"), Segment(" ")]
            if action:
                return head + self._sender(sender, registered, "private_text", "* ", f" {text}")
            return head + [Segment(text, "private_text")]
        else:
            nick_style = "private_nick"
            head = [Segment("[private]", "private_tag"), Segment(" ")]
        if action:
            style = "own_action" if own else ("private_text" if nick_style == "private_nick" else "action")
            return head + self._sender(sender, registered, style, "* ", f" {text}", rank)
        text_style = "private_text" if nick_style == "private_nick" else "plain"
        return head + self._sender(sender, registered, nick_style, "<", ">", rank) + [Segment(" " + text, text_style)]

    def _message_event(self, e: dict[str, Any], me: str | None, rank: str = "") -> list[list[Segment]]:
        # Only a JSON true counts: anything else the server might send is
        # not a claim that the sender proved the name.
        registered = e.get("registered") is True
        if rank not in ("@", "+") or not str(e["to"]).startswith("#"):
            rank = ""
        body = self._message_body(str(e["from"]), str(e["to"]), str(e["text"]), e.get("kind"), me, registered, rank)
        if e.get("delayed"):
            body.append(Segment(" (delayed)", "mark"))
        only = ONLY_SHOWN.get(str(e.get("only") or ""))
        if only and str(e["to"]).startswith("#"):
            body.append(Segment(only, "mark"))
        return [body]


    def _when(self, ts: Any) -> str:
        """A time as local ``HH:MM``, with the date unless it is today."""
        return self._stamp(float(ts))[1:-1] if is_number(ts) else "?"

    def _until(self, e: Mapping[str, Any]) -> str:
        return f" until {self._when(e['until'])}" if is_number(e.get("until")) else ""

    @staticmethod
    def _reason(e: Mapping[str, Any]) -> str:
        return f" ({e['reason']})" if e.get("reason") else ""

    @staticmethod
    def _about(user: str, me: str | None) -> tuple[str, str]:
        """How to name ``user``: (``you`` or the name, ``your`` or ``name's``)."""
        if me is not None and name_key(user) == name_key(me):
            return "you", "your"
        return user, f"{user}'s"

    def _generic(self, e: Mapping[str, Any]) -> list[Segment]:
        """One readable line for any event: its name and its fields."""
        fields = " ".join(f"{plain(k)}={plain(v)}" for k, v in e.items() if k not in ("event", "ts"))
        return self._info(f"{e.get('event', '?')} {fields}".rstrip())

