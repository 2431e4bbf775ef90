"""
Watch lists (``watch``, IRC's MONITOR) in the chat rules: on one hub with a
Clock, and across nodes of a L{MemoryCluster}.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tchat.codec import TextCodec
from tests.helpers import RecordingSession, logged_in, make_hub, request
from tests.test_cluster import Cluster


def presence(session: RecordingSession) -> list[tuple[str, str]]:
    return [(e.name, e["user"]) for e in session.events if e.name in ("online", "offline")]


class WatchTests(TestCase):
    def test_adding_says_who_is_online_and_the_list(self) -> None:
        hub, _ = make_hub()
        logged_in(hub, "Bob")
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("watch", id=1, op="add", users="bob, carol"))
        answer = alice.last()
        self.assertEqual(answer.name, "watching")
        self.assertEqual((answer["re"], answer["action"]), (1, "watch"))
        # Online under the name as its user has it; the list keeps the names as given.
        self.assertEqual((answer["online"], answer["offline"], answer["users"]), (["Bob"], ["carol"], ["bob", "carol"]))
        hub.handle(alice, request("watch"))
        self.assertEqual((alice.last()["online"], alice.last()["offline"]), (["Bob"], ["carol"]))
        hub.handle(alice, request("watch", op="remove", users="BOB"))
        self.assertEqual((alice.last()["users"], alice.last()["online"], alice.last()["offline"]), (["carol"], [], []))
        hub.handle(alice, request("watch", op="clear"))
        self.assertEqual(alice.last()["users"], [])

    def test_a_watcher_is_told_when_a_name_comes_online_and_leaves(self) -> None:
        hub, _ = make_hub(lobby=None)
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("watch", op="add", users="bob"))
        alice.clear()
        bob = logged_in(hub, "Bob")
        self.assertEqual(presence(alice), [("online", "Bob")])
        hub.handle(bob, request("quit"))
        self.assertEqual(presence(alice), [("online", "Bob"), ("offline", "Bob")])
        # No longer watched: nothing.
        hub.handle(alice, request("watch", op="remove", users="bob"))
        alice.clear()
        logged_in(hub, "bob")
        self.assertEqual(presence(alice), [])

    def test_a_guest_renaming_is_its_old_name_leaving_and_its_new_one_coming(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        baz = logged_in(hub, "baz")
        hub.handle(alice, request("watch", op="add", users="qux"))
        alice.clear()
        hub.handle(baz, request("nick", user="qux"))
        self.assertEqual(presence(alice), [("online", "qux")])
        # Only the case changed: the same name, nothing to tell.
        hub.handle(baz, request("nick", user="QUX"))
        self.assertEqual(presence(alice), [("online", "qux")])
        hub.handle(baz, request("nick", user="bazbat"))
        self.assertEqual(presence(alice), [("online", "qux"), ("offline", "QUX")])

    def test_names_that_are_not_names_are_listed_apart_and_never_watched(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("watch", op="add", users="*!user@localhost,bob"))
        answer = alice.last()
        self.assertEqual((answer["bad"], answer["users"]), (["*!user@localhost"], ["bob"]))
        hub.handle(alice, request("watch", op="add"))
        self.assertEqual(alice.last()["code"], "bad_request")

    def test_a_list_has_a_limit_and_a_refused_add_adds_nothing(self) -> None:
        hub, _ = make_hub(max_watch=2)
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("watch", op="add", users="a1 a2"))
        hub.handle(alice, request("watch", op="add", users="a2"))  # already there: fine
        self.assertEqual(alice.last()["users"], ["a1", "a2"])
        hub.handle(alice, request("watch", op="add", users="a3"))
        error = alice.last()
        self.assertEqual((error.name, error["code"], error["limit"], error["users"]), ("error", "watch_full", 2, ["a3"]))
        hub.handle(alice, request("watch"))
        self.assertEqual(alice.last()["users"], ["a1", "a2"])
        # The connection stays and works.
        hub.handle(alice, request("watch", op="remove", users="a1"))
        hub.handle(alice, request("watch", op="add", users="a3"))
        self.assertEqual(alice.last()["users"], ["a2", "a3"])

    def test_a_closed_connection_watches_nothing_any_more(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("watch", op="add", users="bob"))
        hub.disconnect(alice)
        self.assertEqual(hub.state.watchers("bob"), ())
        logged_in(hub, "bob")

    def test_away_is_told_to_watchers_who_share_no_room_once(self) -> None:
        hub, _ = make_hub(lobby=None)
        alice = logged_in(hub, "alice")
        carol = logged_in(hub, "carol")
        bob = logged_in(hub, "bob")
        for watcher in (alice, carol):
            hub.handle(watcher, request("watch", op="add", users="bob"))
        hub.handle(carol, request("join", room="#dev"))
        hub.handle(bob, request("join", room="#dev"))
        alice.clear()
        carol.clear()
        hub.handle(bob, request("away", text="lunch"))
        self.assertEqual([(e["user"], e["text"], e["rooms"]) for e in alice.of("away")], [("bob", "lunch", [])])
        # Carol shares #dev: told once, as a sharer.
        self.assertEqual([e["rooms"] for e in carol.of("away")], [["#dev"]])
        hub.handle(bob, request("away", text="lunch"))  # no change: nothing
        hub.handle(bob, request("away"))
        self.assertEqual([e.get("text") for e in alice.of("away")], ["lunch", None])

    def test_text_mode_shows_the_list_and_the_news(self) -> None:
        hub, _ = make_hub()
        alice = logged_in(hub, "alice")
        hub.handle(alice, request("watch", op="add", users="bob"))
        logged_in(hub, "bob")
        lines = b"".join(TextCodec().encode(e) for e in alice.events).decode()
        self.assertIn("Online: nobody; not online: bob", lines)
        self.assertIn("You watch 1: bob", lines)
        self.assertIn("bob is online (you watch them)", lines)


class ClusterWatchTests(TestCase):
    def test_a_watcher_hears_of_users_of_other_nodes(self) -> None:
        c = Cluster("a", "b", lobby=None)
        alice = c.login("a", "alice")
        c.do("a", alice, "watch", op="add", users="bob")
        alice.clear()
        bob = c.login("b", "bob")
        self.assertEqual(presence(alice), [("online", "bob")])
        c.do("a", alice, "watch")
        self.assertEqual(alice.last()["online"], ["bob"])
        c.do("b", bob, "away", text="afk")
        self.assertEqual([(e["user"], e["text"]) for e in alice.of("away")], [("bob", "afk")])
        c.do("b", bob, "nick", user="bobby")
        c.do("b", bob, "nick", user="bob")
        c.do("b", bob, "quit")
        self.assertEqual(presence(alice), [("online", "bob"), ("offline", "bob"), ("online", "bob"), ("offline", "bob")])

    def test_the_users_of_a_dead_node_go_offline_for_watchers(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        c.login("b", "bob")
        c.do("a", alice, "watch", op="add", users="bob")
        alice.clear()
        c.memory.cut("b")
        c.nodes["b"]._beat.stop()
        c.wait(c.timeout)
        self.assertEqual(presence(alice), [("offline", "bob")])


class ClientRenderTests(TestCase):
    def test_tchat_client_shows_the_list_and_the_news(self) -> None:
        from tchat.client.render import Renderer

        render = Renderer(color=False)
        answer = {"event": "watching", "users": ["bob", "carol"], "online": ["bob"], "offline": ["carol"], "bad": ["*!x@y"]}
        lines = render.event(answer)
        self.assertEqual(len(lines), 3, lines)
        self.assertIn("*!x@y is not a name", lines[0])
        self.assertIn("Online: bob; not online: carol", lines[1])
        self.assertIn("You watch 2: bob, carol", lines[2])
        self.assertIn("You watch nobody", render.event({"event": "watching", "users": [], "online": [], "offline": []})[0])
        self.assertIn("bob is online", render.event({"event": "online", "user": "bob"})[0])
        self.assertIn("bob left the chat", render.event({"event": "offline", "user": "bob"})[0])


class OptionTests(TestCase):
    def test_max_watch_is_an_option_reloaded_by_sighup_and_at_least_one(self) -> None:
        from twisted.python import usage

        from tchat.chat import HubConfig
        from tchat.tap import Options, apply_options

        options = Options()
        options.parseOptions(["--max-watch", "5"])
        config = HubConfig()
        apply_options(options, config, None, [])
        self.assertEqual(config.max_watch, 5)
        with self.assertRaises(usage.UsageError):
            Options().parseOptions(["--max-watch", "0"])
