"""The IRC door's IRCv3 capabilities on a StringTransport: sasl, account-tag, extended-join, away-notify, batch, labeled-response."""

from __future__ import annotations

import base64
import os
import tempfile
from typing import Any, Callable, Coroutine

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.door.irc import IrcDoor
from tchat.store import open_store
from tchat.codec import TEXT
from tests.helpers import RecordingSession, generous_limits, logged_in, request
from tests.test_irc_door import Irc, IrcTestCase


def plain(authcid: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


async def later(seconds: float = 0.01) -> None:
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)
    await d


class AccountsTestCase(TestCase):
    """A hub with a real store (the password hash runs in its threads) and the account alice."""

    password = "correct horse"

    async def start(self, password: str | None = None) -> None:
        from argon2 import PasswordHasher

        folder = tempfile.TemporaryDirectory(prefix="tchat-irc-")
        self.addCleanup(folder.cleanup)
        self.store = await open_store(
            f"sqlite:{os.path.join(folder.name, 't.db')}", reactor, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        self.addCleanup(lambda: self.store.close())
        self.hub = Hub(HubConfig(), reactor, store=self.store)
        await self.hub.use_store(self.store)
        self.door = IrcDoor(self.hub, generous_limits(), reactor)
        self.ports = iter(range(1, 1000))
        await self.register("alice", password or self.password)

    async def register(self, name: str, password: str) -> None:
        session = RecordingSession("127.0.0.1:5000")
        self.hub.connect(session)
        await self.hub.handle(session, request("login", user=name))
        await self.hub.handle(session, request("register", password=password))
        self.assertEqual(session.last().name, "ok", session.events)
        self.hub.disconnect(session)

    def irc(self) -> Irc:
        client = Irc(self.door, next(self.ports))
        self.addCleanup(client.session.connectionLost, None)
        return client

    async def until(self, client: Irc, *marks: bytes) -> list[str]:
        """What the client was sent once one of ``marks`` is in it (the hash takes a moment)."""
        for _ in range(300):
            if any(mark in client.transport.value() for mark in marks):
                break
            await later()
        return client.take()


def run(test: Callable[[Any], Coroutine[Any, Any, None]]) -> Callable[[Any], Deferred[None]]:
    """A test method that is a coroutine, as trial runs it."""

    def method(self: Any) -> Deferred[None]:
        return Deferred.fromCoroutine(test(self))

    method.__name__ = test.__name__
    return method


class SaslTests(AccountsTestCase):
    @run
    async def test_cap_ls_302_offers_sasl_plain_and_plain_logs_in_before_cap_end(self) -> None:
        await self.start()
        client = self.irc()
        client.send("CAP LS 302", "NICK alice", "USER a 0 * :A")
        self.assertIn("sasl=PLAIN", client.take()[0].split())
        client.send("CAP REQ sasl", "AUTHENTICATE PLAIN")
        self.assertEqual(client.take(), [":tchat CAP * ACK :sasl", "AUTHENTICATE +"])
        client.send("AUTHENTICATE " + plain("alice", self.password))
        lines = await self.until(client, b" 903 ")
        self.assertEqual(lines, [
            ":tchat 900 * alice!alice@tchat alice :You are now logged in as alice",
            ":tchat 903 * :SASL authentication successful",
        ])
        # Logged in to the chat, registered on IRC only at CAP END.
        self.assertEqual(self.hub.user_of(client.session), "alice")
        client.send("AUTHENTICATE PLAIN")
        self.assertIn(" 907 ", (await self.until(client, b" 907 "))[0])
        client.send("CAP END")
        lines = await self.until(client, b" 366 ")
        self.assertTrue(lines[0].startswith(":tchat 001 alice "), lines)
        self.assertIn(":alice!alice@tchat JOIN #lobby", lines)
        client.send("AUTHENTICATE PLAIN")
        self.assertIn(" 907 ", (await self.until(client, b" 907 "))[0])

    @run
    async def test_cap_ls_without_302_lists_sasl_without_mechanisms(self) -> None:
        await self.start()
        client = self.irc()
        client.send("CAP LS")
        self.assertIn("sasl", client.take()[0].split(":", 2)[2].split())

    @run
    async def test_a_wrong_password_is_904_and_the_client_may_try_again(self) -> None:
        await self.start()
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER a 0 * :A", "AUTHENTICATE PLAIN")
        client.take()
        client.send("AUTHENTICATE " + plain("alice", "wrong"))
        lines = await self.until(client, b" 904 ")
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith(":tchat 904 * :SASL authentication failed: wrong password for alice"), lines)
        self.assertIsNone(self.hub.user_of(client.session))
        client.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", self.password, authzid="alice"))
        lines = await self.until(client, b" 903 ", b" 904 ")
        self.assertEqual([line.split()[0 if line.startswith("AUTH") else 1] for line in lines], ["AUTHENTICATE", "900", "903"])

    @run
    async def test_a_guest_name_or_an_empty_password_or_another_authzid_is_904(self) -> None:
        await self.start()
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :sasl", "NICK bob", "USER a 0 * :A")
        client.take()
        client.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("bob", "secret secret"))
        lines = await self.until(client, b" 904 ")
        self.assertIn(" 904 ", lines[-1])
        client.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", ""))
        self.assertEqual(client.numerics(), ["904"])
        client.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", self.password, authzid="bob"))
        self.assertEqual(client.numerics(), ["904"])
        client.send("AUTHENTICATE PLAIN", "AUTHENTICATE !!notbase64")
        self.assertEqual(client.numerics(), ["904"])
        self.assertIsNone(self.hub.user_of(client.session))
        # Registration goes on as a guest.
        client.send("CAP END")
        self.assertIn(" 001 bob ", " ".join(await self.until(client, b" 001 ")))

    @run
    async def test_other_mechanisms_are_908_and_904_abort_906_without_the_cap_904(self) -> None:
        await self.start()
        client = self.irc()
        client.send("CAP LS 302", "AUTHENTICATE PLAIN")
        client.take()
        self.assertEqual(client.numerics(), [])
        client.send("AUTHENTICATE PLAIN")
        self.assertEqual(client.numerics(), ["904"])
        client.send("CAP REQ sasl", "AUTHENTICATE EXTERNAL")
        lines = client.take()
        self.assertEqual(lines[1:], [":tchat 908 * PLAIN :are available SASL mechanisms", ":tchat 904 * :SASL authentication failed"])
        client.send("AUTHENTICATE PLAIN", "AUTHENTICATE *")
        self.assertEqual(client.take(), ["AUTHENTICATE +", ":tchat 906 * :SASL authentication aborted"])
        registered = self.irc()
        registered.send("CAP LS 302", "CAP REQ sasl", "NICK dave", "USER d 0 * :D", "CAP END")
        await self.until(registered, b" 422 ", b" 376 ")
        registered.send("AUTHENTICATE PLAIN")
        self.assertEqual(registered.numerics(), ["462"])
        client.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + "A" * 401)
        self.assertEqual(client.take()[1:], [":tchat 905 * :SASL message too long"])
        # Lines of 400 bytes each, that never end: 904 once they pass what PLAIN could need.
        client.send("AUTHENTICATE PLAIN", *["AUTHENTICATE " + "A" * 400] * 21)
        self.assertEqual(client.take()[1:], [":tchat 904 * :SASL authentication failed: the credentials were too long"])
        # CAP END during an exchange aborts it.
        client.send("AUTHENTICATE PLAIN", "NICK carol", "USER c 0 * :C", "CAP END")
        lines = await self.until(client, b" 001 ")
        self.assertEqual(lines[1], ":tchat 906 * :SASL authentication aborted")
        self.assertIn(" 001 carol ", " ".join(lines))

    @run
    async def test_a_long_password_comes_in_400_byte_chunks_and_a_plus_after_exactly_400(self) -> None:
        for length in (500, 293):
            # 293: "\0alice\0" and 293 characters is 300 bytes, exactly 400 in base64.
            password = ("horse battery staple " * 40)[:length]
            await self.start(password)
            client = self.irc()
            client.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER a 0 * :A", "AUTHENTICATE PLAIN")
            client.take()
            data = plain("alice", password)
            chunks = [data[i : i + 400] for i in range(0, len(data), 400)]
            if len(chunks[-1]) == 400:
                chunks.append("+")
            self.assertEqual(len(chunks), 2)
            client.send(*("AUTHENTICATE " + c for c in chunks[:-1]))
            await later(0.05)
            self.assertEqual(client.take(), [])  # waits for the rest
            client.send("AUTHENTICATE " + chunks[-1])
            lines = await self.until(client, b" 903 ", b" 904 ")
            self.assertIn(" 903 ", lines[-1])
            client.session.connectionLost(None)

    @run
    async def test_a_registered_nick_without_sasl_or_pass_is_433_with_a_notice_naming_sasl(self) -> None:
        await self.start()
        client = self.irc()
        client.send("NICK alice", "USER a 0 * :A")
        lines = await self.until(client, b" 433 ")
        self.assertTrue(lines[0].startswith(":tchat 433 * alice :"), lines)
        self.assertIn("SASL", lines[1])
        self.assertIn("PASS", lines[1])

    @run
    async def test_what_the_chat_sends_between_sasl_and_cap_end_comes_after_the_burst(self) -> None:
        await self.start()
        bob = self.irc()
        bob.send("NICK bob", "USER b 0 * :B", "JOIN #lobby")
        await self.until(bob, b" 366 ")
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER a 0 * :A", "AUTHENTICATE PLAIN")
        client.send("AUTHENTICATE " + plain("alice", self.password))
        await self.until(client, b" 903 ")
        bob.send("PRIVMSG #lobby :hello alice")
        await later()
        self.assertEqual(client.take(), [])
        client.send("CAP END")
        lines = await self.until(client, b"hello alice")
        self.assertTrue(lines[0].startswith(":tchat 001 alice "))
        names = next(i for i, line in enumerate(lines) if " 366 " in line)
        self.assertEqual(lines[names + 1:], [":bob!bob@tchat PRIVMSG #lobby :hello alice"])

    @run
    async def test_a_nick_other_than_the_account_registers_as_the_account(self) -> None:
        await self.start()
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :sasl", "NICK someone", "USER a 0 * :A", "AUTHENTICATE PLAIN")
        client.send("AUTHENTICATE " + plain("Alice", self.password))
        await self.until(client, b" 903 ")
        client.send("CAP END")
        self.assertTrue((await self.until(client, b" 001 "))[0].startswith(":tchat 001 alice "))


