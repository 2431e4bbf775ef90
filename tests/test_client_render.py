"""
The client's rendering of events, and its protocol logic driven through a
StringTransport: what is sent for what is typed, and what is shown for what
the server says.
"""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.client.connection import ChatClient
from tchat.client.conversation import QUIT_WAIT
from tchat.client.render import Renderer, use_color
from tests.helpers import feed_event, take_json

NOW = 1_700_000_000.0  # a fixed "now" for every renderer here
SGR = re.compile(r"\x1b\[[0-9;]*m")
ESC_ANY = re.compile(r"[\x1b\x9b]")


def hhmm(ts: float) -> str:
    return time.strftime("[%H:%M]", time.localtime(ts))


def ev(name: str, **fields: Any) -> dict[str, Any]:
    return {"event": name, "ts": NOW, **fields}


def styles(line: str) -> list[str]:
    """The colour sequences a line uses, in order."""
    return SGR.findall(line)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class UseColorTests(TestCase):
    def test_terminal_without_no_color_gets_colour(self) -> None:
        self.assertTrue(use_color({}, FakeTTY()))

    def test_no_color_with_any_value_turns_colour_off(self) -> None:
        self.assertFalse(use_color({"NO_COLOR": "1"}, FakeTTY()))
        self.assertFalse(use_color({"NO_COLOR": "yes please"}, FakeTTY()))

    def test_empty_no_color_counts_as_unset(self) -> None:
        self.assertTrue(use_color({"NO_COLOR": ""}, FakeTTY()))

    def test_output_that_is_not_a_terminal_gets_no_colour(self) -> None:
        self.assertFalse(use_color({}, io.StringIO()))


