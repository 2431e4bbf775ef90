"""
L{RedisBus}: the L{tchat.cluster.bus.Bus} of nodes in several processes or
machines, through one Redis (txredisapi, so nothing blocks the reactor).

What it keeps in Redis, every key under ``prefix`` (``tchat:`` unless told):

- ``bus``: the one pub/sub channel; each message is the sender's node name,
  a line feed, then the bytes it published (a node drops its own);
- ``node:NODE``: NODE's lease, a random token that lives ``timeout`` seconds
  unless renewed;
- ``name:KEY``: a hash, who holds the name KEY: field ``account`` ("1" or
  "0"), and one field named after each node that holds it;
- ``names:NODE``: a set, the keys NODE holds (what L{RedisBus.reap} frees);
- ``count:KEY``: a counter that lives ``window`` seconds from its first count.

Every change that reads before it writes is one Lua script, so it is atomic:
two nodes claiming a name at once are served one after the other. A claim
is fenced by the lease: it fails when this node's token is no longer the one
its lease holds (the others may have taken the node for dead and freed its
names).

Two connections, each reconnected by txredisapi's ClientService with backoff:
one for commands and publishing, one subscribed to the channel (subscribed
again after each reconnect). Both are pinged every L{RedisBus.ping_interval}
seconds and every command waits at most L{RedisBus.command_timeout}, so a
dead link is noticed and nothing waits forever. The link is up only while
both connections work and the subscription is in place.

Needs Redis 5 or later (INFO is called from a script).

The URL is read in L{tchat.cluster.redis_url}, the scripts are in
L{tchat.cluster.redis_scripts}, and txredisapi's factory and protocols, as
adapted for the bus, in L{tchat.cluster.redis_link}.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Callable, Coroutine, TypeVar

import txredisapi
from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import optionsForClientTLS, trustRootFromCertificates
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from tchat.cluster.bus import Bus, BusError, NodeNameTaken, Renewal
from tchat.cluster.redis_link import CommandProtocol, Factory, SubscriberProtocol, Watched
from tchat.cluster.redis_scripts import CLAIM, COUNT, LEAVE, REAP, RELEASE, RENEW, START
from tchat.cluster.redis_url import DEFAULT_PORT, hostport, parse_bus_url

__all__ = ["DEFAULT_PORT", "RedisBus", "parse_bus_url"]

log = Logger(namespace="tchat.cluster.redis")

T = TypeVar("T")


class RedisBus:
    """
    A L{tchat.cluster.bus.Bus} through the Redis at ``url``
    (L{parse_bus_url}) for node ``node``, whose lease lasts ``timeout``
    seconds (renew it every ``timeout / 3``). Several chats may share one
    Redis under different ``prefix``es. ``ca_file``: the PEM certificates
    to trust for ``rediss://`` (default: the system's).

    ``published`` counts the messages sent, ``dropped`` those dropped while
    the link was down, ``malformed`` those heard that were not in the bus's
    framing (dropped, and logged now and then).
    """

    #: Seconds any one command may take before it fails (and its connection is dropped).
    command_timeout = 5.0
    #: Seconds start() waits for Redis before it fails.
    start_timeout = 5.0
    #: Seconds between pings on each connection (as Synapse does).
    ping_interval = 30.0
    #: The reconnection backoff: first delay, longest delay (seconds).
    retry_delays = (0.5, 5.0)

    def __init__(
        self, url: str, node: str, timeout: float = 10.0, prefix: str = "tchat:", reactor: Any = None,
        *, ca_file: str | None = None,
    ) -> None:
        host, port, db, self._password, self._username, tls = parse_bus_url(url)
        if not isinstance(node, str) or not node or "\n" in node or node == "account":
            raise ValueError(f"a node name must be text without a line feed, and not 'account': {node!r}")
        if not timeout > 0:
            raise ValueError(f"the lease timeout must be more than 0 seconds, not {timeout!r}")
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.node = node
        self.timeout = timeout
        self.prefix = prefix
        self.where = hostport(host, port)
        self.db = db
        self.tls = tls
        self.published = 0
        self.dropped = 0
        self.malformed = 0

        self._channel = prefix + "bus"
        self._channel_bytes = self._channel.encode("utf-8")
        self._frame = node.encode("utf-8") + b"\n"
        self._lease = prefix + "node:" + node
        self._names = prefix + "names:" + node
        self._name_prefix = prefix + "name:"

        self._host, self._port = host, port
        self._tls: Any = None
        if tls:
            if ca_file is not None:
                from tchat.client.tls import load_certificates

                self._tls = optionsForClientTLS(host, trustRoot=trustRootFromCertificates(load_certificates(ca_file)))
            else:
                self._tls = optionsForClientTLS(host)

        self._state = "new"  # starting, started, stopping, stopped
        self._receive: Callable[[bytes], None] | None = None
        self._link: Callable[[bool], None] | None = None
        self._factories: list[Factory] = []
        self._command: Any = None  # the command connection while it is usable
        self._subscriber: Any = None  # the subscriber connection while it is subscribed
        self._up = False
        self._ready: Deferred[None] | None = None  # fires when start() sees both usable
        self._start_done: Deferred[None] = Deferred()  # fires when start() is over, however it ended
        self._last_problem: str | None = None
        self._token: str | None = None
        self._run_id: str | None = None
        self._renewing = DeferredLock()
        self._pinger = LoopingCall(self._ping)
        self._pinger.clock = reactor
        self._stopped: Deferred[None] | None = None
        self._pinging: set[Any] = set()
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"<RedisBus {self.node} at {self.where} ({'up' if self._up else 'down'})>"

    @property
    def up(self) -> bool:
        return self._up

    # -- starting and stopping ---------------------------------------------------

    def start(self, receive: Callable[[bytes], None], link: Callable[[bool], None]) -> Deferred[None]:
        if self._state != "new":
            return defer.fail(BusError(f"the bus to Redis at {self.where} was already started"))
        self._receive, self._link = receive, link
        self._state = "starting"
        self._ready = Deferred()
        self._start_done = Deferred()
        self._factories = [
            Factory(self, "command", CommandProtocol, self.db or None, "utf-8", self._password, self._username),
            # Messages stay bytes (charset None): txredisapi would decode
            # them, and with convertNumbers make b"12" the int 12.
            Factory(self, "subscriber", SubscriberProtocol, None, None, self._password, self._username),
        ]
        endpoint: IStreamClientEndpoint = HostnameEndpoint(self.reactor, self._host, self._port, timeout=self.command_timeout)
        if self._tls is not None:
            endpoint = wrapClientTLS(self._tls, endpoint)
        for factory in self._factories:
            # The endpoint way (ClientService inside): reactor.connectTCP()
            # with a txredisapi factory no longer works.
            factory.startConnecting(Watched(endpoint, self))
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        try:
            await self._take_lease()
        except BaseException:
            if self._state == "starting":  # else stop() is under way, and shuts all
                await self._shut()
                self._state = "stopped"
            raise
        finally:
            self._start_done.callback(None)

    async def _take_lease(self) -> None:
        assert self._ready is not None
        ready = self._ready
        ready.addTimeout(self.start_timeout, self.reactor)
        try:
            await ready
        except (defer.TimeoutError, defer.CancelledError):
            why = f": {self._last_problem}" if self._last_problem else ""
            raise BusError(f"cannot reach Redis at {self.where} within {self.start_timeout:g} s{why}") from None
        token = secrets.token_hex(16)
        outcome, run_id = await self._eval("take the lease of node " + self.node, START, [self._lease], [token, self._ms(self.timeout)])
        if outcome != "taken":
            raise NodeNameTaken(f"a live node is already named {self.node}")
        self._token, self._run_id = token, run_id
        if self._state != "starting":  # stop() was called meanwhile, and waits for this
            raise BusError(f"the bus to Redis at {self.where} was stopped while it started")
        self._state = "started"
        self._up = self._is_up()
        self._pinger.start(self.ping_interval, now=False)
        log.info("node {node} is on the bus at Redis {where}", node=self.node, where=self.where)

    def stop(self) -> Deferred[None]:
        if self._stopped is None:
            self._stopped = Deferred.fromCoroutine(self._stop())
        d: Deferred[None] = Deferred()
        self._stopped.addBoth(lambda _: d.callback(None))
        return d

    async def _stop(self) -> None:
        try:
            await self._leave()
        except Exception:
            log.failure("the bus to Redis at {where} did not stop cleanly", where=self.where)
        self._state = "stopped"

    async def _leave(self) -> None:
        starting = self._state == "starting"
        if starting and self._ready is not None and not self._ready.called:
            self._ready.errback(BusError(f"the bus to Redis at {self.where} was stopped while it started"))
        self._state = "stopping"
        if starting:
            await self._start_done  # it may have taken the lease: free it below
        self._up = False
        if self._pinger.running:
            self._pinger.stop()
        if self._token is not None and self._command is not None:
            try:
                await self._eval(
                    "free the names and lease of node " + self.node, LEAVE, [self._lease, self._names],
                    [self._token, self.node, self._name_prefix], timeout=min(self.command_timeout, 2.0),
                )
            except BusError as e:
                log.warn("node {node} leaves without freeing its names: {why}", node=self.node, why=str(e))
        await self._shut()

    async def _shut(self) -> None:
        """Stop reconnecting and close both connections (at once if they do not close in 2 s)."""
        self._command = self._subscriber = None
        self._up = False
        if self._pinger.running:
            self._pinger.stop()
        closing = defer.gatherResults([f.disconnect() for f in self._factories], consumeErrors=True)
        closing.addTimeout(2.0, self.reactor)
        try:
            await closing
        except Exception:
            for factory in self._factories:
                for conn in list(factory.pool):
                    conn.transport.abortConnection()

    # -- the connections -----------------------------------------------------------

    def _active(self) -> bool:
        return self._state in ("starting", "started")

    def _problem(self, why: str) -> None:
        self._last_problem = why

    def _refused(self, role: str, why: str) -> None:
        why = why.removeprefix("Redis error: ")
        self._last_problem = why
        if self._state == "starting" and self._ready is not None and not self._ready.called:
            self._ready.errback(BusError(f"Redis at {self.where} refused the bus: {why}"))
        elif self._active():
            self._warn("Redis at {where} refused the bus's {role} connection ({why}); trying again", role=role, why=why)

    def _warn(self, format: str, **fields: Any) -> None:
        """Log a warning, but not the same one again and again while the link stays down."""
        said = format.format(where=self.where, **fields)
        if said not in self._warned:
            self._warned.add(said)
            log.warn(format, where=self.where, **fields)

    def _connected(self, role: str, conn: Any) -> None:
        if not self._active():
            conn.transport.loseConnection()
            return
        if role == "command":
            d = self._bounded(conn, "answer a ping", defer.maybeDeferred(conn.ping))
        else:
            # A new connection is subscribed to nothing: every reconnect subscribes again.
            d = self._bounded(conn, "subscribe", defer.maybeDeferred(conn.subscribe, self._channel))

        def usable(_: Any) -> None:
            if not conn.connected or not self._active():
                return
            if role == "command":
                self._command = conn
            else:
                self._subscriber = conn
            self._changed()

        def unusable(failure: Failure) -> None:
            if failure.check(txredisapi.ResponseError) and conn.connected:
                # NOAUTH (a password is needed), or refused by ACL rules.
                conn.transport.abortConnection()
                self._refused(role, failure.getErrorMessage())
            elif conn.connected:
                self._warn("Redis at {where}: the bus's new {role} connection does not work ({why}); dropping it",
                           role=role, why=failure.getErrorMessage())
                self._last_problem = failure.getErrorMessage()
                conn.transport.abortConnection()

        d.addCallbacks(usable, unusable)

    def _disconnected(self, role: str, conn: Any) -> None:
        if conn is self._command:
            self._command = None
        elif conn is self._subscriber:
            self._subscriber = None
        else:
            return
        self._changed()

    def _is_up(self) -> bool:
        return self._active() and self._command is not None and self._subscriber is not None

    def _changed(self) -> None:
        up = self._is_up()
        if self._state == "starting":
            self._up = up
            if up and self._ready is not None and not self._ready.called:
                self._ready.callback(None)
            return
        if self._state != "started" or up == self._up:
            return
        self._up = up
        self._warned.clear()
        if up:
            log.info("the bus to Redis at {where} is back", where=self.where)
        else:
            log.warn("the bus to Redis at {where} is down; reconnecting", where=self.where)
        if self._link is not None:
            try:
                self._link(up)
            except Exception:
                log.failure("the bus's link callback failed")

    def _ping(self) -> None:
        for role, conn in (("command", self._command), ("subscriber", self._subscriber)):
            if conn is None or conn in self._pinging:
                continue  # one ping at a time: one that is late drops the connection

            def failed(failure: Failure, role: str = role) -> None:
                log.warn("Redis at {where} did not answer a ping on the bus's {role} connection: {why}",
                         where=self.where, role=role, why=failure.getErrorMessage())

            self._pinging.add(conn)
            d = self._bounded(conn, "answer a ping", defer.maybeDeferred(conn.ping))
            d.addErrback(failed)
            d.addBoth(self._pinged, conn)

    def _pinged(self, result: object, conn: Any) -> None:
        self._pinging.discard(conn)

    def _bounded(self, conn: Any, what: str, d: Deferred[T], timeout: float | None = None) -> Deferred[T]:
        """``d``, failing if it takes longer than the command timeout (and dropping ``conn`` then)."""

        def late(result: Any, seconds: float) -> Any:
            if conn.connected:
                conn.transport.abortConnection()
            raise txredisapi.TimeoutError(f"Redis did not {what} within {seconds:g} s")

        seconds = self.command_timeout if timeout is None else timeout
        return d.addTimeout(seconds, self.reactor, onTimeoutCancel=late)

    # -- commands --------------------------------------------------------------------

    def _ms(self, seconds: float) -> int:
        return max(1, round(seconds * 1000))

    def _eval(self, what: str, script: str, keys: list[str], args: list[Any], timeout: float | None = None) -> Deferred[Any]:
        """Run ``script`` on the command connection; any failure is a L{BusError} saying ``what`` failed."""
        conn = self._command
        if conn is None:
            if self._state in ("new", "stopped") or (self._state == "stopping" and not self._factories):
                return defer.fail(BusError(f"the bus to Redis at {self.where} is not started (cannot {what})"))
            return defer.fail(BusError(f"Redis at {self.where} is not reachable (cannot {what})"))
        d = self._bounded(conn, "answer", defer.maybeDeferred(conn.eval, script, keys, args), timeout)

        def failed(failure: Failure) -> Failure:
            if failure.check(BusError):
                return failure
            if failure.check(txredisapi.ResponseError):
                raise BusError(f"Redis at {self.where} refused to {what}: {failure.getErrorMessage()}")
            raise BusError(f"Redis at {self.where} did not answer (cannot {what}): {failure.getErrorMessage()}")

        return d.addErrback(failed)

    def _public(self, what: str, run: Callable[[], Coroutine[Any, Any, T]]) -> Deferred[T]:
        if self._state != "started":
            return defer.fail(BusError(f"the bus to Redis at {self.where} is not started (cannot {what})"))
        return Deferred.fromCoroutine(run())

    def publish(self, data: bytes) -> None:
        # The command connection alone carries a publish: while only the
        # subscription is being renewed (Redis dropped a subscriber that fell
        # behind), what this node says still goes out.
        conn = self._command
        if not self._active() or conn is None:
            self.dropped += 1
            return
        try:
            d = conn.publish(self._channel, self._frame + bytes(data))
        except Exception:
            self.dropped += 1
            return
        self.published += 1
        # At most once: a publish whose connection breaks is not sent again.
        d.addErrback(lambda failure: log.debug("a publish failed: {why}", why=failure.getErrorMessage()))

    def _message(self, channel: Any, message: Any) -> None:
        # Called by txredisapi from dataReceived: nothing may escape.
        try:
            if channel != self._channel_bytes:
                return
            sender, sep, data = message.partition(b"\n") if isinstance(message, bytes) else (b"", b"", b"")
            if not sep or not sender:
                self.malformed += 1
                if self.malformed == 1 or self.malformed % 1000 == 0:
                    log.warn("dropped a message on the bus that is not in its framing (node, line feed, data): "
                             "{sample!r}, {count} so far", sample=repr(message)[:60], count=self.malformed)
                return
            if sender == self._frame[:-1] or self._state != "started" or self._receive is None:
                return
            self._receive(data)
        except Exception:
            log.failure("a message from the bus could not be handled")

    def claim(self, key: str, account: bool) -> Deferred[bool]:
        what = f"claim the name {key!r}"

        async def run() -> bool:
            held = await self._eval(what, CLAIM, [self._lease, self._name_prefix + key, self._names],
                                    [self._token, self.node, "1" if account else "0", key])
            if held == -1:
                raise BusError(f"node {self.node} lost its lease")
            return bool(held == 1)

        return self._public(what, run)

    def release(self, key: str) -> Deferred[None]:
        what = f"release the name {key!r}"

        async def run() -> None:
            await self._eval(what, RELEASE, [self._name_prefix + key, self._names], [self.node, key])

        return self._public(what, run)

    def renew(self) -> Deferred[Renewal]:
        """
        As L{Bus.renew}; on ``"lost"`` this node's names are freed at once.
        Fails with L{NodeNameTaken} if another process took this node's
        name once its lease had run out.
        """
        what = f"renew the lease of node {self.node}"

        async def run() -> Renewal:
            # One at a time: a renewal that takes a fresh token must be seen
            # before the next one sends its token.
            await self._renewing.acquire()
            try:
                fresh = secrets.token_hex(16)
                outcome, run_id = await self._eval(
                    what, RENEW, [self._lease, self._names],
                    [self._token, self._ms(self.timeout), self._run_id or "", fresh, self.node, self._name_prefix],
                )
                if outcome == "taken":
                    raise NodeNameTaken(f"a live node is already named {self.node}")
                if outcome == "lost":
                    self._token = fresh
                    log.warn("node {node} lost its lease: the other nodes took it for dead", node=self.node)
                elif outcome == "restarted":
                    log.warn("Redis at {where} restarted and kept nothing; node {node} took its lease again",
                             where=self.where, node=self.node)
                self._run_id = run_id
                result: Renewal = outcome
                return result
            finally:
                self._renewing.release()

        return self._public(what, run)

    def alive(self, node: str) -> Deferred[bool]:
        what = f"ask whether node {node} is alive"

        async def run() -> bool:
            return bool(await self._eval(what, "return redis.call('EXISTS', KEYS[1])", [self.prefix + "node:" + node], []))

        return self._public(what, run)

    def reap(self, node: str) -> Deferred[list[str]]:
        what = f"free the names of node {node}"

        async def run() -> list[str]:
            freed = await self._eval(what, REAP, [self.prefix + "names:" + node], [node, self._name_prefix])
            return [k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in freed or []]

        return self._public(what, run)

    def count(self, key: str, window: float) -> Deferred[int]:
        what = f"count {key!r}"

        async def run() -> int:
            return int(await self._eval(what, COUNT, [self.prefix + "count:" + key], [self._ms(window)]))

        return self._public(what, run)


if TYPE_CHECKING:

    def _is_a_bus(bus: RedisBus) -> Bus:  # mypy checks that RedisBus keeps the Bus protocol
        return bus
