"""NOTICE is its own kind of message through the hub: NOTICE to IRC users, a notice to others, never an automatic reply."""

from __future__ import annotations

from tchat.codec import render_text
from tests.helpers import logged_in, request
from tests.test_irc_door import IrcTestCase


class NoticeTests(IrcTestCase):
    def test_a_notice_reaches_irc_users_as_notice_and_others_as_a_notice(self) -> None:
        alice, carol = self.user("alice", "echo-message"), self.user("carol")
        bob = logged_in(self.hub, "bob")
        alice.take(), carol.take()
        alice.send("NOTICE #lobby :heads up", "NOTICE carol :psst", "NOTICE bob :for you")
        self.assertEqual(alice.take(), [
            ":alice!alice@tchat NOTICE #lobby :heads up", ":alice!alice@tchat NOTICE carol :psst", ":alice!alice@tchat NOTICE bob :for you",
        ])
        self.assertEqual(carol.take(), [":alice!alice@tchat NOTICE #lobby :heads up", ":alice!alice@tchat NOTICE carol :psst"])
        events = bob.of("message")
        self.assertEqual([(e["to"], e["kind"], e.get("notice")) for e in events], [("#lobby", "public", True), ("bob", "private", True)])
        self.assertEqual(render_text(events[0]), ["[#lobby] -~alice- heads up"])
        # And from a JSON program, to IRC.
        self.hub.handle(bob, request("msg", to="#lobby", text="noted", kind="notice"))
        self.assertEqual(carol.take(), [":bob!bob@tchat NOTICE #lobby :noted"])

    def test_a_notice_to_someone_away_gets_no_away_reply(self) -> None:
        alice, carol = self.user("alice"), self.user("carol")
        carol.send("AWAY :out")
        carol.take(), alice.take()
        alice.send("NOTICE carol :psst", "PRIVMSG carol :hello")
        self.assertEqual(alice.numerics(), ["301"])
        bob = logged_in(self.hub, "bob")
        self.hub.handle(bob, request("msg", to="carol", text="n", kind="notice"))
        ok = bob.last()
        self.assertEqual((ok.name, ok.get("away")), ("ok", None))
        self.assertNotIn("away", ok.get("text") or "")
