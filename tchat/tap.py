"""
``twistd tchat``: the options, and the service they build.

L{makeService} builds a L{ChatService}: the hub, every door of the registry
(L{tchat.door.DOORS}), and one listening service per endpoint each door's
option names (``--port``, ``--web-port``: any Twisted endpoint string; a bare
number means ``tcp:NUMBER``). The options and the service know doors only as
L{tchat.door.Door}s built from their L{tchat.door.DoorKind}s.

Stopping (``/shutdown``, SIGTERM, ``twistd``'s stop) always goes the same way:

1. stop listening, so nobody new arrives;
2. the hub tells everyone ``shutdown`` (unless ``/shutdown`` already did),
   then ``bye``, and closes each connection;
3. wait until every connection has gone (each gets a few seconds to take its
   last lines; then it is cut);
4. then the process exits.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import sys
from typing import Any, Callable, Sequence, cast

from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IReactorThreads
from twisted.logger import globalLogPublisher, ILogObserver, Logger, jsonFileLogObserver
from twisted.python.logfile import LogFile
from twisted.python import usage

from prometheus_client.twisted import MetricsResource
from twisted.web.resource import Resource
from twisted.web.server import Site

from tchat.config import arguments_from, config_path, given_on_command_line
from tchat.collect import PacedCollectionService
from tchat.door import DOORS, Door, DoorKind
from tchat.metrics import Metrics
from tchat.door.web import OriginPolicy, TrustedProxies
from tchat.door.admission import Admission
from tchat.door.limits import Limits
from tchat.chat import Hub, HubConfig
from tchat.cluster.bus import BusError
from tchat.cluster.node import LEASE, Node, NodeCollector
from tchat.startup import (
    RESERVED_DESCRIPTORS, ListeningService, StartupError, _rebind_failed, _say_startup_errors_plainly,
    exit_failed_at_end, fit_descriptor_limit,
)
from tchat.store import StoreError, check_database, open_store, parse_url
from tchat.names import LOBBY, BadName, check_room

log = Logger()

ADMIN_PASSWORD_ENV = "TCHAT_ADMIN_PASSWORD"
DB_ENV = "TCHAT_DB"
DEFAULT_DB = "sqlite:tchat.db"


# Twisted's default listen backlog (50) drops connections when many arrive at
# once (a restart brings every client back together); the kernel caps this
# at net.core.somaxconn.
BACKLOG = 1024


def endpoint_description(value: str) -> str:
    """``4321`` -> ``tcp:4321:backlog=1024``; an endpoint string is left as it is."""
    return f"tcp:{value.strip()}:backlog={BACKLOG}" if value.strip().isdigit() else value


# Where each door listens when its option is not given.
DEFAULT_ENDPOINTS = {kind.option: endpoint_description(kind.default) for kind in DOORS}
DEFAULT_PORT = DEFAULT_ENDPOINTS["port"]
DEFAULT_WEB_PORT = DEFAULT_ENDPOINTS["web-port"]

# The options that may be given several times (in a config file: a list):
# every door's, and these.
REPEATABLE = (*(kind.option for kind in DOORS), "web-origin", "metrics-port", "trusted-proxy")
# One-letter synonyms of long options (``-p``), for reading the command line next to a config file.
SYNONYMS = {kind.short: kind.option for kind in DOORS if kind.short}


def _lobby(value: str) -> str | None:
    """``--lobby``'s room name, or None for ``off``; UsageError for anything else."""
    if value.strip().lower() in ("off", "none", "no", ""):
        return None
    try:
        return check_room(value.strip())
    except BadName as e:
        raise usage.UsageError(f"--lobby is a room name (like {LOBBY}) or off: {e}") from None


