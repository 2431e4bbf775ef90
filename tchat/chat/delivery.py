"""
The delivery seam: how rules reach clients.

Rules never call a session themselves: they hand events to a L{Delivery},
which knows where the connections are (today: all in this process; with a
bus, some on other nodes). The same L{Event} object goes to every
recipient, so each door encodes it once per encoding.
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

from tchat.chat.model import Connection, Room, User
from tchat.chat.state import State
from tchat.commands import RequestId
from tchat.events import Event
from tchat.metrics import Metrics


class Delivery(Protocol):
    def to_connection(self, connection: Connection, event: Event) -> None:
        """One connection (a reply, a notice)."""

    def to_user(self, user: User, event: Event, but: Connection | None = None) -> None:
        """Every connection of ``user`` but ``but``."""

    def to_room(self, room: Room, event: Event, but: Connection | None = None) -> None:
        """Every connection of every member of ``room`` but ``but``."""

    def to_sharers(self, user: User, build: Callable[[list[str]], Event]) -> None:
        """
        Everyone else who shares a room with ``user``, once each: the event
        ``build(rooms)`` names the rooms that recipient shares (built once per
        distinct list of rooms, not per recipient).
        """

    def to_everyone(self, event: Event) -> None:
        """Every open connection of this node, logged in or not (the other nodes go on)."""

    def drop(self, connection: Connection, bye: str, re: RequestId | None = None, reason: str | None = None) -> None:
        """
        Say ``bye`` to ``connection`` (answering ``re``) and disconnect it;
        ``reason`` is what its node logs when it is another node's.
        """


class LocalDelivery:
    """Delivery to the sessions of this process, counted per fan-out."""

    def __init__(self, state: State, metrics: Metrics) -> None:
        self.state = state
        self.metrics = metrics

    def to_connection(self, connection: Connection, event: Event) -> None:
        connection.session.deliver(event)
        self.metrics.delivered(connection.door)

    def to_user(self, user: User, event: Event, but: Connection | None = None) -> None:
        # A snapshot: a delivery may drop its connection (too slow) on the spot.
        # Another node's connection (with several nodes) is that node's to deliver to.
        for connection in tuple(user.connections):
            if connection is not but and connection.node is None:
                connection.session.deliver(event)
                self.metrics.delivered(connection.door)

    def to_room(self, room: Room, event: Event, but: Connection | None = None) -> None:
        for connection in tuple(room.connections):
            if connection is not but:
                connection.session.deliver(event)
        self.metrics.fanned_out(room.doors)
        if but is not None and but in room.connections:
            self.metrics.delivered(but.door, -1)

    def to_sharers(self, user: User, build: Callable[[list[str]], Event]) -> None:
        self.share(user.rooms.values(), user.key, build)

    def share(self, rooms: Iterable[Room], key: str, build: Callable[[list[str]], Event]) -> None:
        """This node's connections in ``rooms`` but those of the user ``key``, once each, with ``build(the rooms it shares)``."""
        shared: dict[Connection, list[str]] = {}
        for room in rooms:
            for connection in room.connections:
                if connection.user is not None and connection.user.key != key:
                    shared.setdefault(connection, []).append(room.name)
        events: dict[tuple[str, ...], Event] = {}
        for connection, names in shared.items():
            event = events.get(tuple(names))
            if event is None:
                event = events[tuple(names)] = build(names)
            connection.session.deliver(event)
            self.metrics.delivered(connection.door)

    def to_everyone(self, event: Event) -> None:
        for connection in self.state.connections():
            connection.session.deliver(event)
            self.metrics.delivered(connection.door)

    def drop(self, connection: Connection, bye: str, re: RequestId | None = None, reason: str | None = None) -> None:
        connection.session.close(bye, re)
