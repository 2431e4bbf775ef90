"""
tchat-client coming back after a lost connection: the waits between tries
(L{Backoff}) and the tries themselves (L{Redial}) on a task.Clock, and
L{ChatClient} driven through StringTransports, one per connection, as it
logs in again, rejoins its rooms and says what it could not send.

The terminal side (the typed line kept on screen) is in
tests/test_client_ui.py; the real tchat-client against a real twistd that
is stopped and started again is in tests/test_client_comeback.py.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost, ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.client.connection import ChatClient
from tchat.client.piped import PipedInput
from tchat.client.reconnect import Backoff, Redial, failure_text, goes_away, kicked_notice
from tchat.client.render import Renderer
from tests.helpers import feed_event, take_json

NOW = 1_700_000_000.0


def middle() -> float:
    """A 'random' number that gives each wait exactly its nominal length."""
    return 0.5


class BackoffTests(TestCase):
    def test_the_waits_double_up_to_thirty_seconds(self) -> None:
        backoff = Backoff(random=middle)
        self.assertEqual([backoff.next() for _ in range(8)], [1, 2, 4, 8, 16, 30, 30, 30])

    def test_each_wait_is_a_fifth_more_or_less_at_random_never_past_the_cap(self) -> None:
        low, high = Backoff(random=lambda: 0.0), Backoff(random=lambda: 0.999999)
        self.assertEqual([low.next() for _ in range(7)], [0.8, 1.6, 3.2, 6.4, 12.8, 24.0, 24.0])
        highs = [high.next() for _ in range(7)]
        self.assertAlmostEqual(highs[2], 4.8, places=3)
        self.assertEqual(highs[-2:], [30.0, 30.0])

    def test_no_wait_is_shorter_than_half_a_second(self) -> None:
        self.assertEqual(Backoff(first=0.1, random=lambda: 0.0).next(), 0.5)

    def test_reset_starts_again_from_the_first_wait(self) -> None:
        backoff = Backoff(random=middle)
        for _ in range(5):
            backoff.next()
        backoff.reset()
        self.assertEqual(backoff.next(), 1)

    def test_days_of_retrying_do_not_overflow(self) -> None:
        backoff = Backoff(random=middle)
        backoff.tries = 10**6
        self.assertEqual(backoff.next(), 30)


class ByeTests(TestCase):
    def test_a_kick_or_a_ban_means_do_not_come_back(self) -> None:
        for text in ("kicked", "Kicked by alice: spam", "banned from this server", "killed"):
            self.assertTrue(goes_away({"event": "bye", "text": text}), text)
        self.assertTrue(goes_away({"event": "bye", "text": "bye", "code": "banned"}))

    def test_every_other_bye_comes_back(self) -> None:
        for text in ("server stopping", "too slow: your connection did not read its messages",
                     "ping timeout: no answer to the server's ping", "server full", "too many connections",
                     "login timeout: log in within 60 seconds of connecting",
                     "the name alice is taken by its account", "", "unkicked"):
            self.assertFalse(goes_away({"event": "bye", "text": text}), text)
        self.assertFalse(goes_away({"event": "bye"}))

    def test_the_servers_kick_notice(self) -> None:
        self.assertTrue(kicked_notice("You were kicked by admin: enough"))
        self.assertTrue(kicked_notice("you have been banned"))
        self.assertFalse(kicked_notice("The name alice is a registered account, and its owner has just logged in"))

    def test_a_failed_try_in_a_few_words(self) -> None:
        self.assertEqual(failure_text(Failure(ConnectionRefusedError(111, "Connection refused"))), "connection refused")


class Dialer:
    """Stands in for connectProtocol: each call is one try, which the test answers."""

    def __init__(self) -> None:
        self.tries: list[Deferred[Any]] = []
        self.cancelled: list[Deferred[Any]] = []

    def __call__(self) -> Deferred[Any]:
        d: Deferred[Any] = Deferred(self.cancelled.append)
        self.tries.append(d)
        return d


class RedialTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.dialer = Dialer()
        self.said: list[tuple[str, bool]] = []
        self.redial = Redial(self.clock, self.dialer, lambda text, update: self.said.append((text, update)),
                             Backoff(random=middle))

    def test_a_countdown_once_a_second_then_a_try(self) -> None:
        self.redial.lost("connection lost")
        self.assertEqual(self.said, [("connection lost; reconnecting in 1 s…", False)])
        self.clock.advance(1)
        self.assertEqual(len(self.dialer.tries), 1)
        self.assertEqual(self.said[-1], ("connection lost; reconnecting…", False))
        self.assertTrue(self.redial.waiting)

    def test_a_refused_try_waits_twice_as_long_and_says_why(self) -> None:
        self.redial.lost("connection lost")
        self.clock.advance(1)
        self.dialer.tries[0].errback(ConnectionRefusedError(111, "Connection refused"))
        self.assertEqual(self.said[-1], ("connection lost; reconnecting in 2 s… (last try: connection refused)", False))
        self.clock.advance(1)
        self.assertEqual(self.said[-1], ("connection lost; reconnecting in 1 s… (last try: connection refused)", True))
        self.assertEqual(len(self.dialer.tries), 1)
        self.clock.advance(1)
        self.assertEqual(len(self.dialer.tries), 2)
        self.dialer.tries[1].errback(ConnectionRefusedError(111, "Connection refused"))
        counts = []
        for _ in range(4):
            counts.append(self.said[-1][0].split(" in ")[1].split(" s")[0])
            self.clock.advance(1)
        self.assertEqual(counts, ["4", "3", "2", "1"])
        self.assertEqual(len(self.dialer.tries), 3)

    def test_a_wait_with_a_fraction_counts_down_in_whole_seconds(self) -> None:
        redial = Redial(self.clock, self.dialer, lambda text, update: self.said.append((text, update)),
                        Backoff(first=4, random=lambda: 0.25))  # 4 s * 0.9 = 3.6 s
        redial.lost("connection lost")
        self.assertIn("in 4 s", self.said[-1][0])
        self.clock.advance(0.61)
        self.assertIn("in 3 s", self.said[-1][0])
        self.clock.advance(2)
        self.assertIn("in 1 s", self.said[-1][0])
        self.assertEqual(self.dialer.tries, [])
        self.clock.advance(1)
        self.assertEqual(len(self.dialer.tries), 1)

    def test_now_cuts_the_wait_short(self) -> None:
        self.redial.lost("connection lost")
        self.assertTrue(self.redial.now())
        self.assertEqual(len(self.dialer.tries), 1)
        self.assertFalse(self.redial.now())  # a try is being made already
        self.clock.advance(60)
        self.assertEqual(len(self.dialer.tries), 1)

    def test_a_login_resets_the_waits(self) -> None:
        self.redial.lost("connection lost")
        self.clock.advance(1)
        self.dialer.tries[0].errback(ConnectionRefusedError(111, "Connection refused"))
        self.clock.advance(2)
        self.dialer.tries[1].callback(None)
        self.redial.logged_in()
        self.redial.lost("connection lost")
        self.assertEqual(self.said[-1], ("connection lost; reconnecting in 1 s…", False))

    def test_stop_cancels_the_wait_and_the_try(self) -> None:
        self.redial.lost("connection lost")
        self.redial.stop()
        self.clock.advance(60)
        self.assertEqual(self.dialer.tries, [])
        redial = Redial(self.clock, self.dialer, lambda text, update: None, Backoff(random=middle))
        redial.lost("connection lost")
        self.clock.advance(1)
        redial.stop()
        self.assertEqual(self.dialer.cancelled, self.dialer.tries)
        self.clock.advance(60)
        self.assertEqual(len(self.dialer.tries), 1)
        self.assertFalse(redial.waiting)


class Screen:
    """A Display that records what it is shown, asked and told about the connection."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.statuses: list[str | None] = []
        self.names_asked: list[tuple[str | None, str | None]] = []
        self.passwords_asked: list[tuple[str, str, str]] = []

    def show(self, lines: list[str]) -> None:
        self.lines.extend(lines)

    def ask_name(self, problem: str | None, code: str | None) -> None:
        self.names_asked.append((problem, code))

    def ask_password(self, name: str, problem: str, code: str) -> None:
        self.passwords_asked.append((name, problem, code))

    def changed(self) -> None:
        pass

    def status(self, text: str | None, update: bool) -> None:
        if not update:
            self.statuses.append(text)

    def text(self) -> str:
        return "\n".join(self.lines)