def _read_secret(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            secret = f.read().strip()
    except OSError as e:
        raise usage.UsageError(f"cannot read the admin password file: {e}")
    if not secret:
        raise usage.UsageError(f"the admin password file {path} is empty")
    return secret


NODE_NAME = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def default_node_name(endpoints_: Sequence[str]) -> str:
    """The host name and the first port this node listens on: ``chat1:4321``."""
    host = socket.gethostname().split(".")[0] or "tchat"
    for description in endpoints_:
        for part in description.split(":")[1:]:
            if part.isdigit():
                return f"{host}:{part}"[:64]
    return host[:64]


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Run the tchat chat server. People connect with tchat-client or nc; "
        "programs speak JSON lines on the same port. "
        f"The admin password comes from ${ADMIN_PASSWORD_ENV} or --admin-password-file; "
        "without one, admin commands are off."
    )
    optParameters = [
        ["max-users", None, 1000, "Most users logged in at once.", int],
        ["max-line", None, 4096, "Longest line a client may send, in bytes.", int],
        ["max-rooms", None, 50, "Most rooms one user may be in at once.", int],
        ["max-sessions", None, 10, "Most devices one account may be logged in from at once.", int],
        ["max-watch", None, 100, "Most names one connection may watch (watch; IRC's MONITOR).", int],
        ["sendq", None, 1 << 20, "Bytes that may queue for a client that does not read before it is dropped.", int],
        ["flood-rate", None, 5.0, "Commands a second one connection may send, steadily.", float],
        ["flood-burst", None, 20, "Commands one connection may send at once before the rate applies.", int],
        ["flood-queue", None, 50, "Commands held back from a flooding connection before more are refused.", int],
        ["max-connections", None, 10000, "Most connections at once, logged in or not.", int],
        ["max-per-address", None, 20, "Most connections at once from one address.", int],
        ["max-pending", None, 1000, "Most connections at once that have not logged in yet.", int],
        ["login-timeout", None, 60.0, "Seconds a connection may take to log in.", float],
        ["idle-timeout", None, 180.0, "Seconds of silence before the server pings a client.", float],
        ["ping-timeout", None, 60.0, "Seconds a JSON client has to answer a ping (and for any peer to acknowledge data).", float],
        ["motd", None, None, "Message of the day: a text, or the path of a file holding it."],
        ["admin-password-file", None, None, f"File holding the admin password (else ${ADMIN_PASSWORD_ENV})."],
        ["server-name", None, "tchat", "Name the server gives itself in the welcome."],
        ["server-info", None, "tchat", "A line saying what this server is, for IRC's LINKS and WHOIS (such as: the chat of the Lisbon hackspace)."],
        ["lobby", None, LOBBY, "The room that always exists and that someone in no room yet starts in (IRC clients excepted: they join their own), or off for none."],
        ["db", None, None, f"Where accounts and history live: sqlite:PATH, memory (nothing kept) or postgresql://... (default: ${DB_ENV}, else {DEFAULT_DB})."],
        ["db-timeout", None, 10.0, "Seconds the database has to answer a call; past them the call fails as unavailable (and stopping waits no longer).", float],
        ["registration", None, "open", "open: anyone may /register their name; closed: only admins make accounts."],
        ["guests", None, "yes", "yes: anyone may chat under a free name; no: registered users only."],
        ["gc", None, "paced", "paced: Python's garbage collector run from the reactor, each generation at most so often (start-up objects frozen out of it); python: Python's own, run inside any allocation."],
        ["log-format", None, "text", "text: twistd's log lines; json: one JSON object per line (twisted.logger's fields), for log shippers."],
        ["bus", None, None, "Run as one node of several sharing one chat: redis://[:PASSWORD@]HOST[:PORT][/DB] (rediss:// for TLS); needs a PostgreSQL --db every node shares. Off when not given."],
        ["node", None, None, "This node's name in logs, /debug and metrics (default: host name and first port); unique among live nodes."],
        ["node-timeout", None, 10.0, "Seconds after which a node not heard from is taken for dead: its users are announced as gone.", float],
        ["config", None, None, "A TOML file of options: the keys are the long option names; the command line overrides it; SIGHUP reloads it."],
    ]

    # The command line it was given (the config file is read again from it on SIGHUP).
    cli_args: list[str] = []

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        args = list(sys.argv[1:] if options is None else options)
        self.cli_args = args
        path = config_path(args)
        table = cast(list[Sequence[Any]], self.optParameters)
        from_file = arguments_from(path, table, REPEATABLE, given_on_command_line(args, SYNONYMS)) if path else []
        super().parseOptions(from_file + args)

    def __init__(self) -> None:
        super().__init__()
        for kind in DOORS:
            self[kind.key] = []
        self["web-origins"] = []
        self["metrics-ports"] = []
        self["trusted-proxies"] = []

    # Every door's --<name>-port (opt_port, opt_web_port, …) is added below, from the registry.

    def opt_metrics_port(self, value: str) -> None:
        """Serve Prometheus metrics at /metrics on METRICS_PORT: a number or an endpoint string; keep it off the public network (tcp:9464:interface=127.0.0.1). Off by default, and never on the web port."""
        self["metrics-ports"].append(endpoint_description(value))

    def opt_trusted_proxy(self, value: str) -> None:
        """Believe X-Forwarded-For on the web port from ADDRESS (an IP address or a network such as 10.0.0.0/8): the proxy in front of tchat. Repeat for several. Off by default: the header is never believed unless told. (For the PROXY protocol, use haproxy: ports instead.)"""
        self["trusted-proxies"].append(value.strip())

    def opt_web_origin(self, value: str) -> None:
        """Let pages from ORIGIN (like https://chat.example.org) open the WebSocket; repeat for several, or * for any (default: only pages from the same host and port, that is, the server's own)."""
        self["web-origins"].append(value.strip())

    def postOptions(self) -> None:
        from twisted.internet import reactor

        for kind in DOORS:
            self[kind.key] = self._door_endpoints(kind)
        for description in self["metrics-ports"]:
            try:
                endpoints.serverFromString(reactor, description)
            except Exception as e:
                raise usage.UsageError(f"--metrics-port {description}: {e}")
        try:
            TrustedProxies(self["trusted-proxies"])
        except ValueError as e:
            raise usage.UsageError(f"--trusted-proxy: {e}")
        try:
            OriginPolicy(self["web-origins"])
        except ValueError as e:
            raise usage.UsageError(f"--web-origin: {e}")
        for option in ("max-users", "max-line", "max-rooms", "max-sessions", "max-watch", "sendq", "flood-burst", "flood-queue",
                       "max-connections", "max-per-address", "max-pending"):
            if self[option] < 1:
                raise usage.UsageError(f"--{option} must be at least 1")
        for option in ("flood-rate", "login-timeout", "idle-timeout", "ping-timeout", "db-timeout"):
            if self[option] <= 0:
                raise usage.UsageError(f"--{option} must be more than 0")
        if self["max-line"] < 64:
            raise usage.UsageError("--max-line must be at least 64 bytes")
        wanted = self["max-connections"]
        self["max-connections"] = fit_descriptor_limit(wanted, explicit=wanted != 10000)
        if self["max-connections"] < wanted:
            self["descriptor-note"] = (
                f"this process may open only {self['max-connections'] + RESERVED_DESCRIPTORS} files (ulimit -n):"
                f" at most {self['max-connections']} connections, not {wanted}"
            )
        motd = self["motd"]
        if motd and os.path.isfile(motd):
            with open(motd, encoding="utf-8") as f:
                self["motd"] = f.read().strip()
        self["db"] = self["db"] or os.environ.get(DB_ENV) or DEFAULT_DB
        try:
            parse_url(self["db"])
        except ValueError as e:
            raise usage.UsageError(f"--db: {e}")
        self._check_bus()
        self["lobby"] = _lobby(self["lobby"])
        if self["registration"] not in ("open", "closed"):
            raise usage.UsageError("--registration is open or closed")
        if self["guests"] not in ("yes", "no"):
            raise usage.UsageError("--guests is yes or no")
        if self["log-format"] not in ("text", "json"):
            raise usage.UsageError("--log-format is text or json")
        if self["gc"] not in ("paced", "python"):
            raise usage.UsageError("--gc is paced or python")
        if self["admin-password-file"]:
            self["admin-password"] = _read_secret(self["admin-password-file"])
        else:
            self["admin-password"] = os.environ.get(ADMIN_PASSWORD_ENV) or None

    def _check_bus(self) -> None:
        if self["bus"] in (None, "", "off"):
            self["bus"] = None
            return
        from tchat.cluster.redis import parse_bus_url

        try:
            parse_bus_url(self["bus"])
        except ValueError as e:
            raise usage.UsageError(f"--bus: {e}")
        if parse_url(self["db"]).engine != "postgresql":
            raise usage.UsageError(
                f"--bus needs a database every node shares: --db postgresql://... (not {parse_url(self['db']).shown});"
                " nodes on other machines cannot share an SQLite file"
            )
        if self["node-timeout"] < 1:
            raise usage.UsageError("--node-timeout must be at least 1 second")
        if not self["node"]:
            self["node"] = default_node_name(self["ports"] or self["web-ports"])
        elif not NODE_NAME.fullmatch(self["node"]):
            raise usage.UsageError("--node is 1 to 64 letters, digits and . _ - :")

    def _door_endpoints(self, kind: DoorKind) -> list[str]:
        """The endpoint strings a door listens on: those given (``off``: none, if the door allows it), or its default."""
        from twisted.internet import reactor

        given = self[kind.key]
        if kind.can_be_off and "off" in given:
            if len(given) > 1:
                raise usage.UsageError(f"--{kind.option} off cannot be given with other {kind.option.replace('-', ' ')}s")
            return []
        descriptions = [endpoint_description(value) for value in given] or [DEFAULT_ENDPOINTS[kind.option]]
        for description in descriptions:
            try:
                endpoints.serverFromString(reactor, description)
            except Exception as e:
                raise usage.UsageError(f"--{kind.option} {description}: {e}")
        return descriptions


