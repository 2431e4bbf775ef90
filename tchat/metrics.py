"""
What tchat counts for its operators, in Prometheus' terms (prometheus-client).

Counting must not cost the fan-out, so nothing here is called per delivery:

- what is *state* (connections per door, users online, rooms) is read when
  Prometheus scrapes, by L{ChatCollector}, from the doors and the hub;
- deliveries are counted per fan-out: each room keeps how many of its
  members are on each door (updated on join and part), and a fan-out adds
  those counts once (L{Metrics.fanned_out});
- messages are counted per kind in a dict, read at scrape time too;
- the rest (logins, drops, refusals, store calls) happens once per request
  or less.

The hub and the doors hold a L{Metrics}; without ``--metrics-port`` it is
still there and counts (a few integer additions), nobody reads it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter as PromCounter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

# Store calls take from well under a millisecond (a cached read) to the
# store's timeout (10 s by default).
# No *_created series: they double the output and say nothing an operator asks.
disable_created_metrics()

STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The counters of one tchat process, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Messages sent, by kind: counted here (a dict addition per message,
        # not a prometheus-client call with its lock) and read at scrape time.
        self.messages: Counter[str] = Counter()
        self._store_operations: dict[str, Any] = {}
        self.dropped = PromCounter(
            "tchat_dropped", "Connections the server dropped, by reason (too slow, ping timeout, login timeout, …).",
            ["reason"], registry=self.registry,
        )
        self.rate_limited = PromCounter(
            "tchat_rate_limited", "Requests refused as rate_limited (flood, password guesses, registrations).",
            registry=self.registry,
        )
        self.logins = PromCounter("tchat_logins", "Login attempts, by result (guest, account, or the error code).", ["result"], registry=self.registry)
        self.store_seconds = Histogram(
            "tchat_store_seconds", "Time of each store call, by operation.", ["operation"], buckets=STORE_BUCKETS,
            registry=self.registry,
        )
        # Deliveries are counted here, a dict addition per fan-out (not a
        # prometheus-client call), and read at scrape time.
        self.deliveries: Counter[str] = Counter()
        ProcessCollector(registry=self.registry)

    def fanned_out(self, per_door: Counter[str] | dict[str, int]) -> None:
        """One fan-out reached these many connections on each door."""
        # (A loop, not Counter.update, which checks for a Mapping through the ABCs first.)
        deliveries = self.deliveries
        for door, count in per_door.items():
            deliveries[door] += count

    def delivered(self, door: str, count: int = 1) -> None:
        self.deliveries[door] += count

    def message(self, kind: str) -> None:
        """One message of ``kind`` sent."""
        self.messages[kind] += 1

    def observe_store(self, operation: str, seconds: float) -> None:
        child = self._store_operations.get(operation)
        if child is None:
            child = self._store_operations[operation] = self.store_seconds.labels(operation)
        child.observe(seconds)

    def watch(self, connections: Callable[[], dict[str, int]], users_online: Callable[[], int], rooms: Callable[[], int]) -> None:
        """Read these when scraped: connections per door, users online, rooms."""
        self.registry.register(ChatCollector(self, connections, users_online, rooms))


class ChatCollector:
    """What is read at scrape time: the gauges, and the deliveries counted so far."""

    def __init__(
        self, metrics: Metrics, connections: Callable[[], dict[str, int]], users_online: Callable[[], int], rooms: Callable[[], int]
    ) -> None:
        self.metrics = metrics
        self.connections = connections
        self.users_online = users_online
        self.rooms = rooms

    def collect(self) -> Iterable[Metric]:
        deliveries = CounterMetricFamily("tchat_deliveries", "Events delivered to connections, by door.", labels=["door"])
        for door, total in sorted(self.metrics.deliveries.items()):
            deliveries.add_metric([door], total)
        yield deliveries
        messages = CounterMetricFamily("tchat_messages", "Messages sent, by kind (public, private, action).", labels=["kind"])
        for kind, total in sorted(self.metrics.messages.items()):
            messages.add_metric([kind], total)
        yield messages
        per_door = GaugeMetricFamily("tchat_connections", "Open connections, by door.", labels=["door"])
        for door, count in sorted(self.connections().items()):
            per_door.add_metric([door], count)
        yield per_door
        yield GaugeMetricFamily("tchat_users_online", "Users logged in.", value=self.users_online())
        yield GaugeMetricFamily("tchat_rooms", "Rooms that exist.", value=self.rooms())

    def describe(self) -> Iterable[Any]:
        return []
