"""
Turning server events into lines for a person.

A L{Renderer} turns one JSON-mode event (a dict) into zero or more display
lines, each starting with a ``[HH:MM]`` timestamp in local time. The shapes::

    [12:01] [#lobby] <bob> hello              a message from the account bob
    [12:01] [#lobby] <~carol> hello           a message from a guest calling itself carol
    [12:01] [#lobby] <alice> hello            your own (shown when the server's ok arrives)
    [12:01] [#lobby] * bob waves              /me (a guest's: * ~carol waves)
    [12:01] [private] <bob> are you there?    a private message to you
    [12:01] -> bob: yes                       a private message you sent
    [12:01] *** carol joined #lobby           joins, parts, notices, replies
    [12:01] !!! no such user: dave            errors

A sender is shown bare only when the server marked the message
``"registered": true`` (it came from someone logged in to that account);
every other sender, a guest, is shown behind ``~``, the mark IRC uses for an
identity nobody checked. A name cannot hold ``~``, so ``<~alice>`` can never
pass for the account ``alice``. With colour on, the ``~`` has its own dim
look (style ``guest``), so it reads as a mark rather than part of the name.

Every piece of text is built as a L{Segment} (a text and a style name), and
every segment's text goes through L{tchat.names.clean_text} in one place,
L{Renderer._finish}, before any colour is added. So whatever the server sends,
no escape sequence of its own can reach the terminal: the only escapes in the
output are the colours added here, and only when colour is on.

Rendering never raises: an event that is unknown or malformed gets one
generic readable line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable, Iterable, Mapping, NamedTuple, TextIO

from termcolor import colored

from tchat.errors import counted
from tchat.names import clean_text, name_key


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


def _names(names: Iterable[Any]) -> str:
    shown = [str(n) for n in names]
    return ", ".join(shown) if shown else "nobody"


class Renderer:
    """
    Turns events into display lines (``str``, without line ends).

    With ``color`` off the lines hold no escape sequence at all. ``now``
    gives the current time (a Unix timestamp); it is used for lines the
    client makes itself and to tell whether a timestamp is from today.
    """

    def __init__(self, color: bool = False, now: Callable[[], float] = time.time) -> None:
        self.color = color
        self.now = now
        self._by_event: dict[str, Callable[[dict[str, Any], str | None], list[list[Segment]]]] = {
            "welcome": self._welcome,
            "logged_in": self._logged_in,
            "message": self._message_event,
            "join": self._join,
            "part": self._part,
            "quit": self._quit,
            "users": self._users,
            "rooms": self._rooms,
            "whoami": self._whoami,
            "ok": self._ok,
            "error": self._error,
            "notice": self._notice,
            "shutdown": self._shutdown,
            "bye": self._bye,
            "ping": lambda e, me: [],
            "pong": self._pong,
            "help": self._help,
            "debug": self._debug,
            "history": self._history,
            "contacts": self._contacts,
            "seen": self._seen,
            "accounts": self._accounts,
        }

    # -- what callers use ----------------------------------------------------

    def event(self, event: dict[str, Any], me: str | None = None) -> list[str]:
        """
        The lines that show ``event`` to the user called ``me``. Never raises;
        an unknown or malformed event gets one generic line.
        """
        ts = _timestamp(event.get("ts"), self.now)
        handler = self._by_event.get(str(event.get("event")))
        try:
            if handler is None:
                raise KeyError(event.get("event"))
            bodies = handler(event, me)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            bodies = [self._generic(event)]
        return [self._finish(ts, body) for body in bodies]

    def own_message(
        self, me: str, to: str, text: str, kind: str | None = None,
        ts: float | None = None, queued: bool = False, registered: bool = False,
    ) -> list[str]:
        """
        The line for a message the user sent, once the server said ``ok``.
        ``to`` is a room (``#...``) or a user; ``kind`` is ``"action"`` for /me.
        ``registered`` says whether the user is logged in to an account: the
        line then shows the name as others see it, bare for an account and
        behind ``~`` for a guest.
        """
        body = self._message_body(me, to, text, kind, me, registered)
        if queued:
            body.append(Segment(f" (queued: {to} gets it on their next login)", "mark"))
        return [self._finish(_timestamp(ts, self.now), body)]

    def reconnected(self, event: dict[str, Any]) -> list[str]:
        """
        The lines for a ``logged_in`` that ends a reconnect: who you are
        again and who is online, then, for an account, what arrived in its
        rooms meanwhile. (Where plain lines go is said once the rooms are
        rejoined.) Never raises.
        """
        ts = _timestamp(event.get("ts"), self.now)
        try:
            bodies = [self._info(f"reconnected as {event['user']}. Online: {_names(event.get('users') or [])}")]
            bodies += self._unread(event)
        except (KeyError, TypeError, ValueError, AttributeError):
            bodies = [self._info("reconnected")]
        return [self._finish(ts, body) for body in bodies]

    def notice(self, text: str, ts: float | None = None) -> list[str]:
        """A ``*** text`` line the client makes itself."""
        return [self._finish(_timestamp(ts, self.now), self._info(text))]

    def error(self, text: str, ts: float | None = None) -> list[str]:
        """A ``!!! text`` line the client makes itself (shown in red)."""
        return [self._finish(_timestamp(ts, self.now), self._err(text))]

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

    # -- messages ----------------------------------------------------------

    @staticmethod
    def _sender(name: str, registered: bool, style: str, before: str = "", after: str = "") -> list[Segment]:
        """
        ``before``, the sender's name and ``after``, in ``style``: with a
        ``~`` (in its own style) in front of the name unless ``registered``.
        """
        mark = [] if registered else [Segment("~", "guest")]
        return [Segment(before, style), *mark, Segment(name + after, style)]

    def _message_body(
        self, sender: str, to: str, text: str, kind: str | None, me: str | None, registered: bool
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
            return head + self._sender(sender, registered, style, "* ", f" {text}")
        text_style = "private_text" if nick_style == "private_nick" else "plain"
        return head + self._sender(sender, registered, nick_style, "<", ">") + [Segment(" " + text, text_style)]

    def _message_event(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        # Only a JSON true counts: anything else the server might send is
        # not a claim that the sender proved the name.
        registered = e.get("registered") is True
        body = self._message_body(str(e["from"]), str(e["to"]), str(e["text"]), e.get("kind"), me, registered)
        if e.get("delayed"):
            body.append(Segment(" (delayed)", "mark"))
        return [body]

    # -- the rest, one per event ---------------------------------------------

    def _welcome(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        version = f" {e['version']}" if e.get("version") else ""
        lines = [self._info(f"Connected to {e.get('server', 'the server')}{version}")]
        motd = e.get("motd")
        if motd:
            lines += [self._info(line) for line in str(motd).splitlines()]
        return lines

    def _logged_in(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        rooms = list(e.get("rooms") or [])
        current = rooms[-1] if rooms else "no room"
        lines = [
            self._info(f"You are {e['user']}. Online: {_names(e.get('users') or [])}"),
            self._info(
                f"You are in {_names(rooms)}; plain lines go to {current}."
                " /help lists the commands, /quit leaves."
            ),
        ]
        return lines + self._unread(e)

    def _unread(self, e: dict[str, Any]) -> list[list[Segment]]:
        unread = e.get("unread")
        if isinstance(unread, dict):
            counts = [f"{n} in {_plain(room)}" for room, n in unread.items() if isinstance(n, int) and n > 0]
            if counts:
                return [self._info(f"New since you were last here: {', '.join(counts)} (/history #room shows them)")]
        return []

    def _join(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        if me is not None and name_key(str(e["user"])) == name_key(me):
            # Another session of this account joined: the account is in the room.
            return [self._info(f"You joined {e['room']} (from another session)", "presence")]
        return [self._info(f"{e['user']} joined {e['room']}", "presence")]

    def _part(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        reason = f" ({e['reason']})" if e.get("reason") else ""
        if me is not None and name_key(str(e["user"])) == name_key(me):
            return [self._info(f"You left {e['room']} (from another session){reason}", "presence")]
        return [self._info(f"{e['user']} left {e['room']}{reason}", "presence")]

    def _quit(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        # One line for every room shared with the one who left the chat.
        reason = f" ({e['reason']})" if e.get("reason") else ""
        rooms = e.get("rooms") or []
        where = f" {_names([str(r) for r in rooms])}" if rooms else " the chat"
        return [self._info(f"{e['user']} left{where}{reason}", "presence")]

    def _users(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        where = f"In {e['room']}" if e.get("room") else "Online"
        return [self._info(f"{where}: {_names(e['users'])}")]

    def _rooms(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        rooms = [f"{r['room']} ({r['members']})" for r in e["rooms"]]
        return [self._info(f"Rooms: {_names(rooms)}")]

    def _whoami(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        admin = " (admin)" if e.get("admin") else ""
        current = f"; current room {e['current']}" if e.get("current") else ""
        rooms = e.get("rooms") or []
        where = f"in {_names(rooms)}" if rooms else "in no room (/join #room)"
        lines = [self._info(f"You are {e['user']}{admin}, {where}{current}")]
        sessions = e.get("sessions") or []
        if len(sessions) > 1:
            for s in sessions:
                this = " (this one)" if s.get("this") is True else ""
                lines.append(self._info(f"  session via {s.get('door', '?')} from {s.get('address', '?')}{this}"))
        return lines

    def _ok(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        return [self._info(str(e["text"]))] if e.get("text") else []

    def _error(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        return [self._err(str(e.get("text") or e.get("code") or "error"))]

    def _notice(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        return [self._info(str(e["text"]), "server")]

    def _shutdown(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        delay = e.get("delay")
        when = f" in {delay:g} s" if isinstance(delay, (int, float)) and delay > 0 else ""
        return [self._info(f"The server is going down{when}: {e.get('text', '')}", "server")]

    def _bye(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        return [self._info(f"Bye: {e.get('text', '')}", "server")]

    def _pong(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        token = e.get("token")
        return [self._info("pong" + (f" {token}" if token is not None else ""))]

    def _help(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        lines = []
        for entry in e["commands"]:
            aliases = f" (also {', '.join(entry['aliases'])})" if entry.get("aliases") else ""
            text = str(entry["text"])
            if entry.get("admin") and "admin" not in text:
                text += " (admins only)"
            lines.append(self._info(f"{entry['usage']}{aliases}: {text}"))
        if e.get("text"):
            lines.append(self._info(str(e["text"])))
        return lines

    def _debug(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        lines = [
            self._info(
                f"uptime {e['uptime']:.0f}s, {len(e['connections'])} connections,"
                f" {e.get('users_online', '?')} logged in, {len(e['rooms'])} rooms"
            )
        ]
        for c in e["connections"]:
            age = f" for {e['ts'] - c['since']:.0f}s" if "since" in c and "ts" in e else ""
            admin = " (admin)" if c.get("admin") else ""
            lines.append(
                self._info(
                    f"  {c.get('user') or '(not logged in)'}{admin} from {c.get('address', '?')}"
                    f" via {c.get('door', '?')}{age} in {_names(c.get('rooms') or [])}"
                )
            )
        for r in e["rooms"]:
            lines.append(self._info(f"  {r['room']}: {_names(r.get('users') or [])}"))
        return lines

    def _history(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        messages = e["messages"]
        # History lines carry each message's own time, not the reply's.
        lines: list[list[Segment]] = [self._info(f"History of {e['target']} ({counted(len(messages), 'message')}):")]
        for m in messages:
            stamp = self._stamp(_timestamp(m.get("ts"), self.now))
            for body in self._message_event(m, me):
                lines.append([Segment(stamp, "time"), Segment(" "), *body])
        if e.get("more"):
            lines.append(self._info("(older messages exist)"))
        return lines

    def _contacts(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        contacts = e["contacts"]
        if not contacts:
            return [self._info("No contacts yet; /contact add NAME")]
        lines = [self._info("Contacts:")]
        for c in contacts:
            lines.append(self._info(f"  {c['user']}: {self._presence(c)}"))
        return lines

    def _seen(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        return [self._info(f"{e['user']}: {self._presence(e)}")]

    def _accounts(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        lines = [self._info(f"{len(e['accounts'])} accounts:")]
        for a in e["accounts"]:
            login = a.get("last_login")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(login)) if isinstance(login, (int, float)) else "never"
            lines.append(
                self._info(f"  {a['user']}: last login {when} from {a.get('last_address') or '-'}, {self._presence(a)}")
            )
        return lines

    def _presence(self, entry: Mapping[str, Any]) -> str:
        if entry.get("online"):
            return "online"
        last = entry.get("last_seen")
        if isinstance(last, (int, float)) and not isinstance(last, bool):
            return "last seen " + time.strftime("%Y-%m-%d %H:%M", time.localtime(last))
        return "never seen"

    def _generic(self, e: Mapping[str, Any]) -> list[Segment]:
        """One readable line for any event: its name and its fields."""
        fields = " ".join(f"{_plain(k)}={_plain(v)}" for k, v in e.items() if k not in ("event", "ts"))
        return self._info(f"{e.get('event', '?')} {fields}".rstrip())


def _plain(value: Any) -> str:
    """Any JSON value as readable text, its strings cleaned before they are quoted."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_plain(k)}: {_plain(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _timestamp(value: Any, now: Callable[[], float]) -> float:
    """The event's ``ts`` when it is a usable number, else now."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e11:
        return float(value)
    return now()
