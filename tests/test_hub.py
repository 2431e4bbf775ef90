"""The chat rules, held without a reactor or a socket: a Clock and recording sessions."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tchat.chat import Hub
from tchat.commands import BadRequest
from tests.helpers import RecordingSession, logged_in, make_hub, request


class LoginTests(TestCase):
    def test_login_answers_logged_in_with_rooms_and_online_list(self) -> None:
        hub, _ = make_hub()
        logged_in(hub, "bob")
        alice = RecordingSession()
        hub.connect(alice)
        self.assertEqual(alice.names(), ["welcome"])
        hub.handle(alice, request("login", id=7, user="Alice"))
        event = alice.last()
        self.assertEqual(event.name, "logged_in")
        self.assertEqual(event["re"], 7)
        self.assertEqual(event["user"], "Alice")
        self.assertEqual(event["rooms"], ["#lobby"])
        self.assertEqual(event["users"], ["Alice", "bob"])

    def test_login_is_announced_to_the_lobby(self) -> None:
        hub, _ = make_hub()
        bob = logged_in(hub, "bob")
        logged_in(hub, "alice")
        join = bob.last()
        self.assertEqual((join.name, join["room"], join["user"]), ("join", "#lobby", "alice"))

    def test_names_are_unique_case_insensitively_but_shown_as_chosen(self) -> None:
        hub, _ = make_hub()
        logged_in(hub, "Alice")
        other = RecordingSession()
        hub.connect(other)
        hub.handle(other, request("login", user="aLICE"))
        self.assertEqual(other.last()["code"], "name_taken")
        hub.handle(other, request("users"))
        self.assertEqual(other.last()["code"], "not_logged_in")

    def test_trailing_newline_or_spaces_do_not_make_a_new_name(self) -> None:
        hub, _ = make_hub()
        logged_in(hub, "bob")
        other = RecordingSession()
        hub.connect(other)
        hub.handle(other, request("login", user="bob \n"))
        self.assertEqual(other.last()["code"], "name_taken")

    def test_bad_names_are_refused_with_the_reason(self) -> None:
        hub, _ = make_hub()
        session = RecordingSession()
        hub.connect(session)
        for bad in ["", "a b", "#room", "-dash", "1234", "x" * 33, "evil\x1b[2J", "tab\tname", "a/b"]:
            hub.handle(session, request("login", user=bad))
            self.assertEqual(session.last()["code"], "bad_name", bad)
        hub.handle(session, request("login", user="Zoë_2.0-ok"))
        self.assertEqual(session.last().name, "logged_in")

    def test_a_second_login_on_one_connection_is_refused(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("login", user="other"))
        self.assertEqual(alice.last()["code"], "already_logged_in")

    def test_only_login_help_ping_and_quit_before_login(self) -> None:
        hub, _ = make_hub()
        session = RecordingSession()
        hub.connect(session)
        for action, args in [("msg", {"to": "#lobby", "text": "hi"}), ("join", {"room": "#a"}), ("users", {}),
                             ("rooms", {}), ("whoami", {}), ("part", {"room": "#lobby"}), ("debug", {}),
                             ("kill", {"user": "x"}), ("shutdown", {})]:
            hub.handle(session, request(action, id=action, **args))
            self.assertEqual((session.last()["code"], session.last()["re"]), ("not_logged_in", action))
        hub.handle(session, request("help"))
        self.assertEqual(session.last().name, "help")
        hub.handle(session, request("ping", token="t"))
        self.assertEqual((session.last().name, session.last()["token"]), ("pong", "t"))
        hub.handle(session, request("quit"))
        self.assertEqual(session.closed, "you left the chat")

    def test_a_full_server_says_server_full_then_closes(self) -> None:
        hub, _ = make_hub(max_users=1)
        logged_in(hub, "first")
        second = RecordingSession()
        hub.connect(second)
        hub.handle(second, request("login", user="second"))
        self.assertEqual(second.last()["code"], "server_full")
        self.assertEqual(second.closed, "server full")
        self.assertIsNone(hub.state.connection(second))

    def test_text_mode_first_line_is_the_name_and_can_be_tried_again(self) -> None:
        hub, _ = make_hub()
        logged_in(hub, "bob")
        session = RecordingSession()
        hub.connect(session)
        hub.handle(session, request("line", text="bob"))
        self.assertEqual(session.last()["code"], "name_taken")
        hub.handle(session, request("line", text="carol"))
        self.assertEqual(session.last()["user"], "carol")


class MessageTests(TestCase):
    def setUp(self) -> None:
        self.hub, _ = make_hub()
        self.alice = logged_in(self.hub, "alice")
        self.bob = logged_in(self.hub, "bob")
        self.carol = logged_in(self.hub, "carol")
        for s in (self.alice, self.bob, self.carol):
            s.clear()

    def test_room_message_reaches_everyone_else_once_and_not_the_sender(self) -> None:
        self.hub.handle(self.alice, request("msg", id=1, to="#lobby", text="hello"))
        self.assertEqual(self.alice.names(), ["ok"])
        self.assertEqual(self.alice.last()["re"], 1)
        msgid = self.alice.last()["msgid"]
        for other in (self.bob, self.carol):
            self.assertEqual(other.names(), ["message"])
            m = other.last()
            self.assertEqual(
                (m["msgid"], m["from"], m["to"], m["text"], m["kind"]), (msgid, "alice", "#lobby", "hello", "public")
            )

    def test_one_event_object_is_shared_by_every_recipient(self) -> None:
        self.hub.handle(self.alice, request("msg", to="#lobby", text="hello"))
        self.assertIs(self.bob.last(), self.carol.last())

    def test_plain_line_goes_to_the_current_room(self) -> None:
        self.hub.handle(self.alice, request("join", room="#dev"))
        self.hub.handle(self.bob, request("join", room="#dev"))
        self.carol.clear()
        self.hub.handle(self.alice, request("line", text="in dev"))
        self.assertEqual(self.bob.last()["to"], "#dev")
        self.assertEqual(self.carol.names(), [])
        self.hub.handle(self.alice, request("room", room="#lobby"))
        self.hub.handle(self.alice, request("msg", text="in lobby"))
        self.assertEqual(self.carol.last()["to"], "#lobby")

    def test_private_message_reaches_only_its_recipient(self) -> None:
        self.hub.handle(self.alice, request("msg", id="p", to="BOB", text="psst"))
        m = self.bob.last()
        self.assertEqual((m["from"], m["to"], m["text"], m["kind"]), ("alice", "bob", "psst", "private"))
        self.assertEqual(self.carol.names(), [])
        ok = self.alice.last()
        self.assertEqual((ok.name, ok["re"], ok["msgid"]), ("ok", "p", m["msgid"]))

    def test_message_ids_are_unique(self) -> None:
        for i in range(3):
            self.hub.handle(self.alice, request("msg", to="#lobby", text=str(i)))
        ids = [e["msgid"] for e in self.bob.of("message")]
        self.assertEqual(len(set(ids)), 3)

    def test_private_message_to_nobody_is_no_such_user(self) -> None:
        self.hub.handle(self.alice, request("msg", to="dave", text="hi"))
        self.assertEqual(self.alice.last()["code"], "no_such_user")
        self.assertIn("dave", self.alice.last()["text"])

    def test_action_message(self) -> None:
        self.hub.handle(self.alice, request("msg", text="waves", kind="action"))
        m = self.bob.last()
        self.assertEqual((m["kind"], m["to"], m["text"]), ("action", "#lobby", "waves"))

    def test_unknown_kind_is_a_bad_request(self) -> None:
        with self.assertRaises(BadRequest) as refused:
            request("msg", to="#lobby", text="x", kind="shout", id=4)
        self.assertEqual((refused.exception.code, refused.exception.id), ("bad_request", 4))
        self.assertIn('kind must be "action"', refused.exception.text)

    def test_control_characters_and_escapes_never_reach_others(self) -> None:
        self.hub.handle(self.alice, request("msg", to="#lobby", text="a\x1b[2J\x1b]0;pwned\x07b\r\nc\x00d\x7fe\x9b2Jf\tg"))
        self.assertEqual(self.bob.last()["text"], "ab cdef\tg")

    def test_empty_message_is_refused(self) -> None:
        for text in ["", "   ", "\x1b[31m", "\r\n"]:
            self.hub.handle(self.alice, request("msg", to="#lobby", text=text))
            self.assertEqual(self.alice.last()["code"], "empty_message")
        self.assertEqual(self.bob.names(), [])

    def test_message_to_a_room_one_is_not_in(self) -> None:
        self.hub.handle(self.bob, request("join", room="#dev"))
        self.hub.handle(self.alice, request("msg", to="#dev", text="hi"))
        self.assertEqual(self.alice.last()["code"], "not_in_room")
        self.hub.handle(self.alice, request("msg", to="#nowhere", text="hi"))
        self.assertEqual(self.alice.last()["code"], "no_such_room")


class RoomTests(TestCase):
    def setUp(self) -> None:
        self.hub, _ = make_hub()
        self.alice = logged_in(self.hub, "alice")
        self.bob = logged_in(self.hub, "bob")
        self.alice.clear()

    def test_join_makes_the_room_tells_members_and_answers_with_members(self) -> None:
        self.hub.handle(self.alice, request("join", id=1, room="#Dev"))
        ok = self.alice.last()
        self.assertEqual((ok.name, ok["re"], ok["room"], ok["users"]), ("ok", 1, "#Dev", ["alice"]))
        self.hub.handle(self.bob, request("join", room="#dev"))
        self.assertEqual(self.bob.last()["users"], ["alice", "bob"])
        self.assertEqual(self.bob.last()["room"], "#Dev")
        join = self.alice.last()
        self.assertEqual((join.name, join["room"], join["user"]), ("join", "#Dev", "bob"))

    def test_several_rooms_at_once(self) -> None:
        self.hub.handle(self.alice, request("join", room="#a"))
        self.hub.handle(self.alice, request("join", room="#b"))
        self.hub.handle(self.alice, request("whoami", id="w"))
        who = self.alice.last()
        self.assertEqual((who["rooms"], who["current"], who["admin"]), (["#lobby", "#a", "#b"], "#b", False))

    def test_part_tells_members_and_moves_the_current_room(self) -> None:
        self.hub.handle(self.alice, request("join", room="#a"))
        self.hub.handle(self.bob, request("join", room="#a"))
        self.hub.handle(self.alice, request("part", reason="lunch"))
        self.assertEqual(self.alice.last()["room"], "#a")
        part = self.bob.last()
        self.assertEqual((part.name, part["room"], part["user"], part["reason"]), ("part", "#a", "alice", "lunch"))
        self.hub.handle(self.alice, request("whoami"))
        self.assertEqual(self.alice.last()["current"], "#lobby")

    def test_empty_room_disappears_but_lobby_stays(self) -> None:
        self.hub.handle(self.alice, request("join", room="#tmp"))
        self.hub.handle(self.alice, request("part", room="#tmp"))
        self.hub.handle(self.alice, request("part", room="#lobby"))
        self.hub.handle(self.bob, request("part", room="#lobby"))
        self.hub.handle(self.bob, request("rooms"))
        self.assertEqual(self.bob.last()["rooms"], [{"room": "#lobby", "members": 0, "created": 1_000_000}])
        self.hub.handle(self.alice, request("msg", text="anyone?"))
        self.assertEqual(self.alice.last()["code"], "not_in_room")

    def test_part_of_a_room_one_is_not_in(self) -> None:
        self.hub.handle(self.alice, request("part", room="#lobby"))
        self.hub.handle(self.alice, request("part", room="#lobby"))
        self.assertEqual(self.alice.last()["code"], "not_in_room")

    def test_bad_room_names(self) -> None:
        for bad in ["lobby", "#", "#a b", "#" + "x" * 49, "#bad\x07"]:
            self.hub.handle(self.alice, request("join", room=bad))
            self.assertEqual(self.alice.last()["code"], "bad_name", bad)

    def test_joining_again_only_makes_it_current(self) -> None:
        self.hub.handle(self.alice, request("join", room="#a"))
        self.bob.clear()
        self.hub.handle(self.alice, request("join", room="#lobby"))
        self.assertEqual(self.bob.names(), [])
        self.hub.handle(self.alice, request("whoami"))
        self.assertEqual(self.alice.last()["current"], "#lobby")

    def test_room_limit_per_user(self) -> None:
        hub, _ = make_hub(max_rooms_per_user=2)
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("join", room="#a"))
        hub.handle(alice, request("join", room="#b"))
        self.assertEqual(alice.last()["code"], "too_many_rooms")

    def test_users_and_rooms(self) -> None:
        self.hub.handle(self.bob, request("join", room="#dev"))
        self.hub.handle(self.alice, request("users", id=2))
        self.assertEqual((self.alice.last()["users"], self.alice.last()["re"]), (["alice", "bob"], 2))
        self.assertNotIn("room", self.alice.last().fields)
        self.hub.handle(self.alice, request("users", room="#DEV"))
        self.assertEqual((self.alice.last()["room"], self.alice.last()["users"]), ("#dev", ["bob"]))
        self.hub.handle(self.alice, request("users", room="#none"))
        self.assertEqual(self.alice.last()["code"], "no_such_room")
        self.hub.handle(self.alice, request("rooms"))
        self.assertEqual(
            self.alice.last()["rooms"], [{"room": "#dev", "members": 1, "created": 1_000_000}, {"room": "#lobby", "members": 2, "created": 1_000_000}],
        )


class LeavingTests(TestCase):
    def test_quit_says_bye_and_tells_each_room_with_the_reason(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        bob = logged_in(hub, "bob")
        hub.handle(alice, request("join", room="#dev"))
        hub.handle(bob, request("join", room="#dev"))
        bob.clear()
        hub.handle(alice, request("quit", id=13, reason="see you"))
        self.assertEqual((alice.closed, alice.closed_re), ("you left the chat", 13))
        # One quit, naming the rooms they shared; no part per room.
        self.assertEqual([(e["user"], e["rooms"], e["reason"]) for e in bob.of("quit")], [("alice", ["#lobby", "#dev"], "quit: see you")])
        self.assertEqual(bob.of("part"), [])
        hub.handle(bob, request("users"))
        self.assertEqual(bob.last()["users"], ["bob"])

    def test_lost_connection_is_a_quit_with_connection_lost(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        bob = logged_in(hub, "bob")
        hub.disconnect(alice)
        self.assertEqual((bob.last().name, bob.last()["rooms"], bob.last()["reason"]), ("quit", ["#lobby"], "connection lost"))
        self.assertIsNone(alice.closed)
        # The name is free again.
        logged_in(hub, "alice")

    def test_requests_after_disconnect_are_ignored(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.disconnect(alice)
        hub.handle(alice, request("users"))
        self.assertEqual(alice.events, [])


class AdminTests(TestCase):
    def test_without_a_password_configured_admin_commands_are_not_allowed(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        for action, args in [("admin", {"password": ""}), ("admin", {"password": "x"}), ("kill", {"user": "alice"}),
                             ("shutdown", {}), ("debug", {})]:
            hub.handle(alice, request(action, **args))
            self.assertEqual(alice.last()["code"], "not_allowed", action)
        self.assertFalse(hub.core.stopping)

    def test_wrong_password_then_right_one(self) -> None:
        hub, _ = make_hub(admin_password="s3cret")
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("admin", password="guess"))
        self.assertEqual(alice.last()["code"], "bad_password")
        hub.handle(alice, request("kill", user="alice"))
        self.assertEqual(alice.last()["code"], "not_allowed")
        # Not an admin: /kick NAME means the current room, where alice is no op.
        hub.handle(alice, request("kick", user="alice"))
        self.assertEqual(alice.last()["code"], "not_op")
        hub.handle(alice, request("admin", password="s3cret"))
        self.assertEqual(alice.last().name, "ok")
        hub.handle(alice, request("whoami"))
        self.assertTrue(alice.last()["admin"])

    def test_repeated_wrong_passwords_are_slowed_down(self) -> None:
        hub, clock = make_hub(admin_password="s3cret")
        alice = logged_in(hub, "alice", "10.0.0.1:1")
        for _ in range(3):
            hub.handle(alice, request("admin", password="guess"))
            self.assertEqual(alice.last()["code"], "bad_password")
        hub.handle(alice, request("admin", password="s3cret"))
        self.assertEqual(alice.last()["code"], "rate_limited")
        self.assertIn("try again in", alice.last()["text"])
        # Another connection from the same address is slowed down too ...
        again = logged_in(hub, "again", "10.0.0.1:2")
        hub.handle(again, request("admin", password="s3cret"))
        self.assertEqual(again.last()["code"], "rate_limited")
        # ... and someone elsewhere is not.
        other = logged_in(hub, "other", "10.0.0.2:1")
        hub.handle(other, request("admin", password="s3cret"))
        self.assertEqual(other.last().name, "ok")
        clock.advance(3)
        hub.handle(alice, request("admin", password="s3cret"))
        self.assertEqual(alice.last().name, "ok")

    def test_admin_guesses_from_many_addresses_get_one_try_each_once_under_attack(self) -> None:
        hub, _ = make_hub(admin_password="s3cret")
        checked = 0
        for n in range(60):
            bot = logged_in(hub, f"bot{n}", f"198.51.100.{n}:1")
            for _ in range(3):
                hub.handle(bot, request("admin", password="guess"))
                checked += bot.last()["code"] == "bad_password"
        # Three each until the password has had ten wrong guesses, then one each.
        self.assertEqual(checked, 3 * 3 + 57)
        admin = logged_in(hub, "admin", "192.0.2.1:1")
        hub.handle(admin, request("admin", password="s3cret"))
        self.assertEqual(admin.last().name, "ok")

    def _admin(self, hub: Hub, name: str = "root") -> RecordingSession:
        session = logged_in(hub, name)
        hub.handle(session, request("admin", password="pw"))
        session.clear()
        return session

    def test_kick_tells_the_user_closes_it_and_tells_the_room(self) -> None:
        hub, _ = make_hub(admin_password="pw")
        root = self._admin(hub)
        bob = logged_in(hub, "bob")
        carol = logged_in(hub, "carol")
        hub.handle(root, request("kick", id=1, user="BOB", reason="spam"))
        self.assertEqual(bob.last("notice")["text"], "You were kicked by root: spam")
        self.assertEqual(bob.closed, "kicked")
        quit = carol.last()
        self.assertEqual((quit.name, quit["user"], quit["reason"]), ("quit", "bob", "kicked by root: spam"))
        self.assertEqual((root.of("ok")[0]["re"]), 1)
        hub.handle(root, request("kick", user="bob"))
        self.assertEqual(root.last()["code"], "no_such_user")
        hub.handle(root, request("kick", user="root"))
        self.assertEqual((root.last()["code"], root.closed), ("bad_request", None))

    def test_shutdown_tells_everyone_then_stops_after_the_delay(self) -> None:
        stopped = []
        hub, clock = make_hub(admin_password="pw")
        hub.on_stop = lambda: stopped.append(True)
        root = self._admin(hub)
        bob = logged_in(hub, "bob")
        waiting = RecordingSession()
        hub.connect(waiting)
        hub.handle(root, request("shutdown", reason="maintenance", delay=30))
        for session in (root, bob, waiting):
            event = session.last()
            self.assertEqual((event.name, event["text"], event["delay"]), ("shutdown", "maintenance", 30))
        clock.advance(29)
        self.assertEqual(stopped, [])
        clock.advance(1)
        self.assertEqual(stopped, [True])
        hub.close_all()
        for session in (root, bob, waiting):
            self.assertEqual(session.of("shutdown").__len__(), 1)
            self.assertEqual(session.closed, "maintenance")
        self.assertEqual(bob.of("part") + bob.of("quit"), [])

    def test_shutdown_delay_is_checked(self) -> None:
        for delay in (-1, 3601):
            with self.assertRaises(BadRequest) as refused:
                request("shutdown", delay=delay)
            self.assertEqual(refused.exception.text, "delay is a number of seconds from 0 to 3600")
        self.assertEqual(request("shutdown", delay=3600).args["delay"], 3600)

    def test_close_all_without_shutdown_still_says_shutdown_then_bye(self) -> None:
        hub, _ = make_hub()
        bob = logged_in(hub, "bob")
        hub.close_all("stopping for the night")
        self.assertEqual(bob.names(), ["shutdown"])
        self.assertEqual(bob.closed, "stopping for the night")

    def test_nobody_new_gets_in_while_stopping(self) -> None:
        hub, _ = make_hub()
        hub.begin_shutdown("going", delay=60)
        late = RecordingSession()
        hub.connect(late)
        self.assertEqual(late.closed, "going")

    def test_debug_shows_connections_rooms_uptime_and_never_the_password(self) -> None:
        hub, clock = make_hub(admin_password="pw-very-secret")
        session = logged_in(hub, "root", "192.0.2.7:4000")
        hub.handle(session, request("admin", password="pw-very-secret"))
        bob = logged_in(hub, "bob", "192.0.2.8:4001")
        hub.handle(bob, request("join", room="#dev"))
        hub.connect(RecordingSession("192.0.2.9:4002"))
        clock.advance(5)
        hub.handle(session, request("debug", id="d"))
        debug = session.last()
        self.assertEqual(debug.name, "debug")
        self.assertEqual(debug["re"], "d")
        self.assertEqual(debug["users_online"], 2)
        self.assertEqual(debug["uptime"], 5)
        by_address = {c["address"]: c for c in debug["connections"]}
        self.assertEqual(set(by_address), {"192.0.2.7:4000", "192.0.2.8:4001", "192.0.2.9:4002"})
        self.assertEqual(by_address["192.0.2.8:4001"]["rooms"], ["#lobby", "#dev"])
        self.assertIsNone(by_address["192.0.2.9:4002"]["user"])
        self.assertEqual([r["room"] for r in debug["rooms"]], ["#dev", "#lobby"])
        self.assertNotIn("pw-very-secret", repr(debug.fields))


class AdminWithoutANameTests(TestCase):
    """The admin page: a connection that proves the admin password and never logs in to the chat."""

    def test_an_admin_connection_without_a_name_runs_admin_commands_only(self) -> None:
        hub, _ = make_hub(admin_password="pw")
        bob = logged_in(hub, "bob")
        page = RecordingSession("192.0.2.9:4000")
        hub.connect(page)
        hub.handle(page, request("kill", user="bob", id=1))
        self.assertEqual(page.last()["code"], "not_logged_in")
        hub.handle(page, request("admin", password="pw", id=2))
        self.assertEqual((page.last().name, page.last()["action"]), ("ok", "admin"))
        hub.handle(page, request("connections", id=3))
        listed = page.last("connections")
        self.assertEqual(sorted(str(c["user"]) for c in listed["connections"]), ["None", "bob"])
        self.assertEqual(listed["users_online"], 1)
        # Chat commands still need a name.
        hub.handle(page, request("msg", to="#lobby", text="hi", id=4))
        self.assertEqual(page.last()["code"], "not_logged_in")
        hub.handle(page, request("kill", user="bob", reason="spam", id=5))
        self.assertEqual(bob.last("notice")["text"], "You were kicked by an admin: spam")
        self.assertEqual(bob.closed, "kicked")
        # Not a user: nobody saw it come or go.
        self.assertEqual(hub.state.online(), [])

    def test_log_gives_the_last_lines_the_server_logged(self) -> None:
        from twisted.logger import Logger

        hub, _ = make_hub(admin_password="pw")
        root = logged_in(hub, "root")
        hub.handle(root, request("admin", password="pw"))
        for i in range(3):
            Logger(observer=hub.recent_log, namespace="tchat.test").info("line {i}", i=i)
        # The web door's access log is in the log file, not here.
        Logger(observer=hub.recent_log, namespace="twisted.python.log").info(
            '"127.0.0.1" - - [02/Dec/2026:07:59:41 +0000] "GET /view.js HTTP/1.1" 200 8236 "-" "Mozilla/5.0"'
        )
        hub.handle(root, request("log", lines=2))
        self.assertEqual([line["text"] for line in root.last("log")["lines"]], ["line 1", "line 2"])
        self.assertEqual(root.last("log")["lines"][0]["level"], "info")
        with self.assertRaises(BadRequest):
            request("log", lines=501)


class RobustnessTests(TestCase):
    def test_a_failing_handler_answers_internal_error_and_the_chat_goes_on(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")

        async def broken(member: object, req: object) -> None:
            raise RuntimeError("boom")

        hub.handlers["rooms"] = broken
        hub.handle(alice, request("rooms", id=9))
        self.assertEqual((alice.last()["code"], alice.last()["re"], alice.last()["action"]), ("internal_error", 9, "rooms"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        hub.handle(alice, request("ping"))
        self.assertEqual(alice.last().name, "pong")

    def test_help_lists_commands_and_explains_one_by_alias(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("help"))
        usages = [c["usage"] for c in alice.last()["commands"]]
        self.assertIn("/msg NAME TEXT", usages)
        self.assertIn("/quit [REASON]", usages)
        hub.handle(alice, request("help", command="/para"))
        self.assertEqual([c["command"] for c in alice.last()["commands"]], ["/msg"])
        hub.handle(alice, request("help", command="nonsense"))
        self.assertEqual(alice.last()["code"], "unknown_command")


class SlowStore:
    """Just enough of a store for a guest's messages, with writes the test completes."""

    def __init__(self) -> None:
        from twisted.internet.defer import Deferred, succeed
        from tchat.store.history import settle

        self.writes: list[tuple[dict, Deferred]] = []
        store = self

        class Accounts:
            def get(self, key: str):  # type: ignore[no-untyped-def]
                return succeed(None)

            def record_seen(self, key: str, ts: float):  # type: ignore[no-untyped-def]
                return succeed(None)

            def confusable(self, name: str):  # type: ignore[no-untyped-def]
                return succeed(None)

        class History:
            def add(self, fields: dict):  # type: ignore[no-untyped-def]
                d: Deferred = Deferred()
                store.writes.append((fields, d))
                return d

            def add_then(self, fields: dict, done):  # type: ignore[no-untyped-def]
                settle(self.add(fields), done)

        self.accounts = Accounts()
        self.history = History()


