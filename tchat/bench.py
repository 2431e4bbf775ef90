"""
``tchat-bench``: put a chat server under load and measure what it delivers.

One process, one Twisted reactor (epoll on Linux), N client connections:

1. **Setup.** Connect N clients (at most ``--concurrency`` connecting or
   logging in at once), log each in and put it in one room. In tchat's JSON
   mode that is ``login`` (which puts everyone in ``#lobby``), then ``join``
   unless the room is ``#lobby``; in IRC it is ``NICK``/``USER``, wait for
   ``001``, ``JOIN``, wait for ``366`` (end of names). The connect/login rate is
   N over the time this takes.
2. **Phases.** In each phase S of the clients (the senders) send M messages
   each to the room, either as fast as the server takes them (rate 0, "burst":
   each sender keeps at most ``--window`` messages that have not yet reached
   every member in flight) or at a set total rate (open loop: messages leave
   on schedule whatever the server does). Each message's text carries a
   marker ``~SENDER:SEQ:SENT_AT~``; every member that receives it yields one
   *delivery* and one latency sample (receive time minus ``SENT_AT``, both
   from this process's monotonic clock).
3. **Report.** Deliveries per second, latency percentiles, the connect/login
   rate, the server's RSS (from ``/proc/PID/status`` with ``--server-pid``)
   before connecting, once everyone is logged in and after each phase, and
   this process's own CPU time next to the wall time, so a run in which the
   bench itself was the bottleneck shows as one.

The bench must cost much less per delivery than the server it measures, so
received bytes are never split into lines or parsed as JSON on the hot path:
each read is cut at its last newline and one compiled regular expression
finds the markers in it. Lines are looked at one by one only when a cheap
byte search finds something that needs an answer or a record (a reply during
login, an error, a ping).

Everything is bounded: each connection has a connect timeout and a login
timeout, a phase ends when nothing has moved for ``--stall`` seconds, and the
whole run ends at ``--timeout``. Only loopback addresses are accepted unless
``--allow-remote`` is given.
"""

from __future__ import annotations

import argparse
import array
import gc
import ipaddress
import json
import math
import os
import platform
import re
import resource
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

from twisted.internet.defer import Deferred, TimeoutError as DeferredTimeout
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

LOBBY = "#lobby"
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
IRC_ROOM = "#bench"

# ~SENDER:SEQ:SENT_AT~ : the key "SENDER:SEQ" names a message uniquely over a
# whole run (sequence numbers go on from one phase to the next).
MARK = re.compile(rb"~(\d+:\d+):([\d.]+)~")


class BenchError(Exception):
    """A run that cannot start or cannot go on; the text says why."""


# -- numbers ---------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> float:
    """
    The nearest-rank ``p``-th percentile (0 < p <= 100) of values sorted in
    ascending order: the smallest value that at least ``p`` percent of the
    values are less than or equal to. NaN for no values.
    """
    n = len(ordered)
    if n == 0:
        return math.nan
    rank = math.ceil(p * n / 100 - 1e-9)
    return ordered[min(max(rank, 1), n) - 1]


def summarize(values: Iterable[float], scale: float = 1.0) -> dict[str, Any]:
    """
    ``count``, ``mean``, ``min``, ``p50``, ``p90``, ``p99``, ``max`` of
    ``values``, each multiplied by ``scale`` (1000 turns seconds into ms).
    The statistics are None when there are no values.
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return {"count": 0, "mean": None, "min": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {
        "count": n,
        "mean": math.fsum(ordered) / n * scale,
        "min": ordered[0] * scale,
        "p50": percentile(ordered, 50) * scale,
        "p90": percentile(ordered, 90) * scale,
        "p99": percentile(ordered, 99) * scale,
        "max": ordered[-1] * scale,
    }


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


def read_rss_kib(pid: int | None) -> int | None:
    """Resident memory of process ``pid`` in KiB (``VmRSS``), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU seconds process ``pid`` (all its threads) has used, or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


# -- configuration ---------------------------------------------------------


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
        if not self.room_name().startswith("#"):
            raise BenchError("--room must start with #")
        for name in ("connect_timeout", "login_timeout", "timeout", "stall"):
            if getattr(self, name) <= 0:
                raise BenchError(f"--{name.replace('_', '-')} must be more than 0")


# -- the clients -----------------------------------------------------------


