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


class WallopsTests(OperTests):
    def test_wallops_is_for_operators_and_reaches_every_admin_only(self) -> None:
        from tests.helpers import request

        nick1, nick2, nick3 = self.user("nick1", join=None), self.user("nick2", join=None), self.user("nick3", join=None)
        nick2.send("WALLOPS :hi")
        self.assertEqual(nick2.take(), [":tchat 481 nick2 :Permission Denied- You're not an IRC operator"])
        nick1.send("OPER x operpassword")
        nick1.take()
        web_admin = logged_in(self.hub, "webadmin")
        self.hub.handle(web_admin, request("admin", password="operpassword"))
        web_admin.clear()
        nick1.send("WALLOPS :hi \x02everyone\x02")
        # The sender is an admin too: it gets it, as every admin does; nobody else.
        self.assertEqual(nick1.take(), [":nick1!nick1@tchat WALLOPS :hi everyone"])
        self.assertEqual((nick2.take(), nick3.take()), ([], []))
        self.assertEqual([(e["from"], e["text"]) for e in web_admin.of("wallops")], [("nick1", "hi everyone")])
        # A long one is several lines, each within 512 bytes (take checks).
        self.hub.handle(web_admin, request("wallops", text="é" * 399))
        self.assertEqual([line.split(" ")[:2] for line in nick1.take()], [[":webadmin!webadmin@tchat", "WALLOPS"]] * 2)
        from tchat.sentences import ok_text

        self.assertEqual(ok_text(web_admin.last("ok")), "sent to 2 admin connections")
        self.hub.handle(web_admin, request("wallops", text="x" * 401))
        self.assertEqual(web_admin.last()["code"], "bad_request")
        nick1.send("WALLOPS :")
        self.assertEqual(nick1.numerics(), ["412"])
