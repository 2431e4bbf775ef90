"""tchat-bench: its numbers, its refusals, and real runs against tchat and a fake IRC server."""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver
from twisted.trial.unittest import TestCase

from tchat.bench.cli import main, parse_args
from tchat.bench.config import BenchConfig, BenchError, Phase, check_host
from tchat.bench.report import format_summary
from tchat.bench.runner import Bench
from tchat.bench.stats import percentile, summarize
from tchat.bench.workers import part_of
from tchat.chat import Hub, HubConfig
from tchat.cluster.bus import MemoryCluster
from tchat.cluster.node import Node
from tchat.door.line import LineDoor
from tchat.metrics import Metrics
from tests.helpers import RecordingSession, generous_limits, request, start_line_server


class NumbersTests(TestCase):
    def test_percentiles_are_nearest_rank(self) -> None:
        values = list(range(1, 101))
        self.assertEqual([percentile(values, p) for p in (1, 50, 90, 99, 100)], [1, 50, 90, 99, 100])
        self.assertEqual([percentile([10, 20, 30, 40], p) for p in (25, 50, 51, 75, 99)], [10, 20, 30, 30, 40])
        self.assertEqual(percentile([7.5], 99), 7.5)

    def test_summary_of_known_latencies_in_milliseconds(self) -> None:
        seconds = [0.004, 0.001, 0.003, 0.002, 0.010]  # unsorted on purpose
        summary = summarize(seconds, 1000.0)
        self.assertEqual(summary["count"], 5)
        for key, wanted in {"min": 1, "p50": 3, "p90": 10, "p99": 10, "max": 10, "mean": 4}.items():
            self.assertAlmostEqual(summary[key], wanted, places=9, msg=key)

    def test_summary_of_nothing_has_no_numbers(self) -> None:
        self.assertEqual(summarize([]), {"count": 0, "mean": None, "min": None, "p50": None, "p90": None, "p99": None, "max": None})


class RefusalTests(TestCase):
    def test_only_loopback_hosts_unless_allowed(self) -> None:
        self.assertEqual(check_host("localhost"), "127.0.0.1")
        self.assertEqual(check_host("127.0.0.9"), "127.0.0.9")
        self.assertEqual(check_host("::1"), "::1")
        for host in ("192.0.2.7", "10.0.0.1", "example.com", "0.0.0.0"):
            with self.assertRaises(BenchError, msg=host):
                check_host(host)
        self.assertEqual(check_host("192.0.2.7", allow_remote=True), "192.0.2.7")

    def test_bench_refuses_a_remote_host_before_connecting(self) -> None:
        with self.assertRaises(BenchError):
            Bench(BenchConfig(host="192.0.2.7", port=1), reactor)

    def test_command_line_refuses_a_remote_host(self) -> None:
        with self.assertRaises(SystemExit) as raised:
            main(["--host", "192.0.2.7", "--port", "1"])
        self.assertEqual(raised.exception.code, 2)

    def test_command_line_phases(self) -> None:
        config, _ = parse_args(["-n", "20", "--rate", "0,250", "--messages", "30,40"])
        self.assertEqual(config.phases, [Phase(30, 0.0), Phase(40, 250.0)])
        self.assertEqual((config.senders, config.port, config.room_name()), (10, 4321, "#lobby"))
        config, _ = parse_args(["--protocol", "irc", "--rate", "0,100", "-m", "5"])
        self.assertEqual(config.phases, [Phase(5, 0.0), Phase(5, 100.0)])
        self.assertEqual((config.port, config.room_name()), (6667, "#bench"))

    def test_impossible_numbers_are_refused(self) -> None:
        for bad in (dict(connections=0), dict(senders=5, connections=3), dict(size=10), dict(window=0),
                    dict(connections=1, senders=1), dict(protocol="xmpp"), dict(processes=0),
                    dict(connections=4, senders=3, processes=3)):
            with self.assertRaises(BenchError, msg=bad):
                BenchConfig(**bad).check()  # type: ignore[arg-type]


