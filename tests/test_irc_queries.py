"""The IRC door's questions about users: USER's username and realname in WHO, WHOX, WHOIS and WHOWAS; away seen at join."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.door.irc import IrcDoor
from tests.helpers import generous_limits, logged_in, request
from tests.test_irc_door import Irc, IrcTestCase


class IdentTests(IrcTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.cool = self.irc()
        self.cool.send("NICK coolNick", "USER myusername_long 0 * :My \x02Real\x02 Name", "JOIN #chan")
        self.assertIn("WHOX", " ".join(line for line in self.cool.take() if " 005 " in line))
        self.other = self.user("other", join="#chan")
        self.cool.take()

    def test_who_of_a_nick_a_mask_and_a_channel_show_username_realname_and_away(self) -> None:
        self.cool.send("AWAY :brb")
        self.cool.take()
        self.other.send("WHO coolnick")
        self.assertEqual(self.other.take(), [
            ":tchat 352 other * myusername tchat tchat coolNick G :0 My Real Name", ":tchat 315 other coolnick :End of WHO list",
        ])
        self.other.send("WHO cool*")
        self.assertEqual(self.other.take(), [
            ":tchat 352 other * myusername tchat tchat coolNick G :0 My Real Name", ":tchat 315 other cool* :End of WHO list",
        ])
        self.other.send("WHO #CHAN")
        self.assertEqual(self.other.take(), [
            ":tchat 352 other #chan myusername tchat tchat coolNick G@ :0 My Real Name",
            ":tchat 352 other #chan u tchat tchat other H :0 Real",
            ":tchat 315 other #CHAN :End of WHO list",
        ])

    def test_a_user_of_another_door_has_their_name_as_username_and_realname(self) -> None:
        json_user = logged_in(self.hub, "bot")
        self.hub.handle(json_user, request("join", room="#chan"))
        self.other.take()
        self.other.send("WHO bot", "WHOIS bot")
        lines = self.other.take()
        self.assertIn(":tchat 352 other * bot tchat tchat bot H :0 bot", lines)
        self.assertIn(":tchat 311 other bot bot tchat * :bot", lines)

    def test_whox_gives_the_fields_asked_in_its_order_with_the_token(self) -> None:
        self.other.send("WHO coolNick %tcuihsnfdlaor,123")
        self.assertEqual(self.other.take(), [
            ":tchat 354 other 123 * myusername 255.255.255.255 tchat tchat coolNick H 0 0 0 n/a :My Real Name",
            ":tchat 315 other coolNick :End of WHO list",
        ])
        self.other.send("WHO #chan %na")
        self.assertEqual(self.other.take(), [
            ":tchat 354 other coolNick :0", ":tchat 354 other other :0", ":tchat 315 other #chan :End of WHO list",
        ])
        self.other.send("WHO coolNick %n,99")
        self.assertEqual(self.other.take()[0], ":tchat 354 other :coolNick")

    def test_whois_shows_username_and_realname(self) -> None:
        self.other.send("WHOIS coolNick")
        self.assertEqual(self.other.take()[0], ":tchat 311 other coolNick myusername tchat * :My Real Name")

    def test_whowas_lists_each_time_a_nick_left_newest_first(self) -> None:
        self.cool.session.connectionLost(None)
        again = self.irc()
        again.send("NICK coolNick", "USER second 0 * :Second one")
        again.session.connectionLost(None)
        self.other.take()
        self.other.send("WHOWAS coolnick")
        lines = self.other.take()
        self.assertEqual([line.split(" ")[1] for line in lines], ["314", "312", "314", "312", "369"])
        self.assertEqual(lines[0], ":tchat 314 other coolNick second tchat * :Second one")
        self.assertEqual(lines[2], ":tchat 314 other coolNick myusername tchat * :My Real Name")
        self.other.send("WHOWAS coolNick 1", "WHOWAS nobody", "WHOWAS")
        self.assertEqual(self.other.numerics(), ["314", "312", "369", "406", "369", "431"])

    def test_whowas_forgets_nobody_still_connected(self) -> None:
        self.other.send("WHOWAS coolNick")
        self.assertEqual(self.other.numerics(), ["406", "369"])


class AwayAtJoinTests(IrcTestCase):
    def test_someone_already_away_who_joins_is_seen_away_with_away_notify(self) -> None:
        watcher = self.user("watcher", "away-notify", join="#chan")
        plain = self.user("plain", join="#chan")
        away = self.user("away", join=None)
        watcher.take()
        away.send("AWAY :gone fishing")
        away.take()
        away.send("JOIN #chan")
        self.assertEqual(watcher.take(), [":away!away@tchat JOIN #chan", ":away!away@tchat AWAY :gone fishing"])
        self.assertEqual(plain.take(), [":away!away@tchat JOIN #chan"])


class MoreAnswersTests(IrcTestCase):
    def test_whois_channels_carry_the_prefix_of_each(self) -> None:
        alice, bob = self.user("alice", join="#a"), self.user("bob", join="#a")
        alice.send("JOIN #b", "MODE #a +v bob")
        bob.send("JOIN #b")
        alice.take(), bob.take()
        alice.send("WHOIS alice", "WHOIS bob")
        lines = alice.take()
        self.assertIn(":tchat 319 alice alice :@#a @#b", lines)
        self.assertIn(":tchat 319 alice bob :+#a #b", lines)

    def test_op_or_kick_of_a_nick_nobody_has_is_401_and_of_someone_elsewhere_441(self) -> None:
        alice = self.user("alice", join="#a")
        self.user("bob", join="#b")
        alice.send("MODE #a +o nobody", "KICK #a nobody", "MODE #a +o bob", "KICK #a bob")
        self.assertEqual(alice.numerics(), ["401", "401", "441", "441"])

    def test_help_lists_the_commands_and_gives_the_usage_of_one(self) -> None:
        alice = self.user("alice", join=None)
        alice.send("HELP")
        lines = alice.take()
        self.assertEqual([line.split(" ")[1] for line in lines][0], "704")
        self.assertEqual([line.split(" ")[1] for line in lines][-1], "706")
        self.assertIn("PRIVMSG", " ".join(lines))
        alice.send("HELPOP privmsg", "HELP FROB")
        self.assertEqual(alice.take(), [
            ":tchat 704 alice PRIVMSG :PRIVMSG <target>{,<target>} :<text>: a message to channels or nicks (up to 4)",
            ":tchat 706 alice PRIVMSG :End of /HELP",
            ":tchat 524 alice FROB :No help for that: HELP lists the commands",
        ])

    def test_kick_of_channel_and_nick_pairs(self) -> None:
        alice = self.user("alice", join="#a,#b")
        bob = self.user("bob", join="#a,#b")
        alice.take()
        alice.send("KICK #a,#b bob,bob :out")
        self.assertEqual(alice.take(), [":alice!alice@tchat KICK #a bob :out", ":alice!alice@tchat KICK #b bob :out"])
        alice.send("KICK #a,#b bob")
        self.assertEqual(alice.numerics(), ["461"])
        self.assertEqual(bob.session.channels, {})

    def test_ison_names_who_is_online(self) -> None:
        alice = self.user("alice", join=None)
        logged_in(self.hub, "Bob")
        alice.send("ISON bob nobody alice", "ISON :bob carol")
        self.assertEqual(alice.take(), [":tchat 303 alice :Bob alice", ":tchat 303 alice :Bob"])


class BatchedHubTests(TestCase):
    """On the server the hub delivers each turn's answers at the turn's end (Hub(batch=True)):
    what an answer asks next (the names after a JOIN, the whois of each user WHO matched)
    still comes before the PONG of a PING sent after it."""

    def test_follow_ups_of_an_answer_come_before_a_later_pong(self) -> None:
        clock = Clock()
        clock.advance(1_000_000)
        hub = Hub(HubConfig(lobby=None), clock, batch=True)
        door = IrcDoor(hub, generous_limits(sendq=100_000), clock)
        alice, bob = Irc(door, 40000), Irc(door, 40001)

        def turns() -> list[str]:
            for _ in range(10):
                clock.advance(0)
            return [line.split(" ", 2)[1] for line in bob.take()]

        alice.send("NICK alice", "USER a 0 * :A")
        bob.send("NICK bob", "USER b 0 * :B")
        turns()
        alice.send("JOIN #chan")
        turns()
        bob.send("JOIN #chan", "PING :j")
        self.assertEqual(turns(), ["JOIN", "353", "366", "PONG"])
        bob.send("WHO a*", "PING :w")
        self.assertEqual(turns(), ["352", "315", "PONG"])


class InvisibleTests(IrcTestCase):
    def test_who_of_a_mask_leaves_out_invisible_clients_unless_they_share_a_channel(self) -> None:
        evan = self.user("evan", join=None)
        evan.send("MODE evan +i")
        evan.take()
        shiv = self.user("shivaram", join=None)
        shiv.send("WHO eva*")
        self.assertEqual(shiv.numerics(), ["315"])
        # The nick itself is shown; and evan sees itself.
        shiv.send("WHO evan")
        self.assertEqual(shiv.numerics(), ["352", "315"])
        evan.send("WHO eva*")
        self.assertEqual(evan.numerics(), ["352", "315"])
        evan.send("JOIN #test")
        shiv.send("JOIN #test")
        shiv.take()
        shiv.send("WHO eva*")
        self.assertEqual(shiv.numerics(), ["352", "315"])
        # Back to visible: shown to anyone.
        evan.send("PART #test", "MODE evan -i")
        other = self.user("other", join=None)
        other.send("WHO eva*")
        self.assertEqual(other.numerics(), ["352", "315"])
