"""
Several real ``twistd tchat`` nodes, one chat: the installed server, each
node its own process, on a Redis of the test's own (which a test may kill
and start again) and one real PostgreSQL database they share. Clients are
real sockets (JSON mode). Without PostgreSQL or redis-server these skip,
except when ``$CI`` is set: then they fail.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import defer, endpoints, reactor
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.helpers import LineClient, connect_line_client
from tests.test_redis_bus import OwnRedis
from tests.test_store import POSTGRES
from tests.test_metrics import get
from tests.test_twistd import TWISTD, TwistdProcess, _env, spawn_twistd, web_port_of
from tests.test_web_door import WebSocketClient

TIMEOUT = 3.0


class Nodes(TestCase):
    timeout = 90

    async def start_cluster(self, *names: str) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-cluster-")
        self.addCleanup(folder.cleanup)
        self.cwd = folder.name
        self.db = POSTGRES.new_schema()
        self.redis = OwnRedis(self)
        await self.redis.start()
        self.processes: dict[str, TwistdProcess] = {}
        self.ports: dict[str, int] = {}
        self.web_ports: dict[str, int] = {}
        for name in names:
            await self.start_node(name)

    async def start_node(self, name: str) -> int:
        process = spawn_twistd(
            self, self.cwd, "-n", "--pidfile", "", "tchat", "--port", "tcp:0:interface=127.0.0.1",
            "--web-port", "tcp:0:interface=127.0.0.1", "--irc-port", "off",
            "--bus", self.redis.url(), "--db", self.db, "--node", name, "--node-timeout", str(TIMEOUT),
            TCHAT_ADMIN_PASSWORD="pw",
        )
        self.processes[name] = process
        self.ports[name] = await process.port
        self.web_ports[name] = await web_port_of(process)
        return self.ports[name]

    async def browser(self, node: str, name: str) -> WebSocketClient:
        port = self.web_ports[node]
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}")
        factory.protocol = WebSocketClient
        client: WebSocketClient = await endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)
        self.addCleanup(lambda: client.transport.loseConnection())
        await client.opened
        client.send_json(action="login", user=name, id="login")
        await client.wait_event("logged_in", re="login")
        return client

    async def client(self, node: str, name: str | None = None, **login: Any) -> LineClient:
        client = await connect_line_client(self.ports[node])
        self.addCleanup(lambda: client.transport.loseConnection())
        if name is not None:
            client.send_json(action="login", user=name, id="login", **login)
            answer = await client.wait_for(lambda line: '"re":"login"' in line.replace(" ", ""))
            assert json.loads(answer)["event"] == "logged_in", answer
        return client

    async def ask(self, client: LineClient, action: str, **args: Any) -> dict[str, Any]:
        rid = f"{action}-{time.monotonic_ns()}"
        client.send_json(action=action, id=rid, **args)
        answer: dict[str, Any] = json.loads(await client.wait_for(lambda line: f'"re": "{rid}"' in line or f'"re":"{rid}"' in line))
        return answer

    async def until(self, condition: Any, seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await condition():
                return
            await deferLater(reactor, 0.1, lambda: None)
        raise AssertionError("the condition never held")


class OneChatTests(Nodes):
    async def test_three_nodes_are_one_chat(self) -> None:
        await self.start_cluster("n1", "n2", "n3")
        alice = await self.client("n1", "alice")
        bob = await self.client("n2", "bob")
        carol = await self.client("n3", "carol")
        # Presence everywhere (a login's list is read on its own node).
        self.assertEqual((await self.ask(carol, "users"))["users"], ["alice", "bob", "carol"])
        # The other nodes hear of carol a moment later.
        async def three() -> bool:
            rooms = (await self.ask(alice, "rooms"))["rooms"]
            return bool([(r["room"], r["members"]) for r in rooms] == [("#lobby", 3)])

        await self.until(three, 5)
        # A burst from two senders on two nodes reaches everyone, in order, once.
        for i in range(100):
            alice.send_json(action="msg", to="#lobby", text=f"a{i}")
            bob.send_json(action="msg", to="#lobby", text=f"b{i}")
        def has(client: LineClient, text: str) -> bool:
            return any(f'"text":"{text}"' in line.replace(" ", "") for line in client.lines)

        async def all_arrived() -> bool:
            return has(carol, "a99") and has(carol, "b99") and has(alice, "b99") and has(bob, "a99")

        await self.until(all_arrived, 20)
        for client, sender, own in ((carol, "alice", None), (carol, "bob", None), (alice, "bob", "alice"), (bob, "alice", "bob")):
            got = [json.loads(line)["text"] for line in client.lines if '"event": "message"' in line or '"event":"message"' in line]
            mine = [t for t in got if t.startswith(sender[0])]
            self.assertEqual(mine, [f"{sender[0]}{i}" for i in range(100)])
            if own is not None:
                self.assertFalse([t for t in got if t.startswith(own[0])], "the sender is not echoed")
        # A private message across nodes; each message stored once, readable on any node.
        alice.send_json(action="msg", to="carol", text="just you", id="pm")
        await alice.wait_event("ok", re="pm")
        private = await carol.wait_event("message", kind="private")
        self.assertEqual((private["from"], private["text"]), ("alice", "just you"))
        history = await self.ask(bob, "history", target="#lobby", limit=500)
        texts = [m["text"] for m in history["messages"]]
        self.assertEqual(sorted(texts), sorted([f"a{i}" for i in range(100)] + [f"b{i}" for i in range(100)]))
        rows = POSTGRES.query(self.db, "SELECT COUNT(*) FROM messages WHERE text = ?", ("a42",))
        self.assertEqual(rows[0][0], 1)
        # Quit on one node: one quit event everywhere else, the name free everywhere.
        bob.send_json(action="quit", id="q")
        quit = await carol.wait_event("quit", user="bob")
        self.assertEqual(quit["rooms"], ["#lobby"])
        await alice.wait_event("quit", user="bob")
        await self.client("n3", "bob")

    async def test_a_browser_on_one_node_and_line_clients_on_the_others_talk(self) -> None:
        await self.start_cluster("n1", "n2", "n3")
        page = await self.browser("n1", "webby")
        nc = await self.client("n2", "liney")
        program = await self.client("n3", "bot")
        page.send_json(action="msg", to="#lobby", text="from the page", id="m")
        await page.wait_event("ok", re="m")
        await nc.wait_event("message", text="from the page")
        await program.wait_event("message", text="from the page")
        nc.send_json(action="msg", to="webby", text="from nc, privately")
        private = await page.wait_event("message", kind="private")
        self.assertEqual((private["from"], private["text"]), ("liney", "from nc, privately"))
        program.send_json(action="quit")
        quit = await page.wait_event("quit", user="bot")
        self.assertEqual(quit["rooms"], ["#lobby"])

    async def test_the_same_name_at_once_on_three_nodes_exactly_one_wins(self) -> None:
        await self.start_cluster("n1", "n2", "n3")
        clients = [await self.client(n) for n in ("n1", "n2", "n3")]
        for client in clients:
            client.send_json(action="login", user="Dave", id="race")
        answers = [json.loads(await c.wait_for(lambda line: '"re": "race"' in line or '"re":"race"' in line)) for c in clients]
        outcomes = sorted(a["event"] if a["event"] == "logged_in" else a["code"] for a in answers)
        self.assertEqual(outcomes, ["logged_in", "name_taken", "name_taken"])
        watcher = await self.client("n2", "watcher")
        self.assertEqual([u.lower() for u in (await self.ask(watcher, "users"))["users"]].count("dave"), 1)

    async def test_an_account_logs_in_on_two_nodes_and_an_admin_kicks_it_from_a_third(self) -> None:
        await self.start_cluster("n1", "n2", "n3")
        laptop = await self.client("n1", "erin")
        answer = await self.ask(laptop, "register", password="correct horse")
        self.assertEqual(answer["event"], "ok", answer)
        phone = await self.client("n2", "erin", password="correct horse")
        whoami = await self.ask(phone, "whoami")
        self.assertEqual(sorted(s["node"] for s in whoami["sessions"]), ["n1", "n2"])
        admin = await self.client("n3", "admin")
        await self.ask(admin, "admin", password="pw")
        debug = await self.ask(admin, "debug")
        self.assertEqual(sorted(n["node"] for n in debug["nodes"]), ["n1", "n2", "n3"])
        self.assertEqual(sorted(c["node"] for c in debug["connections"] if c["user"] == "erin"), ["n1", "n2"])
        answer = await self.ask(admin, "kill", user="erin", reason="test")
        self.assertEqual(answer["event"], "ok", answer)
        await laptop.lost
        await phone.lost
        quit = await admin.wait_event("quit", user="erin")
        self.assertIn("kicked by admin", quit["reason"])
        # Online nowhere now: a private message waits for erin, who gets it on whichever node.
        answer = await self.ask(admin, "msg", to="erin", text="while you were out")
        self.assertTrue(answer.get("queued"), answer)
        self.assertFalse((await self.ask(admin, "seen", user="erin"))["online"])
        back = await self.client("n2", "erin", password="correct horse")
        delayed = await back.wait_event("message", text="while you were out")
        self.assertEqual((delayed["from"], delayed.get("delayed")), ("admin", True))

        async def seen_online() -> bool:
            return bool((await self.ask(admin, "seen", user="erin"))["online"])

        # /seen on another node knows erin is back.
        await self.until(seen_online, 5)


class RoomsAcrossNodesTests(Nodes):
    async def test_a_kept_room_is_run_from_one_node_and_holds_on_the_others_and_after_a_restart(self) -> None:
        await self.start_cluster("n1", "n2")
        owner = await self.client("n1", "owner")
        self.assertEqual((await self.ask(owner, "register", password="correct horse"))["event"], "ok")
        troll = await self.client("n2", "troll")
        friend = await self.client("n2", "friend")
        for client in (owner, troll, friend):
            self.assertEqual((await self.ask(client, "join", room="#club"))["event"], "ok")
        # Each join is seen on the owner's node before it acts on them.
        async def three() -> bool:
            return len((await self.ask(owner, "users", room="#club"))["users"]) == 3

        await self.until(three, 5)
        self.assertEqual((await self.ask(owner, "topic", room="#club", topic="across nodes"))["event"], "ok")
        topic = await friend.wait_event("topic", room="#club")
        self.assertEqual((topic["topic"], topic["by"]), ("across nodes", "owner"))
        self.assertEqual((await self.ask(owner, "ban", room="#club", user="troll"))["event"], "ok")
        kick = await troll.wait_event("kick", room="#club")
        self.assertEqual(kick["reason"], "banned")
        # Enforced on the banned user's own node.
        self.assertEqual((await self.ask(troll, "join", room="#club"))["code"], "banned")
        # Every node restarts: the room, its topic and its ban come back from the database.
        for name in ("n1", "n2"):
            self.processes[name].transport.signalProcess("TERM")
            await self.processes[name].ended
        await self.start_node("n1")
        await self.start_node("n2")
        visitor = await self.client("n2", "visitor")
        rooms = (await self.ask(visitor, "rooms"))["rooms"]
        club = next(r for r in rooms if r["room"] == "#club")
        self.assertEqual((club["members"], club["topic"], club["kept"]), (0, "across nodes", True))
        troll = await self.client("n1", "troll")
        self.assertEqual((await self.ask(troll, "join", room="#club"))["code"], "banned")


class NodeFailureTests(Nodes):
    async def test_a_killed_node_is_noticed_and_its_names_are_free(self) -> None:
        await self.start_cluster("n1", "n2")
        alice = await self.client("n1", "alice")
        await self.client("n2", "bob")
        # n1 knows bob (his logged_in can reach him before n2's word of it
        # leaves for the bus: both go out in the same reactor turn).
        await alice.wait_event("join", user="bob")
        killed = time.monotonic()
        self.processes["n2"].transport.signalProcess("KILL")
        quit = await alice.wait_event("quit", user="bob")
        noticed = time.monotonic() - killed
        self.assertEqual(quit["reason"], "connection lost")
        self.assertLess(noticed, TIMEOUT + 1)
        await self.client("n1", "bob")

    async def test_a_second_live_node_with_the_same_name_is_refused(self) -> None:
        await self.start_cluster("n1")
        process = spawn_twistd(
            self, self.cwd, "-n", "--pidfile", "", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "off", "--irc-port", "off",
            "--bus", self.redis.url(), "--db", self.db, "--node", "n1",
        )
        process.port.addErrback(lambda failure: None)  # it never listens: that is the point
        code, _ = await process.ended
        self.assertNotEqual(code, 0)
        self.assertIn(b"a live node is already named n1", process.output)

    async def test_the_chat_goes_on_through_a_redis_restart(self) -> None:
        await self.start_cluster("n1", "n2")
        alice = await self.client("n1", "alice")
        bob = await self.client("n2", "bob")
        self.assertEqual((await get(self.web_ports["n1"], "/health")).status, 200)
        self.redis.kill()

        async def unhealthy() -> bool:
            response = await get(self.web_ports["n1"], "/health")
            return response.status == 503 and json.loads(response.body)["bus"] == "down"

        # A load balancer sends new people to other nodes meanwhile.
        await self.until(unhealthy, 10)
        # Each node goes on serving its own users.
        alice2 = await self.client("n1")
        alice2.send_json(action="login", user="alice2", id="l")
        refused = await alice2.wait_event("error", re="l")
        self.assertEqual(refused["code"], "unavailable")
        alice.send_json(action="msg", to="#lobby", text="said while Redis was away", id="m")
        await alice.wait_event("ok", re="m")
        await self.redis.start()

        async def delivered() -> bool:
            alice.send_json(action="msg", to="#lobby", text="are you there")
            await deferLater(reactor, 0.3, lambda: None)
            return any("are you there" in line for line in bob.lines)

        await self.until(delivered, 10)  # within 10 s of Redis being back
        self.assertEqual((await get(self.web_ports["n1"], "/health")).status, 200)
        # Names stay unique after the nodes re-assert them.
        other = await self.client("n1")
        other.send_json(action="login", user="bob", id="l")
        self.assertEqual((await other.wait_event("error", re="l"))["code"], "name_taken")
        # What was said meanwhile is in the history on every node.
        history = await self.ask(bob, "history", target="#lobby")
        self.assertIn("said while Redis was away", [m["text"] for m in history["messages"]])


class DroppedSubscriberTests(Nodes):
    async def test_a_node_whose_subscription_redis_dropped_catches_up_by_itself(self) -> None:
        await self.start_cluster("n1", "n2")
        alice = await self.client("n1", "alice")
        bob = await self.client("n2", "bob")
        # What Redis does to a subscriber whose backlog passes its output
        # buffer limit: it closes it. Messages published meanwhile are lost
        # to it (pub/sub is at most once); the node must notice and catch up.
        out, err, code = await getProcessOutputAndValue(
            shutil.which("redis-cli") or "/usr/bin/redis-cli", ["-p", str(self.redis.port), "client", "kill", "type", "pubsub"], env=_env()
        )
        self.assertEqual(code, 0, err)
        self.assertGreaterEqual(int(out.strip() or 0), 2)
        for i in range(20):
            alice.send_json(action="msg", to="#lobby", text=f"while the subscriptions were gone {i}", id=f"m{i}")
        await alice.wait_event("ok", re="m19")

        async def delivered() -> bool:
            alice.send_json(action="msg", to="#lobby", text="after")
            await deferLater(reactor, 0.3, lambda: None)
            return any('"text": "after"' in line or '"text":"after"' in line for line in bob.lines)

        await self.until(delivered, 10)
        bob.send_json(action="msg", to="#lobby", text="bob is here")
        await alice.wait_event("message", text="bob is here")
        # Nobody was taken for gone, and what was said meanwhile is kept.
        self.assertEqual((await self.ask(bob, "users"))["users"], ["alice", "bob"])
        history = await self.ask(bob, "history", target="#lobby", limit=200)
        self.assertEqual(sum(1 for m in history["messages"] if m["text"].startswith("while the subscriptions")), 20)


class OptionTests(TestCase):
    async def test_a_bus_with_an_sqlite_database_is_refused(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-cluster-")
        self.addCleanup(folder.cleanup)
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["-n", "tchat", "--bus", "redis://127.0.0.1:1/0", "--db", "sqlite:x.db"], env=_env(), path=folder.name
        )
        self.assertNotEqual(code, 0)
        self.assertIn(b"nodes on other machines cannot share an SQLite file", out + err)


__all__ = ["Nodes", "defer"]
