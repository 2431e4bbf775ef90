"""
WeeChat end to end, driven in tmux against the installed ``twistd tchat``,
with a JSON client of the line door beside it: WeeChat logs in to an
account with SASL PLAIN under another nick (set up with the options
docs/irc.rst gives), joins the JSON user's room and sees its topic; the
two talk both ways, in the room and privately; WeeChat sees a mode set by
the room's op and is kicked by it. irssi's test (tests/test_irc_irssi.py)
has the helpers, and the guest's side.

Skipped when WeeChat or tmux is missing, except under CI (``.ci/run``
installs both), where it must run.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from twisted.internet.threads import deferToThread

from tests.helpers import connect_line_client
from tests.test_irc_irssi import BIN, TmuxCase
from tests.test_twistd import spawn_twistd


class WeechatTests(TmuxCase):
    programs = ("weechat", "tmux")
    window = "weechat"

    async def test_weechat_with_an_account_talks_with_a_json_client_and_sees_its_room(self) -> None:
        db = f"sqlite:{os.path.join(self.cwd, 'tchat.db')}"
        made = await deferToThread(
            subprocess.run, [os.path.join(BIN, "tchat-admin"), "--db", db, "create", "wendy", "--password-stdin"],
            input="correct horse\n", capture_output=True, text=True, timeout=30,
        )
        self.assertEqual(made.returncode, 0, made.stderr)
        process = spawn_twistd(
            self, self.cwd, "-n", "--pidfile=", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off",
            "--irc-port", "tcp:0:interface=127.0.0.1", "--db", db,
        )
        port = await process.port
        irc_port = await self.irc_port(process)
        bot = await connect_line_client(port)
        self.addCleanup(bot.transport.loseConnection)  # type: ignore[union-attr]
        bot.send_json(action="login", user="bot", id=1)
        await self.event(bot, "logged_in", re=1)
        bot.send_json(action="join", room="#dev", id=2)
        await self.event(bot, "ok", re=2)
        bot.send_json(action="topic", room="#dev", topic="welcome to dev", id=3)
        await self.event(bot, "ok", re=3)

        # The nick WeeChat asks for is not the account's: SASL makes it wendy.
        # No anti-flood wait (WeeChat 3.8's options; 4.x calls it anti_flood).
        commands = [
            "/set irc.server_default.anti_flood_prio_high 0", "/set irc.server_default.anti_flood_prio_low 0",
            f"/server add tchat 127.0.0.1/{irc_port}",
            "/set irc.server.tchat.nicks someone",
            "/set irc.server.tchat.sasl_mechanism plain",
            "/set irc.server.tchat.sasl_username wendy",
            '/set irc.server.tchat.sasl_password "correct horse"',
            "/set irc.server.tchat.autojoin #dev",
            "/connect tchat",
        ]
        home = os.path.join(self.cwd, "weechat")
        self.in_tmux("weechat", shlex.join(["weechat", "--dir", home, "--run-command", ";".join(commands)]))
        joined = await self.event(bot, "join", room="#dev", user="wendy")
        self.assertEqual(joined["user"], "wendy")
        await self.screen_shows('Topic for #dev is "welcome to dev"')
        await self.screen_shows("[wendy]")  # WeeChat's input bar: its nick

        self.type("hello from weechat")
        message = await self.event(bot, "message", to="#dev")
        self.assertEqual((message["from"], message["text"]), ("wendy", "hello from weechat"))
        bot.send_json(action="msg", to="#dev", text="hello from json", id=4)
        await self.screen_shows("bot | hello from json")
        self.type("/msg bot a private word")
        private = await self.event(bot, "message", to="bot")
        self.assertEqual((private["from"], private["kind"]), ("wendy", "private"))
        bot.send_json(action="msg", to="wendy", text="a private answer", id=5)
        await self.screen_shows("a private answer", before=lambda: self.type("/buffer bot"))
        self.type("/buffer #dev")

        bot.send_json(action="mode", room="#dev", set={"moderated": True}, id=6)
        await self.screen_shows("Mode #dev [+m] by bot")
        bot.send_json(action="kick", room="#dev", user="wendy", reason="that will do", id=7)
        await self.screen_shows("bot has kicked wendy (that will do)")
        self.assertNotIn(b"Traceback", process.output)