class PlainRenderingTests(TestCase):
    """With colour off: the exact shape of each kind of line, no escapes."""

    def setUp(self) -> None:
        self.r = Renderer(color=False, now=lambda: NOW)
        self.t = hhmm(NOW)

    def one(self, event: dict[str, Any], me: str | None = "alice") -> str:
        lines = self.r.event(event, me)
        self.assertEqual(len(lines), 1, lines)
        self.assertNotRegex(lines[0], ESC_ANY)
        return lines[0]

    def test_a_guests_public_message_shows_the_guest_mark(self) -> None:
        line = self.one(ev("message", msgid="m", to="#lobby", text="hello", kind="public", **{"from": "bob"}))
        self.assertEqual(line, f"{self.t} [#lobby] <~bob> hello")

    def test_an_accounts_public_message_shows_the_name_bare(self) -> None:
        line = self.one(ev("message", msgid="m", to="#lobby", text="hello", kind="public", registered=True, **{"from": "bob"}))
        self.assertEqual(line, f"{self.t} [#lobby] <bob> hello")

    def test_own_message_from_ok_is_marked_as_the_server_marks_it_for_others(self) -> None:
        self.assertEqual(self.r.own_message("alice", "#dev", "hi", ts=NOW), [f"{self.t} [#dev] <~alice> hi"])
        self.assertEqual(self.r.own_message("alice", "#dev", "hi", ts=NOW, registered=True), [f"{self.t} [#dev] <alice> hi"])

    def test_actions_of_guests_and_accounts(self) -> None:
        self.assertEqual(self.r.own_message("alice", "#dev", "waves", "action", ts=NOW), [f"{self.t} [#dev] * ~alice waves"])
        self.assertEqual(
            self.r.own_message("alice", "#dev", "waves", "action", ts=NOW, registered=True), [f"{self.t} [#dev] * alice waves"]
        )
        guest = ev("message", msgid="m", to="#dev", text="waves", kind="action", **{"from": "bob"})
        self.assertEqual(self.one(guest), f"{self.t} [#dev] * ~bob waves")
        self.assertEqual(self.one({**guest, "registered": True}), f"{self.t} [#dev] * bob waves")

    def test_private_received_from_a_guest_and_from_an_account(self) -> None:
        guest = ev("message", msgid="m", to="alice", text="psst", kind="private", **{"from": "bob"})
        self.assertEqual(self.one(guest), f"{self.t} [private] <~bob> psst")
        self.assertEqual(self.one({**guest, "registered": True}), f"{self.t} [private] <bob> psst")

    def test_private_action_received_and_sent(self) -> None:
        guest = ev("message", msgid="m", to="alice", text="winks", kind="action", **{"from": "bob"})
        self.assertEqual(self.one(guest), f"{self.t} [private] * ~bob winks")
        self.assertEqual(self.one({**guest, "registered": True}), f"{self.t} [private] * bob winks")
        self.assertEqual(self.r.own_message("alice", "bob", "winks", "action", ts=NOW), [f"{self.t} -> bob: * ~alice winks"])
        self.assertEqual(
            self.r.own_message("alice", "bob", "winks", "action", ts=NOW, registered=True), [f"{self.t} -> bob: * alice winks"]
        )

    def test_private_sent(self) -> None:
        # The sender is you and goes unsaid; nothing is known of the recipient.
        self.assertEqual(self.r.own_message("alice", "bob", "psst", ts=NOW), [f"{self.t} -> bob: psst"])
        self.assertEqual(self.r.own_message("alice", "bob", "psst", ts=NOW, registered=True), [f"{self.t} -> bob: psst"])

    def test_private_sent_to_offline_user_is_marked_queued(self) -> None:
        [line] = self.r.own_message("alice", "bob", "later", ts=NOW, queued=True)
        self.assertTrue(line.startswith(f"{self.t} -> bob: later"), line)
        self.assertIn("queued", line)

    def test_a_message_to_a_rooms_ops_or_voiced_users_says_so(self) -> None:
        to_ops = ev("message", msgid="m", to="#dev", text="psst", kind="public", only="op", **{"from": "bob"})
        self.assertEqual(self.one(to_ops), f"{self.t} [#dev] <~bob> psst (to ops)")
        self.assertEqual(self.one({**to_ops, "only": "voice"}), f"{self.t} [#dev] <~bob> psst (to voiced users and ops)")

    def test_delayed_message_shows_its_original_time_a_mark_and_who_sent_it(self) -> None:
        sent = NOW - 3 * 86400
        delayed = {"event": "message", "ts": sent, "msgid": "m", "from": "bob", "to": "alice",
                   "text": "while you were out", "kind": "private", "delayed": True}
        day = time.strftime("[%Y-%m-%d %H:%M]", time.localtime(sent))
        self.assertEqual(self.one({**delayed, "registered": True}), f"{day} [private] <bob> while you were out (delayed)")
        self.assertEqual(self.one(delayed), f"{day} [private] <~bob> while you were out (delayed)")

    def test_history_marks_each_guest_and_leaves_accounts_bare(self) -> None:
        lines = self.r.event(ev("history", target="#lobby", more=False, messages=[
            {"msgid": "1", "from": "bob", "to": "#lobby", "text": "from the account", "kind": "public", "ts": NOW - 60, "registered": True},
            {"msgid": "2", "from": "bob", "to": "#lobby", "text": "from a guest", "kind": "public", "ts": NOW - 50},
            {"msgid": "3", "from": "bob", "to": "#lobby", "text": "waves", "kind": "action", "ts": NOW - 40},
            {"msgid": "4", "from": "alice", "to": "#lobby", "text": "mine", "kind": "public", "ts": NOW - 30, "registered": True},
        ]), "alice")
        self.assertEqual(lines[1:], [
            f"{hhmm(NOW - 60)} [#lobby] <bob> from the account",
            f"{hhmm(NOW - 50)} [#lobby] <~bob> from a guest",
            f"{hhmm(NOW - 40)} [#lobby] * ~bob waves",
            f"{hhmm(NOW - 30)} [#lobby] <alice> mine",
        ])

    def test_only_a_json_true_registered_counts_as_an_account(self) -> None:
        for claim in ("yes", 1, "true", [True], {"registered": True}, None, False):
            line = self.one(ev("message", msgid="m", to="#lobby", text="hi", kind="public", registered=claim, **{"from": "bob"}))
            self.assertEqual(line, f"{self.t} [#lobby] <~bob> hi", claim)

    def test_join_part_and_notice(self) -> None:
        self.assertEqual(self.one(ev("join", room="#lobby", user="carol")), f"{self.t} *** carol joined #lobby")
        self.assertEqual(
            self.one(ev("part", room="#lobby", user="carol", reason="connection lost")),
            f"{self.t} *** carol left #lobby (connection lost)",
        )
        self.assertEqual(self.one(ev("notice", text="You were kicked by root")), f"{self.t} *** You were kicked by root")

    def test_a_quit_is_one_line_for_every_room_shared(self) -> None:
        self.assertEqual(
            self.one(ev("quit", user="carol", rooms=["#lobby", "#dev"], reason="quit: bye")),
            f"{self.t} *** carol left #lobby, #dev (quit: bye)",
        )

    def test_what_another_session_of_the_account_did_reads_as_ones_own(self) -> None:
        self.assertEqual(self.one(ev("join", room="#ops", user="Alice")), f"{self.t} *** You joined #ops (from another session)")
        self.assertEqual(self.one(ev("part", room="#ops", user="alice")), f"{self.t} *** You left #ops (from another session)")
        mine = ev("message", msgid="m", to="#ops", text="from my phone", kind="public", registered=True, **{"from": "alice"})
        self.assertEqual(self.one(mine), f"{self.t} [#ops] <alice> from my phone")

    def test_whoami_lists_the_sessions_when_there_are_several(self) -> None:
        sessions = [
            {"door": "tcp", "address": "10.0.0.1:5000", "since": NOW, "this": False},
            {"door": "web", "address": "10.0.0.2:6000", "since": NOW, "this": True},
        ]
        lines = self.r.event(ev("whoami", user="alice", rooms=["#lobby"], admin=False, registered=True, sessions=sessions), "alice")
        self.assertEqual(lines[1:], [
            f"{self.t} ***   session via tcp from 10.0.0.1:5000",
            f"{self.t} ***   session via web from 10.0.0.2:6000 (this one)",
        ])
        one = self.r.event(ev("whoami", user="alice", rooms=[], admin=False, sessions=sessions[1:]), "alice")
        self.assertEqual(len(one), 1)

    def test_error(self) -> None:
        self.assertEqual(self.one(ev("error", code="no_such_user", text="no such user: dave")), f"{self.t} !!! no such user: dave")
        self.assertEqual(self.r.error("oops", ts=NOW), [f"{self.t} !!! oops"])

    def test_timestamp_is_local_hours_and_minutes_of_ts(self) -> None:
        ts = NOW - 3600 * 5 - 60 * 7  # the same day or not, but a different minute
        [line] = self.r.event({"event": "notice", "ts": ts, "text": "x"})
        stamp = line.split(" ")[0] if time.localtime(ts).tm_yday == time.localtime(NOW).tm_yday else None
        if stamp is not None:
            self.assertEqual(stamp, time.strftime("[%H:%M]", time.localtime(ts)))
        self.assertIn(time.strftime("%H:%M", time.localtime(ts)), line)

    def test_every_protocol_event_renders(self) -> None:
        events = [
            ev("welcome", server="tchat", version="0.1.0", motd="Be nice.\nNo spam.", text="Welcome"),
            ev("logged_in", user="alice", rooms=["#lobby"], users=["alice", "bob"]),
            ev("users", users=["alice", "bob"]),
            ev("users", room="#dev", users=["bob"]),
            ev("rooms", rooms=[{"room": "#lobby", "members": 2}]),
            ev("whoami", user="alice", rooms=["#lobby"], admin=True, current="#lobby"),
            ev("ok", re=3, text="you joined #dev"),
            ev("help", commands=[{"command": "/msg", "usage": "/msg NAME TEXT", "aliases": ["/para"], "text": "send", "admin": False}], text="plain lines"),
            ev("debug", uptime=12.0, users_online=1, rooms=[{"room": "#lobby", "users": ["alice"]}],
               connections=[{"user": "alice", "address": "127.0.0.1:5", "door": "tcp/json", "since": NOW - 3, "rooms": ["#lobby"], "admin": True}]),
            ev("history", target="#lobby", more=True,
               messages=[{"msgid": "1", "from": "bob", "to": "#lobby", "text": "old", "kind": "public", "ts": NOW - 60, "registered": True}]),
            ev("contacts", contacts=[{"user": "bob", "online": True, "last_seen": None},
                                     {"user": "eve", "online": False, "last_seen": NOW - 100}]),
            ev("seen", user="eve", online=False, last_seen=NOW - 100),
            ev("shutdown", text="maintenance", delay=0),
            ev("bye", text="goodbye"),
            ev("pong", token="t1"),
        ]
        for event in events:
            lines = self.r.event(event, "alice")
            self.assertTrue(lines, event)
            for line in lines:
                self.assertTrue(line.startswith("["), line)
                self.assertNotRegex(line, ESC_ANY)
        self.assertEqual(
            self.r.event(events[0]),
            [f"{self.t} *** Connected to tchat 0.1.0", f"{self.t} *** Be nice.", f"{self.t} *** No spam."],
        )
        self.assertIn("Online: alice, bob", self.r.event(events[1])[0])
        self.assertEqual(self.r.event(ev("whoami", user="bob", rooms=[], admin=False))[0], f"{self.t} *** You are bob, in no room (/join #room)")
        self.assertIn("(1 message):", self.r.event(events[9])[0])
        self.assertIn("/msg NAME TEXT (also /para): send", self.r.event(events[7])[0])
        kick = ev("help", commands=[{"usage": "/kick NAME", "aliases": [], "text": "disconnect a user", "admin": True}])
        self.assertTrue(self.r.event(kick)[0].endswith("/kick NAME: disconnect a user (admins only)"))
        history = self.r.event(events[9], "alice")
        self.assertIn(f"{hhmm(NOW - 60)} [#lobby] <bob> old", history)
        self.assertIn("going down", self.r.event(events[12])[0])

    def test_unread_counts_at_login_are_shown(self) -> None:
        lines = self.r.event(ev("logged_in", user="alice", rooms=["#lobby", "#dev"], users=["alice"],
                                registered=True, unread={"#lobby": 0, "#dev": 4}))
        self.assertEqual(lines[-1], f"{self.t} *** New since you were last here: 4 in #dev (/history #room shows them)")
        quiet = self.r.event(ev("logged_in", user="alice", rooms=["#lobby"], users=["alice"], unread={"#lobby": 0}))
        self.assertEqual(len(quiet), 2)

    def test_accounts_for_admins(self) -> None:
        lines = self.r.event(ev("accounts", accounts=[
            {"user": "bob", "created": NOW - 99, "last_login": NOW - 50, "last_address": "192.0.2.1:5", "last_seen": NOW - 10, "online": False},
        ]))
        self.assertEqual(lines[0], f"{self.t} *** 1 accounts:")
        self.assertIn("bob: last login", lines[1])
        self.assertIn("from 192.0.2.1:5", lines[1])

    def test_server_ping_is_not_shown(self) -> None:
        self.assertEqual(self.r.event(ev("ping", token="x")), [])

    def test_unknown_event_gets_a_generic_line(self) -> None:
        line = self.one(ev("weather", sky="blue", wind=3))
        self.assertEqual(line, f"{self.t} *** weather sky=blue wind=3")

    def test_malformed_known_event_does_not_crash(self) -> None:
        # A message without its text, users that is not a list of names...
        for event in (ev("message", **{"from": "bob"}), ev("rooms", rooms=5), ev("help", commands=None), {"event": "users"}):
            lines = self.r.event(event)
            self.assertEqual(len(lines), 1)
            self.assertIn("***", lines[0])


