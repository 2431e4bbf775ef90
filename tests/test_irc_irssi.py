"""
A real IRC client end to end: irssi, driven in tmux, against the installed
``twistd tchat``, talking with a JSON client of the line door: connect,
join, messages in a channel both ways, private messages both ways.

Skipped when irssi or tmux is missing, except under CI (``.ci/run``
installs both), where it must run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from tests.helpers import connect_line_client
from tests.test_twistd import spawn_twistd

IRC_LISTENING = re.compile(rb"tchat irc listening on \S+ \(port (\d+)\)")


class IrssiTests(TestCase):
    timeout = 90

    def setUp(self) -> None:
        if not (shutil.which("irssi") and shutil.which("tmux")):
            if os.environ.get("CI"):
                raise AssertionError("CI must have irssi and tmux (.ci/run installs them)")
            raise SkipTest("irssi or tmux is not installed")
        folder = tempfile.TemporaryDirectory(prefix="tchat-irssi-")
        self.addCleanup(folder.cleanup)
        self.cwd = folder.name
        # A tmux server of this test's own, so nothing else's sessions are touched.
        self.tmux = ["tmux", "-L", f"tchat-test-{os.getpid()}", "-f", "/dev/null"]

    def run_tmux(self, *args: str) -> str:
        return subprocess.run([*self.tmux, *args], check=True, capture_output=True, text=True, timeout=10).stdout

    def type(self, text: str) -> None:
        self.run_tmux("send-keys", "-t", "irc", "-l", text)
        self.run_tmux("send-keys", "-t", "irc", "Enter")

    async def screen_shows(self, text: str) -> None:
        """A bounded wait until irssi's window (and its scrollback) shows ``text``."""
        screen = ""
        for _ in range(200):
            screen = self.run_tmux("capture-pane", "-p", "-t", "irc", "-S", "-200")
            if text in screen:
                return
            await deferLater(reactor, 0.05, lambda: None)
        raise AssertionError(f"irssi never showed {text!r}:\n{screen}")

    async def irc_port(self, process: Any) -> int:
        for _ in range(200):
            found = IRC_LISTENING.search(process.output)
            if found:
                return int(found.group(1))
            await deferLater(reactor, 0.05, lambda: None)
        raise AssertionError(f"no IRC port in {process.output!r}")

    async def test_irssi_and_a_json_client_talk_in_a_channel_and_privately(self) -> None:
        process = spawn_twistd(
            self, self.cwd, "-n", "--pidfile=", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off",
            "--irc-port", "tcp:0:interface=127.0.0.1", "--db", "memory",
        )
        port = await process.port
        irc_port = await self.irc_port(process)
        bot = await connect_line_client(port)
        self.addCleanup(bot.transport.loseConnection)
        bot.send_json(action="login", user="bot", id=1)
        await bot.wait_event("logged_in", re=1)
        bot.send_json(action="join", room="#dev", id=2)
        await bot.wait_event("ok", re=2)

        home = os.path.join(self.cwd, "irssi")
        self.run_tmux(
            "new-session", "-d", "-s", "irc", "-x", "200", "-y", "50",
            f"irssi --home={home} -c 127.0.0.1 -p {irc_port} -n alice",
        )
        self.addCleanup(lambda: subprocess.run([*self.tmux, "kill-server"], capture_output=True, timeout=10))
        await self.screen_shows("Welcome to tchat, alice")

        self.type("/join #dev")
        await bot.wait_event("join", room="#dev", user="alice")
        await self.screen_shows("@bot")

        self.type("hello from irssi")
        message = await bot.wait_event("message", to="#dev")
        self.assertEqual((message["from"], message["text"]), ("alice", "hello from irssi"))
        bot.send_json(action="msg", to="#dev", text="hello from json", id=3)
        await self.screen_shows("hello from json")

        self.type("/msg bot a private word")
        private = await bot.wait_event("message", to="bot")
        self.assertEqual((private["from"], private["kind"], private["text"]), ("alice", "private", "a private word"))
        bot.send_json(action="msg", to="alice", text="a private answer", id=4)
        # irssi puts it in a query window of its own.
        for _ in range(40):
            self.type("/window goto bot")
            screen = self.run_tmux("capture-pane", "-p", "-t", "irc", "-S", "-200")
            if "a private answer" in screen:
                break
            await deferLater(reactor, 0.05, lambda: None)
        await self.screen_shows("a private answer")

        self.type("/quit leaving now")
        quit_event = await bot.wait_event("quit", user="alice")
        self.assertEqual(quit_event["reason"], "quit: leaving now")
        self.assertNotIn(b"Traceback", process.output)