def small_config(port: int, **overrides: Any) -> BenchConfig:
    values: dict[str, Any] = dict(
        port=port, connections=6, senders=3, phases=[Phase(5), Phase(4, rate=400.0)],
        settle=0, timeout=20, stall=5, server_pid=os.getpid(), concurrency=4,
    )
    values.update(overrides)
    return BenchConfig(**values)


async def run_bench(case: TestCase, config: BenchConfig) -> dict[str, Any]:
    bench = Bench(config, reactor)
    case.addCleanup(bench.close)
    return await bench.run()


class TchatRunTests(TestCase):
    timeout = 30

    async def test_every_message_reaches_every_other_member(self) -> None:
        _, _, port = await start_line_server(self)
        results = await run_bench(self, small_config(port))
        self.assertTrue(results["ok"], results)
        burst, steady = results["phases"]
        for phase, per_sender in ((burst, 5), (steady, 4)):
            sent = 3 * per_sender
            self.assertEqual(phase["messages_sent"], sent)
            self.assertEqual(phase["deliveries"], sent * 5)  # everyone but the sender
            self.assertEqual(phase["deliveries_expected"], sent * 5)
            self.assertEqual((phase["deliveries_missing"], phase["members_short"], phase["deliveries_unexpected"]), (0, 0, 0))
            self.assertEqual(phase["latency_ms"]["count"], sent * 5)
            self.assertLessEqual(phase["latency_ms"]["p50"], phase["latency_ms"]["p99"])
            # Each delivery's latency is from its own message's send, within the phase.
            self.assertGreaterEqual(phase["latency_ms"]["min"], 0)
            self.assertLessEqual(phase["latency_ms"]["max"], phase["seconds"] * 1000)
            self.assertGreater(phase["deliveries_per_s"], 0)
        self.assertEqual((burst["kind"], steady["kind"]), ("burst", "steady"))
        self.assertEqual(results["setup"]["connections"], 6)
        self.assertEqual(results["server_errors"], {})
        self.assertIsNotNone(results["memory"]["per_connection_kib"])
        self.assertIn("deliveries/s", format_summary(results))
        json.dumps(results)  # machine-readable as promised

    async def test_a_room_other_than_the_lobby_is_joined(self) -> None:
        hub, _, port = await start_line_server(self)
        results = await run_bench(self, small_config(port, room="#load", phases=[Phase(3)], connections=4, senders=2))
        self.assertTrue(results["ok"], results)
        self.assertEqual(len(hub.state.room("#load").members), 4)
        self.assertEqual(results["phases"][0]["deliveries"], 2 * 3 * 3)

    async def test_a_login_refusal_fails_the_setup(self) -> None:
        _, _, port = await start_line_server(self, max_users=3)
        results = await run_bench(self, small_config(port, connections=5, senders=1))
        self.assertFalse(results["ok"])
        self.assertIn("server_full", results["error"])
        self.assertEqual(results["phases"], [])


class SeveralNodesTests(TestCase):
    timeout = 30

    async def node(self, cluster: MemoryCluster, name: str) -> int:
        metrics = Metrics()
        node = Node(cluster.bus(name), reactor, metrics)
        hub = Hub(HubConfig(), reactor, state=node.state, delivery=node.delivery, metrics=metrics)
        node.bind(hub)
        await node.start()
        door = LineDoor(hub, generous_limits(close_grace=2.0), reactor)
        port = reactor.listenTCP(0, door, interface="127.0.0.1")

        async def stop() -> None:
            await port.stopListening()
            await node.stop()
            hub.close_all("test over")
            await door.wait_closed()

        self.addCleanup(lambda: defer.Deferred.fromCoroutine(stop()))
        return int(port.getHost().port)

    async def test_clients_spread_over_nodes_and_latency_is_split_by_where_it_went(self) -> None:
        cluster = MemoryCluster(reactor, 8.0)
        ports = (await self.node(cluster, "a"), await self.node(cluster, "b"))
        config = small_config(ports[0], ports=ports, node_pids=(os.getpid(), os.getpid()), senders=2, phases=[Phase(5)])
        results = await run_bench(self, config)
        self.assertTrue(results["ok"], results)
        phase = results["phases"][0]
        # Sender 0 is on node a with clients 2 and 4; 1, 3 and 5 are on b (and the other way round for sender 1).
        self.assertEqual(phase["latency_same_node_ms"]["count"], 10 * 2)
        self.assertEqual(phase["latency_cross_node_ms"]["count"], 10 * 3)
        self.assertEqual(len(phase["node_cpu_s"]), 2)
        self.assertIn("cross-node latency ms", format_summary(results))


