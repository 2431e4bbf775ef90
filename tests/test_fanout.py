"""
The fan-out as the server runs it: a reactor turn's deliveries written at the
turn's end, one write per connection, in the order they were delivered.

The rules run on a Clock (``Hub(batch=True)``); the sessions take their events
as bytes, as the line door's do, and keep every write. Then the same on real
loopback sockets: the bytes go straight to the socket when nothing waits in the
transport, and through it when something does.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.chat.delivery import EARLY_WRITE
from tchat.codec import JSON, TEXT
from tchat.door.irc import IrcDoor
from tchat.events import Event
from tests import test_hub
from tests.helpers import RecordingSession, connect_line_client, generous_limits, request, start_line_server


class BytesSession:
    """A session whose events come as bytes in one codec (as a line door's do); every write kept."""

    def __init__(self, name: str, codec: Any = JSON) -> None:
        self.name = name
        self.out_codec = codec
        self.writes: list[bytes] = []
        self.closed: str | None = None

    def deliver(self, event: Event) -> None:
        self.writes.append(event.encoded(self.out_codec))

    def write_out(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self, reason: str, re: Any = None) -> None:
        self.closed = reason
        self.writes.append(b"closed: " + reason.encode() + b"\n")

    def describe(self) -> dict[str, str]:
        return {"address": f"127.0.0.1:{abs(hash(self.name)) % 60000}", "host": "127.0.0.1", "door": "tcp"}

    def drained(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for data in self.writes for line in data.splitlines() if not line.startswith(b"closed: ")]

    def texts(self) -> list[str]:
        return [e["text"] for e in self.events() if e["event"] == "message"]

    def clear(self) -> None:
        self.writes.clear()


def batched_hub() -> tuple[Hub, Clock]:
    clock = Clock()
    clock.advance(1_000_000)
    return Hub(HubConfig(admin_password="pw"), clock, batch=True), clock


def join_as(hub: Hub, clock: Clock, session: Any, name: str) -> None:
    hub.connect(session)
    hub.handle(session, request("login", user=name))
    clock.advance(0)
    session.clear()


def join_all(hub: Hub, clock: Clock, sessions: list[Any]) -> None:
    """Log each of ``sessions`` in under its name, then forget what any of them was sent (the others' joins too)."""
    for session in sessions:
        join_as(hub, clock, session, session.name)
    for session in sessions:
        session.clear()


def say(hub: Hub, session: Any, text: str, to: str = "#lobby") -> None:
    hub.handle(session, request("msg", to=to, text=text))


class TurnTests(TestCase):
    def test_a_room_message_and_its_ok_carry_their_fields_in_the_protocol_order(self) -> None:
        # The rules build these two events by hand (they are made once per message): the
        # fields come in make_event's order, None left out, ts last.
        hub, clock = batched_hub()
        alice, bob = BytesSession("alice"), BytesSession("bob")
        join_all(hub, clock, [alice, bob])
        hub.handle(alice, request("msg", id=7, to="#lobby", text="hi"))
        hub.handle(alice, request("msg", to="#lobby", text="waves", kind="action"))
        clock.advance(0)

        def shapes(session: BytesSession) -> list[list[tuple[str, Any]]]:
            return [json.loads(line, object_pairs_hook=list) for data in session.writes for line in data.splitlines()]

        said, waved = shapes(bob)
        self.assertEqual([k for k, _ in said], ["event", "msgid", "from", "to", "text", "kind", "ts"])
        self.assertEqual([v for k, v in said if k in ("event", "from", "to", "text", "kind")], ["message", "alice", "#lobby", "hi", "public"])
        self.assertEqual(dict(waved)["kind"], "action")
        first_ok, second_ok = shapes(alice)
        self.assertEqual(first_ok, [("event", "ok"), ("re", 7), ("action", "msg"), ("msgid", dict(said)["msgid"]), ("ts", dict(said)["ts"])])
        self.assertEqual([k for k, _ in second_ok], ["event", "action", "msgid", "ts"])

    def test_nothing_is_written_before_the_turn_ends_and_then_one_write_each(self) -> None:
        hub, clock = batched_hub()
        alice, bob, carol = BytesSession("alice"), BytesSession("bob"), BytesSession("carol")
        join_all(hub, clock, [alice, bob, carol])
        say(hub, alice, "one")
        say(hub, alice, "two")
        say(hub, bob, "three")
        self.assertEqual((alice.writes, bob.writes, carol.writes), ([], [], []))
        clock.advance(0)
        # carol sent nothing: the turn's three messages, in one write.
        self.assertEqual(len(carol.writes), 1)
        self.assertEqual(carol.texts(), ["one", "two", "three"])
        # Each sender: the others' messages and its own oks, in order, in one write.
        self.assertEqual(len(bob.writes), 1)
        self.assertEqual(bob.texts(), ["one", "two"])
        self.assertEqual([e["event"] for e in bob.events()], ["message", "message", "ok"])
        self.assertEqual(alice.texts(), ["three"])
        self.assertEqual([e["event"] for e in alice.events()], ["ok", "ok", "message"])

    def test_one_encoding_is_encoded_once_and_the_same_bytes_go_to_all_who_sent_nothing(self) -> None:
        hub, clock = batched_hub()
        sender = BytesSession("sender")
        readers = [BytesSession(f"r{i}") for i in range(5)]
        texts = [BytesSession(f"t{i}", codec=TEXT) for i in range(2)]
        join_all(hub, clock, [sender] + readers + texts)
        say(hub, sender, "a")
        say(hub, sender, "b")
        clock.advance(0)
        self.assertTrue(all(r.writes[0] is readers[0].writes[0] for r in readers))
        self.assertTrue(texts[0].writes[0] is texts[1].writes[0])
        self.assertEqual(texts[0].writes[0].decode().splitlines(), ["[#lobby] <~sender> a", "[#lobby] <~sender> b"])

    def test_someone_who_joins_between_two_messages_gets_only_the_second(self) -> None:
        hub, clock = batched_hub()
        alice, bob, late = BytesSession("alice"), BytesSession("bob"), BytesSession("late")
        join_as(hub, clock, alice, "alice")
        join_as(hub, clock, bob, "bob")
        join_as(hub, clock, late, "late")
        hub.handle(alice, request("join", room="#club"))
        hub.handle(bob, request("join", room="#club"))
        clock.advance(0)
        for session in (alice, bob, late):
            session.clear()
        say(hub, alice, "before", to="#club")
        hub.handle(late, request("join", room="#club"))
        say(hub, alice, "after", to="#club")
        hub.handle(bob, request("part", room="#club"))
        say(hub, alice, "gone", to="#club")
        clock.advance(0)
        self.assertEqual(late.texts(), ["after", "gone"])
        self.assertEqual(bob.texts(), ["before", "after"])
        self.assertEqual([e["event"] for e in bob.events()], ["message", "join", "message", "ok"])

    def test_a_private_message_after_a_room_message_arrives_after_it(self) -> None:
        hub, clock = batched_hub()
        alice, bob = BytesSession("alice"), BytesSession("bob")
        join_as(hub, clock, alice, "alice")
        join_as(hub, clock, bob, "bob")
        bob.clear()
        say(hub, alice, "to the room")
        say(hub, alice, "just you", to="bob")
        say(hub, alice, "room again")
        clock.advance(0)
        self.assertEqual(bob.texts(), ["to the room", "just you", "room again"])
        self.assertEqual(len(bob.writes), 1)

    def test_a_session_that_takes_events_one_by_one_gets_them_in_the_same_order(self) -> None:
        hub, clock = batched_hub()
        alice = BytesSession("alice")
        join_as(hub, clock, alice, "alice")
        web = RecordingSession("127.0.0.1:6000")
        hub.connect(web)
        hub.handle(web, request("login", user="web"))
        clock.advance(0)
        web.clear()
        say(hub, alice, "one")
        say(hub, alice, "two", to="web")
        self.assertEqual(web.events, [])
        clock.advance(0)
        self.assertEqual([(e.name, e["text"]) for e in web.events], [("message", "one"), ("message", "two")])

    def test_a_dropped_connection_gets_what_came_before_its_bye(self) -> None:
        hub, clock = batched_hub()
        admin, bob = BytesSession("admin"), BytesSession("bob")
        join_as(hub, clock, admin, "admin")
        join_as(hub, clock, bob, "bob")
        hub.handle(admin, request("admin", password="pw"))
        bob.clear()
        say(hub, admin, "last words")
        hub.handle(admin, request("kill", user="bob"))
        self.assertIsNotNone(bob.closed)
        self.assertEqual(bob.texts(), ["last words"])
        self.assertTrue(bob.writes[-1].startswith(b"closed: "))

    def test_flush_writes_at_once_and_the_turns_end_finds_nothing_more(self) -> None:
        hub, clock = batched_hub()
        alice, bob = BytesSession("alice"), BytesSession("bob")
        join_as(hub, clock, alice, "alice")
        join_as(hub, clock, bob, "bob")
        bob.clear()
        say(hub, alice, "now")
        hub.flush()
        self.assertEqual(bob.texts(), ["now"])
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(0)
        self.assertEqual(len(bob.writes), 1)

    def test_a_long_turns_messages_to_a_small_room_go_out_before_the_turn_ends(self) -> None:
        hub, clock = batched_hub()
        alice, bob, carol = BytesSession("alice"), BytesSession("bob"), BytesSession("carol")
        join_all(hub, clock, [alice, bob, carol])
        for i in range(EARLY_WRITE + 6):
            say(hub, alice, f"m{i}")
        # The first EARLY_WRITE went out while the turn went on, in one write.
        self.assertEqual(len(bob.writes), 1)
        self.assertEqual(bob.texts(), [f"m{i}" for i in range(EARLY_WRITE)])
        clock.advance(0)
        self.assertEqual(len(bob.writes), 2)
        self.assertEqual(bob.texts(), [f"m{i}" for i in range(EARLY_WRITE + 6)])
        self.assertEqual(carol.texts(), bob.texts())
        self.assertEqual([e["event"] for e in alice.events()], ["ok"] * (EARLY_WRITE + 6))

    def test_a_big_room_waits_for_the_turns_end_however_many_messages(self) -> None:
        hub, clock = batched_hub()
        hub.config.max_users = 200
        members = [BytesSession(f"m{i}") for i in range(2 * (EARLY_WRITE + 6) + 1)]
        join_all(hub, clock, members)
        for i in range(EARLY_WRITE + 6):
            say(hub, members[0], f"t{i}")
        self.assertTrue(all(session.writes == [] for session in members))
        clock.advance(0)
        self.assertTrue(all(len(session.writes) == 1 for session in members))
        self.assertEqual(members[-1].texts(), [f"t{i}" for i in range(EARLY_WRITE + 6)])

    def test_without_batch_every_event_is_handed_over_at_once(self) -> None:
        hub = Hub(HubConfig(), Clock())
        alice, bob = BytesSession("alice"), BytesSession("bob")
        for session in (alice, bob):
            hub.connect(session)
            hub.handle(session, request("login", user=session.name))
        bob.clear()
        say(hub, alice, "at once")
        self.assertEqual(bob.texts(), ["at once"])


class AfterWritesTests(TestCase):
    """A message's store write begins once the turn's writes are out: the members do not wait for it, its sender's ok does."""

    def test_the_store_write_begins_after_the_members_have_the_message_and_the_ok_after_it(self) -> None:
        hub, clock = batched_hub()
        alice, bob = BytesSession("alice"), BytesSession("bob")
        join_all(hub, clock, [alice, bob])
        store = test_hub.SlowStore()
        hub.store = store  # type: ignore[assignment]
        bob_had: list[list[str]] = []
        add_then = store.history.add_then

        def recording(fields: dict[str, Any], done: Any) -> None:
            bob_had.append(bob.texts())
            add_then(fields, done)

        store.history.add_then = recording  # type: ignore[method-assign]
        say(hub, alice, "one")
        say(hub, alice, "two")
        self.assertEqual(store.writes, [])
        clock.advance(0)
        # Both writes began after bob's write of the turn, in order.
        self.assertEqual(bob_had, [["one", "two"], ["one", "two"]])
        self.assertEqual([fields["text"] for fields, _ in store.writes], ["one", "two"])
        self.assertEqual(alice.events(), [])
        for _, d in store.writes:
            d.callback(None)
        clock.advance(0)
        self.assertEqual([e["event"] for e in alice.events()], ["ok", "ok"])

    def test_with_nothing_to_write_the_call_is_at_once_and_one_that_fails_stops_none_after_it(self) -> None:
        hub, clock = batched_hub()
        alice, bob = BytesSession("alice"), BytesSession("bob")
        join_all(hub, clock, [alice, bob])
        delivery = hub.core.delivery
        calls: list[str] = []
        delivery.after_writes(lambda: calls.append("at once"))
        self.assertEqual(calls, ["at once"])
        say(hub, alice, "hi")

        def fails() -> None:
            calls.append("fails")
            raise RuntimeError("broken")

        delivery.after_writes(fails)
        delivery.after_writes(lambda: calls.append(f"after bob had {bob.texts()}"))
        self.assertEqual(calls, ["at once"])
        clock.advance(0)
        self.assertEqual(calls, ["at once", "fails", "after bob had ['hi']"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class CountingTransport(StringTransport):
    """A StringTransport that counts the writes made to it."""

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


class IrcTurnTests(TestCase):
    """An IRC client's turn: its profile's bytes where it does nothing else with an event, the event itself in its place where it does."""

    def irc_member(self, hub: Hub, clock: Clock, nick: str, *caps: str) -> tuple[Any, CountingTransport]:
        door = IrcDoor(hub, generous_limits(), clock)
        transport = CountingTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000 + len(nick)))
        session = door.buildProtocol(None)
        session.makeConnection(transport)
        first = b"CAP LS 302\r\nCAP REQ :" + " ".join(caps).encode() + b"\r\nCAP END\r\n" if caps else b""
        session.dataReceived(first + f"NICK {nick}\r\nUSER u 0 * :Real\r\n".encode())
        clock.advance(0)
        self.assertIn(f" 001 {nick} ".encode(), transport.value())
        session.dataReceived(b"JOIN #lobby\r\n")
        for _ in range(3):
            clock.advance(0)
        self.assertIn(f" 366 {nick} #lobby ".encode(), transport.value())
        transport.clear()
        transport.writes = 0
        return session, transport

    def test_a_turns_messages_come_in_one_write_and_a_join_in_its_place(self) -> None:
        hub, clock = batched_hub()
        session, transport = self.irc_member(hub, clock, "ann")
        bob = BytesSession("bob")
        join_as(hub, clock, bob, "bob")
        self.assertIn("bob", session.channels["#lobby"].members)
        transport.clear()
        transport.writes = 0
        say(hub, bob, "one")
        say(hub, bob, "two")
        carl = BytesSession("carl")
        hub.connect(carl)
        hub.handle(carl, request("login", user="carl"))
        say(hub, bob, "three")
        self.assertEqual(transport.writes, 0)
        clock.advance(0)
        lines = transport.value().decode().split("\r\n")[:-1]
        self.assertEqual(lines, [
            ":bob!bob@tchat PRIVMSG #lobby :one",
            ":bob!bob@tchat PRIVMSG #lobby :two",
            ":carl!carl@tchat JOIN #lobby",
            ":bob!bob@tchat PRIVMSG #lobby :three",
        ])
        # The first two messages in one write; the join, which the session
        # tracks (carl is now among the channel's members), in its own place.
        self.assertEqual(transport.writes, 3)
        self.assertIn("carl", session.channels["#lobby"].members)

    def test_a_join_sent_right_behind_nick_and_user_finds_the_client_registered(self) -> None:
        hub, clock = batched_hub()
        door = IrcDoor(hub, generous_limits(), clock)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40100))
        session = door.buildProtocol(None)
        session.makeConnection(transport)
        # In one packet, as a bot sends them: the login's answer is still in
        # the turn's deliveries when JOIN's turn comes.
        session.dataReceived(b"NICK zed\r\nUSER z 0 * :Z\r\nJOIN #x\r\n")
        clock.advance(0)
        lines = transport.value().decode().split("\r\n")
        self.assertFalse([line for line in lines if " 451 " in line], lines)
        self.assertTrue(lines[0].startswith(":tchat 001 zed "), lines)
        self.assertIn(":zed!zed@tchat JOIN #x", lines)
        self.assertTrue(any(line.startswith(":tchat 366 zed #x ") for line in lines), lines)

    def test_each_profile_gets_its_own_bytes_made_once(self) -> None:
        hub, clock = batched_hub()
        plain, plain_t = self.irc_member(hub, clock, "ann")
        tagged, tagged_t = self.irc_member(hub, clock, "eve", "server-time", "message-tags")
        bob = BytesSession("bob")
        join_as(hub, clock, bob, "bob")
        for t in (plain_t, tagged_t):
            t.clear()
            t.writes = 0
        say(hub, bob, "hi")
        say(hub, bob, "again")
        clock.advance(0)
        self.assertEqual(plain_t.value(), b":bob!bob@tchat PRIVMSG #lobby :hi\r\n:bob!bob@tchat PRIVMSG #lobby :again\r\n")
        tagged_lines = tagged_t.value().decode().split("\r\n")[:-1]
        self.assertEqual([line.split(" ", 1)[1] for line in tagged_lines],
                         [":bob!bob@tchat PRIVMSG #lobby :hi", ":bob!bob@tchat PRIVMSG #lobby :again"])
        self.assertTrue(all("time=" in line.split(" ", 1)[0] and "msgid=" in line for line in tagged_lines))
        self.assertEqual((plain_t.writes, tagged_t.writes), (1, 1))


