"""
The installed tchat-client against a real twistd that goes away and comes
back on the same port, as a person sees it: on a pseudo-terminal (its
screen kept by an in-memory terminal, checked as the output arrives), and
piped. The same logic without processes is in tests/test_client_reconnect.py
and tests/test_client_ui.py.
"""

from __future__ import annotations

import fcntl
import os
import struct
import tempfile
import termios
from typing import Any, Callable

from twisted.conch.insults import insults
from twisted.internet import defer, protocol, reactor
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.helpers import LineClient, connect_line_client
from tests.test_client_piped import ClientProcess
from tests.test_client_ui import UnicodeTerminalBuffer
from tests.test_tls import write_certificate
from tests.test_twistd import TWISTD, TwistdProcess, _env

CLIENT = os.path.join(os.path.dirname(TWISTD), "tchat-client")
COLUMNS, ROWS = 80, 24


class TerminalClient(protocol.ProcessProtocol):
    """
    tchat-client on a pseudo-terminal: what it writes goes through an insults
    parser into an in-memory screen; L{wait_for} fires when the screen shows
    what is asked, checked each time output arrives.
    """

    def __init__(self) -> None:
        self.screen = UnicodeTerminalBuffer()
        self.screen.width, self.screen.height = COLUMNS, ROWS
        self.parser = insults.ClientProtocol(lambda: self.screen)
        self.parser.makeConnection(StringTransport())  # its answers to the client go nowhere
        self.ended: defer.Deferred[int | None] = defer.Deferred()
        self._waiting: list[tuple[Callable[[], bool], str, defer.Deferred[None]]] = []

    def childDataReceived(self, fd: int, data: bytes) -> None:
        self.parser.dataReceived(data)
        still = []
        for check, what, d in self._waiting:
            if check():
                d.callback(None)
            else:
                still.append((check, what, d))
        self._waiting = still

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)
        waiting, self._waiting = self._waiting, []
        for _, what, d in waiting:
            d.errback(AssertionError(f"the client ended before the screen showed {what}:\n{self.text()}"))

    def rows(self) -> list[str]:
        """The screen's rows down to the cursor's, trailing spaces trimmed."""
        rows = bytes(self.screen).decode("utf-8", errors="replace").split("\n")
        return [row.rstrip() for row in rows[: self.screen.y + 1]]

    def text(self) -> str:
        return "\n".join(self.rows())

    def wait_for(self, wanted: str | Callable[[], bool]) -> defer.Deferred[None]:
        """Fires once ``wanted`` is on the screen (or the check holds)."""
        check: Callable[[], bool] = (lambda: wanted in self.text()) if isinstance(wanted, str) else wanted
        if check():
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiting.append((check, repr(wanted), d))
        return d

    def type(self, keys: str) -> None:
        self.transport.write(keys.encode("utf-8"))


class ServerComesBackCase(TestCase):
    """A twistd that the test stops (SIGTERM) and starts again on the same port."""

    timeout = 90

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-comeback-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        self.port = 0

    async def start_server(self, *listen: str) -> int:
        """twistd on 127.0.0.1 (the port of the last one, once there was one); its port."""
        process = TwistdProcess()
        description = listen[0] if listen else f"tcp:{self.port}:interface=127.0.0.1"
        transport = reactor.spawnProcess(
            process, TWISTD, [TWISTD, "-n", "--pidfile=", "tchat", "--port", description, "--web-port", "off", "--irc-port", "off", "--db", "memory"],
            env=_env(), path=self.folder,
        )

        def kill() -> defer.Deferred[Any] | None:
            if process.ended.called:
                return None
            transport.signalProcess("KILL")
            return process.ended

        self.addCleanup(kill)
        self.server, self.server_transport = process, transport
        self.port = await process.port
        return self.port

    async def stop_server(self) -> None:
        """SIGTERM, as an operator's restart does: everyone is told, then it ends."""
        self.server_transport.signalProcess("TERM")
        await self.server.ended

    def on_terminal(self, *args: str) -> TerminalClient:
        """Run tchat-client with stdin and stdout on a new pseudo-terminal of 80 by 24."""
        master, slave = os.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        client = TerminalClient()
        # Twisted takes both descriptors over: it closes them when done.
        transport = reactor.spawnProcess(
            client, CLIENT, [CLIENT, "127.0.0.1", str(self.port), *args],
            env=_env(NO_COLOR="1"), path=self.folder, usePTY=(master, slave, os.ttyname(slave)),
        )

        def kill() -> defer.Deferred[Any] | None:
            if client.ended.called:
                return None
            transport.signalProcess("KILL")
            return client.ended

        self.addCleanup(kill)
        return client

    def piped(self, *args: str) -> ClientProcess:
        process = ClientProcess()
        transport = reactor.spawnProcess(
            process, CLIENT, [CLIENT, "127.0.0.1", str(self.port), *args],
            env=_env(NO_COLOR="1"), path=self.folder, childFDs={0: "w", 1: "r", 2: "r"},
        )

        def kill() -> defer.Deferred[Any] | None:
            if process.ended.called:
                return None
            transport.signalProcess("KILL")
            return process.ended

        self.addCleanup(kill)
        return process

    async def participant(self, name: str, room: str | None = None) -> LineClient:
        other = await connect_line_client(self.port)

        def close() -> defer.Deferred[None]:
            other.transport.loseConnection()
            return other.lost

        self.addCleanup(close)
        logged_in = other.wait_event("logged_in")
        other.send_json(action="login", user=name, id=1)
        await logged_in
        if room is not None:
            joined = other.wait_event("ok", re=2)
            other.send_json(action="join", room=room, id=2)
            await joined
        return other