class AccountCapsTests(AccountsTestCase):
    async def sasl_alice(self, *caps: str) -> Irc:
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :" + " ".join(("sasl",) + caps), "NICK alice", "USER a 0 * :A", "AUTHENTICATE PLAIN")
        client.send("AUTHENTICATE " + plain("alice", self.password))
        await self.until(client, b" 903 ")
        client.send("CAP END")
        await self.until(client, b" 366 ")
        return client

    async def guest(self, nick: str, *caps: str) -> Irc:
        client = self.irc()
        if caps:
            client.send("CAP LS 302", "CAP REQ :" + " ".join(caps), f"NICK {nick}", "USER u 0 * :U", "CAP END", "JOIN #lobby")
        else:
            client.send(f"NICK {nick}", "USER u 0 * :U", "JOIN #lobby")
        await self.until(client, b" 366 ")
        return client

    @run
    async def test_extended_join_names_the_account_or_star_and_the_realname(self) -> None:
        await self.start()
        bob = await self.guest("bob", "extended-join")
        plain_client = await self.guest("dave")
        bob.take()
        alice = await self.sasl_alice("extended-join")
        self.assertEqual(bob.take(), [":alice!alice@tchat JOIN #lobby alice alice"])
        self.assertEqual(plain_client.take(), [":alice!alice@tchat JOIN #lobby"])
        await self.guest("carol")
        self.assertEqual(bob.take(), [":carol!carol@tchat JOIN #lobby * U"])
        alice.take()
        alice.send("JOIN #dev")
        # The realname is what USER said.
        self.assertIn(":alice!alice@tchat JOIN #dev alice A", await self.until(alice, b" 366 "))
        bob.send("JOIN #dev")
        self.assertIn(":bob!bob@tchat JOIN #dev * U", await self.until(bob, b" 366 "))
        self.assertIn(":bob!bob@tchat JOIN #dev * U", alice.take())

    @run
    async def test_account_tag_on_a_registered_users_messages_and_own_lines(self) -> None:
        await self.start()
        bob = await self.guest("bob", "account-tag")
        dave = await self.guest("dave", "account-tag")
        carol = await self.guest("carol")
        alice = await self.sasl_alice("account-tag", "echo-message")
        for client in (bob, dave, carol):
            client.take()
        alice.send("PRIVMSG #lobby :hi")
        self.assertEqual(await self.until(alice, b"PRIVMSG"), ["@account=alice :alice!alice@tchat PRIVMSG #lobby :hi"])
        self.assertEqual(bob.take(), ["@account=alice :alice!alice@tchat PRIVMSG #lobby :hi"])
        self.assertEqual(dave.transport.value(), b"@account=alice :alice!alice@tchat PRIVMSG #lobby :hi\r\n")
        self.assertEqual(carol.take(), [":alice!alice@tchat PRIVMSG #lobby :hi"])
        dave.take()
        bob.send("PRIVMSG #lobby :a guest")
        self.assertEqual(dave.take(), [":bob!bob@tchat PRIVMSG #lobby :a guest"])
        alice.take()
        alice.send("PART #lobby")
        self.assertEqual(await self.until(alice, b"PART"), ["@account=alice :alice!alice@tchat PART #lobby"])
        # On what an account does to others too: an invitation, a kick.
        alice.send("JOIN #club")
        await self.until(alice, b" 366 ")
        bob.send("JOIN #club")
        await self.until(bob, b" 366 ")
        bob.take()
        dave.take()
        alice.send("INVITE dave #club", "KICK #club bob :out")
        await self.until(alice, b"KICK")
        self.assertEqual(dave.take(), ["@account=alice :alice!alice@tchat INVITE dave #club"])
        self.assertEqual(bob.take(), ["@account=alice :alice!alice@tchat KICK #club bob :out"])


