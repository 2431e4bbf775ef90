"""The lobby: ``--lobby NAME|off``, who starts in it, and the login that asks for no room (the IRC door's)."""

from __future__ import annotations

import os
import tempfile

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.python import usage
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.codec import render_text
from tchat.commands import BadRequest, parse_json
from tchat.door.irc import IrcDoor
from tchat.store import open_store
from tchat.tap import Options
from tests.helpers import RecordingSession, generous_limits, logged_in, make_hub, request
from tests.test_irc_door import Irc


def login(hub: Hub, name: str, **args: str) -> RecordingSession:
    session = RecordingSession()
    hub.connect(session)
    hub.handle(session, request("login", user=name, **args))
    return session


class LobbyTests(TestCase):
    def test_by_default_a_guest_starts_in_the_lobby_which_stays_when_empty(self) -> None:
        hub, _ = make_hub()
        alice = login(hub, "alice")
        self.assertEqual(alice.last()["rooms"], ["#lobby"])
        hub.handle(alice, request("part", room="#lobby"))
        hub.handle(alice, request("rooms"))
        self.assertEqual([r["room"] for r in alice.last()["rooms"]], ["#lobby"])

    def test_lobby_off_no_room_exists_and_a_guest_starts_in_none(self) -> None:
        hub, _ = make_hub(lobby=None)
        alice = login(hub, "alice")
        self.assertEqual(alice.last()["rooms"], [])
        self.assertEqual(render_text(alice.last())[1], "*** You are in no room: /join #room to go in one (/rooms lists them); /help lists the commands.")
        hub.handle(alice, request("rooms"))
        self.assertEqual(alice.last()["rooms"], [])
        hub.handle(alice, request("line", text="hello"))
        self.assertEqual(alice.last()["code"], "not_in_room")
        # #lobby is a room like any other then: its first member is its op, and it goes when empty.
        hub.handle(alice, request("join", room="#lobby"))
        self.assertEqual(hub.state.room("#lobby").settings.ops, {"alice"})
        hub.handle(alice, request("part", room="#lobby"))
        self.assertIsNone(hub.state.room("#lobby"))

    def test_a_lobby_of_another_name(self) -> None:
        hub, _ = make_hub(lobby="#Welcome")
        self.assertIsNone(hub.state.room("#lobby"))
        alice = login(hub, "alice")
        self.assertEqual(alice.last()["rooms"], ["#Welcome"])
        hub.handle(alice, request("part", room="#welcome"))
        self.assertIsNotNone(hub.state.room("#welcome"))
        self.assertIsNone(hub.state.room("#welcome").settings.owner)

    def test_a_login_asking_for_no_lobby_starts_in_no_room_and_others_are_not_told(self) -> None:
        hub, _ = make_hub()
        bob = logged_in(hub, "bob")
        alice = login(hub, "alice", lobby="no")
        self.assertEqual(alice.last()["rooms"], [])
        self.assertEqual(bob.of("join"), [])
        self.assertEqual(login(hub, "carol", lobby="yes").last()["rooms"], ["#lobby"])

    def test_the_lobby_field_takes_yes_or_no(self) -> None:
        self.assertEqual(parse_json('{"action": "login", "user": "a", "lobby": "no"}').args["lobby"], "no")
        with self.assertRaises(BadRequest) as caught:
            parse_json('{"action": "login", "user": "a", "lobby": "maybe"}')
        self.assertIn('lobby is "yes"', caught.exception.text)


class LobbyOptionTests(TestCase):
    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(["--db", "memory", *args])
        return options

    def test_lobby_option(self) -> None:
        self.assertEqual(self.parse()["lobby"], "#lobby")
        self.assertEqual(self.parse("--lobby", "#Welcome")["lobby"], "#Welcome")
        self.assertIsNone(self.parse("--lobby", "off")["lobby"])
        for bad in ("lobby", "#a b", "#"):
            with self.assertRaises(usage.UsageError) as caught:
                self.parse("--lobby", bad)
            self.assertIn("--lobby is a room name", str(caught.exception))


class AccountLobbyTests(TestCase):
    """An account with a real store: its own rooms win over the lobby, whichever door it logs in by."""

    async def start(self, **config: object) -> None:
        from argon2 import PasswordHasher

        folder = tempfile.TemporaryDirectory(prefix="tchat-lobby-")
        self.addCleanup(folder.cleanup)
        self.store = await open_store(
            f"sqlite:{os.path.join(folder.name, 't.db')}", reactor, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        self.addCleanup(lambda: self.store.close())
        self.hub = Hub(HubConfig(**config), reactor, store=self.store)  # type: ignore[arg-type]
        await self.hub.use_store(self.store)
        await self.store.accounts.create("alice", "correct horse")

    async def log_in(self, **args: str) -> RecordingSession:
        session = RecordingSession()
        self.hub.connect(session)
        await self.hub.handle(session, request("login", user="alice", password="correct horse", **args))
        self.assertEqual(session.last().name, "logged_in", session.events)
        return session

    def test_an_account_that_chose_rooms_gets_them_even_without_the_lobby(self) -> Deferred[None]:
        async def test() -> None:
            await self.start()
            first = await self.log_in(lobby="no")
            self.assertEqual(first.last()["rooms"], [])
            self.hub.disconnect(first)
            # Never chose: the lobby, for a door that keeps it.
            second = await self.log_in()
            self.assertEqual(second.last()["rooms"], ["#lobby"])
            await self.hub.handle(second, request("join", room="#dev"))
            self.hub.disconnect(second)
            third = await self.log_in(lobby="no")
            # Its rooms are the ones it chose (being put in the lobby was no choice), by any door.
            self.assertEqual(third.last()["rooms"], ["#dev"])

        return Deferred.fromCoroutine(test())


class IrcLobbyTests(TestCase):
    def test_an_irc_client_starts_in_no_channel_while_a_json_one_starts_in_the_lobby(self) -> None:
        hub, clock = make_hub()
        door = IrcDoor(hub, generous_limits(), clock)
        json_user = logged_in(hub, "bob")
        client = Irc(door, 40000)
        client.send("NICK alice", "USER a 0 * :A", "JOIN #lobby")
        lines = client.take()
        self.assertEqual([line for line in lines if " JOIN " in line], [":alice!alice@tchat JOIN #lobby"])
        self.assertIn(":tchat 353 alice = #lobby :alice bob", lines)
        self.assertEqual([e["user"] for e in json_user.of("join")], ["alice"])

    def test_with_lobby_off_list_shows_only_the_rooms_people_made(self) -> None:
        hub, clock = make_hub(lobby=None)
        door = IrcDoor(hub, generous_limits(), clock)
        client = Irc(door, 40000)
        client.send("NICK alice", "USER a 0 * :A")
        client.take()
        client.send("LIST")
        self.assertEqual(client.take(), [":tchat 321 alice Channel :Users  Name", ":tchat 323 alice :End of /LIST"])
        client.send("JOIN #dev", "LIST")
        self.assertIn(":tchat 322 alice #dev 1 :", client.take())