def _port_option(kind: DoorKind) -> Callable[[Options, str], None]:
    """The ``opt_`` method of a door's option: each use adds one endpoint (read in L{Options.postOptions})."""

    def option(self: Options, value: str) -> None:
        self[kind.key].append(value.strip())

    option.__name__ = "opt_" + kind.option.replace("-", "_")
    option.__doc__ = kind.help
    return option


for _kind in DOORS:
    # usage.Options finds its options among the class's opt_ methods; the
    # same function under two names makes them synonyms (-p, --port).
    _method = _port_option(_kind)
    setattr(Options, _method.__name__, _method)
    if _kind.short:
        setattr(Options, "opt_" + _kind.short, _method)
del _kind, _method


class ChatService(service.MultiService):
    """
    The store, the hub and its doors, started and stopped in a fixed order:
    the store opens (and its schema is brought up to date) before any door
    listens, and closes after every connection is gone.
    """

    def __init__(
        self, hub: Hub, doors: Sequence[Door], db_url: str | None = None, db_timeout: float = 10.0,
        options: Options | None = None, limits: Limits | None = None, node: Node | None = None,
    ) -> None:
        super().__init__()
        self.hub = hub
        self.node = node
        self.doors = doors
        self.db_url = db_url
        self.db_timeout = db_timeout
        self.options = options
        self.limits = limits
        self._starting: defer.Deferred[None] | None = None
        self._previous_hup: Any = None

    def setServiceParent(self, parent: Any) -> None:
        super().setServiceParent(parent)
        if self.options is not None and self.options["log-format"] == "json":
            # twistd logs to an application's ILogObserver component if it has one.
            parent.setComponent(ILogObserver, json_log_observer(self.options))

    def reload(self) -> None:
        """
        SIGHUP: read the options again (the config file, then the command
        line), apply what can change while running, and log what changed
        and what would need a restart. A file that does not parse changes
        nothing (and says why).
        """
        if self.options is None:
            return
        fresh = Options()
        try:
            fresh.parseOptions(self.options.cli_args)
        except usage.UsageError as e:
            log.error("SIGHUP: the options were not reloaded: {why}", why=str(e))
            return
        changed = [key for key in RELOADED if fresh[key] != self.options[key]]
        restart = [key for key in NEEDS_RESTART if fresh[key] != self.options[key]]
        apply_options(fresh, self.hub.config, self.limits, self.doors)
        for key in RELOADED:
            self.options[key] = fresh[key]
        self._renew_certificates()
        log.info(
            "SIGHUP: reloaded the options; changed: {changed}{restart}",
            changed=", ".join(("admin password" if k == "admin-password" else k) for k in changed) or "nothing",
            restart=f"; these need a restart to change: {', '.join(restart)}" if restart else "",
        )

    def _renew_certificates(self) -> None:
        """Listen anew on every TLS port whose certificate or key file changed (a renewal)."""
        from twisted.internet import reactor

        for child in self:
            if isinstance(child, ListeningService) and child.certificates_changed():
                try:
                    endpoint = endpoints.serverFromString(reactor, child.same_port_description())
                except Exception as e:
                    log.error("SIGHUP: {description} keeps its old certificate: {why}", description=child.description, why=str(e))
                    continue
                d = defer.Deferred.fromCoroutine(child.rebind(endpoint))
                d.addErrback(_rebind_failed, child.description)

    def _install_reload(self) -> None:
        from twisted.internet import reactor

        def hup(signum: int, frame: Any) -> None:
            # Out of the signal handler, into the reactor's next turn.
            cast(IReactorThreads, reactor).callFromThread(self.reload)

        try:
            self._previous_hup = signal.signal(signal.SIGHUP, hup)
        except ValueError:
            self._previous_hup = None  # not the main thread (a test): no signals

    def privilegedStartService(self) -> None:
        # Before the reactor runs (and before twistd gives up root, for a
        # port under 1024): bind every port, so that one that cannot be bound
        # stops twistd at once with its reason. The database first: a
        # database that cannot be used is as fatal (this blocks for at most
        # the database timeout, before anyone is connected).
        if self.db_url is not None:
            try:
                check_database(self.db_url, self.db_timeout)
            except (StoreError, ValueError) as e:
                raise StartupError(str(e)) from None
        for child in self:
            if isinstance(child, ListeningService):
                child.bind()
        super().privilegedStartService()

    def startService(self) -> None:
        service.Service.startService(self)
        # The last log lines, for the admins' /log and the admin page.
        globalLogPublisher.addObserver(self.hub.recent_log)
        if self.options is not None:
            self._install_reload()
        self._starting = defer.Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        from twisted.internet import reactor

        if self.db_url is not None:
            try:
                await self.hub.use_store(await open_store(self.db_url, reactor, timeout=self.db_timeout))
            except Exception:
                log.failure("tchat cannot open its database {url}", url=parse_url(self.db_url).shown)
                exit_failed_at_end()
                reactor.stop()
                return
        if self.node is not None:
            try:
                await self.node.start()
            except BusError as e:
                log.error("tchat cannot join the other nodes: {why}", why=str(e))
                exit_failed_at_end()
                reactor.stop()
                return
        if self.running:
            for child in self:
                child.startService()

    def stopService(self) -> defer.Deferred[None]:
        service.Service.stopService(self)
        globalLogPublisher.removeObserver(self.hub.recent_log)
        if self._previous_hup is not None:
            signal.signal(signal.SIGHUP, self._previous_hup)
            self._previous_hup = None
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._starting is not None:
            await self._starting
        await defer.gatherResults(
            [defer.maybeDeferred(s.stopService) for s in reversed(list(self)) if s.running], consumeErrors=True
        )
        if self.node is not None:
            self.node.leaving(self.hub.admin.shutdown_reason)
        self.hub.close_all()
        await defer.gatherResults([door.wait_closed() for door in self.doors], consumeErrors=True)
        if self.node is not None and self.node.started is not None:
            await self.node.stop()
        if self.hub.store is not None:
            await self.hub.store.close()
        log.info("tchat stopped")


