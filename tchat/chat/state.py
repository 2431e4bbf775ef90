"""
The state seam: who is connected, who is online under which name, which
rooms exist and who is in them.

Every rule reads and changes chat state through a L{State}, never through
dicts of its own, so that a node can later hold users and rooms that live
on other nodes (a Redis implementation) without a rule changing.
L{LocalState} is the one-process implementation.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from tchat.chat.model import Connection, Room, Session, User
from tchat.names import LOBBY, name_key


class State(Protocol):
    # -- connections -----------------------------------------------------
    def connection(self, session: Session) -> Connection | None:
        """The connection of ``session``, or None once it is gone."""

    def add_connection(self, connection: Connection) -> None: ...

    def remove_connection(self, session: Session) -> Connection | None:
        """Forget ``session``'s connection; None if it was gone already."""

    def connections(self) -> Iterable[Connection]:
        """Every open connection, logged in or not."""

    # -- users -----------------------------------------------------------
    def user(self, key: str) -> User | None:
        """Who is online under the name ``key`` (see L{tchat.names.name_key})."""

    def claim(self, user: User) -> bool:
        """Take ``user.key`` for ``user``; False if someone holds it already."""

    def release(self, user: User) -> None:
        """Free ``user``'s name (it has left)."""

    def attach(self, user: User, connection: Connection) -> None:
        """``connection`` is now one of ``user``'s, in every room of theirs."""

    def detach(self, user: User, connection: Connection) -> None:
        """``connection`` is no longer ``user``'s (it closed)."""

    def online(self) -> list[str]:
        """The names online, sorted."""

    def online_count(self) -> int: ...

    # -- rooms -----------------------------------------------------------
    def room(self, key: str) -> Room | None: ...

    def open_room(self, name: str) -> Room:
        """The room ``name``, made now if it does not exist."""

    def rooms(self) -> list[Room]:
        """Every room, sorted by name."""

    def add_member(self, room: Room, user: User) -> None: ...

    def remove_member(self, room: Room, user: User) -> None:
        """``user`` leaves ``room``; a room left empty goes (the lobby stays)."""


class LocalState:
    """Chat state in this process's memory."""

    def __init__(self) -> None:
        self._connections: dict[Session, Connection] = {}
        self._users: dict[str, User] = {}
        self._rooms: dict[str, Room] = {name_key(LOBBY): Room(LOBBY)}

    def connection(self, session: Session) -> Connection | None:
        return self._connections.get(session)

    def add_connection(self, connection: Connection) -> None:
        self._connections[connection.session] = connection

    def remove_connection(self, session: Session) -> Connection | None:
        return self._connections.pop(session, None)

    def connections(self) -> Iterable[Connection]:
        return tuple(self._connections.values())

    def user(self, key: str) -> User | None:
        return self._users.get(key)

    def claim(self, user: User) -> bool:
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

    def detach(self, user: User, connection: Connection) -> None:
        if connection not in user.connections:
            return
        user.connections.remove(connection)
        for room in user.rooms.values():
            _leave(room, connection)

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

    def add_member(self, room: Room, user: User) -> None:
        room.members[user.key] = user
        user.rooms[room.key] = room
        for connection in user.connections:
            _enter(room, connection)

    def remove_member(self, room: Room, user: User) -> None:
        room.members.pop(user.key, None)
        user.rooms.pop(room.key, None)
        for connection in user.connections:
            _leave(room, connection)
            if connection.current is room:
                connection.current = next(reversed(user.rooms.values()), None)
        if not room.members and room.name != LOBBY and self._rooms.get(room.key) is room:
            del self._rooms[room.key]


# A room's connections and its count per door change together, only here.
def _enter(room: Room, connection: Connection) -> None:
    if connection not in room.connections:
        room.connections[connection] = None
        room.doors[connection.door] += 1


def _leave(room: Room, connection: Connection) -> None:
    if room.connections.pop(connection, False) is None:
        room.doors[connection.door] -= 1
