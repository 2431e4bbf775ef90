"""
Text mode's current room, kept by the line door (tchat.door.textmode), not
by the chat rules: the door's sessions on a StringTransport in front of a
plain hub (no test hub that completes requests), a TextMode fed events by
hand, and one person on a real loopback socket.
"""

from __future__ import annotations

import json

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.commands import Request
from tchat.door.line import LineDoor
from tchat.door.session import DoorSession
from tchat.door.textmode import TextMode
from tchat.events import make_event
from tests.helpers import (
    RecordingSession,
    connect_line_client,
    generous_limits,
    start_line_server,
)
from tests.test_line_door import Wire


class TextModeOnTheDoorTests(TestCase):
    def setUp(self) -> None:
        clock = Clock()
        clock.advance(1_000_000)
        # A plain hub: whatever fills the current room in is the door's.
        self.hub = Hub(HubConfig(admin_password="pw"), clock)
        self.door = LineDoor(self.hub, generous_limits(), clock)
        self.ports = iter(range(41000, 42000))

    def wire(self) -> Wire:
        return Wire(self.door, next(self.ports))

    def person(self, name: str) -> Wire:
        wire = self.wire()
        wire.send(name.encode() + b"\n")
        lines = wire.take()
        self.assertIn("*** You are in #lobby. Plain lines go to #lobby; /help lists the commands.", lines)
        return wire

    def program(self, name: str, *rooms: str) -> Wire:
        wire = self.wire()
        wire.send(json.dumps({"action": "login", "user": name}).encode() + b"\n")
        for room in rooms:
            wire.send(json.dumps({"action": "join", "room": room}).encode() + b"\n")
        wire.take()
        return wire

    def said(self, wire: Wire) -> list[tuple[str, str]]:
        """(to, text) of the messages ``wire`` was sent since the last take."""
        return [(e["to"], e["text"]) for e in wire.take_json() if e.get("event") == "message"]

    def test_plain_lines_go_to_the_room_joined_last_and_after_a_part_to_the_one_before(self) -> None:
        bob = self.program("bob", "#a", "#b")
        alice = self.person("alice")
        alice.send(b"/join #a\n/join #b\n")
        alice.take()
        alice.send(b"to b\n")
        self.assertEqual(self.said(bob), [("#b", "to b")])
        alice.send(b"/part\n")
        self.assertEqual(alice.take(), ["*** you left #b; plain lines now go to #a"])
        alice.send(b"to a\n/me waves\n")
        self.assertEqual(self.said(bob), [("#a", "to a"), ("#a", "waves")])
        alice.send(b"/whoami\n")
        self.assertEqual(alice.take(), ["*** You are alice, in #lobby, #a; current room #a"])

    def test_a_line_after_a_join_sent_with_it_goes_to_the_room_joined(self) -> None:
        bob = self.program("bob", "#x")
        alice = self.person("alice")
        # Both lines in one read: the room is filled in when the line's turn comes, after the join.
        alice.send(b"/join #x\nfirst words\n")
        self.assertEqual(self.said(bob), [("#x", "first words")])

    def test_joining_a_room_again_makes_it_current_and_room_chooses_one(self) -> None:
        bob = self.program("bob", "#a")
        alice = self.person("alice")
        alice.send(b"/join #a\n/join #lobby\n")
        self.assertEqual(alice.take()[-1], "*** you are in #lobby; plain lines now go there")
        alice.send(b"in lobby\n/room #A\n")
        self.assertEqual(alice.take(), ["*** plain lines now go to #a"])
        alice.send(b"in a\n/room #nowhere\n")
        self.assertEqual(self.said(bob), [("#lobby", "in lobby"), ("#a", "in a")])
        self.assertEqual(alice.take(), ["!!! no such room: #nowhere (no_such_room)"])

    def test_when_put_out_of_the_current_room_plain_lines_go_to_the_room_joined_before(self) -> None:
        bob = self.program("bob", "#ops")  # its owner and op
        carol = self.program("carol")
        alice = self.person("alice")
        alice.send(b"/join #ops\n")
        alice.take()
        bob.send(json.dumps({"action": "kick", "room": "#ops", "user": "alice", "reason": "out"}).encode() + b"\n")
        self.assertEqual(alice.take(), ["*** alice was put out of #ops by bob (out)"])
        alice.send(b"still here\n")
        self.assertEqual(self.said(carol), [("#lobby", "still here")])
        # Put out of a room that is not the current one: plain lines stay where they were.
        alice.send(b"/join #ops\n/room #lobby\n")
        bob.send(json.dumps({"action": "kick", "room": "#ops", "user": "alice"}).encode() + b"\n")
        alice.send(b"again\n")
        self.assertEqual(self.said(carol), [("#lobby", "again")])

    def test_a_non_admins_kick_without_a_room_is_about_the_current_room_an_admins_is_the_kill(self) -> None:
        bob = self.program("bob", "#dev")
        alice = self.person("alice")
        alice.send(b"/join #dev\n/kick bob\n")
        self.assertEqual(alice.take()[-1], "!!! only the operators of #dev may do that (not_op)")
        alice.send(b"/admin pw\n/kick bob\n")
        self.assertTrue(bob.session.closing)

    def test_out_of_every_room_a_plain_line_is_refused_and_says_how_to_go_on(self) -> None:
        alice = self.person("alice")
        alice.send(b"/part\n")
        self.assertEqual(alice.take(), ["*** you left #lobby; you are in no room now"])
        alice.send(b"hello?\n/topic\n")
        self.assertEqual(alice.take(), ["!!! you are in no room; /join #room first (not_in_room)"] * 2)

    def test_json_mode_has_no_current_room_and_delivers_without_watching(self) -> None:
        bob = self.program("bob", "#dev")
        self.assertIsNone(bob.session.text_mode)
        # The fan-out's inner loop stays DoorSession's for programs.
        self.assertIs(bob.session.deliver.__func__, DoorSession.deliver)  # type: ignore[attr-defined]
        bob.send(b'{"action": "whoami"}\n{"action": "kick", "user": "alice"}\n')
        whoami, refused = bob.take_json()
        self.assertEqual(whoami["rooms"], ["#lobby", "#dev"])
        self.assertNotIn("current", whoami)
        self.assertEqual((refused["code"], refused["action"]), ("not_in_room", "kick"))