def metrics_site(metrics: Metrics) -> Site:
    """A site with the Prometheus text at ``/metrics`` and nothing else."""
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry=metrics.registry))
    site = _QuietSite(root)
    site.noisy = False
    return site


class _QuietSite(Site):
    # A scrape every few seconds is no news: no access log line for it.
    def log(self, request: Any) -> None:
        pass


def limits_from(options: Options) -> Limits:
    return Limits(
        max_line=options["max-line"],
        sendq=options["sendq"],
        flood_rate=options["flood-rate"],
        flood_burst=options["flood-burst"],
        flood_queue=options["flood-queue"],
        max_connections=options["max-connections"],
        max_per_address=options["max-per-address"],
        max_pending=min(options["max-pending"], options["max-connections"]),
        login_timeout=options["login-timeout"],
        idle_timeout=options["idle-timeout"],
        ping_timeout=options["ping-timeout"],
    )


def json_log_observer(options: Options) -> Any:
    """
    One JSON object per line (twisted.logger's event fields), where twistd
    would have written its text lines: ``--logfile``, else standard output
    with ``-n``, else twistd.log.
    """
    twistd: Any = options.parent or {}
    path = twistd.get("logfile")
    if path == "-" or (not path and twistd.get("nodaemon", True)):
        out: Any = sys.stdout
    else:
        out = LogFile.fromFullPath(path or "twistd.log")
    return jsonFileLogObserver(out, recordSeparator="")


