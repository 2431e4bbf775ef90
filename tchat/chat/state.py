"""
The state seam: who is connected, who is online under which name, which
rooms exist and who is in them.

Every rule reads and changes chat state through a L{State}, never through
dicts of its own, so that a node can later hold users and rooms that live
on other nodes (a Redis implementation) without a rule changing.
L{LocalState} is the one-process implementation.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Protocol

from twisted.internet.defer import Deferred, succeed

from tchat.chat.model import Connection, Room, Session, User
from tchat.chat.roomsettings import RoomSettings
from tchat.names import LOBBY, name_key


class Unreachable(Exception):
    """The state shared with other nodes cannot be reached now (their link is down)."""


class State(Protocol):
    # This node's name when there are several; None for a server alone.
    node: str | None

    # -- connections -----------------------------------------------------
    def connection(self, session: Session) -> Connection | None:
        """The connection of ``session``, or None once it is gone."""

    def add_connection(self, connection: Connection) -> None:
        """A new connection of this node's (it gets its ``id`` here)."""

    def remove_connection(self, session: Session) -> Connection | None:
        """Forget ``session``'s connection; None if it was gone already."""

    def connections(self) -> Iterable[Connection]:
        """Every open connection of this node, logged in or not."""

    def remote_connections(self) -> Iterable[Connection]:
        """The connections of other nodes' users (none on one node)."""

    def nodes(self) -> list[dict[str, Any]]:
        """The other nodes of the chat, for ``/debug`` (none on one node)."""

    # -- users -----------------------------------------------------------
    def user(self, key: str) -> User | None:
        """Who is online under the name ``key`` (see L{tchat.names.name_key})."""

    def claim(self, user: User) -> Deferred[bool]:
        """
        Take ``user.key`` for ``user``: False if someone holds it already (on
        several nodes, the answer may take a moment: the world may move
        meanwhile).
        """

    def release(self, user: User) -> None:
        """Free ``user``'s name (it has left)."""

    def attach(self, user: User, connection: Connection) -> None:
        """``connection`` is now one of ``user``'s, in every room of theirs."""

    def detach(self, user: User, connection: Connection, reason: str = "") -> None:
        """
        ``connection`` is no longer ``user``'s (it closed, for ``reason``).
        Another node's connection is detached by its own node, which tells
        the others: for a rule, this does nothing to it.
        """

    def set_registered(self, user: User, registered: bool) -> None:
        """``user``'s name became an account (``/register``), or its account was deleted."""

    def rename(self, user: User, name: str) -> Deferred[bool]:
        """
        ``user`` (a guest) is called ``name`` from now on, in every room: False
        if someone holds that name (on several nodes the answer may take a
        moment).
        """

    def set_away(self, user: User, text: str | None) -> None:
        """``user`` is away (``text``), or back (None)."""

    def online(self) -> list[str]:
        """The names online, sorted."""

    def online_count(self) -> int: ...

    # -- rooms -----------------------------------------------------------
    def room(self, key: str) -> Room | None: ...

    def open_room(self, name: str) -> Room:
        """The room ``name``, made now if it does not exist."""

    def rooms(self) -> list[Room]:
        """Every room, sorted by name."""

    def load_room(self, name: str, settings: RoomSettings) -> Room:
        """A kept room as the store keeps it, at start (every node reads the same store: nothing is published)."""

    def update_room(self, room: Room, settings: RoomSettings) -> None:
        """``room``'s settings are ``settings`` from now on (a kept room is never removed while empty)."""

    def add_member(self, room: Room, user: User, since: float | None = None) -> None:
        """``user`` is in ``room`` (since when, for history visibility)."""

    def remove_member(self, room: Room, user: User) -> None:
        """``user`` leaves ``room``; a room left empty goes (the lobby stays)."""


