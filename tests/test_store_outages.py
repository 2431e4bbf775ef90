"""
The store when its database is down, hung, locked, full or read-only.

Real SQLite files and the real PostgreSQL, no stand-in for either. A hung
SQLite is a call that holds the store's one connection until the test lets
it go; a hung or dead PostgreSQL is the real server behind a TCP proxy the
test can freeze (hold every byte) or take down (drop every connection,
refuse new ones). Call timeouts and the breaker run on a ``task.Clock`` the
test advances, so nothing here waits for a timeout in real time, except
where SQLite's own busy timeout or PostgreSQL's ``statement_timeout`` is
what is being tested.

PostgreSQL is found as in ``tests/test_store.py`` (skipped without one,
except under ``CI``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

from tchat.store import Store, StoreUnavailable, check_database, open_store
from tests.test_store import CHEAP, POSTGRES, SOURCE_ROOT, message, wait_until


class Held:
    """A store call that holds a pool thread (and its connection) until ``release``."""

    def __init__(self, store: Store, then: Callable[[Any], Any] = lambda txn: None) -> None:
        self.released = threading.Event()
        self.entered: Deferred[None] = Deferred()

        def hold(txn: Any) -> Any:
            reactor.callFromThread(self.entered.callback, None)
            self.released.wait(30)
            return then(txn)

        self.ended: list[Any] = []
        store.db.run(hold).addBoth(self.ended.append)

    def failure(self) -> BaseException:
        """How the call failed (it must have)."""
        [ended] = self.ended
        assert isinstance(ended, Failure), ended
        return ended.value

    def release(self) -> None:
        self.released.set()


def logged_events(test: TestCase) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    test.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events


def text_of(events: list[dict[str, Any]]) -> str:
    return "\n".join(formatEvent(e) for e in events)


class OutageTests:
    """Behaviour that is the same on both engines; mixed into one TestCase per engine."""

    timeout = 60
    url: str
    clock: Clock

    async def open(self, url: str | None = None, **options: Any) -> Store:
        options.setdefault("hasher", CHEAP)
        options.setdefault("clock", self.clock)
        store = await open_store(url or self.url, reactor, **options)
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        return store

    def held(self, store: Store, then: Callable[[Any], Any] = lambda txn: None) -> Held:
        held = Held(store, then)
        # Cleanups run last first: the hold ends before the store closes.
        self.addCleanup(held.release)  # type: ignore[attr-defined]
        return held


class SQLiteOutageTests(OutageTests, TestCase):
    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-outage-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        self.path = os.path.join(folder.name, "tchat.db")
        self.url = f"sqlite:{self.path}"
        self.clock = Clock()

    # timeouts -------------------------------------------------------------------

    async def test_a_call_the_database_does_not_answer_in_time_fails_with_unavailable(self) -> None:
        store = await self.open(timeout=10)
        held = self.held(store)
        await held.entered
        getting = store.accounts.get("alice")  # waits for the one connection
        self.clock.advance(9.9)
        self.assertFalse(getting.called)
        self.clock.advance(0.1)
        caught = self.failureResultOf(getting, StoreUnavailable).value
        self.assertEqual(caught.code, "unavailable")
        self.assertEqual(str(caught), "the database did not answer within 10 s")
        self.assertIsInstance(held.failure(), StoreUnavailable)
        self.assertFalse(store.available)

    async def test_a_late_answer_is_dropped_quietly_and_a_call_given_up_before_it_began_never_runs(self) -> None:
        store = await self.open()

        def fail_late(txn: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        held = self.held(store, then=fail_late)
        await held.entered
        adding = store.history.add(message("given-up"))
        self.clock.advance(10)
        self.failureResultOf(adding, StoreUnavailable)
        held.release()
        self.clock.advance(2)  # the breaker lets the next call try
        # One connection: this read runs after the held call ended and the
        # given-up write was skipped.
        self.assertEqual(await store.history.room_history("#lobby"), ([], False))
        self.assertTrue(store.available)
        self.assertEqual(self.flushLoggedErrors(), [])

    async def test_a_timed_out_call_that_had_begun_may_still_have_written(self) -> None:
        """What docs/store.rst says: the outcome of a write that timed out while running is not known."""
        store = await self.open()

        def write(txn: Any) -> None:
            txn.execute("INSERT INTO accounts (key, name, password_hash, created) VALUES ('bob', 'Bob', 'x', 0)")

        held = self.held(store, then=write)
        await held.entered
        self.clock.advance(10)
        self.assertIsInstance(held.failure(), StoreUnavailable)
        held.release()
        self.clock.advance(2)
        self.assertEqual((await store.accounts.get("bob")).name, "Bob")

    # the breaker -------------------------------------------------------------------

    async def test_after_a_failure_calls_fail_at_once_until_a_probe_gets_an_answer(self) -> None:
        events = logged_events(self)
        store = await self.open(retry_after=2)
        held = self.held(store)
        await held.entered
        self.clock.advance(10)
        self.assertIsInstance(held.failure(), StoreUnavailable)

        refused = self.failureResultOf(store.accounts.get("alice"), StoreUnavailable).value
        self.assertEqual(str(refused), "the database did not answer within 10 s; try again in 2 s")
        self.assertEqual(refused.retry_after, 2)
        self.clock.advance(1.5)
        refused = self.failureResultOf(store.history.add(message("m1")), StoreUnavailable).value
        self.assertEqual(refused.retry_after, 0.5)
        self.assertFalse(store.available)

        held.release()
        self.clock.advance(0.5)
        probe = store.accounts.get("alice")
        self.failureResultOf(store.accounts.get("bob"), StoreUnavailable)  # one probe at a time
        self.assertIsNone(await probe)
        self.assertTrue(store.available)
        self.assertIsNone(await store.accounts.get("bob"))
        logged = text_of(events)
        self.assertIn(f"the database sqlite:{self.path} is unavailable: the database did not answer within 10 s",
                      logged)
        self.assertIn("answers again, after 2.0 s unavailable", logged)

    async def test_a_probe_that_fails_keeps_the_breaker_open(self) -> None:
        store = await self.open(retry_after=2)
        held = self.held(store)
        await held.entered
        self.clock.advance(10)
        self.clock.advance(2)
        probe = self.held(store)  # the probe, stuck behind the first
        self.clock.advance(10)
        self.assertIsInstance(probe.failure(), StoreUnavailable)
        self.failureResultOf(store.accounts.get("alice"), StoreUnavailable)
        held.release()
        probe.release()
        self.clock.advance(2)
        self.assertIsNone(await store.accounts.get("alice"))

    async def test_meaningful_errors_are_answers_and_keep_the_breaker_closed(self) -> None:
        store = await self.open()
        await store.history.add(message("m1"))
        with self.assertRaises(Exception):
            await store.history.add(message("m1"))
        self.assertTrue(store.available)

    async def test_group_commit_goes_on_after_a_batch_times_out(self) -> None:
        store = await self.open()
        held = self.held(store)
        await held.entered
        first = store.history.add(message("m1"))  # a batch of its own, waiting for the connection
        second, third = store.history.add(message("m2")), store.history.add(message("m3"))
        self.assertEqual(store.history.writer.batches, 1)
        self.clock.advance(10)
        # The first batch timed out; the next went at once, and the open
        # breaker refused it at once.
        for adding in (first, second, third):
            self.failureResultOf(adding, StoreUnavailable)
        self.assertEqual(store.history.writer.batches, 2)
        held.release()
        self.clock.advance(2)
        await store.history.add(message("m4"))
        self.assertEqual([m["msgid"] for m in (await store.history.room_history("#lobby"))[0]], ["m4"])

    # driver errors ------------------------------------------------------------------

    async def test_a_file_locked_by_another_program_is_unavailable_with_that_reason(self) -> None:
        store = await self.open(timeout=0.5)  # busy timeout 0.45 s, real time
        other = sqlite3.connect(self.path, isolation_level=None)
        self.addCleanup(other.close)
        other.execute("BEGIN IMMEDIATE")
        with self.assertRaises(StoreUnavailable) as caught:
            await store.history.add(message("m1"))
        other.execute("ROLLBACK")
        self.assertEqual(str(caught.exception), f"the database file {self.path} is locked by another program")
        self.assertFalse(store.available)
        self.assertEqual(self.flushLoggedErrors(), [])

    async def test_a_full_disk_is_unavailable_with_that_reason(self) -> None:
        store = await self.open()
        # Cap the file at its present size: SQLite then fails a write
        # exactly as on a full disk (SQLITE_FULL).
        await store.db.run(lambda txn: txn.execute("PRAGMA max_page_count = 1"))
        with self.assertRaises(StoreUnavailable) as caught:
            await store.history.add(message("big", text="x" * 100_000))
        self.assertEqual(str(caught.exception), f"the database file {self.path} cannot grow: the disk is full")

    async def test_other_driver_errors_pass_through_unchanged(self) -> None:
        store = await self.open()
        with self.assertRaises(sqlite3.OperationalError):
            await store.db.run(lambda txn: txn.execute("SELECT * FROM no_such_table"))
        self.assertTrue(store.available)

    # closing ---------------------------------------------------------------------------

    async def test_close_is_bounded_by_the_timeout_when_the_database_hangs(self) -> None:
        events = logged_events(self)
        store = await self.open()
        held = self.held(store)
        await held.entered
        adding = store.history.add(message("m1"))
        closing = store.close()
        self.clock.advance(9.9)
        self.assertFalse(closing.called, "close waits for calls in flight, for a while")
        self.clock.advance(0.1)
        self.successResultOf(closing)
        self.failureResultOf(adding, StoreUnavailable)
        self.assertIn("without waiting for 2 call(s) it had not answered within 10 s", text_of(events))
        threads = store.db._pool.threadpool.threads
        self.assertTrue(threads and all(thread.daemon for thread in threads))

    async def test_close_waits_for_a_slow_call_that_finishes_in_time(self) -> None:
        store = await self.open()
        held = self.held(store)
        await held.entered
        adding = store.history.add(message("m1"))
        closing = store.close()
        self.clock.advance(5)
        held.release()
        await closing
        await adding
        self.assertEqual(
            sqlite3.connect(self.path).execute("SELECT msgid FROM messages").fetchall(), [("m1",)]
        )

    def _exit_while_hung(self, close: bool) -> subprocess.CompletedProcess[str]:
        script = textwrap.dedent(f"""
            import threading
            from twisted.internet import task
            from tchat.store import open_store
            async def main(reactor):
                store = await open_store({self.url!r}, reactor, timeout=0.5)
                store.db.run(lambda txn: threading.Event().wait()).addErrback(lambda f: None)
                store.history.add({message("m1")!r}).addErrback(lambda f: None)
                if {close!r}:
                    await store.close()
                    print("closed", flush=True)
                else:
                    print("stopping", flush=True)
            task.react(main)
        """)
        env = {**os.environ, "PYTHONPATH": SOURCE_ROOT}
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)

    async def test_a_call_a_thread_reaches_after_the_final_close_never_runs(self) -> None:
        """Its thread's connection may be closed already: it must not be used (a crash at exit, with SQLite)."""
        from tchat.store.pool import Call

        # Not self.open: the final close below is this store's close.
        store = await open_store(self.url, reactor, hasher=CHEAP, clock=self.clock)
        pool = store.db._pool
        pool.finalClose()
        ran: list[bool] = []
        pool._unfinished += 1  # as handing it to the pool counts it
        with self.assertRaises(StoreUnavailable):
            pool._in_thread(Call(), lambda txn: ran.append(True))
        self.assertEqual(ran, [])

    def test_the_process_exits_after_close_even_with_a_call_stuck_for_ever(self) -> None:
        done = self._exit_while_hung(close=True)
        self.assertEqual((done.returncode, done.stdout), (0, "closed\n"), done.stderr)

    def test_the_reactor_stops_and_the_process_exits_with_a_call_stuck_for_ever(self) -> None:
        """adbapi's own "during shutdown" trigger must not join the stuck thread either."""
        done = self._exit_while_hung(close=False)
        self.assertEqual((done.returncode, done.stdout), (0, "stopping\n"), done.stderr)


