"""
The state seam: who is connected, who is online under which name, which
rooms exist and who is in them.

Every rule reads and changes chat state through a L{State}, never through
dicts of its own, so that a node can later hold users and rooms that live
on other nodes (a Redis implementation) without a rule changing.
L{LocalState} is the one-process implementation.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any, Callable, Iterable, Protocol

from twisted.internet.defer import Deferred, succeed

from tchat.chat.model import Connection, Room, Session, User
from tchat.chat.roomsettings import RoomSettings
from tchat.names import LOBBY, name_key, skeleton


# Told when a name comes online ("online"), leaves ("offline") or its user's
# away changes ("away"), with the name as it was and its user: whether a rule of
# this node's did it or the copy of another node's doing was applied here.
Presence = Callable[[str, str, User], None]


# Most read markers one user keeps (the oldest set goes beyond).
READ_MARKERS_MAX = 1000


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

    def confusable(self, name: str) -> User | None:
        """
        Someone online whose name looks like ``name`` (one
        L{tchat.names.skeleton}) but is another name (another key); None if
        nobody is.
        """

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

    def confusable_room(self, name: str) -> Room | None:
        """A room whose name looks like ``name`` but is another name (as L{confusable}); None if none does."""

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

    def set_lobby(self, name: str | None) -> None:
        """The room that always exists, empty or not (``--lobby``; None: no such room), set at start."""

    # -- read markers ------------------------------------------------------
    def read_marker(self, user: User, target: str) -> float | None:
        """Up to when ``user`` has read ``target`` (a room's or a user's key); None if it never said."""

    def mark_read(self, user: User, target: str, ts: float) -> None:
        """``user`` has read ``target`` up to ``ts`` (the rule keeps it from going back)."""

    # -- watch lists -------------------------------------------------------
    def watch(self, connection: Connection, names: Iterable[str]) -> None:
        """``connection`` (this node's) wants to know when each of ``names`` comes online or leaves."""

    def unwatch(self, connection: Connection, keys: Iterable[str] | None = None) -> None:
        """``connection`` watches none of ``keys`` any more (None: nobody)."""

    def watchers(self, key: str) -> tuple[Connection, ...]:
        """This node's connections watching the name ``key``."""

    def observe(self, listener: Presence) -> None:
        """Call ``listener`` for every name that comes online or leaves, and every change of away."""


class LocalState:
    """
    Chat state in this process's memory.

    ``_users`` and ``_rooms`` are changed only through ``_add_user``,
    ``_remove_user``, ``_add_room`` and ``_remove_room``, which keep the
    keys of each skeleton with them, so L{confusable} and
    L{confusable_room} answer without walking everyone.
    """

    node: str | None = None

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._ids = itertools.count(1)
        self._connections: dict[Session, Connection] = {}
        self._users: dict[str, User] = {}
        # skeleton -> the key under it, or the set of keys when several share it
        # (most skeletons are one name's: a str costs less than a set).
        self._user_skeletons: dict[str, str | set[str]] = {}
        self._rooms: dict[str, Room] = {}
        self._room_skeletons: dict[str, str | set[str]] = {}
        # The keys of _users, sorted: a key is its name folded (name_key), so
        # this is the online list's order, kept as users come and go rather
        # than sorted again for every login.
        self._order: list[str] = []
        self._lobby: str | None = None
        self.set_lobby(LOBBY)
        # name key -> the connections watching it (each connection's own list: Connection.watching).
        self._watchers: dict[str, dict[Connection, None]] = {}
        self._listeners: list[Presence] = []

    def set_lobby(self, name: str | None) -> None:
        old = self._rooms.get(self._lobby) if self._lobby is not None else None
        self._lobby = name_key(name) if name is not None else None
        if old is not None and old.key != self._lobby and not old.members and not old.settings.kept:
            self._remove_room(old)
        if name is not None and self._lobby not in self._rooms:
            self._add_room(Room(name))

    # The only writers of _users and _rooms (see the class docstring).

    def _add_user(self, user: User, tell: bool = True) -> None:
        """
        ``user`` is online under its key (a name someone else holds is taken
        from them first). A user whose name changes is removed before and
        added again after (``tell``: its watchers are told, unless only
        the case of the name changed).
        """
        held = self._users.get(user.key)
        if held is not None:
            self._remove_user(held)
        self._users[user.key] = user
        bisect.insort(self._order, user.key)
        _index(self._user_skeletons, skeleton(user.name), user.key)
        if tell:
            self._tell("online", user.name, user)

    def _remove_user(self, user: User, tell: bool = True) -> None:
        """``user`` is no longer online (nothing happens if its key is someone else's now)."""
        if self._users.get(user.key) is not user:
            return
        del self._users[user.key]
        _unsort(self._order, user.key)
        _unindex(self._user_skeletons, skeleton(user.name), user.key)
        if tell:
            self._tell("offline", user.name, user)

    def _tell(self, change: str, name: str, user: User) -> None:
        for listener in self._listeners:
            listener(change, name, user)

    def _add_room(self, room: Room) -> None:
        self._rooms[room.key] = room
        _index(self._room_skeletons, skeleton(room.name), room.key)

    def _remove_room(self, room: Room) -> None:
        if self._rooms.get(room.key) is not room:
            return
        del self._rooms[room.key]
        _unindex(self._room_skeletons, skeleton(room.name), room.key)

    def connection(self, session: Session) -> Connection | None:
        return self._connections.get(session)

    def add_connection(self, connection: Connection) -> None:
        if not connection.id:
            connection.id = f"{self._prefix}{next(self._ids)}"
        self._connections[connection.session] = connection

    def remove_connection(self, session: Session) -> Connection | None:
        connection = self._connections.pop(session, None)
        if connection is not None and connection.watching:
            self.unwatch(connection)
        return connection

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

    def confusable(self, name: str) -> User | None:
        key = _other(self._user_skeletons, name)
        return None if key is None else self._users[key]

    def _take(self, user: User) -> bool:
        if user.key in self._users:
            return False
        self._add_user(user)
        return True

    def release(self, user: User) -> None:
        self._remove_user(user)

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
        online = self._users.get(user.key) is user
        # Watchers are told of a new name, not of a name whose case changed.
        self._remove_user(user, tell=key != user.key)
        old = user.key
        user.key, user.name = key, name
        if online:
            self._add_user(user, tell=key != old)
        for room in user.rooms.values():
            if room.members.pop(old, None) is not None:
                _unsort(room.order, old)
            room.members[key] = user
            bisect.insort(room.order, key)
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
        changed = user.away != text
        user.away = text
        if changed and self._users.get(user.key) is user:
            self._tell("away", user.name, user)

    def online(self) -> list[str]:
        users = self._users
        return [users[key].name for key in self._order]

    def online_count(self) -> int:
        return len(self._users)

    def room(self, key: str) -> Room | None:
        return self._rooms.get(key)

    def confusable_room(self, name: str) -> Room | None:
        key = _other(self._room_skeletons, name)
        return None if key is None else self._rooms[key]

    def open_room(self, name: str) -> Room:
        room = self._rooms.get(name_key(name))
        if room is None:
            room = Room(name)
            self._add_room(room)
        return room

    def rooms(self) -> list[Room]:
        return sorted(self._rooms.values(), key=lambda r: r.key)

    def load_room(self, name: str, settings: RoomSettings) -> Room:
        room = self.open_room(name)
        room.settings = settings
        return room

    def update_room(self, room: Room, settings: RoomSettings) -> None:
        room.settings = settings
        if not room.members and not settings.kept and room.key != self._lobby:
            self._remove_room(room)

    def add_member(self, room: Room, user: User, since: float | None = None) -> None:
        if room.key in user.rooms:
            return
        if user.key not in room.members:
            bisect.insort(room.order, user.key)
        room.members[user.key] = user
        if since is not None:
            room.joined[user.key] = since
        user.rooms[room.key] = room
        for connection in user.connections:
            _enter(room, connection)

    def remove_member(self, room: Room, user: User) -> None:
        if user.rooms.pop(room.key, None) is None:
            return
        if room.members.pop(user.key, None) is not None:
            _unsort(room.order, user.key)
        room.joined.pop(user.key, None)
        for connection in user.connections:
            _leave(room, connection)
        if not room.members and not room.settings.kept and room.key != self._lobby:
            self._remove_room(room)


    def read_marker(self, user: User, target: str) -> float | None:
        return user.read.get(target) if user.read else None

    def mark_read(self, user: User, target: str, ts: float) -> None:
        if user.read is None:
            user.read = {}
        user.read.pop(target, None)
        user.read[target] = ts
        if len(user.read) > READ_MARKERS_MAX:
            # The marker set longest ago goes.
            del user.read[next(iter(user.read))]

    def watch(self, connection: Connection, names: Iterable[str]) -> None:
        if connection.watching is None:
            connection.watching = {}
        for name in names:
            key = name_key(name)
            connection.watching[key] = name
            self._watchers.setdefault(key, {})[connection] = None

    def unwatch(self, connection: Connection, keys: Iterable[str] | None = None) -> None:
        watching = connection.watching
        if not watching:
            return
        for key in list(watching) if keys is None else keys:
            if watching.pop(key, None) is None:
                continue
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.pop(connection, None)
                if not watchers:
                    del self._watchers[key]

    def watchers(self, key: str) -> tuple[Connection, ...]:
        watchers = self._watchers.get(key)
        return tuple(watchers) if watchers else ()

    def observe(self, listener: Presence) -> None:
        self._listeners.append(listener)


def _index(index: dict[str, str | set[str]], shape: str, key: str) -> None:
    keys = index.get(shape)
    if keys is None:
        index[shape] = key
    elif isinstance(keys, str):
        if keys != key:
            index[shape] = {keys, key}
    else:
        keys.add(key)


def _unsort(order: list[str], key: str) -> None:
    """Take ``key`` out of the sorted list ``order``."""
    i = bisect.bisect_left(order, key)
    if i < len(order) and order[i] == key:
        del order[i]


def _unindex(index: dict[str, str | set[str]], shape: str, key: str) -> None:
    keys = index.get(shape)
    if keys is None:
        return
    if isinstance(keys, str):
        if keys == key:
            del index[shape]
        return
    keys.discard(key)
    if len(keys) == 1:
        index[shape] = next(iter(keys))
    elif not keys:
        del index[shape]


def _other(index: dict[str, str | set[str]], name: str) -> str | None:
    """A key in ``index`` under ``name``'s skeleton other than ``name``'s own (the smallest, so answers repeat)."""
    keys = index.get(skeleton(name))
    if not keys:
        return None
    if isinstance(keys, str):
        keys = {keys}
    own = name_key(name)
    others = [key for key in keys if key != own]
    return min(others) if others else None


# A room's connections and its count per door change together, only here.
# Another node's connections are only counted: that node fans out to them.
def _enter(room: Room, connection: Connection) -> None:
    if connection.node is not None:
        room.remote[connection.node] += 1
    elif connection not in room.connections:
        room.connections[connection] = None
        room.doors[connection.door] += 1
        room._fanout = None


def _leave(room: Room, connection: Connection) -> None:
    if connection.node is not None:
        room.remote[connection.node] -= 1
        if room.remote[connection.node] <= 0:
            del room.remote[connection.node]
    elif room.connections.pop(connection, False) is None:
        room.doors[connection.door] -= 1
        room._fanout = None
