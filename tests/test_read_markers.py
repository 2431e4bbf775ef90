"""Read markers (``markread``; IRC's draft/read-marker MARKREAD): in the chat rules, and through the IRC door."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tchat.chat.state import READ_MARKERS_MAX
from tchat.door.irc.markread import format_timestamp, parse_timestamp
from tests.helpers import RecordingSession, logged_in, make_hub, request
from tests.test_irc_door import IrcTestCase


class ReadMarkerTests(TestCase):
    def test_a_marker_is_kept_only_goes_forward_and_reaches_the_users_other_sessions(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("markread", id=1, target="#Dev"))
        answer = alice.last()
        self.assertEqual((answer.name, answer["re"], answer["target"], answer.get("at")), ("read_marker", 1, "#Dev", None))
        hub.handle(alice, request("markread", target="#dev", at=2000.5))
        self.assertEqual(alice.last()["at"], 2000.5)
        # Older: the newer one kept is the answer.
        hub.handle(alice, request("markread", target="#DEV", at=1000))
        self.assertEqual(alice.last()["at"], 2000.5)
        hub.handle(alice, request("markread", target="bob", at="3000"))
        self.assertEqual((alice.last()["target"], alice.last()["at"]), ("bob", 3000.0))
        hub.handle(alice, request("markread", target="#dev"))
        self.assertEqual(alice.last()["at"], 2000.5)

    def test_bad_targets_and_times_are_refused(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("markread", target="*!x@y"))
        self.assertEqual(alice.last()["code"], "bad_name")
        for bad in ("soon", "-1", "nan", "inf"):
            hub.handle(alice, request("markread", target="#dev", at=bad))
            self.assertEqual(alice.last()["code"], "bad_request", bad)

    def test_the_other_devices_of_an_account_are_told(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        # Two connections of one user, as an account's devices are (attached by the state).
        other = RecordingSession("127.0.0.1:5001")
        hub.connect(other)
        user = hub.state.user("alice")
        assert user is not None
        # A second device of the user's, attached as the login rules do for an account.
        second = hub.state.connection(other)
        assert second is not None
        hub.state.attach(user, second)
        hub.handle(alice, request("markread", target="#dev", at=50))
        self.assertEqual([(e["target"], e["at"]) for e in other.of("read_marker")], [("#dev", 50.0)])
        # Not moved: nobody else is told.
        hub.handle(alice, request("markread", target="#dev", at=10))
        self.assertEqual(len(other.of("read_marker")), 1)

    def test_a_user_keeps_at_most_so_many_the_oldest_set_going_first(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        for i in range(READ_MARKERS_MAX + 1):
            hub.handle(alice, request("markread", target=f"#r{i}", at=i + 1))
        hub.handle(alice, request("markread", target="#r0"))
        self.assertIsNone(alice.last().get("at"))
        hub.handle(alice, request("markread", target=f"#r{READ_MARKERS_MAX}"))
        self.assertEqual(alice.last()["at"], READ_MARKERS_MAX + 1)


class TimestampTests(TestCase):
    def test_timestamps_come_back_as_they_were_given(self) -> None:
        for text in ("2019-01-04T14:33:26.123Z", "2023-07-04T00:00:00.000Z", "2020-03-15T10:00:00.999Z"):
            ts = parse_timestamp(text)
            assert ts is not None
            self.assertEqual(format_timestamp(ts), text)
        self.assertEqual(format_timestamp(parse_timestamp("2019-01-04T14:33:26Z") or 0), "2019-01-04T14:33:26.000Z")
        for bad in ("not-a-timestamp", "*", "2019-13-01T00:00:00Z", "2019-01-04 14:33:26Z", "2019-01-04T14:33:26.123"):
            self.assertIsNone(parse_timestamp(bad), bad)


class MarkreadTests(IrcTestCase):
    def test_markread_asks_sets_and_only_goes_forward(self) -> None:
        alice = self.user("alice", "draft/read-marker", join=None)
        alice.send("MARKREAD #nosuch")
        self.assertEqual(alice.take(), [":tchat MARKREAD #nosuch *"])
        alice.send("MARKREAD #test timestamp=2019-06-01T12:00:00.000Z", "MARKREAD #test timestamp=2019-01-01T00:00:00.000Z")
        self.assertEqual(alice.take(), [":tchat MARKREAD #test timestamp=2019-06-01T12:00:00.000Z"] * 2)

    def test_a_join_gets_the_channels_marker_before_the_end_of_names(self) -> None:
        alice = self.user("alice", "draft/read-marker", join=None)
        alice.send("JOIN #test")
        commands = [line.split(" ")[1] for line in alice.take()]
        self.assertLess(commands.index("MARKREAD"), commands.index("366"))
        # Without the capability: no MARKREAD.
        bob = self.user("bob", join=None)
        bob.send("JOIN #test")
        self.assertNotIn("MARKREAD", [line.split(" ")[1] for line in bob.take()])

    def test_errors_are_standard_replies(self) -> None:
        alice = self.user("alice", "draft/read-marker", join=None)
        alice.send("MARKREAD", "MARKREAD #test *", "MARKREAD #test timestamp=nope", "MARKREAD *!a@b")
        self.assertEqual([line.split(" ")[1:4] for line in alice.take()], [
            ["FAIL", "MARKREAD", "NEED_MORE_PARAMS"], ["FAIL", "MARKREAD", "INVALID_PARAMS"],
            ["FAIL", "MARKREAD", "INVALID_PARAMS"], ["FAIL", "MARKREAD", "INVALID_PARAMS"],
        ])

    def test_a_marker_set_by_another_device_reaches_only_clients_with_the_capability(self) -> None:
        alice = self.user("alice", "draft/read-marker", join=None)
        user = self.hub.state.user("alice")
        assert user is not None
        json_device = RecordingSession("127.0.0.1:6000")
        self.hub.connect(json_device)
        device = self.hub.state.connection(json_device)
        assert device is not None
        self.hub.state.attach(user, device)
        self.hub.handle(json_device, request("markread", target="#test", at=1546612406.123))
        self.assertEqual(alice.take(), [":tchat MARKREAD #test timestamp=2019-01-04T14:33:26.123Z"])
