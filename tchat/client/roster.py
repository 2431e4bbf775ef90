"""
What the client knows of the people in its rooms: L{Roster}.

The server tells a member about a room piece by piece, and the client keeps
it together, per room: its members, which of them are operators and which
are voiced, and its topic; and who is online. From:

- the ``ok`` of a join (``users``, ``ops``, ``topic``);
- ``logged_in`` (``users``: everyone online; ``topics``: {room: topic});
- a ``users`` reply (with a room: ``users``, ``ops``, ``voiced``);
- the events of the rooms: ``join``, ``part``, ``quit``, ``kick``,
  ``nick``, ``op``/``deop``, ``voice``/``devoice``, ``topic``, and each
  message (its sender is a member).

It is what the display asks to mark operators (``@name``) and voiced users
(``+name``), to show the current room's topic and to complete names with
Tab. Knowledge only ever errs towards showing less: a member is marked an
operator only once the server said so (a join's ``ok``, ``/users #room``,
an ``op`` event); the rooms one is in at login have their topics but not
their members until one of those comes.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable

from tchat.names import name_key


class RoomInfo:
    """What is known of one room."""

    def __init__(self, name: str) -> None:
        self.name = name
        # name key -> name as shown
        self.members: dict[str, str] = {}
        self.ops: set[str] = set()
        self.voiced: set[str] = set()
        self.topic: str | None = None
        # name key -> when they last spoke (a counter): the recent come first in completion
        self.spoke: dict[str, int] = {}

    def leave(self, key: str) -> None:
        self.members.pop(key, None)
        self.ops.discard(key)
        self.voiced.discard(key)
        self.spoke.pop(key, None)


def _names(value: Any) -> list[str]:
    """The strings of a list the server sent (anything else: none)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class Roster:
    """
    The rooms the client is in, as far as it knows them, and who is online.

    Callers may rely on: every method takes what the server sent as it is
    and never raises for a missing or mistyped field (it is then ignored);
    names are compared as the server compares them (L{name_key}).
    """

    def __init__(self) -> None:
        self.rooms: dict[str, RoomInfo] = {}
        self.online: dict[str, str] = {}
        self._clock = itertools.count(1)

    # -- reading -----------------------------------------------------------

    def get(self, room: str | None) -> RoomInfo | None:
        return self.rooms.get(name_key(room)) if isinstance(room, str) else None

    def topic(self, room: str | None) -> str | None:
        info = self.get(room)
        return info.topic if info is not None else None

    def mark(self, room: str | None, user: str) -> str:
        """IRC's mark for ``user`` in ``room``: ``@`` an operator, ``+`` voiced, else empty."""
        info = self.get(room)
        if info is None:
            return ""
        key = name_key(user)
        return "@" if key in info.ops else "+" if key in info.voiced else ""

    def completions(self, room: str | None, me: str | None = None) -> list[str]:
        """
        Names to complete, in order: the members of ``room``, the latest to
        speak first, then by name; then everyone else online, by name;
        ``me`` last of all.
        """
        info = self.get(room)
        mine = name_key(me) if me else None
        seen: set[str] = set()
        out: list[str] = []
        if info is not None:
            for key, name in sorted(info.members.items(), key=lambda kv: (-info.spoke.get(kv[0], 0), kv[0])):
                if key != mine:
                    out.append(name)
                    seen.add(key)
        for key, name in sorted(self.online.items()):
            if key not in seen and key != mine:
                out.append(name)
                seen.add(key)
        if me:
            out.append(me)
        return out

    def room_names(self) -> list[str]:
        return sorted((info.name for info in self.rooms.values()), key=name_key)

    # -- what the server said ------------------------------------------------

    def _room(self, room: str) -> RoomInfo:
        key = name_key(room)
        info = self.rooms.get(key)
        if info is None:
            info = self.rooms[key] = RoomInfo(room)
        return info

    def keep(self, rooms: Iterable[str]) -> None:
        """The client is in these rooms now: the others are forgotten."""
        keep = {name_key(r): r for r in rooms}
        for key in list(self.rooms):
            if key not in keep:
                del self.rooms[key]
        for room in keep.values():
            self._room(room)

    def logged_in(self, event: dict[str, Any], rooms: Iterable[str]) -> None:
        """A ``logged_in``: the rooms are these now (others are forgotten), with their topics."""
        self.everyone(event.get("users"))
        rooms = list(rooms)
        self.keep(rooms)
        keep = {name_key(r) for r in rooms}
        topics = event.get("topics")
        if isinstance(topics, dict):
            for room, topic in topics.items():
                if isinstance(room, str) and name_key(room) in keep and isinstance(topic, str):
                    self._room(room).topic = topic or None

    def everyone(self, users: Any) -> None:
        """Everyone online (``logged_in``, ``/users`` without a room)."""
        names = _names(users)
        if names:
            self.online = {name_key(n): n for n in names}

    def joined(self, event: dict[str, Any]) -> None:
        """The ``ok`` of a join: the room as it is now (``users``, ``ops``, ``topic``)."""
        room = event.get("room")
        if not isinstance(room, str):
            return
        info = self._room(room)
        if "users" in event:
            info.members = {name_key(n): n for n in _names(event.get("users"))}
            info.voiced &= set(info.members)
            for key, name in info.members.items():
                self.online.setdefault(key, name)
        if "ops" in event:
            info.ops = {name_key(n) for n in _names(event.get("ops"))}
        if "topic" in event:
            topic = event.get("topic")
            info.topic = topic if isinstance(topic, str) and topic else None

    def listed(self, event: dict[str, Any]) -> None:
        """A ``users`` reply about a room: its members, ops and voiced."""
        room = event.get("room")
        if not isinstance(room, str) or name_key(room) not in self.rooms:
            return  # a room one is not in: nothing to keep
        info = self.rooms[name_key(room)]
        info.members = {name_key(n): n for n in _names(event.get("users"))}
        if "ops" in event:
            info.ops = {name_key(n) for n in _names(event.get("ops"))}
        if "voiced" in event:
            info.voiced = {name_key(n) for n in _names(event.get("voiced"))}

    def left(self, room: str) -> None:
        """The client is out of ``room``: forget it."""
        self.rooms.pop(name_key(room), None)

    def entered(self, room: Any, user: Any, op: Any = None) -> None:
        """``user`` joined ``room`` (a ``join``): a member; an op if the join says so (an op of a kept room, back)."""
        if isinstance(room, str) and isinstance(user, str) and name_key(room) in self.rooms:
            info = self.rooms[name_key(room)]
            info.members[name_key(user)] = user
            if op is True:
                info.ops.add(name_key(user))
            self.online.setdefault(name_key(user), user)

    def parted(self, room: Any, user: Any) -> None:
        """``user`` is out of ``room`` (a ``part``, a ``kick``)."""
        info = self.get(room) if isinstance(room, str) else None
        if info is not None and isinstance(user, str):
            info.leave(name_key(user))

    def quit(self, user: Any) -> None:
        """``user`` left the chat: out of every room, and not online."""
        if not isinstance(user, str):
            return
        key = name_key(user)
        for info in self.rooms.values():
            info.leave(key)
        self.online.pop(key, None)

    def spoke(self, room: Any, user: Any) -> None:
        """A message from ``user`` in ``room``: a member, and the latest to speak."""
        info = self.get(room) if isinstance(room, str) else None
        if info is not None and isinstance(user, str):
            key = name_key(user)
            info.members[key] = user
            info.spoke[key] = next(self._clock)
            self.online.setdefault(key, user)

    def renamed(self, old: Any, new: Any) -> None:
        """``old`` is called ``new`` now, everywhere (their rights go with the name)."""
        if not isinstance(old, str) or not isinstance(new, str):
            return
        was, now = name_key(old), name_key(new)
        for info in self.rooms.values():
            if was in info.members:
                del info.members[was]
                info.members[now] = new
            for keys in (info.ops, info.voiced):
                if was in keys:
                    keys.discard(was)
                    keys.add(now)
            if was in info.spoke:
                info.spoke[now] = info.spoke.pop(was)
        if was in self.online:
            del self.online[was]
            self.online[now] = new

    def ranked(self, room: Any, user: Any, rank: str, on: bool) -> None:
        """``user`` became (``on``) or stopped being an operator (``rank`` "op") or voiced ("voice") in ``room``."""
        info = self.get(room) if isinstance(room, str) else None
        if info is None or not isinstance(user, str):
            return
        keys = info.ops if rank == "op" else info.voiced
        (keys.add if on else keys.discard)(name_key(user))

    def set_topic(self, room: Any, topic: Any) -> None:
        info = self.get(room) if isinstance(room, str) else None
        if info is not None:
            info.topic = topic if isinstance(topic, str) and topic else None