class ComingBackTests(TestCase):
    """A ChatClient with reconnect_with: one StringTransport per connection."""

    def make(self, name: str = "alice", password: str | None = None, stops_retrying: Any = None,
             explain_loss: Any = None) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.screen = Screen()
        self.dialer = Dialer()
        self.client = ChatClient(Renderer(now=self.clock.seconds), self.clock, name, password,
                                 explain_loss=explain_loss, stops_retrying=stops_retrying)
        self.client.reconnect_with(self.dialer, Backoff(random=middle))
        self.status: list[int] = []
        self.client.finished.addCallback(self.status.append)
        self.net = self.connect()
        self.client.start(self.screen)

    def setUp(self) -> None:
        self.make()

    def connect(self) -> StringTransport:
        self.net = StringTransport()
        self.client.makeConnection(self.net)
        return self.net

    def sent(self) -> list[dict[str, Any]]:
        return take_json(self.net)

    def receive(self, event: str, **fields: Any) -> None:
        feed_event(self.client, event, self.clock.seconds(), **fields)

    def log_in(self, rooms: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        [login] = self.sent()
        self.assertEqual(login["action"], "login")
        self.receive("logged_in", re=login["id"], user="alice", rooms=rooms or ["#lobby"], users=["alice", "bob"], **fields)
        return login

    def lose(self, reason: Exception | None = None) -> None:
        self.client.connectionLost(Failure(reason or ConnectionLost("Connection lost")))

    def come_back(self) -> StringTransport:
        """Let the wait run out and the try succeed: the new connection."""
        tries = len(self.dialer.tries)
        self.clock.advance(30)
        self.assertEqual(len(self.dialer.tries), tries + 1)
        net = self.connect()
        self.dialer.tries[-1].callback(self.client)
        return net

    def join(self, room: str) -> None:
        self.client.send_typed(f"/join {room}")
        [join] = self.sent()
        self.receive("ok", re=join["id"], room=room, users=["alice"], text=f"you joined {room}")

    # -- coming back -----------------------------------------------------------

    def test_a_lost_connection_is_made_again_with_the_same_name_and_rooms(self) -> None:
        self.log_in()
        self.join("#dev")
        self.join("#ops")
        self.client.send_typed("/room #dev")
        self.lose()
        self.assertEqual(self.status, [])  # not over
        self.assertTrue(self.client.reconnecting)
        self.assertIn("connection to the server lost", self.screen.lines[-1])
        self.assertEqual(self.screen.statuses, ["connection lost; reconnecting in 1 s…"])
        self.assertEqual(self.client.prompt(), "#dev> ")  # still where plain lines will go

        self.come_back()
        [login] = self.sent()
        self.assertEqual((login["action"], login["user"], "password" in login), ("login", "alice", False))
        # A guest is put in #lobby only; the client asks for the rest back.
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice", "bob"])
        self.assertIn("*** reconnected as alice. Online: alice, bob", self.screen.lines[-1])
        joins = self.sent()
        self.assertEqual([(j["action"], j["room"]) for j in joins], [("join", "#dev"), ("join", "#ops")])
        self.assertTrue(self.client.reconnecting)
        for j in joins:
            self.receive("ok", re=j["id"], room=j["room"], users=["alice"], text=f"you joined {j['room']}")
        self.assertFalse(self.client.reconnecting)
        self.assertEqual(self.client.rooms, ["#lobby", "#dev", "#ops"])
        self.assertEqual(self.client.current_room, "#dev")
        self.assertIn("*** back in #lobby, #dev, #ops; plain lines go to #dev", self.screen.lines[-1])
        self.assertNotIn("you joined", self.screen.text().split("reconnected")[-1])
        self.assertEqual(self.screen.statuses[-1], None)
        self.client.send_typed("hello again")
        [msg] = self.sent()
        self.assertEqual((msg["to"], msg["text"]), ("#dev", "hello again"))

    def test_a_room_left_before_the_loss_is_left_again(self) -> None:
        self.log_in(rooms=["#lobby", "#dev"])
        self.client.send_typed("/part #lobby")
        [part] = self.sent()
        self.receive("ok", re=part["id"], room="#lobby")
        self.lose()
        self.come_back()
        login = self.log_in(rooms=["#lobby"])
        self.assertEqual(login["user"], "alice")
        requests = self.sent()
        self.assertEqual(sorted((r["action"], r["room"]) for r in requests), [("join", "#dev"), ("part", "#lobby")])
        for r in requests:
            self.receive("ok", re=r["id"], room=r["room"])
        self.assertEqual(self.client.rooms, ["#dev"])
        self.assertEqual(self.client.current_room, "#dev")

    def test_a_room_that_refuses_the_rejoin_is_said_and_the_rest_goes_on(self) -> None:
        self.log_in()
        self.join("#dev")
        self.lose()
        self.come_back()
        self.log_in()
        [join] = self.sent()
        self.receive("error", re=join["id"], code="too_many_rooms", text="you are in as many rooms as one user may be (50)")
        self.assertIn("!!! could not rejoin #dev: you are in as many rooms", self.screen.text())
        self.assertEqual(self.client.rooms, ["#lobby"])
        self.assertEqual(self.client.current_room, "#lobby")
        self.assertFalse(self.client.reconnecting)

    def test_an_account_logs_in_again_with_the_password_that_worked(self) -> None:
        self.make(password="correct horse")
        [login] = self.sent()
        self.assertEqual(login["password"], "correct horse")
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby", "#dev"], users=["alice"],
                     registered=True)
        self.lose()
        self.come_back()
        [again] = self.sent()
        self.assertEqual((again["user"], again["password"]), ("alice", "correct horse"))
        self.receive("logged_in", re=again["id"], user="alice", rooms=["#lobby", "#dev"], users=["alice"],
                     registered=True, unread={"#dev": 3})
        self.assertIn("New since you were last here: 3 in #dev", self.screen.text())
        self.assertEqual(self.sent(), [])  # the server kept its rooms
        self.assertIn("back in #lobby, #dev; plain lines go to #dev", self.screen.lines[-1])
        self.assertNotIn("correct horse", self.screen.text())

    def test_a_name_registered_or_a_password_changed_during_the_session_is_the_one_used(self) -> None:
        self.log_in()
        self.client.send_typed("/register correct horse")
        [register] = self.sent()
        self.receive("ok", re=register["id"], text="alice is registered")
        self.lose()
        self.come_back()
        [login] = self.sent()
        self.assertEqual(login["password"], "correct horse")
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=True)
        self.client.send_typed("/passwd correct new-one-here")
        [passwd] = self.sent()
        self.receive("ok", re=passwd["id"], text="password changed")
        self.lose()
        self.come_back()
        self.assertEqual(self.sent()[0]["password"], "new-one-here")

    def test_a_name_taken_meanwhile_is_said_and_asked_as_at_the_start(self) -> None:
        self.log_in()
        self.lose()
        self.come_back()
        [login] = self.sent()
        self.receive("error", re=login["id"], code="name_taken", text="the name alice is taken; choose another name")
        self.assertEqual(self.screen.names_asked, [("the name alice is taken; choose another name", "name_taken")])
        self.assertIn("your old connection is gone", self.screen.lines[-1])
        self.assertEqual(self.screen.statuses[-1], None)  # the person's turn, no countdown
        self.client.login("alice2")
        [login] = self.sent()
        self.assertEqual(login["user"], "alice2")
        self.receive("logged_in", re=login["id"], user="alice2", rooms=["#lobby"], users=["alice2"])
        self.assertIn("back in #lobby", self.screen.lines[-1])

    def test_the_accounts_name_typed_again_at_the_prompt_goes_with_its_password(self) -> None:
        # Taken: by the old connection, which the server has not let go yet.
        self.make(password="correct horse")
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=True)
        self.lose()
        self.come_back()
        [login] = self.sent()
        self.receive("error", re=login["id"], code="name_taken", text="the name alice is taken; choose another name")
        self.client.login("Alice")
        [login] = self.sent()
        self.assertEqual((login["user"], login["password"]), ("Alice", "correct horse"))
        self.client.login("bob")
        self.assertNotIn("password", self.sent()[0])

    def test_a_password_that_no_longer_works_is_asked_for(self) -> None:
        self.make(password="correct horse")
        [login] = self.sent()
        self.receive("logged_in", re=login["id"], user="alice", rooms=["#lobby"], users=["alice"], registered=True)
        self.lose()
        self.come_back()
        [login] = self.sent()
        self.receive("error", re=login["id"], code="bad_password", text="wrong password for alice")
        self.assertEqual(self.screen.passwords_asked, [("alice", "wrong password for alice", "bad_password")])
        # Lost again while the person is at the prompt: the prompt stays theirs.
        self.lose()
        self.come_back()
        [ping] = self.sent()
        self.assertEqual(ping["action"], "ping")

    # -- what is said about what was typed -----------------------------------

    def test_a_message_with_no_answer_is_said_maybe_not_sent_and_not_sent_twice(self) -> None:
        self.log_in()
        self.client.send_typed("are you there?")
        [msg] = self.sent()
        self.lose()
        self.assertIn("may not have reached #lobby: are you there?", self.screen.text())
        self.come_back()
        self.log_in()
        self.assertEqual(self.sent(), [])

    def test_lines_waiting_behind_a_join_go_to_that_room_once_back(self) -> None:
        self.log_in()
        self.client.send_typed("/join #dev")
        self.client.send_typed("hi dev")
        [join] = self.sent()  # "hi dev" waits for the join's answer
        self.lose()
        self.come_back()
        self.log_in()
        [rejoin] = self.sent()
        self.assertEqual((rejoin["action"], rejoin["room"]), ("join", "#dev"))
        self.receive("ok", re=rejoin["id"], room="#dev", users=["alice"])
        [msg] = self.sent()
        self.assertEqual((msg["to"], msg["text"]), ("#dev", "hi dev"))

    # -- when it does not come back --------------------------------------------

    def test_a_kick_ends_it(self) -> None:
        self.log_in()
        self.receive("notice", text="You were kicked by admin: enough")
        self.receive("bye", text="kicked")
        self.lose(ConnectionDone())
        self.assertEqual(self.status, [1])
        self.assertEqual(self.dialer.tries, [])
        self.assertIn("the server closed the connection", self.screen.lines[-1])
        self.assertEqual(self.screen.statuses, [])

    def test_a_rooms_kick_does_not_end_it_and_the_room_is_not_rejoined(self) -> None:
        """
        A room's kick (a kick event, even of oneself, even "banned") puts the
        client out of that room only: a connection lost afterwards comes
        back, to the other rooms.
        """
        self.log_in()
        self.join("#dev")
        self.join("#ops")
        self.receive("kick", room="#ops", user="alice", by="bob", reason="banned")
        self.receive("kick", room="#dev", user="carol", by="bob", reason="kicked")
        self.assertEqual(self.client.rooms, ["#lobby", "#dev"])
        self.lose(ConnectionDone())
        self.assertEqual(self.status, [])
        self.assertEqual(self.screen.statuses, ["connection lost; reconnecting in 1 s…"])
        self.come_back()
        self.log_in()
        [rejoin] = self.sent()
        self.assertEqual((rejoin["action"], rejoin["room"]), ("join", "#dev"))
        self.receive("ok", re=rejoin["id"], room="#dev", users=["alice", "bob"], ops=["bob"], topic="back again")
        self.assertEqual(self.sent(), [])  # not #ops
        self.assertEqual((self.client.rooms, self.client.current_room), (["#lobby", "#dev"], "#dev"))
        # What the rejoin's ok says of the room is kept, as a join's.
        self.assertEqual((self.client.topic(), self.client.roster.mark("#dev", "bob")), ("back again", "@"))

    def test_answers_other_than_ok_are_not_in_doubt_after_a_lost_connection(self) -> None:
        self.log_in()
        for typed, event, fields in (("/whois bob", "whois", {"user": "bob", "online": False, "registered": True}),
                                     ("/users #lobby", "users", {"room": "#lobby", "users": ["alice"]}),
                                     ("/mode", "mode", {"room": "#lobby", "modes": {}}),
                                     ("/rooms", "rooms", {"rooms": []})):
            self.client.send_typed(typed)
            [request] = self.sent()
            self.receive(event, re=request["id"], **fields)
        self.lose()
        self.assertEqual([line for line in self.screen.lines if "no answer came" in line], [])

    def test_a_bye_that_says_banned_ends_it(self) -> None:
        self.log_in()
        self.receive("bye", text="banned: by the operator")
        self.lose(ConnectionDone())
        self.assertEqual(self.status, [1])

    def test_a_shutdown_comes_back_whatever_its_words(self) -> None:
        self.log_in()
        self.receive("shutdown", text="kicked everyone out for an upgrade", delay=0)
        self.receive("bye", text="kicked everyone out for an upgrade")
        self.lose(ConnectionDone())
        self.assertEqual(self.status, [])
        self.assertEqual(self.screen.statuses, ["the server went down; reconnecting in 1 s…"])

    def test_a_timeout_or_too_slow_comes_back(self) -> None:
        for bye in ("too slow: your connection did not read its messages", "ping timeout: no answer to the server's ping"):
            self.make()
            self.log_in()
            self.receive("bye", text=bye)
            self.lose(ConnectionDone())
            self.assertEqual(self.status, [], bye)
            self.assertEqual(self.screen.statuses, ["disconnected by the server; reconnecting in 1 s…"])

    def test_quit_ends_it_with_0(self) -> None:
        self.log_in()
        self.client.send_typed("/quit")
        self.receive("bye", text="you left the chat")
        self.lose(ConnectionDone())
        self.assertEqual(self.status, [0])
        self.clock.advance(60)
        self.assertEqual(self.dialer.tries, [])

    def test_leaving_while_waiting_ends_it_at_once_and_stops_trying(self) -> None:
        self.log_in()
        self.lose()
        self.client.quit()
        self.assertEqual(self.status, [0])
        self.clock.advance(60)
        self.assertEqual(self.dialer.tries, [])

    def test_leaving_while_a_try_is_made_cancels_it(self) -> None:
        self.log_in()
        self.lose()
        self.clock.advance(1)
        self.client.quit()
        self.assertEqual(self.dialer.cancelled, self.dialer.tries)
        self.assertEqual(self.status, [0])

    def test_a_loss_before_the_first_login_ends_it(self) -> None:
        # Nothing to come back to; a wrong address is best said at once.
        self.lose()
        self.assertEqual(self.status, [1])
        self.assertEqual(self.dialer.tries, [])

    def test_a_refused_certificate_while_coming_back_ends_it_in_one_sentence(self) -> None:
        sentence = "the server's certificate is for localhost, not 127.0.0.1: …"
        self.make(explain_loss=lambda reason: sentence, stops_retrying=lambda reason: reason.check(VerificationError) is not None)
        self.log_in()
        self.lose()
        self.come_back()
        self.client.connectionLost(Failure(VerificationError(errors=[])))
        self.assertEqual(self.status, [1])
        self.assertEqual(self.client.problem, sentence)
        self.assertNotIn(sentence, self.screen.text())  # for stderr, once the terminal is back

    def test_another_tls_failure_while_coming_back_is_shown_and_tried_again(self) -> None:
        sentence = "the server at 127.0.0.1:6697 closed the connection before TLS was set up: …"
        self.make(explain_loss=lambda reason: sentence, stops_retrying=lambda reason: False)
        self.log_in()
        self.lose()
        self.come_back()
        self.client.connectionLost(Failure(SSL.Error([("SSL routines", "", "unexpected eof while reading")])))
        self.assertEqual(self.status, [])
        self.assertIn(f"!!! {sentence}", self.screen.lines[-1])
        # The try before did not lead to a login: the wait grows.
        self.assertEqual(self.screen.statuses[-1], "TLS failed; reconnecting in 2 s…")
        self.assertIsNone(self.client.problem)

    def test_without_reconnect_with_a_loss_ends_it_as_before(self) -> None:
        client = ChatClient(Renderer(now=lambda: NOW), Clock(), "alice")
        status: list[int] = []
        client.finished.addCallback(status.append)
        net = StringTransport()
        client.makeConnection(net)
        client.start(self.screen)
        [login] = take_json(net)
        feed_event(client, "logged_in", NOW, re=login["id"], user="alice", rooms=["#lobby"], users=["alice"])
        client.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(status, [1])


