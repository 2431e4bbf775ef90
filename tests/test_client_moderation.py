"""
tchat-client and the rooms' operators: the lines for topic, op, kick, ban,
mute, invite, mode, nick, whois and bans; the marks of operators; what the
client keeps of each room (L{tchat.client.roster.Roster}: members, ops,
topics) from the join's ok, logged_in, users replies and the events; a
room's kick of oneself; one's own rename; the room commands completed with
the current room. Driven through a StringTransport and a fake display; the
screen (the topic row, Tab) is in tests/test_client_ui.py, coming back after
a room kick in tests/test_client_reconnect.py, a real server in
tests/test_client_piped.py.
"""

from __future__ import annotations

import re
import time
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from tchat.client.connection import ChatClient
from tchat.client.render import Renderer
from tchat.client.roster import Roster
from tests.helpers import feed_event, take_json
from tests.test_client_render import ESC_ANY, NOW, SGR, FakeDisplay, ev, hhmm

NASTY = "\x1b[2J\x1b]0;owned\x07\x9b31m\rline\nbreak\x1b[1;1H\x07"


class ModerationRenderingTests(TestCase):
    """Each event of a room's operators is one plain line, said to "you" when it is about you."""

    def setUp(self) -> None:
        self.r = Renderer(color=False, now=lambda: NOW)
        self.t = hhmm(NOW)

    def one(self, event: dict[str, Any], me: str | None = "alice") -> str:
        lines = self.r.event(event, me)
        self.assertEqual(len(lines), 1, lines)
        self.assertNotRegex(lines[0], ESC_ANY)
        self.assertTrue(lines[0].startswith(f"{self.t} *** "), lines[0])
        return lines[0][len(f"{self.t} *** "):]

    def test_topic_set_cleared_and_read(self) -> None:
        self.assertEqual(self.one(ev("topic", room="#dev", topic="release on friday", by="bob")),
                         "bob set the topic of #dev: release on friday")
        self.assertEqual(self.one(ev("topic", room="#dev", topic="", by="bob")), "bob cleared the topic of #dev")
        self.assertEqual(self.one(ev("topic", re=4, room="#dev", topic="release", by="bob", at=NOW, text="topic of #dev: release")),
                         f"Topic of #dev: release (set by bob, {self.t[1:-1]})")
        self.assertEqual(self.one(ev("topic", re=4, room="#dev", topic=None, by=None, at=None, text="#dev has no topic")),
                         "#dev has no topic")

    def test_op_deop_voice_devoice(self) -> None:
        self.assertEqual(self.one(ev("op", room="#dev", user="carol", by="bob")), "bob made carol an operator of #dev")
        self.assertEqual(self.one(ev("op", room="#dev", user="Alice", by="bob")), "bob made you an operator of #dev")
        self.assertEqual(self.one(ev("deop", room="#dev", user="carol", by="bob")), "bob took carol's operator rights in #dev")
        self.assertEqual(self.one(ev("deop", room="#dev", user="alice", by="bob")), "bob took your operator rights in #dev")
        self.assertEqual(self.one(ev("voice", room="#dev", user="carol", by="bob")), "bob gave carol a voice in #dev")
        self.assertEqual(self.one(ev("devoice", room="#dev", user="carol", by="bob")), "bob took carol's voice in #dev")

    def test_kick_of_someone_else_and_of_oneself(self) -> None:
        self.assertEqual(self.one(ev("kick", room="#dev", user="carol", by="bob", reason="spam")),
                         "carol was put out of #dev by bob (spam)")
        self.assertEqual(self.one(ev("kick", room="#dev", user="carol", by="bob", reason=None)), "carol was put out of #dev by bob")
        self.assertEqual(self.one(ev("kick", room="#dev", user="alice", by="bob", reason="spam")), "You were put out of #dev by bob (spam)")

    def test_ban_unban_mute_unmute(self) -> None:
        later = NOW + 3600
        until = time.strftime("%H:%M", time.localtime(later))
        if time.strftime("%Y-%m-%d", time.localtime(later)) != time.strftime("%Y-%m-%d", time.localtime(NOW)):
            until = time.strftime("%Y-%m-%d %H:%M", time.localtime(later))
        self.assertEqual(self.one(ev("ban", room="#dev", user="carol", by="bob", until=None)), "carol was banned from #dev by bob")
        self.assertEqual(self.one(ev("ban", room="#dev", user="carol", by="bob", until=later)),
                         f"carol was banned from #dev by bob until {until}")
        self.assertEqual(self.one(ev("ban", room="#dev", user="alice", by="bob", until=None)), "You were banned from #dev by bob")
        self.assertEqual(self.one(ev("unban", room="#dev", user="carol", by="bob")), "bob lifted carol's ban from #dev")
        self.assertEqual(self.one(ev("mute", room="#dev", user="carol", by="bob", until=later)),
                         f"carol was muted in #dev by bob until {until}")
        self.assertEqual(self.one(ev("mute", room="#dev", user="alice", by="bob", until=None)),
                         "You were muted in #dev by bob: your messages there reach nobody")
        self.assertEqual(self.one(ev("unmute", room="#dev", user="carol", by="bob")), "bob let carol speak in #dev again")
        self.assertEqual(self.one(ev("unmute", room="#dev", user="alice", by="bob")), "bob let you speak in #dev again")

    def test_an_invitation_says_how_to_go_in(self) -> None:
        self.assertEqual(self.one(ev("invite", room="#secret", user="alice", by="bob")),
                         "bob invites you to #secret: /join #secret to go in")

    def test_mode_changes_and_reading_them(self) -> None:
        modes = {"moderated": True, "invite_only": False, "key": True, "limit": 20, "topic_locked": True, "history": "all"}
        self.assertEqual(
            self.one(ev("mode", room="#dev", by="bob", set={"moderated": True, "invite_only": False}, modes=modes)),
            "bob set +m (moderated), -i (not invite-only) on #dev (now +mtkl)",
        )
        self.assertEqual(
            self.one(ev("mode", room="#dev", by="bob", set={"key": True, "limit": 20, "history": "since_join"}, modes=modes)),
            "bob set +k (a key to join), +l (at most 20 members), +H (history only from joining) on #dev (now +mtkl)",
        )
        self.assertEqual(self.one(ev("mode", room="#dev", by="bob", set={"key": None, "limit": None}, modes=modes)),
                         "bob set -k (no key), -l (no limit) on #dev (now +mtkl)")
        # The answer to /mode: an op sees the key itself.
        self.assertEqual(self.one(ev("mode", re=3, room="#dev", modes={**modes, "key": "s3cret"}, text="modes of #dev: +mtkl")),
                         "Modes of #dev: +mtkl (key s3cret, at most 20 members)")
        self.assertEqual(self.one(ev("mode", re=3, room="#dev", modes={"topic_locked": False}, text="")), "Modes of #dev: none")

    def test_bans_one_line_each(self) -> None:
        lines = self.r.event(ev("bans", re=2, room="#dev", bans=[
            {"user": "carol", "account": False, "by": "bob", "at": NOW, "until": None},
            {"user": "dave", "account": True, "by": "bob", "at": NOW, "until": None},
        ], mutes=[{"user": "eve", "account": True, "by": "bob", "at": NOW, "until": None}]), "alice")
        self.assertEqual(lines, [
            f"{self.t} *** #dev: 2 bans, 1 mute",
            f"{self.t} ***   carol (a guest: by name and address) banned by bob, {self.t[1:-1]} for good",
            f"{self.t} ***   dave banned by bob, {self.t[1:-1]} for good",
            f"{self.t} ***   eve muted by bob, {self.t[1:-1]} for good",
        ])

    def test_nick_of_someone_else_and_of_oneself(self) -> None:
        self.assertEqual(self.one(ev("nick", old="carol", new="caroline", rooms=["#dev"])), "carol is now known as caroline")
        self.assertEqual(self.one(ev("nick", old="alice", new="alicia", rooms=["#dev"])), "You are now known as alicia")

    def test_whois_online_and_offline(self) -> None:
        self.assertEqual(
            self.one(ev("whois", re=1, user="bob", online=True, registered=False, away="lunch", rooms=["#dev", "#lobby"],
                        idle=125.0, since=NOW, sessions=2, text="...")),
            f"bob: a guest, in #dev, #lobby, idle 2m, online since {self.t[1:-1]}, 2 sessions; away: lunch",
        )
        self.assertEqual(
            self.one(ev("whois", re=1, user="bob", online=True, registered=True, away=None, rooms=[], idle=None, since=NOW,
                        sessions=1, text="...")),
            f"bob: registered, in no room, online since {self.t[1:-1]}",
        )
        self.assertEqual(self.one(ev("whois", re=1, user="dave", online=False, registered=True, seen=NOW, text="...")),
                         f"dave is registered and not online; last seen {self.t[1:-1]}")

    def test_users_of_a_room_mark_ops_and_voiced(self) -> None:
        self.assertEqual(self.one(ev("users", room="#dev", users=["alice", "bob", "carol"], ops=["bob"], voiced=["carol"])),
                         "In #dev: alice, @bob, +carol")

    def test_a_message_from_an_op_is_marked_when_the_caller_knows(self) -> None:
        message = ev("message", msgid="m", to="#dev", text="hi", kind="public", **{"from": "bob"})
        marks = lambda room, user: "@" if (room, user) == ("#dev", "bob") else ""  # noqa: E731
        self.assertEqual(self.r.event(message, "alice", marks), [f"{self.t} [#dev] <@~bob> hi"])
        self.assertEqual(self.r.event({**message, "registered": True}, "alice", marks), [f"{self.t} [#dev] <@bob> hi"])
        self.assertEqual(self.r.event({**message, "kind": "action"}, "alice", marks), [f"{self.t} [#dev] * @~bob hi"])
        self.assertEqual(self.r.event(message, "alice", lambda room, user: ""), [f"{self.t} [#dev] <~bob> hi"])
        # Private messages carry no room mark, whatever the caller says.
        private = {**message, "to": "alice", "kind": "private"}
        self.assertEqual(self.r.event(private, "alice", lambda room, user: "@"), [f"{self.t} [private] <~bob> hi"])

    def test_the_op_mark_has_a_look_of_its_own(self) -> None:
        colour = Renderer(color=True, now=lambda: NOW)
        line = colour.event(ev("message", msgid="m", to="#dev", text="hi", kind="public", **{"from": "bob"}), "alice",
                            lambda room, user: "@")[0]
        found = re.search(r"((?:\x1b\[[0-9;]*m)+)@\x1b\[0m", line)
        self.assertIsNotNone(found, repr(line))
        self.assertEqual(SGR.sub("", line), f"{self.t} [#dev] <@~bob> hi")

    def test_malformed_moderation_events_get_a_generic_line(self) -> None:
        for event in (ev("kick", room="#dev"), ev("mode", room="#dev", by="bob", set=5), ev("bans", room="#dev"),
                      ev("nick", old="bob"), ev("op", user="bob")):
            lines = self.r.event(event, "alice")
            self.assertEqual(len(lines), 1, event)
            self.assertIn(str(event["event"]), lines[0])

    def test_every_field_is_cleaned_of_control_characters(self) -> None:
        n = NASTY
        events = [
            ev("topic", room="#dev", topic=n, by=n), ev("topic", re=1, room="#dev", topic=n, by=n, at=NOW),
            ev("op", room="#dev" + n, user=n, by=n), ev("kick", room="#dev", user=n, by=n, reason=n),
            ev("kick", room="#dev" + n, user="alice", by=n, reason=n),
            ev("ban", room="#dev", user=n, by=n, until=None), ev("unban", room="#dev", user=n, by=n),
            ev("mute", room="#dev", user=n, by=n, until=None), ev("unmute", room="#dev", user=n, by=n),
            ev("invite", room="#dev" + n, user="alice", by=n),
            ev("mode", room="#dev", by=n, set={n: n, "limit": n}, modes={"key": n}),
            ev("mode", re=1, room="#dev", modes={"key": n}),
            ev("bans", room=n, bans=[{"user": n, "by": n, "at": NOW, "until": None}], mutes=[]),
            ev("nick", old=n, new=n, rooms=[n]), ev("whois", user=n, online=True, rooms=[n], away=n, since=NOW, sessions=1),
            ev("users", room="#dev", users=[n], ops=[n]),
        ]
        for color in (False, True):
            r = Renderer(color=color, now=lambda: NOW)
            for event in events:
                lines = r.event(event, "alice")
                self.assertTrue(lines, event)
                for line in lines:
                    rest = SGR.sub("", line) if color else line
                    for bad in ("\r", "\n", "\x07", "\x9b", "\x1b", "owned"):
                        self.assertNotIn(bad, rest, event)
            for line in r.kicked(ev("kick", room="#dev" + n, user="alice", by=n, reason=n), "; plain lines now go to #x" + n):
                self.assertNotIn("owned", SGR.sub("", line))
            for line in r.joined(ev("ok", re=1, room="#dev", users=[n], ops=[n], topic=n)):
                self.assertNotIn("owned", SGR.sub("", line))