class LoadClient(Protocol):
    # A TCP (or TLS) transport, not just ITransport: TCP_NODELAY, abortConnection, getHandle.
    transport: Any
    """
    One connection of the bench. Subclasses speak a protocol: how to log in
    and join, how to send a room message, and which lines need a look.

    ``ready`` fires once the client is in the room, or fails with
    L{BenchError} if login or join fails or times out.
    """

    # Byte strings whose presence in a read means its lines must be looked
    # at one by one (during setup, and once set up).
    SETUP_WATCH: tuple[bytes, ...] = ()
    RUN_WATCH: tuple[bytes, ...] = ()

    def __init__(self, bench: "Bench", index: int) -> None:
        self.bench = bench
        self.index = index
        self.name = f"{bench.config.name_prefix}{index}"
        self.room = bench.config.room_name()
        self.ready: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self.is_ready = False
        self.connected = False
        self.received = 0
        self.sent = 0
        self.credit = 0
        self.to_send = 0
        self.started_at = 0.0
        self.connected_at: float | None = None
        self.ready_at: float | None = None
        self.connecting: Deferred[Any] | None = None
        self._quickack: socket.socket | None = None
        self._tail = b""
        self._watch = self.SETUP_WATCH
        self._login_timer: Any = None

    # Twisted calls these.

    def connectionMade(self) -> None:
        self.connected = True
        if self.bench.config.nodelay:
            try:
                self.transport.setTcpNoDelay(True)
            except (AttributeError, OSError):
                pass
        if self.bench.config.quickack and QUICKACK is not None:
            handle = getattr(self.transport, "getHandle", None)
            sock = handle() if handle else None
            if isinstance(sock, socket.socket):
                self._quickack = sock
        self.connected_at = self.bench.now()
        self._login_timer = self.bench.reactor.callLater(
            self.bench.config.login_timeout, self.fail, f"not in the room after {self.bench.config.login_timeout:g} s"
        )
        self.start_login()

    def dataReceived(self, data: bytes) -> None:
        bench = self.bench
        bench.bytes_in += len(data)
        if self._quickack is not None:
            # Linux falls back to delayed ACKs on its own; ask again after each read.
            try:
                assert QUICKACK is not None
                self._quickack.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            except OSError:
                self._quickack = None
        if self._tail:
            data = self._tail + data
        cut = data.rfind(b"\n") + 1
        if cut != len(data):
            self._tail = data[cut:]
            if len(self._tail) > 1 << 20:
                self.fail("a line of more than 1 MiB")
                return
            data = data[:cut]
            if not data:
                return
        elif self._tail:
            self._tail = b""
        if bench.counting:
            found = bench.count(data, self)
            if found == data.count(b"\n"):
                return  # every line was a delivery: nothing else to look at
        else:
            for needle in self._watch:
                if needle in data:
                    break
            else:
                return
        for line in data.split(b"\n"):
            line = line.rstrip(b"\r")
            if line:
                self.line_received(line)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.connected = False
        self._cancel_timer()
        if not self.ready.called:
            self.fail(f"connection closed while logging in: {reason.getErrorMessage() if reason else '?'}")
        elif self.is_ready:
            self.bench.member_lost(self, reason)
        if not self.lost.called:
            self.lost.callback(None)

    # Subclasses supply these.

    def start_login(self) -> None:
        raise NotImplementedError

    def line_received(self, line: bytes) -> None:
        raise NotImplementedError

    def message_line(self, text: bytes) -> bytes:
        raise NotImplementedError

    # Shared.

    def send_text(self, text: bytes) -> None:
        self.transport.write(self.message_line(text))

    def in_room(self) -> None:
        """The client is logged in and in the room."""
        if self.ready.called:
            return
        self._cancel_timer()
        self.is_ready = True
        self.ready_at = self.bench.now()
        self._watch = self.RUN_WATCH
        self.ready.callback(None)

    def fail(self, why: str) -> None:
        """Login or join failed: ``ready`` fails and the connection is dropped."""
        self._cancel_timer()
        if not self.ready.called:
            self.ready.errback(BenchError(f"{self.name}: {why}"))
        if self.connected and self.transport is not None:
            self.transport.abortConnection()

    def _cancel_timer(self) -> None:
        if self._login_timer is not None and self._login_timer.active():
            self._login_timer.cancel()
        self._login_timer = None


