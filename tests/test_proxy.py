"""
Behind a proxy speaking the PROXY protocol (``--port haproxy:tcp:…``): tchat
sees and counts the real client's address on both doors, not the proxy's.
Real loopback sockets; the test writes the PROXY header a proxy would.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, endpoints, reactor
from twisted.trial.unittest import TestCase

from tchat.door.line import LineDoor
from tchat.door.web import TrustedProxies, WebDoor
from tchat.chat import Hub, HubConfig
from tests.helpers import LineClient, generous_limits
from tests.test_web_door import RawHTTP, Response


def proxy_header(client: str, port: int = 40000) -> bytes:
    return f"PROXY TCP4 {client} 127.0.0.1 {port} 4321\r\n".encode()


class ProxyProtocolTests(TestCase):
    timeout = 30

    async def asyncSetUp(self) -> None:
        self.hub = Hub(HubConfig(), reactor)
        limits = generous_limits(max_per_address=2, close_grace=1.0)
        self.line_door = LineDoor(self.hub, limits, reactor)
        self.web_door = WebDoor(self.hub, limits, reactor, admission=self.line_door.table.admission)
        self.line = await endpoints.serverFromString(reactor, "haproxy:tcp:0:interface=127.0.0.1").listen(self.line_door)
        self.web = await endpoints.serverFromString(reactor, "haproxy:tcp:0:interface=127.0.0.1").listen(self.web_door.site)
        self.clients: list[LineClient] = []
        self.addCleanup(self.stop)

    def setUp(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self.asyncSetUp())

    async def stop(self) -> None:
        await self.line.stopListening()
        await self.web.stopListening()
        self.hub.close_all("test over")
        await defer.gatherResults([self.line_door.wait_closed(), self.web_door.wait_closed()])
        for client in self.clients:
            if client.transport is not None and client.transport.connected:
                client.transport.loseConnection()
        await defer.gatherResults([c.lost for c in self.clients])

    async def through_proxy(self, client: str, port: int) -> LineClient:
        line = LineClient()
        await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.line.getHost().port), line)
        line.send(proxy_header(client, port))
        self.clients.append(line)
        return line

    async def test_the_line_door_sees_and_counts_the_real_client(self) -> None:
        alice = await self.through_proxy("203.0.113.7", 1111)
        alice.send("alice")
        await alice.wait_for(lambda line: line.startswith("*** You are alice."))
        [session] = self.line_door.sessions
        self.assertEqual((session.host, session.address), ("203.0.113.7", "203.0.113.7:1111"))
        # The per-address limit (2 here) counts that address, not the proxy's.
        second = await self.through_proxy("203.0.113.7", 1112)
        second.send("bob")
        await second.wait_for(lambda line: line.startswith("*** You are bob."))
        third = await self.through_proxy("203.0.113.7", 1113)
        third.send("carol")
        await third.wait_for(lambda line: "(too_many_connections)" in line)
        await third.lost
        other = await self.through_proxy("198.51.100.9", 2222)
        other.send("dave")
        await other.wait_for(lambda line: line.startswith("*** You are dave."))
        self.assertEqual(self.line_door.table.admission.per_host, {"203.0.113.7": 2, "198.51.100.9": 1})

    async def test_the_web_door_counts_the_real_client_too(self) -> None:
        answers = []
        for n in range(3):
            page = RawHTTP(proxy_header("203.0.113.8", 3000 + n) + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            await endpoints.connectProtocol(endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.web.getHost().port), page)
            answers.append(page)
        # The first two keep their keep-alive connections; the third is over the address's limit.
        third = Response(await answers[2].done)
        self.assertEqual(third.status, 503)
        self.assertIn(b"203.0.113.8 has 2 connections open", third.body)
        self.assertEqual(self.web_door.table.admission.per_host, {"203.0.113.8": 2})
        for page in answers[:2]:
            page.transport.loseConnection()
            await page.done


class ForwardedForTests(TestCase):
    """--trusted-proxy: X-Forwarded-For believed from the proxy named, and from nobody else."""

    timeout = 30

    async def serve(self, trusted: list[str]) -> int:
        from tests.test_web_door import WebServer

        limits = generous_limits(max_per_address=2, close_grace=1.0)
        self.server = WebServer(self, limits, origins=["*"], files=None)
        self.server.web_door.trusted = TrustedProxies(trusted)
        return self.server.web_port

    async def websocket(self, forwarded: str | None) -> Any:
        from autobahn.twisted.websocket import WebSocketClientFactory

        from tests.test_web_door import WebSocketClient

        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.server.web_port}/ws", headers=headers)
        factory.protocol = WebSocketClient
        client = await endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.server.web_port).connect(factory)
        self.server.clients.append(client)
        return client

    async def test_the_client_a_trusted_proxy_names_is_the_one_seen_and_counted(self) -> None:
        await self.serve(["127.0.0.1"])
        # What the client wrote itself (left of the proxy's entry) is not believed.
        first = await self.websocket("6.6.6.6, 203.0.113.9")
        await first.opened
        first.send_json(action="login", user="alice", id=1)
        await first.wait_event("logged_in", re=1)
        [session] = self.server.web_door.sessions
        self.assertEqual(session.host, "203.0.113.9")
        second = await self.websocket("203.0.113.9")
        await second.opened
        third = await self.websocket("203.0.113.9")
        with self.assertRaises(ConnectionError):
            await third.opened  # that address has its two
        other = await self.websocket("198.51.100.1")
        await other.opened
        self.assertEqual(self.server.web_door.table.admission.per_host, {"203.0.113.9": 2, "198.51.100.1": 1})

    async def test_from_anyone_not_trusted_the_header_means_nothing(self) -> None:
        await self.serve([])
        client = await self.websocket("203.0.113.9")
        await client.opened
        client.send_json(action="login", user="bob", id=1)
        await client.wait_event("logged_in", re=1)
        [session] = self.server.web_door.sessions
        self.assertEqual(session.host, "127.0.0.1")