# -- PostgreSQL behind a proxy the test controls -----------------------------------------


class _End(Protocol):
    """One side of a proxied connection; what it receives goes to ``peer`` unless frozen."""

    def __init__(self, proxy: "Proxy") -> None:
        self.proxy = proxy
        self.peer: _End | None = None
        self.held: list[bytes] = []
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.proxy.ends.add(self)

    def dataReceived(self, data: bytes) -> None:
        self.held.append(data)
        self.flush()

    def flush(self) -> None:
        if self.peer is not None and not self.proxy.frozen:
            for data in self.held:
                self.peer.transport.write(data)
            self.held.clear()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.proxy.ends.discard(self)
        if self.peer is not None:
            self.peer.transport.loseConnection()
        self.lost.callback(None)


class _Incoming(_End):
    def connectionMade(self) -> None:
        super().connectionMade()
        if self.proxy.down:
            self.transport.abortConnection()
            return
        self.transport.pauseProducing()
        endpoint = TCP4ClientEndpoint(reactor, self.proxy.host, self.proxy.port)
        endpoint.connect(Factory.forProtocol(lambda: _End(self.proxy))).addCallbacks(self._linked, self._failed)

    def _linked(self, outgoing: _End) -> None:
        if self.transport.disconnected:
            outgoing.transport.loseConnection()
            return
        self.peer, outgoing.peer = outgoing, self
        self.transport.resumeProducing()
        self.flush()

    def _failed(self, reason: Failure) -> None:
        self.transport.abortConnection()


