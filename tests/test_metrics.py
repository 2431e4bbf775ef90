"""
What tchat counts for its operators (tchat.metrics): on the hub with a
Clock, and through a real twistd's --metrics-port and /health.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

from prometheus_client import generate_latest
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.internet import endpoints

from tests.helpers import connect_line_client, make_hub
from tests.test_limits import Conn
from tests.test_twistd import spawn_twistd
from tests.test_web_door import RawHTTP, Response
from tchat.door.line import LineDoor
from tchat.door.limits import Limits


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)$"
    found = re.search(pattern, metrics_text, re.M)
    return None if found is None else float(found.group(1))


class HubMetricsTests(TestCase):
    def setUp(self) -> None:
        self.hub, self.clock = make_hub()
        self.door = LineDoor(self.hub, Limits(login_timeout=30, idle_timeout=100, ping_timeout=20), self.clock)
        self.door.startFactory()
        self.addCleanup(self.door.stopFactory)
        self.hub.metrics.watch(lambda: {"tcp": len(self.door.sessions)}, self.hub.state.online_count, lambda: len(self.hub.state.rooms()))
        self.port = 2000

    def conn(self, host: str = "10.0.0.1") -> Conn:
        self.port += 1
        return Conn(self.door, host, self.port)

    def text(self) -> str:
        return generate_latest(self.hub.metrics.registry).decode()

    def test_a_fan_out_counts_its_deliveries_per_door_and_each_message_by_kind(self) -> None:
        people = []
        for n in range(5):
            person = self.conn(f"10.0.0.{n + 1}")
            person.send(f"p{n}\n".encode())
            people.append(person)
        before = sample(self.text(), "tchat_deliveries_total", door="tcp") or 0
        people[0].send(b"hello all\n")
        # Four others got it (not the sender); the sender's ok comes once stored.
        self.assertEqual(sample(self.text(), "tchat_deliveries_total", door="tcp"), before + 4 + 1)
        people[0].send(b"/me waves\n/msg p1 psst\n")
        text = self.text()
        self.assertEqual(sample(text, "tchat_messages_total", kind="public"), 1)
        self.assertEqual(sample(text, "tchat_messages_total", kind="action"), 1)
        self.assertEqual(sample(text, "tchat_messages_total", kind="private"), 1)
        self.assertEqual(sample(text, "tchat_connections", door="tcp"), 5)
        self.assertEqual(sample(text, "tchat_users_online"), 5)
        self.assertEqual(sample(text, "tchat_rooms"), 1)
        self.assertIsNotNone(sample(text, "process_resident_memory_bytes"))

    def test_store_calls_are_timed_into_buckets_that_hold_what_is_at_most_their_bound(self) -> None:
        metrics = self.hub.metrics
        for seconds in (0.0005, 0.003, 0.003, 100.0):
            metrics.observe_store("history.add", seconds)
        text = self.text()

        def bucket(le: str) -> float | None:
            return sample(text, "tchat_store_seconds_bucket", operation="history.add", le=le)

        self.assertEqual(bucket("0.0005"), 1)
        self.assertEqual(bucket("0.0025"), 1)
        self.assertEqual(bucket("0.005"), 3)
        self.assertEqual(bucket("30.0"), 3)
        self.assertEqual(bucket("+Inf"), 4)
        self.assertEqual(sample(text, "tchat_store_seconds_count", operation="history.add"), 4)
        self.assertAlmostEqual(sample(text, "tchat_store_seconds_sum", operation="history.add") or 0, 100.0065)

    def test_logins_by_result_and_drops_by_reason(self) -> None:
        self.conn().send(b"alice\n")
        self.conn("10.0.0.2").send(b"alice\n")  # taken
        self.conn("10.0.0.3").send(b"...\n")  # no name
        bot = self.conn("10.0.0.4")
        bot.send(b'{"action": "login", "user": "bot"}\n')
        self.clock.pump([5] * 30)  # bot does not answer its ping; the others never logged in
        text = self.text()
        self.assertEqual(sample(text, "tchat_logins_total", result="guest"), 2)
        self.assertEqual(sample(text, "tchat_logins_total", result="name_taken"), 1)
        self.assertEqual(sample(text, "tchat_logins_total", result="bad_name"), 1)
        self.assertEqual(sample(text, "tchat_dropped_total", reason="ping timeout"), 1)
        self.assertEqual(sample(text, "tchat_dropped_total", reason="login timeout"), 2)

    def test_refusals_are_counted(self) -> None:
        self.hub.config.admin_password = "secret"
        alice = self.conn()
        alice.send(b"alice\n")
        alice.send(b"/admin wrong\n" * 5)
        self.assertEqual(sample(self.text(), "tchat_rate_limited_total"), 2)  # three wrong guesses free


class EndpointTests(TestCase):
    """--metrics-port and /health on a real twistd."""

    timeout = 60

    async def test_metrics_on_their_own_port_and_health_on_the_web_port(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-metrics-")
        self.addCleanup(folder.cleanup)
        process = spawn_twistd(self, folder.name, "-n", "tchat", "--port", "tcp:0:interface=127.0.0.1", "--web-port", "tcp:0:interface=127.0.0.1", "--irc-port", "off",
                "--metrics-port", "tcp:0:interface=127.0.0.1", "--db", f"sqlite:{os.path.join(folder.name, 't.db')}")
        line_port = await process.port
        await _until(lambda: b"tchat metrics listening" in process.output and b"tchat web listening" in process.output)
        ports = dict(re.findall(rb"tchat (web|metrics) listening on \S+ \(port (\d+)\)", process.output))
        alice = await connect_line_client(line_port)
        alice.send("alice")
        await alice.wait_for(lambda line: line.startswith("*** You are alice."))
        alice.send("hello")

        response = await get(int(ports[b"metrics"]), "/metrics")
        text = response.body.decode()
        self.assertEqual(response.status, 200)
        self.assertEqual(sample(text, "tchat_users_online"), 1)
        self.assertEqual(sample(text, "tchat_connections", door="tcp"), 1)
        self.assertEqual(sample(text, "tchat_logins_total", result="guest"), 1)
        self.assertGreater(sample(text, "tchat_store_seconds_count", operation="accounts.list") or 0, 0)
        # Not on the public web port.
        self.assertEqual((await get(int(ports[b"web"]), "/metrics")).status, 404)

        response = await get(int(ports[b"web"]), "/health")
        health = json.loads(response.body)
        self.assertEqual(response.status, 200)
        self.assertEqual((health["status"], health["store"]["engine"], health["store"]["available"]), ("ok", "sqlite", True))


async def get(port: int, path: str) -> Response:
    client = RawHTTP(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
    return Response(await client.done)


async def _until(condition, tries: int = 100) -> None:  # type: ignore[no-untyped-def]
    from twisted.internet.task import deferLater

    for _ in range(tries):
        if condition():
            return
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError("the condition never held")