class RosterTests(TestCase):
    def test_join_ok_then_events(self) -> None:
        roster = Roster()
        roster.logged_in({"users": ["alice", "bob", "carol", "dave"]}, ["#lobby"])
        roster.joined({"room": "#dev", "users": ["alice", "Bob", "carol"], "ops": ["bob"], "topic": "t"})
        self.assertEqual((roster.mark("#DEV", "BOB"), roster.mark("#dev", "carol")), ("@", ""))
        roster.ranked("#dev", "carol", "voice", True)
        self.assertEqual(roster.mark("#dev", "carol"), "+")
        roster.renamed("carol", "caroline")
        self.assertEqual(roster.mark("#dev", "caroline"), "+")
        self.assertEqual(roster.mark("#dev", "carol"), "")
        roster.parted("#dev", "bob")
        self.assertEqual(roster.mark("#dev", "bob"), "")
        roster.entered("#dev", "bob")  # back in: no op until the server says so
        self.assertEqual(roster.mark("#dev", "bob"), "")
        roster.parted("#dev", "bob")
        roster.entered("#dev", "bob", True)  # a join that says an op came back in
        self.assertEqual(roster.mark("#dev", "bob"), "@")
        self.assertEqual(roster.topic("#dev"), "t")

    def test_completion_order_the_room_by_who_spoke_last_then_everyone_online_then_me(self) -> None:
        roster = Roster()
        roster.logged_in({"users": ["alice", "bob", "carol", "dave", "erin"]}, ["#lobby"])
        roster.joined({"room": "#dev", "users": ["alice", "carol", "erin"], "ops": []})
        self.assertEqual(roster.completions("#dev", "alice"), ["carol", "erin", "bob", "dave", "alice"])
        roster.spoke("#dev", "erin")
        self.assertEqual(roster.completions("#dev", "alice"), ["erin", "carol", "bob", "dave", "alice"])
        roster.quit("dave")
        self.assertEqual(roster.completions("#dev", "alice"), ["erin", "carol", "bob", "alice"])


