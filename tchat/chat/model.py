"""
What the chat is made of: connections, users and rooms, and the hub's config.

A L{Connection} is one client connection (a device): its door's L{Session},
since when, whether it proved the admin password, its messages waiting for
the store. (Text mode's current room is the line door's:
L{tchat.door.textmode}.) A L{User} is a name in the chat:
a guest (one connection) or an account (one or more connections, one per
device). A L{Room} has users as members and, for fan-out, the flat set of
their connections.

Nothing here reaches a socket or another node: the rules change and read
these only through the state seam (L{tchat.chat.state}) and reach clients
only through the delivery seam (L{tchat.chat.delivery}).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

from twisted.internet.defer import Deferred

from tchat.chat.roomsettings import RoomSettings
from tchat.commands import RequestId
from tchat.events import Codec, Event
from tchat.names import LOBBY, name_key


class OutCodec(Codec, Protocol):
    """
    A session's L{Session.out_codec}: an encoding, and which events a
    session may be handed as its bytes (``plain(event)``; None: every one).
    The others go to it one by one through L{Session.deliver}, in their
    place: an IRC session tracks its channels from joins and parts, and
    answers its own requests itself.
    """

    plain: "Callable[[Event], bool] | None"


class Session(Protocol):
    """One connection, as the chat sees it. Doors implement this."""

    def deliver(self, event: Event) -> None:
        """Send ``event`` to the client; never blocks, never raises."""

    def close(self, reason: str, re: RequestId | None = None) -> None:
        """Send a ``bye`` event with ``reason`` (answering request ``re``, for a quit), then disconnect."""

    def describe(self) -> dict[str, str]:
        """``address``, ``host`` and ``door`` of this connection, for logs, throttling and ``/debug``."""

    def drained(self) -> Deferred[None]:
        """Fires once what was delivered so far has left for the client (its send buffer has room)."""

    # The encoding L{write_out} takes this session's events in, so that a
    # delivery can encode an event once for everyone sharing the encoding and
    # write a reactor turn's events in one go; None: it takes them one by one
    # through deliver(). The codec's ``plain`` says which (see L{OutCodec}).
    out_codec: "OutCodec | None"

    def write_out(self, data: bytes) -> None:
        """Send bytes already encoded with ``out_codec``: never blocks, never raises (as deliver)."""


@dataclass
class HubConfig:
    server_name: str = "tchat"
    # A line saying what this server is (IRC's LINKS and WHOIS 312).
    server_info: str = "tchat"
    # The room that always exists and that someone in no room starts in (None: none).
    lobby: str | None = LOBBY
    motd: str | None = None
    max_users: int = 1000
    max_rooms_per_user: int = 50
    # Most connections (devices) logged in to one account at once.
    max_sessions: int = 10
    # Most names one connection watches (``watch``: IRC's MONITOR).
    max_watch: int = 100
    admin_password: str | None = field(default=None, repr=False)
    # "open": anyone may /register; "closed": only admins make accounts.
    registration: str = "open"
    guests: bool = True
    # Most private messages waiting for one offline user.
    offline_limit: int = 1000
    # Of those, most from one sender, and from all guests together.
    offline_per_sender: int = 100
    offline_from_guests: int = 100
    # Most messages of one sender fanned out but not yet stored (their oks wait).
    max_unstored: int = 32
    # What costs a password hash, per address (and /passwd per account too):
    # at once, and then how many an hour.
    register_burst: int = 10
    register_per_hour: float = 10.0
    passwd_burst: int = 3
    passwd_per_hour: float = 60.0

    @property
    def lobby_key(self) -> str | None:
        return name_key(self.lobby) if self.lobby is not None else None


@dataclass(eq=False, slots=True)
class Connection:
    """One client connection: a device of a user, or someone not yet logged in."""

    session: Session
    since: float
    # The door it came in by ("tcp", "web"), for metrics and /debug.
    door: str = "?"
    # Unique in the chat (across nodes); set by the state when it is added.
    id: str = ""
    # The node it is on when that is another node (its session stands in
    # for it there); None for this node's own connections.
    node: str | None = None
    user: "User | None" = None
    # Proved the admin password on this connection.
    admin: bool = False
    # Messages fanned out whose ok waits for the store, and who waits for them all.
    unstored: int = 0
    waiting_for_store: list[Deferred[None]] | None = None
    # The names it watches (``watch``), key -> the name as given; None until
    # it watches any. Kept by the state (L{tchat.chat.state.State.watch}).
    watching: dict[str, str] | None = None

    def stored_all(self) -> Deferred[None]:
        """Fires when none of this connection's messages waits for the store."""
        d: Deferred[None] = Deferred()
        if self.waiting_for_store is None:
            self.waiting_for_store = []
        self.waiting_for_store.append(d)
        return d

    @property
    def address(self) -> str:
        return self.session.describe().get("address", "?")

    @property
    def host(self) -> str:
        """The address without its port: what throttles count."""
        described = self.session.describe()
        return described.get("host", described.get("address", "?"))

    @property
    def name(self) -> str | None:
        return None if self.user is None else self.user.name

    def describe(self, here: str | None = None) -> dict[str, object]:
        """This connection for ``/debug`` and ``whoami``; with its node when there are several (``here``: this one's name)."""
        info = self.session.describe()
        described: dict[str, object] = {"door": info.get("door", "?"), "address": info.get("address", "?"), "since": self.since}
        node = self.node or here
        if node is not None:
            described["node"] = node
        return described


