"""
L{tchat.cluster.redis.RedisBus} against real Redis servers, no stand-ins.

Most tests use the shared Redis at ``$TCHAT_TEST_REDIS`` (default
``redis://127.0.0.1:6379``), each under a prefix of its own whose keys it
deletes afterwards; nothing here flushes, stops or reconfigures that one.
Tests that kill, pause, restart or lock a Redis start their own
``redis-server`` (keeping nothing on disk) on a free loopback port, and kill
it at the end. Without the shared Redis or ``redis-server`` the tests are
skipped, except when ``$CI`` is set: then they fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import uuid
from typing import Any, Callable

import txredisapi
from twisted.internet import defer, reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.logger import ILogObserver, formatEvent, globalLogPublisher
from twisted.trial.unittest import SkipTest, TestCase
from zope.interface import implementer

from tchat.cluster.bus import Bus, BusError, NodeNameTaken
from tchat.cluster.redis import RedisBus, parse_bus_url
from tests.tls import make_certificate

SHARED_URL = os.environ.get("TCHAT_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_SERVER = "/usr/bin/redis-server"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        raise AssertionError(f"CI must run the Redis bus tests: {reason}")
    raise SkipTest(reason)


_shared_problem: list[str | None] = []


def require_shared_redis() -> None:
    """Skip (or fail, under CI) unless the shared Redis answers a PING."""
    if not _shared_problem:
        host, port = parse_bus_url(SHARED_URL)[:2]
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                answer = s.recv(64)
            _shared_problem.append(None if answer.startswith(b"+PONG") else f"it answered {answer!r}")
        except OSError as e:
            _shared_problem.append(str(e))
    if _shared_problem[0] is not None:
        unavailable(f"no usable Redis at {SHARED_URL} ({_shared_problem[0]}); set TCHAT_TEST_REDIS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def within(d: Deferred[Any], seconds: float, what: str) -> Any:
    d.addTimeout(seconds, reactor)
    try:
        return await d
    except defer.TimeoutError:
        raise AssertionError(f"timed out after {seconds:g} s waiting for {what}") from None


class OwnRedis:
    """A redis-server of the test's own, on a free loopback port, killed at cleanup."""

    def __init__(self, case: TestCase, *options: str) -> None:
        if not os.access(REDIS_SERVER, os.X_OK):
            unavailable(f"no {REDIS_SERVER} to start a Redis of the test's own")
        self.options = list(options)
        self.port = free_port()
        self.folder = tempfile.TemporaryDirectory(prefix="tchat-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        case.addCleanup(self.folder.cleanup)
        case.addCleanup(self.kill)

    def url(self, auth: str = "", db: int = 0, scheme: str = "redis") -> str:
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    async def start(self, *options: str) -> None:
        """Start it (with ``options`` instead of the first ones, if given) and wait until it accepts connections."""
        if options:
            self.options = list(options)
        listen = ["--port", str(self.port)] if "--tls-port" not in self.options else []
        log = open(os.path.join(self.folder.name, "redis.log"), "ab")
        self.process = subprocess.Popen(
            [REDIS_SERVER, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.folder.name, *self.options],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        for _ in range(500):  # 5 s at most
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                await deferLater(reactor, 0.01, lambda: None)
        with open(os.path.join(self.folder.name, "redis.log"), "rb") as f:
            said = f.read().decode(errors="replace")[-2000:]
        raise AssertionError(f"redis-server on port {self.port} did not start: {said}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class Node:
    """A bus and what it heard: messages, link changes; waits on them without polling."""

    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus
        self.heard: list[bytes] = []
        self.links: list[bool] = []
        self._waits: list[tuple[Callable[[], bool], Deferred[None]]] = []
        self.fail_on: bytes | None = None

    def receive(self, data: bytes) -> None:
        assert type(data) is bytes, data
        self.heard.append(data)
        self._check()
        if data == self.fail_on:
            raise ZeroDivisionError("a receiver that fails")

    def link(self, up: bool) -> None:
        self.links.append(up)
        self._check()

    def _check(self) -> None:
        for wait in list(self._waits):
            condition, d = wait
            if condition():
                self._waits.remove(wait)
                d.callback(None)

    async def until(self, condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
        if condition():
            return
        d: Deferred[None] = Deferred()
        self._waits.append((condition, d))
        try:
            await within(d, seconds, f"{what} (node {self.bus.node} heard {self.heard[-5:]}, links {self.links})")
        finally:
            self._waits = [w for w in self._waits if w[1] is not d]


@implementer(ILogObserver)
class LogWatch:
    """The log events of a test; ``seen(text)`` fires when one whose text contains ``text`` is logged."""

    def __init__(self, case: TestCase) -> None:
        self.events: list[str] = []
        self._waits: list[tuple[str, Deferred[None]]] = []
        globalLogPublisher.addObserver(self)
        case.addCleanup(globalLogPublisher.removeObserver, self)

    def __call__(self, event: dict[str, Any]) -> None:
        text = formatEvent(event)
        self.events.append(text)
        for wait in list(self._waits):
            if wait[0] in text:
                self._waits.remove(wait)
                wait[1].callback(None)

    def seen(self, text: str) -> Deferred[None]:
        if any(text in e for e in self.events):
            return defer.succeed(None)
        d: Deferred[None] = Deferred()
        self._waits.append((text, d))
        return d


class BusCase(TestCase):
    timeout = 30
    url = SHARED_URL

    def setUp(self) -> None:
        self.prefix = f"tchat-test-{uuid.uuid4().hex}:"

    async def node(self, name: str, url: str | None = None, timeout: float = 10.0, **attributes: Any) -> Node:
        bus = self.bus(name, url, timeout, **attributes)
        node = Node(bus)
        await bus.start(node.receive, node.link)
        self.addCleanup(bus.stop)
        return node

    def bus(self, name: str, url: str | None = None, timeout: float = 10.0, **attributes: Any) -> RedisBus:
        bus = RedisBus(url or self.url, name, timeout=timeout, prefix=self.prefix, **attributes.pop("options", {}))
        # Quick to notice, quick to come back: the tests do not wait for the production timings.
        bus.retry_delays = (0.05, 0.3)
        bus.start_timeout = 2.0
        bus.command_timeout = 2.0
        for attribute, value in attributes.items():
            setattr(bus, attribute, value)
        return bus

    async def plain(self, port: int, password: str | None = None, db: int = 0) -> Any:
        """A plain txredisapi client (not a bus), closed at cleanup."""
        client = await txredisapi.Connection("127.0.0.1", port, dbid=db or None, reconnect=False, password=password,
                                             convertNumbers=False)
        self.addCleanup(client.disconnect)
        return client


class SharedRedisTests(BusCase):
    """The bus on the shared Redis, each test under its own prefix."""

    def setUp(self) -> None:
        require_shared_redis()
        super().setUp()
        self.port = parse_bus_url(SHARED_URL)[1]
        self.addCleanup(self._delete_keys)

    async def _delete_keys(self) -> None:
        client = await txredisapi.Connection("127.0.0.1", self.port, reconnect=False)
        try:
            cursor = 0
            while True:
                cursor, keys = await client.scan(cursor, self.prefix + "*", 1000)
                if keys:
                    await client.delete(keys)
                if int(cursor) == 0:
                    break
        finally:
            await client.disconnect()

    async def keys(self) -> list[str]:
        client = await self.plain(self.port)
        return sorted(await client.keys(self.prefix + "*"))

    # messages ---------------------------------------------------------------

    async def test_two_buses_hear_each_other_the_exact_bytes_in_order_and_never_themselves(self) -> None:
        a, b = await self.node("a"), await self.node("b")
        sent = [b"", b"123", b"1.5", b"\x00\xff\xfe\r\n\r\nnot utf-8", "é, 用户".encode(), b"a\nb\n", b"x" * 100_000, b"-ERR not an error"]
        for data in sent:
            a.bus.publish(data)
        await b.until(lambda: len(b.heard) == len(sent), "every message a sent")
        self.assertEqual(b.heard, sent)
        # a's own messages would reach it before b's answer: Redis sends in the order it publishes.
        b.bus.publish(b"answer")
        await a.until(lambda: a.heard != [], "b's answer")
        self.assertEqual(a.heard, [b"answer"])
        self.assertEqual(b.heard, sent)
        self.assertEqual((a.bus.published, a.bus.dropped, b.bus.published), (len(sent), 0, 1))
        self.assertEqual(a.links + b.links, [])
        self.assertTrue(a.bus.up and b.bus.up)

    async def test_a_burst_of_500_arrives_whole_and_in_order(self) -> None:
        a, b, c = await self.node("a"), await self.node("b"), await self.node("c")
        burst = [b"message %d" % i for i in range(500)]
        for data in burst:
            a.bus.publish(data)
        await b.until(lambda: len(b.heard) == 500, "the burst at b")
        await c.until(lambda: len(c.heard) == 500, "the burst at c")
        self.assertEqual(b.heard, burst)
        self.assertEqual(c.heard, burst)
        self.assertEqual(a.bus.published, 500)

    async def test_a_malformed_message_is_dropped_and_logged_and_the_bus_goes_on(self) -> None:
        watch = LogWatch(self)
        a, b = await self.node("a"), await self.node("b")
        client = await self.plain(self.port)
        channel = self.prefix + "bus"
        await client.publish(channel, b"no framing at all")
        await client.publish(channel, b"\nno sender")
        await client.publish(channel, b"ghost\nframed, from a node that is not there")
        b.fail_on = b"boom"
        a.bus.publish(b"boom")
        a.bus.publish(b"after")
        await b.until(lambda: b.heard[-1:] == [b"after"], "a's message after the malformed ones")
        self.assertEqual(b.heard, [b"framed, from a node that is not there", b"boom", b"after"])
        self.assertEqual(b.bus.malformed, 2)
        self.assertTrue(any("not in its framing" in e for e in watch.events), watch.events)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(b.bus.up)
        self.assertEqual(b.links, [])
        self.assertTrue(await b.bus.claim("still works", False))

    # names ------------------------------------------------------------------

    async def test_two_buses_claiming_one_guest_name_at_once_exactly_one_wins(self) -> None:
        a, b = await self.node("a"), await self.node("b")
        for i in range(20):
            key = f"guest{i}"
            first, second = (a, b) if i % 2 else (b, a)
            results = await gatherResults([first.bus.claim(key, False), second.bus.claim(key, False)])
            self.assertEqual(sorted(results), [False, True], key)

    async def test_an_account_is_shared_and_a_guest_is_not(self) -> None:
        a, b, c = await self.node("a"), await self.node("b"), await self.node("c")
        self.assertEqual(await gatherResults([a.bus.claim("alice", True), b.bus.claim("alice", True)]), [True, True])
        self.assertFalse(await c.bus.claim("alice", False))  # a guest cannot take an account's name
        self.assertTrue(await a.bus.claim("bob", False))
        self.assertFalse(await b.bus.claim("bob", True))  # nor an account a guest's
        self.assertFalse(await b.bus.claim("bob", False))

    async def test_release_frees_a_name_once_no_node_holds_it(self) -> None:
        a, b, c = await self.node("a"), await self.node("b"), await self.node("c")
        self.assertTrue(await a.bus.claim("bob", False))
        self.assertFalse(await b.bus.claim("bob", False))
        await a.bus.release("bob")
        self.assertTrue(await b.bus.claim("bob", False))

        self.assertTrue(await a.bus.claim("alice", True))
        self.assertTrue(await b.bus.claim("alice", True))
        await a.bus.release("alice")
        self.assertFalse(await c.bus.claim("alice", False))  # b still holds it
        await b.bus.release("alice")
        await b.bus.release("alice")  # twice is fine
        self.assertNotIn(self.prefix + "name:alice", await self.keys())
        self.assertTrue(await c.bus.claim("alice", False))

    async def test_reap_frees_what_a_dead_node_held_once(self) -> None:
        a, b = await self.node("a"), await self.node("b")
        for key in ("x", "y"):
            self.assertTrue(await a.bus.claim(key, False))
        self.assertTrue(await a.bus.claim("z", True))
        self.assertTrue(await b.bus.claim("z", True))
        self.assertTrue(await b.bus.claim("w", False))
        self.assertEqual(sorted(await b.bus.reap("a")), ["x", "y", "z"])
        self.assertEqual(await b.bus.reap("a"), [])
        self.assertEqual(await b.bus.reap("never-was"), [])
        self.assertTrue(await b.bus.claim("x", False))
        self.assertFalse(await b.bus.claim("z", False))  # b still holds the account's name
        self.assertNotIn(self.prefix + "names:a", await self.keys())

    async def test_stop_frees_the_names_and_the_lease(self) -> None:
        a, b = await self.node("a"), await self.node("b")
        self.assertTrue(await a.bus.claim("bob", False))
        self.assertTrue(await b.bus.alive("a"))
        await a.bus.stop()
        await a.bus.stop()  # again: fine
        self.assertFalse(await b.bus.alive("a"))
        self.assertTrue(await b.bus.claim("bob", False))
        self.assertFalse(a.bus.up)
        with self.assertRaises(BusError):
            await a.bus.claim("x", False)
        a.bus.publish(b"after stop")
        self.assertEqual(a.bus.dropped, 1)
        self.assertEqual(sorted(await self.keys()), [self.prefix + "name:bob", self.prefix + "names:b", self.prefix + "node:b"])

    # leases -----------------------------------------------------------------

    async def test_a_second_node_of_the_same_name_is_refused(self) -> None:
        first = await self.node("n1")
        second = self.bus("n1")
        with self.assertRaises(NodeNameTaken) as caught:
            await second.start(lambda data: None, lambda up: None)
        self.assertEqual(str(caught.exception), "a live node is already named n1")
        self.assertFalse(second.up)
        self.assertEqual(await first.bus.renew(), "renewed")
        self.assertTrue(await first.bus.claim("bob", False))

    async def test_renew_keeps_the_lease(self) -> None:
        a = await self.node("a", timeout=2.0)
        client = await self.plain(self.port)
        self.assertEqual(await a.bus.renew(), "renewed")
        ttl = int(await client.execute_command("PTTL", self.prefix + "node:a"))
        self.assertTrue(1000 < ttl <= 2000, ttl)

    async def test_a_lease_taken_away_is_lost_and_taken_afresh_with_the_names_freed(self) -> None:
        a, b = await self.node("a"), await self.node("b")
        self.assertTrue(await a.bus.claim("bob", False))
        client = await self.plain(self.port)
        await client.delete(self.prefix + "node:a")
        with self.assertRaises(BusError) as caught:
            await a.bus.claim("carol", False)  # fenced
        self.assertEqual(str(caught.exception), "node a lost its lease")
        self.assertEqual(await a.bus.renew(), "lost")
        self.assertTrue(await b.bus.alive("a"))
        self.assertTrue(await b.bus.claim("bob", False))  # freed with the lost lease
        self.assertTrue(await a.bus.claim("carol", False))  # under the new lease
        self.assertEqual(await a.bus.renew(), "renewed")

    async def test_a_lease_that_runs_out_is_lost(self) -> None:
        a, b = await self.node("a", timeout=0.3), await self.node("b")
        for _ in range(300):  # the lease runs out in Redis: nothing to await but time
            if not await b.bus.alive("a"):
                break
            await deferLater(reactor, 0.01, lambda: None)
        else:
            self.fail("a's lease did not run out")
        self.assertEqual(await a.bus.renew(), "lost")
        self.assertTrue(await b.bus.alive("a"))

    async def test_a_node_whose_name_another_took_is_told_at_renewal(self) -> None:
        a = await self.node("a")
        client = await self.plain(self.port)
        await client.delete(self.prefix + "node:a")
        await self.node("a")
        with self.assertRaises(NodeNameTaken):
            await a.bus.renew()

    # counters ---------------------------------------------------------------

    async def test_count_counts_within_its_window(self) -> None:
        a, b = await self.node("a"), await self.node("b")
        self.assertEqual([await a.bus.count("guess:alice", 60), await b.bus.count("guess:alice", 60)], [1, 2])
        self.assertEqual(await a.bus.count("guess:bob", 60), 1)
        client = await self.plain(self.port)
        ttl = int(await client.execute_command("PTTL", self.prefix + "count:guess:alice"))
        self.assertTrue(0 < ttl <= 60_000, ttl)
        self.assertEqual(await a.bus.count("short", 0.05), 1)
        for _ in range(300):  # expiry in Redis: nothing to await but time
            if await a.bus.count("short", 0.05) == 1:
                break
            await deferLater(reactor, 0.02, lambda: None)
        else:
            self.fail("the counter did not expire")

    # failures at start ------------------------------------------------------

    async def test_start_fails_clearly_when_redis_cannot_be_reached(self) -> None:
        port = free_port()
        bus = self.bus("a", f"redis://me:topsecret@127.0.0.1:{port}/0", start_timeout=0.5)
        started = reactor.seconds()
        with self.assertRaises(BusError) as caught:
            await bus.start(lambda data: None, lambda up: None)
        said = str(caught.exception)
        self.assertIn(f"127.0.0.1:{port}", said)
        self.assertIn("refused", said)
        self.assertNotIn("topsecret", said)
        self.assertLess(reactor.seconds() - started, 2.0)
        await bus.stop()

    async def test_a_database_redis_does_not_have_fails_start(self) -> None:
        bus = self.bus("a", SHARED_URL.rstrip("/") + "/9999")
        with self.assertRaises(BusError) as caught:
            await bus.start(lambda data: None, lambda up: None)
        self.assertIn("could not set dbid=9999", str(caught.exception))

    async def test_stop_while_starting_ends_the_start_and_leaves_no_lease(self) -> None:
        bus = self.bus("a")
        starting = bus.start(lambda data: None, lambda up: None)
        await bus.stop()
        with self.assertRaises(BusError):
            await starting
        # Again, stopped once both connections work, while the lease is being taken.
        bus = self.bus("a")
        starting = bus.start(lambda data: None, lambda up: None)
        stopping: list[Deferred[None]] = []
        assert bus._ready is not None
        bus._ready.addCallback(lambda _: stopping.append(bus.stop()))
        with self.assertRaises(BusError):
            await starting
        await stopping[0]
        self.assertEqual(await self.keys(), [])

    async def test_commands_before_start_fail(self) -> None:
        bus = self.bus("a")
        with self.assertRaises(BusError):
            await bus.claim("bob", False)
        bus.publish(b"x")
        self.assertEqual(bus.dropped, 1)
        await bus.stop()

    def test_a_bus_matches_the_protocol(self) -> None:
        bus: Bus = self.bus("a")
        self.assertEqual(bus.node, "a")
        self.assertFalse(bus.up)


class OwnRedisTests(BusCase):
    """A Redis of the test's own, killed, paused, restarted or locked."""

    async def test_a_restart_takes_the_link_down_then_back_subscribed_and_renew_says_restarted(self) -> None:
        server = OwnRedis(self)
        await server.start()
        a, b = await self.node("a", server.url()), await self.node("b", server.url())
        self.assertTrue(await a.bus.claim("bob", False))
        server.kill()
        await a.until(lambda: a.links == [False], "a's link down")
        await b.until(lambda: b.links == [False], "b's link down")
        self.assertFalse(a.bus.up)

        started = reactor.seconds()
        with self.assertRaises(BusError) as caught:
            await a.bus.claim("carol", False)
        self.assertIn(f"127.0.0.1:{server.port} is not reachable", str(caught.exception))
        for call in (lambda: a.bus.renew(), lambda: a.bus.alive("b"), lambda: a.bus.count("k", 1), lambda: a.bus.release("bob")):
            with self.assertRaises(BusError):
                await call()
        self.assertLess(reactor.seconds() - started, 0.5)
        a.bus.publish(b"into the void")
        self.assertEqual((a.bus.published, a.bus.dropped), (0, 1))

        await server.start()
        await a.until(lambda: a.links == [False, True], "a's link back")
        await b.until(lambda: b.links == [False, True], "b's link back")
        self.assertTrue(a.bus.up)
        b.bus.publish(b"after the restart")
        await a.until(lambda: a.heard == [b"after the restart"], "a message after the restart")
        with self.assertRaises(BusError):
            await a.bus.claim("carol", False)  # the lease went with the restart: renew first
        self.assertEqual(await a.bus.renew(), "restarted")
        self.assertEqual(await a.bus.renew(), "renewed")
        self.assertTrue(await a.bus.claim("bob", False))  # Redis kept nothing
        self.assertEqual(await b.bus.renew(), "restarted")
        self.assertFalse(await b.bus.claim("bob", False))

    async def test_stop_does_not_hang_while_redis_is_down_and_reconnects_no_more(self) -> None:
        server = OwnRedis(self)
        await server.start()
        a = await self.node("a", server.url())
        server.kill()
        await a.until(lambda: a.links == [False], "a's link down")
        started = reactor.seconds()
        await within(a.bus.stop(), 5, "stop")
        self.assertLess(reactor.seconds() - started, 3.0)
        await server.start()
        client = await self.plain(server.port)
        clients = await client.execute_command("CLIENT", "LIST")
        self.assertEqual(len(clients.strip().splitlines()), 1, clients)  # only this one

    async def test_a_hung_redis_is_noticed_by_the_pings_and_the_link_comes_back(self) -> None:
        server = OwnRedis(self, "--requirepass", "pw")
        await server.start()
        url = server.url(":pw@")
        a = await self.node("a", url, ping_interval=0.2, command_timeout=0.5)
        b = await self.node("b", url, ping_interval=0.2, command_timeout=0.5)
        server.pause()
        await a.until(lambda: a.links == [False], "a's link down")
        await b.until(lambda: b.links == [False], "b's link down")
        started = reactor.seconds()
        with self.assertRaises(BusError):
            await within(a.bus.claim("bob", False), 2, "a claim to fail")
        self.assertLess(reactor.seconds() - started, 1.0)
        # Reconnecting meanwhile: TCP connects, AUTH times out; that must not end the retries.
        await within(LogWatch(self).seen("could not auth"), 5, "a reconnection to fail at AUTH")
        server.resume()
        await a.until(lambda: a.links == [False, True], "a's link back")
        await b.until(lambda: b.links == [False, True], "b's link back")
        self.assertEqual(await a.bus.renew(), "renewed")
        b.bus.publish(b"awake")
        await a.until(lambda: a.heard == [b"awake"], "a message after the pause")

    async def test_a_password_in_the_url_with_a_database_or_an_acl_user(self) -> None:
        server = OwnRedis(self, "--requirepass", "pw", "--user", "alice", "on", ">s3cret", "~*", "&*", "+@all")
        await server.start()
        a = await self.node("a", server.url(":pw@", db=2))
        b = await self.node("b", server.url("alice:s3cret@", db=2))
        self.assertTrue(await a.bus.claim("bob", False))
        self.assertFalse(await b.bus.claim("bob", False))
        a.bus.publish(b"hello")
        await b.until(lambda: b.heard == [b"hello"], "a message through a password-protected Redis")
        in_db2 = await self.plain(server.port, password="pw", db=2)
        in_db0 = await self.plain(server.port, password="pw")
        self.assertTrue(await in_db2.exists(self.prefix + "name:bob"))
        self.assertFalse(await in_db0.exists(self.prefix + "name:bob"))

        for auth, why in ((":wrong@", "WRONGPASS"), ("alice:wrong@", "WRONGPASS"), ("", "NOAUTH")):
            bus = self.bus("c", server.url(auth, db=2))
            started = reactor.seconds()
            with self.assertRaises(BusError) as caught:
                await bus.start(lambda data: None, lambda up: None)
            said = str(caught.exception)
            self.assertIn(f"Redis at 127.0.0.1:{server.port} refused the bus", said)
            self.assertIn(why, said)
            self.assertNotIn("wrong", said.replace("WRONGPASS", ""))
            self.assertLess(reactor.seconds() - started, 1.0, "fails at once, not after start_timeout")

    async def test_a_refused_password_while_reconnecting_does_not_end_the_retries(self) -> None:
        watch = LogWatch(self)
        server = OwnRedis(self, "--requirepass", "pw")
        await server.start()
        a = await self.node("a", server.url(":pw@"))
        server.kill()
        await a.until(lambda: a.links == [False], "a's link down")
        await server.start("--requirepass", "changed")
        await within(watch.seen("refused the bus's"), 10, "AUTH to be refused while reconnecting")
        self.assertFalse(a.bus.up)
        server.kill()
        await server.start("--requirepass", "pw")
        await a.until(lambda: a.links == [False, True], "a's link back with the right password")
        self.assertEqual(await a.bus.renew(), "restarted")

    async def test_rediss_checks_the_servers_certificate(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-redis-tls-")
        self.addCleanup(folder.cleanup)
        key, cert = make_certificate(folder.name)
        server = OwnRedis(self)
        await server.start("--port", "0", "--tls-port", str(server.port), "--tls-cert-file", cert,
                           "--tls-key-file", key, "--tls-auth-clients", "no")
        url = server.url(scheme="rediss")
        a = await self.node("a", url, options={"ca_file": cert})
        b = await self.node("b", url, options={"ca_file": cert})
        a.bus.publish(b"over TLS")
        await b.until(lambda: b.heard == [b"over TLS"], "a message over TLS")
        self.assertTrue(await a.bus.claim("bob", False))
        self.assertFalse(await b.bus.claim("bob", False))

        untrusting = self.bus("c", url, start_timeout=1.0)  # the system's authorities know no such certificate
        with self.assertRaises(BusError) as caught:
            await untrusting.start(lambda data: None, lambda up: None)
        self.assertIn("certificate verify failed", str(caught.exception))
        plain = self.bus("d", server.url(), start_timeout=0.5)  # no TLS to a TLS port
        with self.assertRaises(BusError):
            await plain.start(lambda data: None, lambda up: None)


class URLTests(TestCase):
    def test_the_forms_it_takes(self) -> None:
        for url, parsed in [
            ("redis://127.0.0.1", ("127.0.0.1", 6379, 0, None, None, False)),
            ("redis://localhost:6380/3", ("localhost", 6380, 3, None, None, False)),
            ("redis://:pw@redis.example/2", ("redis.example", 6379, 2, "pw", None, False)),
            ("redis://alice:s%40cr%3At@h:7000/0", ("h", 7000, 0, "s@cr:t", "alice", False)),
            ("rediss://:pw@h:6380", ("h", 6380, 0, "pw", None, True)),
            ("rediss://h/", ("h", 6379, 0, None, None, True)),
            ("redis://[::1]:7000/1", ("::1", 7000, 1, None, None, False)),
        ]:
            self.assertEqual(parse_bus_url(url), parsed, url)

    def test_what_it_refuses_and_why(self) -> None:
        for url, why in [
            ("", "must start with redis:// or rediss://"),
            ("http://h", "must start with redis:// or rediss://"),
            ("127.0.0.1:6379", "must start with redis:// or rediss://"),
            ("redis://", "names no host"),
            ("redis:///0", "names no host"),
            ("redis://:pw@", "names no host"),
            ("redis://h:abc", "not a number from 1 to 65535"),
            ("redis://h:0", "not a number from 1 to 65535"),
            ("redis://h:70000", "not a number from 1 to 65535"),
            ("redis://h:", "empty port"),
            ("redis://h/x", "must be a number"),
            ("redis://h/1/2", "must be a number"),
            ("redis://h/-1", "must be a number"),
            ("redis://user@h", "a user but no password"),
            ("redis://:@h", "empty password"),
            ("redis://h?db=1", "no ?query or #fragment"),
            ("redis://h/0#x", "no ?query or #fragment"),
        ]:
            with self.assertRaises(ValueError, msg=url) as caught:
                parse_bus_url(url)
            self.assertIn(why, str(caught.exception), url)

    def test_a_refusal_never_quotes_the_password(self) -> None:
        for url in ["redis://u:topsecret@h:99999", "redis://:topsecret@h/db", "redis://:topsecret@h:x/0"]:
            with self.assertRaises(ValueError) as caught:
                parse_bus_url(url)
            self.assertNotIn("topsecret", str(caught.exception))

    def test_node_names_the_framing_cannot_carry_are_refused(self) -> None:
        for node in ["", "a\nb", "account"]:
            with self.assertRaises(ValueError):
                RedisBus("redis://127.0.0.1", node)
        with self.assertRaises(ValueError):
            RedisBus("redis://127.0.0.1", "a", timeout=0)


class ReadingTests(TestCase):
    def test_a_backlog_of_bus_messages_is_read_in_one_go(self) -> None:
        # txredisapi's own reader leaves what follows each bulk reply to the
        # next reactor turn: a busy node fell seconds behind its bus.
        from tchat.cluster.redis_link import SubscriberProtocol

        got: list[bytes] = []

        class Subscriber(SubscriberProtocol):
            def messageReceived(self, pattern: Any, channel: Any, message: Any) -> None:
                got.append(message)

        protocol = Subscriber(charset=None, convertNumbers=False)
        messages = [b"m%d" % i for i in range(300)]
        protocol.dataReceived(b"".join(b"*3\r\n$7\r\nmessage\r\n$3\r\nbus\r\n$%d\r\n%s\r\n" % (len(m), m) for m in messages))
        self.assertEqual(got, messages)
        self.assertEqual([c for c in reactor.getDelayedCalls() if "dataReceived" in repr(c)], [])