class Proxy:
    """A TCP proxy to PostgreSQL that can freeze (hold every byte) or go down (drop and refuse)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.frozen = False
        self.down = False
        self.ends: set[_End] = set()
        self.listening: Any = None

    async def start(self) -> int:
        self.listening = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            Factory.forProtocol(lambda: _Incoming(self))
        )
        return int(self.listening.getHost().port)

    def freeze(self) -> None:
        self.frozen = True

    def thaw(self) -> None:
        self.frozen = False
        for end in list(self.ends):
            end.flush()

    async def go_down(self) -> None:
        self.down = True
        await self._drop_all()

    def come_up(self) -> None:
        self.down = False

    async def _drop_all(self) -> None:
        ends = list(self.ends)
        for end in ends:
            end.transport.abortConnection()
        await gatherResults([end.lost for end in ends])

    async def stop(self) -> None:
        self.frozen = False
        if self.listening is not None:
            listening, self.listening = self.listening, None
            await listening.stopListening()
        await self._drop_all()


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{netloc}127.0.0.1:{port}", parts.path, parts.query, parts.fragment))


class PostgreSQLOutageTests(OutageTests, TestCase):
    def setUp(self) -> None:
        self.url = POSTGRES.new_schema()
        self.clock = Clock()

    async def proxied(self) -> tuple[Proxy, str]:
        parts = urlsplit(self.url)
        proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
        port = await proxy.start()
        self.addCleanup(proxy.stop)
        return proxy, _through(self.url, port)

    async def test_a_frozen_network_fails_calls_after_the_timeout_and_the_store_comes_back(self) -> None:
        proxy, url = await self.proxied()
        store = await self.open(url)
        await store.accounts.create("Alice", "correct horse")
        proxy.freeze()
        getting = store.accounts.get("alice")
        self.clock.advance(10)
        self.assertEqual(str(self.failureResultOf(getting, StoreUnavailable).value),
                         "the database did not answer within 10 s")
        self.assertFalse(store.available)
        self.failureResultOf(store.accounts.get("alice"), StoreUnavailable)
        proxy.thaw()
        self.clock.advance(2)
        self.assertEqual((await store.accounts.get("alice")).name, "Alice")
        self.assertTrue(store.available)

    async def test_a_database_that_goes_down_fails_calls_at_once_and_every_connection_is_renewed(self) -> None:
        proxy, url = await self.proxied()
        store = await self.open(url, pool_size=4)
        meeting = threading.Barrier(4, timeout=10)
        # Four calls that wait for each other: four threads, four connections.
        await gatherResults([store.db.run(lambda txn: meeting.wait()) for _ in range(4)])
        await proxy.go_down()
        with self.assertRaises(StoreUnavailable) as caught:
            await store.accounts.get("alice")  # no timeout needed: the connection is gone
        where = urlsplit(url).netloc.rsplit("@", 1)[-1]
        self.assertIn(str(caught.exception), (f"lost the connection to PostgreSQL at {where}",
                                              f"cannot reach PostgreSQL at {where}: connection refused"))
        self.assertFalse(store.available)
        proxy.come_up()
        self.clock.advance(2)
        self.assertIsNone(await store.accounts.get("alice"))  # the probe
        # Every other thread notices its connection died with the server and
        # opens a new one, rather than failing a call each.
        again = threading.Barrier(4, timeout=10)
        answers = await gatherResults(
            [store.db.run(lambda txn: (again.wait(), txn.value("SELECT 1"))[1]) for _ in range(4)]
        )
        self.assertEqual(answers, [1, 1, 1, 1])
        self.assertEqual(self.flushLoggedErrors(), [])

    async def test_connections_carry_the_server_side_and_network_timeouts(self) -> None:
        store = await self.open(timeout=3)

        def settings(txn: Any) -> tuple[Any, ...]:
            parameters = txn._cursor.connection.info.get_parameters()
            return (txn.value("SHOW statement_timeout"), txn.value("SHOW idle_in_transaction_session_timeout"),
                    {name: parameters.get(name) for name in ("connect_timeout", "keepalives", "tcp_user_timeout")})

        self.assertEqual(await store.db.run(settings),
                         ("3s", "3s", {"connect_timeout": "3", "keepalives": "1", "tcp_user_timeout": "3000"}))
        own = await self.open(self.url + "&connect_timeout=7", timeout=3)
        self.assertEqual((await own.db.run(settings))[2]["connect_timeout"], "7")

    async def test_a_statement_longer_than_the_timeout_is_cancelled_by_the_server(self) -> None:
        store = await self.open(timeout=1)  # the clock never moves: only the server can end it
        with self.assertRaises(StoreUnavailable) as caught:
            await store.db.run(lambda txn: txn.value("SELECT pg_sleep(30)"))
        self.assertEqual(str(caught.exception), "the database did not answer within 1 s")
        self.clock.advance(2)
        self.assertEqual(await store.db.run(lambda txn: txn.value("SELECT 1")), 1)

    async def test_a_write_cut_off_by_close_and_a_dropped_connection_is_rolled_back(self) -> None:
        proxy, url = await self.proxied()
        store = await self.open(url)
        await store.history.add(message("m0"))
        written: Deferred[None] = Deferred()
        release = threading.Event()
        self.addCleanup(release.set)

        def write_then_hang(txn: Any) -> None:
            txn.execute("INSERT INTO messages (msgid, conversation, sender, target, text, kind, ts)"
                        " VALUES ('m1', '#lobby', 'a', '#lobby', 't', 'public', 1)")
            reactor.callFromThread(written.callback, None)
            release.wait(30)

        ended: list[Any] = []
        store.db.run_write(write_then_hang).addBoth(ended.append)
        await written  # the row is in a transaction the server holds open
        closing = store.close()
        self.clock.advance(10)
        self.successResultOf(closing)
        self.assertIsInstance(ended[0].value, StoreUnavailable)
        await proxy.stop()  # the connection drops, as when the process exits
        release.set()  # the stuck thread goes on to COMMIT, on a dead connection
        await wait_until(lambda: store.db._pool.unfinished == 0, "the stuck call to end")
        self.assertEqual(POSTGRES.query(self.url, "SELECT msgid FROM messages ORDER BY id"), [("m0",)])
        self.assertEqual(self.flushLoggedErrors(), [])


# -- at start: can the database be used at all? ------------------------------------------


def make_read_only(test: TestCase, path: str) -> None:
    """Make a file or folder read-only, even for root (chattr +i); undone at cleanup."""
    if os.geteuid() != 0:
        mode = os.stat(path).st_mode
        os.chmod(path, 0o555 if os.path.isdir(path) else 0o444)
        test.addCleanup(os.chmod, path, mode)
        return
    done = subprocess.run(["chattr", "+i", path], capture_output=True, text=True)
    if done.returncode != 0:
        raise SkipTest(f"cannot make {path} read-only for root here: chattr says {done.stderr.strip()}")
    test.addCleanup(subprocess.run, ["chattr", "-i", path], check=True)


class SQLiteStartTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="tchat-start-")
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        self.path = os.path.join(folder.name, "tchat.db")
        self.url = f"sqlite:{self.path}"

    async def made(self) -> None:
        """A database made by tchat and closed cleanly (no -wal or -shm file left)."""
        store = await open_store(self.url, reactor, hasher=CHEAP)
        await store.close()
        self.assertEqual(os.listdir(self.folder), ["tchat.db"])

    def test_check_database_accepts_a_writable_file_and_creates_a_missing_one(self) -> None:
        self.assertIsNone(check_database(self.url))
        self.assertTrue(os.path.exists(self.path))
        self.assertIsNone(check_database(self.url))
        self.assertIsNone(check_database("memory"))

    async def test_a_read_only_file_is_refused_at_once(self) -> None:
        await self.made()
        make_read_only(self, self.path)
        with self.assertRaises(StoreUnavailable) as caught:
            await open_store(self.url, reactor, hasher=CHEAP)
        self.assertTrue(str(caught.exception).startswith(f"the database file {self.path} is read-only"),
                        str(caught.exception))
        with self.assertRaises(StoreUnavailable) as caught:
            check_database(self.url)
        self.assertEqual(str(caught.exception), f"cannot open the database {self.url}: it is read-only")

    async def test_a_read_only_folder_is_refused_at_once(self) -> None:
        await self.made()
        make_read_only(self, self.folder)
        with self.assertRaises(StoreUnavailable) as caught:
            await open_store(self.url, reactor, hasher=CHEAP)
        self.assertIn(f"its folder {self.folder} is read-only", str(caught.exception))
        with self.assertRaises(StoreUnavailable) as caught:
            check_database(self.url)
        self.assertTrue(str(caught.exception).startswith("cannot open the database: its folder "),
                        str(caught.exception))
        self.assertIn("is read-only", str(caught.exception)[:100], "the cause survives twistd's cut at 100 bytes")

    def test_a_missing_folder_is_named(self) -> None:
        missing = os.path.join(self.folder, "no", "such")
        with self.assertRaises(StoreUnavailable) as caught:
            check_database(f"sqlite:{missing}/tchat.db")
        self.assertIn(f"the folder {missing} does not exist", str(caught.exception))

    def test_a_file_locked_for_longer_than_the_timeout_is_refused(self) -> None:
        check_database(self.url)
        other = sqlite3.connect(self.path, isolation_level=None)
        self.addCleanup(other.close)
        other.execute("BEGIN IMMEDIATE")
        self.addCleanup(other.execute, "ROLLBACK")
        with self.assertRaises(StoreUnavailable) as caught:
            check_database(self.url, timeout=2)
        self.assertEqual(str(caught.exception), f"cannot open the database {self.url}: it is locked by another program")

    def test_a_bad_url_is_a_value_error(self) -> None:
        with self.assertRaises(ValueError):
            check_database("mysql://u:s3cret@h/db")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgreSQLStartTests(TestCase):
    timeout = 30

    def test_a_reachable_database_passes(self) -> None:
        self.assertIsNone(check_database(POSTGRES.new_schema(), timeout=5))

    def test_a_closed_port_is_refused_in_words_without_the_password(self) -> None:
        port = _free_port()
        with self.assertRaises(StoreUnavailable) as caught:
            check_database(f"postgresql://tchat:s3cret@127.0.0.1:{port}/tchat", timeout=5)
        self.assertEqual(str(caught.exception), f"cannot reach PostgreSQL at 127.0.0.1:{port}: connection refused")

    def test_a_server_that_never_answers_is_given_up_on_after_the_timeout(self) -> None:
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        with self.assertRaises(StoreUnavailable) as caught:
            check_database(f"postgresql://tchat:s3cret@127.0.0.1:{port}/tchat", timeout=0.5)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(str(caught.exception), f"cannot reach PostgreSQL at 127.0.0.1:{port}: no answer within 0.5 s")

    def test_a_missing_database_is_named(self) -> None:
        url = POSTGRES.new_schema()
        parts = urlsplit(url)
        missing = urlunsplit((parts.scheme, parts.netloc, "/tchat_no_such_database", "", ""))
        with self.assertRaises(StoreUnavailable) as caught:
            check_database(missing, timeout=5)
        self.assertIn('database "tchat_no_such_database" does not exist', str(caught.exception))
