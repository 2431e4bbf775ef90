"""
The IRC door's channel lists and what ops alone read: 329 (a room's creation
time), NAMES of several channels, LIST's ELIST filters, STATUSMSG (and the
chat's message to a room's ops it is), INVITE's list of invitations, LINKS
and SETNAME. On a StringTransport, the hub on a Clock.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import TestCase

from tchat.chat.roomsettings import RoomSettings
from tchat.cluster.wire import BadMessage, decode, encode
from tchat.codec import render_text
from tchat.commands import BadRequest, parse_text
from tchat.door.irc import IrcDoor
from tests.helpers import logged_in, make_hub, request
from tests.test_cluster import Cluster
from tests.test_accounts import PASSWORD
from tests.test_moderation import StoredTestCase
from tests.test_irc_door import Irc, IrcTestCase


def isupport(client: Irc) -> list[str]:
    client.send("NICK x", "USER u 0 * :Real")
    return [token for line in client.take() if " 005 " in line for token in line.split(" ")[3:]]


class CreationTimeTests(IrcTestCase):
    def test_mode_of_a_channel_is_324_then_329_with_when_it_was_made(self) -> None:
        alice = self.user("alice", join="#dev")
        self.clock.advance(90)
        bob = self.user("bob", join="#dev")
        bob.send("MODE #dev")
        self.assertEqual(bob.take(), [":tchat 324 bob #dev +tn", ":tchat 329 bob #dev :1000000"])
        # A room made later, after the first is gone and made again: its own time.
        alice.send("PART #dev")
        bob.send("PART #dev")
        self.clock.advance(10)
        alice.take()
        alice.send("JOIN #dev", "MODE #dev")
        self.assertIn(":tchat 329 alice #dev :1000100", alice.take())

    def test_the_json_mode_answer_carries_created_and_a_room_kept_without_one_takes_its_next_joins(self) -> None:
        room = self.hub.state.load_room("#old", RoomSettings.from_dict({"owner": "carol", "kept": True, "ops": ["carol"]}))
        self.assertIsNone(room.settings.created)
        alice = logged_in(self.hub, "alice")
        self.clock.advance(5)
        self.hub.handle(alice, request("join", room="#old"))
        self.hub.handle(alice, request("mode", id=1, room="#old"))
        self.assertEqual(alice.last()["created"], 1_000_005)
        self.assertEqual(RoomSettings.from_dict(room.settings.to_dict()).created, 1_000_005)


class NamesTests(IrcTestCase):
    def test_names_of_several_channels_is_each_ones_353_then_one_366_naming_them_all(self) -> None:
        alice = self.user("alice", join="#a")
        alice.send("JOIN #b")
        alice.take()
        alice.send("NAMES #a,#b")
        self.assertEqual(alice.take(), [
            ":tchat 353 alice = #a :@alice", ":tchat 353 alice = #b :@alice", ":tchat 366 alice #a,#b :End of /NAMES list",
        ])
        # One that does not exist shows nothing of itself; the end names them all.
        alice.send("NAMES #a,#nothere")
        self.assertEqual(alice.take(), [":tchat 353 alice = #a :@alice", ":tchat 366 alice #a,#nothere :End of /NAMES list"])
        alice.send("NAMES #b")
        self.assertEqual(alice.take(), [":tchat 353 alice = #b :@alice", ":tchat 366 alice #b :End of /NAMES list"])

    def test_isupport_says_names_takes_several_and_the_elist_and_statusmsg_it_has(self) -> None:
        tokens = isupport(self.irc())
        self.assertIn("ELIST=CMNTU", tokens)
        self.assertIn("STATUSMSG=@+", tokens)
        self.assertIn("NAMELEN=100", tokens)
        targmax = next(t for t in tokens if t.startswith("TARGMAX="))
        self.assertIn("NAMES:4", targmax)


class ListTests(IrcTestCase):
    def setUp(self) -> None:
        # No lobby: the channels listed are the test's own.
        self.hub, self.clock = make_hub(lobby=None)
        self.door = IrcDoor(self.hub, self.limits, self.clock)
        self.ports = iter(range(40000, 50000))
        self.alice = self.user("alice", join="#chan1")
        self.clock.advance(180)
        self.alice.send("JOIN #chan2", "TOPIC #chan2 :second")
        self.bob = self.user("bob", join="#chan2")
        self.clock.advance(60)
        self.alice.take()
        self.carol = self.user("carol", join=None)

    def listed(self, param: str) -> set[str]:
        self.carol.send(f"LIST {param}".strip())
        lines = self.carol.take()
        self.assertEqual((lines[0].split(" ")[1], lines[-1].split(" ")[1]), ("321", "323"), lines)
        return {line.split(" ")[3] for line in lines if " 322 " in line}

    def test_masks_and_not_masks(self) -> None:
        self.assertEqual(self.listed(""), {"#chan1", "#chan2"})
        self.assertEqual(self.listed("*an1"), {"#chan1"})
        self.assertEqual(self.listed("#c*n2"), {"#chan2"})
        self.assertEqual(self.listed("#CH*"), {"#chan1", "#chan2"})
        self.assertEqual(self.listed("*an3"), set())
        self.assertEqual(self.listed("#chan?"), {"#chan1", "#chan2"})
        self.assertEqual(self.listed("!*an1"), {"#chan2"})
        self.assertEqual(self.listed("!#ch*"), set())
        # Names, as LIST always took them; several are any of them.
        self.assertEqual(self.listed("#chan2,#chan1"), {"#chan1", "#chan2"})
        self.assertEqual(self.listed("#chan"), set())

    def test_member_counts(self) -> None:
        self.assertEqual(self.listed(">0"), {"#chan1", "#chan2"})
        self.assertEqual(self.listed(">1"), {"#chan2"})
        self.assertEqual(self.listed("<2"), {"#chan1"})
        self.assertEqual(self.listed("<1"), set())
        # All the conditions hold.
        self.assertEqual(self.listed(">0,!*1"), {"#chan2"})

    def test_creation_and_topic_times_in_minutes_ago(self) -> None:
        # #chan1 was made 4 minutes ago, #chan2 1 minute ago (its topic then).
        self.assertEqual(self.listed("C>2"), {"#chan1"})
        self.assertEqual(self.listed("C<2"), {"#chan2"})
        self.assertEqual(self.listed("C<0"), set())
        self.assertEqual(self.listed("C<10"), {"#chan1", "#chan2"})
        # A channel with no topic has no topic time.
        self.assertEqual(self.listed("T<10"), {"#chan2"})
        self.assertEqual(self.listed("T>0"), {"#chan2"})
        self.assertEqual(self.listed("T>2"), set())

    def test_a_filter_that_is_no_filter_is_a_mask_that_matches_nothing(self) -> None:
        self.assertEqual(self.listed(">x"), set())
        self.assertEqual(self.listed("X>1"), set())


class StatusmsgTests(IrcTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.op = self.user("chanop", join="#chan")
        self.joe = self.user("joe", join="#chan")
        self.voiced = self.user("vic", "echo-message", join="#chan")
        self.op.send("MODE #chan +v vic")
        for client in (self.op, self.joe, self.voiced):
            client.take()
        self.web = logged_in(self.hub, "webby", "10.9.9.9:1")
        self.hub.handle(self.web, request("join", room="#chan"))
        self.web.clear()
        for client in (self.op, self.joe, self.voiced):
            client.take()

    def test_at_channel_goes_to_its_ops_only_with_the_prefix(self) -> None:
        self.voiced.send("PRIVMSG @#chan :for the ops")
        self.assertEqual(self.voiced.take(), [":vic!vic@tchat PRIVMSG @#chan :for the ops"])
        self.assertEqual(self.op.take(), [":vic!vic@tchat PRIVMSG @#chan :for the ops"])
        self.assertEqual(self.joe.take(), [])
        self.assertEqual(self.web.of("message"), [])

    def test_plus_channel_goes_to_the_voiced_and_the_ops(self) -> None:
        self.joe.send("NOTICE +#chan :voices")
        self.assertEqual(self.op.take(), [":joe!joe@tchat NOTICE +#chan :voices"])
        self.assertEqual(self.voiced.take(), [":joe!joe@tchat NOTICE +#chan :voices"])
        self.assertEqual(self.joe.take(), [])
        self.assertEqual(self.web.of("message"), [])

    def test_who_is_not_in_the_channel_gets_404_and_a_nick_with_a_prefix_is_no_channel(self) -> None:
        outsider = self.user("out", join=None)
        outsider.send("PRIVMSG @#chan :hello?")
        self.assertEqual(outsider.numerics(), ["404"])
        outsider.send("PRIVMSG @joe :hello?")
        self.assertEqual(outsider.numerics(), ["401"])
        self.assertEqual(self.op.take(), [])

    def test_the_other_doors_get_it_marked(self) -> None:
        # An op of another door: the message says who it was for, and text mode shows it.
        self.op.send("MODE #chan +o webby")
        self.web.clear()
        self.joe.send("PRIVMSG @#chan :psst")
        message = self.web.last("message")
        self.assertEqual((message["to"], message["only"], message["text"]), ("#chan", "op", "psst"))
        self.assertEqual(render_text(message), ["[#chan] <~joe> psst (to ops)"])


class OpsOnlyRuleTests(IrcTestCase):
    """The chat's rule under STATUSMSG: ``msg`` with ``only``, through the delivery seam's ``to_ranks``."""

    def setUp(self) -> None:
        super().setUp()
        self.alice, self.bob, self.carol = (logged_in(self.hub, n, f"10.0.0.{i}:1") for i, n in enumerate(("alice", "bob", "carol"), 1))
        for s in (self.alice, self.bob, self.carol):
            self.hub.handle(s, request("join", room="#dev"))
        self.hub.handle(self.alice, request("voice", room="#dev", user="bob"))
        for s in (self.alice, self.bob, self.carol):
            s.clear()

    def send(self, session: Any, **args: Any) -> Any:
        self.hub.handle(session, request("msg", id="m", **args))
        return session.last()

    def test_only_op_reaches_the_ops_only_and_is_not_kept_in_the_history(self) -> None:
        ok = self.send(self.carol, to="#dev", text="help", only="op")
        self.assertEqual((ok.name, ok["text"]), ("ok", "sent to the operators of #dev"))
        self.assertEqual(self.alice.last("message")["only"], "op")
        self.assertEqual(self.bob.of("message"), [])
        ok = self.send(self.carol, to="#dev", text="all voices", only="voice")
        self.assertEqual([m["text"] for m in self.bob.of("message")], ["all voices"])
        self.assertEqual([m["text"] for m in self.alice.of("message")], ["help", "all voices"])

    def test_a_private_one_or_another_rank_is_refused_and_the_sender_gets_its_ok(self) -> None:
        self.assertEqual(self.send(self.carol, to="bob", text="hi", only="op")["code"], "bad_request")
        self.assertEqual(self.send(self.carol, to="#nowhere", text="hi", only="op")["code"], "no_such_room")
        with self.assertRaises(BadRequest):
            request("msg", to="#dev", text="hi", only="owner")
        self.assertEqual(self.send(self.carol, to="#dev", text="to ops", only="op").name, "ok")
        # The one who sent it gets its ok, not the message back.
        self.assertEqual(self.carol.of("message"), [])

    def test_text_mode_sends_one_with_slash_ops(self) -> None:
        self.hub.handle(self.carol, parse_text("/ops #dev look at this"))
        self.assertEqual(self.carol.last()["text"], "sent to the operators of #dev")
        self.assertEqual(self.alice.last("message")["only"], "op")
        self.assertEqual(self.bob.of("message"), [])

    def test_a_moderated_room_still_silences_who_may_not_speak(self) -> None:
        self.hub.handle(self.alice, request("mode", room="#dev", set="+m"))
        self.assertEqual(self.send(self.carol, to="#dev", text="hi", only="op")["code"], "muted")
        self.assertEqual(self.send(self.bob, to="#dev", text="hi", only="op").name, "ok")


class InviteListTests(IrcTestCase):
    def test_invite_alone_lists_the_channels_one_is_invited_to_and_not_in(self) -> None:
        foo = self.user("foo", join="#chan")
        bar = self.user("bar", join=None)
        bar.send("INVITE")
        self.assertEqual(bar.take(), [":tchat 337 bar :End of /INVITE list"])
        foo.send("INVITE bar #chan")
        foo.take(), bar.take()
        bar.send("INVITE")
        self.assertEqual(bar.take(), [":tchat 336 bar :#chan", ":tchat 337 bar :End of /INVITE list"])
        bar.send("JOIN #chan")
        bar.take()
        bar.send("INVITE")
        self.assertEqual(bar.take(), [":tchat 337 bar :End of /INVITE list"])
        bar.send("INVITE foo")
        self.assertEqual(bar.numerics(), ["461"])


class LinksTests(IrcTestCase):
    def test_links_is_this_one_server(self) -> None:
        client = self.user("nick", join=None)
        client.send("LINKS")
        self.assertEqual(client.take(), [":tchat 364 nick tchat tchat :0 tchat", ":tchat 365 nick * :End of /LINKS list"])
        # --server-info says what the server is (and SIGHUP changes it), on one line, in LINKS and WHOIS alike.
        self.hub.config.server_info = "the chat of\nthe hackspace"
        client.send("LINKS", "WHOIS nick")
        lines = client.take()
        self.assertEqual(lines[0], ":tchat 364 nick tchat tchat :0 the chat of the hackspace")
        self.assertIn(":tchat 312 nick nick tchat :the chat of the hackspace", lines)


class SetnameTests(IrcTestCase):
    def test_setname_changes_the_realname_and_tells_who_shares_a_channel_and_has_the_cap(self) -> None:
        foo = self.user("foo", "setname", join="#chan")
        bar = self.user("bar", "setname", join="#chan")
        baz = self.user("baz", join="#chan")
        elsewhere = self.user("far", "setname", join="#other")
        for client in (foo, bar, baz):
            client.take()
        foo.send("SETNAME :Foo \x02Bar\x02")
        self.assertEqual(foo.take(), [":foo!foo@tchat SETNAME :Foo Bar"])
        self.assertEqual(bar.take(), [":foo!foo@tchat SETNAME :Foo Bar"])
        self.assertEqual(baz.take(), [])
        self.assertEqual(elsewhere.take(), [])
        baz.send("WHOIS foo")
        self.assertIn(":tchat 311 baz foo u tchat * :Foo Bar", baz.take())

    def test_a_watcher_with_extended_monitor_hears_of_a_setname_without_sharing_a_channel(self) -> None:
        foo = self.user("foo", "setname", join="#chan")
        watcher = self.user("watcher", "setname", "extended-monitor", join=None)
        plain = self.user("plain", "setname", join=None)
        for client in (watcher, plain):
            client.send("MONITOR + foo")
        for client in (foo, watcher, plain):
            client.take()
        foo.send("SETNAME :New Name")
        self.assertEqual(watcher.take(), [":foo!foo@tchat SETNAME :New Name"])
        self.assertEqual(plain.take(), [])
        watcher.send("MONITOR - foo")
        foo.send("SETNAME :Again")
        self.assertEqual(watcher.take(), [])

    def test_an_empty_or_too_long_realname_fails_and_changes_nothing(self) -> None:
        foo = self.user("foo", "setname", join=None)
        for name in (":", ":\x02\x02 ", ":" + "x" * 101):
            foo.send("SETNAME " + name)
            lines = foo.take()
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith(":tchat FAIL SETNAME INVALID_REALNAME :"), lines)
        foo.send("WHOIS foo")
        self.assertIn(":tchat 311 foo foo u tchat * :Real", foo.take())
        foo.send("SETNAME")
        self.assertEqual(foo.numerics(), ["461"])


class OpsOnlyAcrossNodesTests(TestCase):
    def test_a_message_to_the_ops_reaches_the_ops_of_every_node_only(self) -> None:
        cluster = Cluster("n1", "n2")
        alice = cluster.login("n1", "alice", "10.0.0.1:1")
        bob = cluster.login("n2", "bob", "10.0.0.2:1")
        carol = cluster.login("n2", "carol", "10.0.0.3:1")
        dave = cluster.login("n1", "dave", "10.0.0.4:1")
        for node, s in (("n1", alice), ("n2", bob), ("n2", carol), ("n1", dave)):
            cluster.do(node, s, "join", room="#dev")
        cluster.do("n1", alice, "op", room="#dev", user="bob")
        cluster.do("n1", alice, "voice", room="#dev", user="carol")
        for s in (alice, bob, carol, dave):
            s.clear()
        cluster.do("n1", dave, "msg", to="#dev", text="ops?", only="op")
        self.assertEqual([m["text"] for m in bob.of("message")], ["ops?"])
        self.assertEqual([m["text"] for m in alice.of("message")], ["ops?"])
        self.assertEqual(carol.of("message"), [])
        cluster.do("n1", dave, "msg", to="#dev", text="voices?", only="voice")
        self.assertEqual([m["text"] for m in carol.of("message")], ["voices?"])
        self.assertEqual(bob.last("message")["only"], "voice")
        # A bus message naming a rank there is none of is dropped by the receiver.
        with self.assertRaises(BadMessage):
            decode(encode("to_ranks", "n1", "e", 1, room="#dev", only=None, but=None, event={"name": "message", "fields": {}}))


class OpsOnlyStoredTests(StoredTestCase):
    async def test_a_message_to_the_ops_reaches_the_senders_other_devices_and_is_not_in_the_history(self) -> None:
        hub = self.hub
        op = await self.person(hub, "op")
        member = await self.account(hub, "member", host="10.0.0.2")
        for s in (op, member):
            await self.ask(hub, s, "join", room="#dev")
        phone = await self.person(hub, "member", PASSWORD, host="10.0.0.3")
        await self.ask(hub, member, "msg", to="#dev", text="for everyone")
        ok = await self.ask(hub, member, "msg", to="#dev", text="for the ops", only="op")
        self.assertEqual(ok.name, "ok")
        self.assertEqual(op.last("message")["text"], "for the ops")
        # The sender's other device sees what it sent; the sending one gets its ok only.
        self.assertEqual(phone.last("message")["only"], "op")
        self.assertEqual([m["text"] for m in member.of("message")], [])
        history = await self.ask(hub, op, "history", target="#dev")
        self.assertEqual([m["text"] for m in history["messages"]], ["for everyone"])


class SecretTests(IrcTestCase):
    def setUp(self) -> None:
        self.hub, self.clock = make_hub(lobby=None)
        self.door = IrcDoor(self.hub, self.limits, self.clock)
        self.ports = iter(range(40000, 50000))
        self.first = self.user("first", join="#gen")
        self.first.send("JOIN #open", "MODE #gen +s")
        self.first.take()
        self.second = self.user("second", join=None)

    def listed(self, client: Irc) -> set[str]:
        client.send("LIST")
        return {line.split(" ")[3] for line in client.take() if " 322 " in line}

    def test_a_secret_channel_is_listed_named_and_whoised_to_its_members_only(self) -> None:
        self.assertEqual(self.listed(self.first), {"#gen", "#open"})
        self.assertEqual(self.listed(self.second), {"#open"})
        self.second.send("NAMES #gen")
        self.assertEqual(self.second.take(), [":tchat 366 second #gen :End of /NAMES list"])
        self.second.send("TOPIC #gen")
        self.assertEqual(self.second.numerics(), ["403"])
        self.second.send("WHOIS first")
        self.assertIn(":tchat 319 second first :@#open", self.second.take())
        # A member sees it, its 353 marked secret ("@").
        self.first.send("NAMES #gen")
        self.assertEqual(self.first.take(), [":tchat 353 first @ #gen :@first", ":tchat 366 first #gen :End of /NAMES list"])
        self.first.send("MODE #gen")
        self.assertEqual(self.first.take()[0], ":tchat 324 first #gen +tsn")
        # Invited to it, one sees it in INVITE's list (and LIST).
        self.first.send("INVITE second #gen")
        self.first.take()
        self.second.take()
        self.second.send("INVITE")
        self.assertEqual(self.second.numerics(), ["336", "337"])
        self.second.send("JOIN #gen")
        self.second.take()
        self.assertEqual(self.listed(self.second), {"#gen", "#open"})

    def test_other_doors_keep_it_secret_too_and_minus_s_lifts_it(self) -> None:
        web = logged_in(self.hub, "webby", "10.9.9.9:1")
        self.hub.handle(web, request("rooms"))
        self.assertEqual([r["room"] for r in web.last()["rooms"]], ["#open"])
        self.hub.handle(web, request("users", room="#gen"))
        self.assertEqual(web.last()["code"], "no_such_room")
        self.hub.handle(web, request("mode", room="#gen"))
        self.assertEqual(web.last()["code"], "no_such_room")
        # Text mode's /mode takes the letter; a kept room keeps it.
        self.assertEqual(parse_text("/mode #gen +s").args["set"], {"secret": True})
        settings = self.hub.state.room("#gen").settings
        self.assertTrue(RoomSettings.from_dict(settings.to_dict()).secret)
        self.first.send("MODE #gen -s")
        self.assertEqual(self.first.take(), [":first!first@tchat MODE #gen -s"])
        self.hub.handle(web, request("rooms"))
        self.assertEqual([r["room"] for r in web.last()["rooms"]], ["#gen", "#open"])


class InvisibleTests(IrcTestCase):
    def test_an_invisible_client_is_left_out_of_a_who_of_a_mask_by_who_shares_no_channel(self) -> None:
        evan = self.user("evan", join=None)
        evan.send("MODE evan +i")
        evan.take()
        shiv = self.user("shivaram", join=None)
        shiv.send("WHO eva*")
        self.assertEqual(shiv.numerics(), ["315"])
        shiv.send("WHO evan")
        self.assertEqual(shiv.numerics(), ["352", "315"])
        evan.send("WHO eva*")
        self.assertEqual(evan.numerics(), ["352", "315"])
        evan.send("JOIN #test")
        shiv.send("JOIN #test")
        shiv.take()
        shiv.send("WHO eva*")
        self.assertEqual(shiv.numerics(), ["352", "315"])