class TextModeTests(TestCase):
    """What L{TextMode} learns from the events one connection is sent."""

    def logged_in(self, *rooms: str) -> TextMode:
        text = TextMode()
        text.shown(make_event("logged_in", user="alice", rooms=list(rooms), users=["alice"]))
        return text

    def test_a_plain_line_is_the_name_before_login_and_a_message_to_the_current_room_after(self) -> None:
        text = TextMode()
        self.assertEqual(text.complete(Request("line", {"text": "alice"}, 1)), Request("login", {"user": "alice"}, 1))
        text.shown(make_event("logged_in", user="alice", rooms=["#lobby", "#dev"], users=["alice"]))
        self.assertEqual(text.complete(Request("line", {"text": "hi"}, 2)), Request("msg", {"text": "hi", "to": "#dev"}, 2))
        # What names its room (or needs none) goes on as it is.
        for request in (Request("msg", {"to": "bob", "text": "psst"}), Request("part", {"room": "#lobby"}), Request("users", {})):
            self.assertEqual(text.complete(request), request)

    def test_another_device_joining_makes_a_room_current_only_when_there_is_none(self) -> None:
        text = self.logged_in()
        self.assertIsNone(text.current)
        text.shown(make_event("join", room="#a", user="ALICE"))
        self.assertEqual((text.rooms, text.current), (["#a"], "#a"))
        text.shown(make_event("join", room="#b", user="alice"))
        self.assertEqual((text.rooms, text.current), (["#a", "#b"], "#a"))
        # Someone else's join and part change nothing.
        text.shown(make_event("join", room="#c", user="bob"))
        text.shown(make_event("part", room="#a", user="bob"))
        self.assertEqual((text.rooms, text.current), (["#a", "#b"], "#a"))

    def test_leaving_the_current_room_elsewhere_makes_the_room_joined_last_current(self) -> None:
        text = self.logged_in("#lobby", "#a", "#b")
        text.shown(make_event("ok", action="room", room="#a"))
        text.shown(make_event("part", room="#A", user="alice"))
        self.assertEqual((text.rooms, text.current), (["#lobby", "#b"], "#b"))
        text.shown(make_event("kick", room="#b", user="alice", by="bob"))
        text.shown(make_event("kick", room="#lobby", user="alice", by="bob"))
        self.assertEqual((text.rooms, text.current), ([], None))
        self.assertEqual(text.complete(Request("msg", {"text": "x"})), Request("msg", {"text": "x"}))

    def test_a_new_name_is_still_this_connection(self) -> None:
        text = self.logged_in("#lobby")
        text.shown(make_event("ok", action="nick", user="alicia", old="alice"))
        text.shown(make_event("join", room="#a", user="alicia"))
        self.assertEqual(text.rooms, ["#lobby", "#a"])

    def test_whoami_shows_the_current_room(self) -> None:
        text = self.logged_in("#lobby", "#a")
        shown = text.shown(make_event("whoami", user="alice", rooms=["#lobby", "#a"], admin=False, registered=False, sessions=[]))
        self.assertEqual(list(shown.fields)[:4], ["user", "rooms", "admin", "current"])
        self.assertEqual(shown["current"], "#a")


