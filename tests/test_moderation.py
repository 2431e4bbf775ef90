"""
Rooms people can run: owners and ops, topics, kicks, bans, mutes, invites,
modes; /nick, /away, /whois. The rules on a Clock with recording sessions;
kept rooms and "since join" history on a real SQLite file; room settings
across nodes on a MemoryCluster.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.chat.roomsettings import MAX_BANS, RoomSettings
from tchat.commands import BadRequest, Request, parse_json, parse_text
from tchat.store import open_store
from tests.helpers import RecordingSession, TextModeHub, logged_in, make_hub, request
from tests.test_accounts import CHEAP, PASSWORD
from tests.test_cluster import Cluster
from tests.test_store import POSTGRES


def joined(hub: Hub, session: RecordingSession, room: str, **args: Any) -> Any:
    hub.handle(session, request("join", id="j", room=room, **args))
    return session.last()


class RoomTestCase(TestCase):
    def setUp(self) -> None:
        self.hub, self.clock = make_hub(admin_password="pw")
        self.alice = logged_in(self.hub, "alice", "10.0.0.1:1")
        self.bob = logged_in(self.hub, "bob", "10.0.0.2:1")
        self.carol = logged_in(self.hub, "carol", "10.0.0.3:1")
        self.assertEqual(joined(self.hub, self.alice, "#dev").name, "ok")
        joined(self.hub, self.bob, "#dev")
        for s in (self.alice, self.bob, self.carol):
            s.clear()

    def do(self, session: RecordingSession, action: str, **args: Any) -> Any:
        self.hub.handle(session, request(action, id=action, **args))
        return session.last()


class OwnerAndOpsTests(RoomTestCase):
    def test_the_creator_owns_the_room_and_is_its_op_and_the_join_says_so(self) -> None:
        ok = joined(self.hub, self.carol, "#dev")
        self.assertEqual((ok["action"], ok["ops"], ok["users"], ok.get("topic")), ("join", ["alice"], ["alice", "bob", "carol"], None))
        self.assertEqual(ok["modes"]["topic_locked"], True)
        users = self.do(self.carol, "users", room="#dev")
        self.assertEqual(users["ops"], ["alice"])

    def test_in_a_guests_room_ops_op_and_deop_each_other_and_its_creator_may_step_down(self) -> None:
        self.assertEqual(self.do(self.bob, "op", room="#dev", user="carol")["code"], "not_op")
        ok = self.do(self.alice, "op", room="#dev", user="bob")
        self.assertEqual(ok.name, "ok")
        event = self.bob.last("op")
        self.assertEqual((event["room"], event["user"], event["by"]), ("#dev", "bob", "alice"))
        self.do(self.alice, "deop", room="#dev", user="bob")
        self.assertEqual(self.bob.last("deop")["user"], "bob")
        self.assertEqual(self.do(self.bob, "topic", room="#dev", topic="mine")["code"], "not_op")
        # No owner in a guest's room: the creator is an op like the others.
        self.do(self.alice, "op", room="#dev", user="bob")
        self.assertEqual(self.do(self.bob, "deop", room="#dev", user="alice").name, "ok")
        self.assertEqual(self.do(self.alice, "topic", room="#dev", topic="mine")["code"], "not_op")
        self.do(self.bob, "op", room="#dev", user="alice")
        self.assertEqual(self.do(self.alice, "deop", room="#dev", user="alice").name, "ok")
        self.assertEqual(self.do(self.alice, "users", room="#dev")["ops"], ["bob"])

    def test_op_needs_the_user_in_the_room(self) -> None:
        self.assertEqual(self.do(self.alice, "op", room="#dev", user="carol")["code"], "not_in_room")

    def test_an_admin_may_do_it_all_in_a_room_they_are_not_in(self) -> None:
        self.do(self.carol, "admin", password="pw")
        self.assertEqual(self.do(self.carol, "topic", room="#dev", topic="set by the admin").name, "ok")
        self.assertEqual(self.alice.last("topic")["by"], "carol")
        self.assertEqual(self.do(self.carol, "kick", room="#dev", user="alice").name, "ok")
        self.assertNotIn("#dev", self.do(self.alice, "whoami")["rooms"])

    def test_a_guests_op_ends_when_they_leave_the_room_so_the_next_guest_under_the_name_is_none(self) -> None:
        self.do(self.alice, "op", room="#dev", user="bob")
        self.do(self.bob, "part", room="#dev")
        self.do(self.bob, "quit")
        self.hub.disconnect(self.bob)
        again = logged_in(self.hub, "bob", "10.0.0.9:1")
        self.assertEqual(joined(self.hub, again, "#dev")["ops"], ["alice"])
        # The owner too: alice leaves, her room lives on with bob, and a new alice owns nothing.
        self.do(self.alice, "quit")
        self.hub.disconnect(self.alice)
        alice = logged_in(self.hub, "alice", "10.0.0.8:1")
        joined(self.hub, alice, "#dev")
        self.assertEqual(self.do(alice, "topic", room="#dev", topic="x")["code"], "not_op")


class TopicTests(RoomTestCase):
    def test_an_op_sets_the_topic_members_see_it_and_a_joiner_gets_it(self) -> None:
        ok = self.do(self.alice, "topic", room="#dev", topic="release on Friday \x1b[31m")
        self.assertEqual((ok.name, ok["topic"]), ("ok", "release on Friday [31m".replace("[31m", "").rstrip()))
        event = self.bob.last("topic")
        self.assertEqual((event["room"], event["topic"], event["by"]), ("#dev", "release on Friday", "alice"))
        self.assertEqual(joined(self.hub, self.carol, "#dev")["topic"], "release on Friday")
        read = self.do(self.carol, "topic", room="#dev")
        self.assertEqual((read.name, read["topic"], read["by"], read["re"]), ("topic", "release on Friday", "alice", "topic"))
        rooms = self.do(self.carol, "rooms")["rooms"]
        self.assertIn({"room": "#dev", "members": 3, "topic": "release on Friday", "topic_at": 1_000_000, "created": 1_000_000}, rooms)

    def test_a_topic_locked_room_refuses_members_and_an_unlocked_one_lets_them(self) -> None:
        self.assertEqual(self.do(self.bob, "topic", room="#dev", topic="hi")["code"], "not_op")
        self.do(self.alice, "mode", room="#dev", set="-t")
        self.assertEqual(self.do(self.bob, "topic", room="#dev", topic="hi").name, "ok")
        self.assertEqual(self.alice.last("topic")["topic"], "hi")

    def test_a_topic_too_long_is_refused(self) -> None:
        self.assertEqual(self.do(self.alice, "topic", room="#dev", topic="x" * 391)["code"], "bad_request")

    def test_text_mode_reads_and_sets_the_current_rooms_topic(self) -> None:
        self.assertEqual(parse_text("/topic"), Request("topic", {}))
        self.assertEqual(parse_text("/topic #dev new words"), Request("topic", {"room": "#dev", "topic": "new words"}))
        self.assertEqual(parse_text("/topic new words"), Request("topic", {"topic": "new words"}))
        self.hub.handle(self.alice, parse_text("/topic hello all"))
        self.assertEqual(self.bob.last("topic")["topic"], "hello all")


class KickTests(RoomTestCase):
    def test_a_kick_tells_the_room_and_the_kicked_who_is_out_of_the_room_but_not_the_server(self) -> None:
        self.assertEqual(self.do(self.bob, "kick", room="#dev", user="alice")["code"], "not_op")
        ok = self.do(self.alice, "kick", room="#dev", user="bob", reason="spam")
        self.assertEqual(ok.name, "ok")
        kick = self.bob.last("kick")
        self.assertEqual((kick["room"], kick["user"], kick["by"], kick["reason"]), ("#dev", "bob", "alice", "spam"))
        self.assertIsNone(self.bob.closed)
        self.assertEqual(self.do(self.alice, "users", room="#dev")["users"], ["alice"])
        self.assertEqual(self.do(self.bob, "msg", to="#dev", text="back?")["code"], "not_in_room")
        # Not a ban: they may come back.
        self.assertEqual(joined(self.hub, self.bob, "#dev").name, "ok")

    def test_the_creator_of_a_guests_room_may_be_kicked_by_another_op(self) -> None:
        self.do(self.alice, "op", room="#dev", user="bob")
        self.assertEqual(self.do(self.bob, "kick", room="#dev", user="alice").name, "ok")
        self.assertEqual(self.alice.last("kick")["by"], "bob")

    def test_kick_without_a_room_is_the_admins_kill_and_the_current_room_for_others(self) -> None:
        self.hub.handle(self.alice, parse_text("/kick bob off you go"))
        self.assertEqual(self.bob.last("kick")["room"], "#dev")
        self.assertIsNone(self.bob.closed)
        self.do(self.carol, "admin", password="pw")
        self.hub.handle(self.carol, parse_text("/kick bob"))
        self.assertEqual(self.bob.closed, "kicked")


class BanTests(RoomTestCase):
    def test_a_banned_guest_is_put_out_and_refused_under_any_name_from_that_address(self) -> None:
        ok = self.do(self.alice, "ban", room="#dev", user="bob")
        self.assertEqual((ok.name, ok.get("until")), ("ok", None))
        self.assertEqual(self.bob.last("ban")["user"], "bob")
        self.assertEqual((self.bob.last("kick")["reason"]), "banned")
        self.assertEqual(joined(self.hub, self.bob, "#dev")["code"], "banned")
        self.do(self.bob, "nick", user="robert")
        self.assertEqual(joined(self.hub, self.bob, "#dev")["code"], "banned")
        other = logged_in(self.hub, "bobby", "10.0.0.2:7")
        self.assertEqual(joined(self.hub, other, "#dev")["code"], "banned")
        # Someone else from another address is not.
        self.assertEqual(joined(self.hub, self.carol, "#dev").name, "ok")

    def test_a_timed_ban_ends_by_itself_and_unban_ends_one_at_once(self) -> None:
        self.do(self.alice, "ban", room="#dev", user="bob", duration="10m")
        self.assertEqual(joined(self.hub, self.bob, "#dev")["code"], "banned")
        bans = self.do(self.alice, "bans", room="#dev")
        self.assertEqual([b["user"] for b in bans["bans"]], ["bob"])
        self.assertNotIn("host", bans["bans"][0])
        self.clock.advance(601)
        self.assertEqual(joined(self.hub, self.bob, "#dev").name, "ok")
        self.assertEqual(self.do(self.alice, "bans", room="#dev")["bans"], [])
        self.do(self.alice, "ban", room="#dev", user="bob")
        self.assertEqual(self.do(self.bob, "unban", room="#dev", user="bob")["code"], "not_in_room")
        self.assertEqual(self.do(self.alice, "unban", room="#dev", user="bob").name, "ok")
        self.assertEqual(joined(self.hub, self.bob, "#dev").name, "ok")
        self.assertEqual(self.do(self.alice, "unban", room="#dev", user="bob")["code"], "bad_request")

    def test_a_rooms_ban_list_has_a_limit(self) -> None:
        for n in range(MAX_BANS):
            self.assertEqual(self.do(self.alice, "ban", room="#dev", user=f"spammer{n}").name, "ok")
        self.assertEqual(self.do(self.alice, "ban", room="#dev", user="onemore")["code"], "too_many_bans")

    def test_durations_are_checked_when_read(self) -> None:
        self.assertEqual(parse_text("/ban #dev bob 2h"), Request("ban", {"room": "#dev", "user": "bob", "duration": 7200}))
        self.assertEqual(parse_json('{"action": "mute", "room": "#dev", "user": "bob", "duration": 90}').args["duration"], 90)
        for bad in ("/ban #dev bob 0", "/ban #dev bob forever", "/ban #dev bob 400d", "/ban #dev bob 2x"):
            with self.assertRaises(BadRequest, msg=bad):
                parse_text(bad)
        with self.assertRaises(BadRequest):
            parse_json('{"action": "ban", "room": "#dev", "user": "bob", "duration": true}')


class MuteAndModerationTests(RoomTestCase):
    def test_a_muted_users_messages_reach_nobody(self) -> None:
        self.do(self.alice, "mute", room="#dev", user="bob")
        self.assertEqual(self.bob.last("mute")["user"], "bob")
        self.alice.clear()
        self.assertEqual(self.do(self.bob, "msg", to="#dev", text="hello?")["code"], "muted")
        self.assertEqual(self.alice.of("message"), [])
        self.do(self.alice, "unmute", room="#dev", user="bob")
        self.assertEqual(self.do(self.bob, "msg", to="#dev", text="thanks").name, "ok")
        self.assertEqual(self.alice.last("message")["text"], "thanks")

    def test_a_moderated_room_hears_only_ops_and_voiced_users(self) -> None:
        ok = self.do(self.alice, "mode", room="#dev", set="+m")
        self.assertTrue(ok["modes"]["moderated"])
        self.assertEqual(self.bob.last("mode")["set"], {"moderated": True})
        self.assertEqual(self.do(self.bob, "msg", to="#dev", text="hi")["code"], "muted")
        self.assertEqual(self.do(self.alice, "msg", to="#dev", text="ops speak").name, "ok")
        self.do(self.alice, "voice", room="#dev", user="bob")
        self.assertEqual(self.bob.last("voice")["user"], "bob")
        self.assertEqual(self.do(self.bob, "msg", to="#dev", text="voiced now").name, "ok")
        self.assertEqual(self.do(self.bob, "users", room="#dev")["voiced"], ["bob"])


    def test_a_room_without_n_takes_messages_from_outside_but_not_from_those_it_banned(self) -> None:
        # +n, on by default: only members send to a room.
        self.assertEqual(self.do(self.carol, "msg", to="#dev", text="knock knock")["code"], "not_in_room")
        self.assertEqual(self.alice.of("message"), [])
        ok = self.do(self.alice, "mode", room="#dev", set="-n")
        self.assertIs(ok["modes"]["members_only"], False)
        self.assertEqual(self.bob.last("mode")["set"], {"members_only": False})
        self.assertEqual(self.do(self.carol, "msg", to="#dev", text="from outside").name, "ok")
        self.assertEqual([(m["from"], m["text"]) for m in self.alice.of("message")], [("carol", "from outside")])
        self.assertEqual(self.bob.last("message")["to"], "#dev")
        self.assertNotIn("#dev", self.do(self.carol, "whoami")["rooms"])
        # A ban keeps its messages out too.
        self.do(self.alice, "ban", room="#dev", user="carol")
        self.alice.clear()
        self.assertEqual(self.do(self.carol, "msg", to="#dev", text="again")["code"], "banned")
        self.assertEqual(self.alice.of("message"), [])
        self.do(self.alice, "unban", room="#dev", user="carol")
        self.assertEqual(self.do(self.alice, "mode", room="#dev", set="+n")["modes"]["members_only"], True)
        self.assertEqual(self.do(self.carol, "msg", to="#dev", text="and now?")["code"], "not_in_room")
        self.assertEqual(self.alice.of("message"), [])


class InviteKeyAndLimitTests(RoomTestCase):
    def test_an_invite_only_room_lets_in_only_the_invited_once(self) -> None:
        self.do(self.alice, "mode", room="#dev", set={"invite_only": True})
        self.assertEqual(joined(self.hub, self.carol, "#dev")["code"], "invite_only")
        self.assertEqual(self.do(self.bob, "invite", user="carol", room="#dev")["code"], "not_op")
        self.assertEqual(self.do(self.alice, "invite", user="carol", room="#dev").name, "ok")
        invite = self.carol.last("invite")
        self.assertEqual((invite["room"], invite["by"]), ("#dev", "alice"))
        self.assertEqual(joined(self.hub, self.carol, "#dev").name, "ok")
        self.do(self.carol, "part", room="#dev")
        self.assertEqual(joined(self.hub, self.carol, "#dev")["code"], "invite_only")
        self.assertEqual(self.do(self.alice, "invite", user="nobody", room="#dev")["code"], "no_such_user")

    def test_a_keyed_room_needs_its_key_which_only_ops_are_shown(self) -> None:
        self.do(self.alice, "mode", room="#dev", set="+k s3cret")
        self.assertEqual(self.bob.last("mode")["set"], {"key": True})
        self.assertEqual(self.do(self.bob, "mode", room="#dev")["modes"]["key"], True)
        self.assertEqual(self.do(self.alice, "mode", room="#dev")["modes"]["key"], "s3cret")
        self.assertEqual(joined(self.hub, self.carol, "#dev")["code"], "bad_key")
        self.assertEqual(joined(self.hub, self.carol, "#dev", key="guess")["code"], "bad_key")
        self.assertEqual(parse_text("/join #dev s3cret"), Request("join", {"room": "#dev", "key": "s3cret"}))
        self.assertEqual(joined(self.hub, self.carol, "#dev", key="s3cret").name, "ok")

    def test_a_limited_room_refuses_joins_past_its_limit(self) -> None:
        self.do(self.alice, "mode", room="#dev", set="+l 2")
        self.assertEqual(joined(self.hub, self.carol, "#dev")["code"], "room_full")
        self.do(self.alice, "mode", room="#dev", set="-l")
        self.assertEqual(joined(self.hub, self.carol, "#dev").name, "ok")

    def test_modes_run_together_as_in_irc_and_bad_ones_are_refused_when_read(self) -> None:
        request = parse_text("/mode #dev +mi-t+kl key 20")
        self.assertEqual(request.args["set"], {"moderated": True, "invite_only": True, "topic_locked": False, "key": "key", "limit": 20})
        self.assertEqual(parse_text("/mode #dev +H").args["set"], {"history": "since_join"})
        for bad in ("/mode #dev +x", "/mode #dev +k", "/mode #dev +l many", "/mode #dev m"):
            with self.assertRaises(BadRequest, msg=bad):
                parse_text(bad)
        for bad in ('{"moderated": 1}', '{"colour": true}', '{"limit": 0}', '{}', '{"history": "never"}'):
            with self.assertRaises(BadRequest, msg=bad):
                parse_json('{"action": "mode", "room": "#dev", "set": %s}' % bad)
        self.assertEqual(self.do(self.bob, "mode", room="#dev", set="+m")["code"], "not_op")


class NickAwayWhoisTests(RoomTestCase):
    def test_a_guest_renames_and_each_sharer_hears_it_once(self) -> None:
        joined(self.hub, self.carol, "#dev")
        joined(self.hub, self.alice, "#other")
        joined(self.hub, self.bob, "#other")
        self.alice.clear()
        self.do(self.alice, "op", room="#dev", user="bob")
        ok = self.do(self.bob, "nick", user="robert")
        self.assertEqual((ok.name, ok["user"], ok["old"]), ("ok", "robert", "bob"))
        nicks = self.alice.of("nick")
        self.assertEqual(len(nicks), 1)
        self.assertEqual((nicks[0]["old"], nicks[0]["new"], sorted(nicks[0]["rooms"])), ("bob", "robert", ["#dev", "#lobby", "#other"]))
        self.assertEqual(self.do(self.alice, "users", room="#dev")["ops"], ["alice", "robert"])
        self.assertEqual(self.do(self.alice, "msg", to="robert", text="hi").name, "ok")
        self.assertEqual(self.bob.last("message")["to"], "robert")
        self.assertEqual(self.do(self.carol, "nick", user="ALICE")["code"], "name_taken")
        self.assertEqual(self.do(self.carol, "nick", user="...")["code"], "bad_name")
        # A name that only looks like one online (Cyrillic а) is refused too.
        self.assertEqual(self.do(self.carol, "nick", user="\u0430lice")["code"], "confusable_name")
        # The old name is free again.
        self.assertEqual(logged_in(self.hub, "bob", "10.0.0.7:1").closed, None)

    def test_away_answers_private_messages_and_shows_in_whois_until_cleared(self) -> None:
        self.assertEqual(self.do(self.bob, "away", text="at lunch")["away"], "at lunch")
        ok = self.do(self.alice, "msg", to="bob", text="ping")
        self.assertEqual((ok.name, ok["away"]), ("ok", "at lunch"))
        whois = self.do(self.carol, "whois", user="BOB")
        self.assertEqual((whois["user"], whois["online"], whois["registered"], whois["away"]), ("bob", True, False, "at lunch"))
        self.assertEqual((whois["sessions"], sorted(whois["rooms"])), (1, ["#dev", "#lobby"]))
        self.do(self.bob, "away")
        self.assertNotIn("away", self.do(self.alice, "msg", to="bob", text="back?").fields)
        self.assertEqual(self.do(self.carol, "whois", user="nobody")["code"], "no_such_user")

    def test_whois_hides_rooms_the_asker_may_not_see_and_tells_idle_time(self) -> None:
        joined(self.hub, self.bob, "#secret")
        self.do(self.bob, "mode", room="#secret", set="+i")
        self.do(self.bob, "msg", to="#dev", text="hello")
        self.clock.advance(30)
        whois = self.do(self.carol, "whois", user="bob")
        self.assertNotIn("#secret", whois["rooms"])
        self.assertEqual(whois["idle"], 30)
        self.assertIn("#secret", self.do(self.bob, "whois", user="bob")["rooms"])


class StoredTestCase(TestCase):
    """A hub on a real SQLite file, and a second hub on the same file (a restart)."""

    def database(self) -> str:
        folder = tempfile.TemporaryDirectory(prefix="tchat-moderation-")
        self.addCleanup(folder.cleanup)
        return f"sqlite:{os.path.join(folder.name, 'tchat.db')}"

    async def asyncSetUp(self) -> None:
        self.db = self.database()
        self.hub = await self.start()
        self.port = 1000

    def setUp(self):  # type: ignore[no-untyped-def]
        return Deferred.fromCoroutine(self.asyncSetUp())

    async def start(self) -> Hub:
        store = await open_store(self.db, reactor, hasher=CHEAP)
        self.addCleanup(lambda: store.close())
        hub = TextModeHub(HubConfig(), reactor)
        await hub.use_store(store)
        return hub

    async def ask(self, hub: Hub, session: RecordingSession, action: str, **args: Any) -> Any:
        before = len(session.events)
        await hub.handle(session, request(action, id=action, **args))
        if len(session.events) == before:
            await session.next_event()
        return session.events[-1]

    async def person(self, hub: Hub, name: str, password: str | None = None, host: str = "10.0.0.1") -> RecordingSession:
        self.port += 1
        session = RecordingSession(f"{host}:{self.port}")
        hub.connect(session)
        if password is None:
            await self.ask(hub, session, "login", user=name)
        else:
            await self.ask(hub, session, "login", user=name)
            session.clear()
            hub.disconnect(session)
            session = RecordingSession(f"{host}:{self.port}")
            hub.connect(session)
            await self.ask(hub, session, "login", user=name, password=password)
        self.assertEqual(session.last().name, "logged_in", session.events)
        session.clear()
        return session

    async def account(self, hub: Hub, name: str, host: str = "10.0.0.1") -> RecordingSession:
        session = await self.person(hub, name, host=host)
        self.assertEqual((await self.ask(hub, session, "register", password=PASSWORD)).name, "ok")
        session.clear()
        return session


class KeptRoomTests(StoredTestCase):
    """On SQLite; KeptRoomPostgreSQLTests below runs them all on PostgreSQL."""

    async def test_a_registered_users_room_keeps_topic_ops_modes_and_bans_across_a_restart(self) -> None:
        hub = self.hub
        owner = await self.account(hub, "owner")
        friend = await self.account(hub, "friend", "10.0.0.2")
        troll = await self.person(hub, "troll", host="10.0.0.66")
        for s in (owner, friend, troll):
            self.assertEqual((await self.ask(hub, s, "join", room="#club")).name, "ok")
        self.assertEqual((await self.ask(hub, owner, "topic", room="#club", topic="members only")).name, "ok")
        self.assertEqual((await self.ask(hub, owner, "op", room="#club", user="friend")).name, "ok")
        self.assertEqual((await self.ask(hub, friend, "ban", room="#club", user="troll")).name, "ok")
        self.assertEqual((await self.ask(hub, owner, "mode", room="#club", set="+i")).name, "ok")
        for s in (owner, friend, troll):
            hub.disconnect(s)
        listed = (await self.ask(hub, await self.person(hub, "look"), "rooms"))["rooms"]
        club = next(r for r in listed if r["room"] == "#club")
        made, topic_at = club["created"], club["topic_at"]
        self.assertLessEqual(made, topic_at)

        # A restart: a new hub on the same database.
        hub = await self.start()
        visitor = await self.person(hub, "visitor", host="10.0.0.5")
        rooms = (await self.ask(hub, visitor, "rooms"))["rooms"]
        club = next(r for r in rooms if r["room"] == "#club")
        self.assertEqual((club["members"], club["topic"], club["kept"]), (0, "members only", True))
        # When it was made and when its topic was set are kept with it.
        self.assertEqual((club["created"], club["topic_at"]), (made, topic_at))
        self.assertEqual((await self.ask(hub, visitor, "join", room="#club"))["code"], "invite_only")
        troll = await self.person(hub, "troll2", host="10.0.0.66")
        owner = await self.person(hub, "owner", PASSWORD, host="10.0.0.1")
        # Back in the room they were in, with the topic.
        self.assertIn("#club", (await self.ask(hub, owner, "whoami"))["rooms"])
        self.assertEqual((await self.ask(hub, owner, "invite", user="troll2", room="#club")).name, "ok")
        # Invited, but banned by address: a ban is never lifted by an invitation.
        self.assertEqual((await self.ask(hub, troll, "join", room="#club"))["code"], "banned")
        friend = await self.person(hub, "friend", PASSWORD, host="10.0.0.2")
        # Back in #club on logging in: the others see an operator come in.
        self.assertEqual(owner.last("join")["user"], "friend")
        self.assertIs(owner.last("join")["op"], True)
        self.assertEqual((await self.ask(hub, friend, "topic", room="#club", topic="still op")).name, "ok")
        self.assertEqual([b["user"] for b in (await self.ask(hub, friend, "bans", room="#club"))["bans"]], ["troll"])

    async def test_the_owner_of_a_kept_room_is_never_deopped_kicked_banned_or_muted_by_another_op(self) -> None:
        owner = await self.account(self.hub, "owner")
        friend = await self.person(self.hub, "friend", host="10.0.0.7")
        await self.ask(self.hub, owner, "join", room="#kept")
        await self.ask(self.hub, friend, "join", room="#kept")
        self.assertEqual((await self.ask(self.hub, owner, "op", room="#kept", user="friend")).name, "ok")
        for action in ("deop", "kick", "ban", "mute"):
            self.assertEqual((await self.ask(self.hub, friend, action, room="#kept", user="owner"))["code"], "not_allowed", action)
        self.assertEqual((await self.ask(self.hub, owner, "deop", room="#kept", user="owner"))["code"], "not_allowed")
        self.assertIn("#kept", (await self.ask(self.hub, owner, "whoami"))["rooms"])
        self.assertEqual((await self.ask(self.hub, owner, "users", room="#kept"))["ops"], ["friend", "owner"])

    async def test_a_guest_opped_in_a_kept_room_is_no_op_after_leaving_not_even_after_a_restart(self) -> None:
        owner = await self.account(self.hub, "owner")
        guest = await self.person(self.hub, "helper", host="10.0.0.7")
        await self.ask(self.hub, owner, "join", room="#kept")
        await self.ask(self.hub, guest, "join", room="#kept")
        self.assertEqual((await self.ask(self.hub, owner, "op", room="#kept", user="helper")).name, "ok")
        await self.ask(self.hub, guest, "part", room="#kept")
        await self.hub.rooms.keeper.settled()
        hub = await self.start()
        again = await self.person(hub, "helper", host="10.0.0.8")
        self.assertEqual((await self.ask(hub, again, "join", room="#kept"))["ops"], [])

    async def test_the_first_to_join_an_empty_kept_room_does_not_become_its_op(self) -> None:
        owner = await self.account(self.hub, "owner")
        await self.ask(self.hub, owner, "join", room="#kept")
        await self.ask(self.hub, owner, "part", room="#kept")
        guest = await self.person(self.hub, "guest", host="10.0.0.9")
        ok = await self.ask(self.hub, guest, "join", room="#kept")
        self.assertEqual(ok["ops"], [])
        self.assertEqual((await self.ask(self.hub, guest, "topic", room="#kept", topic="mine now"))["code"], "not_op")

    async def test_a_guests_room_is_not_kept(self) -> None:
        guest = await self.person(self.hub, "guest")
        await self.ask(self.hub, guest, "join", room="#passing")
        await self.ask(self.hub, guest, "topic", room="#passing", topic="here today")
        self.assertEqual(await self.hub.store.rooms.all(), [])  # type: ignore[union-attr]
        await self.ask(self.hub, guest, "part", room="#passing")
        self.assertNotIn("#passing", [r["room"] for r in (await self.ask(self.hub, guest, "rooms"))["rooms"]])

    async def test_a_registered_user_banned_while_away_is_not_put_back_in_on_login(self) -> None:
        owner = await self.account(self.hub, "owner")
        member = await self.account(self.hub, "member", "10.0.0.2")
        await self.ask(self.hub, owner, "join", room="#club")
        await self.ask(self.hub, member, "join", room="#club")
        self.hub.disconnect(member)
        self.assertEqual((await self.ask(self.hub, owner, "ban", room="#club", user="member")).name, "ok")
        member = await self.person(self.hub, "member", PASSWORD, host="10.0.0.3")
        self.assertNotIn("#club", (await self.ask(self.hub, member, "whoami"))["rooms"])
        self.assertEqual((await self.ask(self.hub, member, "join", room="#club"))["code"], "banned")

    async def test_a_registered_user_cannot_nick_and_a_guest_cannot_take_a_registered_name(self) -> None:
        owner = await self.account(self.hub, "owner")
        self.assertEqual((await self.ask(self.hub, owner, "nick", user="someone"))["code"], "not_allowed")
        guest = await self.person(self.hub, "guest", host="10.0.0.4")
        self.hub.disconnect(owner)
        self.assertEqual((await self.ask(self.hub, guest, "nick", user="Owner"))["code"], "name_registered")
        whois = await self.ask(self.hub, guest, "whois", user="owner")
        self.assertEqual((whois["online"], whois["registered"]), (False, True))

    async def test_since_join_history_shows_a_new_member_only_what_came_after_their_join(self) -> None:
        owner = await self.account(self.hub, "owner")
        await self.ask(self.hub, owner, "join", room="#club")
        await self.ask(self.hub, owner, "msg", to="#club", text="before anyone came")
        await self.ask(self.hub, owner, "mode", room="#club", set="+H")
        guest = await self.person(self.hub, "guest", host="10.0.0.4")
        await self.ask(self.hub, guest, "join", room="#club")
        await self.ask(self.hub, owner, "msg", to="#club", text="after the guest came")
        history = await self.ask(self.hub, guest, "history", target="#club")
        self.assertEqual([m["text"] for m in history["messages"]], ["after the guest came"])
        mine = await self.ask(self.hub, owner, "history", target="#club")
        self.assertEqual([m["text"] for m in mine["messages"]], ["before anyone came", "after the guest came"])
        await self.ask(self.hub, owner, "mode", room="#club", set="-H")
        history = await self.ask(self.hub, guest, "history", target="#club")
        self.assertEqual(len(history["messages"]), 2)


class KeptRoomPostgreSQLTests(KeptRoomTests):
    def database(self) -> str:
        return POSTGRES.new_schema()


class SettingsFromOutsideTests(TestCase):
    def test_settings_read_back_are_checked_field_by_field(self) -> None:
        good = RoomSettings(owner="a", kept=True, ops={"a"}, topic="t").to_dict()
        self.assertEqual(RoomSettings.from_dict(good).to_dict(), good)
        for bad in ([], {"ops": "a"}, {"limit": -1}, {"history": "never"}, {"bans": [{"key": 1}]},
                    {"topic": "x" * 1000}, {"kept": "yes"}, {"bans": [{}] * (MAX_BANS + 1)}):
            with self.assertRaises(ValueError, msg=repr(bad)[:60]):
                RoomSettings.from_dict(bad)


class AcrossNodesTests(TestCase):
    def test_topic_ops_bans_and_renames_hold_on_every_node(self) -> None:
        cluster = Cluster("n1", "n2")
        alice = cluster.login("n1", "alice", "10.0.0.1:1")
        bob = cluster.login("n2", "bob", "10.0.0.2:1")
        carol = cluster.login("n2", "carol", "10.0.0.3:1")
        cluster.do("n1", alice, "join", room="#dev")
        cluster.do("n2", bob, "join", room="#dev")
        cluster.do("n1", alice, "topic", room="#dev", topic="across")
        self.assertEqual(bob.last("topic")["topic"], "across")
        cluster.do("n2", carol, "join", room="#dev")
        ok = carol.last()
        self.assertEqual((ok["topic"], ok["ops"]), ("across", ["alice"]))
        cluster.do("n1", alice, "op", room="#dev", user="bob")
        cluster.do("n2", bob, "kick", room="#dev", user="carol")
        self.assertEqual(carol.last("kick")["by"], "bob")
        self.assertEqual(alice.last("kick")["user"], "carol")
        cluster.do("n2", bob, "ban", room="#dev", user="carol")
        cluster.do("n2", carol, "join", room="#dev")
        self.assertEqual(carol.last()["code"], "banned")
        cluster.do("n1", alice, "mode", room="#dev", set="+m")
        cluster.do("n2", carol, "nick", user="caroline")
        self.assertEqual(alice.last("nick")["new"], "caroline")
        cluster.do("n1", alice, "whois", user="caroline")
        self.assertEqual(alice.last()["user"], "caroline")
        # A guest's rename frees the old name everywhere, and the new one is taken everywhere.
        other = cluster.connect("n1", "10.0.0.4:1")
        cluster.do("n1", other, "login", user="caroline")
        self.assertEqual(other.last()["code"], "name_taken")
        cluster.do("n1", other, "login", user="carol")
        self.assertEqual(other.last().name, "logged_in")
        # Moderated on both nodes: a non-voiced member on n2 is refused there.
        cluster.do("n2", bob, "deop", room="#dev", user="bob")
        cluster.do("n2", bob, "msg", to="#dev", text="hi")
        self.assertEqual(bob.last()["code"], "muted")

    def test_a_node_that_starts_later_learns_the_rooms_settings(self) -> None:
        cluster = Cluster("n1")
        alice = cluster.login("n1", "alice")
        cluster.do("n1", alice, "join", room="#dev")
        cluster.do("n1", alice, "topic", room="#dev", topic="from before")
        cluster.add("n2")
        bob = cluster.login("n2", "bob", "10.0.0.2:1")
        cluster.do("n2", bob, "join", room="#dev")
        self.assertEqual((bob.last()["topic"], bob.last()["ops"]), ("from before", ["alice"]))

    def test_bad_room_settings_on_the_bus_are_dropped(self) -> None:
        cluster = Cluster("n1", "n2")
        alice = cluster.login("n1", "alice")
        cluster.do("n1", alice, "join", room="#dev")
        node = cluster.nodes["n2"]
        before = node.state.room("#dev").settings.to_dict()  # type: ignore[union-attr]
        for settings in ({"ops": 5}, {"limit": "many"}):
            node.receive(b'{"t":"room","n":"n1","e":"%s","s":%d,"room":"#dev","settings":%s}' % (
                node.peers["n1"].epoch.encode(), node.peers["n1"].seq + 1, __import__("json").dumps(settings).encode()))
        self.assertEqual(node.state.room("#dev").settings.to_dict(), before)  # type: ignore[union-attr]