class AwayNotifyTests(IrcTestCase):
    def test_away_notify_tells_who_asked_and_shares_a_channel(self) -> None:
        bob = self.user("bob", "away-notify")
        carol = self.user("carol")
        stranger = self.user("stranger", "away-notify")
        stranger.send("PART #lobby")
        json_user = logged_in(self.hub, "json")
        alice = self.user("alice")
        for client in (bob, carol, stranger):
            client.take()
        json_user.events.clear()
        alice.send("AWAY :lunch")
        self.assertEqual(alice.numerics(), ["306"])
        self.assertEqual(bob.take(), [":alice!alice@tchat AWAY :lunch"])
        self.assertEqual(carol.take(), [])
        self.assertEqual(stranger.take(), [])
        [event] = json_user.events
        self.assertEqual((event.name, event["user"], event["text"], event["rooms"]), ("away", "alice", "lunch", ["#lobby"]))
        self.assertEqual(TEXT.encode(event), b"")
        alice.send("AWAY :lunch")
        self.assertEqual(bob.take(), [])  # no change, nothing told
        alice.send("AWAY")
        self.assertEqual(bob.take(), [":alice!alice@tchat AWAY"])

    def test_shared_events_are_encoded_once_per_profile(self) -> None:
        self.user("bob", "away-notify", "server-time")
        self.user("carol", "server-time", "away-notify")
        self.user("dave")
        self.assertEqual(sorted(c.name for c in self.door._codecs.values()), ["irc", "irc+time+away-notify"])


