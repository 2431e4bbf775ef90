"""
A node of several: what links this process's hub to the others on the bus.

L{Node} builds the hub's state and delivery seams (L{ClusterState},
L{ClusterDelivery}), then, once started:

- applies what the other nodes publish (each message checked by
  L{tchat.cluster.wire.decode}; a bad one is logged and dropped);
- renews this node's lease (which lasts ``LEASE`` of ``timeout``) and says
  ``hello`` every ``timeout / 4`` seconds; each second it looks for nodes
  not heard for as long as a lease lasts, and one whose lease is gone is
  dead (so a dead node is noticed within ``timeout``): each node takes its users out of its own copy of the chat and tells
  its own users they left ("connection lost"), and the dead node's names are
  freed on the bus;
- asks for every node's ``snapshot`` when it starts, when the bus comes back
  after a break, and when it sees a gap in a node's running numbers (a
  message lost: pub/sub is at most once), and makes its copy agree with it;
- when its own lease was lost (it was cut off longer than ``timeout``, so
  the others took it for dead and freed its names), drops its own users
  before it claims anything again (fencing); when the bus restarted and kept
  nothing, claims its users' names again;
- when stopping, says ``bye``: the others then tell their users that this
  node's users left, as for a dead node, and nothing else is published.

The rules know none of this: they run on the copy through the seams.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from tchat.chat.model import User
from tchat.cluster.bus import Bus, BusError, Renewal
from tchat.cluster.state import ClusterDelivery, ClusterState
from tchat.cluster.wire import BadMessage, decode, encode, event_of
from tchat.metrics import Metrics
from tchat.throttle import GuessThrottle

if TYPE_CHECKING:
    from tchat.chat.hub import Hub

log = Logger()

LOST = "connection lost"
# How much of --node-timeout a lease lasts: the rest is for noticing it ran out.
LEASE = 0.8
FENCED_BYE = "this server lost its link to the rest of the chat; log in again"


class _Peer:
    def __init__(self, epoch: str, now: float) -> None:
        self.epoch = epoch
        self.seq = 0
        self.heard = now


class Node:
    def __init__(self, bus: Bus, clock: IReactorTime, metrics: Metrics, timeout: float = 10.0, batch: bool = False) -> None:
        self.bus = bus
        self.name = bus.node
        self.clock = clock
        self.timeout = timeout
        self.lease = timeout * LEASE
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self.state = ClusterState(self.name, bus, self.send)
        self.state.node_info = self.describe
        self.delivery = ClusterDelivery(self.state, metrics, clock if batch else None)
        self.peers: dict[str, _Peer] = {}
        self.bad_messages = 0
        self.hub: Hub | None = None
        self.throttles: dict[str, GuessThrottle] = {}
        self._beat = LoopingCall(self._heartbeat)
        self._beat.clock = clock
        self._watch = LoopingCall(self._look_for_the_dead)
        self._watch.clock = clock
        self._checking: set[str] = set()
        self._stopping = False
        self.started: float | None = None

    def bind(self, hub: "Hub") -> None:
        """The hub whose state and delivery these are (built with L{Node.state}, L{Node.delivery})."""
        self.hub = hub
        # Wrong passwords count on every node.
        self.throttles = {"login": hub.login.guesses, "admin": hub.admin.guesses}
        for name, throttle in self.throttles.items():
            throttle.on_failed = lambda secret, host, name=name: self.send("guess", throttle=name, secret=secret, host=host)

    # -- starting and stopping -------------------------------------------

    def start(self) -> Deferred[None]:
        """Join the chat's nodes: fails with L{tchat.cluster.bus.NodeNameTaken} or L{BusError}."""
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        await self.bus.start(self.receive, self._link)
        self.started = self.clock.seconds()
        log.info("node {node} joined the chat's bus", node=self.name)
        self.send("hello", want_snapshot=True)
        self._beat.start(self.timeout / 4, now=False)
        self._watch.start(min(1.0, self.timeout / 10), now=False)

    def leaving(self, reason: str) -> None:
        """This node stops: the others are told once; from now on nothing else is published."""
        if self._stopping:
            return
        self.send("bye", reason=reason)
        self._stopping = True
        self.state.silence()

    def stop(self) -> Deferred[None]:
        self.leaving("server stopping")
        for loop in (self._beat, self._watch):
            if loop.running:
                loop.stop()
        return self.bus.stop()

    # -- sending ---------------------------------------------------------

    def send(self, kind: str, **fields: Any) -> None:
        if self._stopping:
            return
        self._seq += 1
        self.bus.publish(encode(kind, self.name, self.epoch, self._seq, **fields))

    # -- receiving -------------------------------------------------------

    def receive(self, data: bytes) -> None:
        try:
            message = decode(data)
        except BadMessage as e:
            self.bad_messages += 1
            log.warn("a bad message on the bus was dropped: {why}", why=str(e))
            return
        node = message["n"]
        if node == self.name:
            return
        try:
            self._receive(node, message)
        except BadMessage as e:
            self.bad_messages += 1
            log.warn("a bad {type} message from node {node} was dropped: {why}", type=message["t"], node=node, why=str(e))
        except Exception:
            log.failure("a {type} message from node {node} could not be applied", type=message["t"], node=node)

    def _receive(self, node: str, message: dict[str, Any]) -> None:
        now = self.clock.seconds()
        peer = self.peers.get(node)
        if peer is not None and peer.epoch != message["e"]:
            # The node started again: what its last life had is gone.
            log.info("node {node} started again", node=node)
            self.node_gone(node, LOST)
            peer = None
        if peer is None:
            peer = self.peers[node] = _Peer(message["e"], now)
            if message["t"] not in ("hello", "snapshot"):
                self.send("hello", want_snapshot=True)
        elif message["s"] != peer.seq + 1 and message["t"] != "snapshot":
            log.warn(
                "missed {n} messages from node {node}; asking every node for its snapshot",
                n=message["s"] - peer.seq - 1, node=node,
            )
            self.send("hello", want_snapshot=True)
        peer.seq = message["s"]
        peer.heard = now
        kind = message["t"]
        handler: Callable[[str, dict[str, Any]], None] = getattr(self, "_on_" + kind)
        handler(node, message)

    def _on_hello(self, node: str, message: dict[str, Any]) -> None:
        if message["want_snapshot"]:
            self.send("snapshot", users=self.state.snapshot(), rooms=self.state.room_snapshot())

    def _on_bye(self, node: str, message: dict[str, Any]) -> None:
        log.info("node {node} is stopping: {reason}", node=node, reason=message["reason"])
        self.node_gone(node, f"server stopping: {message['reason']}" if message["reason"] != "server stopping" else "server stopping")
        self.peers.pop(node, None)

    def _on_attach(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_attach(node, message["user"], message["conn"])

    def _on_detach(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            user = self.state.apply_detach(node, message["user"], message["conn"], message["left"])
        if user is not None:
            # This node is the one to announce it (see ClusterState.apply_detach).
            self._left(user, message["reason"] or LOST)

    def _on_release(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_release(message["user"])

    def _on_registered(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_registered(message["user"], message["registered"])

    def _on_join(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_join(message["room"], message["user"], message["since"])

    def _on_room(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_room(message["room"], message["settings"])

    def _on_rename(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_rename(message["user"], message["name"])

    def _on_away(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_away(message["user"], message["text"])

    def _on_part(self, node: str, message: dict[str, Any]) -> None:
        with self.state.applying():
            self.state.apply_part(message["room"], message["user"])

    def _on_to_conn(self, node: str, message: dict[str, Any]) -> None:
        connection = self.state.local(message["conn"])
        if connection is not None:
            self.delivery.deliver_here(connection, event_of(message["event"]))

    def _on_to_user(self, node: str, message: dict[str, Any]) -> None:
        self.delivery.local_user(message["user"], event_of(message["event"]), message["but"])

    def _on_to_room(self, node: str, message: dict[str, Any]) -> None:
        self.delivery.local_room(message["room"], event_of(message["event"]), message["but"])

    def _on_to_ranks(self, node: str, message: dict[str, Any]) -> None:
        self.delivery.local_ranks(message["room"], message["only"], event_of(message["event"]), message["but"])

    def _on_to_sharers(self, node: str, message: dict[str, Any]) -> None:
        self.delivery.local_sharers(message["user"], event_of(message["event"]))

    def _on_drop(self, node: str, message: dict[str, Any]) -> None:
        connection = self.state.local(message["conn"])
        if connection is not None and self.hub is not None:
            self.hub.login.drop(connection, message["bye"], message["reason"])

    def _on_guess(self, node: str, message: dict[str, Any]) -> None:
        throttle = self.throttles.get(message["throttle"])
        if throttle is None:
            raise BadMessage(f"no throttle {message['throttle'][:40]!r}")
        throttle.failed_elsewhere(message["secret"][:256], message["host"][:256])

    def _on_snapshot(self, node: str, message: dict[str, Any]) -> None:
        """Make this node's copy of ``node``'s users agree with what it says it has."""
        gone: list[User] = []
        with self.state.applying():
            listed: set[str] = set()
            for entry in message["users"]:
                info = entry["user"]
                for conn in entry["conns"]:
                    listed.add(conn["id"])
                    if self.state.remote(conn["id"]) is None:
                        self.state.apply_attach(node, info, conn)
                for room in entry["rooms"]:
                    self.state.apply_join(room, info["key"])
            for entry in message["rooms"]:
                self.state.apply_room(entry["room"], entry["settings"])
            for connection in self.state.of_node(node):
                if connection.id not in listed and connection.user is not None:
                    user = connection.user
                    self.state.detach(user, connection)
                    if not user.connections:
                        gone.append(user)
            for user in gone:
                self._left(user, LOST)

    # -- nodes that go -------------------------------------------------------

    def node_gone(self, node: str, reason: str) -> None:
        """
        ``node`` is dead or stopped: every node does this for itself, so each
        tells its own users (nothing is published).
        """
        with self.state.applying():
            for connection in self.state.of_node(node):
                user = connection.user
                if user is None:
                    continue
                self.state.detach(user, connection)
                if not user.connections and self.state.user(user.key) is user:
                    self._left(user, reason)
        self.bus.reap(node).addErrback(lambda f: log.warn("could not free node {node}'s names: {why}", node=node, why=f.value))

    def _left(self, user: User, reason: str) -> None:
        if self.hub is not None:
            log.info("{user} left the chat (on another node): {reason}", user=user.name, reason=reason)
            self.hub.login.left(user, reason)

    # -- the heartbeat ---------------------------------------------------

    def _heartbeat(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._beat_once())

    async def _beat_once(self) -> None:
        if self._stopping:
            return
        try:
            renewal = await self.bus.renew()
        except BusError as e:
            log.warn("node {node} cannot renew its lease: {why}", node=self.name, why=str(e))
            renewal = None
        if renewal is not None:
            self._renewed(renewal)
            self.send("hello", want_snapshot=False)

    def _look_for_the_dead(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._look_once())

    async def _look_once(self) -> None:
        now = self.clock.seconds()
        for node, peer in list(self.peers.items()):
            if now - peer.heard > self.lease and node not in self._checking:
                self._checking.add(node)
                try:
                    alive = await self.bus.alive(node)
                except BusError:
                    alive = True
                finally:
                    self._checking.discard(node)
                if not alive and self.peers.get(node) is peer:
                    log.warn("node {node} has not been heard for {s:.0f} s and its lease is gone: it is dead", node=node, s=now - peer.heard)
                    self.peers.pop(node, None)
                    self.node_gone(node, LOST)

    def _renewed(self, renewal: Renewal) -> None:
        if renewal == "lost":
            self._fence()
        elif renewal == "restarted":
            log.warn("the bus started afresh: node {node} claims its users' names again", node=self.name)
            self.state.unreleased.clear()
            self._claim_again()
            self.send("hello", want_snapshot=True)
        else:
            self.state.retry_releases()

    def _fence(self) -> None:
        """Our lease ran out: the others took this node for dead and freed its names. Drop our users first."""
        log.warn("node {node} lost its lease (cut off too long): its users are dropped", node=self.name)
        hub = self.hub
        with self.state.applying():
            if hub is not None:
                for connection in list(self.state.connections()):
                    if connection.user is not None:
                        hub.login.drop(connection, FENCED_BYE, "fenced")
            for node in list(self.peers):
                self.node_gone(node, LOST)
        self.peers.clear()
        self.state.held.clear()
        self.state.unreleased.clear()
        # A new life: the others forget whatever they still had of the last
        # one (what this node published before it knew) and ask for this one.
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self.send("hello", want_snapshot=True)

    def _claim_again(self) -> None:
        for key in list(self.state.held):
            user = self.state.user(key)
            if user is None:
                self.state.held.discard(key)
                continue

            def claimed(ok: bool, user: User = user) -> None:
                if not ok and self.hub is not None:
                    log.warn("{user}'s name was taken elsewhere while the bus was down; dropped here", user=user.name)
                    for connection in [c for c in user.connections if c.node is None]:
                        self.hub.login.drop(connection, f"the name {user.name} is taken", "name taken")

            self.bus.claim(key, user.registered).addCallbacks(claimed, lambda f: None)

    def _link(self, up: bool) -> None:
        if up:
            log.info("node {node}: the bus is back", node=self.name)
            d = self._heartbeat()
            d.addCallback(lambda _: self.send("hello", want_snapshot=True))
        else:
            log.warn("node {node}: the bus is down; this node's users go on among themselves", node=self.name)

    # -- /debug ----------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        now = self.clock.seconds()
        nodes = [{"node": self.name, "this": True, "bus": "up" if self.bus.up else "down"}]
        for node, peer in sorted(self.peers.items()):
            nodes.append({"node": node, "heard": round(now - peer.heard, 1), "connections": len(self.state.of_node(node))})
        return nodes


class NodeCollector:
    """This node in the metrics: its name, the other nodes it hears, its bus (read when scraped)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterable[Metric]:
        node = self.node
        info = GaugeMetricFamily("tchat_node", "This node of the chat (always 1), by name.", labels=["node"])
        info.add_metric([node.name], 1)
        yield info
        yield GaugeMetricFamily("tchat_nodes", "Nodes of the chat this node hears, itself included.", value=1 + len(node.peers))
        yield GaugeMetricFamily("tchat_bus_up", "1 while this node's link to the bus works.", value=1 if node.bus.up else 0)
        yield CounterMetricFamily("tchat_bus_bad_messages", "Bus messages dropped as malformed.", value=node.bad_messages)
        published = getattr(node.bus, "published", None)
        dropped = getattr(node.bus, "dropped", None)
        if published is not None:
            yield CounterMetricFamily("tchat_bus_published", "Messages this node published on the bus.", value=published)
        if dropped is not None:
            yield CounterMetricFamily("tchat_bus_dropped", "Messages not published because the bus was down.", value=dropped)

    def describe(self) -> Iterable[Any]:
        return []
