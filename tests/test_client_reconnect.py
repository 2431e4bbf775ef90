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

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.client.reconnect import Backoff, Redial, failure_text, goes_away, kicked_notice

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
