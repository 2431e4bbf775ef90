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

from tchat.commands.parse import CONVERTERS
from tchat.commands import JSON_ACTIONS, BadRequest, Request
from tchat.events import Event
from tchat.door.line import LineDoor, LineLimits
from tchat.door.textmode import WATCHED, TextMode
from tchat.chat import Hub, HubConfig
from tchat.chat.model import Session


class RecordingSession:
    """
    A L{tchat.chat.Session} that keeps every event and whether it was closed.
    It keeps text mode's current room as a line session in text mode does
    (L{TextMode}); a L{TextModeHub} completes its requests with it.
    """

    # Events come one by one through deliver().
    out_codec = None

    def __init__(self, address: str = "127.0.0.1:5000") -> None:
        self.events: list[Event] = []
        self.closed: str | None = None
        self.address = address
        self._waiting: list[defer.Deferred[Event]] = []
        self.text_mode = TextMode()

    def complete(self, request: Request) -> Request:
        return self.text_mode.complete(request)

    def deliver(self, event: Event) -> None:
        if self.closed is not None:
            return  # as a door does: nothing goes out after the bye
        if event.name in WATCHED:
            event = self.text_mode.shown(event)
        self.events.append(event)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(event)

    def write_out(self, data: bytes) -> None:
        raise AssertionError("a session whose out_codec is None is handed events, never bytes")

    def next_event(self) -> defer.Deferred[Event]:
        """Fires with the next event delivered from now on."""
        d: defer.Deferred[Event] = defer.Deferred()
        self._waiting.append(d)
        return d

    def drained(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def close(self, reason: str, re: Any = None) -> None:
        self.closed = reason
        self.closed_re = re

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


class TextModeHub(Hub):
    """
    The hub with a text-mode line door in front: each request is completed
    by its session first, in its turn, as the line door does
    (L{tchat.door.session.DoorSession.complete}): a plain line made a login
    or a message, the current room filled in where the request left it out.
    """

    def handle(self, session: Session, request: Request) -> defer.Deferred[None]:
        complete = getattr(session, "complete", None)
        return super().handle(session, complete(request) if complete is not None else request)


def make_hub(**config: Any) -> tuple[Hub, Clock]:
    clock = Clock()
    clock.advance(1_000_000)
    return TextModeHub(HubConfig(**config), clock), clock


def request(action: str, id: Any = None, **args: Any) -> Request:
    """
    A request as the parsers make it: the action an alias names, each
    field's constraints checked (fields text mode may leave out, such as
    ``to``, are not required here).
    """
    command = JSON_ACTIONS.get(action)
    if command is None:
        return Request(action, args, id)  # "line": text mode's own
    for f in command.fields:
        if f.name in args and f.kind in CONVERTERS:
            try:
                args[f.name] = CONVERTERS[f.kind](args[f.name])
            except ValueError as e:
                raise BadRequest("bad_request", str(e), id) from None
        why = f.refuses(args[f.name]) if f.name in args else None
        if why is not None:
            raise BadRequest("bad_request", why, id)
    return Request(command.action, args, id)


def logged_in(hub: Hub, name: str, address: str = "127.0.0.1:5000") -> RecordingSession:
    """A session connected and logged in as ``name``, with its events cleared."""
    session = RecordingSession(address)
    hub.connect(session)
    hub.handle(session, request("login", user=name))
    assert session.last().name == "logged_in", session.events
    session.clear()
    return session


class Inbox:
    """
    What a test client received, in order, and one wait at a time:
    L{wait_for} looks through the items not yet matched, then waits for new
    ones, so an item that arrived before the test asked for it is not missed.
    """

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cursor = 0
        self._waiting: tuple[Any, defer.Deferred[Any]] | None = None
        self._ended: str | None = None

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._match()

    def end(self, why: str) -> None:
        """Nothing more will come: a wait not yet matched fails."""
        self._ended = why
        if self._waiting is not None:
            _, d = self._waiting
            self._waiting = None
            d.errback(ConnectionError(f"{why} while waiting; received: {self.items}"))

    def wait_for(self, match: Any) -> defer.Deferred[Any]:
        assert self._waiting is None, "one wait at a time"
        d: defer.Deferred[Any] = defer.Deferred()
        self._waiting = (match, d)
        self._match()
        if self._ended is not None:
            self.end(self._ended)
        return d

    def _match(self) -> None:
        if self._waiting is None:
            return
        match, d = self._waiting
        while self._cursor < len(self.items):
            item = self.items[self._cursor]
            self._cursor += 1
            if match(item):
                self._waiting = None
                d.callback(item)
                return


def event_matcher(name: str, **fields: Any) -> Any:
    """A match for L{Inbox.wait_for}: a JSON event called ``name`` whose fields include ``fields``."""
    return lambda obj: obj.get("event") == name and all(obj.get(k) == v for k, v in fields.items())


class LineClient(LineReceiver):
    """A client on a real socket that collects lines in an L{Inbox}."""

    delimiter = b"\r\n"
    MAX_LENGTH = 1 << 20

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.lines: list[str] = self.inbox.items
        self.lost: defer.Deferred[None] = defer.Deferred()

    def lineReceived(self, line: bytes) -> None:
        self.inbox.add(line.decode("utf-8"))

    def connectionLost(self, reason: Any = None) -> None:
        if not self.lost.called:
            self.lost.callback(None)
        self.inbox.end("connection lost")

    def send(self, line: str | bytes) -> None:
        self.transport.write(line if isinstance(line, bytes) else line.encode("utf-8") + b"\n")

    def send_json(self, **obj: Any) -> None:
        self.send(json.dumps(obj))

    def wait_for(self, match: Any) -> defer.Deferred[str]:
        """The next line for which ``match(line)`` holds (or equal to a str)."""
        if isinstance(match, str):
            wanted = match
            match = lambda line: line == wanted  # noqa: E731
        return self.inbox.wait_for(match)

    def wait_event(self, name: str, **fields: Any) -> defer.Deferred[dict[str, Any]]:
        """The next JSON event called ``name`` whose fields include ``fields``."""
        is_event = event_matcher(name, **fields)
        return self.wait_for(lambda line: line.startswith("{") and is_event(json.loads(line))).addCallback(json.loads)


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
    hub = Hub(HubConfig(**config), reactor, batch=True)
    door = LineDoor(hub, limits or generous_limits(close_grace=2.0), reactor)
    port = reactor.listenTCP(0, door, interface="127.0.0.1", backlog=1024)

    async def stop() -> None:
        await port.stopListening()
        hub.close_all("test over")
        await door.wait_closed()

    case.addCleanup(lambda: defer.Deferred.fromCoroutine(stop()))
    return hub, door, port.getHost().port


def take_json(transport: Any) -> list[dict[str, Any]]:
    """The JSON objects written to a StringTransport since the last take."""
    data = transport.value()
    transport.clear()
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def feed_event(client: Any, event: str, ts: float, **fields: Any) -> None:
    """Hand a protocol one JSON event line, as a server would send it."""
    client.dataReceived(json.dumps({"event": event, "ts": ts, **fields}).encode() + b"\r\n")