class LabeledResponseTests(IrcTestCase):
    def test_one_line_carries_the_label_none_is_an_ack(self) -> None:
        alice = self.user("alice", "labeled-response", "batch")
        alice.send("@label=abc PING :x")
        self.assertEqual(alice.take(), ["@label=abc :tchat PONG tchat :x"])
        alice.send("@label=p2 PONG :x", "@label=n3 NOTICE nobody :hi")
        self.assertEqual(alice.take(), ["@label=p2 :tchat ACK", "@label=n3 :tchat ACK"])
        alice.send("@label=e4 PRIVMSG nobody :hi")
        [line] = alice.take()
        self.assertTrue(line.startswith("@label=e4 :tchat 401 alice nobody :"), line)
        # A label with a space or ";" is escaped as IRCv3 says.
        alice.send("@label=a\\sb\\:c PING :x")
        self.assertEqual(alice.take(), ["@label=a\\sb\\:c :tchat PONG tchat :x"])

    def test_a_pong_held_for_a_labelled_message_is_not_part_of_its_label(self) -> None:
        alice = self.user("alice", "labeled-response", "batch", "echo-message")
        self.user("bob")
        alice.take()
        stored: Deferred[None] = Deferred()
        self.hub.messages.keep_then = lambda fields, done: stored.addCallback(done)  # type: ignore[method-assign]
        alice.send("@label=m1 PRIVMSG bob :hi", "PING :sync")
        self.assertEqual(alice.take(), [])
        stored.callback(None)
        # The echo alone carries the label; the PONG follows it, unlabelled.
        self.assertEqual(alice.take(), ["@label=m1 :alice!alice@tchat PRIVMSG bob :hi", ":tchat PONG tchat :sync"])

    def test_several_lines_are_a_labeled_response_batch_names_after_join_included(self) -> None:
        alice = self.user("alice", "labeled-response", "batch")
        alice.send("@label=j1 JOIN #dev")
        lines = alice.take()
        self.assertRegex(lines[0], r"^@label=j1 :tchat BATCH \+(\S+) labeled-response$")
        ref = lines[0].split()[3][1:]
        self.assertEqual(lines[1:], [
            f"@batch={ref} :alice!alice@tchat JOIN #dev",
            f"@batch={ref} :tchat 353 alice = #dev :@alice",
            f"@batch={ref} :tchat 366 alice #dev :End of /NAMES list",
            f":tchat BATCH -{ref}",
        ])

    def test_the_echo_is_labelled_and_what_others_get_is_not(self) -> None:
        alice = self.user("alice", "labeled-response", "batch", "echo-message")
        bob = self.user("bob", "labeled-response", "batch", "echo-message")
        alice.take()
        alice.send("@label=m1 PRIVMSG #lobby :hi")
        self.assertEqual(alice.take(), ["@label=m1 :alice!alice@tchat PRIVMSG #lobby :hi"])
        self.assertEqual(bob.take(), [":alice!alice@tchat PRIVMSG #lobby :hi"])

    def test_without_the_cap_a_label_is_ignored(self) -> None:
        alice = self.user("alice")
        alice.send("@label=abc PING :x", "@label=p2 PONG :x")
        self.assertEqual(alice.take(), [":tchat PONG tchat :x"])

    def test_a_refusal_left_for_later_is_labelled_too(self) -> None:
        alice = self.user("alice", "labeled-response", "batch")
        alice.send("@label=w1 WHOIS nobody")
        lines = alice.take()
        self.assertTrue(lines[0].startswith("@label=w1 :tchat BATCH +"), lines)
        self.assertEqual(len(lines), 4)


