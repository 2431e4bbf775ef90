"""Client tags through the hub: +tags on PRIVMSG and TAGMSG reach IRC clients with message-tags, nobody else; the hub's tagmsg."""

from __future__ import annotations

from tchat.codec import render_text
from tchat.commands import BadRequest, parse_json
from tests.helpers import logged_in, request
from tests.test_irc_door import IrcTestCase


class ClientTagTests(IrcTestCase):
    def test_client_tags_on_a_privmsg_reach_message_tags_clients_only(self) -> None:
        alice = self.user("alice", "message-tags", "echo-message")
        bob, carol = self.user("bob", "message-tags"), self.user("carol")
        json_user = logged_in(self.hub, "json")
        alice.take(), bob.take(), carol.take()
        alice.send("@+draft/reply=x1;+example=a\\sb;server=no PRIVMSG #lobby :hi")
        echo, = alice.take()
        relayed, = bob.take()
        self.assertRegex(relayed, r"^@\+draft/reply=x1;\+example=a\\sb;msgid=[^; ]+ :alice!alice@tchat PRIVMSG #lobby :hi$")
        self.assertEqual(echo, relayed)
        self.assertEqual(carol.take(), [":alice!alice@tchat PRIVMSG #lobby :hi"])
        self.assertEqual(json_user.of("message")[0]["tags"], {"+draft/reply": "x1", "+example": "a b"})

    def test_tagmsg_reaches_message_tags_clients_and_shows_nothing_elsewhere(self) -> None:
        alice = self.user("alice", "message-tags", "echo-message", "labeled-response")
        bob, carol = self.user("bob", "message-tags"), self.user("carol")
        json_user = logged_in(self.hub, "json")
        alice.take(), bob.take(), carol.take()
        alice.send("@label=l1;+typing=active TAGMSG #lobby", "@+typing=active TAGMSG bob")
        echoes = alice.take()
        self.assertRegex(echoes[0], r"^@label=l1;\+typing=active;msgid=[^; ]+ :alice!alice@tchat TAGMSG #lobby$")
        self.assertEqual(len(bob.take()), 2)
        self.assertEqual(carol.take(), [])
        event = json_user.of("tagmsg")[0]
        self.assertEqual((event["from"], event["to"], event["tags"]), ("alice", "#lobby", {"+typing": "active"}))
        self.assertEqual(render_text(event), [])
        # Nothing tchat can carry: nothing sent, nothing answered.
        alice.send("TAGMSG #lobby", "@server=x TAGMSG #lobby")
        self.assertEqual(alice.take(), [])
        self.assertEqual(len(json_user.of("tagmsg")), 1)
        alice.send("@+typing=active TAGMSG #nowhere", "@+typing=active TAGMSG nobody")
        self.assertEqual(alice.numerics(), ["403", "401"])

    def test_a_json_program_sends_tagmsg_and_tags_are_checked(self) -> None:
        bob = self.user("bob", "message-tags")
        json_user = logged_in(self.hub, "json")
        bob.take()
        self.hub.handle(json_user, request("tagmsg", to="#lobby", tags={"+draft/react": "👍"}))
        self.assertEqual(json_user.last().name, "ok")
        self.assertRegex(bob.take()[0], r"^@\+draft/react=👍;msgid=[^; ]+ :json!json@tchat TAGMSG #lobby$")
        for bad, why in [
            ('{"+a": 1}', "text"), ('{"server": "x"}', "not a client tag name"), ("{}", "an object"),
            ('{"+a": "' + "x" * 5000 + '"}', "4094"), ('{"+a": "\\u001b"}', "control"), ('"+a"', "an object of client tags"),
        ]:
            with self.assertRaises(BadRequest) as caught:
                parse_json('{"action": "tagmsg", "to": "#lobby", "tags": ' + bad + "}")
            self.assertIn(why, caught.exception.text)

    def test_client_tags_up_to_4094_bytes_as_irc_writes_them(self) -> None:
        from tchat.commands.values import parse_tags

        self.assertEqual(len(parse_tags({"+baz": "a" * 4089})["+baz"]), 4089)  # "+baz=" and 4089: 4094
        with self.assertRaises(ValueError):
            parse_tags({"+baz": "a" * 4090})
        with self.assertRaises(ValueError):
            parse_tags({"+baz": ";" * 2045})  # each ; is written \:
        alice, bob = self.user("alice", "message-tags"), self.user("bob", "message-tags")
        bob.take()
        # 4094 bytes of tag data (the @ and the space not counted) are read; one more is 417.
        alice.send("@foo=bar;+baz=" + "a" * 4081 + " TAGMSG #lobby")
        self.assertIn("+baz=" + "a" * 4081, bob.take()[0])
        alice.send("@foo=bar;+baz=" + "a" * 4082 + " TAGMSG #lobby")
        self.assertEqual(alice.numerics(), ["417"])
        self.assertEqual(bob.take(), [])
