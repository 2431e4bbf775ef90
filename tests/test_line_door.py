"""The line door on a StringTransport: framing, encodings, bad input, the send queue."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor, LineSession
from tchat.events import make_event
from tchat.commands import parse_json
from tests.helpers import generous_limits, make_hub


class Wire:
    """One connection to the door: bytes in, lines out."""

    def __init__(self, door: LineDoor, port: int) -> None:
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        self.session: LineSession = door.buildProtocol(self.transport.getPeer())
        self.session.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.session.dataReceived(data)

    def take(self) -> list[str]:
        """The lines written since the last take, without their CRLF."""
        data = self.transport.value()
        self.transport.clear()
        self.assert_crlf(data)
        return [line for line in data.decode("utf-8").split("\r\n")][:-1]

    def take_json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.take() if line.startswith("{")]

    @staticmethod
    def assert_crlf(data: bytes) -> None:
        assert data.count(b"\n") == data.count(b"\r\n"), data
        assert not data or data.endswith(b"\r\n"), data

    def lose(self) -> None:
        self.session.connectionLost(None)


class DoorTestCase(TestCase):
    limits = generous_limits(max_line=100, sendq=10_000, close_grace=5.0)

    def setUp(self) -> None:
        self.hub, self.clock = make_hub(admin_password="pw")
        self.door = LineDoor(self.hub, self.limits, self.clock)
        self.ports = iter(range(40000, 50000))

    def wire(self) -> Wire:
        return Wire(self.door, next(self.ports))

    def text_user(self, name: str) -> Wire:
        wire = self.wire()
        wire.send(name.encode() + b"\n")
        assert any(line.startswith(f"*** You are {name}.") for line in wire.take())
        return wire

    def json_user(self, name: str) -> Wire:
        wire = self.wire()
        wire.send(json.dumps({"action": "login", "user": name}).encode() + b"\n")
        assert wire.take_json()[-1]["event"] == "logged_in"
        return wire


class GreetingAndModeTests(DoorTestCase):
    def test_text_greeting_tells_a_person_how_to_log_in(self) -> None:
        wire = self.wire()
        self.assertEqual(wire.take(), ["*** Welcome to tchat 0.1.0. Type a name to log in (or /help)."])

    def test_plain_first_line_is_the_name_in_text_mode(self) -> None:
        wire = self.wire()
        wire.take()
        wire.send(b"alice\r\n")
        self.assertEqual(wire.take()[0], "*** You are alice. Online: alice")
        self.assertEqual(wire.session.describe()["door"], "tcp/text")

    def test_json_first_line_gets_welcome_then_the_reply(self) -> None:
        wire = self.wire()
        wire.take()
        wire.send(b'{"action": "login", "user": "bot", "id": 1}\n')
        events = wire.take_json()
        self.assertEqual([e["event"] for e in events], ["welcome", "logged_in"])
        self.assertEqual(events[0]["server"], "tchat")
        self.assertEqual(events[1]["re"], 1)
        self.assertEqual(wire.session.describe()["door"], "tcp/json")

    def test_json_mode_stays_json(self) -> None:
        wire = self.json_user("bot")
        wire.send(b"hello\n")
        lines = wire.take()
        self.assertEqual(len(lines), 1)
        self.assertEqual(json.loads(lines[0])["code"], "bad_request")

    def test_blank_and_bom_first_lines_do_not_choose_the_mode(self) -> None:
        wire = self.wire()
        wire.take()
        wire.send(b"\r\n\n\xef\xbb\xbf{\"action\": \"ping\"}\n")
        self.assertEqual([e["event"] for e in wire.take_json()], ["welcome", "pong"])


class FramingTests(DoorTestCase):
    def test_several_lines_in_one_packet_and_one_line_in_many(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.send(b"one\ntwo\r\nth")
        bob.send(b"r")
        bob.send(b"ee\n")
        self.assertEqual(alice.take(), ["[#lobby] <~bob> one", "[#lobby] <~bob> two", "[#lobby] <~bob> three"])

    def test_overlong_line_errors_resyncs_and_the_connection_stays(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.send(b"x" * 150 + b"\nafter\n")
        self.assertEqual(bob.take(), ["!!! a line may be at most 100 bytes; that one was dropped (line_too_long)"])
        self.assertEqual(alice.take(), ["[#lobby] <~bob> after"])
        self.assertFalse(bob.transport.disconnecting)

    def test_overlong_line_across_packets_is_dropped_up_to_its_newline(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.send(b"y" * 80)
        bob.send(b"y" * 80)
        self.assertIn("line_too_long", bob.take()[0])
        bob.send(b"y" * 500)
        bob.send(b"yyy\nnext line\n")
        self.assertEqual(bob.take(), [])
        self.assertEqual(alice.take(), ["[#lobby] <~bob> next line"])

    def test_a_line_of_exactly_the_limit_is_fine(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.send(b"z" * 100 + b"\n")
        self.assertEqual(alice.take(), ["[#lobby] <~bob> " + "z" * 100])

    def test_overlong_json_line_gets_a_json_error(self) -> None:
        wire = self.json_user("bot")
        wire.send(b'{"action": "msg", "to": "#lobby", "text": "' + b"a" * 200 + b'"}\n{"action":"ping","id":2}\n')
        events = wire.take_json()
        self.assertEqual([(e["event"], e.get("code"), e.get("re")) for e in events], [("error", "line_too_long", None), ("pong", None, 2)])

    def test_invalid_utf8_is_refused_and_the_connection_stays(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.send(b"caf\xe9\nok \xc3\xa9\n")
        self.assertEqual(bob.take(), ["!!! that line was not UTF-8 (bad byte at 3); it was ignored (bad_encoding)"])
        self.assertEqual(alice.take(), ["[#lobby] <~bob> ok é"])

    def test_invalid_utf8_as_first_line_does_not_lock_the_mode(self) -> None:
        wire = self.wire()
        wire.take()
        wire.send(b"\xff\xfe\n")
        self.assertIn("bad_encoding", wire.take()[0])
        wire.send(b'{"action": "ping"}\n')
        self.assertEqual([e["event"] for e in wire.take_json()], ["welcome", "pong"])

    def test_control_characters_from_text_users_never_reach_others(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.send(b"\x1b[2J\x1b[1;1Hfake\rprompt\x07\n")
        self.assertEqual(alice.take(), ["[#lobby] <~bob> fake prompt"])

    def test_json_text_with_line_breaks_stays_on_one_line_for_everyone(self) -> None:
        text_reader = self.text_user("reader")
        json_reader = self.json_user("robot")
        sender = self.json_user("sender")
        text_reader.take()
        json_reader.take()
        sender.send(json.dumps({"action": "msg", "to": "#lobby", "text": "line1\r\n*** fake notice\nx"}).encode() + b"\n")
        self.assertEqual(text_reader.take(), ["[#lobby] <~sender> line1 *** fake notice x"])
        events = json_reader.take_json()
        self.assertEqual(events[0]["text"], "line1 *** fake notice x")

    def test_lone_surrogates_are_refused_as_bad_encoding_and_leave_nothing_behind(self) -> None:
        watcher = self.text_user("watcher")
        sender = self.json_user("sender")
        sender.send(b'{"action": "join", "room": "#dev"}\n')
        watcher.send(b"/join #dev\n")
        watcher.take()
        sender.take()
        lone = "\\ud800"  # valid JSON, but not text
        for i, line in enumerate([
            f'{{"action": "msg", "to": "#lobby", "text": "a{lone}b", "id": 1}}',
            f'{{"action": "users", "room": "#lobby{lone}", "id": 2}}',
            f'{{"action": "part", "room": "#dev", "reason": "{lone}", "id": 3}}',
            f'{{"action": "help", "command": "{lone}", "id": 4}}',
            f'{{"action": "quit", "reason": "bye {lone}", "id": 5}}',
            f'{{"action": "ping", "id": "{lone}"}}',
        ]):
            sender.send(line.encode() + b"\n")
            reply = sender.take_json()
            self.assertEqual([(e["event"], e["code"]) for e in reply], [("error", "bad_encoding")], line)
            self.assertEqual(reply[0].get("re"), i + 1 if i < 5 else None)
        # Nothing reached anyone, and the sender is still there, in both rooms.
        self.assertEqual(watcher.take(), [])
        self.assertFalse(sender.transport.disconnecting)
        self.assertEqual(sorted(self.hub.state.connection(sender.session).user.rooms), ["#dev", "#lobby"])
        # A valid pair (an emoji) is text, and goes through.
        sender.send(b'{"action": "msg", "to": "#dev", "text": "\\ud83d\\ude00"}\n')
        self.assertEqual(watcher.take(), ["[#dev] <~sender> \U0001f600"])

    def test_numbers_json_cannot_carry_are_refused(self) -> None:
        bot = self.json_user("bot")
        bot.send(b'{"action": "ping", "id": 1e999}\n{"action": "shutdown", "delay": -1e400}\n')
        replies = bot.take_json()
        self.assertEqual([(e["event"], e["code"], "re" in e) for e in replies], [("error", "bad_request", False)] * 2)
        self.assertIn("finite", replies[0]["text"])

    def test_when_the_input_ends_what_waits_is_answered_first_then_the_bye(self) -> None:
        door = LineDoor(self.hub, generous_limits(flood_rate=1, flood_burst=2, flood_queue=3), self.clock)
        wire = Wire(door, 40999)
        wire.take()
        wire.send(b"bob\n" + b"".join(b"/ping %d\n" % i for i in range(6)))
        wire.session.readConnectionLost()
        self.assertEqual(wire.transport.producerState, "paused")  # the flood limit holds lines back
        self.assertFalse(wire.transport.disconnecting)
        self.clock.pump([1] * 10)
        lines = wire.take()
        self.assertEqual([line for line in lines if "pong" in line], [f"*** pong {i}" for i in range(6)])
        self.assertEqual(lines[-1], "*** Bye: you left the chat")
        self.assertTrue(wire.transport.disconnecting)

    def test_a_request_dropped_past_the_flood_queue_says_which_it_was(self) -> None:
        door = LineDoor(self.hub, generous_limits(flood_rate=1, flood_burst=1, flood_queue=2), self.clock)
        wire = Wire(door, 40998)
        wire.take()
        wire.send(b'{"action": "ping", "id": 0}\n')  # JSON mode
        # What the door had read before it could stop reading: past the queue, refused.
        for i in range(1, 5):
            wire.session.submit(parse_json('{"action": "ping", "id": %d}' % i))
        dropped = [e for e in wire.take_json() if e["event"] == "error"]
        self.assertEqual([(e["code"], e["re"], e["action"]) for e in dropped], [("rate_limited", 3, "ping"), ("rate_limited", 4, "ping")])

    def test_commands_before_login_are_refused_in_both_modes(self) -> None:
        wire = self.wire()
        wire.take()
        wire.send(b'{"action": "users", "id": "u"}\n')
        self.assertEqual(wire.take_json()[-1], {"event": "error", "re": "u", "action": "users", "code": "not_logged_in", "text": "log in first: type a name, or /login NAME", "ts": self.clock.seconds()})
        text = self.wire()
        text.take()
        text.send(b"/users\n")
        self.assertEqual(text.take(), ["!!! log in first: type a name, or /login NAME (not_logged_in)"])

    def test_bad_commands_get_errors_in_text_mode(self) -> None:
        bob = self.text_user("bob")
        bob.send(b"/para\n/nonsense\n/join #a key too many\n")
        lines = bob.take()
        self.assertEqual(len(lines), 3)
        self.assertIn("(bad_request)", lines[0])
        self.assertIn("(unknown_command)", lines[1])
        self.assertIn("(bad_request)", lines[2])
        bob.send(b"/ping\n")
        self.assertEqual(bob.take(), ["*** pong"])


class ClosingTests(DoorTestCase):
    def test_quit_says_bye_and_closes(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.send(b"/sair tchau\nthis is never sent\n")
        self.assertEqual(bob.take(), ["*** Bye: you left the chat"])
        self.assertTrue(bob.transport.disconnecting)
        bob.lose()
        self.assertEqual(alice.take(), ["*** bob left #lobby (quit: tchau)"])

    def test_connection_lost_is_announced(self) -> None:
        alice = self.text_user("alice")
        bob = self.text_user("bob")
        alice.take()
        bob.lose()
        self.assertEqual(alice.take(), ["*** bob left #lobby (connection lost)"])
        self.assertNotIn(bob.session, self.door.sessions)

    def test_a_closing_connection_that_does_not_go_is_cut_after_the_grace(self) -> None:
        bob = self.text_user("bob")
        bob.send(b"/quit\n")
        self.assertFalse(bob.transport.disconnected)
        self.clock.advance(5)
        self.assertTrue(bob.transport.disconnected)

    def test_nothing_is_written_after_bye(self) -> None:
        bob = self.text_user("bob")
        bob.session.close("done")
        bob.take()
        bob.session.deliver(make_event("notice", text="late"))
        self.assertEqual(bob.take(), [])


class OrderTests(DoorTestCase):
    def test_requests_are_carried_out_one_at_a_time_in_order(self) -> None:
        bob = self.text_user("bob")
        pending: list[Deferred[None]] = []
        real_handle = self.hub.handle
        seen: list[str] = []

        def slow_handle(session: Any, request: Any) -> Deferred[None]:
            seen.append(request.args.get("text", request.action))
            if not pending:
                d: Deferred[None] = Deferred()
                pending.append(d)
                return d
            return real_handle(session, request)

        self.hub.handle = slow_handle  # type: ignore[method-assign]
        bob.send(b"first\nsecond\nthird\n")
        self.assertEqual(seen, ["first"])
        self.assertEqual(bob.transport.producerState, "paused")
        pending[0].callback(None)
        self.assertEqual(seen, ["first", "second", "third"])
        self.assertEqual(bob.transport.producerState, "producing")


class SendQueueTests(DoorTestCase):
    def test_a_client_that_does_not_read_is_dropped_and_the_room_goes_on(self) -> None:
        slow = self.text_user("slow")
        fast = self.text_user("fast")
        talker = self.text_user("talker")
        slow.take()
        fast.take()
        # The transport says its buffer is full (the client stopped reading).
        slow.transport.producer.pauseProducing()
        for i in range(400):
            talker.send(f"message number {i}\n".encode())
        fast_lines = fast.take()
        self.assertEqual(len([line for line in fast_lines if line.startswith("[#lobby] <~talker>")]), 400)
        self.assertIn("*** slow left #lobby (too slow)", fast_lines)
        written = slow.take()
        self.assertEqual(written[-1], "*** Bye: too slow: your connection did not read its messages")
        self.assertTrue(slow.transport.disconnecting)
        queued = sum(len(line) + 2 for line in written[:-1])
        self.assertLessEqual(queued, self.limits.sendq)
        # Everyone else was told at once, before the socket is even gone.
        self.assertIn("*** slow left #lobby (too slow)", talker.take())
        self.assertNotIn("slow", self.hub.state.online())

    def test_a_client_that_catches_up_starts_afresh(self) -> None:
        slow = self.text_user("slow")
        talker = self.text_user("talker")
        slow.take()
        for _ in range(3):
            slow.transport.producer.pauseProducing()
            for i in range(100):
                talker.send(f"message number {i}\n".encode())
            slow.transport.producer.resumeProducing()
        self.assertFalse(slow.transport.disconnecting)
        self.assertEqual(len(slow.take()), 300)