class StoredBeforeOkTests(TestCase):
    def setUp(self) -> None:
        self.store = SlowStore()
        self.hub, _ = make_hub(max_unstored=2)
        self.hub.store = self.store  # type: ignore[assignment]
        self.alice = logged_in(self.hub, "alice")
        self.bob = logged_in(self.hub, "bob")
        self.alice.clear()

    def test_messages_go_out_at_once_and_each_ok_waits_for_its_write(self) -> None:
        done = [self.hub.handle(self.alice, request("msg", id=i, to="#lobby", text=f"m{i}")) for i in range(2)]
        self.assertTrue(all(d.called for d in done), "the sender was held up by the store")
        self.assertEqual([e["text"] for e in self.bob.of("message")], ["m0", "m1"])
        self.assertEqual(self.alice.of("ok"), [])
        self.store.writes[0][1].callback(None)
        self.assertEqual([e["re"] for e in self.alice.of("ok")], [0])
        self.store.writes[1][1].callback(None)
        self.assertEqual([e["re"] for e in self.alice.of("ok")], [0, 1])

    def test_past_the_limit_the_sender_waits(self) -> None:
        first = [self.hub.handle(self.alice, request("msg", id=i, to="#lobby", text=f"m{i}")) for i in range(2)]
        third = self.hub.handle(self.alice, request("msg", id=2, to="#lobby", text="m2"))
        self.assertTrue(all(d.called for d in first))
        self.assertFalse(third.called)
        for _, d in self.store.writes:
            d.callback(None)
        self.assertTrue(third.called)
        self.assertEqual([e["re"] for e in self.alice.of("ok")], [0, 1, 2])

    def test_a_failed_write_is_an_error_for_its_sender_only(self) -> None:
        self.hub.handle(self.alice, request("msg", id="lost", to="#lobby", text="x"))
        self.hub.handle(self.alice, request("msg", id="kept", to="#lobby", text="y"))
        self.store.writes[0][1].errback(RuntimeError("disk full"))
        self.store.writes[1][1].callback(None)
        error = self.alice.of("error")[0]
        self.assertEqual((error["code"], error["re"]), ("internal_error", "lost"))
        self.assertEqual([e["re"] for e in self.alice.of("ok")], ["kept"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.bob.of("error"), [])

    def test_the_oks_of_messages_come_before_the_bye_of_a_quit(self) -> None:
        self.hub.handle(self.alice, request("msg", id="last words", to="#lobby", text="bye all"))
        self.hub.handle(self.alice, request("quit"))
        self.assertIsNone(self.alice.closed)
        self.store.writes[0][1].callback(None)
        self.assertEqual(self.alice.last("ok")["re"], "last words")
        self.assertEqual(self.alice.closed, "you left the chat")


class LoggingTests(TestCase):
    def test_connects_logins_kicks_quits_and_debug_are_logged(self) -> None:
        from twisted.logger import formatEvent, globalLogPublisher

        lines: list[str] = []

        def observe(event: dict) -> None:
            if str(event.get("log_namespace", "")).startswith("tchat.chat"):
                lines.append(formatEvent(event))

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        hub, _ = make_hub(admin_password="pw")
        root = logged_in(hub, "root", "192.0.2.1:1")
        hub.handle(root, request("admin", password="pw"))
        bob = logged_in(hub, "bob", "192.0.2.2:2")
        hub.handle(root, request("kick", user="bob", reason="spam"))
        hub.handle(root, request("debug"))
        hub.handle(root, request("quit"))
        text = "\n".join(lines)
        self.assertIn("connect from 192.0.2.2:2", text)
        self.assertIn("bob logged in from 192.0.2.2:2", text)
        self.assertIn("root kicked bob (kicked by root: spam)", text)
        self.assertIn("debug by root", text)
        self.assertIn("root from 192.0.2.1:1 left: quit", text)
        self.assertEqual(bob.closed, "kicked")


class ConfusableNameTests(TestCase):
    """A new name or room that looks like one in use is refused; the same name is not 'like' itself."""

    def login(self, hub: Hub, name: str) -> RecordingSession:
        session = RecordingSession()
        hub.connect(session)
        hub.handle(session, request("login", user=name))
        return session

    def test_a_guest_name_that_looks_like_someone_online_is_refused_until_they_leave(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "Alice")
        for spoof in ["\u0430lice", "A1ice", "\u0430lic\u0435"]:
            impostor = self.login(hub, spoof)
            error = impostor.last()
            self.assertEqual((error.name, error["code"]), ("error", "confusable_name"), spoof)
            self.assertIn(f"{spoof} looks like Alice, who is online", error["text"])
            self.assertIsNone(hub.user_of(impostor))
        hub.handle(alice, request("users"))
        self.assertEqual(alice.last()["users"], ["Alice"])
        # The same name in another case is that name (taken), not a look-alike.
        self.assertEqual(self.login(hub, "ALICE").last()["code"], "name_taken")
        hub.handle(alice, request("quit"))
        self.assertEqual(self.login(hub, "\u0430lice").last().name, "logged_in")

    def test_a_name_unlike_everyone_online_logs_in(self) -> None:
        hub, _ = make_hub()
        logged_in(hub, "alice")
        for name in ["alicia", "bob", "al"]:
            self.assertEqual(self.login(hub, name).last().name, "logged_in", name)

    def test_a_new_room_that_looks_like_an_existing_one_is_refused(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("join", room="#1obby"))
        error = alice.last()
        self.assertEqual(error["code"], "confusable_name")
        self.assertIn("#1obby looks like #lobby, a room that exists", error["text"])
        hub.handle(alice, request("join", room="#Dev"))
        self.assertEqual(alice.last().name, "ok")
        bob = logged_in(hub, "bob")
        hub.handle(bob, request("join", room="#D\u0435v"))
        self.assertEqual(bob.last()["code"], "confusable_name")
        hub.handle(bob, request("rooms"))
        self.assertEqual(sorted(r["room"] for r in bob.last()["rooms"]), ["#Dev", "#lobby"])
        # The room itself, in any case, is joined as ever.
        hub.handle(bob, request("join", room="#dev"))
        self.assertEqual((bob.last().name, bob.last()["room"]), ("ok", "#Dev"))
        # Once it is gone, the name that looked like it is free.
        hub.handle(alice, request("part", room="#Dev"))
        hub.handle(bob, request("part", room="#Dev"))
        hub.handle(bob, request("join", room="#D\u0435v"))
        self.assertEqual((bob.last().name, bob.last()["room"]), ("ok", "#D\u0435v"))
