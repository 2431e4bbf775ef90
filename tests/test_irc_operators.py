"""IRC operators are tchat's admins: OPER with the admin password, user mode o, KILL, WHO's * and WHOIS's 313; and INFO."""

from __future__ import annotations

from tests.helpers import logged_in
from tests.test_irc_door import IrcTestCase


class OperTests(IrcTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.hub.config.admin_password = "operpassword"

    def test_oper_with_the_admin_password_makes_an_admin_with_user_mode_o(self) -> None:
        alice = self.user("alice")
        alice.send("OPER anyname wrong", "OPER anyname")
        self.assertEqual(alice.numerics(), ["464", "461"])
        alice.send("OPER anyname operpassword")
        self.assertEqual(alice.take(), [":tchat 381 alice :You are now an IRC operator (a tchat admin)", ":alice MODE alice +o"])
        alice.send("MODE alice", "MODE alice -o", "MODE alice")
        self.assertEqual(alice.take(), [":tchat 221 alice :+o", ":tchat 221 alice :+o"])
        bob = self.user("bob")
        bob.send("WHO alice", "WHOIS alice")
        lines = bob.take()
        self.assertIn(":tchat 352 bob * u tchat tchat alice H* :0 Real", lines)
        self.assertIn(":tchat 313 bob alice :is an IRC operator (a tchat admin)", lines)

    def test_kill_is_for_operators_and_puts_the_user_out(self) -> None:
        alice, bob = self.user("alice"), self.user("bob")
        json_user = logged_in(self.hub, "carol")
        bob.send("KILL alice :go", "KILL nobody")
        self.assertEqual(bob.numerics(), ["481", "481"])
        alice.send("OPER x operpassword")
        alice.take()
        alice.send("KILL nobody", "KILL bob :spam")
        self.assertEqual(alice.numerics(), ["401"])
        self.assertIsNone(self.hub.user_of(bob.session))
        self.assertTrue(bob.transport.disconnecting)
        self.assertIn("kicked by alice: spam", [e["reason"] for e in json_user.of("quit")][0])

    def test_without_an_admin_password_oper_is_491(self) -> None:
        self.hub.config.admin_password = None
        alice = self.user("alice")
        alice.send("OPER x y")
        self.assertEqual(alice.numerics(), ["491"])

    def test_info_is_371_lines_then_374(self) -> None:
        alice = self.user("alice")
        alice.send("INFO")
        self.assertEqual(alice.numerics(), ["371", "371", "374"])


class BotModeTests(IrcTestCase):
    def test_a_client_in_user_mode_b_is_a_bot_to_this_doors_clients(self) -> None:
        bot = self.user("bot", "message-tags", "echo-message", join="#chan")
        user, plain = self.user("user", "message-tags", join="#chan"), self.user("plain", join="#chan")
        bot.take(), user.take()
        self.assertIn("BOT=B", " ".join(line for line in self.irc_welcome() if " 005 " in line))
        bot.send("MODE bot +B", "MODE bot")
        self.assertEqual(bot.take(), [":bot MODE bot +B", ":tchat 221 bot :+B"])
        bot.send("PRIVMSG #chan :beep", "PRIVMSG user :boop")
        echoes = bot.take()
        self.assertTrue(all(line.startswith("@bot;msgid=") for line in echoes), echoes)
        self.assertRegex(user.take()[0], r"^@bot;msgid=\S+ :bot!bot@tchat PRIVMSG #chan :beep$")
        self.assertEqual(plain.take(), [":bot!bot@tchat PRIVMSG #chan :beep"])
        user.send("WHO #chan", "WHOIS bot")
        lines = user.take()
        self.assertIn(":tchat 352 user #chan u tchat tchat bot HB@ :0 Real", lines)
        self.assertIn(":tchat 335 user bot :is a bot", lines)
        bot.send("MODE bot -B")
        bot.take()
        bot.send("PRIVMSG #chan :human now")
        self.assertRegex(user.take()[0], r"^@msgid=\S+ :bot!bot@tchat PRIVMSG #chan :human now$")

    def irc_welcome(self) -> list[str]:
        client = self.irc()
        client.send("NICK other", "USER u 0 * :R")
        return client.take()
