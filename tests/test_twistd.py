"""
The installed ``twistd`` running tchat as a user would: in a subprocess, from a
folder that is not the source tree, so the plugin comes from the installed
package.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.helpers import connect_line_client

BIN = os.path.dirname(sys.executable)
TWISTD = os.path.join(BIN, "twistd")
LISTENING = re.compile(rb"tchat listening on \S+ \(port (\d+)\)")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


class TwistdProcess(protocol.ProcessProtocol):
    """A running ``twistd``: its output, the port it listens on, its exit."""

    def __init__(self) -> None:
        self.output = b""
        self.port: defer.Deferred[int] = defer.Deferred()
        # (exit code, signal): twistd stopped by SIGTERM shuts down cleanly,
        # then ends itself with that signal, as a supervisor expects.
        self.ended: defer.Deferred[tuple[int | None, int | None]] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        found = LISTENING.search(self.output)
        if found and not self.port.called:
            self.port.callback(int(found.group(1)))

    errReceived = outReceived

    def processEnded(self, reason: Any) -> None:
        code = reason.value.exitCode
        if not self.port.called:
            self.port.errback(RuntimeError(f"twistd ended ({code}) before listening:\n{self.output.decode()}"))
        self.ended.callback((code, getattr(reason.value, "signal", None)))


def spawn_twistd(case: TestCase, cwd: str, *args: str, **env: str) -> TwistdProcess:
    """The installed ``twistd ARGS`` started in ``cwd``; killed when ``case`` is over if it is still running."""
    process = TwistdProcess()
    reactor.spawnProcess(process, TWISTD, [TWISTD, *args], env=_env(**env), path=cwd)

    def stop() -> defer.Deferred[Any] | None:
        if process.ended.called:
            return None
        process.transport.signalProcess("KILL")
        return process.ended

    case.addCleanup(stop)
    return process


async def web_port_of(process: TwistdProcess) -> int:
    """The web door's port, from the line twistd logs when it listens."""
    from twisted.internet.task import deferLater

    for _ in range(200):
        found = re.search(rb"tchat web listening on \S+ \(port (\d+)\)", process.output)
        if found:
            return int(found.group(1))
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"no web port in {process.output!r}")


class TwistdTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        # Not mktemp(): under pytest it lands in the source tree.
        folder = tempfile.TemporaryDirectory(prefix="tchat-twistd-")
        self.addCleanup(folder.cleanup)
        self.cwd = folder.name

    def spawn(self, *args: str, **env: str) -> TwistdProcess:
        return spawn_twistd(self, self.cwd, *args, **env)

    async def test_twistd_lists_the_tchat_plugin(self) -> None:
        out, err, code = await getProcessOutputAndValue(TWISTD, ["--help"], env=_env(), path=self.cwd)
        self.assertEqual(code, 0, err)
        self.assertRegex(out.decode(), r"\n\s+tchat\s+A chat server")

    async def test_tchat_help_lists_every_option(self) -> None:
        out, err, code = await getProcessOutputAndValue(TWISTD, ["tchat", "--help"], env=_env(), path=self.cwd)
        self.assertEqual(code, 0, err)
        for option in ["--port", "--max-users", "--max-line", "--motd", "--admin-password-file", "--sendq"]:
            self.assertIn(option, out.decode())

    async def test_a_bad_port_is_a_usage_error(self) -> None:
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["-n", "tchat", "--port", "nonsense:1"], env=_env(), path=self.cwd
        )
        self.assertNotEqual(code, 0)
        self.assertIn(b"--port nonsense:1", out + err)

    async def test_run_chat_and_stop_with_sigterm_saying_goodbye(self) -> None:
        process = self.spawn(
            "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--motd", "Hello from the test",
            TCHAT_ADMIN_PASSWORD="pw",
        )
        port = await process.port
        alice = await connect_line_client(port)
        await alice.wait_for("*** Hello from the test")
        alice.send("alice")
        bot = await connect_line_client(port)
        bot.send_json(action="login", user="bot", id=1)
        await bot.wait_event("logged_in", re=1)
        alice.send("hi from text")
        message = await bot.wait_event("message")
        self.assertEqual(message["text"], "hi from text")

        process.transport.signalProcess("TERM")
        shutdown = await bot.wait_event("shutdown")
        self.assertEqual(shutdown["delay"], 0)
        await bot.wait_event("bye")
        await alice.wait_for(lambda line: line.startswith("*** Server going down"))
        await alice.wait_for(lambda line: line.startswith("*** Bye"))
        await bot.lost
        self.assertIn(await process.ended, [(0, None), (None, signal.SIGTERM)])
        self.assertIn(b"alice logged in from 127.0.0.1", process.output)
        self.assertIn(b"tchat stopped", process.output)
        self.assertIn(b"Server Shut Down.", process.output)
        self.assertNotIn(b"Traceback", process.output)

    async def test_admin_shutdown_stops_the_process(self) -> None:
        secret = os.path.join(self.cwd, "admin-secret")
        with open(secret, "w") as f:
            f.write("from-a-file\n")
        process = self.spawn("-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--admin-password-file", secret)
        port = await process.port
        root = await connect_line_client(port)
        root.send_json(action="login", user="root")
        root.send_json(action="admin", password="from-a-file", id="a")
        await root.wait_event("ok", re="a")
        root.send_json(action="shutdown", reason="maintenance", id="s")
        self.assertEqual((await root.wait_event("shutdown"))["text"], "maintenance")
        await root.wait_event("bye")
        self.assertEqual(await process.ended, (0, None))
        self.assertNotIn(b"from-a-file", process.output)
        self.assertNotIn(b"Traceback", process.output)

    async def test_daemonized_with_pidfile_and_logfile(self) -> None:
        pidfile = os.path.join(self.cwd, "tchat.pid")
        logfile = os.path.join(self.cwd, "tchat.log")
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["--pidfile", pidfile, "--logfile", logfile, "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off"],
            env=_env(), path=self.cwd,
        )
        self.assertEqual(code, 0, out + err)
        with open(pidfile) as f:
            pid = int(f.read())
        self.addCleanup(_kill_quietly, pid)
        # The daemon logs where it listens; poll the log file (a file has no Deferred).
        port = await _port_from_log(logfile)
        client = await connect_line_client(port)
        client.send("daemon_user")
        await client.wait_for(lambda line: line.startswith("*** You are daemon_user."))
        os.kill(pid, signal.SIGTERM)
        await client.wait_for(lambda line: line.startswith("*** Bye"))
        await client.lost