class ColourRenderingTests(TestCase):
    """With colour on: escapes present, and each kind of line looks different."""

    def setUp(self) -> None:
        self.r = Renderer(color=True, now=lambda: NOW)

    def test_each_kind_has_its_own_look(self) -> None:
        kinds = {
            "own": self.r.own_message("alice", "#lobby", "hi", ts=NOW)[0],
            "others": self.r.event(ev("message", msgid="m", to="#lobby", text="hi", kind="public", **{"from": "bob"}), "alice")[0],
            "private": self.r.event(ev("message", msgid="m", to="alice", text="hi", kind="private", **{"from": "bob"}), "alice")[0],
            "private_sent": self.r.own_message("alice", "bob", "hi", ts=NOW)[0],
            "notice": self.r.event(ev("notice", text="hi"))[0],
            "error": self.r.event(ev("error", code="x", text="hi"))[0],
        }
        for line in kinds.values():
            self.assertIn("\x1b[", line)
        looks = {kind: tuple(styles(line)) for kind, line in kinds.items()}
        self.assertEqual(len(set(looks.values())), len(looks), looks)
        # Errors are red (SGR 31).
        self.assertIn("31", "".join(styles(kinds["error"])))

    def test_a_guests_mark_has_a_dim_look_of_its_own_beside_the_name(self) -> None:
        guest = ev("message", msgid="m", to="#lobby", text="hi", kind="public", **{"from": "bob"})
        for line in (
            self.r.event(guest, "alice")[0],
            self.r.event({**guest, "kind": "action"}, "alice")[0],
            self.r.event({**guest, "to": "alice", "kind": "private"}, "alice")[0],
            self.r.own_message("alice", "#lobby", "hi", ts=NOW)[0],
        ):
            found = re.search(r"((?:\x1b\[[0-9;]*m)+)~\x1b\[0m((?:\x1b\[[0-9;]*m)+)(?:bob|alice)", line)
            self.assertIsNotNone(found, repr(line))
            mark, name = found.groups()
            self.assertNotEqual(mark, name)
            self.assertIn("90", mark)  # dark grey: dim on light and dark terminals
        account = self.r.event({**guest, "registered": True}, "alice")[0]
        self.assertNotIn("~", account)

    def test_colour_off_is_the_same_text_without_escapes(self) -> None:
        plain = Renderer(color=False, now=lambda: NOW)
        for registered in (True, None):
            event = ev("message", msgid="m", to="alice", text="hi", kind="private", registered=registered, **{"from": "bob"})
            self.assertEqual(SGR.sub("", self.r.event(event)[0]), plain.event(event)[0])