class FakeIrcServer(LineReceiver):
    """Just enough of an IRC server: registration, one channel, PRIVMSG relay, PING."""

    delimiter = b"\r\n"

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.nick = b"*"

    def connectionMade(self) -> None:
        self.state["open"].add(self)
        self.sendLine(b":fake.irc NOTICE * :*** hello")

    def connectionLost(self, reason: Any = None) -> None:
        self.state["open"].discard(self)
        if self in self.state["members"]:
            self.state["members"].remove(self)
        if not self.state["open"] and not self.state["gone"].called:
            self.state["gone"].callback(None)

    def lineReceived(self, line: bytes) -> None:
        command, _, rest = line.partition(b" ")
        if command == b"NICK":
            if rest in self.state["refuse"]:
                self.sendLine(b":fake.irc 433 * %s :Nickname is already in use" % rest)
                return
            self.nick = rest
        elif command == b"USER":
            self.sendLine(b":fake.irc 001 %s :Welcome to the fake network" % self.nick)
            self.sendLine(b":fake.irc 376 %s :End of MOTD" % self.nick)
            self.sendLine(b"PING :tok-%s" % self.nick)
        elif command == b"PONG":
            self.state["pongs"].append((self.nick, rest))
        elif command == b"JOIN":
            self.state["members"].append(self)
            for member in self.state["members"]:
                member.sendLine(b":%s!~%s@127.0.0.1 JOIN :%s" % (self.nick, self.nick, rest))
            names = b" ".join(m.nick for m in self.state["members"])
            self.sendLine(b":fake.irc 353 %s = %s :%s" % (self.nick, rest, names))
            self.sendLine(b":fake.irc 366 %s %s :End of /NAMES list." % (self.nick, rest))
        elif command == b"PRIVMSG":
            target, _, text = rest.partition(b" ")
            self.state["privmsgs"] += 1
            if self.state["privmsgs"] == 1:
                self.sendLine(b":fake.irc 404 %s %s :Cannot send to channel (just this once)" % (self.nick, target))
            for member in self.state["members"]:
                if member is not self:
                    member.sendLine(b":%s!~%s@127.0.0.1 PRIVMSG %s %s" % (self.nick, self.nick, target, text))


async def start_fake_irc(case: TestCase, refuse: tuple[bytes, ...] = ()) -> tuple[dict[str, Any], int]:
    state: dict[str, Any] = {"open": set(), "members": [], "pongs": [], "privmsgs": 0, "refuse": refuse,
                             "gone": defer.Deferred()}
    port = reactor.listenTCP(0, Factory.forProtocol(lambda: FakeIrcServer(state)), interface="127.0.0.1")

    async def stop() -> None:
        await port.stopListening()
        for conn in list(state["open"]):
            conn.transport.abortConnection()
        if state["open"]:
            await state["gone"]

    case.addCleanup(lambda: defer.Deferred.fromCoroutine(stop()))
    return state, port.getHost().port


class IrcRunTests(TestCase):
    timeout = 30

    async def test_irc_login_join_ping_and_delivery(self) -> None:
        state, port = await start_fake_irc(self)
        results = await run_bench(self, small_config(port, protocol="irc", connections=5, senders=2, phases=[Phase(4), Phase(3, rate=300.0)]))
        self.assertTrue(results["ok"], results)
        self.assertEqual(len(state["members"]), 5)
        self.assertEqual(sorted(state["pongs"]), sorted((b"b%d" % i, b":tok-b%d" % i) for i in range(5)))
        burst, steady = results["phases"]
        self.assertEqual((burst["deliveries"], steady["deliveries"]), (2 * 4 * 4, 2 * 3 * 4))
        self.assertEqual(results["server_errors"], {"404": 1})
        self.assertEqual(results["config"]["room"], "#bench")

    async def test_irc_nick_refusal_fails_the_setup(self) -> None:
        _, port = await start_fake_irc(self, refuse=(b"b2",))
        results = await run_bench(self, small_config(port, protocol="irc", connections=4, senders=1, phases=[Phase(1)]))
        self.assertFalse(results["ok"])
        self.assertIn("433", results["error"])