class StartFailureTests(TestCase):
    """A tchat that cannot start says why on the terminal and exits non-zero, so a service manager sees it."""

    timeout = 60

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-twistd-")
        self.addCleanup(folder.cleanup)
        self.cwd = folder.name
        # A port in use: bound here, never accepted on.
        self.taken = reactor.listenTCP(0, protocol.Factory(), interface="127.0.0.1")
        self.addCleanup(self.taken.stopListening)
        self.port = self.taken.getHost().port

    async def test_a_port_in_use_in_the_foreground(self) -> None:
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["-n", "tchat", "--port", f"tcp:{self.port}:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--db", "memory"],
            env=_env(), path=self.cwd,
        )
        self.assertEqual(code, 1, out + err)
        self.assertIn(f"tchat: cannot listen on tcp:{self.port}:interface=127.0.0.1: Address already in use".encode(), out + err)
        self.assertNotIn(b"Traceback", out + err)
        self.assertFalse(os.path.exists(os.path.join(self.cwd, "twistd.pid")))

    async def test_a_port_in_use_as_a_daemon(self) -> None:
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["tchat", "--web-port", f"tcp:{self.port}:interface=127.0.0.1", "--irc-port", "off", "--port", "tcp:0:interface=127.0.0.1", "--db", "memory"],
            env=_env(), path=self.cwd,
        )
        self.assertEqual(code, 1, out + err)
        self.assertIn(f"cannot listen on tcp:{self.port}:interface=127.0.0.1: Address already in use".encode(), err)
        # The daemon removes its pidfile just after telling the parent (a file has no Deferred: poll).
        await _until(lambda: not os.path.exists(os.path.join(self.cwd, "twistd.pid")))

    async def test_more_connections_than_the_descriptor_limit_allows(self) -> None:
        # Asked for explicitly: refused, saying why.
        args = ["--nofile=300:300", TWISTD, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off", "--db", "memory"]
        out, err, code = await getProcessOutputAndValue("/usr/bin/prlimit", [*args, "--max-connections", "5000"], env=_env(), path=self.cwd)
        self.assertEqual(code, 1, out + err)
        self.assertIn(b"--max-connections 5000 needs 5064 open files, but this process may open only 300", out + err)
        # The default: fitted to the limit, with a warning, and tchat runs.
        process = TwistdProcess()
        transport = reactor.spawnProcess(process, "/usr/bin/prlimit", ["prlimit", *args], env=_env(), path=self.cwd)
        self.addCleanup(lambda: None if process.ended.called else (transport.signalProcess("KILL"), process.ended)[1])
        await process.port
        self.assertIn(b"at most 236 connections, not 10000", process.output)


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def _until(condition: Any, tries: int = 100) -> None:
    from twisted.internet.task import deferLater

    for _ in range(tries):
        if condition():
            return
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError("the condition never held")


async def _port_from_log(path: str, tries: int = 200) -> int:
    from twisted.internet.task import deferLater

    for _ in range(tries):
        if os.path.exists(path):
            with open(path, "rb") as f:
                found = LISTENING.search(f.read())
            if found:
                return int(found.group(1))
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"no listening line in {path}")
