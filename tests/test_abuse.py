"""
Abuse over real loopback sockets, bounded in count and time: a reader that
never reads, a flooder, a thousand connections that never log in.
"""

from __future__ import annotations

import resource
import socket

from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase

from tests.helpers import connect_line_client, generous_limits, start_line_server


class AbuseTests(TestCase):
    timeout = 60

    async def test_a_client_that_never_reads_is_dropped_and_the_others_keep_receiving(self) -> None:
        _, door, port = await start_line_server(self, limits=generous_limits(sendq=256 * 1024, max_line=8192))
        slow = await connect_line_client(port)
        slow.send("slow")
        await slow.wait_for(lambda line: line.startswith("*** You are slow."))
        # Stop reading, with a small receive window so the kernel buffers little.
        slow.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.transport.pauseProducing()
        reader = await connect_line_client(port)
        reader.send("reader")
        talker = await connect_line_client(port)
        talker.send("talker")
        await talker.wait_for(lambda line: line.startswith("*** You are talker."))
        slow_session = next(s for s in door.sessions if s.hub.user_of(s) == "slow")

        sent = 0
        payload = "x" * 4000
        # Bounded: at most 40 MB through the server, in batches of 10 lines
        # (a batch must fit the send queue: it is queued in one go, before
        # the reactor writes any of it, even to a client that reads).
        while not slow_session.closing and sent < 10_000:
            talker.send(b"".join(f"{sent + i} {payload}\n".encode() for i in range(10)))
            sent += 10
            await reader.wait_for(lambda line, n=sent - 1: line.startswith(f"[#lobby] <~talker> {n} "))
            # What waits for the slow client never passes the limit (plus one line).
            self.assertLessEqual(slow_session.sendq.backlog, 256 * 1024 + 4100)
        self.assertTrue(slow_session.closing, f"not dropped after {sent} messages")
        # The others are told (it may come before or after the last message's line).
        if "*** slow left #lobby (too slow)" not in reader.lines:
            await reader.wait_for("*** slow left #lobby (too slow)")
        # The others still chat.
        talker.send("still here")
        await reader.wait_for("[#lobby] <~talker> still here")

    async def test_a_flooder_is_throttled_and_others_still_get_through(self) -> None:
        hub, door, port = await start_line_server(
            self, limits=generous_limits(flood_rate=20, flood_burst=10, flood_queue=30)
        )
        listener = await connect_line_client(port)
        listener.send("listener")
        await listener.wait_for(lambda line: line.startswith("*** You are listener."))
        flooder = await connect_line_client(port)
        flooder.send("flooder")
        other = await connect_line_client(port)
        other.send("other")
        await other.wait_for(lambda line: line.startswith("*** You are other."))
        flooder.send(b"".join(b"flood %d\n" % i for i in range(1000)))
        await listener.wait_for("[#lobby] <~flooder> flood 0")
        other.send("right away")
        await listener.wait_for("[#lobby] <~other> right away")
        # When the other user's line arrived, most of the flood had not: the
        # server stopped reading the flooder, whose lines wait in the kernel.
        flooded = [line for line in listener.lines if line.startswith("[#lobby] <~flooder>")]
        self.assertLess(len(flooded), 100)
        session = next(s for s in door.sessions if hub.user_of(s) == "flooder")
        self.assertIn("flood", session._holds)
        self.assertLessEqual(len(session._queue), 30)

    async def test_a_thousand_connections_that_never_log_in_are_closed_at_the_login_timeout(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < 2500:
            raise SkipTest(f"needs 2 500 open files; the hard limit here is {hard}")
        if soft != resource.RLIM_INFINITY and soft < 2500:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard) if hard != resource.RLIM_INFINITY else 4096, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        hub, door, port = await start_line_server(self, limits=generous_limits(login_timeout=1.0))
        idlers = []
        for _ in range(10):
            batch = await defer.gatherResults([defer.Deferred.fromCoroutine(connect_line_client(port)) for _ in range(100)])
            idlers.extend(batch)
        await defer.gatherResults([c.lost for c in idlers])
        self.assertTrue(all(c.lines[-1] == "*** Bye: login timeout: log in within 1 seconds of connecting" for c in idlers))
        self.assertEqual(len(list(hub.state.connections())), 0)
        # The server is fine: someone new logs in and is answered.
        late = await connect_line_client(port)
        late.send("late")
        await late.wait_for(lambda line: line.startswith("*** You are late."))

    async def test_a_long_offline_queue_reaches_a_slow_reader_whole(self) -> None:
        # 1 000 messages of 4 KB waited; the send queue holds 64 KiB. The
        # reader is slow to start: it is not dropped, and gets every one.
        import os
        import tempfile

        from argon2 import PasswordHasher
        from twisted.internet import reactor

        from tchat.door.line import LineDoor
        from tchat.chat import Hub, HubConfig
        from tchat.store import open_store
        from tests.test_store import wait_until

        folder = tempfile.TemporaryDirectory(prefix="tchat-abuse-")
        self.addCleanup(folder.cleanup)
        store = await open_store(f"sqlite:{os.path.join(folder.name, 'tchat.db')}", reactor, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        self.addCleanup(store.close)
        await store.accounts.create("alice", "a long passphrase")
        text = "x" * 4000
        for i in range(1000):
            await store.offline.queue("alice", {"msgid": f"m{i}", "from": "bob", "to": "alice", "text": f"{i} {text}", "kind": "private", "ts": float(i)})
        hub = Hub(HubConfig(), reactor, store=store, batch=True)
        door = LineDoor(hub, generous_limits(sendq=64 * 1024, max_line=8192, close_grace=2.0), reactor)
        port = reactor.listenTCP(0, door, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: (hub.close_all("test over"), door.wait_closed())[1])
        alice = await connect_line_client(port.getHost().port)
        await alice.wait_for(lambda line: line.startswith("*** Welcome"))
        alice.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        [session] = door.sessions
        # Small kernel buffers both ways, so that the server's own buffer fills.
        session.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        alice.transport.pauseProducing()
        alice.send("/login alice a long passphrase")
        await wait_until(lambda: session.sendq.full, "the send buffer full")
        self.assertFalse(session.closing)
        alice.transport.resumeProducing()
        await alice.wait_for(lambda line: line.startswith("[private] <~bob> (sent") and line.split(") ", 1)[1].startswith("999 "))
        self.assertFalse(session.closing)
        numbers = [int(line.split(") ", 1)[1].split(" ")[0]) for line in alice.lines if line.startswith("[private]")]
        self.assertEqual(numbers, list(range(1000)))
        self.assertEqual(await store.offline.waiting("alice"), 0)
