"""
What real IRC clients send, and what they need back, found by driving irssi
and WeeChat against the door (docs/irc.rst, "Clients checked by hand"),
on a StringTransport.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tchat.door.irc.modes import parse_ban
from tests.test_irc_door import IrcTestCase


class BanMaskTests(TestCase):
    def test_the_masks_that_name_one_user_are_that_name(self) -> None:
        for mask in ("bob", "bob!*", "bob!*@*", "*!bob@tchat", "*!*bob@tchat", "*!~bob@tchat", "bob!bob@*",
                     "Bob!bob@TCHAT", "*!bob@*", "*!bob@t*", "*!bob", "bob!*@tch?t"):
            self.assertEqual(parse_ban(mask, "tchat"), "bob" if mask[0] != "B" else "Bob", mask)
        self.assertEqual(parse_ban("*!*zoë@*.example.org", "chat.example.org"), "zoë")

    def test_masks_of_no_name_of_two_names_of_patterns_or_of_another_host_are_refused(self) -> None:
        for mask in ("*", "*!*@*", "*!*@tchat", "*!*@10.0.0.1", "bob!carol@tchat", "b*!*@*", "*!b?b@tchat",
                     "*!bob@elsewhere", "*!bob@*.example.org", "bob!*@*.tchat", "!@", "*!**@*"):
            self.assertIsNone(parse_ban(mask, "tchat"), mask)


class ClientModeTests(IrcTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.alice, self.bob = self.user("alice"), self.user("bob")
        self.alice.send("JOIN #dev")
        self.bob.send("JOIN #dev")
        self.alice.take(), self.bob.take()

    def test_weechats_and_irssis_ban_masks_ban_the_name(self) -> None:
        # WeeChat's /ban bob sends *!bob@tchat; irssi's *!*bob@tchat.
        self.alice.send("MODE #dev +b *!bob@tchat")
        expected = [":alice!alice@tchat MODE #dev +b bob!*@*", ":alice!alice@tchat KICK #dev bob :banned"]
        self.assertEqual(self.alice.take(), expected)
        self.assertEqual(self.bob.take(), expected)
        self.bob.send("JOIN #dev")
        self.assertEqual(self.bob.numerics(), ["474"])
        self.alice.send("MODE #dev -b *!*bob@tchat")
        self.assertEqual(self.alice.take(), [":alice!alice@tchat MODE #dev -b bob!*@*"])
        self.bob.send("JOIN #dev")
        self.assertIn(":bob!bob@tchat JOIN #dev", self.bob.take())
        # HexChat's default (*!*@host) would ban everyone: refused, saying how.
        self.alice.take()
        self.alice.send("MODE #dev +b *!*@tchat")
        self.assertEqual(self.alice.take(), [":tchat NOTICE alice :tchat bans by name: MODE #dev +b NICK (not *!*@tchat)"])

    def test_a_key_removed_is_minus_k_with_its_parameter(self) -> None:
        # k takes a parameter both ways (CHANMODES=b,k,l,imnt): a client reading
        # a bare -k would take the next mode's parameter for it.
        self.alice.send("MODE #dev +k sesame", "MODE #dev -k", "MODE #dev +k sesame", "MODE #dev -kl+m sesame")
        self.assertEqual(self.alice.take(), [
            ":alice!alice@tchat MODE #dev +k sesame", ":alice!alice@tchat MODE #dev -k *",
            ":alice!alice@tchat MODE #dev +k sesame", ":alice!alice@tchat MODE #dev -kl+m *",
        ])
        self.assertEqual(self.bob.take(), [
            ":alice!alice@tchat MODE #dev +k *", ":alice!alice@tchat MODE #dev -k *",
            ":alice!alice@tchat MODE #dev +k *", ":alice!alice@tchat MODE #dev -kl+m *",
        ])