class SeveralProcessesTests(TestCase):
    """--processes: the members spread over worker processes, counted as one run."""

    timeout = 60

    def test_every_client_is_in_one_process_and_the_senders_in_the_first(self) -> None:
        config = BenchConfig(connections=11, senders=3, processes=3)
        parts = [Bench(config, reactor, part=p).indices for p in range(3)]
        self.assertEqual(sorted(i for part in parts for i in part), list(range(11)))
        self.assertEqual(parts[0][:3], [0, 1, 2])
        self.assertEqual([len(part) for part in parts], [6, 3, 2])
        self.assertEqual({part_of(i, 3, 3) for i in range(3)}, {0})

    async def test_a_run_over_three_processes_counts_every_delivery_once(self) -> None:
        hub, _, port = await start_line_server(self)
        config = small_config(port, connections=9, processes=3, settle=0.2)
        results = await run_bench(self, config)
        self.assertTrue(results["ok"], results)
        self.assertEqual(len(hub.state.room("#lobby").members), 9)
        self.assertEqual(results["setup"]["connections"], 9)
        self.assertEqual(results["setup"]["login_ms"]["count"], 9)  # the workers' logins too
        burst, steady = results["phases"]
        for phase, per_sender in ((burst, 5), (steady, 4)):
            sent = 3 * per_sender
            self.assertEqual(phase["deliveries"], sent * 8)
            self.assertEqual((phase["deliveries_missing"], phase["members_short"], phase["deliveries_unexpected"]), (0, 0, 0))
            self.assertEqual(phase["latency_ms"]["count"], sent * 8)
            self.assertGreaterEqual(phase["latency_ms"]["min"], 0)
            self.assertLessEqual(phase["latency_ms"]["max"], phase["seconds"] * 1000)
            self.assertEqual(len(phase["bench_cpu_shares"]), 3)
            self.assertEqual(phase["bench_cpu_share"], max(phase["bench_cpu_shares"]))
        self.assertEqual((results["config"]["processes"], results["bench"]["processes"]), (3, 3))

    async def test_a_burst_window_waits_for_the_other_processes_members(self) -> None:
        # One sender, window 1: its next message leaves only once the worker
        # said its members have the last one; a lost or ignored "done" would
        # stall the phase.
        _, _, port = await start_line_server(self)
        config = small_config(port, connections=5, senders=1, window=1, phases=[Phase(20)], processes=2)
        results = await run_bench(self, config)
        self.assertTrue(results["ok"], results)
        (burst,) = results["phases"]
        self.assertEqual((burst["messages_complete"], burst["deliveries"]), (20, 80))

    async def test_a_refusal_in_a_worker_fails_the_setup_and_the_workers_end(self) -> None:
        hub, _, port = await start_line_server(self)
        # b2 is the worker's (senders 0, then members 1, 3 in the first process, 2 in the worker); take its name.
        holder = RecordingSession("127.0.0.1:5000")
        hub.connect(holder)
        hub.handle(holder, request("login", user="b2"))
        self.assertEqual(hub.user_of(holder), "b2")
        bench = Bench(small_config(port, connections=4, senders=1, processes=2), reactor)
        self.assertEqual(bench.indices, [0, 1, 3])
        results = await bench.run()
        self.assertFalse(results["ok"])
        self.assertTrue(results["error"].startswith("bench worker 1: setup failed with 0 of 1 in the room"), results["error"])
        self.assertIn("name_taken", results["error"])
        assert bench.pool is not None
        workers = bench.pool.workers
        await bench.close()
        self.assertIsNone(bench.pool)
        self.assertTrue(all(w.gone for w in workers))
