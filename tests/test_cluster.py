"""
Several hubs, one chat: two or three nodes in one reactor (a Clock), linked
by a L{MemoryCluster} that behaves as Redis does (messages a reactor turn
later, in order; names and leases shared; a node can be cut off, Redis can
forget everything). The same rules run on every node; these tests hold
what the cluster must keep: one set of names, presence everywhere, room and
private messages across nodes, admins across nodes, a dead or stopping node
noticed, a bad bus message dropped.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from tchat.chat import Hub, HubConfig
from tchat.cluster.bus import MemoryCluster, NodeNameTaken
from tchat.cluster.node import LEASE, Node
from tchat.metrics import Metrics
from tchat.sentences import ok_text

from tests.helpers import RecordingSession, TextModeHub, request


class Cluster:
    def __init__(self, *names: str, timeout: float = 10.0, **config: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.memory = MemoryCluster(self.clock, timeout * LEASE)
        self.timeout = timeout
        self.config = config
        self.nodes: dict[str, Node] = {}
        self.hubs: dict[str, Hub] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> Hub:
        metrics = Metrics()
        node = Node(self.memory.bus(name), self.clock, metrics, timeout=self.timeout)
        hub = TextModeHub(HubConfig(**self.config), self.clock, state=node.state, delivery=node.delivery, metrics=metrics)
        node.bind(hub)
        node.start()
        self.nodes[name], self.hubs[name] = node, hub
        self.settle()
        return hub

    def settle(self) -> None:
        """Let every message on the bus arrive (and what they cause)."""
        for _ in range(1000):
            if not any(call.getTime() <= self.clock.seconds() for call in self.clock.getDelayedCalls()):
                return
            self.clock.advance(0)
        raise AssertionError("the bus never went quiet")

    def connect(self, node: str, address: str = "127.0.0.1:5000") -> RecordingSession:
        session = RecordingSession(address)
        self.hubs[node].connect(session)
        return session

    def login(self, node: str, name: str, address: str = "127.0.0.1:5000", **args: Any) -> RecordingSession:
        session = self.connect(node, address)
        self.hubs[node].handle(session, request("login", user=name, **args))
        self.settle()
        assert session.last().name == "logged_in", session.events
        session.clear()
        return session

    def do(self, node: str, session: RecordingSession, action: str, **args: Any) -> None:
        self.hubs[node].handle(session, request(action, **args))
        self.settle()

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass a second at a time (heartbeats, lease checks)."""
        for _ in range(int(seconds)):
            self.clock.advance(1)
            self.settle()


