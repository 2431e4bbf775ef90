"""
The state and delivery seams for a node of several: L{ClusterState} and
L{ClusterDelivery}.

Every node keeps a copy of the whole chat's state: its own connections,
and a stand-in L{Connection} (node set, a L{RemoteSession}) for each
connection of the other nodes' users, in the same L{User}s and L{Room}s.
The rules run on that copy exactly as on one node. What a rule changes here
is published on the bus (``attach``, ``detach``, ``release``, ``join``,
``part``); what another node published is applied here ``quiet``ly (through
the same methods, publishing nothing). Names are claimed on the bus, so
that two nodes cannot both give one away.

Delivery fans out to this node's own connections and publishes the event
once for the others (``to_room``, ``to_user``, …), each of which fans it out
to its own: one publish per event, never one per recipient. Who is where is
known here, so nothing asks the bus per message.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from tchat.chat.delivery import RANKS, LocalDelivery, ranked
from tchat.chat.model import Connection, OutCodec, Room, Session, User
from tchat.chat.people import AWAY_MAX
from tchat.chat.roomsettings import RoomSettings
from tchat.chat.state import LocalState
from tchat.cluster.bus import Bus
from tchat.cluster.wire import BadMessage, event_fields
from tchat.commands import RequestId
from tchat.events import Event
from tchat.metrics import Metrics
from tchat.names import BadName, check_name, check_room, clean_text, name_key

log = Logger()

Send = Callable[..., None]


class RemoteSession:
    """Stands in for a connection on another node; nothing is sent through it (its node sends)."""

    def __init__(self, node: str, info: dict[str, str]) -> None:
        self.node = node
        self.info = {**info, "node": node}

    out_codec: OutCodec | None = None

    def deliver(self, event: Event) -> None:
        pass

    def write_out(self, data: bytes) -> None:
        pass

    def close(self, reason: str, re: RequestId | None = None) -> None:
        pass

    def describe(self) -> dict[str, str]:
        return self.info

    def drained(self) -> Deferred[None]:
        return succeed(None)


def conn_info(connection: Connection) -> dict[str, Any]:
    described = connection.session.describe()
    return {
        "id": connection.id, "door": connection.door, "address": described.get("address", "?"),
        "host": described.get("host", described.get("address", "?")), "since": connection.since,
    }


def user_info(user: User) -> dict[str, Any]:
    return {"key": user.key, "name": user.name, "registered": user.registered}


def _room_name(name: str) -> str:
    try:
        return check_room(name)
    except BadName as e:
        raise BadMessage(f"a bad room name: {e}") from None


class ClusterState(LocalState):
    def __init__(self, node: str, bus: Bus, send: Send) -> None:
        super().__init__(prefix=f"{node}/")
        self.node = self.here = node
        self.bus = bus
        self._send_raw = send
        # Names this node holds on the bus (it has, or is logging in, a connection of theirs).
        self.held: set[str] = set()
        # Names this node let go of while the bus did not answer.
        self.unreleased: set[str] = set()
        self._by_id: dict[str, Connection] = {}
        self._remote: dict[str, Connection] = {}
        # Per user key: the nodes that closed their last connection of the
        # user while others were open (see apply_detach).
        self._closers: dict[str, set[str]] = {}
        self._quiet = 0
        # What the other nodes are, for /debug (kept by the Node).
        self.node_info: Callable[[], list[dict[str, Any]]] = lambda: []

    # -- publishing ------------------------------------------------------

    @property
    def quiet(self) -> bool:
        return self._quiet > 0

    @contextmanager
    def applying(self) -> Iterator[None]:
        """What happens inside is another node's doing (or everyone's): nothing is published."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def silence(self) -> None:
        """From now on nothing is published (the node is stopping: its bye said it all)."""
        self._quiet += 1

    def send(self, kind: str, **fields: Any) -> None:
        if not self._quiet:
            self._send_raw(kind, **fields)

    # -- connections -----------------------------------------------------

    def add_connection(self, connection: Connection) -> None:
        super().add_connection(connection)
        self._by_id[connection.id] = connection

    def remove_connection(self, session: Session) -> Connection | None:
        connection = super().remove_connection(session)
        if connection is not None:
            self._by_id.pop(connection.id, None)
        return connection

    def local(self, connection_id: str | None) -> Connection | None:
        return None if connection_id is None else self._by_id.get(connection_id)

    def remote(self, connection_id: str) -> Connection | None:
        return self._remote.get(connection_id)

    def remote_connections(self) -> Iterable[Connection]:
        return tuple(self._remote.values())

    def nodes(self) -> list[dict[str, Any]]:
        return self.node_info()

    def users(self) -> Iterable[User]:
        return tuple(self._users.values())

    # -- users -----------------------------------------------------------

    def claim(self, user: User) -> Deferred[bool]:
        return Deferred.fromCoroutine(self._claim(user))

    async def _claim(self, user: User) -> bool:
        if user.key in self._users:
            return False
        taken = await self.bus.claim(user.key, user.registered)
        if not taken:
            return False
        self.held.add(user.key)
        # Another node's session of the account (or a guest's, if the bus
        # was restarted) may have arrived while the bus answered.
        if not self._take(user):
            self._let_go(user.key)
            return False
        return True

    def _let_go(self, key: str) -> None:
        """Give the name back on the bus if none of this node's connections needs it."""
        user = self._users.get(key)
        if user is not None and any(c.node is None for c in user.connections):
            return
        if key in self.held:
            self.held.discard(key)
            self.unreleased.discard(key)

            def failed(failure: Any) -> None:
                # Freed once the bus is back (Node.retry_releases), unless needed again meanwhile.
                log.warn("could not free the name {key} on the bus: {why}", key=key, why=failure.value)
                if key not in self.held:
                    self.unreleased.add(key)

            self.bus.release(key).addErrback(failed)

    def retry_releases(self) -> None:
        for key in list(self.unreleased):
            self.held.add(key)
            self._let_go(key)

    def release(self, user: User) -> None:
        super().release(user)
        self._closers.pop(user.key, None)
        self._let_go(user.key)
        self.send("release", user=user.key)

    def attach(self, user: User, connection: Connection) -> None:
        super().attach(user, connection)
        if connection.node is not None:
            self._remote[connection.id] = connection
            return
        self._closers.pop(user.key, None)
        if user.key not in self.held:
            # Another session of an account whose others are on other nodes.
            self.held.add(user.key)
            self.bus.claim(user.key, True).addErrback(
                lambda f: log.warn("could not hold the name {key} on the bus: {why}", key=user.key, why=f.value)
            )
        self.send("attach", user=user_info(user), conn=conn_info(connection))

    def detach(self, user: User, connection: Connection, reason: str = "") -> None:
        if connection.node is not None:
            if self.quiet:
                super().detach(user, connection)
                self._remote.pop(connection.id, None)
            return
        super().detach(user, connection)
        left = not user.connections
        if not left and not any(c.node is None for c in user.connections):
            self._closers.setdefault(user.key, set()).add(self.here)
        self._let_go(user.key)
        self.send("detach", user=user.key, conn=connection.id, reason=reason, left=left)

    def set_registered(self, user: User, registered: bool) -> None:
        super().set_registered(user, registered)
        if user.key in self.held and not self.quiet:
            # The name's hold on the bus changes kind: let go, hold again.
            key = user.key
            d = self.bus.release(key)
            d.addCallback(lambda _: self.bus.claim(key, registered))
            d.addErrback(lambda f: log.warn("could not hold the name {key} anew on the bus: {why}", key=key, why=f.value))
        self.send("registered", user=user.key, registered=registered)

    # -- rooms -----------------------------------------------------------

    def add_member(self, room: Room, user: User, since: float | None = None) -> None:
        if room.key in user.rooms:
            return
        super().add_member(room, user, since)
        self.send("join", room=room.name, user=user.key, since=since)

    def update_room(self, room: Room, settings: RoomSettings) -> None:
        super().update_room(room, settings)
        self.send("room", room=room.name, settings=settings.to_dict())

    def rename(self, user: User, name: str) -> Deferred[bool]:
        return Deferred.fromCoroutine(self._renamed(user, name))

    async def _renamed(self, user: User, name: str) -> bool:
        old, key = user.key, name_key(name)
        if key != old:
            if key in self._users:
                return False
            if not await self.bus.claim(key, False):
                return False
            if key in self._users or self._users.get(old) is not user:
                # Someone arrived under the name meanwhile, or the user left.
                self.bus.release(key)
                return False
            self.held.add(key)
        self._rename(user, name)
        if key != old:
            self.held.discard(old)
            self.bus.release(old).addErrback(lambda f: self.unreleased.add(old))
        self.send("rename", user=old, name=name)
        return True

    def set_away(self, user: User, text: str | None) -> None:
        super().set_away(user, text)
        self.send("away", user=user.key, text=text)

    def remove_member(self, room: Room, user: User) -> None:
        if room.key not in user.rooms:
            return
        super().remove_member(room, user)
        self.send("part", room=room.name, user=user.key)

    # -- what other nodes did (each inside applying()) ----------------------

    def apply_attach(self, node: str, info: dict[str, Any], conn: dict[str, Any]) -> None:
        key = info["key"]
        if key != name_key(info["name"]) or conn["id"] in self._remote or conn["id"] in self._by_id:
            log.warn("node {node} attached {id} to {key} twice, or under a name that is not its key; ignored", node=node, id=conn["id"], key=key)
            return
        user = self._users.get(key)
        if user is None:
            user = User(key, info["name"], registered=info["registered"])
            self._add_user(user)
        elif not (user.registered and info["registered"]):
            log.warn("node {node} has a user {name} that is already online here; ignored", node=node, name=info["name"])
            return
        session = RemoteSession(node, {"door": conn["door"], "address": conn["address"], "host": conn["host"]})
        connection = Connection(session, since=float(conn["since"]), door=conn["door"], id=conn["id"], node=node)
        self.attach(user, connection)

    def apply_detach(self, node: str, key: str, connection_id: str, left: bool) -> User | None:
        """
        Another node's connection closed. Returns the user if this node must
        now announce that it left the chat: when the last two (or more)
        connections of an account closed on different nodes at once, each
        node saw another still open, so none announced; every node knows
        the same closers, and the first of them by name announces.
        """
        connection = self._remote.get(connection_id)
        if connection is None or connection.user is None or connection.node != node:
            return None
        user = connection.user
        self.detach(user, connection)
        if left:
            return None
        closers = self._closers.setdefault(key, set())
        closers.add(node)
        if user.connections or self._users.get(key) is not user:
            return None
        if self.here in closers and min(closers) == self.here:
            return user
        return None

    def apply_release(self, key: str) -> User | None:
        user = self._users.get(key)
        if user is None or any(c.node is None for c in user.connections):
            return None
        for connection in tuple(user.connections):
            self.detach(user, connection)
        for room in list(user.rooms.values()):
            self.remove_member(room, user)
        super().release(user)
        self._closers.pop(key, None)
        return user

    def apply_registered(self, key: str, registered: bool) -> None:
        user = self._users.get(key)
        if user is not None:
            self.set_registered(user, registered)

    def apply_join(self, room_name: str, key: str, since: float | None = None) -> None:
        user = self._users.get(key)
        if user is not None:
            self.add_member(self.open_room(_room_name(room_name)), user, since)

    def apply_room(self, room_name: str, raw: dict[str, Any]) -> None:
        try:
            settings = RoomSettings.from_dict(raw)
        except ValueError as e:
            raise BadMessage(f"room settings: {e}") from None
        name = _room_name(room_name)
        room = self.room(name_key(name))
        if room is None:
            if not settings.kept:
                # Not a room anyone is in (any more): nothing to keep settings for.
                return
            room = self.open_room(name)
        self.update_room(room, settings)

    def apply_rename(self, key: str, name: str) -> None:
        user = self._users.get(key)
        try:
            checked = check_name(name)
        except BadName as e:
            raise BadMessage(f"rename to a bad name: {e}") from None
        if user is None or user.registered or any(c.node is None for c in user.connections):
            return
        if name_key(checked) != key and name_key(checked) in self._users:
            log.warn("node renamed {old} to {new}, a name online here; ignored", old=key, new=checked)
            return
        self._rename(user, checked)

    def apply_away(self, key: str, text: str | None) -> None:
        user = self._users.get(key)
        if user is not None:
            self.set_away(user, clean_text(text)[:AWAY_MAX] if text else None)

    def apply_part(self, room_name: str, key: str) -> None:
        user = self._users.get(key)
        room = self.room(name_key(room_name))
        if user is not None and room is not None:
            self.remove_member(room, user)

    def of_node(self, node: str) -> list[Connection]:
        return [c for c in self._remote.values() if c.node == node]

    def snapshot(self) -> list[dict[str, Any]]:
        """This node's users: each with its connections here and its rooms."""
        entries = []
        for user in self._users.values():
            mine = [conn_info(c) for c in user.connections if c.node is None]
            if mine:
                entries.append({"user": user_info(user), "conns": mine, "rooms": [r.name for r in user.rooms.values()]})
        return entries

    def room_snapshot(self) -> list[dict[str, Any]]:
        """The settings of every room that has a member of this node's."""
        return [{"room": room.name, "settings": room.settings.to_dict()} for room in self.rooms() if room.connections]


