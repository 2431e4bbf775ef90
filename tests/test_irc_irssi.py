"""
A real IRC client end to end: irssi, driven in tmux, against the installed
``twistd tchat``:

* as a guest, with a JSON client of the line door: connect, join, messages
  in a channel both ways, private messages both ways;
* with an account through SASL PLAIN (set up with the commands
  docs/irc.rst gives), with a person on the page in headless Chromium and
  one in ``tchat-client`` (in tmux too): messages every way, private
  messages both ways, a topic and modes set by others, and irssi as the
  room's operator kicking and banning the ``tchat-client`` user.

The test runs in the reactor: screens are polled (capture-pane) with
bounded waits that sleep with ``deferLater``, the browser's blocking calls
run in a thread (``deferToThread``). Skipped when irssi, tmux or the
browser is missing, except under CI (``.ci/run`` installs them all), where
it must run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from tests.helpers import LineClient, connect_line_client
from tests.test_browser import Page, require_browser
from tests.test_twistd import spawn_twistd, web_port_of

IRC_LISTENING = re.compile(rb"tchat irc listening on \S+ \(port (\d+)\)")
BIN = os.path.dirname(sys.executable)
TICK = 0.05  # seconds between two looks at a screen
TICKS = 200  # looks before a wait fails: 10 s


def _running(pid: str) -> bool:
    """Whether process ``pid`` is there and not a zombie (an exited child nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class TmuxCase(TestCase):
    """Programs on terminals of a tmux server of the test's own, and bounded waits on their screens."""

    timeout = 90
    programs = ("irssi", "tmux")  # what the test runs: CI must have them (.ci/run installs them)
    window = "irssi"  # the tmux window typed into and looked at unless another is named

    def setUp(self) -> None:
        missing = [p for p in self.programs if not shutil.which(p)]
        if missing:
            if os.environ.get("CI"):
                raise AssertionError(f"CI must have {' and '.join(missing)} (.ci/run installs them)")
            raise SkipTest(f"{' and '.join(missing)} not installed")
        folder = tempfile.TemporaryDirectory(prefix="tchat-tmux-")
        self.addCleanup(folder.cleanup)
        self.cwd = folder.name
        # A tmux server of this test's own, so nothing else's sessions are touched.
        self.tmux = ["tmux", "-L", f"tchat-test-{os.getpid()}", "-f", "/dev/null"]

    def run_tmux(self, *args: str) -> str:
        return subprocess.run([*self.tmux, *args], check=True, capture_output=True, text=True, timeout=10).stdout

    def in_tmux(self, window: str, command: str) -> None:
        """Run ``command`` in a new tmux window called ``window`` (the first one starts the session)."""
        if not hasattr(self, "tmux_started"):
            self.tmux_started = True
            self.run_tmux("new-session", "-d", "-s", "t", "-n", window, "-x", "200", "-y", "60", command)
            self.addCleanup(lambda: defer.Deferred.fromCoroutine(self.stop_tmux()))
        else:
            self.run_tmux("new-window", "-d", "-t", "t:", "-n", window, command)

    async def stop_tmux(self) -> None:
        """
        End the tmux server and wait (bounded) until the programs in it have
        exited: WeeChat writes its files as it goes, and the test's folder
        is removed after this.
        """
        # Gone already when its last program has exited (irssi after /quit).
        listed = subprocess.run([*self.tmux, "list-panes", "-a", "-F", "#{pane_pid}"], capture_output=True, text=True, timeout=10)
        panes = listed.stdout.split()
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, timeout=10)
        for _ in range(TICKS):
            if not [pid for pid in panes if _running(pid)]:
                return
            await deferLater(reactor, TICK, lambda: None)

    def type(self, text: str, window: str | None = None) -> None:
        """Type ``text`` and Enter in ``window``."""
        target = f"t:{window or self.window}"
        self.run_tmux("send-keys", "-t", target, "-l", text)
        self.run_tmux("send-keys", "-t", target, "Enter")

    def screen(self, window: str | None = None) -> str:
        return self.run_tmux("capture-pane", "-p", "-t", f"t:{window or self.window}", "-S", "-200")

    async def screen_shows(
        self, text: str, window: str | None = None, count: int = 1, before: Callable[[], Any] = lambda: None
    ) -> str:
        """
        A bounded wait until ``window`` (and its scrollback) shows ``text``
        (``count`` times); ``before`` is done before each look. The screen
        it was found on.
        """
        screen = ""
        for _ in range(TICKS):
            before()
            screen = self.screen(window)
            if screen.count(text) >= count:
                return screen
            await deferLater(reactor, TICK, lambda: None)
        raise AssertionError(f"{window or self.window} never showed {text!r}:\n{screen}")

    async def query_shows(self, nick: str, text: str) -> None:
        """irssi puts a private message in a query window of its own: go there until it shows ``text``."""
        await self.screen_shows(text, before=lambda: self.type(f"/window goto {nick}"))

    async def page_shows(self, page: Page, text: str) -> None:
        """A bounded wait (in a thread: selenium blocks) until the open conversation on ``page`` shows ``text``."""

        def wait() -> None:
            try:
                page.wait_message(text)
            except Exception as e:
                raise AssertionError(f"the page never showed {text!r}:\n{page.messages()}") from e

        await deferToThread(wait)

    async def event(self, client: LineClient, name: str, **fields: Any) -> dict[str, Any]:
        """A bounded wait for the JSON client's next event ``name`` with ``fields``."""
        try:
            return await client.wait_event(name, **fields).addTimeout(TICK * TICKS, reactor)
        except defer.TimeoutError:
            raise AssertionError(f"no {name} {fields} among:\n" + "\n".join(client.lines[-20:])) from None

    async def irc_port(self, process: Any) -> int:
        for _ in range(TICKS):
            found = IRC_LISTENING.search(process.output)
            if found:
                return int(found.group(1))
            await deferLater(reactor, TICK, lambda: None)
        raise AssertionError(f"no IRC port in {process.output!r}")