@dataclass(eq=False, slots=True)
class User:
    """Someone logged in under a name: a guest, or an account on one or more devices."""

    key: str
    name: str
    registered: bool = False
    rooms: dict[str, "Room"] = field(default_factory=dict)
    # Its connections, oldest first; never empty while the user is online.
    connections: list[Connection] = field(default_factory=list)
    # Keys of this user's contacts, and of those offered as contacts while
    # online (replaced, never changed in place: most users have none, and
    # share the one empty frozenset).
    contacts: frozenset[str] = frozenset()
    offered: frozenset[str] = frozenset()
    # Whether this user's offline messages are being delivered, and
    # whether more arrived meanwhile.
    delivering_offline: bool = False
    offline_again: bool = False
    # What /away said, given to whoever writes to them; None when here.
    away: str | None = None
    # When this user last sent a message through this node (for /whois).
    active: float | None = None
    # Read markers (``markread``): target key -> the time read up to; None
    # until one is set. Kept by the state (L{tchat.chat.state.State.mark_read}).
    read: dict[str, float] | None = None

    def hosts(self) -> list[str]:
        """The addresses of its connections: what a guest's ban or mute is about besides its name."""
        return [c.host for c in self.connections]


@dataclass(eq=False, slots=True)
class Room:
    name: str
    members: dict[str, User] = field(default_factory=dict)
    # The members' keys, sorted (a key is the name folded): kept by the state
    # as members come and go, so a join's member list is not sorted again.
    order: list[str] = field(default_factory=list)
    # Every connection of every member: what a fan-out walks.
    connections: dict[Connection, None] = field(default_factory=dict)
    # How many of those are on each door: a fan-out counts its deliveries
    # from this, not one by one (see tchat.metrics).
    doors: Counter[str] = field(default_factory=Counter)
    # Connections of members on other nodes, counted by node (they are not
    # in ``connections``: their own node fans out to them).
    remote: Counter[str] = field(default_factory=Counter)
    # What its operators decided (replaced whole through the state seam).
    settings: RoomSettings = field(default_factory=RoomSettings)
    # When each member (by key) joined, for history visibility "since_join".
    joined: dict[str, float] = field(default_factory=dict)

    # ``connections`` as a tuple, made again only after a member came or went:
    # a fan-out takes the tuple as it is, and fan-outs with the same one
    # reached the same members (see L{tchat.chat.delivery.LocalDelivery.flush}).
    _fanout: "tuple[Connection, ...] | None" = field(default=None, repr=False, compare=False)
    # The name folded (L{name_key}), made once: a room's name never changes,
    # and every message looks its room up by it.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = name_key(self.name)

    def fanout(self) -> "tuple[Connection, ...]":
        """This node's connections in the room, the same tuple until one comes or goes."""
        members = self._fanout
        if members is None:
            members = self._fanout = tuple(self.connections)
        return members

    def names(self) -> list[str]:
        """The members' names, in the order of their keys (``order``)."""
        members = self.members
        return [members[key].name for key in self.order]
