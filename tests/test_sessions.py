"""
One account on several devices: the hub over a real SQLite file, each
device a session of its own, and the login races that a second device
makes likelier.
"""

from __future__ import annotations

from twisted.internet import defer

from tchat.chat import HubConfig
from tests.helpers import RecordingSession, request
from tests.test_accounts import PASSWORD, AccountsTestCase


class SeveralDevicesTests(AccountsTestCase):
    async def two_devices(self) -> tuple[RecordingSession, RecordingSession]:
        laptop = await self.registered("alice")
        await self.ask(laptop, "join", room="#dev")
        phone = await self.login("alice", host="10.0.0.2")
        return laptop, phone

    async def test_a_second_login_with_the_password_is_another_session_in_the_same_rooms(self) -> None:
        bob = await self.guest("bob")
        await self.ask(bob, "join", room="#dev")
        laptop = await self.registered("alice")
        await self.ask(laptop, "join", room="#dev")
        bob.clear()
        laptop.clear()
        phone = await self.login("alice", host="10.0.0.2")
        logged = phone.last("logged_in")
        self.assertEqual((logged["user"], logged["rooms"], logged["sessions"]), ("alice", ["#lobby", "#dev"], 2))
        # Nobody else hears of it; the laptop is told, for safety.
        self.assertEqual(bob.events, [])
        self.assertEqual(laptop.last("notice")["sessions"], 2)
        self.assertIn("also logged in via test from 10.0.0.2", laptop.last("notice")["text"])
        # Listed once everywhere.
        self.assertEqual((await self.ask(bob, "users"))["users"], ["alice", "bob"])
        self.assertEqual((await self.ask(bob, "users", room="#dev"))["users"], ["alice", "bob"])
        rooms = (await self.ask(bob, "rooms"))["rooms"]
        self.assertEqual({r["room"]: r["members"] for r in rooms}, {"#lobby": 2, "#dev": 2})

    async def test_a_message_sent_from_outside_a_minus_n_room_reaches_the_senders_other_devices(self) -> None:
        laptop, phone = await self.two_devices()
        bob = await self.guest("bob")
        await self.ask(bob, "join", room="#open")
        self.assertEqual((await self.ask(bob, "mode", room="#open", set="-n")).name, "ok")
        for s in (laptop, phone, bob):
            s.clear()
        ok = await self.ask(phone, "msg", to="#open", text="from outside")
        self.assertEqual(ok.name, "ok")
        self.assertEqual(bob.last("message")["text"], "from outside")
        # alice is in no #open, yet her laptop sees what her phone sent there.
        self.assertIs(laptop.last("message"), bob.last("message"))
        self.assertEqual(phone.of("message"), [])

    async def test_every_session_gets_what_is_addressed_to_the_account_and_what_the_others_sent(self) -> None:
        laptop, phone = await self.two_devices()
        bob = await self.guest("bob")
        await self.ask(bob, "join", room="#dev")
        for s in (laptop, phone, bob):
            s.clear()
        # A room message from bob reaches both devices: the same event object.
        await self.ask(bob, "msg", to="#dev", text="hi alice")
        self.assertIs(laptop.last("message"), phone.last("message"))
        # What the phone sends reaches the room and the laptop, marked as alice's own.
        await self.ask(phone, "msg", to="#dev", text="from my phone")
        mine = laptop.last("message")
        self.assertEqual((mine["from"], mine["to"], mine["text"]), ("alice", "#dev", "from my phone"))
        self.assertIs(bob.last("message"), mine)
        self.assertEqual([e["text"] for e in phone.of("message")], ["hi alice"])  # never echoed to its sender
        # Private: to alice reaches both; from alice reaches bob and her other device.
        await self.ask(bob, "msg", to="alice", text="psst")
        self.assertEqual([s.last("message")["text"] for s in (laptop, phone)], ["psst", "psst"])
        await self.ask(laptop, "msg", to="bob", text="yes?")
        sent = phone.last("message")
        self.assertEqual((sent["from"], sent["to"], sent["text"]), ("alice", "bob", "yes?"))
        self.assertIs(bob.last("message"), sent)

    async def test_joining_on_one_device_joins_the_account(self) -> None:
        laptop, phone = await self.two_devices()
        bob = await self.guest("bob")
        await self.ask(bob, "join", room="#ops")
        phone.clear()
        await self.ask(laptop, "join", room="#ops")
        self.assertEqual((phone.last("join")["user"], phone.last("join")["room"]), ("alice", "#ops"))
        await self.ask(bob, "msg", to="#ops", text="welcome")
        self.assertEqual(phone.last("message")["text"], "welcome")
        # Parting on the phone parts the account; the laptop is told.
        laptop.clear()
        await self.ask(phone, "part", room="#ops")
        self.assertEqual((laptop.last("part")["user"], laptop.last("part")["room"]), ("alice", "#ops"))
        self.assertEqual(phone.of("part"), [])  # the phone has its ok
        self.assertEqual((await self.ask(bob, "users", room="#ops"))["users"], ["bob"])

    async def test_the_account_leaves_only_when_its_last_session_closes(self) -> None:
        laptop, phone = await self.two_devices()
        bob = await self.guest("bob")
        await self.ask(bob, "join", room="#dev")
        bob.clear()
        await self.leave(laptop)
        self.assertEqual(bob.events, [])
        self.assertEqual((await self.ask(bob, "users"))["users"], ["alice", "bob"])
        bob.clear()
        self.hub.disconnect(phone)
        quits = bob.of("quit")
        self.assertEqual([(q["user"], q["rooms"], q["reason"]) for q in quits], [("alice", ["#lobby", "#dev"], "connection lost")])
        self.assertEqual((await self.ask(bob, "users"))["users"], ["bob"])

    async def test_a_rooms_count_of_connections_per_door_follows_devices_coming_and_going(self) -> None:
        # What a fan-out counts its deliveries from (tchat.metrics).
        laptop, phone = await self.two_devices()
        dev = self.hub.state.room("#dev")
        assert dev is not None
        self.assertEqual((len(dev.connections), dev.doors["test"]), (2, 2))
        await self.leave(phone)
        self.assertEqual((len(dev.connections), dev.doors["test"]), (1, 1))
        again = await self.login("alice", host="10.0.0.3")
        self.assertEqual((len(dev.connections), dev.doors["test"]), (2, 2))
        await self.ask(again, "part", room="#dev")
        self.assertEqual((len(dev.connections), dev.doors["test"]), (0, 0))

    async def test_whoami_and_debug_show_the_sessions(self) -> None:
        laptop, phone = await self.two_devices()
        who = await self.ask(phone, "whoami")
        self.assertEqual(
            [(s["address"].split(":")[0], s["door"], s["this"]) for s in who["sessions"]],
            [("10.0.0.1", "test", False), ("10.0.0.2", "test", True)],
        )
        await self.ask(laptop, "admin", password="pw")
        debug = await self.ask(laptop, "debug")
        self.assertEqual(debug["users_online"], 1)
        self.assertEqual([c["user"] for c in debug["connections"]], ["alice", "alice"])

    async def test_a_guest_name_has_one_session(self) -> None:
        await self.guest("gus")
        other = self.connect("10.0.0.9")
        self.assertEqual((await self.ask(other, "login", user="gus"))["code"], "name_taken")

    async def test_a_second_session_needs_the_password(self) -> None:
        await self.registered("alice")
        other = self.connect("10.0.0.9")
        self.assertEqual((await self.ask(other, "login", user="alice"))["code"], "password_required")
        self.assertEqual((await self.ask(other, "login", user="alice", password="wrong"))["code"], "bad_password")

    async def test_kill_disconnects_every_session_and_the_room_hears_one_quit(self) -> None:
        laptop, phone = await self.two_devices()
        root = await self.guest("root")
        await self.ask(root, "admin", password="pw")
        watcher = await self.guest("watcher")
        watcher.clear()
        await self.ask(root, "kill", user="alice", reason="spam")
        self.assertEqual((laptop.closed, phone.closed), ("kicked", "kicked"))
        self.assertEqual([(q["user"], q["reason"]) for q in watcher.of("quit")], [("alice", "kicked by root: spam")])