class ClusterDelivery(LocalDelivery):
    """This node's connections directly; the other nodes' with one publish per event."""

    state: ClusterState

    def __init__(self, state: ClusterState, metrics: Metrics, reactor: IReactorTime | None = None) -> None:
        super().__init__(state, metrics, reactor)

    def to_connection(self, connection: Connection, event: Event) -> None:
        if connection.node is None:
            super().to_connection(connection, event)
        else:
            self.state.send("to_conn", conn=connection.id, event=event_fields(event))

    def to_user(self, user: User, event: Event, but: Connection | None = None) -> None:
        super().to_user(user, event, but)
        if any(c.node is not None and c is not but for c in user.connections):
            self.state.send("to_user", user=user.key, but=but.id if but is not None else None, event=event_fields(event))

    def to_room(self, room: Room, event: Event, but: Connection | None = None) -> None:
        super().to_room(room, event, but)
        if room.remote:
            self.state.send("to_room", room=room.name, but=but.id if but is not None else None, event=event_fields(event))

    def to_ranks(self, room: Room, event: Event, only: str, but: Connection | None = None) -> None:
        # This node's members through to_user (LocalDelivery's), the others' with one publish.
        for user in ranked(room, only):
            LocalDelivery.to_user(self, user, event, but)
        if room.remote:
            self.state.send("to_ranks", room=room.name, only=only, but=but.id if but is not None else None, event=event_fields(event))

    def to_sharers(self, user: User, build: Callable[[list[str]], Event]) -> None:
        super().to_sharers(user, build)
        if any(room.remote for room in user.rooms.values()):
            # Each node narrows the event's rooms to those its recipient shares.
            self.state.send("to_sharers", user=user.key, event=event_fields(build([r.name for r in user.rooms.values()])))

    def drop(self, connection: Connection, bye: str, re: RequestId | None = None, reason: str | None = None) -> None:
        if connection.node is None:
            super().drop(connection, bye, re)
        else:
            self.state.send("drop", conn=connection.id, bye=bye, reason=reason or bye)

    # -- what other nodes send (to this node's own connections only) ----------

    def deliver_here(self, connection: Connection, event: Event) -> None:
        LocalDelivery.to_connection(self, connection, event)

    def local_user(self, key: str, event: Event, but: str | None) -> None:
        user = self.state.user(key)
        if user is not None:
            LocalDelivery.to_user(self, user, event, self.state.local(but))

    def local_room(self, room_name: str, event: Event, but: str | None) -> None:
        room = self.state.room(name_key(room_name))
        if room is not None:
            LocalDelivery.to_room(self, room, event, self.state.local(but))

    def local_ranks(self, room_name: str, only: str, event: Event, but: str | None) -> None:
        room = self.state.room(name_key(room_name))
        if room is not None and only in RANKS:
            for user in ranked(room, only):
                LocalDelivery.to_user(self, user, event, self.state.local(but))

    def local_sharers(self, key: str, event: Event) -> None:
        """The event (a ``quit``) to this node's connections sharing its rooms, each with the rooms it shares."""
        names = event.get("rooms")
        if not isinstance(names, list):
            return
        rooms = [room for room in (self.state.room(name_key(str(name))) for name in names) if room is not None]
        self.share(rooms, key, lambda shared: Event(event.name, {**event.fields, "rooms": shared}))
