"""
The delivery seam: how rules reach clients.

Rules never call a session themselves: they hand events to a L{Delivery},
which knows where the connections are (today: all in this process; with a
bus, some on other nodes). The same L{Event} object goes to every
recipient, so each door encodes it once per encoding.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from tchat.chat.model import Connection, Room, Session, User
from tchat.chat.state import State
from tchat.commands import RequestId
from tchat.events import Event
from tchat.metrics import Metrics

log = Logger()


class Delivery(Protocol):
    def to_connection(self, connection: Connection, event: Event) -> None:
        """One connection (a reply, a notice)."""

    def to_user(self, user: User, event: Event, but: Connection | None = None) -> None:
        """Every connection of ``user`` but ``but``."""

    def to_room(self, room: Room, event: Event, but: Connection | None = None) -> None:
        """Every connection of every member of ``room`` but ``but``."""

    def to_ranks(self, room: Room, event: Event, only: str, but: Connection | None = None) -> None:
        """
        Every connection of the members of ``room`` of a rank but ``but``:
        ``only`` ``op``, its operators; ``voice``, its voiced users and its
        operators (IRC's STATUSMSG, ``@#room`` and ``+#room``).
        """

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

    def flush(self) -> None:
        """
        Write what was delivered so far now rather than at the end of the
        reactor turn (for a caller about to wait on a session's drained()).
        """

    def after_writes(self, call: Callable[[], None]) -> None:
        """
        Call ``call()`` once what was delivered so far is written (at once
        when nothing waits): work the recipients do not wait for, such as a
        message's store write, goes after their writes rather than before.
        """


# A long reactor turn's room messages go out before the turn ends once
# EARLY_WRITE of them wait, and at least as many as half the members they go to:
# the clients read the first ones while the server works on the rest, instead of
# waiting for the whole turn. Writing early costs a send per member, so a big
# room (where a send per member dwarfs the gain) waits for the turn's end.
EARLY_WRITE = 48


class LocalDelivery:
    """
    Delivery to the sessions of this process, counted per fan-out.

    Given a reactor, it writes a reactor turn's deliveries together at the
    turn's end (see L{flush}); without one (tests, tools) it hands each event
    to its sessions at once.
    """

    def __init__(self, state: State, metrics: Metrics, reactor: IReactorTime | None = None) -> None:
        self.state = state
        self.metrics = metrics
        self._reactor = reactor
        # This turn's deliveries in order: (recipients, event, but), where
        # recipients is one session, or a tuple of connections (a room's
        # fan-out tuple, the same object while the room's members stay).
        self._turn: list[tuple[Any, Event, Connection | None]] = []
        self._flush_call: IDelayedCall | None = None
        self._flushing = False
        # Room messages in _turn (see EARLY_WRITE).
        self._fanned = 0
        # What waits for this turn's writes (after_writes), in order.
        self._after: list[Callable[[], None]] = []

    # -- the seam --------------------------------------------------------

    def to_connection(self, connection: Connection, event: Event) -> None:
        self._one(connection, event)
        self.metrics.delivered(connection.door)

    def to_user(self, user: User, event: Event, but: Connection | None = None) -> None:
        # Another node's connection (with several nodes) is that node's to deliver to.
        for connection in tuple(user.connections):
            if connection is not but and connection.node is None:
                self._one(connection, event)
                self.metrics.delivered(connection.door)

    def to_room(self, room: Room, event: Event, but: Connection | None = None) -> None:
        connections = room.fanout()
        if self._reactor is None:
            for connection in connections:
                if connection is not but:
                    connection.session.deliver(event)
        elif connections:
            self._turn.append((connections, event, but))
            self._fanned += 1
            if self._fanned >= EARLY_WRITE and 2 * self._fanned >= len(connections):
                self.flush()
            else:
                self._flush_soon()
        self.metrics.fanned_out(room.doors)
        if but is not None and but in room.connections:
            self.metrics.delivered(but.door, -1)

    def to_ranks(self, room: Room, event: Event, only: str, but: Connection | None = None) -> None:
        for user in ranked(room, only):
            self.to_user(user, event, but)

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
            self._one(connection, event)
            self.metrics.delivered(connection.door)

    def to_everyone(self, event: Event) -> None:
        for connection in self.state.connections():
            self._one(connection, event)
            self.metrics.delivered(connection.door)

    def drop(self, connection: Connection, bye: str, re: RequestId | None = None, reason: str | None = None) -> None:
        # What it was delivered before goes out before its bye.
        self.flush()
        connection.session.close(bye, re)

    def after_writes(self, call: Callable[[], None]) -> None:
        # Whenever _turn holds something, a flush is due (or under way), and
        # each flush ends by calling what waits here.
        if self._turn or self._flushing:
            self._after.append(call)
        else:
            call()

    def flush(self) -> None:
        """
        Write this turn's deliveries now (the reactor calls it at the turn's
        end, and L{to_room} before it in a long turn: see L{EARLY_WRITE}).
        Per session, everything it was delivered this turn goes in one
        write, in the order delivered; a run of messages to one room is
        joined once per encoding and the same bytes go to every member that
        sent none of them.
        """
        turn = self._turn
        if not turn or self._flushing:
            # (What a flush under way delivers waits for the call it made.)
            return
        call, self._flush_call = self._flush_call, None
        if call is not None and call.active():
            call.cancel()
        self._turn = []
        self._fanned = 0
        self._flushing = True
        try:
            self._write(turn)
        finally:
            self._flushing = False
            if self._turn:
                self._flush_soon()
            self._call_after()

    def _call_after(self) -> None:
        # A message's store write, say: the members' writes went first, so
        # the store's thread does not take the interpreter lock from every
        # send() of the fan-out (docs/architecture.rst, "After the writes").
        while self._after:
            waiting, self._after = self._after, []
            for call in waiting:
                try:
                    call()
                except Exception:
                    log.failure("a call after a turn's writes failed")

    def _write(self, turn: list[tuple[Any, Event, Connection | None]]) -> None:
        out: dict[Session, list[Any]] = {}
        i, n = 0, len(turn)
        while i < n:
            # A run: fan-outs to the same members (no one came or went
            # between them), and the single deliveries among them.
            members: tuple[Connection, ...] | None = None
            j = i
            while j < n:
                recipients = turn[j][0]
                if type(recipients) is tuple:
                    if members is None:
                        members = recipients
                    elif recipients is not members:
                        break
                j += 1
            run = turn[i:j]
            i = j
            if members is None:
                for connection, event, _ in run:
                    _put(out, connection.session, event)
                continue
            # Who gets something else than all the run's fan-outs: a sender
            # (not its own), and whoever a single delivery is for.
            special: set[Connection] = set()
            fanned: list[Event] = []
            for recipients, event, but in run:
                if recipients is members:
                    fanned.append(event)
                    if but is not None:
                        special.add(but)
                else:
                    special.add(recipients)
            # Per encoding, what every member that sent none of the run's
            # fan-outs gets of them (L{_parts}), made once.
            joined: dict[Any, list[Any]] = {}
            for connection in members:
                session = connection.session
                if special and connection in special:
                    special.discard(connection)
                    for event in _own_part(run, members, connection, True):
                        _put(out, session, event)
                    continue
                codec = session.out_codec
                if codec is None:
                    for event in fanned:
                        _put(out, session, event)
                    continue
                parts = joined.get(codec)
                if parts is None:
                    parts = joined[codec] = _parts(codec, fanned)
                items = out.get(session)
                if items is None:
                    out[session] = parts[:]
                else:
                    items.extend(parts)
            for connection in special:
                # Not among the members: only its single deliveries.
                for event in _own_part(run, members, connection, False):
                    _put(out, connection.session, event)
        for session, items in out.items():
            if len(items) == 1 and type(items[0]) is bytes:
                session.write_out(items[0])
            else:
                _write_in_order(session, items)

    # -- within -----------------------------------------------------------

    def _one(self, connection: Connection, event: Event) -> None:
        if self._reactor is None:
            connection.session.deliver(event)
        else:
            self._turn.append((connection, event, None))
            self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flush_call is None:
            assert self._reactor is not None
            self._flush_call = self._reactor.callLater(0, self.flush)


RANKS = ("op", "voice")


def ranked(room: Room, only: str) -> list[User]:
    """The members of ``room`` of rank ``only`` (``op``; ``voice``: voiced or op), for L{Delivery.to_ranks}."""
    s = room.settings
    return [u for u in room.members.values() if s.is_op(u.key) or (only == "voice" and u.key in s.voiced)]


def _parts(codec: Any, events: list[Event]) -> list[Any]:
    """
    ``events`` in ``codec``'s encoding for a session that takes them as
    bytes: each stretch of events its ``plain`` takes (all of them, most
    often) as one piece of bytes, the others as the events themselves in
    their place.
    """
    plain = codec.plain
    parts: list[Any] = []
    stretch: list[bytes] = []
    for event in events:
        if plain is None or plain(event):
            stretch.append(event.encoded(codec))
            continue
        if stretch:
            parts.append(b"".join(stretch))
            stretch = []
        parts.append(event)
    if stretch:
        parts.append(b"".join(stretch))
    return parts


def _put(out: dict[Session, list[Any]], session: Session, event: Event) -> None:
    """One event for ``session``: its bytes if it takes them as bytes, else the event itself."""
    codec = session.out_codec
    item: Any = event if codec is None or (codec.plain is not None and not codec.plain(event)) else event.encoded(codec)
    items = out.get(session)
    if items is None:
        out[session] = [item]
    else:
        items.append(item)


def _own_part(run: list[tuple[Any, Event, Connection | None]], members: tuple[Connection, ...],
              connection: Connection, member: bool) -> list[Event]:
    """What ``connection`` gets of a run, in order: the fan-outs but its own (if a member), and its single deliveries."""
    return [
        event for recipients, event, but in run
        if recipients is connection or (member and recipients is members and but is not connection)
    ]


def _write_in_order(session: Session, items: list[Any]) -> None:
    """A session's turn: runs of bytes in one write each, events (for a session that takes them one by one) in between."""
    data: list[bytes] = []
    for item in items:
        if type(item) is bytes:
            data.append(item)
            continue
        if data:
            session.write_out(b"".join(data))
            data = []
        session.deliver(item)
    if data:
        session.write_out(data[0] if len(data) == 1 else b"".join(data))