class PipedComingBackTests(TestCase):
    """Piped, with --reconnect: stdin is not read while the connection is down."""

    def test_stdin_is_paused_while_down_and_read_again_once_back(self) -> None:
        clock = Clock()
        dialer = Dialer()
        client = ChatClient(Renderer(now=lambda: NOW), clock, "bot")
        client.reconnect_with(dialer, Backoff(random=middle))
        net = StringTransport()
        client.makeConnection(net)
        stdio = StringTransport()
        piped = PipedInput(client)
        piped.makeConnection(stdio)
        client.start(piped)
        [login] = take_json(net)
        feed_event(client, "logged_in", NOW, re=login["id"], user="bot", rooms=["#lobby"], users=["bot"])
        client.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(stdio.producerState, "paused")
        shown = stdio.value().decode()
        self.assertIn("*** connection lost; reconnecting in 1 s…", shown)
        clock.advance(0.5)
        clock.advance(0.5)  # the try: said once, the count not at all
        self.assertEqual(stdio.value().decode().count("reconnecting"), 2)
        net = StringTransport()
        client.makeConnection(net)
        [login] = take_json(net)
        feed_event(client, "logged_in", NOW, re=login["id"], user="bot", rooms=["#lobby"], users=["bot"])
        self.assertEqual(stdio.producerState, "producing")
        self.assertIn("back in #lobby", stdio.value().decode())