class HostileTextTests(TestCase):
    """Escape sequences in anything the server sends never reach the output."""

    NASTY = "\x1b[2J\x1b]0;owned\x07\x9b31m\rline\nbreak\x1b[1;1H\x07"

    def check(self, lines: list[str], color: bool) -> None:
        self.assertTrue(lines)
        for line in lines:
            self.assertNotIn("\r", line)
            self.assertNotIn("\n", line)
            self.assertNotIn("\x07", line)
            self.assertNotIn("\x9b", line)
            rest = SGR.sub("", line) if color else line
            self.assertNotIn("\x1b", rest)
            self.assertNotIn("owned", rest)

    def test_fields_of_every_kind_are_cleaned(self) -> None:
        n = self.NASTY
        events = [
            ev("message", msgid="m", to="#lobby", text=n, kind="public", **{"from": "bob" + n}),
            ev("message", msgid="m", to="alice", text=n, kind="private", **{"from": n}),
            ev("notice", text=n),
            ev("error", code="x", text=n),
            ev("join", room="#a" + n, user=n),
            ev("welcome", server=n, version=n, motd=n),
            ev("users", users=[n, "bob"]),
            ev("mystery" + n, field=n, other=[n]),
        ]
        for color in (False, True):
            r = Renderer(color=color, now=lambda: NOW)
            for event in events:
                self.check(r.event(event, "alice"), color)
            self.check(r.own_message("alice", "#lobby", n, ts=NOW), color)
            self.check(r.own_message("alice", "bob" + n, n, ts=NOW), color)