# What SIGHUP changes in a running server; and what only a restart does.
RELOADED = (
    "motd", "server-name", "server-info", "max-users", "max-rooms", "max-sessions", "max-watch", "max-line", "sendq", "flood-rate", "flood-burst", "flood-queue",
    "max-connections", "max-per-address", "max-pending", "login-timeout", "idle-timeout", "ping-timeout",
    "registration", "guests", "admin-password", "web-origins", "trusted-proxies",
)
NEEDS_RESTART = (*(kind.key for kind in DOORS), "metrics-ports", "db", "db-timeout", "bus", "node", "node-timeout", "lobby", "gc")


def apply_options(options: Options, config: HubConfig, limits: Limits | None, doors: Sequence[Door]) -> None:
    """Put the reloadable options into the running hub's config, the shared limits and each door."""
    config.motd = options["motd"]
    config.server_name = options["server-name"]
    config.server_info = options["server-info"]
    config.max_users = options["max-users"]
    config.max_rooms_per_user = options["max-rooms"]
    config.max_sessions = options["max-sessions"]
    config.max_watch = options["max-watch"]
    config.admin_password = options["admin-password"]
    config.registration = options["registration"]
    config.guests = options["guests"] == "yes"
    if limits is not None:
        fresh = limits_from(options)
        for field in dataclasses.fields(Limits):
            setattr(limits, field.name, getattr(fresh, field.name))
    for door in doors:
        door.reload(options)


