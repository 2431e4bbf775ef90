"""
The IRC door reads what an answer says happened from its typed fields
(``already`` of an op's or voice's ``ok``), never from its words; where it
shows words (a 401 for someone registered and offline), they are
L{tchat.sentences}', the same as text mode's and JSON's.
"""

from __future__ import annotations

import os
import tempfile

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.door.irc import IrcDoor
from tchat.store import open_store
from tchat.store.errors import StoreClosed
from tests.helpers import RecordingSession, generous_limits, request
from tests.test_irc_door import Irc, IrcTestCase


class RankAnswerTests(IrcTestCase):
    def test_giving_or_taking_op_or_voice_twice_shows_one_mode_line(self) -> None:
        alice, bob = self.user("alice", join="#dev"), self.user("bob", join="#dev")
        alice.take()
        for change in ("+o", "-o", "+v", "-v"):
            alice.send(f"MODE #dev {change} bob", f"MODE #dev {change} bob")
            line = f":alice!alice@tchat MODE #dev {change} bob"
            self.assertEqual(alice.take(), [line], change)
            self.assertEqual(bob.take(), [line], change)


class StoredAnswerTests(TestCase):
    """With a real SQLite store: a registered name offline, and a kept room whose change could not be kept."""

    async def start(self) -> None:
        from argon2 import PasswordHasher

        folder = tempfile.TemporaryDirectory(prefix="tchat-irc-")
        self.addCleanup(folder.cleanup)
        self.store = await open_store(
            f"sqlite:{os.path.join(folder.name, 't.db')}", reactor, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        )
        self.addCleanup(lambda: self.store.close())
        self.hub = Hub(HubConfig(), reactor, store=self.store)
        await self.hub.use_store(self.store)
        self.door = IrcDoor(self.hub, generous_limits(), reactor)
        for name in ("alice", "dave"):
            session = RecordingSession("127.0.0.1:5000")
            self.hub.connect(session)
            await self.hub.handle(session, request("login", user=name))
            await self.hub.handle(session, request("register", password="correct horse"))
            self.assertEqual(session.last().name, "ok", session.events)
            self.hub.disconnect(session)

    async def until(self, client: Irc, *lines: str, wanted: bytes) -> list[str]:
        """Send ``lines`` and take what comes back once ``wanted`` is in it (the store and the hash answer in threads)."""
        client.send(*lines)
        # Up to 10 s: once, in a full CI-like run, a login here took over 3 s and the test read the next answer early.
        for _ in range(1000):
            if wanted in client.transport.value():
                break
            d: Deferred[None] = Deferred()
            reactor.callLater(0.01, d.callback, None)
            await d
        return client.take()

    def client(self, cleanup: bool = True) -> Irc:
        client = Irc(self.door, 1)
        if cleanup:
            self.addCleanup(client.session.connectionLost, None)
        return client

    def test_whois_of_a_registered_name_offline_is_401_with_the_sentence(self) -> Deferred[None]:
        async def run() -> None:
            await self.start()
            bob = self.client()
            await self.until(bob, "NICK bob", "USER b 0 * :B", wanted=b" 001 ")
            lines = await self.until(bob, "WHOIS dave", wanted=b" 318 ")
            self.assertEqual(lines, [":tchat 401 bob dave :dave is registered and not online", ":tchat 318 bob dave :End of /WHOIS list"])

        return Deferred.fromCoroutine(run())

    def test_an_op_given_but_not_kept_is_still_a_mode_line(self) -> Deferred[None]:
        async def run() -> None:
            await self.start()
            alice, bob = self.client(cleanup=False), self.client(cleanup=False)
            await self.until(alice, "PASS :correct horse", "NICK alice", "USER a 0 * :A", wanted=b" 001 ")
            await self.until(bob, "NICK bob", "USER b 0 * :B", wanted=b" 001 ")
            await self.until(alice, "JOIN #own", wanted=b" 366 ")
            await self.until(bob, "JOIN #own", wanted=b" 366 ")
            alice.take()
            # The database goes away: the op is given, and the answer's text is the warning, not the sentence.
            await self.store.close()
            lines = await self.until(alice, "MODE #own +o bob", wanted=b"MODE")
            self.assertEqual(lines, [":alice!alice@tchat MODE #own +o bob"])
            self.assertEqual(bob.take(), [":alice!alice@tchat MODE #own +o bob"])
            # Leaving, alice's last-seen time cannot be recorded either; that is logged.
            for client in (alice, bob):
                client.session.connectionLost(None)
            self.flushLoggedErrors(StoreClosed)

        return Deferred.fromCoroutine(run())
