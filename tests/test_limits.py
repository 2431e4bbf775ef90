"""The limits every door shares, on a StringTransport and a Clock."""

from __future__ import annotations

import json

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor, LineSession
from tchat.door.limits import Limits
from tchat.throttle import TokenBucket
from tchat.events import make_event
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

    def test_a_flooder_is_slowed_and_then_not_read_and_nobody_else_waits(self) -> None:
        listener = self.user("listener")
        flooder = self.user("flooder", host="10.0.0.2")
        other = self.user("other", host="10.0.0.3")
        listener.take()
        flooder.send(b"".join(b"flood %d\n" % i for i in range(30)))
        # The burst (less the login's token) goes through at once; then ten
        # wait their turn and the door stops reading: the rest stay unread
        # (in the kernel, for a real socket), nothing is refused or lost.
        self.assertEqual(listener.take(), [f"[#lobby] <~flooder> flood {i}" for i in range(4)])
        self.assertEqual(flooder.transport.producerState, "paused")
        self.assertEqual(len(flooder.session._queue), 10)
        self.assertEqual([line for line in flooder.take() if "(rate_limited)" in line], [])
        # Someone else in the room is not held up by the flooder's queue.
        other.send(b"not waiting\n")
        self.assertEqual(listener.take(), ["[#lobby] <~other> not waiting"])
        # The flooder's lines follow at the steady rate, in order; reading
        # goes on whenever half the queue is done.
        self.clock.advance(0.5)
        self.assertEqual(listener.take(), ["[#lobby] <~flooder> flood 4"])
        self.clock.pump([0.5] * 30)
        self.assertEqual(flooder.transport.producerState, "producing")
        self.assertEqual(listener.take(), [f"[#lobby] <~flooder> flood {i}" for i in range(5, 30)])
        self.clock.advance(10)
        self.assertEqual(listener.take(), [])

    def test_an_idle_session_has_no_queue_or_bucket_object_of_its_own(self) -> None:
        # Most connections are idle: what they would wait in and the flood
        # bucket cost them nothing of their own (docs/performance.rst, memory).
        idle = self.user("idle")
        flooder = self.user("flooder", host="10.0.0.2")
        self.assertIs(idle.session._queue, flooder.session._queue)
        self.assertEqual(len(idle.session._queue), 0)
        self.assertNotIn("bucket", dir(idle.session))
        idle.take()
        flooder.send(b"".join(b"flood %d\n" % i for i in range(8)))
        self.assertEqual(len(flooder.session._queue), 4)
        self.assertIsNot(idle.session._queue, flooder.session._queue)
        self.clock.pump([0.5] * 4)
        # Once nothing waits, the flooder is back on the shared empty queue,
        # with its bucket spent: the next line waits its turn as before.
        self.assertEqual(idle.take(), [f"[#lobby] <~flooder> flood {i}" for i in range(8)])
        self.assertIs(flooder.session._queue, idle.session._queue)
        flooder.send(b"one more\n")
        self.assertEqual(idle.take(), [])
        self.clock.advance(0.5)
        self.assertEqual(idle.take(), ["[#lobby] <~flooder> one more"])

    def test_pongs_and_malformed_lines_pay_the_flood_limit_too(self) -> None:
        flooder = self.user("flooder", json_mode=True)
        flooder.take()
        # A flood of pongs (or of garbage) costs the same as any request: past
        # the burst they wait, and past the queue the door stops reading.
        flooder.send(b'{"action": "pong", "token": "1"}\n' * 10 + b"not json\n" * 40)
        # Four pongs spend the burst (the login took one token); six more
        # and four bad lines wait, and the door stops reading.
        self.assertEqual(flooder.take(), [])
        self.assertEqual(len(flooder.session._queue), 10)
        self.assertEqual(flooder.transport.producerState, "paused")
        # At the steady rate the pongs go first, then each bad line gets its error, in turn.
        self.clock.pump([0.5] * 8)
        self.assertEqual([json.loads(line)["code"] for line in flooder.take()], ["bad_request"] * 2)
        # A pong is still a sign of life the moment it is read.
        flooder.session.ping_sent_at = self.clock.seconds()
        flooder.session.lineReceived(b'{"action": "pong", "token": "2"}')
        self.assertIsNone(flooder.session.ping_sent_at)


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
        self.assertEqual(len(list(self.hub.state.connections())), 2)
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
        self.assertEqual(len(list(self.hub.state.connections())), 4)


class PendingLimitTests(LimitsTestCase):
    limits = Limits(max_connections=10, max_per_address=10, max_pending=2)

    def test_connections_that_have_not_logged_in_cannot_take_every_place(self) -> None:
        first = self.conn("10.0.0.1")
        self.conn("10.0.0.2")
        third = self.conn("10.0.0.3")
        lines = third.take()
        self.assertIn("(server_busy)", lines[0])
        self.assertEqual(lines[-1], "*** Bye: server busy")
        self.assertTrue(third.transport.disconnecting)
        # Once one logs in, it no longer counts as pending: room for another.
        first.send(b"alice\n")
        self.assertIn("Welcome", self.conn("10.0.0.4").take()[0])
        self.assertEqual((self.door.table.admission.pending, self.door.table.admission.total), (2, 3))
        first.lose()
        self.assertEqual((self.door.table.admission.pending, self.door.table.admission.total), (2, 2))


