"""
What a run is asked to do: the load (L{BenchConfig}, its L{Phase}s), the
checks that refuse numbers that cannot make a run, and the loopback-only rule
for the host (L{check_host}).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

LOBBY = "#lobby"
IRC_ROOM = "#bench"


class BenchError(Exception):
    """A run that cannot start or cannot go on; the text says why."""


def check_host(host: str, allow_remote: bool = False) -> str:
    """
    The address to connect to for ``host``. ``localhost`` and IP literals in
    the loopback ranges are accepted; anything else raises L{BenchError}
    unless ``allow_remote`` (a name is then left for the connection to
    resolve). No name is ever looked up here.
    """
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if allow_remote:
            return host
        raise BenchError(
            f"{host!r} is not a loopback address: tchat-bench loads servers on this machine only "
            "(127.0.0.0/8, ::1 or localhost); pass --allow-remote to load another machine"
        ) from None
    if not address.is_loopback and not allow_remote:
        raise BenchError(
            f"{host} is not a loopback address: tchat-bench loads servers on this machine only; "
            "pass --allow-remote to load another machine"
        )
    return str(address)


@dataclass
class Phase:
    """Senders send ``messages`` each; ``rate`` msg/s in total, or 0 for as fast as the server takes them."""

    messages: int
    rate: float = 0.0

    @property
    def kind(self) -> str:
        return "burst" if self.rate <= 0 else "steady"


@dataclass
class BenchConfig:
    host: str = "127.0.0.1"
    port: int = 4321
    protocol: str = "tchat"
    connections: int = 10
    senders: int = 1
    phases: list[Phase] = field(default_factory=lambda: [Phase(10)])
    window: int = 8
    size: int = 64
    room: str | None = None
    concurrency: int = 100
    connect_timeout: float = 10.0
    login_timeout: float = 60.0
    timeout: float = 300.0
    stall: float = 10.0
    settle: float = 0.5
    server_pid: int | None = None
    source_ips: int = 1
    name_prefix: str = "b"
    allow_remote: bool = False
    # Send each message at once rather than let Nagle's algorithm hold it
    # back behind an unacknowledged one (the bench's own sockets only).
    nodelay: bool = True
    # Acknowledge every read at once (TCP_QUICKACK, Linux), as a client that
    # also talks would; otherwise a receiver that only reads delays its ACKs
    # (40 ms at most) and a server that leaves Nagle's algorithm on holds its
    # next write to that receiver until the ACK comes.
    quickack: bool = True
    # Log in but stay in no room (tchat: part #lobby right after login; IRC:
    # no JOIN). For holding many idle connections without the O(N) join
    # announcement every login makes in a shared room; no messages then.
    no_room: bool = False
    # Several nodes of one chat: client i connects to ports[i % len(ports)]
    # (``port`` is the first), and latencies are split into same-node and
    # cross-node deliveries; the nodes' PIDs, to read each one's CPU time.
    ports: tuple[int, ...] = ()
    node_pids: tuple[int, ...] = ()
    # The members spread over this many processes (tchat.bench.workers): the
    # senders and a share of the others in this one, the rest in P - 1 workers.
    processes: int = 1

    def room_name(self) -> str:
        if self.room:
            return self.room
        return LOBBY if self.protocol == "tchat" else IRC_ROOM

    def check(self) -> None:
        """Raise L{BenchError} if the numbers cannot make a run."""
        if self.protocol not in ("tchat", "irc"):
            raise BenchError("--protocol is tchat or irc")
        if self.connections < 1:
            raise BenchError("--connections must be at least 1")
        if not 0 <= self.senders <= self.connections:
            raise BenchError("--senders must be between 0 and --connections")
        if any(p.messages < 0 or p.rate < 0 for p in self.phases):
            raise BenchError("--messages and --rate must not be negative")
        if any(p.messages > 0 for p in self.phases) and (self.senders < 1 or self.connections < 2):
            raise BenchError("sending messages needs at least one sender and two connections")
        if self.window < 1 or self.concurrency < 1:
            raise BenchError("--window and --concurrency must be at least 1")
        if not 24 <= self.size <= 400:
            raise BenchError("--size must be from 24 to 400 bytes (the marker takes about 24)")
        if not 1 <= self.source_ips <= 254:
            raise BenchError("--source-ips must be from 1 to 254")
        if self.no_room and any(p.messages > 0 for p in self.phases):
            raise BenchError("--no-room holds idle connections: use --messages 0")
        if self.processes < 1:
            raise BenchError("--processes must be at least 1")
        if self.processes > 1 and self.connections - self.senders < self.processes - 1:
            raise BenchError("--processes: every process but the first needs a member that does not send")
        if not self.room_name().startswith("#"):
            raise BenchError("--room must start with #")
        for name in ("connect_timeout", "login_timeout", "timeout", "stall"):
            if getattr(self, name) <= 0:
                raise BenchError(f"--{name.replace('_', '-')} must be more than 0")
