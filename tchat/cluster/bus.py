"""
The bus seam: what links the nodes of one chat.

A L{Bus} gives a node four things, and nothing else:

- **one channel** every node hears: L{Bus.publish} sends bytes to every other
  node (never back to the sender), in the order this node published them;
  the bytes are a L{tchat.cluster.wire} message, and a receiver treats them
  as untrusted input;
- **names**: L{Bus.claim} and L{Bus.release} keep each name held by one
  guest, or by one account on any number of nodes, cluster-wide and
  atomically (two nodes claiming a name at once: exactly one wins);
- **leases**: a node holds its node name while it renews its lease
  (L{Bus.renew}) more often than the lease lasts; another node that stops
  hearing it asks L{Bus.alive} and, once the lease is gone, frees what it
  held with L{Bus.reap};
- **shared counters** for limits that must hold across nodes
  (L{Bus.count}: password guesses).

L{MemoryBus} links nodes in one process (the tests run two or three hubs in
one reactor over it); L{tchat.cluster.redis.RedisBus} links processes and
machines through Redis. The database stays the truth: the bus only carries
what happens live.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime

from tchat.chat.state import Unreachable

Renewal = Literal["renewed", "lost", "restarted"]


class BusError(Unreachable):
    """The bus cannot be reached (or refused a command); what depends on it waits or is refused."""


class NodeNameTaken(BusError):
    """Another live node already uses this node name."""


class Bus(Protocol):
    node: str

    @property
    def up(self) -> bool:
        """Whether the link works now (subscribed, commands answered)."""

    def start(self, receive: Callable[[bytes], None], link: Callable[[bool], None]) -> Deferred[None]:
        """
        Connect, take this node's lease and subscribe. Fails with
        L{NodeNameTaken} if a live node holds the name, with L{BusError} if
        the bus cannot be reached. From then on ``receive(data)`` is called
        with each message another node publishes, and ``link(up)`` each time
        the link goes down (False) or is back and subscribed again (True).
        """

    def stop(self) -> Deferred[None]:
        """Free this node's names and lease, and disconnect."""

    def publish(self, data: bytes) -> None:
        """
        Send ``data`` to every other node. Never fails: while the link is
        down the message is dropped (and counted); pub/sub is at most once.
        """

    def claim(self, key: str, account: bool) -> Deferred[bool]:
        """
        Hold the name ``key`` for this node: True if it was free, or held by
        the same account (``account``) elsewhere; False if a guest holds it,
        or a guest asks for a name an account holds. Fails with L{BusError}
        if the bus does not answer, or if this node's lease is lost.
        """

    def release(self, key: str) -> Deferred[None]:
        """This node holds ``key`` no more (the other nodes' holds stay)."""

    def renew(self) -> Deferred[Renewal]:
        """
        Renew this node's lease. ``"renewed"``; ``"lost"`` if it ran out (the
        others took this node for dead: it must drop its users before it
        claims anything again; its lease is taken afresh and its names are
        free); ``"restarted"`` if the bus itself started afresh and kept
        nothing (the lease is taken again; the node re-claims its names).
        """

    def alive(self, node: str) -> Deferred[bool]:
        """Whether ``node``'s lease is held."""

    def reap(self, node: str) -> Deferred[list[str]]:
        """Free every name the dead ``node`` held; the keys it held no more (idempotent)."""

    def count(self, key: str, window: float) -> Deferred[int]:
        """Add one to the counter ``key`` (which lasts ``window`` seconds from its first count); its value now."""


@dataclass
class _Shared:
    """What every node of one MemoryBus sees: the names, the leases, the counters."""

    clock: IReactorTime
    timeout: float
    buses: dict[str, "MemoryBus"] = field(default_factory=dict)
    names: dict[str, tuple[bool, set[str]]] = field(default_factory=dict)
    leases: dict[str, float] = field(default_factory=dict)
    counters: dict[str, tuple[float, int]] = field(default_factory=dict)
    epoch: int = 0


