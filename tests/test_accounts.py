"""
The chat rules that need the store: accounts, history, offline delivery,
contacts and last seen; the hub over a real SQLite file.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from argon2 import PasswordHasher
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from tchat.events import Event
from tchat.chat import HubConfig
from tchat.store import open_store
from tchat.commands import BadRequest
from tests.helpers import RecordingSession, TextModeHub, request
from tests.test_store import wait_until

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse"


class AccountsTestCase(TestCase):
    config: dict[str, Any] = {}

    async def asyncSetUp(self) -> None:  # called by setUp below
        folder = tempfile.TemporaryDirectory(prefix="tchat-accounts-")
        self.addCleanup(folder.cleanup)
        self.db = f"sqlite:{os.path.join(folder.name, 'tchat.db')}"
        self.store = await open_store(self.db, reactor, hasher=CHEAP)
        self.addCleanup(lambda: self.store.close())
        self.hub = TextModeHub(HubConfig(admin_password="pw", **self.config), reactor, store=self.store)
        self.port = 1000

    def setUp(self):  # type: ignore[no-untyped-def]
        from twisted.internet.defer import Deferred

        return Deferred.fromCoroutine(self.asyncSetUp())

    def connect(self, host: str = "10.0.0.1") -> RecordingSession:
        self.port += 1
        session = RecordingSession(f"{host}:{self.port}")
        self.hub.connect(session)
        return session

    async def ask(self, session: RecordingSession, action: str, **args: Any) -> Event:
        """Carry out a request and return the last event it produced for ``session``."""
        before = len(session.events)
        await self.hub.handle(session, request(action, id=action, **args))
        if len(session.events) == before:
            # A message's ok comes once it is stored, after the request is done.
            await session.next_event()
        return session.events[-1]

    async def guest(self, name: str, host: str = "10.0.0.1") -> RecordingSession:
        session = self.connect(host)
        event = await self.ask(session, "login", user=name)
        self.assertEqual(event.name, "logged_in", event)
        return session

    async def registered(self, name: str, password: str = PASSWORD) -> RecordingSession:
        session = await self.guest(name)
        event = await self.ask(session, "register", password=password)
        self.assertEqual(event.name, "ok", event)
        return session

    async def login(self, name: str, password: str | None = PASSWORD, host: str = "10.0.0.1") -> RecordingSession:
        session = self.connect(host)
        await self.ask(session, "login", user=name, password=password)
        self.assertEqual(len(session.of("logged_in")), 1, session.events)
        return session

    async def leave(self, session: RecordingSession) -> None:
        await self.hub.handle(session, request("quit"))
        self.assertEqual(session.closed, "you left the chat")


class RegistrationTests(AccountsTestCase):
    async def test_a_registered_name_needs_its_password(self) -> None:
        alice = await self.registered("Alice")
        await self.leave(alice)
        impostor = self.connect("10.0.0.9")
        event = await self.ask(impostor, "login", user="alice")
        self.assertEqual(event["code"], "password_required")
        event = await self.ask(impostor, "line", text="ALICE")
        self.assertEqual(event["code"], "password_required")
        event = await self.ask(impostor, "login", user="alice", password="guess")
        self.assertEqual(event["code"], "bad_password")
        back = self.connect()
        event = await self.ask(back, "login", user="alice", password=PASSWORD)
        self.assertEqual((event.name, event["user"], event["registered"]), ("logged_in", "Alice", True))

    async def test_a_guest_cannot_log_in_with_a_password_to_no_account(self) -> None:
        session = self.connect()
        event = await self.ask(session, "login", user="nobody", password="whatever1")
        self.assertEqual(event["code"], "no_such_account")

    async def test_repeated_wrong_passwords_are_slowed_down_and_say_so(self) -> None:
        await self.leave(await self.registered("alice"))
        guesser = self.connect("10.0.0.66")
        codes = []
        for _ in range(4):
            event = await self.ask(guesser, "login", user="alice", password="guess")
            codes.append(event["code"])
        self.assertEqual(codes, ["bad_password", "bad_password", "bad_password", "rate_limited"])
        self.assertIn("must wait", guesser.of("error")[2]["text"])
        self.assertIn("try again in", guesser.of("error")[3]["text"])
        # Even the right password waits now, from that address and for that account...
        event = await self.ask(guesser, "login", user="alice", password=PASSWORD)
        self.assertEqual(event["code"], "rate_limited")
        # ...but not the owner elsewhere: someone else's failures never lock them out.
        elsewhere = self.connect("10.0.0.67")
        event = await self.ask(elsewhere, "login", user="alice", password=PASSWORD)
        self.assertEqual(event.name, "logged_in")

    async def test_guesses_sent_at_once_are_counted_before_they_are_checked(self) -> None:
        from twisted.internet.defer import gatherResults

        await self.leave(await self.registered("alice"))
        guessers = [self.connect("10.0.0.66") for _ in range(19)]
        await gatherResults([self.hub.handle(g, request("login", user="alice", password=f"guess {i}")) for i, g in enumerate(guessers)])
        codes = sorted(g.of("error")[0]["code"] for g in guessers)
        self.assertEqual(codes, ["bad_password"] * 3 + ["rate_limited"] * 16)
        # The owner, from an address that did not fail, is let in at once.
        owner = self.connect("192.0.2.7")
        event = await self.ask(owner, "login", user="alice", password=PASSWORD)
        self.assertEqual(event.name, "logged_in")

    async def test_an_account_under_attack_from_many_addresses_gives_each_one_try_and_still_lets_its_owner_in(self) -> None:
        await self.leave(await self.registered("alice"))
        for n in range(12):
            bot = self.connect(f"198.51.100.{n}")
            for _ in range(3):
                await self.ask(bot, "login", user="alice", password="guess")
        codes = [e["code"] for e in bot.of("error")]
        self.assertEqual(codes, ["bad_password", "rate_limited", "rate_limited"])
        owner = self.connect("192.0.2.7")
        self.assertEqual((await self.ask(owner, "login", user="alice", password=PASSWORD)).name, "logged_in")

    async def test_one_address_spraying_many_accounts_is_slowed_down(self) -> None:
        names = [f"user{n}" for n in range(12)]
        for name in names:
            await self.store.accounts.create(name, PASSWORD)
        sprayer = self.connect("203.0.113.9")
        codes = []
        for name in names:
            for _ in range(3):
                codes.append((await self.ask(sprayer, "login", user=name, password="guess")).get("code"))
        # The address's budget is 30 wrong guesses (it leaks back one every
        # 10 s, so a slow test may squeeze in one more), then it waits.
        self.assertIn(codes.count("bad_password"), (30, 31))
        self.assertEqual(codes[31:], ["rate_limited"] * 5)

    async def test_password_changes_and_registrations_are_rate_limited(self) -> None:
        alice = await self.registered("alice")
        for i in range(3):
            self.assertEqual((await self.ask(alice, "passwd", old=PASSWORD, new=PASSWORD)).name, "ok")
        self.assertEqual((await self.ask(alice, "passwd", old=PASSWORD, new=PASSWORD))["code"], "rate_limited")
        codes = []
        for n in range(11):
            guest = await self.guest(f"new{n}", host="10.0.0.99")
            codes.append((await self.ask(guest, "register", password=PASSWORD)).get("code"))
        self.assertEqual(codes, [None] * 10 + ["rate_limited"])

    async def test_weak_passwords_and_registering_twice(self) -> None:
        alice = await self.guest("alice")
        for weak in ["short", "alice", "aaaaaaaaaaaa"]:
            event = await self.ask(alice, "register", password=weak)
            self.assertEqual(event["code"], "weak_password", weak)
        await self.ask(alice, "register", password=PASSWORD)
        event = await self.ask(alice, "register", password=PASSWORD)
        self.assertEqual(event["code"], "already_registered")

    async def test_change_password(self) -> None:
        alice = await self.registered("alice")
        event = await self.ask(alice, "passwd", old="wrong one", new="a new password")
        self.assertEqual(event["code"], "bad_password")
        event = await self.ask(alice, "passwd", old=PASSWORD, new="short")
        self.assertEqual(event["code"], "weak_password")
        event = await self.ask(alice, "passwd", old=PASSWORD, new="a new password")
        self.assertEqual(event.name, "ok")
        await self.leave(alice)
        await self.login("alice", "a new password")

    async def test_guests_have_no_password_to_change(self) -> None:
        guest = await self.guest("guest")
        event = await self.ask(guest, "passwd", old="a", new="b")
        self.assertEqual(event["code"], "not_registered")

    async def test_no_password_in_any_event_or_log_line(self) -> None:
        lines: list[str] = []

        def observe(event: dict[str, Any]) -> None:
            lines.append(formatEvent(event) or "")

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        secret = "s3cret-Zebra-92"
        alice = await self.registered("alice", secret)
        await self.ask(alice, "passwd", old=secret, new=secret + "x")
        await self.ask(alice, "admin", password="pw")
        await self.ask(alice, "debug")
        await self.ask(alice, "accounts")
        await self.leave(alice)
        other = self.connect()
        await self.ask(other, "login", user="alice", password=secret)
        everything = " ".join(lines) + " ".join(repr(e.fields) for s in (alice, other) for e in s.events)
        self.assertNotIn(secret, everything)
        self.assertNotIn("pw", [e.get("password") for e in alice.events])
        self.assertTrue(lines, "the test saw no log lines at all")


class ClosedServerTests(AccountsTestCase):
    config = {"registration": "closed", "guests": False}

    async def test_closed_registration_and_no_guests(self) -> None:
        session = self.connect()
        event = await self.ask(session, "login", user="walkin")
        self.assertEqual(event["code"], "guests_not_allowed")
        # The operator makes accounts; the admin too.
        await self.store.accounts.create("root", PASSWORD)
        root = await self.login("root")
        await self.ask(root, "admin", password="pw")
        event = await self.ask(root, "account_create", user="newbie", password="welcome aboard")
        self.assertEqual(event.name, "ok")
        await self.login("newbie", "welcome aboard")
        event = await self.ask(root, "account_create", user="newbie", password="welcome aboard")
        self.assertEqual(event["code"], "name_registered")


class HistoryTests(AccountsTestCase):
    async def test_messages_of_an_account_are_marked_registered_and_a_guests_are_not(self) -> None:
        alice = await self.registered("alice")
        bob = await self.guest("bob")
        await self.ask(alice, "msg", to="#lobby", text="from an account")
        await self.ask(bob, "msg", to="#lobby", text="from a guest")
        await self.ask(alice, "msg", to="bob", text="privately")
        self.assertEqual(bob.of("message")[0]["registered"], True)
        self.assertEqual(bob.of("message")[1]["registered"], True)
        self.assertNotIn("registered", alice.of("message")[0].fields)

    async def test_room_messages_are_stored_before_the_ok(self) -> None:
        alice = await self.guest("alice")
        event = await self.ask(alice, "msg", to="#lobby", text="first")
        self.assertEqual(event.name, "ok")
        messages, more = await self.store.history.room_history("#lobby", 10)
        self.assertEqual([(m["msgid"], m["text"]) for m in messages], [(event["msgid"], "first")])
        self.assertFalse(more)

    async def test_a_messages_ok_carries_the_messages_own_time_not_the_commits(self) -> None:
        # The ok waits for the store's commit; its ts is still the message's,
        # as the others received it and the history keeps it (an IRC echo and
        # the page's own copy are made from the ok).
        clock = Clock()
        clock.advance(2_000_000)
        self.hub = TextModeHub(HubConfig(), clock, store=self.store)
        alice, bob = await self.guest("alice"), await self.guest("bob")
        answered = len(alice.events)
        done = self.hub.handle(alice, request("msg", id="m", to="#lobby", text="when?"))
        clock.advance(5)  # time goes on while the commit is under way
        await done
        while len(alice.events) == answered:
            await alice.next_event()
        ok, message = alice.events[-1], bob.last("message")
        self.assertEqual((ok.name, ok["msgid"]), ("ok", message["msgid"]))
        self.assertEqual(ok["ts"], 2_000_000)
        self.assertEqual(message["ts"], 2_000_000)
        (stored,), _ = await self.store.history.room_history("#lobby", 10)
        self.assertEqual(stored["ts"], 2_000_000)

    async def test_history_of_a_room_in_order_with_paging(self) -> None:
        alice = await self.guest("alice")
        for i in range(7):
            await self.ask(alice, "msg", to="#lobby", text=f"m{i}")
        page = await self.ask(alice, "history", target="#lobby", limit=3)
        self.assertEqual((page["target"], [m["text"] for m in page["messages"]], page["more"]), ("#lobby", ["m4", "m5", "m6"], True))
        older = await self.ask(alice, "history", target="#lobby", limit=3, before=page["messages"][0]["msgid"])
        self.assertEqual([m["text"] for m in older["messages"]], ["m1", "m2", "m3"])
        oldest = await self.ask(alice, "history", target="#lobby", limit=3, before=older["messages"][0]["msgid"])
        self.assertEqual(([m["text"] for m in oldest["messages"]], oldest["more"]), (["m0"], False))
        # Without a target: the current room; the default and the cap.
        current = await self.ask(alice, "history")
        self.assertEqual(len(current["messages"]), 7)
        # A limit below 1 is refused as the request is read, before any rule.
        with self.assertRaises(BadRequest) as refused:
            request("history", target="#lobby", limit=0)
        self.assertEqual(refused.exception.text, "limit is a number of messages, at least 1")
        event = await self.ask(alice, "history", target="#lobby", before="no-such-id")
        self.assertEqual(event["code"], "no_such_message")

    async def test_only_members_read_a_room(self) -> None:
        alice = await self.guest("alice")
        bob = await self.guest("bob")
        await self.ask(alice, "join", room="#secret")
        await self.ask(alice, "msg", to="#secret", text="for members")
        event = await self.ask(bob, "history", target="#secret")
        self.assertEqual(event["code"], "not_allowed")
        await self.ask(bob, "join", room="#secret")
        event = await self.ask(bob, "history", target="#secret")
        self.assertEqual([m["text"] for m in event["messages"]], ["for members"])

    async def test_private_history_between_registered_users_only_for_the_two(self) -> None:
        alice = await self.registered("alice")
        bob = await self.registered("bob")
        carol = await self.registered("carol")
        await self.ask(alice, "msg", to="bob", text="just us")
        await self.ask(bob, "msg", to="alice", text="yes")
        for session, other in [(alice, "bob"), (bob, "alice")]:
            event = await self.ask(session, "history", target=other)
            self.assertEqual([m["text"] for m in event["messages"]], ["just us", "yes"])
        event = await self.ask(carol, "history", target="alice")
        self.assertEqual(event["messages"], [])

    async def test_a_name_registered_later_does_not_read_what_its_guest_said_nor_the_other_side_from_before(self) -> None:
        alice = await self.registered("alice")
        guest = await self.guest("bob")
        await self.ask(guest, "msg", to="alice", text="from the guest bob")
        stored, _ = await self.store.history.private_history("alice", "bob", 10)
        self.assertEqual([m["text"] for m in stored], ["from the guest bob"], "every message is stored")
        event = await self.ask(guest, "history", target="alice")
        self.assertEqual(event["code"], "not_registered")
        # The account reads what was said with the guest; the guest reads nothing.
        event = await self.ask(alice, "history", target="bob")
        self.assertEqual([m["text"] for m in event["messages"]], ["from the guest bob"])
        await self.leave(guest)
        # Someone else takes the name and registers it.
        new_bob = await self.registered("bob")
        await self.ask(new_bob, "msg", to="alice", text="from the registered bob")
        for session, other in [(new_bob, "alice"), (alice, "bob")]:
            event = await self.ask(session, "history", target=other)
            self.assertEqual([m["text"] for m in event["messages"]], ["from the registered bob"])


class OfflineTests(AccountsTestCase):
    async def test_messages_to_an_offline_user_wait_and_arrive_in_order_marked_delayed(self) -> None:
        await self.leave(await self.registered("alice"))
        bob = await self.guest("bob")
        sent = []
        for text in ["one", "two", "three"]:
            event = await self.ask(bob, "msg", to="ALICE", text=text)
            self.assertEqual((event.name, event["queued"]), ("ok", True))
            sent.append(event["msgid"])
        alice = await self.login("alice")
        delayed = alice.of("message")
        self.assertEqual([m["text"] for m in delayed], ["one", "two", "three"])
        self.assertEqual([m["msgid"] for m in delayed], sent)
        self.assertTrue(all(m["delayed"] for m in delayed))
        self.assertEqual([m["to"] for m in delayed], ["alice"] * 3)
        self.assertLess(delayed[0]["ts"], alice.last("logged_in")["ts"] + 1)
        # Delivered once.
        await self.leave(alice)
        again = await self.login("alice")
        self.assertEqual(again.of("message"), [])

    async def test_what_waits_is_delivered_a_batch_at_a_time_and_taken_out_only_once_written(self) -> None:
        from twisted.internet.defer import Deferred, succeed

        await self.leave(await self.registered("alice"))
        for i in range(120):
            await self.store.offline.queue("alice", {"msgid": f"m{i}", "from": "bob", "to": "alice", "text": f"n{i}", "kind": "private", "ts": float(i), "registered": True})

        class SlowLink(RecordingSession):
            """A connection whose send buffer fills with every 50 messages, until the test drains it."""

            def __init__(self, address: str) -> None:
                super().__init__(address)
                self.waiting: list[Deferred[None]] = []

            def deliver(self, event: Any) -> None:
                super().deliver(event)
                if event.name == "message" and len(self.of("message")) % 50 == 0:
                    self.waiting.append(Deferred())

            def drained(self) -> Deferred[None]:
                if not self.waiting:
                    return succeed(None)
                d: Deferred[None] = Deferred()
                self.waiting[-1].addBoth(lambda _: d.callback(None))
                return d

        self.port += 1
        slow = SlowLink(f"10.0.0.1:{self.port}")
        self.hub.connect(slow)
        login = self.hub.handle(slow, request("login", user="alice", password=PASSWORD))
        await wait_until(lambda: len(slow.waiting) == 1, "a batch written")
        # The first batch is written; nothing is taken out until it has left.
        self.assertEqual([m["text"] for m in slow.of("message")], [f"n{i}" for i in range(50)])
        self.assertEqual(await self.store.offline.waiting("alice"), 120)
        slow.waiting.pop().callback(None)
        await wait_until(lambda: len(slow.waiting) == 1, "a batch written")
        self.assertEqual(len(slow.of("message")), 100)
        self.assertEqual(await self.store.offline.waiting("alice"), 70)
        # The connection goes before the second batch has left: it stays queued.
        self.hub.disconnect(slow)
        slow.waiting.pop().callback(None)
        await login
        self.assertEqual(await self.store.offline.waiting("alice"), 70)
        again = await self.login("alice")
        self.assertEqual([m["text"] for m in again.of("message")], [f"n{i}" for i in range(50, 120)])
        self.assertTrue(all(m["registered"] and m["delayed"] for m in again.of("message")))
        self.assertEqual(await self.store.offline.waiting("alice"), 0)

    async def test_the_ok_of_a_message_that_waits_names_the_account_and_says_so_in_both_modes(self) -> None:
        from tchat.codec import JSON, render_text

        await self.leave(await self.registered("alice"))
        bob = await self.guest("bob")
        event = await self.ask(bob, "msg", to="ALICE", text="later")
        self.assertEqual((event["to"], event["queued"]), ("alice", True))
        words = "alice is offline; they will get it when they log in"
        self.assertEqual(json.loads(JSON.encode(event))["text"], words)
        self.assertEqual(render_text(event), ["*** " + words])

    async def test_guests_cannot_fill_someones_queue_so_friends_still_get_through(self) -> None:
        await self.leave(await self.registered("alice"))
        codes = []
        for n in range(17):
            guest = await self.guest(f"guest{n}", host=f"10.0.1.{n}")
            for i in range(8):
                event = await self.ask(guest, "msg", to="alice", text=f"spam {n} {i}")
                codes.append(event.get("code") or event.name)
        self.assertEqual(codes.count("ok"), 100)  # all guests together
        self.assertEqual(codes.count("queue_full"), 17 * 8 - 100)
        friend = await self.registered("friend")
        event = await self.ask(friend, "msg", to="alice", text="are you coming?")
        self.assertEqual((event.name, event["queued"]), ("ok", True))
        # One sender alone, even registered, has a quota of its own.
        for i in range(99):
            await self.ask(friend, "msg", to="alice", text=f"again {i}")
        event = await self.ask(friend, "msg", to="alice", text="one too many")
        self.assertEqual(event["code"], "queue_full")
        self.assertIn("you have 100 messages waiting for alice", event["text"])

    async def test_a_message_to_nobody_is_still_no_such_user(self) -> None:
        bob = await self.guest("bob")
        event = await self.ask(bob, "msg", to="ghost", text="hello?")
        self.assertEqual(event["code"], "no_such_user")
        # A guest who left is as gone; the sentence says what happened.
        gus = await self.guest("gus")
        await self.leave(gus)
        event = await self.ask(bob, "msg", to="gus", text="still there?")
        self.assertEqual(event["code"], "no_such_user")
        self.assertEqual(event["text"], "gus is not online, and is no registered user (messages wait only for those): it was not sent")


class RoomsAcrossLoginsTests(AccountsTestCase):
    async def test_a_registered_user_keeps_rooms_and_hears_what_it_missed(self) -> None:
        alice = await self.registered("alice")
        await self.ask(alice, "join", room="#dev")
        await self.ask(alice, "join", room="#ops")
        await self.ask(alice, "part", room="#ops")
        await self.leave(alice)
        bob = await self.guest("bob")
        await self.ask(bob, "join", room="#dev")
        for text in ["a", "b"]:
            await self.ask(bob, "msg", to="#dev", text=text)
        await self.ask(bob, "msg", to="#lobby", text="c")
        alice = await self.login("alice")
        logged = alice.last("logged_in")
        self.assertEqual(logged["rooms"], ["#lobby", "#dev"])
        self.assertEqual(logged["unread"], {"#lobby": 1, "#dev": 2})
        # Coming back into #dev is announced there like any join.
        self.assertIn(("#dev", "alice"), [(e["room"], e["user"]) for e in bob.of("join")])

    async def test_a_guest_starts_in_the_lobby_every_time(self) -> None:
        guest = await self.guest("guest")
        await self.ask(guest, "join", room="#dev")
        await self.leave(guest)
        again = await self.guest("guest")
        self.assertEqual(again.last("logged_in")["rooms"], ["#lobby"])
        self.assertNotIn("unread", again.last("logged_in").fields)


class ContactTests(AccountsTestCase):
    async def test_contacts_are_registered_users_shown_online_or_last_seen(self) -> None:
        alice = await self.registered("alice")
        bob = await self.registered("bob")
        await self.registered("carol")
        await self.guest("guest")
        event = await self.ask(alice, "contact_add", user="guest")
        self.assertEqual(event["code"], "no_such_user")
        event = await self.ask(alice, "contact_add", user="alice")
        self.assertEqual(event["code"], "bad_request")
        await self.ask(alice, "contact_add", user="BOB")
        await self.ask(alice, "contact_add", user="carol")
        await self.leave(bob)
        event = await self.ask(alice, "contacts")
        by_name = {c["user"]: c for c in event["contacts"]}
        self.assertEqual(set(by_name), {"bob", "carol"})
        self.assertFalse(by_name["bob"]["online"])
        self.assertIsNotNone(by_name["bob"]["last_seen"])
        self.assertTrue(by_name["carol"]["online"])
        await self.ask(alice, "contact_del", user="carol")
        event = await self.ask(alice, "contact_del", user="carol")
        self.assertEqual(event["code"], "not_a_contact")
        event = await self.ask(alice, "contacts")
        self.assertEqual([c["user"] for c in event["contacts"]], ["bob"])

    async def test_someone_who_writes_privately_is_offered_once_not_added(self) -> None:
        alice = await self.registered("alice")
        bob = await self.registered("bob")
        for text in ["hi", "again"]:
            await self.ask(bob, "msg", to="alice", text=text)
        offers = [e for e in alice.of("notice") if e.get("offer") == "bob"]
        self.assertEqual(len(offers), 1)
        self.assertIn("/contact add bob", offers[0]["text"])
        event = await self.ask(alice, "contacts")
        self.assertEqual(event["contacts"], [])
        await self.ask(alice, "contact_add", user="bob")
        await self.ask(bob, "msg", to="alice", text="third")
        self.assertEqual(len([e for e in alice.of("notice") if e.get("offer")]), 1)


class SeenAndAdminTests(AccountsTestCase):
    async def test_seen(self) -> None:
        alice = await self.registered("alice")
        bob = await self.registered("bob")
        event = await self.ask(alice, "seen", user="bob")
        self.assertTrue(event["online"])
        await self.leave(bob)
        event = await self.ask(alice, "seen", user="bob")
        self.assertFalse(event["online"])
        self.assertIsNotNone(event["last_seen"])
        self.assertNotIn("last_address", event.fields)
        event = await self.ask(alice, "seen", user="nobody")
        self.assertEqual(event["code"], "no_such_user")

    async def test_admins_list_accounts_with_last_login_and_address_and_manage_them(self) -> None:
        root = await self.registered("root")
        await self.ask(root, "admin", password="pw")
        bob = await self.registered("bob")
        await self.leave(bob)
        await self.login("bob", host="192.0.2.44")
        event = await self.ask(root, "accounts")
        by_name = {a["user"]: a for a in event["accounts"]}
        self.assertTrue(by_name["bob"]["last_address"].startswith("192.0.2.44:"))
        self.assertIsNotNone(by_name["bob"]["last_login"])
        event = await self.ask(root, "seen", user="root")
        self.assertTrue(event["online"])
        event = await self.ask(root, "account_reset", user="bob", password="reset by admin")
        self.assertEqual(event.name, "ok")
        event = await self.ask(root, "account_delete", user="bob")
        self.assertEqual(event.name, "ok")
        event = await self.ask(root, "account_delete", user="bob")
        self.assertEqual(event["code"], "no_such_user")
        user = await self.guest("user")
        event = await self.ask(user, "accounts")
        self.assertEqual(event["code"], "not_allowed")

    async def test_an_account_made_for_a_name_a_guest_uses_does_not_make_the_guest_its_owner(self) -> None:
        root = await self.registered("root")
        await self.ask(root, "admin", password="pw")
        squatter = await self.guest("dave", host="203.0.113.5")
        event = await self.ask(root, "account_create", user="dave", password=PASSWORD)
        self.assertEqual(event.name, "ok")
        # The guest is told, and is still a guest: no history, no /passwd.
        self.assertIn("still a guest", squatter.last("notice")["text"])
        event = await self.ask(squatter, "passwd", old=PASSWORD, new="anything else")
        self.assertEqual(event["code"], "not_registered")
        event = await self.ask(squatter, "whoami")
        self.assertFalse(event["registered"])
        # Someone else without the password cannot have the name...
        other = self.connect("203.0.113.6")
        self.assertEqual((await self.ask(other, "login", user="dave"))["code"], "password_required")
        # ...but the account's owner, with it, takes the name over from the guest.
        owner = self.connect("192.0.2.8")
        event = await self.ask(owner, "login", user="dave", password=PASSWORD)
        self.assertEqual((event.name, event["registered"]), ("logged_in", True))
        self.assertEqual(squatter.closed, "the name dave is taken by its account")
        self.assertIs(self.hub.state.user("dave").connections[0].session, owner)


class ConfusableAccountTests(AccountsTestCase):
    """Names that look like a registered one are refused; the account's owner is not."""

    async def test_a_guest_name_that_looks_like_a_registered_one_is_refused_its_owner_logs_in(self) -> None:
        alice = await self.registered("Alice")
        await self.leave(alice)
        impostor = self.connect("10.0.0.9")
        for spoof in ["\u0430lice", "A1ICE"]:
            event = await self.ask(impostor, "login", user=spoof)
            self.assertEqual(event["code"], "confusable_name", spoof)
            self.assertIn(f"{spoof} looks like Alice, a registered name", event["text"])
        self.assertIsNone(self.hub.user_of(impostor))
        owner = await self.login("alice")
        self.assertEqual(owner.last("logged_in")["user"], "Alice")
        # A second device of the account, while it is online, too.
        await self.login("ALICE")
        self.assertEqual((await self.ask(self.connect(), "login", user="alicia")).name, "logged_in")

    async def test_registering_a_name_that_looks_like_another_account_is_refused(self) -> None:
        # A guest took the name before tchat-admin made the account it looks like.
        spoof = await self.guest("\u0430lice")
        await self.store.accounts.create("alice", PASSWORD)
        event = await self.ask(spoof, "register", password="another password")
        self.assertEqual(event["code"], "confusable_name")
        self.assertIn("looks like alice, a registered name", event["text"])
        self.assertIsNone(await self.store.accounts.get(spoof.last("logged_in")["user"].casefold()))
        event = await self.ask(spoof, "whoami")
        self.assertFalse(event["registered"])

    async def test_admins_cannot_make_an_account_that_looks_like_another_or_someone_online(self) -> None:
        root = await self.registered("root")
        await self.ask(root, "admin", password="pw")
        await self.store.accounts.create("carol", PASSWORD)
        await self.guest("dave")
        event = await self.ask(root, "account_create", user="c\u0430rol", password=PASSWORD)
        self.assertEqual(event["code"], "confusable_name")
        self.assertIn("looks like carol, a registered name", event["text"])
        event = await self.ask(root, "account_create", user="d\u0430ve", password=PASSWORD)
        self.assertEqual(event["code"], "confusable_name")
        self.assertIn("looks like dave, who is online", event["text"])
        self.assertEqual([a.name for a in await self.store.accounts.list()], ["carol", "root"])