class SendQueueTests(LimitsTestCase):
    limits = Limits(sendq=1000)

    def test_the_hub_can_wait_until_the_send_buffer_has_room(self) -> None:
        bot = self.user("bot", json_mode=True)
        self.assertTrue(bot.session.drained().called)
        bot.session.sendq.pauseProducing()  # the transport's buffer is full
        waiting = bot.session.drained()
        self.assertFalse(waiting.called)
        bot.session.deliver(make_event("notice", text="x" * 100))
        self.assertGreater(bot.session.sendq.backlog, 100)  # counted meanwhile
        bot.session.sendq.resumeProducing()
        self.assertTrue(waiting.called)
        self.assertEqual(bot.session.sendq.backlog, 0)
        # A connection that goes wakes whoever waited for it.
        bot.session.sendq.pauseProducing()
        waiting = bot.session.drained()
        bot.lose()
        self.assertTrue(waiting.called)

    def test_a_delivery_that_fails_to_encode_costs_nobody_anything(self) -> None:
        alice = self.user("alice")
        bob = self.user("bob", host="10.0.0.2")
        alice.take()
        bad = make_event("notice", text="\ud800 cannot be UTF-8")
        good = make_event("notice", text="fine")
        for event in (bad, good):
            for conn in (alice, bob):
                conn.session.deliver(event)
        self.assertEqual(alice.take(), ["*** fine"])
        self.assertEqual(bob.take(), ["*** fine"])
        self.flushLoggedErrors(UnicodeEncodeError)


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

    def test_a_login_still_being_checked_is_not_cut_by_the_login_timeout(self) -> None:
        from twisted.internet.defer import Deferred

        checking: Deferred[None] = Deferred()
        real_handle = self.hub.handle
        # A plain first line reaches the hub as the login text mode makes it.
        self.hub.handle = lambda session, request: checking if request.action == "login" else real_handle(session, request)  # type: ignore[method-assign]
        slow = self.conn()
        slow.send(b"alice\n")  # waits, as if for its turn at password hashing
        self.clock.pump([5] * 10)
        self.assertFalse(slow.transport.disconnecting)
        checking.callback(None)
        self.clock.pump([5] * 2)
        self.assertTrue(slow.transport.disconnecting)  # still not logged in: now it is cut

    def test_an_admin_without_a_chat_name_is_not_cut_by_the_login_timeout(self) -> None:
        # The admin page proves the admin password and never logs in to the
        # chat; it stays open to watch. A wrong password does not count.
        self.hub, self.clock = make_hub(admin_password="pw")
        self.door = LineDoor(self.hub, self.limits, self.clock)
        self.door.startFactory()
        self.addCleanup(self.door.stopFactory)
        admin = self.conn()
        guesser = self.conn("10.0.0.2")
        admin.send(json.dumps({"action": "admin", "password": "pw", "id": 1}).encode() + b"\n")
        guesser.send(json.dumps({"action": "admin", "password": "nope", "id": 1}).encode() + b"\n")
        self.assertIn('"ok"', admin.take()[-1])
        self.assertEqual(self.door.table.admission.pending, 1)  # only the guesser is still pending
        self.clock.pump([5] * 7)
        self.assertTrue(guesser.transport.disconnecting)
        self.assertFalse(admin.transport.disconnecting)
        admin.send(json.dumps({"action": "connections", "id": 2}).encode() + b"\n")
        self.assertIn('"connections"', admin.take()[-1])

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

    def test_a_person_in_text_mode_is_never_sent_protocol_lines_nor_dropped_for_reading_quietly(self) -> None:
        person = self.user("person")
        undecided = self.conn("10.0.0.2")
        undecided.take()
        self.clock.pump([5] * 71)
        self.assertEqual(person.take(), [])
        self.assertFalse(person.transport.disconnecting)
        self.assertNotIn("PING", " ".join(undecided.take()))


class SharedAdmissionTests(TestCase):
    def test_the_per_address_limit_holds_across_doors(self) -> None:
        from tchat.door.admission import Admission

        hub, clock = make_hub()
        limits = Limits(max_per_address=2)
        admission = Admission(limits)
        tcp = LineDoor(hub, limits, clock, admission)
        other = LineDoor(hub, limits, clock, admission)
        Conn(tcp, "10.0.0.1", 1)
        Conn(other, "10.0.0.1", 2)
        third = Conn(other, "10.0.0.1", 3)
        self.assertIn("(too_many_connections)", third.take()[0])

    def test_twistd_builds_every_door_on_one_count(self) -> None:
        from tchat.tap import Options, makeService

        options = Options()
        options.parseOptions(["--port", "tcp:0", "--web-port", "tcp:0", "--irc-port", "tcp:0", "--db", "memory"])
        chat = makeService(options)
        line_door, web_door, irc_door = chat.doors
        self.assertIs(line_door.table.admission, web_door.table.admission)
        self.assertIs(line_door.table.admission, irc_door.table.admission)