class FakeDisplay:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.asked: list[tuple[str | None, str | None]] = []
        self.changes = 0

    def show(self, lines: list[str]) -> None:
        self.lines.extend(lines)

    def ask_name(self, problem: str | None, code: str | None) -> None:
        self.asked.append((problem, code))

    def changed(self) -> None:
        self.changes += 1


class ClientTests(TestCase):
    """L{ChatClient} over a StringTransport, a fake display and a Clock."""

    def make(self, name: str | None = "alice") -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.transport = StringTransport()
        self.display = FakeDisplay()
        self.client = ChatClient(Renderer(color=False, now=self.clock.seconds), self.clock, name)
        self.client.makeConnection(self.transport)
        self.status: list[int] = []
        self.client.finished.addCallback(self.status.append)

    def setUp(self) -> None:
        self.make()

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.transport)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, self.clock.seconds(), **fields)

    def log_in(self, rooms: list[str] | None = None, registered: bool | None = None) -> None:
        self.client.start(self.display)
        [login] = self.sent()
        self.receive("welcome", server="tchat", version="0.1.0")
        self.receive(
            "logged_in", re=login["id"], user="alice", rooms=rooms or ["#lobby"], users=["alice", "bob"],
            **({} if registered is None else {"registered": registered}),
        )
        self.display.lines.clear()

    def type(self, line: str) -> list[dict[str, Any]]:
        self.client.send_typed(line)
        return self.sent()

    def strip_ids(self, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for obj in objs:
            self.assertIsInstance(obj.pop("id"), int)
        return objs

    # -- login ---------------------------------------------------------------

    def test_login_is_the_first_thing_sent(self) -> None:
        self.assertEqual(self.transport.value(), b"")
        self.client.start(self.display)
        [login] = self.sent()
        self.assertEqual(login["action"], "login")
        self.assertEqual(login["user"], "alice")
        self.assertIn("id", login)

    def test_without_a_name_the_display_is_asked_and_only_a_silent_ping_is_sent(self) -> None:
        # The ping turns the connection to JSON mode, so that the welcome and
        # any bye come as JSON while the person is still typing a name.
        self.make(name=None)
        self.client.start(self.display)
        self.assertEqual(self.display.asked, [(None, None)])
        [ping] = self.sent()
        self.assertEqual(ping["action"], "ping")
        self.receive("welcome", re=ping["id"], server="tchat", version="0.1.0")
        self.receive("pong", re=ping["id"])
        self.assertEqual(self.display.lines, [f"{hhmm(NOW)} *** Connected to tchat 0.1.0"])
        self.client.login("zoe")
        self.assertEqual(self.strip_ids(self.sent()), [{"action": "login", "user": "zoe"}])

    def test_text_said_before_closing_is_shown_when_no_json_came(self) -> None:
        self.client.start(self.display)
        self.sent()
        self.client.dataReceived(b"*** Bye: login timeout\r\n")
        self.client.connectionLost(Failure(ConnectionDone()))
        self.assertIn("it said: *** Bye: login timeout", self.display.lines[-1])
        self.assertEqual(self.status, [1])

    def test_refused_name_asks_again_with_the_reason(self) -> None:
        self.client.start(self.display)
        [login] = self.sent()
        self.receive("error", re=login["id"], code="name_taken", text="the name alice is taken; choose another name")
        self.assertEqual(self.display.asked, [("the name alice is taken; choose another name", "name_taken")])
        self.assertFalse(self.client.logged_in)
        self.client.login("alice2")
        [again] = self.sent()
        self.receive("logged_in", re=again["id"], user="alice2", rooms=["#lobby"], users=["alice2"])
        self.assertTrue(self.client.logged_in)
        self.assertEqual(self.client.name, "alice2")

    def test_lines_that_are_not_json_objects_are_ignored(self) -> None:
        self.client.start(self.display)
        self.sent()
        for line in (b"*** Welcome to tchat. Type a name to log in (or /help).\r\n", b"[1, 2]\n", b"42\n", b"{broken\n", b'{"no": "event"}\n', b"\n"):
            self.client.dataReceived(line)
        self.assertEqual(self.display.lines, [])
        self.assertEqual(self.transport.value(), b"")

    def test_logged_in_sets_the_current_room_to_the_last_room(self) -> None:
        self.log_in(rooms=["#lobby", "#dev"])
        self.assertEqual(self.client.current_room, "#dev")
        self.assertEqual(self.client.prompt(), "#dev> ")

    # -- typed lines ---------------------------------------------------------

    def test_msg_and_its_aliases(self) -> None:
        self.log_in()
        for typed in ("/msg bob hi there", "/para bob hi there", "/w bob hi there", "/to bob hi there"):
            self.assertEqual(self.strip_ids(self.type(typed)), [{"action": "msg", "to": "bob", "text": "hi there"}])

    def test_plain_line_goes_to_the_current_room(self) -> None:
        self.log_in()
        self.assertEqual(self.strip_ids(self.type("hello all")), [{"action": "msg", "to": "#lobby", "text": "hello all"}])

    def test_me_and_msgall_go_to_the_current_room(self) -> None:
        self.log_in()
        self.assertEqual(self.strip_ids(self.type("/me waves")), [{"action": "msg", "kind": "action", "text": "waves", "to": "#lobby"}])
        self.assertEqual(self.strip_ids(self.type("/all hey")), [{"action": "msg", "text": "hey", "to": "#lobby"}])

    def test_double_slash_sends_a_line_starting_with_a_slash(self) -> None:
        self.log_in()
        self.assertEqual(self.strip_ids(self.type("//shrug")), [{"action": "msg", "to": "#lobby", "text": "/shrug"}])

    def test_other_commands_are_sent_as_json_requests(self) -> None:
        self.log_in()
        self.assertEqual(self.strip_ids(self.type("/who #dev")), [{"action": "users", "room": "#dev"}])
        self.assertEqual(self.strip_ids(self.type("/list")), [{"action": "rooms"}])
        self.assertEqual(self.strip_ids(self.type("/kill bob being rude")), [{"action": "kill", "user": "bob", "reason": "being rude"}])

    def test_request_ids_are_distinct(self) -> None:
        self.log_in()
        ids = [self.type(line)[0]["id"] for line in ("a", "b", "/users", "/rooms")]
        self.assertEqual(len(set(ids)), 4)

    def test_bad_typed_command_is_shown_and_nothing_is_sent(self) -> None:
        self.log_in()
        for typed in ("/nosuchthing", "/msg", "/join", "/whoami extra"):
            self.assertEqual(self.type(typed), [], typed)
        self.assertEqual(len(self.display.lines), 4)
        for line in self.display.lines:
            self.assertIn("!!!", line)
        self.assertIn("unknown command /nosuchthing", self.display.lines[0])

    def test_blank_line_sends_nothing(self) -> None:
        self.log_in()
        self.assertEqual(self.type("   "), [])
        self.assertEqual(self.display.lines, [])

    # -- current room --------------------------------------------------------

    def test_current_room_follows_join_room_and_part(self) -> None:
        self.log_in()
        [join] = self.type("/join #dev")
        self.assertEqual(self.client.current_room, "#lobby")  # not before the server agrees
        self.receive("ok", re=join["id"], room="#dev", users=["alice"], text="you joined #dev; in it: alice")
        self.assertEqual(self.client.current_room, "#dev")
        self.assertEqual(self.type("in dev")[0]["to"], "#dev")

        [join] = self.type("/join #ops")
        self.receive("ok", re=join["id"], room="#ops", users=["alice"], text="you joined #ops")
        self.assertEqual(self.client.rooms, ["#lobby", "#dev", "#ops"])

        # /room is the client's own business: nothing is sent.
        self.assertEqual(self.type("/room #LOBBY"), [])
        self.assertEqual(self.client.current_room, "#lobby")
        self.assertEqual(self.type("back")[0]["to"], "#lobby")

        # Leaving the current room falls back to the most recently joined one.
        [part] = self.type("/part")
        self.assertEqual(part["room"], "#lobby")
        self.receive("ok", re=part["id"], room="#lobby", text="you left #lobby")
        self.assertEqual(self.client.current_room, "#ops")
        self.assertIn("plain lines now go to #ops", self.display.lines[-1])

        # Leaving another room keeps the current one.
        [part] = self.type("/part #dev")
        self.receive("ok", re=part["id"], room="#dev", text="you left #dev")
        self.assertEqual(self.client.current_room, "#ops")

        [part] = self.type("/part")
        self.receive("ok", re=part["id"], room="#ops", text="you left #ops")
        self.assertIsNone(self.client.current_room)
        self.assertEqual(self.type("anyone?"), [])
        self.assertIn("you are in no room", self.display.lines[-1])

    def test_room_not_joined_is_refused_locally(self) -> None:
        self.log_in()
        self.assertEqual(self.type("/room #elsewhere"), [])
        self.assertEqual(self.client.current_room, "#lobby")
        self.assertIn("!!! you are not in #elsewhere", self.display.lines[-1])

    def test_failed_join_keeps_the_current_room(self) -> None:
        self.log_in()
        [join] = self.type("/join #bad!")
        self.receive("error", re=join["id"], code="bad_name", text="a room name may only hold letters")
        self.assertEqual(self.client.current_room, "#lobby")
        self.assertIn("!!! a room name may only hold letters", self.display.lines[-1])

    def test_lines_typed_during_a_join_wait_for_its_reply(self) -> None:
        self.log_in()
        [join] = self.type("/join #dev")
        self.assertEqual(self.type("first in dev"), [])
        self.assertEqual(self.type("second"), [])
        self.receive("ok", re=join["id"], room="#dev", users=["alice"])
        self.assertEqual(
            self.strip_ids(self.sent()),
            [{"action": "msg", "to": "#dev", "text": "first in dev"}, {"action": "msg", "to": "#dev", "text": "second"}],
        )

    def test_lines_typed_before_login_are_sent_after_it(self) -> None:
        self.client.start(self.display)
        [login] = self.sent()
        self.client.send_typed("early bird")
        self.assertEqual(self.sent(), [])
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"])
        self.assertEqual(self.strip_ids(self.sent()), [{"action": "msg", "to": "#lobby", "text": "early bird"}])

    # -- what is shown -------------------------------------------------------

    def test_own_public_message_is_shown_when_its_ok_arrives(self) -> None:
        self.log_in()
        [msg] = self.type("hello all")
        self.assertEqual(self.display.lines, [])
        self.receive("ok", re=msg["id"], msgid="x-1")
        # logged_in said nothing of an account: alice is a guest, and others see <~alice>.
        self.assertEqual(self.display.lines, [f"{hhmm(NOW)} [#lobby] <~alice> hello all"])

    def test_own_message_of_a_registered_login_shows_the_name_bare(self) -> None:
        self.log_in(registered=True)
        [msg] = self.type("hello all")
        self.receive("ok", re=msg["id"], msgid="x-1")
        [me] = self.type("/me waves")
        self.receive("ok", re=me["id"], msgid="x-2")
        self.assertEqual(self.display.lines, [f"{hhmm(NOW)} [#lobby] <alice> hello all", f"{hhmm(NOW)} [#lobby] * alice waves"])

    def test_own_messages_lose_the_guest_mark_once_register_is_accepted(self) -> None:
        self.log_in(registered=False)
        [before] = self.type("as a guest")
        self.receive("ok", re=before["id"], msgid="x-1")
        [register] = self.type("/register correct horse")
        self.receive("ok", re=register["id"], text="alice is registered; from now on log in with /login alice PASSWORD")
        [after] = self.type("as the account")
        self.receive("ok", re=after["id"], msgid="x-2")
        self.assertEqual(self.display.lines[0], f"{hhmm(NOW)} [#lobby] <~alice> as a guest")
        self.assertEqual(self.display.lines[-1], f"{hhmm(NOW)} [#lobby] <alice> as the account")

    def test_a_refused_register_keeps_the_guest_mark(self) -> None:
        self.log_in(registered=False)
        [register] = self.type("/register short")
        self.receive("error", re=register["id"], code="weak_password", text="a password has at least 8 characters")
        [msg] = self.type("still a guest")
        self.receive("ok", re=msg["id"], msgid="x-1")
        self.assertEqual(self.display.lines[-1], f"{hhmm(NOW)} [#lobby] <~alice> still a guest")

    def test_own_private_message_is_shown_with_an_arrow(self) -> None:
        self.log_in()
        [msg] = self.type("/msg bob psst")
        self.receive("ok", re=msg["id"], msgid="x-2", text="sent to bob")
        self.assertEqual(self.display.lines, [f"{hhmm(NOW)} -> bob: psst"])

    def test_failed_message_shows_the_error_not_the_message(self) -> None:
        self.log_in()
        [msg] = self.type("/msg dave hi")
        self.receive("error", re=msg["id"], code="no_such_user", text="no such user: dave")
        self.assertEqual(self.display.lines, [f"{hhmm(NOW)} !!! no such user: dave"])

    def test_incoming_messages_are_shown(self) -> None:
        self.log_in()
        self.receive("message", msgid="1", to="#lobby", text="hi alice", kind="public", **{"from": "bob"})
        self.receive("message", msgid="2", to="alice", text="psst", kind="private", registered=True, **{"from": "bob"})
        self.assertEqual(
            self.display.lines,
            [f"{hhmm(NOW)} [#lobby] <~bob> hi alice", f"{hhmm(NOW)} [private] <bob> psst"],
        )

    def test_escape_sequences_from_the_server_never_reach_the_display(self) -> None:
        self.log_in()
        self.receive("message", msgid="1", to="#lobby", text="\x1b[2Jgotcha\x1b]0;title\x07", kind="public", **{"from": "bob"})
        self.assertEqual(self.display.lines, [f"{hhmm(NOW)} [#lobby] <~bob> gotcha"])

    def test_server_ping_is_answered_with_pong(self) -> None:
        self.log_in()
        self.receive("ping", token="tok-7")
        self.assertEqual(self.sent(), [{"action": "pong", "token": "tok-7"}])
        self.assertEqual(self.display.lines, [])

    def test_typed_ping_shows_the_round_trip(self) -> None:
        self.log_in()
        [ping] = self.type("/ping")
        self.clock.advance(0.25)
        self.receive("pong", re=ping["id"])
        self.assertIn("pong from the server in 250 ms", self.display.lines[-1])

    # -- leaving -------------------------------------------------------------

    def test_quit_waits_for_bye_then_finishes_with_0(self) -> None:
        self.log_in()
        self.assertEqual(self.strip_ids(self.type("/quit gotta go")), [{"action": "quit", "reason": "gotta go"}])
        self.assertFalse(self.transport.disconnecting)
        self.receive("bye", text="goodbye")
        self.assertTrue(self.transport.disconnecting)
        self.client.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.status, [0])
        self.assertEqual(self.display.lines, [])

    def test_quit_hangs_up_if_no_bye_comes(self) -> None:
        self.log_in()
        self.client.quit()
        self.clock.advance(QUIT_WAIT - 0.1)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(0.2)
        self.assertTrue(self.transport.disconnecting)
        self.client.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.status, [0])

    def test_typing_after_quit_sends_nothing(self) -> None:
        self.log_in()
        self.client.quit()
        self.sent()
        self.assertEqual(self.type("too late"), [])

    def test_lost_connection_is_reported_and_finishes_with_1(self) -> None:
        self.log_in()
        self.client.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.status, [1])
        self.assertIn("*** connection to the server lost", self.display.lines[-1])

    def test_server_shutdown_and_bye_finish_with_1(self) -> None:
        self.log_in()
        self.receive("shutdown", text="maintenance", delay=0)
        self.receive("bye", text="maintenance")
        self.client.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.status, [1])
        text = "\n".join(self.display.lines)
        self.assertIn("going down: maintenance", text)
        self.assertIn("Bye: maintenance", text)
        self.assertIn("the server closed the connection", text)

    def test_malformed_events_do_not_break_the_client(self) -> None:
        self.client.start(self.display)
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=5, users=None)
        self.receive("ok", re=99, room=["#x"])
        self.receive("message", to=None, text=3)
        self.assertTrue(self.display.lines)
        self.assertFalse(self.transport.disconnecting)
        # Still usable afterwards.
        self.receive("logged_in", re=1, user="alice", rooms=["#lobby"], users=["alice"])
        self.assertEqual(self.client.current_room, "#lobby")
        self.assertEqual(self.strip_ids(self.type("still here")), [{"action": "msg", "to": "#lobby", "text": "still here"}])