class TchatClient(LoadClient):
    """tchat's JSON mode: one JSON object per line, both ways."""

    SETUP_WATCH = (b'"event":"logged_in"', b'"re":2', b'"event":"error"', b'"event":"bye"',
                   b'"event":"ping"', b'"event":"shutdown"')
    RUN_WATCH = (b'"event":"error"', b'"event":"bye"', b'"event":"ping"', b'"event":"shutdown"')

    def start_login(self) -> None:
        self.transport.write(json.dumps({"action": "login", "user": self.name, "id": 1}).encode() + b"\n")
        self._prefix = b'{"action":"msg","to":%s,"text":"' % json.dumps(self.room).encode()

    def message_line(self, text: bytes) -> bytes:
        return self._prefix + text + b'"}\n'

    def line_received(self, line: bytes) -> None:
        if not line.startswith(b"{") or b'"event":"message"' in line or b'"event":"ok"' in line and self.is_ready:
            return  # the text greeting, a message (counted already), or the ok for a message
        if not self.is_ready:
            if b'"event":"logged_in"' in line:
                if self.bench.config.no_room:
                    self.transport.write(json.dumps({"action": "part", "room": LOBBY, "id": 2}).encode() + b"\n")
                elif self.room.casefold() == LOBBY:
                    self.in_room()
                else:
                    self.transport.write(json.dumps({"action": "join", "room": self.room, "id": 2}).encode() + b"\n")
                return
            if b'"event":"ok"' in line and b'"re":2' in line:
                self.in_room()
                return
        try:
            event = json.loads(line)
        except ValueError:
            return
        name = event.get("event")
        if name == "ping":
            self.transport.write(json.dumps({"action": "pong", "token": event.get("token")}).encode() + b"\n")
        elif name == "error":
            if not self.is_ready:
                self.fail(f"{event.get('code')}: {event.get('text')}")
            else:
                self.bench.server_error(self, str(event.get("code")), str(event.get("text")))
        elif name in ("bye", "shutdown"):
            if not self.is_ready:
                self.fail(f"server said {name}: {event.get('text')}")
            else:
                self.bench.server_error(self, name, str(event.get("text")))


# IRC numerics that end a login or a join.
IRC_FATAL = {b"401", b"403", b"405", b"431", b"432", b"433", b"436", b"437", b"451", b"461", b"462",
             b"464", b"465", b"471", b"473", b"474", b"475", b"476", b"477"}


class IrcClient(LoadClient):
    """Enough IRC to log in, join a channel, send PRIVMSG and answer PING."""

    SETUP_WATCH = (b"PING", b"ERROR", b" 001 ", b" 366 ", b" 40", b" 43", b" 45", b" 46", b" 47")
    RUN_WATCH = (b"PING", b"ERROR", b" 40", b" 41", b" 42", b" 43", b" 44", b" 47", b" 48")

    def start_login(self) -> None:
        name = self.name.encode()
        self.transport.write(b"NICK %s\r\nUSER %s 0 * :tchat-bench\r\n" % (name, name))
        self._prefix = b"PRIVMSG %s :" % self.room.encode()

    def message_line(self, text: bytes) -> bytes:
        return self._prefix + text + b"\r\n"

    def line_received(self, line: bytes) -> None:
        if line.startswith(b"PING"):
            self.transport.write(b"PONG" + line[4:] + b"\r\n")
            return
        if line.startswith(b"ERROR"):
            why = line.decode("utf-8", "replace")
            if self.is_ready:
                self.bench.server_error(self, "ERROR", why)
            else:
                self.fail(why)
            return
        parts = line.split(b" ", 3)
        if len(parts) < 2 or not line.startswith(b":"):
            return
        command = parts[1]
        if command == b"PRIVMSG" or command == b"NOTICE":
            return  # a message (counted already), or a notice
        if command == b"001" and not self.is_ready:
            if self.bench.config.no_room:
                self.in_room()
            else:
                self.transport.write(b"JOIN %s\r\n" % self.room.encode())
        elif command == b"366" and not self.is_ready:
            if len(parts) > 3 and parts[3].split(b" ", 1)[0].lower() == self.room.encode().lower():
                self.in_room()
        elif len(command) == 3 and command.isdigit() and command[:1] == b"4":
            why = line.decode("utf-8", "replace")
            if not self.is_ready and command in IRC_FATAL:
                self.fail(why)
            elif self.is_ready:
                self.bench.server_error(self, command.decode(), why)


# -- the bench -------------------------------------------------------------


def _report_connect_failure(failure: Any, client: "LoadClient") -> None:
    client.fail(f"cannot connect: {failure.getErrorMessage()}")