class Receiver(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.waiting: list[tuple[bytes, defer.Deferred[None]]] = []

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        for item in list(self.waiting):
            if item[0] in self.data:
                self.waiting.remove(item)
                item[1].callback(None)

    def wait_for(self, needle: bytes) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        if needle in self.data:
            d.callback(None)
        else:
            self.waiting.append((needle, d))
        return d


class SocketTests(TestCase):
    timeout = 30

    async def test_a_turns_bytes_go_straight_to_the_socket_and_the_socket_is_not_watched(self) -> None:
        hub, door, port = await start_line_server(self, limits=generous_limits(close_grace=2.0))
        reader = await connect_line_client(port)
        reader.send("reader")
        talker = await connect_line_client(port)
        talker.send("talker")
        await reader.wait_for("*** talker joined #lobby")
        session = next(s for s in door.sessions if hub.user_of(s) == "reader")
        self.assertTrue(session._sends_directly)
        talker.send("hello")
        await reader.wait_for("[#lobby] <~talker> hello")
        # Sent by the turn's write itself: nothing left to watch the socket for.
        self.assertNotIn(session.transport, reactor.getWriters())
        self.assertEqual(session.transport.dataBuffer, b"")

    async def test_bytes_waiting_in_the_transport_go_first(self) -> None:
        from tchat.door.linestream import LineStream

        received = Receiver()
        factory = Factory.forProtocol(lambda: received)
        listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        connected: defer.Deferred[Any] = defer.Deferred()

        class Stream(LineStream):
            def connectionMade(self) -> None:
                connected.callback(self)

        from twisted.internet.protocol import ClientFactory

        client = ClientFactory.forProtocol(Stream)
        reactor.connectTCP("127.0.0.1", listening.getHost().port, client)
        stream = await connected
        self.addCleanup(stream.transport.loseConnection)
        stream.transport.write(b"first ")
        stream.write_now(b"second\n")
        self.assertTrue(stream._sends_directly)
        await received.wait_for(b"second\n")
        self.assertEqual(received.data, b"first second\n")
        # With nothing waiting, the next goes straight out.
        stream.write_now(b"third\n")
        self.assertEqual(stream.transport._tempDataLen, 0)
        await received.wait_for(b"third\n")
        self.assertEqual(received.data, b"first second\nthird\n")


class SortedListsTests(TestCase):
    """The online list and a room's members are kept in order as people come, go and rename (never sorted per login)."""

    def test_online_and_member_lists_stay_sorted_through_logins_logouts_and_renames(self) -> None:
        import random

        from tchat.names import name_key

        hub, clock = batched_hub()
        rng = random.Random(7)
        names = [f"{rng.choice('abcXYZ')}{rng.choice('aeiouÉé')}{i}" for i in range(60)]
        sessions = {}
        for name in names:
            session = BytesSession(name)
            join_as(hub, clock, session, name)
            sessions[name] = session
        for name in rng.sample(names, 20):
            hub.handle(sessions.pop(name), request("quit"))
        clock.advance(0)
        renamed = rng.sample(sorted(sessions), 10)
        for name in renamed:
            hub.handle(sessions[name], request("nick", user=f"Zz{name}"))
        clock.advance(0)
        online = hub.state.online()
        expected = sorted(({f"Zz{n}" if n in renamed else n for n in sessions}), key=name_key)
        self.assertEqual(online, expected)
        lobby = hub.state.room(name_key("#lobby"))
        assert lobby is not None
        self.assertEqual(lobby.names(), expected)
        self.assertEqual(lobby.order, sorted(lobby.members))