class StartBeforeConnectTests(TestCase):
    """The front-end starts first: a name can be typed, or the person leave, while connecting."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.display = FakeDisplay()
        self.transport = StringTransport()
        self.status: list[int] = []

    def client(self, name: str | None) -> ChatClient:
        client = ChatClient(Renderer(now=lambda: NOW), self.clock, name)
        client.finished.addCallback(self.status.append)
        client.start(self.display)
        return client

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.transport)

    def test_login_waits_for_the_connection(self) -> None:
        client = self.client(None)
        self.assertEqual(self.display.asked, [(None, None)])
        client.login("early")
        client.makeConnection(self.transport)
        [login] = self.sent()  # the name came first: no need for a ping
        self.assertEqual((login["action"], login["user"]), ("login", "early"))

    def test_quit_before_the_connection_finishes_at_once(self) -> None:
        client = self.client(None)
        client.quit()
        self.assertEqual(self.status, [0])
        # Should the connection still come, it is closed, and nothing is sent.
        client.makeConnection(self.transport)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"")

    def test_end_of_input_quits_after_the_lines_given_so_far(self) -> None:
        client = self.client("bot")
        client.send_typed("one")
        client.send_typed("/join #dev")
        client.send_typed("two")
        client.end_of_input()
        self.assertEqual(self.status, [])
        client.makeConnection(self.transport)
        [login] = self.sent()
        client.dataReceived(json.dumps({"event": "logged_in", "re": login["id"], "user": "bot", "rooms": ["#lobby"], "users": ["bot"], "ts": NOW}).encode() + b"\n")
        one, join = self.sent()
        self.assertEqual((one["text"], one["to"], join["action"]), ("one", "#lobby", "join"))
        client.dataReceived(json.dumps({"event": "ok", "re": join["id"], "room": "#dev", "ts": NOW}).encode() + b"\n")
        two, quit = self.sent()
        self.assertEqual((two["text"], two["to"], quit["action"]), ("two", "#dev", "quit"))

    def test_end_of_input_without_a_name_quits_now(self) -> None:
        client = self.client(None)
        client.makeConnection(self.transport)
        client.end_of_input()
        self.assertEqual([m["action"] for m in self.sent()], ["ping", "quit"])

    def test_connection_closed_before_any_answer_says_so(self) -> None:
        client = self.client("bot")
        client.makeConnection(self.transport)
        client.dataReceived(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        client.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.status, [1])
        self.assertIn("closed before the server answered", self.display.lines[-1])
