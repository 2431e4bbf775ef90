"""The limits every door shares, on a StringTransport and a Clock."""

from __future__ import annotations

import json

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor, LineSession
from tchat.door.session import Limits, TokenBucket
from tests.helpers import make_hub


class Conn:
    def __init__(self, door: LineDoor, host: str, port: int) -> None:
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, port))
        self.session: LineSession = door.buildProtocol(self.transport.getPeer())
        self.session.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.session.dataReceived(data)

    def take(self) -> list[str]:
        data = self.transport.value().decode()
        self.transport.clear()
        return data.split("\r\n")[:-1]

    def lose(self) -> None:
        self.session.connectionLost(None)


class LimitsTestCase(TestCase):
    limits = Limits()

    def setUp(self) -> None:
        self.hub, self.clock = make_hub()
        self.door = LineDoor(self.hub, self.limits, self.clock)
        self.door.startFactory()
        self.addCleanup(self.door.stopFactory)
        self.port = 1000

    def conn(self, host: str = "10.0.0.1") -> Conn:
        self.port += 1
        return Conn(self.door, host, self.port)

    def user(self, name: str, host: str = "10.0.0.1", json_mode: bool = False) -> Conn:
        conn = self.conn(host)
        if json_mode:
            conn.send(json.dumps({"action": "login", "user": name}).encode() + b"\n")
        else:
            conn.send(name.encode() + b"\n")
        conn.take()
        return conn


class TokenBucketTests(TestCase):
    def test_burst_then_steady_rate(self) -> None:
        _, clock = make_hub()
        bucket = TokenBucket(rate=2, burst=3, clock=clock)
        self.assertEqual([bucket.take() for _ in range(3)], [0, 0, 0])
        self.assertEqual(bucket.take(), 0.5)
        clock.advance(0.5)
        self.assertEqual(bucket.take(), 0)
        clock.advance(100)
        self.assertEqual([bucket.take() for _ in range(4)], [0, 0, 0, 0.5])


class FloodTests(LimitsTestCase):
    limits = Limits(flood_rate=2, flood_burst=5, flood_queue=10)

    def test_a_flooder_is_slowed_then_refused_and_nobody_else_waits(self) -> None:
        listener = self.user("listener")
        flooder = self.user("flooder", host="10.0.0.2")
        other = self.user("other", host="10.0.0.3")
        listener.take()
        flooder.send(b"".join(b"flood %d\n" % i for i in range(30)))
        # The burst (less the login's token) goes through at once, ten
        # wait, the rest are refused.
        self.assertEqual(listener.take(), [f"[#lobby] <~flooder> flood {i}" for i in range(4)])
        refused = [line for line in flooder.take() if "(rate_limited)" in line]
        self.assertEqual(len(refused), 16)
        # Someone else in the room is not held up by the flooder's queue.
        other.send(b"not waiting\n")
        self.assertEqual(listener.take(), ["[#lobby] <~other> not waiting"])
        # The flooder's held-back lines follow at the steady rate, in order.
        self.clock.advance(0.5)
        self.assertEqual(listener.take(), ["[#lobby] <~flooder> flood 4"])
        self.clock.pump([0.5] * 9)
        self.assertEqual(listener.take(), [f"[#lobby] <~flooder> flood {i}" for i in range(5, 14)])
        self.clock.advance(10)
        self.assertEqual(listener.take(), [])

    def test_pong_is_never_held_back(self) -> None:
        flooder = self.user("flooder", json_mode=True)
        flooder.send(b'{"action": "ping"}\n' * 15)
        flooder.take()
        self.clock.advance(0)
        flooder.session.ping_sent_at = self.clock.seconds()
        flooder.send(b'{"action": "pong", "token": "1"}\n')
        self.assertIsNone(flooder.session.ping_sent_at)
        self.assertEqual([line for line in flooder.take() if "rate_limited" in line], [])


