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
    [12:01] [#dev] <@~dave> ready             from an operator of the room (+ voiced)
    [12:01] *** carol joined #lobby           joins, parts, notices, replies
    [12:01] *** bob was put out of #dev by alice (spam)
    [12:01] !!! no such user: dave            errors

A sender is shown bare only when the server marked the message
``"registered": true`` (it came from someone logged in to that account);
every other sender, a guest, is shown behind ``~``, the mark IRC uses for an
identity nobody checked. A name cannot hold ``~``, so ``<~alice>`` can never
pass for the account ``alice``. With colour on, the ``~`` has its own dim
look (style ``guest``), so it reads as a mark rather than part of the name.

An operator of the room is marked ``@`` and a voiced user ``+`` (IRC's
marks), before the ``~``: in ``/users #room``, in what a join says is in the
room, and on messages in a room when the caller says who is what (the
``marks`` given to L{Renderer.event}; the renderer keeps no state). Each
moderation event (``topic``, ``op``, ``kick``, ``ban``, ``mode``, ``nick``,
...) is one line, said to ``you`` when it is about you.

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
from tchat.names import clean_text, is_room, name_key

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


def _names(names: Iterable[Any]) -> str:
    shown = [str(n) for n in names]
    return ", ".join(shown) if shown else "nobody"


def _marked(users: Iterable[Any], ops: Any = None, voiced: Any = None) -> list[str]:
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
    ("invite_only", "i"), ("moderated", "m"), ("topic_locked", "t"), ("key", "k"), ("limit", "l"), ("history", "H"),
)


def _mode_on(field: str, value: Any) -> bool:
    return value == "since_join" if field == "history" else value is not None and value is not False


def mode_letters(modes: Mapping[str, Any]) -> str:
    """``+imt``-like, from a ``modes`` object; ``none`` when no mode is on."""
    letters = "".join(letter for field, letter in MODE_LETTERS if _mode_on(field, modes.get(field)))
    return "+" + letters if letters else "none"


def _mode_change(field: str, value: Any) -> str:
    """One change of a ``mode`` event's ``set``, as a letter and words: ``+m (moderated)``."""
    letter = dict(MODE_LETTERS).get(field)
    on = _mode_on(field, value)
    sign = "+" if on else "-"
    words = {
        "invite_only": ("invite-only", "not invite-only"),
        "moderated": ("moderated", "not moderated"),
        "topic_locked": ("only ops set the topic", "anyone sets the topic"),
        "key": ("a key to join", "no key"),
        "limit": (f"at most {value} members", "no limit"),
        "history": ("history only from joining", "all of the history"),
    }.get(field)
    if letter is None or words is None:
        return f"{_plain(field)} {_plain(value)}"
    return f"{sign}{letter} ({words[0] if on else words[1]})"