class TerminalComesBackTests(ServerComesBackCase):
    async def test_the_client_comes_back_in_its_rooms_with_its_half_typed_line(self) -> None:
        await self.start_server("tcp:0:interface=127.0.0.1")
        alice = self.on_terminal("--name", "alice")
        await alice.wait_for("You are alice")
        alice.type("/join #dev\r")
        await alice.wait_for("you joined #dev")
        alice.type("/join #ops\r")
        await alice.wait_for("you joined #ops")
        alice.type("/room #dev\r")
        alice.type("half typed")
        await alice.wait_for(lambda: alice.rows()[-1] == "#dev> half typed")

        await self.stop_server()
        await alice.wait_for("reconnecting in")
        self.assertIn("The server is going down", alice.text())
        self.assertEqual(alice.rows()[-1], "#dev> half typed")
        alice.type(" line")  # typing goes on while it is down
        await alice.wait_for(lambda: alice.rows()[-1] == "#dev> half typed line")

        await self.start_server()  # the same port
        await alice.wait_for("back in #lobby, #dev, #ops; plain lines go to #dev")
        self.assertIn("reconnected as alice", alice.text())
        self.assertEqual(alice.rows()[-1], "#dev> half typed line")
        self.assertNotIn("reconnecting", alice.rows()[-2])

        # It really is in #dev again, and the line goes there whole.
        bob = await self.participant("bob", "#dev")
        heard = bob.wait_event("message", **{"from": "alice"})
        alice.type("\r")
        message = await heard
        self.assertEqual((message["to"], message["text"]), ("#dev", "half typed line"))
        # (The server started afresh: the rejoin made #dev again, and alice its op.)
        await alice.wait_for("[#dev] <@~alice> half typed line")
        alice.type("/quit\r")
        self.assertEqual(await alice.ended, 0)

    async def test_no_reconnect_exits_1_at_once(self) -> None:
        await self.start_server("tcp:0:interface=127.0.0.1")
        alice = self.on_terminal("--name", "alice", "--no-reconnect")
        await alice.wait_for("You are alice")
        await self.stop_server()
        self.assertEqual(await alice.ended, 1)
        self.assertIn("the server closed the connection", alice.text())
        self.assertNotIn("reconnecting", alice.text())


class PipedComesBackTests(ServerComesBackCase):
    async def test_piped_it_exits_1_as_before(self) -> None:
        await self.start_server("tcp:0:interface=127.0.0.1")
        bot = self.piped("--name", "bot")
        await bot.wait_for("You are bot")
        await self.stop_server()
        self.assertEqual(await bot.ended, 1)
        self.assertNotIn("reconnecting", bot.text)

    async def test_piped_with_reconnect_it_comes_back_and_sends_what_came_meanwhile(self) -> None:
        await self.start_server("tcp:0:interface=127.0.0.1")
        bot = self.piped("--name", "bot", "--reconnect")
        await bot.wait_for("You are bot")
        await self.stop_server()
        await bot.wait_for("reconnecting in")
        bot.type("written while the server was down")
        await self.start_server()
        await bot.wait_for("[#lobby] <~bot> written while the server was down")
        self.assertLess(bot.text.index("back in #lobby"), bot.text.index("<~bot> written"))
        bot.end_input()
        self.assertEqual(await bot.ended, 0)


class CertificateWhileComingBackTests(ServerComesBackCase):
    async def test_a_certificate_refused_on_the_way_back_stops_it_in_one_sentence(self) -> None:
        key, cert = write_certificate(self.folder, "first", addresses=("127.0.0.1",))
        await self.start_server(f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}")
        bot = self.piped("--name", "bot", "--ca", cert, "--reconnect")
        await bot.wait_for("You are bot")
        await self.stop_server()
        await bot.wait_for("reconnecting in")
        # The server comes back with another certificate, that nothing vouches for.
        other_key, other_cert = write_certificate(self.folder, "other", addresses=("127.0.0.1",))
        await self.start_server(f"ssl:{self.port}:interface=127.0.0.1:privateKey={other_key}:certKey={other_cert}")
        self.assertEqual(await bot.ended, 1)
        self.assertEqual(
            bot.err.decode(),
            f"tchat-client: the server's certificate is not signed by an authority this client trusts (those in {cert}):"
            " give the server's own certificate, or its authority's, with --ca FILE, or --insecure to skip the check\n",
        )
