"""
The installed ``tchat-client``, run as a real subprocess with stdin piped,
against a real server in this process, with a second participant on a plain
TCP connection: what a script driving the client would see.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor, LineLimits
from tchat.hub import Hub, HubConfig
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
        for wanted, d in self._waiting:
            d.errback(AssertionError(f"client ended before printing {wanted!r}; stdout: {self.text!r}; stderr: {self.err!r}"))
        self._waiting = []
        self.ended.callback(reason.value.exitCode)

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


class PipedClientTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.hub = Hub(HubConfig(), reactor)
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

    def spawn(self, *args: str) -> ClientProcess:
        """Run the installed tchat-client against the test server, stdin piped."""
        process = ClientProcess()
        env = dict(os.environ, NO_COLOR="1")
        reactor.spawnProcess(
            process, CLIENT, [CLIENT, "127.0.0.1", str(self.port), *args], env=env,
            childFDs={0: "w", 1: "r", 2: "r"},
        )

        def kill_if_running() -> defer.Deferred[Any]:
            if not process.ended.called:
                process.transport.signalProcess("KILL")
            return process.ended

        self.addCleanup(kill_if_running)
        return process

    async def participant(self, name: str) -> LineClient:
        """A second user on a plain TCP connection, in JSON mode, logged in."""
        other = await connect_line_client(self.port)

        def close() -> defer.Deferred[None]:
            other.transport.loseConnection()
            return other.lost

        self.addCleanup(close)
        logged_in = other.wait_event("logged_in")
        other.send_json(action="login", user=name, id=1)
        await logged_in
        return other

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
        await bot.wait_for("[#lobby] <bot> hello from the pipe, ünïcode too")

        bob.send_json(action="msg", to="bot", text="hi bot, privately", id=2)
        await bot.wait_for("[private] <bob> hi bot, privately")
        bob.send_json(action="msg", to="#lobby", text="and publicly", id=3)
        await bot.wait_for("[#lobby] <bob> and publicly")

        left = bob.wait_event("part", user="bot")
        bot.type("/quit")
        self.assertEqual(await bot.ended, 0)
        part = await left
        self.assertEqual(part["reason"], "quit")
        self.assertNotIn("\x1b", bot.text)  # NO_COLOR and a pipe: plain lines

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
        self.assertIn("[#lobby] <bot> early line", bot.text)
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