class NamesTests(TestCase):
    def test_a_name_taken_on_one_node_is_taken_on_the_others_case_insensitively(self) -> None:
        c = Cluster("a", "b")
        c.login("a", "Alice")
        other = c.connect("b")
        c.do("b", other, "login", user="aLICE")
        self.assertEqual(other.last()["code"], "name_taken")

    def test_the_same_name_at_once_on_two_nodes_exactly_one_wins(self) -> None:
        c = Cluster("a", "b", "c")
        sessions = {node: c.connect(node) for node in "abc"}
        for node, session in sessions.items():
            c.hubs[node].handle(session, request("login", user="dave"))
        c.settle()
        answers = sorted(s.last().name if s.last().name != "error" else s.last()["code"] for s in sessions.values())
        self.assertEqual(answers, ["logged_in", "name_taken", "name_taken"])
        for node in "abc":
            watcher = c.login(node, f"watcher{node}")
            c.do(node, watcher, "users")
            self.assertEqual(watcher.last()["users"].count("dave"), 1)

    def test_a_name_is_free_everywhere_once_its_user_quits(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        c.do("a", alice, "quit")
        c.login("b", "alice")

    def test_a_name_that_looks_like_a_user_on_another_node_is_refused_until_they_leave(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        impostor = c.connect("b")
        c.do("b", impostor, "login", user="\u0430lice")
        error = impostor.last()
        self.assertEqual(error["code"], "confusable_name")
        self.assertIn("looks like alice, who is online", error["text"])
        c.do("a", alice, "quit")
        c.login("b", "\u0430lice")
        # ...and now the other way round, from the first node.
        again = c.connect("a")
        c.do("a", again, "login", user="alice")
        self.assertEqual(again.last()["code"], "confusable_name")

    def test_a_new_room_that_looks_like_one_on_another_node_is_refused(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        c.do("a", alice, "join", room="#dev")
        bob = c.login("b", "bob")
        c.do("b", bob, "join", room="#d\u0435v")
        self.assertEqual(bob.last()["code"], "confusable_name")
        c.do("b", bob, "join", room="#DEV")
        self.assertEqual(bob.last()["room"], "#dev")

    def test_two_live_nodes_cannot_share_a_node_name(self) -> None:
        c = Cluster("a")
        node = Node(c.memory.bus("a"), c.clock, Metrics())
        return self.assertFailure(node.start(), NodeNameTaken)


class NodeNameTests(TestCase):
    def test_a_node_is_named_after_its_host_and_first_port_by_default(self) -> None:
        import socket

        from tchat.tap import default_node_name

        host = socket.gethostname().split(".")[0]
        self.assertEqual(default_node_name(["tcp:4321:backlog=1024", "ssl:6697:privateKey=k.pem"]), f"{host}:4321")
        self.assertEqual(default_node_name([]), host)


class PresenceTests(TestCase):
    def test_the_online_list_and_rooms_count_every_node(self) -> None:
        c = Cluster("a", "b", "c")
        alice = c.login("a", "alice")
        c.login("b", "bob")
        carol = c.connect("c")
        c.do("c", carol, "login", user="carol")
        self.assertEqual(carol.last()["users"], ["alice", "bob", "carol"])
        c.do("a", alice, "users")
        self.assertEqual(alice.last()["users"], ["alice", "bob", "carol"])
        c.do("a", alice, "rooms")
        self.assertEqual(alice.last()["rooms"], [{"room": "#lobby", "members": 3, "created": 1_000_000}])
        c.do("a", alice, "users", room="#lobby")
        self.assertEqual(alice.last()["users"], ["alice", "bob", "carol"])

    def test_a_node_that_starts_later_learns_who_is_online_from_the_others(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        c.login("b", "bob")
        c.do("a", alice, "join", room="#dev")
        c.add("c")
        carol = c.login("c", "carol")
        c.do("c", carol, "users")
        self.assertEqual(carol.last()["users"], ["alice", "bob", "carol"])
        c.do("c", carol, "users", room="#dev")
        self.assertEqual(carol.last()["users"], ["alice"])

    def test_debug_lists_every_node_and_the_node_of_each_connection(self) -> None:
        c = Cluster("a", "b", admin_password="pw")
        admin = c.login("a", "admin")
        c.login("b", "bob", "10.0.0.2:7")
        c.do("a", admin, "admin", password="pw")
        c.do("a", admin, "debug")
        debug = admin.last("debug")
        self.assertEqual([n["node"] for n in debug["nodes"]], ["a", "b"])
        bob = [x for x in debug["connections"] if x["user"] == "bob"]
        self.assertEqual((len(bob), bob[0]["node"], bob[0]["address"]), (1, "b", "10.0.0.2:7"))


class MessageTests(TestCase):
    def test_a_room_message_reaches_every_node_once_and_not_the_sender(self) -> None:
        c = Cluster("a", "b", "c")
        alice = c.login("a", "alice")
        bob = c.login("b", "bob")
        carol = c.login("c", "carol")
        dave = c.login("c", "dave")
        for s in (alice, bob, carol, dave):
            s.clear()
        c.do("a", alice, "msg", to="#lobby", text="hi all")
        for s in (bob, carol, dave):
            self.assertEqual([(e["from"], e["text"]) for e in s.of("message")], [("alice", "hi all")])
        self.assertEqual(alice.of("message"), [])
        self.assertEqual(alice.last()["action"], "msg")

    def test_a_burst_arrives_in_order_on_every_node(self) -> None:
        c = Cluster("a", "b", "c")
        senders = [c.login("a", "alice"), c.login("b", "bob")]
        watchers = [c.login(n, f"w{n}") for n in "abc"]
        for w in watchers:
            w.clear()
        for i in range(200):
            for node, sender in zip("ab", senders):
                c.hubs[node].handle(sender, request("msg", to="#lobby", text=f"{i}"))
        c.settle()
        for w in watchers:
            for name in ("alice", "bob"):
                got = [int(e["text"]) for e in w.of("message") if e["from"] == name]
                self.assertEqual(got, list(range(200)))

    def test_join_and_part_reach_members_on_other_nodes(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        bob = c.login("b", "bob")
        c.do("a", alice, "join", room="#dev")
        c.do("b", bob, "join", room="#dev")
        self.assertEqual((alice.last("join")["user"], alice.last("join")["room"]), ("bob", "#dev"))
        self.assertEqual(bob.last()["users"], ["alice", "bob"])
        c.do("b", bob, "part", room="#dev")
        self.assertEqual((alice.last("part")["user"], alice.last("part")["room"]), ("bob", "#dev"))
        c.do("a", alice, "users", room="#dev")
        self.assertEqual(alice.last()["users"], ["alice"])

    def test_a_private_message_reaches_a_user_on_another_node(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        bob = c.login("b", "bob")
        c.do("a", alice, "msg", to="bob", text="psst")
        self.assertEqual([(e["from"], e["to"], e["text"]) for e in bob.of("message")], [("alice", "bob", "psst")])
        self.assertEqual(alice.last().name, "ok")

    def test_one_quit_per_co_member_on_every_node(self) -> None:
        c = Cluster("a", "b", "c")
        alice = c.login("a", "alice")
        bob = c.login("b", "bob")
        carol = c.login("c", "carol")
        c.do("a", alice, "join", room="#dev")
        c.do("b", bob, "join", room="#dev")
        for s in (alice, carol):
            s.clear()
        c.do("b", bob, "quit", reason="bye")
        self.assertEqual([(e["user"], e["rooms"]) for e in alice.of("quit")], [("bob", ["#lobby", "#dev"])])
        self.assertEqual([(e["user"], e["rooms"]) for e in carol.of("quit")], [("bob", ["#lobby"])])
        self.assertEqual(alice.of("part"), [])
        c.do("c", carol, "users")
        self.assertEqual(carol.last()["users"], ["alice", "carol"])
        c.do("c", carol, "users", room="#dev")
        self.assertEqual(carol.last()["users"], ["alice"])


class AdminTests(TestCase):
    def test_an_admin_kicks_a_user_on_another_node(self) -> None:
        c = Cluster("a", "b", "c", admin_password="pw")
        admin = c.login("a", "admin")
        bob = c.login("b", "bob")
        carol = c.login("c", "carol")
        c.do("a", admin, "admin", password="pw")
        carol.clear()
        c.do("a", admin, "kill", user="bob", reason="spam")
        self.assertEqual(ok_text(admin.last("ok")), "kicked bob")
        self.assertEqual(bob.last("notice")["text"], "You were kicked by admin: spam")
        self.assertEqual(bob.closed, "kicked")
        self.assertEqual([(e["user"], e["reason"]) for e in carol.of("quit")], [("bob", "kicked by admin: spam")])
        c.do("c", carol, "users")
        self.assertEqual(carol.last()["users"], ["admin", "carol"])

    def test_shutdown_stops_one_node_and_the_others_tell_their_users(self) -> None:
        c = Cluster("a", "b", admin_password="pw")
        admin = c.login("a", "admin")
        alice = c.login("b", "alice")
        c.do("a", admin, "admin", password="pw")
        alice.clear()
        # What the service does when its node stops: say bye, close everyone.
        hub = c.hubs["a"]
        hub.on_stop = lambda: (c.nodes["a"].leaving(hub.admin.shutdown_reason), hub.close_all())
        c.do("a", admin, "shutdown", reason="maintenance")
        c.settle()
        self.assertEqual(admin.closed, "maintenance")
        self.assertEqual(admin.last("shutdown")["text"], "maintenance; the chat goes on on its other servers: connect again")
        self.assertEqual(alice.of("shutdown"), [])
        self.assertEqual([(e["user"], e["reason"]) for e in alice.of("quit")], [("admin", "server stopping: maintenance")])
        self.assertIsNone(alice.closed)
        c.do("b", alice, "users")
        self.assertEqual(alice.last()["users"], ["alice"])
        c.login("b", "admin")


class NodeDeathTests(TestCase):
    def test_a_dead_node_is_noticed_within_the_timeout_and_its_names_are_free(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        c.login("b", "bob")
        alice.clear()
        # b is gone without a word (kill -9): no more heartbeats, its lease runs out.
        c.memory.cut("b")
        c.nodes["b"]._beat.stop()
        c.wait(c.timeout)  # noticed within --node-timeout
        self.assertEqual([(e["user"], e["reason"]) for e in alice.of("quit")], [("bob", "connection lost")])
        c.do("a", alice, "users")
        self.assertEqual(alice.last()["users"], ["alice"])
        c.login("a", "bob")

    def test_a_node_cut_off_longer_than_its_lease_drops_its_users_when_it_comes_back(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        bob = c.login("b", "bob")
        c.memory.cut("b")
        c.wait(c.timeout)
        self.assertEqual(alice.last("quit")["user"], "bob")
        # Someone takes the name while b is away.
        c.login("a", "bob")
        c.memory.mend("b")
        c.wait(c.timeout)
        # Fencing: b's bob was dropped before b claimed anything again; one bob in the chat.
        self.assertIsNotNone(bob.closed)
        for node in "ab":
            watcher = c.login(node, f"w{node}")
            c.do(node, watcher, "users")
            self.assertEqual(watcher.last()["users"].count("bob"), 1, node)

    def test_a_name_let_go_while_the_bus_was_down_is_freed_once_it_is_back(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        c.memory.cut("a")
        c.do("a", alice, "quit")
        c.memory.mend("a")
        c.wait(c.timeout / 4 + 1)
        # b heard nothing of the quit (it was lost with the bus): the snapshot
        # a sent when it was back told it; and the name is free on the bus.
        bob = c.login("b", "bob")
        c.do("b", bob, "users")
        self.assertEqual(bob.last()["users"], ["bob"])
        c.login("b", "alice")

    def test_after_the_bus_forgets_everything_names_are_claimed_again(self) -> None:
        c = Cluster("a", "b")
        c.login("a", "alice")
        bob = c.login("b", "bob")
        c.memory.restart()
        c.wait(c.timeout / 4 + 1)
        self.assertIsNone(bob.closed)
        other = c.connect("a")
        c.do("a", other, "login", user="bob")
        self.assertEqual(other.last()["code"], "name_taken")
        c.do("b", bob, "msg", to="alice", text="still here")


class MetricsTests(TestCase):
    def test_a_node_says_its_name_the_nodes_it_hears_and_its_bus_in_the_metrics(self) -> None:
        from prometheus_client import generate_latest

        from tchat.cluster.node import NodeCollector

        c = Cluster("a", "b", "c")
        registry = c.hubs["a"].metrics.registry
        registry.register(NodeCollector(c.nodes["a"]))
        text = generate_latest(registry).decode()
        self.assertIn('tchat_node{node="a"} 1.0', text)
        self.assertIn("tchat_nodes 3.0", text)
        self.assertIn("tchat_bus_up 1.0", text)
        c.memory.cut("a")
        self.assertIn("tchat_bus_up 0.0", generate_latest(registry).decode())


class LimitsTests(TestCase):
    def test_wrong_admin_passwords_count_on_every_node(self) -> None:
        c = Cluster("a", "b", "c", admin_password="s3cret")
        sessions = {n: c.login(n, f"m{n}", "10.0.0.1:1") for n in "abc"}
        # Three nodes do not mean three times the free guesses.
        for node in "ab":
            c.do(node, sessions[node], "admin", password="guess")
        c.do("c", sessions["c"], "admin", password="guess")
        self.assertEqual(sessions["c"].last()["code"], "bad_password")
        c.do("c", sessions["c"], "admin", password="s3cret")
        self.assertEqual(sessions["c"].last()["code"], "rate_limited")
        c.do("a", sessions["a"], "admin", password="s3cret")
        self.assertEqual(sessions["a"].last()["code"], "rate_limited")
        # Someone at another address is not slowed down.
        other = c.login("b", "other", "10.0.0.2:1")
        c.do("b", other, "admin", password="s3cret")
        self.assertEqual(other.last().name, "ok")


class BusIsUntrustedTests(TestCase):
    def test_bad_messages_are_dropped_and_the_node_goes_on(self) -> None:
        c = Cluster("a", "b")
        alice = c.login("a", "alice")
        bob = c.login("b", "bob")
        rogue = c.memory.bus("rogue")
        rogue.start(lambda data: None, lambda up: None)
        bad = [
            b"not json", b"[1,2]", b'{"t":"attach"}', b'{"t":"nope","n":"x","e":"1","s":1}',
            b'{"t":"to_room","n":"x","e":"1","s":1,"room":"#lobby","but":null,"event":{"name":"evil","fields":{}}}',
            b'{"t":"attach","n":"x","e":"1","s":2,"user":{"key":"Mallory","name":"mallory","registered":false},'
            b'"conn":{"id":"x/1","door":"tcp","address":"?","host":"?","since":0}}',
            b"\xff\xfe" * 10,
            # Oversized: an event far past what any client may send.
            b'{"t":"to_room","n":"x","e":"1","s":4,"room":"#lobby","but":null,'
            b'"event":{"name":"notice","fields":{"text":"' + b"y" * 300_000 + b'"}}}',
        ]
        for data in bad:
            rogue.publish(data)
        # A message with an escape sequence in it reaches clients cleaned.
        rogue.publish(
            b'{"t":"to_room","n":"x","e":"1","s":3,"room":"#lobby","but":null,'
            b'"event":{"name":"notice","fields":{"text":"hi\\u001b[2Jthere"}}}'
        )
        c.settle()
        self.assertGreaterEqual(c.nodes["a"].bad_messages, 5)
        self.assertEqual([e["text"] for e in alice.of("notice")], ["hithere"])
        c.do("a", alice, "msg", to="#lobby", text="still fine")
        self.assertEqual(bob.last("message")["text"], "still fine")
        c.do("a", alice, "users")
        self.assertEqual(alice.last()["users"], ["alice", "bob"])


class AccountOnTwoNodesTests(TestCase):
    """An account's sessions on two nodes, with a real SQLite file both nodes share (one process here)."""

    async def settle(self) -> None:
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        from tchat.cluster.bus import MemoryBus

        for _ in range(200):
            if not any(getattr(call.func, "__func__", None) is MemoryBus._arrive for call in reactor.getDelayedCalls()):
                return
            await deferLater(reactor, 0, lambda: None)
        raise AssertionError("the bus never went quiet")

    async def test_the_last_two_sessions_closing_at_once_on_two_nodes_make_one_quit(self) -> None:
        import os
        import tempfile

        from twisted.internet import reactor

        from tchat.store import open_store
        from tests.test_accounts import CHEAP, PASSWORD

        folder = tempfile.TemporaryDirectory(prefix="tchat-cluster-")
        self.addCleanup(folder.cleanup)
        store = await open_store(f"sqlite:{os.path.join(folder.name, 'tchat.db')}", reactor, hasher=CHEAP)
        self.addCleanup(store.close)
        await store.accounts.create("erin", PASSWORD)
        memory = MemoryCluster(reactor, 8.0)
        hubs = {}
        for name in "ab":
            metrics = Metrics()
            node = Node(memory.bus(name), reactor, metrics)
            hub = Hub(HubConfig(), reactor, state=node.state, delivery=node.delivery, metrics=metrics)
            node.bind(hub)
            await node.start()
            await hub.use_store(store)
            self.addCleanup(node.stop)
            hubs[name] = hub

        async def login(node: str, name: str, **args: Any) -> RecordingSession:
            session = RecordingSession()
            hubs[node].connect(session)
            await hubs[node].handle(session, request("login", user=name, **args))
            await self.settle()
            self.assertEqual(session.last("logged_in")["user"], name)
            return session

        laptop = await login("a", "erin", password=PASSWORD)
        phone = await login("b", "erin", password=PASSWORD)
        carol = await login("a", "carol")
        dave = await login("b", "dave")
        self.assertEqual(phone.last("logged_in")["sessions"], 2)
        hubs["a"].disconnect(laptop)
        hubs["b"].disconnect(phone)
        await self.settle()
        # Each node saw the other session still open when its own closed; one of them announces.
        self.assertEqual([e["user"] for e in carol.of("quit")], ["erin"])
        self.assertEqual([e["user"] for e in dave.of("quit")], ["erin"])
        await hubs["a"].handle(carol, request("users"))
        await hubs["b"].handle(dave, request("users"))
        await self.settle()
        self.assertEqual(carol.last("users")["users"], ["carol", "dave"])
        self.assertEqual(dave.last("users")["users"], ["carol", "dave"])
        # The name is free on the bus again: erin logs in anew on either node.
        await login("b", "erin", password=PASSWORD)
