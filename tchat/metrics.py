"""
What tchat counts for its operators, in Prometheus' terms (prometheus-client).

Counting must not cost the fan-out, so nothing here is called per delivery:

- what is *state* (connections per door, users online, rooms) is read when
  Prometheus scrapes, by L{ChatCollector}, from the doors and the hub;
- deliveries are counted per fan-out: each room keeps how many of its
  members are on each door (updated on join and part), and a fan-out adds
  those counts once (L{Metrics.fanned_out});
- messages are counted per kind in a dict, read at scrape time too;
- store calls are timed into plain bucket counts (L{Timings}: a bisect and
  two additions, no lock), also read at scrape time: history.add runs once
  per message sent;
- the rest (logins, drops, refusals) happens once per request or less.

The hub and the doors hold a L{Metrics}; without ``--metrics-port`` it is
still there and counts (a few integer additions), nobody reads it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter as PromCounter, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

# Store calls take from well under a millisecond (a cached read) to the
# store's timeout (10 s by default).
# No *_created series: they double the output and say nothing an operator asks.
disable_created_metrics()

STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Timings:
    """
    A histogram of durations by operation (``tchat_store_seconds``), kept as
    plain counts: observed from the reactor thread only, read at scrape time
    (L{collect}) from the thread that serves /metrics. prometheus-client's
    Histogram takes a lock per bucket and per sum, and history.add is timed
    once per message sent.
    """

    def __init__(self, name: str, documentation: str, label: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.bounds = buckets
        self._le = [floatToGoString(b) for b in buckets] + ["+Inf"]
        # Per operation: a count per bucket (the last one +Inf, not
        # cumulative), then the sum of the durations.
        self.by_operation: dict[str, list[float]] = {}

    def observe(self, operation: str, seconds: float) -> None:
        counts = self.by_operation.get(operation)
        if counts is None:
            counts = self.by_operation[operation] = [0] * (len(self.bounds) + 2)
        # Prometheus buckets hold what is at most their bound: the first bound >= seconds.
        counts[bisect_left(self.bounds, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        for operation, counts in sorted(self.by_operation.items()):
            counts = list(counts)
            cumulative, buckets = 0.0, []
            for le, count in zip(self._le, counts):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric([operation], buckets, sum_value=counts[-1])
        return family


class Metrics:
    """The counters of one tchat process, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Messages sent, by kind: counted here (a dict addition per message,
        # not a prometheus-client call with its lock) and read at scrape time.
        self.messages: Counter[str] = Counter()
        self.dropped = PromCounter(
            "tchat_dropped", "Connections the server dropped, by reason (too slow, ping timeout, login timeout, …).",
            ["reason"], registry=self.registry,
        )
        self.rate_limited = PromCounter(
            "tchat_rate_limited", "Requests refused as rate_limited (flood, password guesses, registrations).",
            registry=self.registry,
        )
        self.logins = PromCounter("tchat_logins", "Login attempts, by result (guest, account, or the error code).", ["result"], registry=self.registry)
        self.store_seconds = Timings("tchat_store_seconds", "Time of each store call, by operation.", "operation", STORE_BUCKETS)
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
        self.store_seconds.observe(operation, seconds)

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
        yield self.metrics.store_seconds.collect()

    def describe(self) -> Iterable[Any]:
        return []