def makeService(options: Options) -> ChatService:
    from twisted.internet import reactor

    _say_startup_errors_plainly()
    if options.get("descriptor-note"):
        log.warn("{note}", note=options["descriptor-note"])
    config = HubConfig(
        server_name=options["server-name"],
        server_info=options["server-info"],
        motd=options["motd"],
        lobby=options["lobby"],
        max_users=options["max-users"],
        max_rooms_per_user=options["max-rooms"],
        max_sessions=options["max-sessions"],
        max_watch=options["max-watch"],
        admin_password=options["admin-password"],
        registration=options["registration"],
        guests=options["guests"] == "yes",
    )
    metrics = Metrics()
    node: Node | None = None
    if options["bus"]:
        from tchat.cluster.redis import RedisBus, parse_bus_url

        # Pub/sub channels ignore the database number: the prefix holds it,
        # so two chats on one Redis (db 0 and db 1) never hear each other.
        db = parse_bus_url(options["bus"])[2]
        bus = RedisBus(
            options["bus"], options["node"], timeout=options["node-timeout"] * LEASE, prefix=f"tchat:{db}:", reactor=reactor
        )
        node = Node(bus, reactor, metrics, timeout=options["node-timeout"], batch=True)
        hub = Hub(config, reactor, on_stop=reactor.stop, metrics=metrics, state=node.state, delivery=node.delivery)
        node.bind(hub)
        metrics.registry.register(NodeCollector(node))
    else:
        hub = Hub(config, reactor, on_stop=reactor.stop, metrics=metrics, batch=True)
    limits = limits_from(options)
    # One count of connections for every door: an address's limit holds
    # across TCP, TLS and WebSocket together.
    admission = Admission(limits)
    # Every door is built, even one listening nowhere (--web-port off): its
    # count of connections is then always 0.
    doors = [kind.build(options, hub, limits, reactor, admission) for kind in DOORS]
    chat = ChatService(
        hub, doors, db_url=options["db"], db_timeout=options["db-timeout"], options=options, limits=limits, node=node,
    )
    if options["gc"] == "paced":
        # First of the children: it freezes what start-up made before anyone connects.
        PacedCollectionService(reactor).setServiceParent(chat)
    for kind, door in zip(DOORS, doors):
        for description in options[kind.key]:
            endpoint = endpoints.serverFromString(reactor, description)
            ListeningService(description, endpoint, door.factory, what=kind.listening_name).setServiceParent(chat)
    hub.metrics.watch(
        connections=lambda: {door.name: len(door.sessions) for door in doors},
        users_online=hub.state.online_count,
        rooms=lambda: len(hub.state.rooms()),
    )
    for description in options["metrics-ports"]:
        endpoint = endpoints.serverFromString(reactor, description)
        ListeningService(description, endpoint, metrics_site(hub.metrics), what="tchat metrics").setServiceParent(chat)
    return chat