class ModerationClientTests(TestCase):
    """L{ChatClient} over a StringTransport: what it keeps and shows of the rooms' operators."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.transport = StringTransport()
        self.display = FakeDisplay()
        self.client = ChatClient(Renderer(color=False, now=self.clock.seconds), self.clock, "alice")
        self.client.makeConnection(self.transport)
        self.status: list[int] = []
        self.client.finished.addCallback(self.status.append)
        self.client.start(self.display)
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby", "#dev"], users=["alice", "bob", "carol"],
                     topics={"#dev": "release on friday"})
        self.display.lines.clear()

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.transport)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, NOW, **fields)

    def shown(self) -> list[str]:
        lines = [line[len(hhmm(NOW)) + 1:] for line in self.display.lines]
        self.display.lines.clear()
        return lines

    def join(self, room: str, users: list[str], ops: list[str], topic: str | None = None) -> None:
        self.client.send_typed(f"/join {room}")
        [join] = self.sent()
        self.receive("ok", re=join["id"], room=room, users=users, ops=ops, topic=topic, modes={"topic_locked": True},
                     text=f"you joined {room}; in it: {', '.join(users)}")

    def say_in(self, room: str, sender: str, text: str = "hi") -> str:
        self.receive("message", msgid="m", to=room, text=text, kind="public", **{"from": sender})
        return self.shown()[-1]

    # -- topics ----------------------------------------------------------------

    def test_the_topics_from_logged_in_then_the_join_then_the_events(self) -> None:
        self.assertEqual(self.client.current_room, "#dev")
        self.assertEqual(self.client.topic(), "release on friday")
        self.join("#ops", ["alice", "bob"], ["bob"], topic="on call: bob")
        self.assertEqual(self.shown(), ["*** you joined #ops; in it: alice, @bob", "*** Topic of #ops: on call: bob"])
        self.assertEqual(self.client.topic(), "on call: bob")
        changes = self.display.changes
        self.receive("topic", room="#ops", topic="on call: carol", by="bob")
        self.assertEqual(self.client.topic(), "on call: carol")
        self.assertGreater(self.display.changes, changes)  # the display is told: the topic row changes
        self.assertEqual(self.shown(), ["*** bob set the topic of #ops: on call: carol"])
        # Another room's topic changes that room's, not the current one's.
        self.receive("topic", room="#dev", topic="released", by="bob")
        self.assertEqual(self.client.topic(), "on call: carol")
        self.client.send_typed("/room #dev")
        self.assertEqual(self.client.topic(), "released")
        self.assertEqual(self.shown()[-1], "*** plain lines now go to #dev; topic: released")
        self.receive("topic", room="#dev", topic="", by="bob")
        self.assertIsNone(self.client.topic())

    def test_setting_the_topic_names_the_current_room_and_its_ok_sets_it_here(self) -> None:
        self.client.send_typed("/topic ship it")
        [request] = self.sent()
        self.assertEqual((request["action"], request["room"], request["topic"]), ("topic", "#dev", "ship it"))
        self.receive("ok", re=request["id"], room="#dev", topic="ship it", text="topic of #dev set")
        self.assertEqual(self.client.topic(), "ship it")
        self.assertEqual(self.shown(), ["*** topic of #dev set"])
        # Reading it: the answer is a topic event with re.
        self.client.send_typed("/topic")
        [read] = self.sent()
        self.assertEqual((read["action"], read["room"], "topic" in read), ("topic", "#dev", False))
        self.receive("topic", re=read["id"], room="#dev", topic="shipped", by="bob", at=NOW, text="topic of #dev: shipped")
        self.assertEqual(self.client.topic(), "shipped")
        self.assertNotIn(read["id"], self.client._pending)

    # -- op marks --------------------------------------------------------------

    def test_ops_are_marked_from_the_join_ok_and_after_op_and_deop(self) -> None:
        self.join("#ops", ["alice", "bob", "carol"], ["bob"])
        self.shown()
        self.assertEqual(self.say_in("#ops", "bob"), "[#ops] <@~bob> hi")
        self.assertEqual(self.say_in("#ops", "carol"), "[#ops] <~carol> hi")
        self.receive("op", room="#ops", user="carol", by="bob")
        self.assertEqual(self.shown(), ["*** bob made carol an operator of #ops"])
        self.assertEqual(self.say_in("#ops", "carol"), "[#ops] <@~carol> hi")
        self.receive("deop", room="#ops", user="bob", by="carol")
        self.assertEqual(self.say_in("#ops", "bob"), "[#ops] <~bob> hi")
        # Only in that room: bob is no op of #dev.
        self.assertEqual(self.say_in("#dev", "carol"), "[#dev] <~carol> hi")
        # One's own op (the ok of one's /op: the others get the op event).
        self.client.send_typed("/op #ops alice")
        [request] = self.sent()
        self.receive("ok", re=request["id"], room="#ops", user="alice", text="alice is an operator of #ops now")
        self.client.send_typed("/room #ops")
        self.client.send_typed("mine")
        [msg] = self.sent()
        self.receive("ok", re=msg["id"], msgid="m2")
        self.assertEqual(self.shown()[-1], "[#ops] <@~alice> mine")

    def test_users_of_a_room_is_kept_and_shown_marked(self) -> None:
        self.client.send_typed("/users #dev")
        [request] = self.sent()
        self.receive("users", re=request["id"], room="#dev", users=["alice", "bob", "carol"], ops=["carol"], voiced=["bob"])
        self.assertEqual(self.shown(), ["*** In #dev: alice, +bob, @carol"])
        self.assertEqual(self.say_in("#dev", "carol"), "[#dev] <@~carol> hi")
        self.assertEqual(self.say_in("#dev", "bob"), "[#dev] <+~bob> hi")
        self.assertNotIn(request["id"], self.client._pending)

    def test_a_nick_carries_the_op_mark_to_the_new_name(self) -> None:
        self.join("#ops", ["alice", "bob"], ["bob"])
        self.receive("nick", old="bob", new="robert", rooms=["#ops"])
        self.assertEqual(self.shown()[-1], "*** bob is now known as robert")
        self.assertEqual(self.say_in("#ops", "robert"), "[#ops] <@~robert> hi")
        self.assertIn("robert", self.client.names())
        self.assertNotIn("bob", self.client.names())

    # -- kicks ---------------------------------------------------------------

    def test_someone_else_kicked_is_out_of_the_room(self) -> None:
        self.join("#ops", ["alice", "bob", "carol"], ["alice", "carol"])
        self.receive("kick", room="#ops", user="carol", by="bob", reason="spam")
        self.assertEqual(self.shown()[-1], "*** carol was put out of #ops by bob (spam)")
        self.assertEqual(self.client.roster.mark("#ops", "carol"), "")
        self.assertNotIn("carol", self.client.roster.get("#ops").members.values())  # type: ignore[union-attr]
        self.assertEqual(self.client.rooms, ["#lobby", "#dev", "#ops"])

    def test_someone_banned_by_this_user_is_out_of_the_room(self) -> None:
        self.join("#ops", ["alice", "bob", "carol"], ["alice"])
        self.client.send_typed("/room #dev")
        self.client.send_typed("/ban #ops carol 1h")
        [ban] = self.sent()
        self.assertEqual((ban["room"], ban["user"], ban["duration"]), ("#ops", "carol", 3600))
        self.receive("ok", re=ban["id"], room="#ops", user="carol", until=NOW + 3600, text="carol is banned from #ops for now")
        self.assertEqual(self.shown()[-1], "*** carol is banned from #ops for now")
        self.assertNotIn("carol", self.client.roster.get("#ops").members.values())  # type: ignore[union-attr]

    def test_the_topic_of_the_current_room_at_login(self) -> None:
        lines = Renderer(now=lambda: NOW).event(ev("logged_in", user="alice", rooms=["#lobby", "#dev"], users=["alice"],
                                                     topics={"#dev": "release", "#lobby": "welcome"}))
        self.assertEqual(lines[2], f"{hhmm(NOW)} *** Topic of #dev: release")
        self.assertEqual(len(lines), 3)

    def test_kicked_out_of_the_current_room(self) -> None:
        self.join("#ops", ["alice", "bob"], ["bob"], topic="ops only")
        self.shown()
        changes = self.display.changes
        self.receive("kick", room="#ops", user="alice", by="bob", reason="not now")
        self.assertEqual(self.shown(), [
            "*** You were put out of #ops by bob (not now) (/join #ops to go back in); plain lines now go to #dev"
        ])
        self.assertEqual(self.client.rooms, ["#lobby", "#dev"])
        self.assertEqual(self.client.current_room, "#dev")
        self.assertGreater(self.display.changes, changes)
        self.assertIsNone(self.client.roster.get("#ops"))
        self.assertEqual(self.client.topic(), "release on friday")
        # The session goes on: plain lines go to #dev, and nothing ended.
        self.client.send_typed("still here")
        [msg] = self.sent()
        self.assertEqual((msg["action"], msg["to"]), ("msg", "#dev"))
        self.assertEqual(self.status, [])
        self.assertFalse(self.client._kicked)
        # A /room to it is refused: the client knows it is out.
        self.client.send_typed("/room #ops")
        self.assertIn("you are not in #ops", self.shown()[-1])

    def test_kicked_out_of_another_room_and_then_of_the_last_one(self) -> None:
        self.receive("kick", room="#lobby", user="alice", by="bob", reason="banned")
        self.assertEqual(self.shown(), ["*** You were put out of #lobby by bob (banned)"])
        self.assertEqual((self.client.rooms, self.client.current_room), (["#dev"], "#dev"))
        self.receive("kick", room="#dev", user="alice", by="bob", reason=None)
        self.assertEqual(self.shown(), [
            "*** You were put out of #dev by bob (/join #dev to go back in); you are in no room now (/join #room)"
        ])
        self.assertEqual((self.client.rooms, self.client.current_room), ([], None))
        self.assertEqual(self.client.prompt(), "alice> ")
        self.client.send_typed("anyone?")
        self.assertEqual(self.sent(), [])
        self.assertIn("you are in no room", self.shown()[-1])
        self.assertEqual(self.status, [])

    def test_kick_names_the_current_room_unless_an_admin_kicks_from_the_server(self) -> None:
        self.client.send_typed("/kick carol spam")
        [kick] = self.sent()
        self.assertEqual((kick["action"], kick["room"], kick["user"], kick["reason"]), ("kick", "#dev", "carol", "spam"))
        self.receive("ok", re=kick["id"], room="#dev", user="carol", text="carol is out of #dev")
        self.assertEqual(self.shown(), ["*** carol is out of #dev"])
        self.client.send_typed("/admin hunter22")
        [admin] = self.sent()
        self.receive("ok", re=admin["id"], text="you are an admin now: /kill, /shutdown, /debug")
        self.client.send_typed("/kick carol")
        [kill] = self.sent()
        self.assertNotIn("room", kill)  # the server-wide disconnect, as the server reads it
        self.client.send_typed("/kick #lobby carol")
        [room_kick] = self.sent()
        self.assertEqual(room_kick["room"], "#lobby")

    def test_the_room_commands_name_the_current_room(self) -> None:
        for typed, action in (("/op bob", "op"), ("/deop bob", "deop"), ("/voice bob", "voice"), ("/devoice bob", "devoice"),
                              ("/ban bob 10m", "ban"), ("/unban bob", "unban"), ("/bans", "bans"), ("/mute bob", "mute"),
                              ("/unmute bob", "unmute"), ("/invite bob", "invite"), ("/mode +m", "mode"), ("/mode", "mode")):
            self.client.send_typed(typed)
            [request] = self.sent()
            self.assertEqual((request["action"], request["room"]), (action, "#dev"), typed)
        self.client.send_typed("/op #lobby bob")
        self.assertEqual(self.sent()[0]["room"], "#lobby")

    # -- names -----------------------------------------------------------------

    def test_ones_own_rename_from_the_ok_and_from_another_session(self) -> None:
        self.client.send_typed("/nick alicia")
        [nick] = self.sent()
        self.assertEqual((nick["action"], nick["user"]), ("nick", "alicia"))
        changes = self.display.changes
        self.receive("ok", re=nick["id"], user="alicia", old="alice", text="you are alicia now")
        self.assertEqual(self.client.name, "alicia")
        self.assertGreater(self.display.changes, changes)
        self.assertEqual(self.shown(), ["*** you are alicia now"])
        # Own lines go out under the new name.
        self.client.send_typed("hello")
        [msg] = self.sent()
        self.receive("ok", re=msg["id"], msgid="m")
        self.assertEqual(self.shown(), ["[#dev] <~alicia> hello"])
        # Renamed from another device: the nick event.
        self.receive("nick", old="alicia", new="ally", rooms=["#dev"])
        self.assertEqual(self.client.name, "ally")
        self.assertEqual(self.shown(), ["*** You are now known as ally"])
        self.assertEqual(self.client.names()[-1], "ally")

    def test_away_answers(self) -> None:
        self.client.send_typed("/away lunch")
        [away] = self.sent()
        self.receive("ok", re=away["id"], away="lunch", text="you are away: lunch")
        self.assertEqual(self.shown(), ["*** you are away: lunch"])
        self.client.send_typed("/msg bob are you there?")
        [msg] = self.sent()
        self.receive("ok", re=msg["id"], msgid="m", away="gone fishing", text="sent to bob; they are away: gone fishing")
        self.assertEqual(self.shown(), ["-> bob: are you there?", "*** bob is away: gone fishing"])

    def test_an_invitation_and_a_whois_answer(self) -> None:
        self.receive("invite", room="#secret", user="alice", by="bob")
        self.assertEqual(self.shown(), ["*** bob invites you to #secret: /join #secret to go in"])
        self.client.send_typed("/whois bob")
        [whois] = self.sent()
        self.receive("whois", re=whois["id"], user="bob", online=True, registered=False, away=None, rooms=["#dev"],
                     idle=5.0, since=NOW, sessions=1, text="bob: guest, in #dev")
        self.assertEqual(self.shown(), [f"*** bob: a guest, in #dev, idle 5s, online since {hhmm(NOW)[1:-1]}"])
        self.assertEqual(self.client._pending, {})