class MemoryCluster:
    """
    Nodes in one process, linked as Redis links them: messages arrive a
    reactor turn later (``clock.callLater(0, …)``), in the order sent.
    L{MemoryCluster.cut} takes a node off the bus; L{MemoryCluster.restart}
    forgets every name and lease, as a Redis that keeps nothing does.
    """

    def __init__(self, clock: IReactorTime, timeout: float = 10.0) -> None:
        self.shared = _Shared(clock, timeout)

    def bus(self, node: str) -> "MemoryBus":
        return MemoryBus(self.shared, node)

    def cut(self, node: str) -> None:
        self.shared.buses[node]._set_up(False)

    def mend(self, node: str) -> None:
        self.shared.buses[node]._set_up(True)

    def restart(self) -> None:
        self.shared.names.clear()
        self.shared.leases.clear()
        self.shared.counters.clear()
        self.shared.epoch += 1
        for bus in list(self.shared.buses.values()):
            bus._set_up(False)
        for bus in list(self.shared.buses.values()):
            bus._set_up(True)


class MemoryBus:
    _ids = itertools.count(1)

    def __init__(self, shared: _Shared, node: str) -> None:
        self.shared = shared
        self.node = node
        self._up = False
        self._receive: Callable[[bytes], None] | None = None
        self._link: Callable[[bool], None] | None = None
        self._epoch = -1
        self.published = 0
        self.dropped = 0

    @property
    def up(self) -> bool:
        return self._up

    def _live(self, node: str) -> bool:
        until = self.shared.leases.get(node)
        return until is not None and until > self.shared.clock.seconds()

    def start(self, receive: Callable[[bytes], None], link: Callable[[bool], None]) -> Deferred[None]:
        if self._live(self.node):
            return fail(NodeNameTaken(f"a live node is already named {self.node}"))
        self._receive, self._link = receive, link
        self.shared.buses[self.node] = self
        self.shared.leases[self.node] = self.shared.clock.seconds() + self.shared.timeout
        self._epoch = self.shared.epoch
        self._up = True
        return succeed(None)

    def stop(self) -> Deferred[None]:
        self.reap(self.node)
        self.shared.leases.pop(self.node, None)
        if self.shared.buses.get(self.node) is self:
            del self.shared.buses[self.node]
        self._up = False
        return succeed(None)

    def _set_up(self, up: bool) -> None:
        if up == self._up:
            return
        self._up = up
        if self._link is not None:
            self._link(up)

    def publish(self, data: bytes) -> None:
        if not self._up:
            self.dropped += 1
            return
        self.published += 1
        for bus in list(self.shared.buses.values()):
            if bus is not self:
                self.shared.clock.callLater(0, bus._arrive, data)

    def _arrive(self, data: bytes) -> None:
        if self._up and self._receive is not None:
            self._receive(data)

    def _check(self) -> BusError | None:
        if not self._up:
            return BusError("the bus is not reachable")
        if not self._live(self.node):
            return BusError(f"node {self.node} lost its lease")
        return None

    def claim(self, key: str, account: bool) -> Deferred[bool]:
        error = self._check()
        if error is not None:
            return fail(error)
        held = self.shared.names.get(key)
        if held is None:
            self.shared.names[key] = (account, {self.node})
            return succeed(True)
        if held[0] and account:
            held[1].add(self.node)
            return succeed(True)
        return succeed(False)

    def release(self, key: str) -> Deferred[None]:
        if not self._up:
            return fail(BusError("the bus is not reachable"))
        held = self.shared.names.get(key)
        if held is not None:
            held[1].discard(self.node)
            if not held[1]:
                del self.shared.names[key]
        return succeed(None)

    def renew(self) -> Deferred[Renewal]:
        if not self._up:
            return fail(BusError("the bus is not reachable"))
        now = self.shared.clock.seconds()
        result: Renewal = "renewed"
        if self._epoch != self.shared.epoch:
            result = "restarted"
        elif not self._live(self.node):
            result = "lost"
        self._epoch = self.shared.epoch
        self.shared.leases[self.node] = now + self.shared.timeout
        return succeed(result)

    def alive(self, node: str) -> Deferred[bool]:
        if not self._up:
            return fail(BusError("the bus is not reachable"))
        return succeed(self._live(node))

    def reap(self, node: str) -> Deferred[list[str]]:
        freed = []
        for key, (account, nodes) in list(self.shared.names.items()):
            if node in nodes:
                nodes.discard(node)
                freed.append(key)
                if not nodes:
                    del self.shared.names[key]
        return succeed(freed)

    def count(self, key: str, window: float) -> Deferred[int]:
        if not self._up:
            return fail(BusError("the bus is not reachable"))
        now = self.shared.clock.seconds()
        start, n = self.shared.counters.get(key, (now, 0))
        if start + window <= now:
            start, n = now, 0
        self.shared.counters[key] = (start, n + 1)
        return succeed(n + 1)
