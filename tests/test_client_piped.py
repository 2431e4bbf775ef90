"""
The installed ``tchat-client``, run as a real subprocess with stdin piped,
against a real server in this process, with a second participant on a plain
TCP connection: what a script driving the client would see.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from argon2 import PasswordHasher

from twisted.internet import defer, reactor
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor, LineLimits
from tchat.chat import Hub, HubConfig
from tchat.store import open_store
from tests.helpers import LineClient, connect_line_client

CLIENT = os.path.join(os.path.dirname(sys.executable), "tchat-client")


class ClientProcess(ProcessProtocol):
    """A running tchat-client: its stdout and stderr, and a way to wait on them."""

    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: defer.Deferred[int | None] = defer.Deferred()
        self._waiting: list[tuple[str, defer.Deferred[str]]] = []

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", errors="replace")

    def outReceived(self, data: bytes) -> None:
        self.out += data
        still = []
        for wanted, d in self._waiting:
            if wanted in self.text:
                d.callback(self.text)
            else:
                still.append((wanted, d))
        self._waiting = still

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        # First the end (a cleanup must not try to kill an ended process),
        # then the waits it leaves unmet.
        self.ended.callback(reason.value.exitCode)
        waiting, self._waiting = self._waiting, []
        for wanted, d in waiting:
            d.errback(AssertionError(f"client ended before printing {wanted!r}; stdout: {self.text!r}; stderr: {self.err!r}"))

    def wait_for(self, wanted: str) -> defer.Deferred[str]:
        """Fires (with all of stdout) once stdout contains ``wanted``."""
        if wanted in self.text:
            return defer.succeed(self.text)
        d: defer.Deferred[str] = defer.Deferred()
        self._waiting.append((wanted, d))
        return d

    def type(self, line: str) -> None:
        self.transport.write(line.encode("utf-8") + b"\n")

    def end_input(self) -> None:
        self.transport.closeStdin()


class ServerTestCase(TestCase):
    """A real server in this process, and the installed client run against it."""

    timeout = 30

    def start_server(self, store: Any = None) -> None:
        self.hub = Hub(HubConfig(), reactor, store=store)
        self.door = LineDoor(self.hub, LineLimits(close_grace=2.0), reactor)
        self.listening = reactor.listenTCP(0, self.door, interface="127.0.0.1")
        self.port = self.listening.getHost().port
        self.addCleanup(self._stop_server)

    async def _stop_server_async(self) -> None:
        if self.listening.connected:
            await self.listening.stopListening()
        self.hub.close_all("test over")
        await self.door.wait_closed()

    def _stop_server(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._stop_server_async())

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> ClientProcess:
        """
        Run the installed tchat-client against the test server, stdin piped,
        with ``env`` added to the environment (any TCHAT_PASSWORD of the
        test's own is left out).
        """
        process = ClientProcess()
        environ = {k: v for k, v in os.environ.items() if k != "TCHAT_PASSWORD"}
        environ.update(NO_COLOR="1", **(env or {}))
        reactor.spawnProcess(
            process, CLIENT, [CLIENT, "127.0.0.1", str(self.port), *args], env=environ,
            childFDs={0: "w", 1: "r", 2: "r"},
        )

        def kill_if_running() -> defer.Deferred[Any]:
            if not process.ended.called:
                process.transport.signalProcess("KILL")
            return process.ended

        self.addCleanup(kill_if_running)
        return process

    async def participant(self, name: str, register: str | None = None) -> LineClient:
        """
        A second user on a plain TCP connection, in JSON mode, logged in: a
        guest, or, with ``register`` (a password), the account it registers.
        """
        other = await connect_line_client(self.port)

        def close() -> defer.Deferred[None]:
            other.transport.loseConnection()
            return other.lost

        self.addCleanup(close)
        logged_in = other.wait_event("logged_in")
        other.send_json(action="login", user=name, id=1)
        await logged_in
        if register is not None:
            registered = other.wait_event("ok", re="register")
            other.send_json(action="register", password=register, id="register")
            await registered
        return other


class PipedClientTests(ServerTestCase):
    def setUp(self) -> None:
        self.start_server()

    async def test_script_talks_with_another_user_and_quits(self) -> None:
        """
        A piped client's line reaches the others; a private message to it
        appears on its stdout; its own line is printed too; /quit exits 0.
        """
        bob = await self.participant("bob")
        bot_joined = bob.wait_event("join", user="bot", room="#lobby")
        bot = self.spawn("--name", "bot")
        await bot_joined

        heard = bob.wait_event("message", **{"from": "bot"})
        bot.type("hello from the pipe, ünïcode too")
        message = await heard
        self.assertEqual((message["to"], message["text"], message["kind"]), ("#lobby", "hello from the pipe, ünïcode too", "public"))
        # Both are guests: each name carries the ~ that says nobody checked it.
        await bot.wait_for("[#lobby] <~bot> hello from the pipe, ünïcode too")

        bob.send_json(action="msg", to="bot", text="hi bot, privately", id=2)
        await bot.wait_for("[private] <~bob> hi bot, privately")
        bob.send_json(action="msg", to="#lobby", text="and publicly", id=3)
        await bot.wait_for("[#lobby] <~bob> and publicly")

        left = bob.wait_event("quit", user="bot")
        bot.type("/quit")
        self.assertEqual(await bot.ended, 0)
        part = await left
        self.assertEqual(part["reason"], "quit")
        self.assertNotIn("\x1b", bot.text)  # NO_COLOR and a pipe: plain lines

    async def test_a_topic_and_room_kicks_both_ways(self) -> None:
        """
        The client makes a room (and is its op), sets its topic and kicks
        someone out of it; put out of another room itself, it says so,
        plain lines go back to its room, and it carries on to exit 0.
        """
        bob = await self.participant("bob")
        bot = self.spawn("--name", "bot")
        await bot.wait_for("You are bot")
        bot.type("/join #dev")
        await bot.wait_for("you joined #dev; in it: @bot")
        bot.type("/topic ship it on friday")
        await bot.wait_for("*** topic of #dev set")

        bob_in = bob.wait_event("ok", re=2)
        bob.send_json(action="join", room="#dev", id=2)
        joined = await bob_in
        self.assertEqual((joined["topic"], joined["ops"]), ("ship it on friday", ["bot"]))
        await bot.wait_for("bob joined #dev")
        kicked = bob.wait_event("kick", room="#dev", user="bob")
        bot.type("/kick bob enough")
        self.assertEqual(((await kicked)["by"], (await kicked)["reason"]), ("bot", "enough"))
        await bot.wait_for("*** bob is out of #dev")

        bob_ops = bob.wait_event("ok", re=3)
        bob.send_json(action="join", room="#ops", id=3)
        await bob_ops
        bot.type("/join #ops")
        await bot.wait_for("you joined #ops; in it: @bob, bot")
        bob.send_json(action="kick", room="#ops", user="bot", reason="out", id=4)
        await bot.wait_for("*** You were put out of #ops by bob (out) (/join #ops to go back in); plain lines now go to #dev")
        bot.type("still here")
        await bot.wait_for("[#dev] <@~bot> still here")
        bot.type("/quit")
        self.assertEqual(await bot.ended, 0)

    async def test_end_of_input_quits_with_status_0(self) -> None:
        """Lines given before the login finishes are still sent, then EOF quits."""
        bob = await self.participant("bob")
        heard = bob.wait_event("message", **{"from": "bot"})
        bot = self.spawn("--name", "bot")
        bot.type("/join #dev")
        bot.type("/part #dev")
        bot.type("early line")
        bot.end_input()
        self.assertEqual((await heard)["text"], "early line")
        self.assertEqual(await bot.ended, 0)
        self.assertIn("[#lobby] <~bot> early line", bot.text)
        self.assertIn("you joined #dev", bot.text)

    async def test_first_line_is_the_name_when_none_is_given(self) -> None:
        bob = await self.participant("bob")
        joined = bob.wait_event("join", user="scripty")
        bot = self.spawn()
        bot.type("scripty")
        await joined
        bot.type("/quit")
        self.assertEqual(await bot.ended, 0)
        self.assertIn("You are scripty", bot.text)

    async def test_taken_name_exits_1_with_the_reason(self) -> None:
        await self.participant("bob")
        bot = self.spawn("--name", "BOB")
        self.assertEqual(await bot.ended, 1)
        self.assertIn(b"taken", bot.err)

    async def test_server_shutdown_exits_1(self) -> None:
        bot = self.spawn("--name", "bot")
        await bot.wait_for("You are bot")
        self.hub.close_all("maintenance")
        self.assertEqual(await bot.ended, 1)
        self.assertIn("going down: maintenance", bot.text)
        self.assertIn("the server closed the connection", bot.text)

    async def test_lost_connection_exits_1(self) -> None:
        bot = self.spawn("--name", "bot")
        await bot.wait_for("You are bot")
        for session in list(self.door.sessions):
            session.transport.abortConnection()
        self.assertEqual(await bot.ended, 1)
        self.assertIn("*** connection to the server lost", bot.text)

    async def test_refused_connection_exits_1_with_a_message(self) -> None:
        await self.listening.stopListening()
        bot = self.spawn("--name", "bot")
        self.assertEqual(await bot.ended, 1)
        self.assertIn(b"cannot connect to 127.0.0.1:", bot.err)
        self.assertIn(b"refused", bot.err)


CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class RegisteredUserPipedTests(ServerTestCase):
    """
    The same, against a server that keeps accounts: a script registers a
    name, and later logs in under it with the password from the environment
    or a file, and finds what was sent to it meanwhile.
    """

    async def async_set_up(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-client-accounts-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        store = await open_store(f"sqlite:{os.path.join(folder.name, 'tchat.db')}", reactor, hasher=CHEAP)
        # Cleanups run last-added first: the store closes once the server's
        # connections are gone.
        self.addCleanup(store.close)
        self.start_server(store)

    def setUp(self) -> defer.Deferred[None]:  # type: ignore[override]
        return defer.Deferred.fromCoroutine(self.async_set_up())

    async def register_alice(self) -> None:
        alice = self.spawn("--name", "alice")
        alice.type("/register correct horse")
        alice.type("/quit")
        self.assertEqual(await alice.ended, 0, alice.err)
        self.assertIn("alice is registered", alice.text)

    async def test_register_then_come_back_with_the_password_and_find_the_message(self) -> None:
        await self.register_alice()

        # While alice is away, bob writes to her: it is kept for her.
        bob = await self.participant("bob")
        queued = bob.wait_event("ok", re=2)
        bob.send_json(action="msg", to="alice", text="while you were away", id=2)
        self.assertTrue((await queued).get("queued"))

        back = self.spawn("--name", "alice", env={"TCHAT_PASSWORD": "correct horse"})
        await back.wait_for("[private] <~bob> while you were away (delayed)")
        back.type("/quit")
        self.assertEqual(await back.ended, 0, back.err)
        self.assertIn("You are alice", back.text)
        self.assertNotIn("correct horse", back.text + back.err.decode())

    async def test_guests_are_shown_behind_a_tilde_and_accounts_bare(self) -> None:
        """
        Through the real server: what an account sends (and alice's own
        lines, she being logged in to hers) shows the name bare; what a guest
        sends, in a room, as /me or privately, shows ~name.
        """
        await self.register_alice()
        carol = await self.participant("carol", register="carol's long secret")
        bob = await self.participant("bob")
        alice = self.spawn("--name", "alice", env={"TCHAT_PASSWORD": "correct horse"})
        await alice.wait_for("You are alice")

        for n, (who, request) in enumerate([
            (carol, {"to": "#lobby", "text": "from an account"}),
            (carol, {"to": "#lobby", "text": "waves as an account", "kind": "action"}),
            (carol, {"to": "alice", "text": "privately from an account"}),
            (bob, {"to": "#lobby", "text": "from a guest"}),
            (bob, {"to": "#lobby", "text": "waves as a guest", "kind": "action"}),
            (bob, {"to": "alice", "text": "privately from a guest"}),
        ]):
            who.send_json(action="msg", id=10 + n, **request)
        alice.type("from alice herself")
        await alice.wait_for("from alice herself")
        await alice.wait_for("privately from a guest")
        alice.end_input()
        self.assertEqual(await alice.ended, 0, alice.err)

        for line in [
            "[#lobby] <carol> from an account",
            "[#lobby] * carol waves as an account",
            "[private] <carol> privately from an account",
            "[#lobby] <~bob> from a guest",
            "[#lobby] * ~bob waves as a guest",
            "[private] <~bob> privately from a guest",
            "[#lobby] <alice> from alice herself",
        ]:
            self.assertIn(line, alice.text)
        self.assertNotIn("~carol", alice.text)
        self.assertNotIn("~alice", alice.text)

    async def test_without_the_password_the_run_exits_1_saying_one_is_needed(self) -> None:
        await self.register_alice()
        again = self.spawn("--name", "alice")
        again.type("hello")
        self.assertEqual(await again.ended, 1)
        err = again.err.decode()
        self.assertIn("the name alice is registered", err)
        self.assertIn("TCHAT_PASSWORD", err)
        self.assertIn("--password-file", err)
        self.assertNotIn("You are alice", again.text)

    async def test_a_wrong_password_exits_1_and_is_not_shown(self) -> None:
        await self.register_alice()
        wrong = self.spawn("--name", "alice", env={"TCHAT_PASSWORD": "incorrect donkey"})
        self.assertEqual(await wrong.ended, 1)
        self.assertIn("wrong password for alice", wrong.err.decode())
        self.assertNotIn("donkey", wrong.text + wrong.err.decode())

    async def test_the_password_from_a_file(self) -> None:
        await self.register_alice()
        path = os.path.join(self.folder, "alice.pw")
        with open(path, "w", encoding="utf-8") as f:
            f.write("correct horse\n")
        os.chmod(path, 0o600)
        back = self.spawn("--name", "alice", "--password-file", path)
        await back.wait_for("You are alice")
        back.end_input()
        self.assertEqual(await back.ended, 0, back.err)
        self.assertEqual(back.err, b"")