class LocalState:
    """Chat state in this process's memory."""

    node: str | None = None

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._ids = itertools.count(1)
        self._connections: dict[Session, Connection] = {}
        self._users: dict[str, User] = {}
        self._rooms: dict[str, Room] = {name_key(LOBBY): Room(LOBBY)}

    def connection(self, session: Session) -> Connection | None:
        return self._connections.get(session)

    def add_connection(self, connection: Connection) -> None:
        if not connection.id:
            connection.id = f"{self._prefix}{next(self._ids)}"
        self._connections[connection.session] = connection

    def remove_connection(self, session: Session) -> Connection | None:
        return self._connections.pop(session, None)

    def connections(self) -> Iterable[Connection]:
        return tuple(self._connections.values())

    def remote_connections(self) -> Iterable[Connection]:
        return ()

    def nodes(self) -> list[dict[str, Any]]:
        return []

    def user(self, key: str) -> User | None:
        return self._users.get(key)

    def claim(self, user: User) -> Deferred[bool]:
        return succeed(self._take(user))

    def _take(self, user: User) -> bool:
        if user.key in self._users:
            return False
        self._users[user.key] = user
        return True

    def release(self, user: User) -> None:
        if self._users.get(user.key) is user:
            del self._users[user.key]

    def attach(self, user: User, connection: Connection) -> None:
        connection.user = user
        user.connections.append(connection)
        for room in user.rooms.values():
            _enter(room, connection)

    def detach(self, user: User, connection: Connection, reason: str = "") -> None:
        if connection not in user.connections:
            return
        user.connections.remove(connection)
        for room in user.rooms.values():
            _leave(room, connection)

    def set_registered(self, user: User, registered: bool) -> None:
        user.registered = registered

    def rename(self, user: User, name: str) -> Deferred[bool]:
        return succeed(self._rename(user, name))

    def _rename(self, user: User, name: str) -> bool:
        key = name_key(name)
        if key != user.key and key in self._users:
            return False
        if self._users.get(user.key) is user:
            del self._users[user.key]
        old = user.key
        user.key, user.name = key, name
        self._users[key] = user
        for room in user.rooms.values():
            room.members.pop(old, None)
            room.members[key] = user
            if old in room.joined:
                room.joined[key] = room.joined.pop(old)
            settings = room.settings
            if old in settings.ops or old in settings.voiced or settings.owner == old:
                changed = settings.copy()
                for keys in (changed.ops, changed.voiced):
                    if old in keys:
                        keys.discard(old)
                        keys.add(key)
                if changed.owner == old:
                    changed.owner = key
                room.settings = changed
        return True

    def set_away(self, user: User, text: str | None) -> None:
        user.away = text

    def online(self) -> list[str]:
        return sorted((u.name for u in self._users.values()), key=name_key)

    def online_count(self) -> int:
        return len(self._users)

    def room(self, key: str) -> Room | None:
        return self._rooms.get(key)

    def open_room(self, name: str) -> Room:
        key = name_key(name)
        room = self._rooms.get(key)
        if room is None:
            room = self._rooms[key] = Room(name)
        return room

    def rooms(self) -> list[Room]:
        return sorted(self._rooms.values(), key=lambda r: r.key)

    def load_room(self, name: str, settings: RoomSettings) -> Room:
        room = self.open_room(name)
        room.settings = settings
        return room

    def update_room(self, room: Room, settings: RoomSettings) -> None:
        room.settings = settings
        if not room.members and not settings.kept and room.name != LOBBY and self._rooms.get(room.key) is room:
            del self._rooms[room.key]

    def add_member(self, room: Room, user: User, since: float | None = None) -> None:
        if room.key in user.rooms:
            return
        room.members[user.key] = user
        if since is not None:
            room.joined[user.key] = since
        user.rooms[room.key] = room
        for connection in user.connections:
            _enter(room, connection)

    def remove_member(self, room: Room, user: User) -> None:
        if user.rooms.pop(room.key, None) is None:
            return
        room.members.pop(user.key, None)
        room.joined.pop(user.key, None)
        for connection in user.connections:
            _leave(room, connection)
            if connection.current is room:
                connection.current = next(reversed(user.rooms.values()), None)
        if not room.members and not room.settings.kept and room.name != LOBBY and self._rooms.get(room.key) is room:
            del self._rooms[room.key]


# A room's connections and its count per door change together, only here.
# Another node's connections are only counted: that node fans out to them.
def _enter(room: Room, connection: Connection) -> None:
    if connection.node is not None:
        room.remote[connection.node] += 1
    elif connection not in room.connections:
        room.connections[connection] = None
        room.doors[connection.door] += 1


def _leave(room: Room, connection: Connection) -> None:
    if connection.node is not None:
        room.remote[connection.node] -= 1
        if room.remote[connection.node] <= 0:
            del room.remote[connection.node]
    elif room.connections.pop(connection, False) is None:
        room.doors[connection.door] -= 1