class HubTests(TestCase):
    def test_the_hub_refuses_a_plain_line_it_is_handed(self) -> None:
        hub = Hub(HubConfig(), Clock())
        session = RecordingSession()
        hub.connect(session)
        hub.handle(session, Request("line", {"text": "alice"}, 3))
        refused = session.last()
        self.assertEqual((refused.name, refused["code"], refused["re"]), ("error", "bad_request", 3))
        self.assertIsNone(hub.user_of(session))


class PersonOnASocketTests(TestCase):
    async def test_a_person_on_nc_joins_two_rooms_parts_one_and_talks_where_the_server_said(self) -> None:
        _, _, port = await start_line_server(self)
        bob = await connect_line_client(port)
        bob.send_json(action="login", user="bob")
        bob.send_json(action="join", room="#a")
        bob.send_json(action="join", room="#b")
        await bob.wait_event("ok", action="join", room="#b")
        alice = await connect_line_client(port)
        alice.send("alice")
        alice.send("/join #a")
        alice.send("/join #b")
        alice.send("/part #b")
        await alice.wait_for("*** you left #b; plain lines now go to #a")
        alice.send("where am I")
        message = await bob.wait_event("message", text="where am I")
        self.assertEqual(message["to"], "#a")


class AnswerWordsTests(TestCase):
    """The words of an answer are made from its typed fields, the same in JSON (``text``) and in text mode."""

    def setUp(self) -> None:
        clock = Clock()
        clock.advance(1_000_000)
        self.hub = Hub(HubConfig(), clock)
        self.door = LineDoor(self.hub, generous_limits(), clock)
        self.ports = iter(range(43000, 44000))

    def wire(self) -> Wire:
        return Wire(self.door, next(self.ports))

    def test_the_rules_answer_with_fields_and_both_modes_say_the_same_sentences(self) -> None:
        alice = self.wire()
        alice.send(b'{"action": "login", "user": "alice"}\n')
        carol = self.wire()
        carol.send(b"carol\n")
        bob = self.wire()
        bob.send(b"bob\n/join #dev\n")
        alice.take()
        asked = [
            ('{"action": "join", "room": "#dev"}', "you joined #dev; in it: alice, bob"),
            ('{"action": "join", "room": "#dev"}', "you are in #dev"),
            ('{"action": "invite", "room": "#dev", "user": "carol"}', "invited carol to #dev"),
            ('{"action": "nick", "user": "alice"}', "you are alice already"),
            ('{"action": "nick", "user": "alicia"}', "you are alicia now"),
            ('{"action": "part", "room": "#dev"}', "you left #dev"),
        ]
        for line, words in asked:
            alice.send(line.encode() + b"\n")
            ok = [e for e in alice.take_json() if e.get("event") in ("ok", "error")][-1]
            self.assertEqual((ok["event"], ok.get("text")), ("ok", words), line)
            self.assertEqual(list(ok)[-2:], ["text", "ts"])
        # bob made #dev, so bob may put carol out of it; text mode says it in the same words.
        carol.send(b"/join #dev\n")
        carol.take()
        bob.take()
        for line, words in [
            (b"/topic tests\n", "topic of #dev set"), (b"/mute carol 10m\n", "carol is muted in #dev for now"), (b"/unmute carol\n", "carol may speak in #dev again"),
            (b"/kick carol\n", "carol is out of #dev"), (b"/ban carol\n", "carol is banned from #dev"),
            (b"/unban carol\n", "carol may join #dev again"),
        ]:
            bob.send(line)
            self.assertEqual(bob.take()[-1], f"*** {words}", line)

    def test_a_text_the_rules_give_stands_instead_of_the_sentence(self) -> None:
        from tchat.sentences import ok_text

        self.assertEqual(ok_text(make_event("ok", action="kick", room="#a", user="bob", text="kicked bob")), "kicked bob")
        self.assertEqual(ok_text(make_event("ok", action="kick", room="#a", user="bob")), "bob is out of #a")
        self.assertIsNone(ok_text(make_event("ok", action="ping")))

    def test_the_admin_and_away_answers_keep_their_json_words(self) -> None:
        self.hub.config.admin_password = "pw"
        root = self.wire()
        root.send(b'{"action": "login", "user": "root"}\n')
        bob = self.wire()
        bob.send(b"bob\n")
        root.take()
        said = []
        for line in (
            '{"action": "admin", "password": "pw"}', '{"action": "away", "text": "lunch"}', '{"action": "away"}',
            '{"action": "kill", "user": "bob"}', '{"action": "shutdown", "delay": 30}',
        ):
            root.send(line.encode() + b"\n")
            said.append([e for e in root.take_json() if e.get("event") == "ok"][-1]["text"])
        self.assertEqual(said, [
            "you are an admin now: /kill, /shutdown, /debug", "you are away: lunch", "you are back", "kicked bob",
            "shutting down in 30 s",
        ])

    def test_the_account_answers_say_what_the_rules_said(self) -> None:
        from tchat.sentences import ok_text

        for action, fields, words in [
            ("register", {"user": "Alice"}, "Alice is registered; from now on log in with /login Alice PASSWORD"),
            ("passwd", {}, "your password is changed"),
            ("account_create", {"user": "dave"}, "account dave created"),
            ("account_delete", {"user": "dave"}, "account dave deleted"),
            ("account_reset", {"user": "dave"}, "new password set for dave"),
            ("contact_add", {"user": "bob"}, "bob is in your contacts"),
            ("contact_del", {"user": "bob"}, "bob is no longer in your contacts"),
        ]:
            self.assertEqual(ok_text(make_event("ok", action=action, **fields)), words)
        # An answer missing what its sentence needs says nothing, and does not break.
        self.assertIsNone(ok_text(make_event("ok", action="ban", room="#a")))

    def test_op_voice_mode_topic_whois_and_help_answers_say_the_same_words_in_both_modes(self) -> None:
        # alice (JSON) makes #dev, bob (text) makes #txt; carol is in both, and away.
        alice = self.wire()
        alice.send(b'{"action": "login", "user": "alice"}\n{"action": "join", "room": "#dev"}\n')
        bob = self.wire()
        bob.send(b"bob\n/join #txt\n")
        carol = self.wire()
        carol.send(b"carol\n/join #dev\n/join #txt\n/away lunch\n")
        alice.take(), bob.take()
        asked = [
            ("op", {"user": "carol"}, "/op carol", "carol is an operator of {room} now"),
            ("op", {"user": "carol"}, "/op carol", "carol is an operator in {room}"),
            ("deop", {"user": "carol"}, "/deop carol", "carol is no operator of {room} now"),
            ("deop", {"user": "carol"}, "/deop carol", "carol is not an operator in {room}"),
            ("voice", {"user": "carol"}, "/voice carol", "carol may speak in {room} now"),
            ("voice", {"user": "carol"}, "/voice carol", "carol is voiced in {room}"),
            ("devoice", {"user": "carol"}, "/devoice carol", "carol has no voice in {room} now"),
            ("devoice", {"user": "carol"}, "/devoice carol", "carol is not voiced in {room}"),
            ("topic", {}, "/topic", "{room} has no topic"),
            ("topic", {"topic": "ship it"}, "/topic ship it", "topic of {room} set"),
            ("topic", {}, "/topic", "topic of {room}: ship it"),
            ("mode", {}, "/mode", "modes of {room}: +nt"),
            ("mode", {"set": {"moderated": True, "limit": 9}}, "/mode +ml 9", "modes of {room}: +mntl"),
            ("whois", {"user": "carol"}, "/whois carol", "carol: guest, in #lobby, #dev, #txt; away: lunch"),
        ]
        for action, fields, command, words in asked:
            request = {"action": action, **fields}
            if action != "whois":
                request["room"] = "#dev"
            alice.send(json.dumps(request).encode() + b"\n")
            answer = [e for e in alice.take_json() if e.get("action") == action][-1]
            self.assertEqual(answer.get("text"), words.format(room="#dev"), request)
            self.assertEqual(list(answer)[-2:], ["text", "ts"], request)
            # What happened is in typed fields too: nothing changed, or the letters.
            ranks = ("op", "deop", "voice", "devoice")
            self.assertEqual(answer.get("already"), True if action in ranks and not words.endswith(" now") else None, request)
            if action == "mode":
                self.assertEqual(answer["letters"], words.rsplit(" ", 1)[1])
            bob.send(command.encode() + b"\n")
            shown = bob.take()
            # whois goes on with a line about sessions.
            self.assertEqual(shown[-2 if action == "whois" else -1], "*** " + words.format(room="#txt"), command)
        # The whole help ends with how plain lines go; the help of one command does not.
        plain = "A plain line goes to your current room; start it with // to send a line beginning with /."
        alice.send(b'{"action": "help"}\n{"action": "help", "command": "join"}\n')
        whole, one = alice.take_json()
        self.assertEqual((whole["text"], list(whole)[-2:]), (plain, ["text", "ts"]))
        self.assertEqual((one.get("text"), one["command"]), (None, "join"))
        bob.send(b"/help\n")
        self.assertEqual(bob.take()[-1], "*** " + plain)
        bob.send(b"/help join\n")
        self.assertEqual(bob.take(), [
            "*** /join #ROOM [KEY] (also /j): join a room (it is made if it does not exist, and you are its op)"
            " and make it current; KEY for a room with one",
        ])

    def test_the_welcome_and_whois_of_someone_offline_say_the_words_of_their_fields(self) -> None:
        from tchat import __version__

        welcome = f"Welcome to tchat {__version__}. Type a name to log in (or /help)."
        person = self.wire()
        self.assertEqual(person.take(), ["*** " + welcome])
        program = self.wire()
        program.send(b'{"action": "login", "user": "alice"}\n')
        greeting = program.take_json()[0]
        self.assertEqual((greeting["event"], greeting["text"], list(greeting)[-2:]), ("welcome", welcome, ["text", "ts"]))
        # Without a store nobody is offline and registered; the sentence is made from the fields alone.
        from tchat.codec import JSON, render_text
        from tchat.sentences import event_text

        offline = make_event("whois", re=1, action="whois", user="dave", online=False, registered=True, seen=5.0)
        self.assertEqual(render_text(offline), ["*** dave is registered and not online"])
        self.assertEqual(json.loads(JSON.encode(offline))["text"], "dave is registered and not online")
        # A warning the rules give stands instead of the sentence; an announcement is no answer and has none.
        warned = make_event("ok", action="op", room="#a", user="bob", text="done, but not kept across restarts: …")
        self.assertEqual(event_text(warned), "done, but not kept across restarts: …")
        for announced in (make_event("topic", room="#a", topic="t", by="bob"), make_event("mode", room="#a", by="bob", set={}, modes={})):
            self.assertIsNone(event_text(announced))
            self.assertNotIn("text", json.loads(JSON.encode(announced)))

    def test_a_private_messages_ok_says_to_whom_it_went_in_both_modes(self) -> None:
        alice = self.wire()
        alice.send(b'{"action": "login", "user": "alice"}\n')
        bob = self.wire()
        bob.send(b"bob\n")
        carol = self.wire()
        carol.send(b"carol\n/away lunch\n")
        alice.take(), bob.take()
        for line, words in [
            ('{"action": "msg", "to": "carol", "text": "hi"}', "sent to carol; they are away: lunch"),
            ('{"action": "msg", "to": "bob", "text": "hi"}', "sent to bob"),
            ('{"action": "msg", "to": "alice", "text": "me"}', None),
            ('{"action": "msg", "to": "#lobby", "text": "all"}', None),
        ]:
            alice.send(line.encode() + b"\n")
            ok = [e for e in alice.take_json() if e.get("event") == "ok"][-1]
            self.assertEqual(ok.get("text"), words, line)
        bob.take()
        bob.send(b"/msg carol hi\n")
        self.assertEqual(bob.take(), ["*** sent to carol; they are away: lunch"])
        bob.send(b"hello all\n")
        self.assertEqual(bob.take(), [])
        # A message that waits for an account offline (only with a store): the words come from its fields.
        from tchat.sentences import ok_text

        queued = make_event("ok", action="msg", msgid="m-1", to="Dave", queued=True)
        self.assertEqual(ok_text(queued), "Dave is offline; they will get it when they log in")
