"""
Shared pieces for tchat's tests: a session that records what the hub tells it,
and a line client for real loopback sockets.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer, endpoints, reactor
from twisted.internet.task import Clock
from twisted.protocols.basic import LineReceiver

from tchat.commands import Request
from tchat.events import Event
from tchat.door.line import LineDoor, LineLimits
from tchat.hub import Hub, HubConfig


class RecordingSession:
    """A L{tchat.hub.Session} that keeps every event and whether it was closed."""

    def __init__(self, address: str = "127.0.0.1:5000") -> None:
        self.events: list[Event] = []
        self.closed: str | None = None
        self.address = address
        self._waiting: list[defer.Deferred[Event]] = []

    def deliver(self, event: Event) -> None:
        if self.closed is not None:
            return  # as a door does: nothing goes out after the bye
        self.events.append(event)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(event)

    def next_event(self) -> defer.Deferred[Event]:
        """Fires with the next event delivered from now on."""
        d: defer.Deferred[Event] = defer.Deferred()
        self._waiting.append(d)
        return d

    def close(self, reason: str) -> None:
        self.closed = reason

    def describe(self) -> dict[str, str]:
        return {"address": self.address, "host": self.address.rsplit(":", 1)[0], "door": "test"}

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def last(self, name: str | None = None) -> Event:
        for event in reversed(self.events):
            if name is None or event.name == name:
                return event
        raise AssertionError(f"no {name} event among {self.names()}")

    def of(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def clear(self) -> None:
        del self.events[:]


def make_hub(**config: Any) -> tuple[Hub, Clock]:
    clock = Clock()
    clock.advance(1_000_000)
    return Hub(HubConfig(**config), clock), clock


def request(action: str, id: Any = None, **args: Any) -> Request:
    return Request(action, args, id)


def logged_in(hub: Hub, name: str, address: str = "127.0.0.1:5000") -> RecordingSession:
    """A session connected and logged in as ``name``, with its events cleared."""
    session = RecordingSession(address)
    hub.connect(session)
    hub.handle(session, request("login", user=name))
    assert session.last().name == "logged_in", session.events
    session.clear()
    return session


class LineClient(LineReceiver):
    """
    A client on a real socket that collects lines. L{wait_for} looks through
    the lines not yet matched (in order) and then waits for new ones, so a
    line that arrived before the test asked for it is not missed.
    """

    delimiter = b"\r\n"
    MAX_LENGTH = 1 << 20

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._cursor = 0
        self._waiting: tuple[Any, defer.Deferred[str]] | None = None
        self.lost: defer.Deferred[None] = defer.Deferred()

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line.decode("utf-8"))
        self._match()

    def _match(self) -> None:
        if self._waiting is None:
            return
        match, d = self._waiting
        while self._cursor < len(self.lines):
            line = self.lines[self._cursor]
            self._cursor += 1
            if match(line):
                self._waiting = None
                d.callback(line)
                return

    def connectionLost(self, reason: Any = None) -> None:
        if not self.lost.called:
            self.lost.callback(None)
        if self._waiting is not None:
            _, d = self._waiting
            self._waiting = None
            d.errback(ConnectionError(f"connection lost while waiting; lines: {self.lines}"))

    def send(self, line: str | bytes) -> None:
        self.transport.write(line if isinstance(line, bytes) else line.encode("utf-8") + b"\n")

    def send_json(self, **obj: Any) -> None:
        self.send(json.dumps(obj))

    def wait_for(self, match: Any) -> defer.Deferred[str]:
        """The next line for which ``match(line)`` holds (or equal to a str)."""
        if isinstance(match, str):
            wanted = match
            match = lambda line: line == wanted  # noqa: E731
        assert self._waiting is None, "one wait at a time"
        d: defer.Deferred[str] = defer.Deferred()
        self._waiting = (match, d)
        self._match()
        if self._waiting is not None and self.lost.called:
            self.connectionLost()
        return d

    def wait_event(self, name: str, **fields: Any) -> defer.Deferred[dict[str, Any]]:
        """The next JSON event called ``name`` whose fields include ``fields``."""

        def match(line: str) -> bool:
            if not line.startswith("{"):
                return False
            obj = json.loads(line)
            return obj.get("event") == name and all(obj.get(k) == v for k, v in fields.items())

        return self.wait_for(match).addCallback(json.loads)


async def connect_line_client(port: int) -> LineClient:
    client = LineClient()
    await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
    return client


def generous_limits(**overrides: Any) -> LineLimits:
    """Limits that stay out of the way of a test about something else."""
    values: dict[str, Any] = dict(flood_rate=1e6, flood_burst=10**6, flood_queue=10**6, max_per_address=10**6)
    values.update(overrides)
    return LineLimits(**values)


async def start_line_server(
    case: Any, limits: LineLimits | None = None, **config: Any
) -> tuple[Hub, LineDoor, int]:
    """
    A hub and a line door on 127.0.0.1, port 0, torn down after the test
    ``case``: listening stops, everyone is closed, every connection is gone.
    """
    hub = Hub(HubConfig(**config), reactor)
    door = LineDoor(hub, limits or generous_limits(close_grace=2.0), reactor)
    port = reactor.listenTCP(0, door, interface="127.0.0.1", backlog=1024)

    async def stop() -> None:
        await port.stopListening()
        hub.close_all("test over")
        await door.wait_closed()

    case.addCleanup(lambda: defer.Deferred.fromCoroutine(stop()))
    return hub, door, port.getHost().port
