"""
What the service needs of a door, and how a door makes itself known.

- L{Door}: what ``tchat.tap`` may call on a built door, whichever it is;
- L{DoorKind}: a door module's entry in the registry (``tchat.door.DOORS``):
  its name, the ``--<name>-port`` option it listens on, its default, its
  help, and how to build one;
- L{BaseDoor}: the part of every door that is the same: the hub, the
  limits, the clock, and the L{SessionTable} of its open sessions.

Adding a door is: a module with its session class (mixing in
L{tchat.door.session.DoorSession}), its door (a L{BaseDoor} that provides
L{Door}) and a L{DoorKind}; and that kind in ``tchat.door.DOORS``. The
service builds every registered door, gives it an option, and listens for it
on each endpoint given (or its default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory, IReactorTime

from tchat.door.admission import Admission
from tchat.door.limits import Limits, format_address
from tchat.door.session import DoorSession
from tchat.door.table import SessionTable

if TYPE_CHECKING:
    from tchat.chat import Hub


class Door(Protocol):
    """What the service needs of a door: the one shape of every door, whatever its framing."""

    # What its sessions say they came through (``describe()``'s ``door``,
    # before the mode) and the ``door`` label of its metrics: "tcp", "web".
    name: str

    @property
    def factory(self) -> IProtocolFactory:
        """What to listen with; one door may listen on several endpoints."""

    @property
    def sessions(self) -> set[DoorSession]:
        """Its open sessions (read, never changed, by the caller)."""

    def wait_closed(self) -> Deferred[None]:
        """Fires once every session of this door has disconnected (at once if none is open)."""

    def reload(self, options: Mapping[str, Any]) -> None:
        """SIGHUP: take up the reloadable options of its own from ``options`` (the parsed ``twistd tchat`` options)."""


# How a door is built: from the parsed options, the hub, the limits every
# door shares (changed in place on SIGHUP), the clock, and the connection
# counts every door shares.
BuildDoor = Callable[[Mapping[str, Any], "Hub", Limits, IReactorTime, Admission], Door]


@dataclass(frozen=True)
class DoorKind:
    """
    One door in the registry. ``twistd tchat`` gets a ``--<option>`` for
    it, that may be repeated to listen on several endpoints (each a number
    or an endpoint string), and in a ``--config`` file the key ``<option>``,
    one value or a list.
    """

    # The L{Door.name} of the doors it builds: "tcp", "web", "irc".
    name: str
    # Its option's long name: "port", "web-port", "irc-port".
    option: str
    # Listened on when the option is not given: a number or an endpoint string.
    default: str
    # The option's help, for ``twistd tchat --help``.
    help: str
    build: BuildDoor
    # A one-letter synonym of the option ("p": ``-p 4321``).
    short: str | None = None
    # Whether ``--<option> off`` means listen nowhere (the door is built all the same, with no port).
    can_be_off: bool = False
    # How its listening ports are named in the log ("tchat web listening on …"); default "tchat <name>".
    log_as: str = ""

    @property
    def key(self) -> str:
        """Where the parsed options keep its endpoint strings: "ports", "web-ports"."""
        return self.option + "s"

    @property
    def listening_name(self) -> str:
        return self.log_as or f"tchat {self.name}"


class BaseDoor:
    """
    The part of a door that is the same in every door: the hub, the limits,
    the clock, and its open sessions (a L{SessionTable}, which admits them
    within the connection counts shared through ``admission``).
    """

    name = "?"

    def __init__(self, hub: Hub, limits: Limits, clock: IReactorTime, admission: Admission | None = None) -> None:
        self.hub = hub
        self.limits = limits
        self.clock = clock
        self.table = SessionTable(hub, limits, clock, admission)

    @property
    def sessions(self) -> set[DoorSession]:
        return self.table.sessions

    def wait_closed(self) -> Deferred[None]:
        """Fires once every session of this door has disconnected."""
        return self.table.wait_closed()

    def reload(self, options: Mapping[str, Any]) -> None:
        """Nothing of its own to reload (the shared limits change in place)."""

    @staticmethod
    def peer(transport: Any) -> tuple[str, str]:
        """
        ``(host, "host:port")`` of who is at the other end of ``transport``,
        for the connection counts, logs and ``/debug``. Behind a ``haproxy:``
        endpoint this is the proxy until the PROXY header has come, and the
        client from then on.
        """
        return format_address(transport.getPeer())