class ServerTimeTests(IrcTestCase):
    def test_every_line_after_registration_carries_time(self) -> None:
        client = self.irc()
        client.send("CAP LS 302", "CAP REQ :server-time labeled-response", "NICK alice", "USER u 0 * :U", "CAP END")
        lines = client.take()
        self.assertFalse(lines[1].startswith("@"))  # the ACK, before registration
        after = lines[2:]
        self.assertTrue(after and all(line.startswith("@time=") for line in after), after)
        client.send("@label=x PING :y", "MOTD")
        lines = client.take()
        self.assertRegex(lines[0], r"^@label=x;time=\S+Z :tchat PONG tchat :y$")
        self.assertTrue(all(line.startswith("@time=") for line in lines[1:]), lines)


class HeldTests(AccountsTestCase):
    @run
    async def test_a_client_that_never_ends_registration_after_sasl_holds_only_so_much(self) -> None:
        await self.start()
        bob = self.irc()
        bob.send("NICK bob", "USER b 0 * :B", "JOIN #lobby")
        await self.until(bob, b" 366 ")
        client = self.irc()
        client.session.HELD_MAX = 3
        client.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER a 0 * :A", "AUTHENTICATE PLAIN")
        client.send("AUTHENTICATE " + plain("alice", self.password))
        await self.until(client, b" 903 ")
        for i in range(4):
            bob.send(f"PRIVMSG #lobby :{i}")
            await later()
        self.assertIn(b"SendQ exceeded", client.transport.value())
        self.assertIsNone(self.hub.user_of(client.session))