class IrssiTests(TmuxCase):

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
        await self.event(bot, "logged_in", re=1)
        bot.send_json(action="join", room="#dev", id=2)
        await self.event(bot, "ok", re=2)

        home = os.path.join(self.cwd, "irssi")
        self.in_tmux("irssi", f"irssi --home={home} -c 127.0.0.1 -p {irc_port} -n alice")
        await self.screen_shows("Welcome to tchat, alice")

        self.type("/join #dev")
        await self.event(bot, "join", room="#dev", user="alice")
        await self.screen_shows("@bot")

        self.type("hello from irssi")
        message = await self.event(bot, "message", to="#dev")
        self.assertEqual((message["from"], message["text"]), ("alice", "hello from irssi"))
        bot.send_json(action="msg", to="#dev", text="hello from json", id=3)
        await self.screen_shows("hello from json")

        self.type("/msg bot a private word")
        private = await self.event(bot, "message", to="bot")
        self.assertEqual((private["from"], private["kind"], private["text"]), ("alice", "private", "a private word"))
        bot.send_json(action="msg", to="alice", text="a private answer", id=4)
        await self.query_shows("bot", "a private answer")

        self.type("/quit leaving now")
        quit_event = await self.event(bot, "quit", user="alice")
        self.assertEqual(quit_event["reason"], "quit: leaving now")
        self.assertNotIn(b"Traceback", process.output)