def _duration(seconds: float) -> str:
    """A duration, roughly: ``45s``, ``12m``, ``3h``, ``2d``."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
            "tagmsg": lambda e, me: [],
            "pong": self._pong,
            "help": self._help,
            "debug": self._debug,
            "history": self._history,
            "contacts": self._contacts,
            "seen": self._seen,
            "accounts": self._accounts,
            "topic": self._topic,
            "op": self._rank,
            "deop": self._rank,
            "voice": self._rank,
            "devoice": self._rank,
            "kick": self._kick,
            "ban": self._ban,
            "unban": self._unban,
            "mute": self._mute,
            "unmute": self._unmute,
            "invite": self._invite,
            "mode": self._mode,
            "bans": self._bans,
            "nick": self._nick,
            "whois": self._whois,
            # For IRC's away-notify: nothing to show here (/whois tells).
            "away": lambda event, me: [],
            "watching": self._watching,
            # Read markers are for clients that keep them; nothing to show.
            "read_marker": lambda e, me: [],
            "wallops": lambda e, me: [self._info(f"wallops from {e['from']}: {e['text']}")],
            "online": lambda e, me: [self._info(f"{e['user']} is online (you watch them)")],
            "offline": lambda e, me: [self._info(f"{e['user']} left the chat (you watch them)")],
        }

    # -- what callers use ----------------------------------------------------

    def event(self, event: dict[str, Any], me: str | None = None, marks: Marks | None = None) -> list[str]:
        """
        The lines that show ``event`` to the user called ``me``; ``marks``
        says who is an operator or voiced in a room, for the sender of a
        message there. Never raises; an unknown or malformed event gets one
        generic line.
        """
        ts = _timestamp(event.get("ts"), self.now)
        handler = self._by_event.get(str(event.get("event")))
        try:
            if handler is None:
                raise KeyError(event.get("event"))
            if handler == self._message_event and marks is not None and is_room(str(event["to"])):
                bodies = self._message_event(event, me, marks(str(event["to"]), str(event["from"])))
            else:
                bodies = handler(event, me)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            bodies = [self._generic(event)]
        return [self._finish(ts, body) for body in bodies]

    def own_message(
        self, me: str, to: str, text: str, kind: str | None = None,
        ts: float | None = None, queued: bool = False, registered: bool = False,
        mark: str = "", away: str | None = None,
    ) -> list[str]:
        """
        The line for a message the user sent, once the server said ``ok``.
        ``to`` is a room (``#...``) or a user; ``kind`` is ``"action"`` for /me.
        ``registered`` says whether the user is logged in to an account: the
        line then shows the name as others see it, bare for an account and
        behind ``~`` for a guest; ``mark`` is the user's in the room (``@``,
        ``+`` or none). ``away``: the recipient is away, and this is their
        text (a second line says so).
        """
        stamp = _timestamp(ts, self.now)
        body = self._message_body(me, to, text, kind, me, registered, mark)
        if queued:
            body.append(Segment(f" (queued: {to} gets it on their next login)", "mark"))
        lines = [self._finish(stamp, body)]
        if away:
            lines.append(self._finish(stamp, self._info(f"{to} is away: {away}")))
        return lines

    def joined(self, event: dict[str, Any]) -> list[str]:
        """
        The lines for the ``ok`` of one's own join: who is in the room, the
        operators marked, then its topic, if it has one. Never raises.
        """
        ts = _timestamp(event.get("ts"), self.now)
        try:
            room = str(event["room"])
            bodies = [self._info(f"you joined {room}; in it: {_names(_marked(event['users'], event.get('ops')))}")]
            if event.get("topic"):
                bodies.append(self._info(f"Topic of {room}: {event['topic']}"))
        except (KeyError, TypeError, ValueError, AttributeError):
            bodies = self._ok(event, None) or [self._info("joined")]
        return [self._finish(ts, body) for body in bodies]

    def kicked(self, event: dict[str, Any], where: str) -> list[str]:
        """
        The line for a ``kick`` of oneself: out of the room, by whom, why,
        then ``where`` (where plain lines go now, when that changed). Never raises.
        """
        ts = _timestamp(event.get("ts"), self.now)
        try:
            text = f"You were put out of {event['room']} by {event['by']}{self._reason(event)}"
            if event.get("reason") != "banned":
                text += f" (/join {event['room']} to go back in)"
            body = self._info(text + where, "server")
        except (KeyError, TypeError, ValueError, AttributeError):
            body = self._generic(event)
        return [self._finish(ts, body)]

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
        topics = e.get("topics")
        if rooms and isinstance(topics, dict) and topics.get(current):
            lines.append(self._info(f"Topic of {current}: {topics[current]}"))
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
        return [self._info(f"{where}: {_names(_marked(e['users'], e.get('ops'), e.get('voiced')))}")]

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

    def _watching(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        lines = [self._info(f"{bad} is not a name (not watched)") for bad in e.get("bad") or ()]
        if e.get("online") or e.get("offline"):
            online = ", ".join(e.get("online") or []) or "nobody"
            lines.append(self._info(f"Online: {online}; not online: {', '.join(e.get('offline') or []) or 'nobody'}"))
        users = e["users"]
        lines.append(self._info(f"You watch {len(users)}: {', '.join(users)}" if users else "You watch nobody; /watch add NAMES"))
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

    # -- rooms and their operators ---------------------------------------------

    def _when(self, ts: Any) -> str:
        """A time as local ``HH:MM``, with the date unless it is today."""
        return self._stamp(float(ts))[1:-1] if _is_number(ts) else "?"

    def _until(self, e: Mapping[str, Any]) -> str:
        return f" until {self._when(e['until'])}" if _is_number(e.get("until")) else ""

    @staticmethod
    def _reason(e: Mapping[str, Any]) -> str:
        return f" ({e['reason']})" if e.get("reason") else ""

    @staticmethod
    def _about(user: str, me: str | None) -> tuple[str, str]:
        """How to name ``user``: (``you`` or the name, ``your`` or ``name's``)."""
        if me is not None and name_key(user) == name_key(me):
            return "you", "your"
        return user, f"{user}'s"

    def _topic(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        room, topic = e["room"], e.get("topic")
        if e.get("re") is not None:  # the answer to reading it
            if not topic:
                return [self._info(f"{room} has no topic")]
            by = f" (set by {e['by']}" + (f", {self._when(e['at'])}" if _is_number(e.get("at")) else "") + ")" if e.get("by") else ""
            return [self._info(f"Topic of {room}: {topic}{by}")]
        if not topic:
            return [self._info(f"{e['by']} cleared the topic of {room}")]
        return [self._info(f"{e['by']} set the topic of {room}: {topic}")]

    def _rank(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, whose = self._about(str(e["user"]), me)
        room, by = e["room"], e["by"]
        text = {
            "op": f"{by} made {who} an operator of {room}",
            "deop": f"{by} took {whose} operator rights in {room}",
            "voice": f"{by} gave {who} a voice in {room}",
            "devoice": f"{by} took {whose} voice in {room}",
        }[str(e["event"])]
        return [self._info(text)]

    def _kick(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        if who == "you":
            return [self._info(f"You were put out of {e['room']} by {e['by']}{self._reason(e)}", "server")]
        return [self._info(f"{e['user']} was put out of {e['room']} by {e['by']}{self._reason(e)}")]

    def _ban(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        if who == "you":
            return [self._info(f"You were banned from {e['room']} by {e['by']}{self._until(e)}", "server")]
        return [self._info(f"{e['user']} was banned from {e['room']} by {e['by']}{self._until(e)}")]

    def _unban(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        _, whose = self._about(str(e["user"]), me)
        return [self._info(f"{e['by']} lifted {whose} ban from {e['room']}")]

    def _mute(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        if who == "you":
            return [self._info(
                f"You were muted in {e['room']} by {e['by']}{self._until(e)}: your messages there reach nobody", "server"
            )]
        return [self._info(f"{e['user']} was muted in {e['room']} by {e['by']}{self._until(e)}")]

    def _unmute(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        return [self._info(f"{e['by']} let {who} speak in {e['room']} again")]

    def _invite(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        return [self._info(f"{e['by']} invites you to {e['room']}: /join {e['room']} to go in", "server")]

    def _mode(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        raw = e.get("modes")
        modes: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if e.get("re") is not None or "set" not in e:  # the answer to reading them
            details = []
            if isinstance(modes.get("key"), str):
                details.append(f"key {modes['key']}")
            if _is_number(modes.get("limit")):
                details.append(f"at most {modes['limit']} members")
            extra = f" ({', '.join(details)})" if details else ""
            return [self._info(f"Modes of {e['room']}: {mode_letters(modes)}{extra}")]
        changes = ", ".join(_mode_change(str(k), v) for k, v in e["set"].items())
        now = f" (now {mode_letters(modes)})" if modes else ""
        return [self._info(f"{e['by']} set {changes} on {e['room']}{now}")]

    def _bans(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        bans, mutes = e["bans"], e["mutes"]
        lines = [self._info(f"{e['room']}: {counted(len(bans), 'ban')}, {counted(len(mutes), 'mute')}")]
        for what, entries in (("banned", bans), ("muted", mutes)):
            for r in entries:
                guest = "" if r.get("account") else " (a guest: by name and address)"
                until = self._until(r) or " for good"
                lines.append(self._info(f"  {r['user']}{guest} {what} by {r['by']}, {self._when(r.get('at'))}{until}"))
        return lines

    def _nick(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["old"]), me)
        if who == "you" or (me is not None and name_key(str(e["new"])) == name_key(me)):
            return [self._info(f"You are now known as {e['new']}")]
        return [self._info(f"{e['old']} is now known as {e['new']}", "presence")]

    def _whois(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        user = e["user"]
        if not e.get("online"):
            seen = f"; last seen {self._when(e['seen'])}" if _is_number(e.get("seen")) else ""
            return [self._info(f"{user} is registered and not online{seen}")]
        what = "registered" if e.get("registered") else "a guest"
        rooms = e.get("rooms") or []
        parts = [f"{user}: {what}, in {_names(rooms) if rooms else 'no room'}"]
        if _is_number(e.get("idle")):
            parts.append(f"idle {_duration(float(e['idle']))}")
        if _is_number(e.get("since")):
            parts.append(f"online since {self._when(e['since'])}")
        if _is_number(e.get("sessions")) and e["sessions"] > 1:
            parts.append(f"{e['sessions']} sessions")
        away = f"; away: {e['away']}" if e.get("away") else ""
        return [self._info(", ".join(parts) + away)]

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
