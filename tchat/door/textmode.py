"""
Text mode's own state on one line-door connection: the current room.

A person on ``nc`` types plain lines; where they go is the *current room*,
which only text mode has (tchat-client, the page and IRC clients keep their
own, and a JSON program names its rooms). L{TextMode} keeps it on the
door's side of the hub, from what the connection is sent:

- ``logged_in``: who it is, its rooms in the order joined; the last is current;
- the ``ok`` of its own ``join`` (the room becomes current, joined now or
  before), ``room`` (current) and ``part`` (out of the room);
- the ``join``, ``part`` and ``kick`` events whose ``user`` is itself: another
  device of the account joined or left a room, or an op put it out. A room
  joined elsewhere becomes current only if there was none; when the current
  room is left, the one joined most recently of those left is current;
- the ``ok`` of ``nick`` and ``admin`` (its name, and whether ``/kick NAME``
  is an admin's server-wide kill or a kick from the current room).

Before each request goes to the hub (in its turn, so after the answers to
those before it), L{TextMode.complete} makes a plain line the name to log in
with or a message, and fills the current room into a command that left its
room out. Without a current room the request goes on as it is, and the hub
answers that it names no room. L{TextMode.shown} adds what text mode says of
the current room to the answers that change it, and the current room to
``whoami``.
"""

from __future__ import annotations

from tchat.commands import Request
from tchat.events import Event
from tchat.names import name_key
from tchat.sentences import ok_text

__all__ = ["CURRENT_ROOM_FIELD", "WATCHED", "TextMode"]

# The field a text-mode command leaves out to mean the current room.
CURRENT_ROOM_FIELD: dict[str, str] = {
    "msg": "to",
    "history": "target",
    **{
        action: "room"
        for action in (
            "part", "topic", "op", "deop", "voice", "devoice", "kick", "ban", "unban", "bans", "mute", "unmute",
            "invite", "mode",
        )
    },
}

# The events that can change what L{TextMode} knows.
WATCHED = frozenset({"logged_in", "ok", "join", "part", "kick", "nick", "whoami"})


class TextMode:
    """The current room of one text-mode connection, and who it is logged in as."""

    def __init__(self) -> None:
        self.user: str | None = None
        self.admin = False
        # Its rooms, in the order joined.
        self.rooms: list[str] = []
        self.current: str | None = None

    # -- requests, on their way to the hub ---------------------------------

    def complete(self, request: Request) -> Request:
        """``request`` as the hub is to see it: a plain line made a login or a message, the current room filled in."""
        if request.action == "line":
            text = request.args["text"]
            if self.user is None:
                return Request("login", {"user": text}, request.id)
            request = Request("msg", {"text": text}, request.id)
        field = CURRENT_ROOM_FIELD.get(request.action)
        if field is None or field in request.args or self.current is None:
            return request
        if request.action == "kick" and self.admin:
            # An admin's /kick NAME is the server-wide disconnect (/kill).
            return request
        return Request(request.action, {**request.args, field: self.current}, request.id)

    # -- events, on their way to the client --------------------------------

    def shown(self, event: Event) -> Event:
        """Learn from ``event``; the event to show for it (an answer with what text mode adds)."""
        name = event.name
        if name == "ok":
            return self._ok(event)
        if name == "logged_in":
            self.user = event["user"]
            self.rooms = list(event.get("rooms") or ())
            self.current = self.rooms[-1] if self.rooms else None
        elif name == "whoami":
            if self.current is None:
                return event
            fields = {**event.fields, "current": self.current}
            return Event(name, {k: fields[k] for k in _whoami_order(fields)})
        elif not self._is_me(event.get("user") if name != "nick" else event.get("old")):
            pass
        elif name == "join":
            if self._index(event["room"]) is None:
                self.rooms.append(event["room"])
            if self.current is None:
                self.current = event["room"]
        elif name in ("part", "kick"):
            self._left(event["room"])
        elif name == "nick":
            self.user = event["new"]
        return event

    def _ok(self, event: Event) -> Event:
        action = event.get("action")
        room = event.get("room")
        if action == "join" and isinstance(room, str):
            again = self._index(room) is not None
            if not again:
                self.rooms.append(room)
            self.current = room
            if again:
                return _with_text(event, f"{ok_text(event) or 'you are in ' + room}; plain lines now go there")
        elif action == "room" and isinstance(room, str):
            self.current = room
            return _with_text(event, f"plain lines now go to {room}")
        elif action == "part" and isinstance(room, str):
            self._left(room)
            where = f"plain lines now go to {self.current}" if self.current else "you are in no room now"
            return _with_text(event, f"{ok_text(event) or 'you left ' + room}; {where}")
        elif action == "nick" and isinstance(event.get("user"), str):
            self.user = event["user"]
        elif action == "admin":
            self.admin = True
        return event

    def _left(self, room: str) -> None:
        index = self._index(room)
        if index is None:
            return
        gone = self.rooms.pop(index)
        if self.current is not None and name_key(self.current) == name_key(gone):
            self.current = self.rooms[-1] if self.rooms else None

    def _index(self, room: str) -> int | None:
        key = name_key(room)
        for i, mine in enumerate(self.rooms):
            if name_key(mine) == key:
                return i
        return None

    def _is_me(self, name: object) -> bool:
        return isinstance(name, str) and self.user is not None and name_key(name) == name_key(self.user)


def _with_text(event: Event, text: str) -> Event:
    return Event(event.name, {**event.fields, "text": text})


def _whoami_order(fields: dict[str, object]) -> list[str]:
    """``whoami``'s fields with ``current`` after ``admin``, as the hub once sent it."""
    keys = [k for k in fields if k != "current"]
    at = keys.index("admin") + 1 if "admin" in keys else len(keys)
    return keys[:at] + ["current"] + keys[at:]