class IrssiMeetsEveryDoorTests(TmuxCase):
    """irssi with an account, a browser user (bob) and a tchat-client user (carol) in one room."""

    timeout = 120

    def setUp(self) -> None:
        super().setUp()
        require_browser(self)

    async def test_irssi_with_an_account_talks_with_a_browser_and_a_terminal_and_runs_the_room(self) -> None:
        db = f"sqlite:{os.path.join(self.cwd, 'tchat.db')}"
        made = await deferToThread(
            subprocess.run, [os.path.join(BIN, "tchat-admin"), "--db", db, "create", "alice", "--password-stdin"],
            input="correct horse\n", capture_output=True, text=True, timeout=30,
        )
        self.assertEqual((made.returncode, made.stdout), (0, "created alice\n"), made.stderr)
        process = spawn_twistd(
            self, self.cwd, "-n", "--pidfile=", "tchat", "--port", "tcp:0:interface=127.0.0.1",
            "--web-port", "tcp:0:interface=127.0.0.1", "--irc-port", "tcp:0:interface=127.0.0.1", "--db", db,
        )
        port = await process.port
        irc_port, web_port = await self.irc_port(process), await web_port_of(process)
        # The browser starts in a thread while irssi connects.
        page_made = deferToThread(Page, self, f"http://127.0.0.1:{web_port}/")

        # irssi's own nick is not the account's: SASL makes it alice.
        # cmd_queue_speed 0: irssi sends at once instead of one line per 2.2 s.
        home = os.path.join(self.cwd, "irssi")
        self.in_tmux("irssi", f"irssi --home={home} -n someone")
        await self.screen_shows("Irssi v")
        self.type("/set cmd_queue_speed 0")
        # The commands docs/irc.rst gives.
        self.type('/network add -sasl_mechanism plain -sasl_username alice -sasl_password "correct horse" tchat')
        self.type(f"/server add -network tchat 127.0.0.1 {irc_port}")
        self.type("/connect tchat")
        await self.screen_shows("Welcome to tchat, alice")
        screen = await self.screen_shows("[alice(+i)]")
        self.assertIn("SASL authentication succeeded", screen)
        self.type("/join #dev")
        await self.screen_shows("Total of 1 nicks [1 ops")

        bob = await page_made
        await deferToThread(bob.login, "bob")
        await deferToThread(bob.say, "/join #dev")
        await deferToThread(bob.until, lambda d: bob.by_id("conv-title").text == "#dev", "bob in #dev")
        await self.screen_shows("bob [bob@tchat] has joined #dev")

        self.in_tmux("carol", f"env NO_COLOR=1 {os.path.join(BIN, 'tchat-client')} 127.0.0.1 {port} --name carol")
        await self.screen_shows("You are carol.", "carol")
        self.type("/join #dev", "carol")
        await self.screen_shows("you joined #dev; in it: @alice, bob, carol", "carol")
        await self.screen_shows("carol [carol@tchat] has joined #dev")

        # In the room, every way: alice is an account, shown without the guests' ~.
        self.type("hello from irssi")
        await self.screen_shows("[#dev] <@alice> hello from irssi", "carol")
        await self.page_shows(bob, "alice hello from irssi")
        await deferToThread(bob.say, "hello from the browser")
        await self.screen_shows("< bob> hello from the browser")
        await self.screen_shows("[#dev] <~bob> hello from the browser", "carol")
        self.type("hello from the terminal", "carol")
        await self.screen_shows("< carol> hello from the terminal")
        await self.page_shows(bob, "~carol hello from the terminal")

        # Privately, both ways with carol; the browser writes to alice too.
        self.type("/msg carol psst carol")
        await self.screen_shows("[private] <alice> psst carol", "carol")
        self.type("/msg alice psst alice", "carol")
        await self.query_shows("carol", "<carol> psst alice")
        await deferToThread(bob.say, "/msg alice from the page to you")
        await self.query_shows("bob", "<bob> from the page to you")
        self.type("/msg bob and back to the page")
        await self.page_shows(bob, "and back to the page")
        self.type("/window goto #dev")
        await deferToThread(bob.open, "#dev")

        # Operators, a topic and modes set by others, seen in irssi.
        self.type("/op bob carol")
        # One hub request each, so one MODE line each.
        await self.screen_shows("mode/#dev [+o bob] by alice")
        await self.screen_shows("mode/#dev [+o carol] by alice")
        await self.screen_shows("alice made you an operator of #dev", "carol")
        await deferToThread(bob.say, "/topic release on friday")
        await self.screen_shows("bob changed the topic of #dev to: release on friday")
        self.type("/mode +m", "carol")
        await self.screen_shows("mode/#dev [+m] by carol")
        self.type("/voice alice", "carol")
        await self.screen_shows("mode/#dev [+v alice] by carol")
        self.type("/topic")
        await self.screen_shows("Topic set by bob [bob@tchat]")
        self.type("/mode #dev")
        await self.screen_shows("mode/#dev [+mtn]")

        # alice made #dev: she kicks carol (an op, but not its owner) and then bans her.
        self.type("/kick carol behave")
        await self.screen_shows("carol was kicked from #dev by alice [behave]")
        await self.screen_shows("You were put out of #dev by alice (behave)", "carol")
        self.type("/join #dev", "carol")
        await self.screen_shows("carol [carol@tchat] has joined #dev", count=2)
        # irssi's /ban makes *!*carol@tchat of carol's mask: tchat bans the name.
        self.type("/ban carol")
        await self.screen_shows("mode/#dev [+b carol!*@*] by alice")
        await self.screen_shows("You were banned from #dev by alice", "carol")
        self.type("/join #dev", "carol")
        await self.screen_shows("!!! you are banned from #dev", "carol")
        await self.page_shows(bob, "alice banned carol from #dev, for good")

        self.type("/quit see you")
        await self.page_shows(bob, "alice left (quit: see you)")
        self.assertEqual(await deferToThread(bob.errors), [])
        self.assertNotIn(b"Traceback", process.output)