class ConnectionLimitTests(LimitsTestCase):
    limits = Limits(max_connections=4, max_per_address=2)

    def test_too_many_from_one_address(self) -> None:
        self.conn("10.0.0.1")
        self.conn("10.0.0.1")
        third = self.conn("10.0.0.1")
        lines = third.take()
        self.assertIn("(too_many_connections)", lines[0])
        self.assertEqual(lines[-1], "*** Bye: too many connections")
        self.assertTrue(third.transport.disconnecting)
        self.assertEqual(len(self.hub.members), 2)
        # Another address still gets in.
        self.assertIn("Welcome", self.conn("10.0.0.2").take()[0])

    def test_a_closed_connection_frees_its_place(self) -> None:
        first = self.conn("10.0.0.1")
        self.conn("10.0.0.1")
        first.lose()
        self.assertIn("Welcome", self.conn("10.0.0.1").take()[0])

    def test_too_many_in_all(self) -> None:
        for host in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]:
            self.conn(host)
        fifth = self.conn("10.0.0.5")
        self.assertIn("(server_full)", fifth.take()[0])
        self.assertTrue(fifth.transport.disconnecting)
        self.assertEqual(len(self.hub.members), 4)


class TimeoutTests(LimitsTestCase):
    limits = Limits(login_timeout=30, idle_timeout=100, ping_timeout=20)

    def test_a_connection_that_never_logs_in_is_closed(self) -> None:
        silent = self.conn()
        busy_but_anonymous = self.conn("10.0.0.2")
        member = self.user("member", host="10.0.0.3")
        self.clock.pump([5] * 5)
        busy_but_anonymous.send(b"/help\n")
        self.assertFalse(silent.transport.disconnecting)
        self.clock.pump([5] * 2)
        self.assertTrue(silent.transport.disconnecting)
        self.assertIn("*** Bye: login timeout", silent.take()[-1])
        self.assertTrue(busy_but_anonymous.transport.disconnecting)
        self.assertFalse(member.transport.disconnecting)

    def test_an_idle_json_client_is_pinged_and_dropped_if_it_does_not_answer(self) -> None:
        bot = self.user("bot", json_mode=True)
        watcher = self.user("watcher", host="10.0.0.2")
        watcher.take()
        self.clock.pump([5] * 21)
        pings = [json.loads(line) for line in bot.take() if '"ping"' in line]
        self.assertEqual(len(pings), 1)
        self.assertIn("token", pings[0])
        self.clock.pump([5] * 4)
        self.assertTrue(bot.transport.disconnecting)
        self.assertIn("*** bot left #lobby (ping timeout)", watcher.take())

    def test_an_answered_ping_keeps_the_client(self) -> None:
        bot = self.user("bot", json_mode=True)
        self.clock.pump([5] * 21)
        token = [json.loads(line) for line in bot.take() if '"ping"' in line][0]["token"]
        bot.send(json.dumps({"action": "pong", "token": token}).encode() + b"\n")
        self.clock.pump([5] * 10)
        self.assertFalse(bot.transport.disconnecting)

    def test_a_person_in_text_mode_is_pinged_but_not_dropped_for_reading_quietly(self) -> None:
        person = self.user("person")
        self.clock.pump([5] * 21)
        self.assertIn("PING 1", person.take())
        self.clock.pump([5] * 50)
        self.assertFalse(person.transport.disconnecting)


class SharedAdmissionTests(TestCase):
    def test_the_per_address_limit_holds_across_doors(self) -> None:
        from tchat.door.session import Admission

        hub, clock = make_hub()
        limits = Limits(max_per_address=2)
        admission = Admission(limits)
        tcp = LineDoor(hub, limits, clock, admission)
        other = LineDoor(hub, limits, clock, admission)
        Conn(tcp, "10.0.0.1", 1)
        Conn(other, "10.0.0.1", 2)
        third = Conn(other, "10.0.0.1", 3)
        self.assertIn("(too_many_connections)", third.take()[0])

    def test_twistd_builds_both_doors_on_one_count(self) -> None:
        from tchat.tap import Options, makeService

        options = Options()
        options.parseOptions(["--port", "tcp:0", "--web-port", "tcp:0", "--db", "memory"])
        chat = makeService(options)
        line_door, web_door = chat.doors
        self.assertIs(line_door.table.admission, web_door.table.admission)