class SessionLimitTests(AccountsTestCase):
    config = {"max_sessions": 2}

    async def test_past_the_most_sessions_a_login_is_refused_and_the_others_stay(self) -> None:
        laptop = await self.registered("alice")
        await self.login("alice")
        third = self.connect()
        refused = await self.ask(third, "login", user="alice", password=PASSWORD)
        self.assertEqual(refused["code"], "too_many_sessions")
        self.assertIsNone(third.closed)
        self.assertIsNone(laptop.closed)


class LoginRaceTests(AccountsTestCase):
    """Each login waits on the store; the rules look at the world again after every wait."""

    async def test_the_same_guest_name_logged_in_twice_at_once_is_won_by_one(self) -> None:
        one, two = self.connect(), self.connect("10.0.0.2")
        answers = await defer.gatherResults([
            self.hub.handle(one, request("login", user="dup")),
            self.hub.handle(two, request("login", user="DUP")),
        ])
        self.assertEqual(len(answers), 2)
        outcomes = sorted(s.events[-1].name if s.events[-1].name != "error" else s.events[-1]["code"] for s in (one, two))
        self.assertEqual(outcomes, ["logged_in", "name_taken"])
        self.assertEqual(self.hub.state.online(), ["dup"])

    async def test_a_connection_lost_while_its_login_waits_claims_no_name(self) -> None:
        session = self.connect()
        done = self.hub.handle(session, request("login", user="ghost"))
        self.hub.disconnect(session)
        await done
        self.assertEqual(self.hub.state.online(), [])
        self.assertNotIn("logged_in", session.names())

    async def test_two_devices_logging_in_at_once_both_become_sessions_of_one_user(self) -> None:
        await self.leave(await self.registered("alice"))
        one, two = self.connect(), self.connect("10.0.0.2")
        await defer.gatherResults([
            self.hub.handle(one, request("login", user="alice", password=PASSWORD)),
            self.hub.handle(two, request("login", user="alice", password=PASSWORD)),
        ])
        self.assertEqual([s.last("logged_in")["user"] for s in (one, two)], ["alice", "alice"])
        self.assertEqual(sorted(s.last("logged_in")["sessions"] for s in (one, two)), [1, 2])
        user = self.hub.state.user("alice")
        assert user is not None
        self.assertEqual(len(user.connections), 2)
        self.assertEqual(len(self.hub.state.room("#lobby").connections), 2)  # type: ignore[union-attr]

    async def test_an_account_owner_takes_the_name_from_a_guest_even_if_the_guest_came_during_the_check(self) -> None:
        await self.leave(await self.registered("dave"))
        owner = self.connect()
        done = self.hub.handle(owner, request("login", user="dave", password=PASSWORD))
        # While the password is being checked, a guest logs in as dave (the
        # database says no account... it is an account: the guest gets password_required).
        squatter = self.connect("10.0.0.7")
        await self.hub.handle(squatter, request("login", user="dave"))
        await done
        self.assertEqual(owner.last("logged_in")["user"], "dave")
        self.assertEqual(squatter.last()["code"], "password_required")


__all__ = ["HubConfig"]
