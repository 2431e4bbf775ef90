"""The IRC door's MONITOR (IRCv3 monitor and extended-monitor), on StringTransports in front of a real hub."""

from __future__ import annotations

from tests.helpers import logged_in, request
from tests.test_irc_door import IrcTestCase


class MonitorTests(IrcTestCase):
    def test_isupport_and_cap_ls_announce_it(self) -> None:
        client = self.irc()
        client.send("CAP LS 302")
        self.assertIn("extended-monitor", client.take()[0])
        client.send("NICK foo", "USER u 0 * :Real", "CAP END")
        self.assertTrue(any("MONITOR=100" in line for line in client.take() if " 005 " in line))

    def test_adding_answers_730_and_731_then_news_come_as_they_happen(self) -> None:
        foo = self.user("foo", join=None)
        bar = self.user("Bar", join=None)
        foo.send("MONITOR + bar,baz")
        self.assertEqual(foo.take(), [":tchat 730 foo :Bar!Bar@tchat", ":tchat 731 foo :baz"])
        baz = self.user("baz", join=None)
        self.assertEqual(foo.take(), [":tchat 730 foo :baz!baz@tchat"])
        bar.send("QUIT :bye")
        self.assertEqual(foo.take(), [":tchat 731 foo :Bar"])
        foo.send("MONITOR - baz")
        self.assertEqual(foo.take(), [])
        baz.send("QUIT")
        self.assertEqual(foo.take(), [])

    def test_list_status_and_clear(self) -> None:
        foo = self.user("foo", join=None)
        self.user("bar", join=None)
        foo.send("MONITOR L")
        self.assertEqual(foo.take(), [":tchat 733 foo :End of MONITOR list"])
        foo.send("MONITOR + bar,qux", "MONITOR L")
        self.assertEqual(foo.take()[2:], [":tchat 732 foo :bar,qux", ":tchat 733 foo :End of MONITOR list"])
        foo.send("MONITOR S")
        self.assertEqual(foo.take(), [":tchat 730 foo :bar!bar@tchat", ":tchat 731 foo :qux"])
        foo.send("MONITOR C", "MONITOR L")
        self.assertEqual(foo.take(), [":tchat 733 foo :End of MONITOR list"])

    def test_a_nick_change_is_the_old_nick_leaving_and_the_new_one_coming(self) -> None:
        bar = self.user("bar", join=None)
        baz = self.user("baz", join=None)
        bar.send("MONITOR + qux")
        bar.take()
        baz.send("NICK qux")
        self.assertEqual(bar.take(), [":tchat 730 bar :qux!qux@tchat"])
        baz.send("NICK QUX")
        self.assertEqual(bar.take(), [])
        baz.send("NICK bazbat")
        self.assertEqual(bar.take(), [":tchat 731 bar :QUX"])

    def test_masks_are_refused_and_bad_subcommands_answered(self) -> None:
        foo = self.user("foo", join=None)
        foo.send("MONITOR + *!username@localhost", "MONITOR", "MONITOR +", "MONITOR X")
        self.assertEqual(foo.numerics(), ["432", "461", "461", "421"])
        self.user("username", join=None)
        self.assertEqual(foo.take(), [])

    def test_a_full_list_is_734_and_nothing_is_added(self) -> None:
        self.hub.config.max_watch = 2
        foo = self.user("foo", join=None)
        foo.send("MONITOR + a1,a2", "MONITOR + a3,a4")
        lines = foo.take()
        self.assertEqual(lines[-1], ":tchat 734 foo 2 a3,a4 :Monitor list is full.")
        foo.send("MONITOR L")
        self.assertEqual(foo.take()[0], ":tchat 732 foo :a1,a2")

    def test_news_of_users_of_other_doors(self) -> None:
        foo = self.user("foo", join=None)
        foo.send("MONITOR + web")
        foo.take()
        web = logged_in(self.hub, "web")
        self.assertEqual(foo.take(), [":tchat 730 foo :web!web@tchat"])
        self.hub.handle(web, request("quit"))
        self.assertEqual(foo.take(), [":tchat 731 foo :web"])

    def test_away_of_a_watched_nick_needs_extended_monitor_and_away_notify(self) -> None:
        both = self.user("both", "extended-monitor", "away-notify", join=None)
        plain = self.user("plain", "away-notify", join=None)
        sharer = self.user("sharer", "extended-monitor", "away-notify", join="#c")
        bar = self.user("bar", join="#c")
        for watcher in (both, plain, sharer):
            watcher.send("MONITOR + bar")
            watcher.take()
        bar.send("AWAY :afk")
        self.assertEqual(both.take(), [":bar!bar@tchat AWAY :afk"])
        self.assertEqual(plain.take(), [])
        # Sharing #c, told once (away-notify).
        self.assertEqual(sharer.take(), [":bar!bar@tchat AWAY :afk"])
        bar.send("AWAY")
        self.assertEqual(both.take(), [":bar!bar@tchat AWAY"])
