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
L{tchat.client.lines.LineMaker._finish}, before any colour is added. So whatever the server sends,
no escape sequence of its own can reach the terminal: the only escapes in the
output are the colours added here, and only when colour is on.

Rendering never raises: an event that is unknown or malformed gets one
generic readable line.

The renderer is in three layers: L{tchat.client.lines} makes a line (its
segments, styles, time and colours, and a message's body),
L{tchat.client.room_lines} the lines about rooms and their operators, and
L{Renderer}, here, the table of events, the rest of them, and the lines the
client asks for itself (its own message, a join, a kick, a reconnect).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from tchat.client.lines import PALETTE, LineMaker, Marks, Segment, listed, marked, mode_letters, plain, timestamp, use_color
from tchat.client.room_lines import RoomLines
from tchat.errors import counted
from tchat.names import is_room, name_key

# What callers had from here before the lines were split out.
__all__ = ["PALETTE", "LineMaker", "Marks", "Renderer", "Segment", "mode_letters", "use_color"]


class Renderer(RoomLines):
    """
    Turns events into display lines (``str``, without line ends).

    With ``color`` off the lines hold no escape sequence at all. ``now``
    gives the current time (a Unix timestamp); it is used for lines the
    client makes itself and to tell whether a timestamp is from today.
    """

    def __init__(self, color: bool = False, now: Callable[[], float] = time.time) -> None:
        super().__init__(color, now)
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
        ts = timestamp(event.get("ts"), self.now)
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
        stamp = timestamp(ts, self.now)
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
        ts = timestamp(event.get("ts"), self.now)
        try:
            room = str(event["room"])
            bodies = [self._info(f"you joined {room}; in it: {listed(marked(event['users'], event.get('ops')))}")]
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
        ts = timestamp(event.get("ts"), self.now)
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
        ts = timestamp(event.get("ts"), self.now)
        try:
            bodies = [self._info(f"reconnected as {event['user']}. Online: {listed(event.get('users') or [])}")]
            bodies += self._unread(event)
        except (KeyError, TypeError, ValueError, AttributeError):
            bodies = [self._info("reconnected")]
        return [self._finish(ts, body) for body in bodies]

    def notice(self, text: str, ts: float | None = None) -> list[str]:
        """A ``*** text`` line the client makes itself."""
        return [self._finish(timestamp(ts, self.now), self._info(text))]

    def error(self, text: str, ts: float | None = None) -> list[str]:
        """A ``!!! text`` line the client makes itself (shown in red)."""
        return [self._finish(timestamp(ts, self.now), self._err(text))]



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
            self._info(f"You are {e['user']}. Online: {listed(e.get('users') or [])}"),
            self._info(
                f"You are in {listed(rooms)}; plain lines go to {current}."
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
            counts = [f"{n} in {plain(room)}" for room, n in unread.items() if isinstance(n, int) and n > 0]
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
        where = f" {listed([str(r) for r in rooms])}" if rooms else " the chat"
        return [self._info(f"{e['user']} left{where}{reason}", "presence")]

    def _users(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        where = f"In {e['room']}" if e.get("room") else "Online"
        return [self._info(f"{where}: {listed(marked(e['users'], e.get('ops'), e.get('voiced')))}")]

    def _rooms(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        rooms = [f"{r['room']} ({r['members']})" for r in e["rooms"]]
        return [self._info(f"Rooms: {listed(rooms)}")]

    def _whoami(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        admin = " (admin)" if e.get("admin") else ""
        current = f"; current room {e['current']}" if e.get("current") else ""
        rooms = e.get("rooms") or []
        where = f"in {listed(rooms)}" if rooms else "in no room (/join #room)"
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
                    f" via {c.get('door', '?')}{age} in {listed(c.get('rooms') or [])}"
                )
            )
        for r in e["rooms"]:
            lines.append(self._info(f"  {r['room']}: {listed(r.get('users') or [])}"))
        return lines

    def _history(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        messages = e["messages"]
        # History lines carry each message's own time, not the reply's.
        lines: list[list[Segment]] = [self._info(f"History of {e['target']} ({counted(len(messages), 'message')}):")]
        for m in messages:
            stamp = self._stamp(timestamp(m.get("ts"), self.now))
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