class Bench:
    """
    Runs one configured load against one server and collects the results.
    L{run} does everything and returns the results as a dict (see
    L{format_summary} for what they mean); L{close} drops every connection.
    """

    def __init__(self, config: BenchConfig, reactor: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        config.check()
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.config = config
        self.reactor = reactor
        self.now = clock
        self.address = check_host(config.host, config.allow_remote)
        self.clients: list[LoadClient] = []
        self.senders: list[LoadClient] = []
        self.bytes_in = 0
        self.counting = False
        self.closing = False
        self.lost_members = 0
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.deadline = 0.0
        # Per phase:
        self.pending: dict[bytes, int] = {}
        self.latencies = array.array("d")
        self.delivered = 0
        self.unexpected = 0
        self.completed = 0
        self.sent_total = 0
        self.phase_total = 0
        self.first_send = 0.0
        self.last_send = 0.0
        self.last_delivery = 0.0
        self.last_progress = 0.0
        self.max_send_lag = 0.0
        self.burst = False
        self._phase_done: Deferred[str] | None = None
        self._send_timer: Any = None
        self._watchdog: Any = None

    # -- the run --------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        config = self.config
        started = self.now()
        self.deadline = started + config.timeout
        cpu0 = own_cpu()
        results: dict[str, Any] = {
            "tool": "tchat-bench",
            "protocol": config.protocol,
            "server": {"host": self.address, "port": config.port, "pid": config.server_pid},
            "config": {
                "connections": config.connections,
                "senders": config.senders,
                "phases": [asdict(p) for p in config.phases],
                "window": config.window,
                "size": config.size,
                "room": config.room_name(),
                "concurrency": config.concurrency,
                "source_ips": config.source_ips,
                "ack": "quick" if config.quickack else "delayed",
                "no_room": config.no_room,
            },
            "ok": False,
            "memory": {"rss_kib": {"before": read_rss_kib(config.server_pid)}},
            "phases": [],
        }
        try:
            results["setup"] = await self.connect_all()
            await self.settle()
            results["memory"]["rss_kib"]["logged_in"] = read_rss_kib(config.server_pid)
            for number, phase in enumerate(config.phases, 1):
                if phase.messages == 0:
                    continue
                outcome = await self.run_phase(phase)
                outcome["phase"] = number
                results["phases"].append(outcome)
                await self.settle()
                results["memory"]["rss_kib"][f"after_phase_{number}"] = read_rss_kib(config.server_pid)
            results["ok"] = all(p["complete"] for p in results["phases"]) and self.lost_members == 0
        except BenchError as e:
            results["error"] = str(e)
        rss = results["memory"]["rss_kib"]
        rss["after_run"] = read_rss_kib(config.server_pid)
        if rss.get("before") is not None and rss.get("logged_in") is not None:
            results["memory"]["per_connection_kib"] = (rss["logged_in"] - rss["before"]) / config.connections
        cpu1 = own_cpu()
        results["bench"] = {
            "wall_s": self.now() - started,
            "cpu_user_s": cpu1[0] - cpu0[0],
            "cpu_system_s": cpu1[1] - cpu0[1],
            "python": platform.python_version(),
            "reactor": type(self.reactor).__name__,
        }
        results["lost_connections"] = self.lost_members
        results["server_errors"] = dict(self.errors)
        if self.error_samples:
            results["server_error_samples"] = self.error_samples
        return results

    def remaining(self) -> float:
        left = self.deadline - self.now()
        if left <= 0:
            raise BenchError(f"the run took longer than --timeout {self.config.timeout:g} s")
        return left

    async def _wait(self, d: Deferred[Any], what: str) -> Any:
        try:
            return await d.addTimeout(self.remaining(), self.reactor)
        except DeferredTimeout:
            raise BenchError(f"--timeout {self.config.timeout:g} s reached while {what}") from None

    # -- setup ----------------------------------------------------------

    def make_client(self, index: int) -> LoadClient:
        return (TchatClient if self.config.protocol == "tchat" else IrcClient)(self, index)

    def endpoint(self, index: int) -> Any:
        from twisted.internet import endpoints

        config = self.config
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return endpoints.HostnameEndpoint(self.reactor, self.address, config.port, timeout=config.connect_timeout)
        if ip.version == 6:
            return endpoints.TCP6ClientEndpoint(self.reactor, self.address, config.port, timeout=config.connect_timeout)
        bind = None
        if config.source_ips > 1 and ip.is_loopback:
            bind = (f"127.0.0.{1 + index % config.source_ips}", 0)
        return endpoints.TCP4ClientEndpoint(
            self.reactor, self.address, config.port, timeout=config.connect_timeout, bindAddress=bind
        )

    async def connect_all(self) -> dict[str, Any]:
        """Connect, log in and seat every client; at most ``concurrency`` at a time."""
        from twisted.internet.endpoints import connectProtocol

        config = self.config
        total = config.connections
        started = self.now()
        all_in: Deferred[None] = Deferred()
        state = {"next": 0, "active": 0, "ready": 0}

        def launch() -> None:
            while state["next"] < total and state["active"] < config.concurrency and not all_in.called:
                index = state["next"]
                state["next"] += 1
                state["active"] += 1
                client = self.make_client(index)
                client.started_at = self.now()
                self.clients.append(client)
                client.connecting = connectProtocol(self.endpoint(index), client)
                client.connecting.addErrback(_report_connect_failure, client)
                client.ready.addCallbacks(seated, failed)

        def seated(_: Any) -> None:
            state["active"] -= 1
            state["ready"] += 1
            if state["ready"] == total:
                if not all_in.called:
                    all_in.callback(None)
            else:
                launch()

        def failed(f: Failure) -> None:
            if not all_in.called:
                all_in.errback(f)

        launch()
        try:
            await self._wait(all_in, f"connecting ({state['ready']} of {total} in the room)")
        except BenchError as e:
            raise BenchError(f"setup failed with {state['ready']} of {total} in the room: {e}") from None
        done = self.now()
        connected = [c.connected_at for c in self.clients if c.connected_at is not None]
        wall = done - started
        self.senders = self.clients[: config.senders]
        return {
            "connections": total,
            "seconds": wall,
            "logins_per_s": total / wall if wall > 0 else None,
            "connects_per_s": total / (max(connected) - started) if connected and max(connected) > started else None,
            "login_ms": summarize((c.ready_at - c.started_at for c in self.clients if c.ready_at), 1000.0),
        }

    async def settle(self) -> None:
        """Wait until nothing has arrived for ``settle`` seconds (at most 30 s): the server is quiet."""
        if self.config.settle <= 0:
            return
        quiet_for = self.config.settle
        limit = self.now() + 30.0
        last = self.bytes_in
        quiet_since = self.now()
        while self.now() < limit:
            self.remaining()
            d: Deferred[None] = Deferred()
            self.reactor.callLater(min(0.1, quiet_for), d.callback, None)
            await d
            if self.bytes_in != last:
                last = self.bytes_in
                quiet_since = self.now()
            elif self.now() - quiet_since >= quiet_for:
                return

    # -- a phase --------------------------------------------------------

    async def run_phase(self, phase: Phase) -> dict[str, Any]:
        config = self.config
        members = len(self.clients)
        self.pending = {}
        self.latencies = array.array("d")
        self.delivered = self.unexpected = self.completed = self.sent_total = 0
        self.max_send_lag = 0.0
        self.burst = phase.rate <= 0
        self.phase_total = phase.messages * len(self.senders)
        self._phase_done = Deferred()
        for client in self.clients:
            client.received = 0
            client.sent = 0
        for sender in self.senders:
            sender.to_send = phase.messages
            sender.credit = config.window
        lost_before = self.lost_members
        # A collection of the bench's own garbage in mid-phase would show up
        # as latency of the server; what a phase makes is short-lived and
        # acyclic, so the collector stays off until the phase ends.
        gc.collect()
        gc_was_on = gc.isenabled()
        gc.disable()
        server_cpu0 = read_cpu_seconds(config.server_pid)
        cpu0 = own_cpu()
        self.counting = True
        self.first_send = self.last_send = self.last_delivery = self.last_progress = self.now()
        if phase.rate > 0:
            self._schedule(phase.rate, self.first_send)
        else:
            for sender in self.senders:
                self._pump(sender)
        self._watchdog = self.reactor.callLater(0.25, self._check_stall)
        try:
            why = await self._wait(self._phase_done, f"running a {phase.kind} phase")
        finally:
            self.counting = False
            if gc_was_on:
                gc.enable()
            for timer in (self._watchdog, self._send_timer):
                if timer is not None and timer.active():
                    timer.cancel()
            self._watchdog = self._send_timer = None
        cpu1 = own_cpu()
        server_cpu1 = read_cpu_seconds(config.server_pid)
        end = self.last_delivery if self.delivered else self.now()
        wall = max(end - self.first_send, 1e-9)
        expected = self.sent_total * (members - 1)
        short = 0
        for client in self.clients:
            if client.received < self.sent_total - client.sent:
                short += 1
        bench_cpu = (cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1])
        outcome: dict[str, Any] = {
            "kind": phase.kind,
            "rate": phase.rate,
            "senders": len(self.senders),
            "messages_per_sender": phase.messages,
            "members": members,
            "window": config.window if phase.rate <= 0 else None,
            "end": why,
            "complete": why == "done" and self.delivered == expected and self.lost_members == lost_before,
            "messages_sent": self.sent_total,
            "messages_complete": self.completed,
            "deliveries_expected": expected,
            "deliveries": self.delivered,
            "deliveries_missing": expected - self.delivered,
            "deliveries_unexpected": self.unexpected,
            "members_short": short,
            "seconds": wall,
            "deliveries_per_s": self.delivered / wall,
            "messages_per_s": self.completed / wall,
            "send_seconds": self.last_send - self.first_send,
            "latency_ms": summarize(self.latencies, 1000.0),
            "bench_cpu_s": bench_cpu,
            "bench_cpu_share": bench_cpu / wall,
        }
        if phase.rate > 0:
            span = self.last_send - self.first_send
            outcome["send_rate"] = (self.sent_total - 1) / span if span > 0 and self.sent_total > 1 else None
            outcome["max_send_lag_ms"] = self.max_send_lag * 1000.0
        if server_cpu0 is not None and server_cpu1 is not None:
            outcome["server_cpu_s"] = server_cpu1 - server_cpu0
            outcome["server_cpu_us_per_delivery"] = (
                (server_cpu1 - server_cpu0) / self.delivered * 1e6 if self.delivered else None
            )
        self.latencies = array.array("d")
        return outcome

    def _send(self, sender: LoadClient) -> None:
        now = self.now()
        seq = self.sent_total
        text = b"~%d:%d:%.6f~" % (sender.index, seq, now)
        pad = self.config.size - len(text)
        if pad > 0:
            text += b"x" * pad
        self.pending[b"%d:%d" % (sender.index, seq)] = len(self.clients) - 1
        self.sent_total += 1
        sender.sent += 1
        sender.to_send -= 1
        self.last_send = self.last_progress = now
        sender.send_text(text)

    def _pump(self, sender: LoadClient) -> None:
        while sender.credit > 0 and sender.to_send > 0 and sender.connected:
            sender.credit -= 1
            self._send(sender)

    def _schedule(self, rate: float, start: float) -> None:
        """Open loop: message k (of all senders, in turn) leaves at start + k / rate."""
        senders = [s for s in self.senders if s.to_send > 0]
        turn = 0

        def tick() -> None:
            nonlocal turn
            now = self.now()
            due = min(self.phase_total, int((now - start) * rate) + 1)
            while self.sent_total < due and senders:
                sender = senders[turn % len(senders)]
                if sender.to_send <= 0 or not sender.connected:
                    senders.remove(sender)
                    continue
                self.max_send_lag = max(self.max_send_lag, now - (start + self.sent_total / rate))
                self._send(sender)
                turn += 1
            if self.sent_total < self.phase_total and senders:
                next_at = start + self.sent_total / rate
                self._send_timer = self.reactor.callLater(max(0.0, next_at - self.now()), tick)
            else:
                self._maybe_done()

        tick()

    def count(self, data: bytes, receiver: LoadClient) -> int:
        """Count the deliveries in ``data`` (whole lines) that ``receiver`` got; the hot path."""
        found = MARK.findall(data)
        if not found:
            return 0
        receiver.received += len(found)
        now = self.now()
        pending = self.pending
        add = self.latencies.append
        for key, sent_at in found:
            left = pending.get(key)
            if left is None:
                self.unexpected += 1
                continue
            add(now - float(sent_at))
            if left > 1:
                pending[key] = left - 1
            else:
                del pending[key]
                self.completed += 1
                sender = self.clients[int(key[: key.index(b":")])]
                sender.credit += 1
                if self.burst and sender.to_send > 0:
                    self._pump(sender)
        self.delivered += len(found)
        self.last_delivery = self.last_progress = now
        if not pending and self.sent_total == self.phase_total:
            self._maybe_done()
        return len(found)

    def _maybe_done(self) -> None:
        if not self.pending and self.sent_total >= self.phase_total:
            self._finish("done")

    def _finish(self, why: str) -> None:
        if self._phase_done is not None and not self._phase_done.called:
            self._phase_done.callback(why)

    def _check_stall(self) -> None:
        if self._phase_done is None or self._phase_done.called:
            return
        if self.now() - self.last_progress >= self.config.stall:
            self._finish(f"stalled: nothing sent or delivered for {self.config.stall:g} s")
            return
        self._watchdog = self.reactor.callLater(0.25, self._check_stall)

    # -- events from the clients -----------------------------------------

    def server_error(self, client: LoadClient, code: str, text: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{client.name}: {code}: {text}"[:300])

    def member_lost(self, client: LoadClient, reason: Failure | None) -> None:
        if self.closing:
            return
        self.lost_members += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{client.name}: connection lost: {reason.getErrorMessage() if reason else '?'}")

    # -- the end --------------------------------------------------------

    def close(self) -> Deferred[Any]:
        """Drop every connection (and stop those still connecting); fires once all are gone."""
        from twisted.internet.defer import DeferredList

        self.closing = True
        waits = []
        for client in self.clients:
            client._cancel_timer()
            if client.connecting is not None and not client.connecting.called:
                client.connecting.cancel()
            if client.connected and client.transport is not None:
                client.transport.abortConnection()
                waits.append(client.lost)
        return DeferredList(waits, consumeErrors=True)


# -- output ----------------------------------------------------------------


def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def format_summary(results: dict[str, Any]) -> str:
    """The results for a person to read."""
    out = []
    server = results["server"]
    config = results["config"]
    where = "logged in, in no room" if config.get("no_room") else f"in {config['room']}"
    out.append(
        f"tchat-bench: {results['protocol']} server at {server['host']}:{server['port']}, "
        f"{config['connections']} connections {where}"
    )
    setup = results.get("setup")
    if setup:
        login = setup["login_ms"]
        out.append(
            f"  setup: {setup['connections']} connected and {'logged in' if config.get('no_room') else 'in the room'} in {setup['seconds']:.2f} s "
            f"({_num(setup['logins_per_s'])} logins/s; TCP connects {_num(setup['connects_per_s'])}/s); "
            f"login ms p50 {_num(login['p50'], '{:.1f}')} p99 {_num(login['p99'], '{:.1f}')}"
        )
    for p in results["phases"]:
        how = (f"as fast as taken, window {p['window']}" if p["kind"] == "burst" else f"{p['rate']:g} msg/s total")
        lat = p["latency_ms"]
        out.append(
            f"  phase {p['phase']} {p['kind']} ({p['senders']} senders x {p['messages_per_sender']} messages, {how}):"
        )
        out.append(
            f"    {p['deliveries']:,}/{p['deliveries_expected']:,} deliveries in {p['seconds']:.2f} s = "
            f"{_num(p['deliveries_per_s'])} deliveries/s ({_num(p['messages_per_s'])} messages/s)"
            + ("" if p["complete"] else f"  INCOMPLETE ({p['end']}; {p['members_short']} members short)")
        )
        out.append(
            f"    latency ms: p50 {_num(lat['p50'], '{:.2f}')}  p90 {_num(lat['p90'], '{:.2f}')}  "
            f"p99 {_num(lat['p99'], '{:.2f}')}  max {_num(lat['max'], '{:.2f}')}"
        )
        extra = f"    bench CPU {p['bench_cpu_s']:.2f} s over {p['seconds']:.2f} s ({p['bench_cpu_share']:.0%})"
        if p.get("server_cpu_s") is not None:
            extra += f"; server CPU {p['server_cpu_s']:.2f} s = {_num(p['server_cpu_us_per_delivery'], '{:.2f}')} us/delivery"
        if p["kind"] == "steady":
            extra += f"; sent at {_num(p.get('send_rate'), '{:.1f}')} msg/s, max send lag {_num(p.get('max_send_lag_ms'), '{:.1f}')} ms"
        out.append(extra)
        if p["bench_cpu_share"] > 0.9:
            out.append("    WARNING: the bench used more than 90% of a CPU; it may be the bottleneck")
    memory = results["memory"]
    rss = memory["rss_kib"]
    if rss.get("before") is not None:
        parts = ", ".join(f"{k.replace('_', ' ')} {_num(v / 1024, '{:.1f}')} MiB" for k, v in rss.items() if v is not None)
        per = memory.get("per_connection_kib")
        out.append(f"  server RSS: {parts}" + (f"; {per:.1f} KiB per idle connection" if per is not None else ""))
    bench = results["bench"]
    cpu = bench["cpu_user_s"] + bench["cpu_system_s"]
    out.append(
        f"  bench: wall {bench['wall_s']:.2f} s, CPU {cpu:.2f} s (user {bench['cpu_user_s']:.2f}, "
        f"system {bench['cpu_system_s']:.2f}), {bench['reactor']}"
    )
    if results.get("server_errors"):
        out.append(f"  server errors: {results['server_errors']}")
    if results.get("lost_connections"):
        out.append(f"  connections lost during the run: {results['lost_connections']}")
    for sample in results.get("server_error_samples", []):
        out.append(f"    e.g. {sample}")
    if results.get("error"):
        out.append(f"  FAILED: {results['error']}")
    out.append("  result: " + ("ok" if results["ok"] else "NOT OK"))
    return "\n".join(out)


# -- command line ----------------------------------------------------------


def _numbers(text: str, kind: Callable[[str], Any]) -> list[Any]:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def parse_args(argv: Sequence[str] | None = None) -> tuple[BenchConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="tchat-bench",
        description=(
            "Load a chat server (tchat in JSON mode, or an IRC server) with N connections in one room, "
            "have S of them send messages, and report deliveries/s, latency percentiles, the login rate, "
            "the server's memory per connection and the bench's own CPU time."
        ),
        epilog=(
            "Phases: --rate and --messages take comma-separated lists, one value per phase, run one after "
            "the other on the same connections (a single value applies to every phase); rate 0 means as fast "
            "as the server takes them. Example: --rate 0,250 --messages 100,50 runs a burst and then a "
            "steady 250 msg/s phase."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="server address; loopback only unless --allow-remote (default 127.0.0.1)")
    parser.add_argument("--port", "-p", type=int, default=None, help="server port (default 4321 for tchat, 6667 for irc)")
    parser.add_argument("--protocol", choices=("tchat", "irc"), default="tchat", help="tchat JSON mode, or IRC (default tchat)")
    parser.add_argument("--connections", "-n", type=int, default=50, help="connections, all in one room (default 50)")
    parser.add_argument("--senders", "-s", type=int, default=None, help="connections that send (default min(10, N))")
    parser.add_argument("--messages", "-m", default="100", help="messages per sender, per phase (default 100)")
    parser.add_argument("--rate", "-r", default="0", help="total messages/s per phase; 0 = as fast as the server takes them (default 0)")
    parser.add_argument("--window", type=int, default=8, help="burst phases: messages a sender may have not yet delivered to everyone (default 8)")
    parser.add_argument("--size", type=int, default=64, help="bytes of message text, marker included (default 64)")
    parser.add_argument("--room", default=None, help="the room (default #lobby for tchat, #bench for irc)")
    parser.add_argument("--concurrency", type=int, default=100, help="connections being set up at once (default 100)")
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="seconds for one TCP connect (default 10)")
    parser.add_argument("--login-timeout", type=float, default=60.0, help="seconds from connect to being in the room (default 60)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)")
    parser.add_argument("--stall", type=float, default=10.0, help="end a phase when nothing moved for this many seconds (default 10)")
    parser.add_argument("--settle", type=float, default=0.5, help="quiet seconds to wait for before reading memory and between phases (default 0.5)")
    parser.add_argument("--server-pid", type=int, default=None, help="the server's PID: read its RSS and CPU time from /proc")
    parser.add_argument("--source-ips", type=int, default=1, help="spread connections over 127.0.0.1..127.0.0.K (default 1)")
    parser.add_argument("--name-prefix", default="b", help="user names are PREFIX + number (default b)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a host that is not loopback")
    parser.add_argument(
        "--no-room", action="store_true",
        help="log in but stay in no room (tchat parts #lobby, IRC does not JOIN): holds many idle connections "
        "without every login being announced to everyone; needs --messages 0",
    )
    parser.add_argument(
        "--ack", choices=("quick", "delayed"), default="quick",
        help="quick: acknowledge every read at once (TCP_QUICKACK), as a client that also talks; "
        "delayed: the kernel's default for a client that only reads (default quick)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the summary")
    parser.add_argument("--output", "-o", default=None, help="also write the JSON results to this file")
    args = parser.parse_args(argv)
    messages = _numbers(args.messages, int)
    rates = _numbers(args.rate, float)
    count = max(len(messages), len(rates))
    if not count or (len(messages) not in (1, count)) or (len(rates) not in (1, count)):
        parser.error("--messages and --rate need the same number of values (or one)")
    messages = messages * count if len(messages) == 1 else messages
    rates = rates * count if len(rates) == 1 else rates
    config = BenchConfig(
        host=args.host,
        port=args.port if args.port is not None else (4321 if args.protocol == "tchat" else 6667),
        protocol=args.protocol,
        connections=args.connections,
        senders=min(10, args.connections) if args.senders is None else args.senders,
        phases=[Phase(m, r) for m, r in zip(messages, rates)],
        window=args.window,
        size=args.size,
        room=args.room,
        concurrency=args.concurrency,
        connect_timeout=args.connect_timeout,
        login_timeout=args.login_timeout,
        timeout=args.timeout,
        stall=args.stall,
        settle=args.settle,
        server_pid=args.server_pid,
        source_ips=args.source_ips,
        name_prefix=args.name_prefix,
        allow_remote=args.allow_remote,
        quickack=args.ack == "quick",
        no_room=args.no_room,
    )
    return config, args


def raise_file_limit(needed: int) -> int:
    """Raise the soft limit on open files towards ``needed``; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def main(argv: Sequence[str] | None = None) -> None:
    try:
        config, args = parse_args(argv)
        config.check()
        check_host(config.host, config.allow_remote)
    except BenchError as e:
        print(f"tchat-bench: {e}", file=sys.stderr)
        raise SystemExit(2)
    needed = config.connections + 64
    if raise_file_limit(needed) < needed:
        print(
            f"tchat-bench: {config.connections} connections need {needed} open files, but the hard limit "
            f"(ulimit -Hn) is {resource.getrlimit(resource.RLIMIT_NOFILE)[1]}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if "twisted.internet.reactor" not in sys.modules and sys.platform.startswith("linux"):
        from twisted.internet import epollreactor

        epollreactor.install()
    from twisted.internet import task

    async def go(reactor: Any) -> None:
        bench = Bench(config, reactor)
        try:
            results = await bench.run()
        finally:
            await bench.close()
        results["command"] = ["tchat-bench", *(sys.argv[1:] if argv is None else argv)]
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=2)
                f.write("\n")
        print(json.dumps(results, indent=2) if args.json else format_summary(results), flush=True)
        if not results["ok"]:
            raise SystemExit(1)

    task.react(lambda reactor: Deferred.fromCoroutine(go(reactor)))  # exits with go's status


if __name__ == "__main__":
    main()
