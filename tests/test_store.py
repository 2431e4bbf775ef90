"""
The store: accounts, history, offline messages, contacts, schema upgrades.

Every behaviour is tested once, in L{StoreTests}, and run twice: against
SQLite (a real file in a temporary directory) and against a real PostgreSQL.
PostgreSQL is found at ``$TCHAT_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); the run creates a
database of its own, ``tchat_test_<random>``, gives each test a schema of its
own in it, and drops the database at exit. Without a reachable server the
PostgreSQL tests are skipped, except when ``$CI`` is set: then they fail.

Password hashing uses cheap argon2 parameters (a constructor argument), so
the whole file runs in seconds.
"""

from __future__ import annotations

import atexit
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from typing import Any, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from argon2 import PasswordHasher
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, gatherResults
from twisted.internet.task import deferLater
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SkipTest, TestCase

import tchat
from tchat.names import skeleton
from tchat.store import (
    DuplicateMessage,
    NameConfusable,
    NameRegistered,
    NoSuchAccount,
    QueueFull,
    SchemaTooNew,
    Store,
    StoreClosed,
    StoreError,
    UnknownMessage,
    WeakPassword,
    check_password,
    conversation_key,
    open_store,
    parse_url,
)
from tchat.store.accounts import _PG_CREATE_LOCK, Accounts, fill_skeletons
from tchat.store.txn import Txn, to_format_style
from tchat.store.history import LAST_PAGE_SQL, PAGE_BEFORE_SQL, GroupCommit, _insert_messages
from tchat.store.migrations import latest_version, split_statements, upgrades
from tchat.store.offline import FROM_SENDER_SQL, Limits, _queue

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
STRONGER = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(tchat.__file__)))


def message(msgid: str, sender: str = "Alice", to: str = "#lobby", text: str | None = None,
            kind: str | None = None, ts: float = 1_700_000_000.0) -> dict[str, Any]:
    if kind is None:
        kind = "public" if to.startswith("#") else "private"
    return {"msgid": msgid, "from": sender, "to": to, "text": text or f"text of {msgid}", "kind": kind, "ts": ts}


async def wait_until(condition: Any, what: str, timeout: float = 5.0) -> None:
    """Turn the reactor until ``condition()`` holds (for thread pool work we cannot await)."""
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        await deferLater(reactor, 0.005, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


# -- PostgreSQL for this test run ---------------------------------------------------


class _PostgresForTests:
    """One database per test run (dropped at exit), one schema per test."""

    def __init__(self) -> None:
        self.admin_dsn = os.environ.get("TCHAT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
        self.database: str | None = None
        self.problem: str | None = None

    def _connect(self, dsn: str) -> Any:
        import psycopg

        return psycopg.connect(dsn, autocommit=True, connect_timeout=3)

    def _dsn(self, database: str, schema: str | None = None) -> str:
        parts = urlsplit(self.admin_dsn)
        query = parse_qsl(parts.query)
        if schema is not None:
            query.append(("options", f"-csearch_path={schema}"))
        return urlunsplit((parts.scheme, parts.netloc, "/" + database, urlencode(query), ""))

    def new_schema(self) -> str:
        """A URL whose tables land in a fresh, empty schema; skip or fail if PostgreSQL is absent."""
        if self.problem is None and self.database is None:
            try:
                with self._connect(self.admin_dsn) as admin:
                    name = f"tchat_test_{secrets.token_hex(6)}"
                    admin.execute(f"CREATE DATABASE {name}")
                self.database = name
                atexit.register(self._drop)
            except Exception as e:
                self.problem = " ".join(str(e).split()) or type(e).__name__
        if self.problem is not None:
            reason = f"PostgreSQL at {parse_url(self.admin_dsn)} is unreachable ({self.problem}); set TCHAT_TEST_POSTGRES"
            if os.environ.get("CI"):
                raise AssertionError(f"CI must run the PostgreSQL store tests: {reason}")
            raise SkipTest(reason)
        assert self.database is not None
        schema = f"t_{secrets.token_hex(6)}"
        with self._connect(self._dsn(self.database)) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        return self._dsn(self.database, schema)

    def new_database(self, case: Any) -> tuple[str, str]:
        """A database of its own, dropped after ``case``: (its URL, its name). For tests that take it away."""
        self.new_schema()  # skips or fails as new_schema does without PostgreSQL
        name = f"tchat_test_{secrets.token_hex(6)}"
        with self._connect(self.admin_dsn) as admin:
            admin.execute(f"CREATE DATABASE {name}")

        def drop() -> None:
            with self._connect(self.admin_dsn) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

        case.addCleanup(drop)
        return self._dsn(name), name

    def refuse_connections(self, name: str, refuse: bool) -> None:
        """Make database ``name`` unreachable (no new connections, its own backends ended), or reachable again."""
        with self._connect(self.admin_dsn) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'false' if refuse else 'true'}")
            if refuse:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

    def _drop(self) -> None:
        try:
            with self._connect(self.admin_dsn) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        except Exception:
            pass  # at exit, nobody to tell; the random name keeps runs apart

    def query(self, url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connect(url) as connection:
            cursor = connection.execute(to_format_style(sql), tuple(params))
            return cursor.fetchall() if cursor.description else []


POSTGRES = _PostgresForTests()


# -- the tests, for both engines ----------------------------------------------------


class StoreTests:
    """Mixed into one TestCase per engine; ``new_url`` and ``outside`` differ."""

    timeout = 20
    engine: str

    def new_url(self) -> str:
        raise NotImplementedError

    def outside(self, url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` on a connection of its own: it sees only what is committed."""
        raise NotImplementedError

    def setUp(self) -> None:
        self.url = self.new_url()

    async def open(self, url: str | None = None, **options: Any) -> Store:
        options.setdefault("hasher", CHEAP)
        store = await open_store(url or self.url, reactor, **options)
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        return store

    # accounts ------------------------------------------------------------

    async def test_create_keeps_the_display_name_under_the_case_folded_key(self) -> None:
        store = await self.open()
        before = reactor.seconds()
        created = await store.accounts.create("Alice", "correct horse")
        account = await store.accounts.get("alice")
        self.assertEqual(account, created)
        self.assertEqual((account.key, account.name), ("alice", "Alice"))
        self.assertTrue(before <= account.created <= reactor.seconds())
        self.assertEqual((account.last_login, account.last_address, account.last_seen), (None, None, None))
        self.assertIsNone(await store.accounts.get("bob"))

    async def test_a_registered_name_cannot_be_registered_again_in_any_case(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        with self.assertRaises(NameRegistered) as caught:
            await store.accounts.create("ALICE", "another password")
        self.assertEqual(caught.exception.code, "name_registered")
        self.assertNotIn("another password", str(caught.exception))
        self.assertTrue(await store.accounts.verify("alice", "correct horse"))

    async def test_a_name_that_looks_like_a_registered_one_is_refused_and_found(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        with self.assertRaises(NameConfusable) as caught:
            await store.accounts.create("\u0430lice", "another password")
        self.assertEqual((caught.exception.code, caught.exception.alike), ("confusable_name", "Alice"))
        self.assertIn("\u0430lice looks like Alice", str(caught.exception))
        self.assertNotIn("another password", str(caught.exception))
        self.assertIsNone(await store.accounts.get("\u0430lice"))
        with self.assertRaises(NameRegistered):
            await store.accounts.create("ALICE", "another password")
        for alike in ["\u0430lice", "A1ICE", "\u0430lic\u0435"]:
            found = await store.accounts.confusable(alike)
            self.assertEqual(found.name if found else None, "Alice", alike)
        # A name is not like itself, in any case; a name unlike it is not like it.
        for unlike in ["alice", "ALICE", "alicia", "bob"]:
            self.assertIsNone(await store.accounts.confusable(unlike), unlike)
        self.assertEqual(self.outside(self.url, "SELECT key, skeleton FROM accounts"), [("alice", skeleton("Alice"))])

    async def test_accounts_made_before_version_5_get_their_skeletons_when_the_store_opens(self) -> None:
        old = await self.open(schema_version=4)
        names = ["Alice", "Bob", "Carol", "Dave", "Eve"]

        def fill_version_4(txn: Txn) -> None:
            for i, name in enumerate(names):
                txn.execute("INSERT INTO accounts (key, name, password_hash, created) VALUES (?, ?, ?, ?)",
                            (name.lower(), name, CHEAP.hash("correct horse"), float(i)))

        await old.db.run_write(fill_version_4)
        await old.close()
        store = await self.open()
        self.assertEqual(self.outside(self.url, "SELECT key, skeleton FROM accounts ORDER BY key"),
                         [(name.lower(), skeleton(name)) for name in names])
        found = await store.accounts.confusable("\u0430lice")
        self.assertEqual(found.name if found else None, "Alice")
        with self.assertRaises(NameConfusable):
            await store.accounts.create("B0B", "correct horse")
        # In batches: every one, however many batches it takes.
        await store.db.run_write(lambda txn: txn.execute("UPDATE accounts SET skeleton = NULL"))
        self.assertEqual(await fill_skeletons(store.db, batch=2), len(names))
        self.assertEqual(self.outside(self.url, "SELECT COUNT(*) FROM accounts WHERE skeleton IS NULL"), [(0,)])
        self.assertEqual(await fill_skeletons(store.db, batch=2), 0)

    async def test_verify_accepts_the_password_only(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        self.assertTrue(await store.accounts.verify("alice", "correct horse"))
        self.assertFalse(await store.accounts.verify("alice", "Correct horse"))
        self.assertFalse(await store.accounts.verify("bob", "correct horse"))

    async def test_passwords_are_stored_as_argon2id_hashes(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        [(stored,)] = self.outside(self.url, "SELECT password_hash FROM accounts WHERE key = ?", ("alice",))
        self.assertTrue(stored.startswith("$argon2id$"))
        self.assertNotIn("correct horse", stored)
        self.assertNotIn("$argon2", repr(await store.accounts.get("alice")))

    async def test_weak_passwords_are_refused_with_a_sentence_that_does_not_repeat_them(self) -> None:
        store = await self.open()
        for password, rule in (("short", "at least 8"), ("aLiCe", "at least 8"), ("Alice.Net", None),
                               ("zzzzzzzzzz", "repeated"), ("x" * 1025, "at most")):
            with self.assertRaises(WeakPassword) as caught:
                await store.accounts.create("Alice.Net" if password == "Alice.Net" else "alice", password)
            self.assertEqual(caught.exception.code, "weak_password")
            self.assertNotIn(password, str(caught.exception))
            if rule:
                self.assertIn(rule, str(caught.exception))
        with self.assertRaises(WeakPassword) as caught:
            check_password("Alice", "ALICE   ")
        self.assertIn("user name", str(caught.exception))
        self.assertEqual(await store.accounts.list(), [])

    async def test_no_password_reaches_a_log_event(self) -> None:
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        store = await self.open()
        await store.accounts.create("Alice", "first secret")
        await store.accounts.verify("alice", "wrong secret")
        await store.accounts.verify("alice", "first secret")
        await Accounts(store.db, reactor, hasher=STRONGER).verify("alice", "first secret")
        await store.accounts.change_password("alice", "second secret")
        with self.assertRaises(WeakPassword):
            await store.accounts.change_password("alice", "secret")
        logged = "\n".join(f"{formatEvent(e)} {e!r}" for e in events)
        self.assertIn("Alice", logged)  # the observer did see the store's events
        for password in ("first secret", "wrong secret", "second secret", "$argon2"):
            self.assertNotIn(password, logged)

    async def test_change_password_replaces_the_old_one(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        await store.accounts.change_password("alice", "battery staple")
        self.assertFalse(await store.accounts.verify("alice", "correct horse"))
        self.assertTrue(await store.accounts.verify("alice", "battery staple"))
        with self.assertRaises(WeakPassword):
            await store.accounts.change_password("alice", "Alice")
        self.assertTrue(await store.accounts.verify("alice", "battery staple"))
        with self.assertRaises(NoSuchAccount) as caught:
            await store.accounts.change_password("bob", "battery staple")
        self.assertEqual(caught.exception.code, "no_such_user")

    async def test_login_rehashes_when_the_hasher_parameters_change(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        [(cheap_hash,)] = self.outside(self.url, "SELECT password_hash FROM accounts WHERE key = ?", ("alice",))
        self.assertTrue(STRONGER.check_needs_rehash(cheap_hash))
        upgraded = Accounts(store.db, reactor, hasher=STRONGER)

        self.assertFalse(await upgraded.verify("alice", "wrong password"))
        self.assertEqual(self.outside(self.url, "SELECT password_hash FROM accounts WHERE key = ?", ("alice",)),
                         [(cheap_hash,)], "a failed login must not rehash")

        self.assertTrue(await upgraded.verify("alice", "correct horse"))
        [(new_hash,)] = self.outside(self.url, "SELECT password_hash FROM accounts WHERE key = ?", ("alice",))
        self.assertNotEqual(new_hash, cheap_hash)
        self.assertFalse(STRONGER.check_needs_rehash(new_hash))
        self.assertIn("t=2", new_hash)
        self.assertTrue(await upgraded.verify("alice", "correct horse"))
        self.assertTrue(await store.accounts.verify("alice", "correct horse"))

    async def test_no_more_than_hash_concurrency_hashes_run_at_once(self) -> None:
        release = threading.Event()
        lock = threading.Lock()
        running = [0, 0]  # now, most

        class HeldHasher(PasswordHasher):
            def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
                with lock:
                    running[0] += 1
                    running[1] = max(running)
                release.wait(10)
                with lock:
                    running[0] -= 1
                return super().hash(password, salt=salt)

        store = await self.open(hasher=HeldHasher(time_cost=1, memory_cost=8, parallelism=1), hash_concurrency=2)
        creating = [store.accounts.create(f"user{i}", "correct horse") for i in range(5)]
        slots = store.accounts.hash_slots
        try:
            await wait_until(lambda: running[0] == 2 and len(slots.waiting) == 3, "two hashing and three waiting")
        finally:
            release.set()
        await gatherResults(creating)
        self.assertEqual(running[1], 2)
        self.assertEqual(len(await store.accounts.list()), 5)

    async def test_delete_takes_the_waiting_messages_and_contact_entries_with_it(self) -> None:
        store = await self.open()
        for name in ("Alice", "Bob", "Carol"):
            await store.accounts.create(name, "correct horse")
        await store.contacts.add("alice", "bob")
        await store.contacts.add("bob", "alice")
        await store.contacts.add("carol", "alice")
        await store.offline.queue("alice", message("q1", "Bob", "Alice"))
        await store.offline.queue("bob", message("q2", "Alice", "Bob"))
        await store.history.add(message("h1"))

        await store.accounts.delete("alice")
        self.assertIsNone(await store.accounts.get("alice"))
        self.assertEqual(await store.contacts.list("bob"), [])
        self.assertEqual(await store.contacts.list("carol"), [])
        self.assertEqual(self.outside(self.url, "SELECT COUNT(*) FROM contacts"), [(0,)])
        self.assertEqual(await store.offline.waiting("alice"), 0)
        self.assertEqual(await store.offline.waiting("bob"), 1)
        self.assertEqual(len((await store.history.room_history("#lobby"))[0]), 1, "history stays")
        with self.assertRaises(NoSuchAccount):
            await store.accounts.delete("alice")

    async def test_list_gives_every_account_by_key(self) -> None:
        store = await self.open()
        for name in ("carol", "Bob", "alice"):
            await store.accounts.create(name, "correct horse")
        self.assertEqual([a.name for a in await store.accounts.list()], ["alice", "Bob", "carol"])

    async def test_logins_and_last_seen_are_recorded_for_registered_names_only(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        self.assertTrue(await store.accounts.record_login("alice", 1000.5, "192.0.2.1:4000"))
        self.assertTrue(await store.accounts.record_seen("alice", 2000.25))
        account = await store.accounts.get("alice")
        self.assertEqual((account.last_login, account.last_address, account.last_seen),
                         (1000.5, "192.0.2.1:4000", 2000.25))
        self.assertFalse(await store.accounts.record_login("guest", 1.0, "x"))
        self.assertFalse(await store.accounts.record_seen("guest", 1.0))
        self.assertIsNone(await store.accounts.get("guest"))

    # history -------------------------------------------------------------

    async def test_messages_come_back_exactly_as_added(self) -> None:
        store = await self.open()
        sent = [
            message("a1", "Ünïcode", "#Lobby", "héllo 🌍 100% 'quoted' ?", "public", 1_700_000_000.123456),
            message("a2", "Bob", "#lobby", "waves", "action", 1_700_000_001.0),
        ]
        for m in sent:
            await store.history.add(m)
        self.assertEqual(await store.history.room_history("#lobby", 10), (sent, False))

    async def test_room_history_is_oldest_first_and_says_whether_there_is_more(self) -> None:
        store = await self.open()
        for i in range(5):
            await store.history.add(message(f"m{i}", text=f"t{i}", ts=100.0 + i))
        await store.history.add(message("elsewhere", to="#other"))
        page, more = await store.history.room_history("#lobby", 3)
        self.assertEqual([m["text"] for m in page], ["t2", "t3", "t4"])
        self.assertTrue(more)
        page, more = await store.history.room_history("#lobby", 5)
        self.assertEqual(len(page), 5)
        self.assertFalse(more)
        self.assertEqual(await store.history.room_history("#empty", 50), ([], False))

    async def test_paging_before_a_msgid_follows_insertion_order_not_msgid_text(self) -> None:
        store = await self.open()
        # Insertion order m9, m10, m8, …: as text they sort otherwise.
        order = ["m9", "m10", "m8", "m11", "m1", "m100", "m2"]
        for msgid in order:
            await store.history.add(message(msgid))
        seen: list[str] = []
        before = None
        pages = 0
        while True:
            page, more = await store.history.room_history("#lobby", 3, before)
            seen[:0] = [m["msgid"] for m in page]
            pages += 1
            if not more:
                break
            before = page[0]["msgid"]
        self.assertEqual(seen, order)
        self.assertEqual(pages, 3)
        self.assertEqual(await store.history.room_history("#lobby", 3, "m9"), ([], False))

    async def test_paging_before_an_unknown_msgid_is_an_error(self) -> None:
        store = await self.open()
        await store.history.add(message("m1"))
        with self.assertRaises(UnknownMessage) as caught:
            await store.history.room_history("#lobby", 10, "nope")
        self.assertEqual(caught.exception.code, "no_such_message")
        with self.assertRaises(ValueError):
            await store.history.room_history("#lobby", 0)

    async def test_private_messages_are_one_conversation_for_both_parties(self) -> None:
        store = await self.open()
        await store.history.add(message("p1", "Alice", "Bob"))
        await store.history.add(message("p2", "bob", "ALICE", kind="action"))
        await store.history.add(message("p3", "Alice", "Carol"))
        await store.history.add(message("r1", "Alice", "#lobby"))
        ab, more = await store.history.private_history("alice", "bob", 10)
        self.assertEqual([m["msgid"] for m in ab], ["p1", "p2"])
        self.assertFalse(more)
        self.assertEqual(await store.history.private_history("bob", "alice", 10), (ab, False))
        self.assertEqual([m["msgid"] for m in (await store.history.private_history("carol", "alice", 10))[0]], ["p3"])
        self.assertEqual([m["msgid"] for m in (await store.history.room_history("#lobby", 10))[0]], ["r1"])
        self.assertEqual(conversation_key("bob", "alice"), conversation_key("alice", "bob"))
        self.assertEqual((await store.history.private_history("alice", "bob", 1, "p2")), ([ab[0]], False))

    async def test_private_history_since_a_time(self) -> None:
        store = await self.open()
        for i, ts in enumerate([100.0, 200.0, 300.0, 400.0]):
            await store.history.add(message(f"p{i}", "Alice", "Bob", ts=ts))
        page, more = await store.history.private_history("alice", "bob", 10, since=200.0)
        self.assertEqual(([m["msgid"] for m in page], more), (["p1", "p2", "p3"], False))
        page, more = await store.history.private_history("alice", "bob", 1, "p3", since=200.0)
        self.assertEqual(([m["msgid"] for m in page], more), (["p2"], True))
        page, more = await store.history.private_history("alice", "bob", 5, "p2", since=200.0)
        self.assertEqual(([m["msgid"] for m in page], more), (["p1"], False))

    async def test_malformed_messages_are_refused(self) -> None:
        store = await self.open()
        missing = message("m1")
        del missing["ts"]
        for bad in (missing, message("m2", kind="shout"), {**message("m3"), "ts": "now"}, {**message("m4"), "text": None}):
            with self.assertRaises(ValueError):
                await store.history.add(bad)
        self.assertEqual(await store.history.room_history("#lobby"), ([], False))

    async def test_the_store_checks_no_permissions(self) -> None:
        """Who may read what is the hub's business: the store answers any key."""
        store = await self.open()
        await store.history.add(message("p1", "Alice", "Bob"))
        await store.history.add(message("r1", "Alice", "#secret"))
        self.assertEqual(len((await store.history.private_history("alice", "bob"))[0]), 1)
        self.assertEqual(len((await store.history.room_history("#secret"))[0]), 1)
        await store.offline.queue("nobody-registered", message("q1", "Alice", "nobody-registered"))
        self.assertEqual(len(await store.offline.peek("nobody-registered", 10)), 1)

    async def test_the_registered_mark_comes_back_with_history_and_guests_have_none(self) -> None:
        store = await self.open()
        await store.history.add({**message("r1", "Alice"), "registered": True})
        await store.history.add({**message("g1", "bob"), "registered": None})
        await store.history.add({**message("g2", "bob"), "registered": False})
        await store.history.add(message("g3", "carol"))
        await store.history.add({**message("p1", "Alice", "Bob"), "registered": True})
        page, _ = await store.history.room_history("#lobby")
        self.assertEqual([(m["msgid"], m.get("registered", "absent")) for m in page],
                         [("r1", True), ("g1", "absent"), ("g2", "absent"), ("g3", "absent")])
        self.assertEqual((await store.history.private_history("alice", "bob"))[0][0]["registered"], True)
        # Delayed messages carry it too.
        await store.offline.queue("bob", {**message("q1", "Alice", "Bob"), "registered": True})
        await store.offline.queue("bob", message("q2", "carol", "Bob"))
        self.assertEqual([m.get("registered") for _, m in await store.offline.peek("bob", 10)], [True, None])
        with self.assertRaises(ValueError):
            await store.history.add({**message("x1"), "registered": 1})

    async def test_count_since_counts_each_room_after_a_time(self) -> None:
        store = await self.open()
        for i in range(6):
            await store.history.add(message(f"l{i}", to="#lobby", ts=100.0 + i))
        await store.history.add(message("d1", to="#dev", ts=104.5))
        await store.history.add(message("p1", "Alice", "Bob", ts=200.0))
        counts = await store.history.count_since(["#lobby", "#dev", "#quiet", "#lobby"], 103.0)
        self.assertEqual(counts, {"#lobby": 2, "#dev": 1, "#quiet": 0})
        self.assertEqual(await store.history.count_since([conversation_key("alice", "bob")], 0.0),
                         {"alice bob": 1})
        self.assertEqual(await store.history.count_since([], 0.0), {})

    async def test_a_duplicate_msgid_fails_its_own_add_only(self) -> None:
        store = await self.open()
        await store.history.add(message("m1"))
        results = await DeferredList(
            [store.history.add(message(m)) for m in ("m2", "m1", "m3", "m3", "m4")], consumeErrors=True
        )
        outcomes = [ok or result.value.__class__ for ok, result in results]
        self.assertEqual(outcomes, [True, DuplicateMessage, True, DuplicateMessage, True])
        self.assertEqual([m["msgid"] for m in (await store.history.room_history("#lobby"))[0]],
                         ["m1", "m2", "m3", "m4"])

    async def test_concurrent_adds_share_a_transaction_and_each_fires_after_its_commit(self) -> None:
        store = await self.open()
        committed_when_told: list[bool] = []

        def check(_: None, msgid: str) -> None:
            rows = self.outside(self.url, "SELECT COUNT(*) FROM messages WHERE msgid = ?", (msgid,))
            committed_when_told.append(rows == [(1,)])

        adds = [store.history.add(message(f"m{i}")).addCallback(check, f"m{i}") for i in range(20)]
        await gatherResults(adds)
        self.assertEqual(committed_when_told, [True] * 20)
        # The first add starts a transaction at once; the 19 that arrive
        # while it runs go together into the next.
        self.assertEqual((store.history.writer.batches, store.history.writer.items), (2, 20))
        page, _ = await store.history.room_history("#lobby", 50)
        self.assertEqual([m["msgid"] for m in page], [f"m{i}" for i in range(20)])

    async def test_without_group_commit_every_add_is_its_own_transaction(self) -> None:
        store = await self.open(group_commit=False)
        await gatherResults([store.history.add(message(f"m{i}")) for i in range(5)])
        self.assertEqual(store.history.writer.batches, 0)
        self.assertEqual(len((await store.history.room_history("#lobby"))[0]), 5)
        with self.assertRaises(DuplicateMessage):
            await store.history.add(message("m1"))

    def explain(self, txn: Txn, sql: str, params: Sequence[Any]) -> str:
        raise NotImplementedError

    async def test_history_pages_are_read_through_the_conversation_index(self) -> None:
        store = await self.open()

        # Rooms with many more messages than a page, as in use: for a room
        # of 50, reading all and sorting is as good as the index.
        rows = [(f"m{i}", f"#room{i % 100}", "a", "b", "t", "public", float(i), False) for i in range(10000)]
        await store.db.run_write(_insert_messages, rows)
        # With statistics, as a database in use has them.
        await store.db.run_write(lambda txn: txn.execute("ANALYZE"))
        for sql, params in ((LAST_PAGE_SQL, ("#room1", 51)), (PAGE_BEFORE_SQL, ("#room1", 5000, 51))):
            plan = await store.db.run(self.explain, sql, params)
            self.assertIn("messages_by_conversation", plan)
            self.assertNotIn("messages_by_conversation_ts", plan)
            self.assertNotRegex(plan.lower(), "temp b-tree|sort")

    async def test_a_literal_percent_survives_placeholder_translation(self) -> None:
        store = await self.open()
        await store.history.add(message("m1", text="100% sure"))
        value = await store.db.run(lambda txn: txn.value(
            "SELECT COUNT(*) FROM messages WHERE text LIKE '100%' AND msgid = ?", ("m1",)))
        self.assertEqual(value, 1)

    # offline ---------------------------------------------------------------

    async def test_two_removes_of_one_batch_at_once_remove_it_once(self) -> None:
        """Two deliveries racing (two connections of one account): the counts tell who removed it."""
        store = await self.open()
        for i in range(30):
            await store.offline.queue("alice", message(f"q{i}", "Bob", "Alice"))
        ids = [i for i, _ in await store.offline.peek("alice", 30)]
        first, second = await gatherResults([store.offline.remove("alice", ids), store.offline.remove("alice", ids)])
        self.assertEqual(sorted([first, second]), [0, 30])
        self.assertEqual(await store.offline.waiting("alice"), 0)

    async def test_a_remove_that_does_not_commit_keeps_the_messages(self) -> None:
        from tchat.store.offline import _remove

        store = await self.open()
        await store.offline.queue("alice", message("q1", "Bob", "Alice"))
        [(row_id, _)] = await store.offline.peek("alice", 10)

        class Crash(Exception):
            pass

        def remove_then_crash(txn: Txn) -> None:
            self.assertEqual(_remove(txn, "alice", [row_id]), 1)
            raise Crash()

        with self.assertRaises(Crash):
            await store.db.run_write(remove_then_crash)
        self.assertEqual([m["msgid"] for _, m in await store.offline.peek("alice", 10)], ["q1"])

    async def test_peek_gives_the_oldest_waiting_with_their_ids_and_leaves_them_queued(self) -> None:
        store = await self.open()
        queued = [{**message(f"q{i}", "Bob", "Alice", ts=50.0 - i), "registered": True} for i in range(3)]
        queued += [message(f"q{i}", "guest", "Alice") for i in range(3, 5)]
        for m in queued:
            await store.offline.queue("alice", m)
        await store.offline.queue("carol", message("qc", "Bob", "Carol"))
        first = await store.offline.peek("alice", 3)
        self.assertEqual([m for _, m in first], queued[:3])
        self.assertEqual(await store.offline.peek("alice", 3), first, "peeking removes nothing")
        self.assertEqual([m for _, m in await store.offline.peek("alice", 10)], queued)
        self.assertNotIn("registered", (await store.offline.peek("alice", 10))[4][1])
        self.assertEqual(await store.offline.peek("nobody", 10), [])
        with self.assertRaises(ValueError):
            await store.offline.peek("alice", 0)

    async def test_remove_takes_exactly_the_delivered_ids_of_that_recipient(self) -> None:
        store = await self.open()
        for i in range(5):
            await store.offline.queue("alice", message(f"q{i}", "Bob", "Alice"))
        await store.offline.queue("carol", message("qc", "Bob", "Carol"))
        [carols] = await store.offline.peek("carol", 10)
        batch = await store.offline.peek("alice", 2)
        self.assertEqual(await store.offline.remove("alice", [i for i, _ in batch]), 2)
        self.assertEqual(await store.offline.remove("alice", [i for i, _ in batch]), 0, "gone already")
        self.assertEqual(await store.offline.remove("alice", [carols[0]]), 0, "not alice's")
        self.assertEqual(await store.offline.remove("alice", []), 0)
        self.assertEqual([m["msgid"] for _, m in await store.offline.peek("alice", 10)], ["q2", "q3", "q4"])
        self.assertEqual(await store.offline.waiting("carol"), 1)

    async def test_a_delivery_cut_off_before_remove_loses_nothing(self) -> None:
        """The hub removes only what a connection took: a drop half-way leaves the rest queued."""
        store = await self.open()
        for i in range(5):
            await store.offline.queue("alice", message(f"q{i}", "Bob", "Alice"))
        delivered = await store.offline.peek("alice", 2)
        await store.offline.remove("alice", [i for i, _ in delivered])
        await store.offline.peek("alice", 2)  # delivered, then the connection dropped: no remove
        self.assertEqual([m["msgid"] for _, m in await store.offline.peek("alice", 10)], ["q2", "q3", "q4"])

    async def test_one_sender_may_have_per_sender_messages_waiting_for_a_recipient(self) -> None:
        store = await self.open()
        for i in range(2):
            await store.offline.queue("alice", message(f"b{i}", "Bob", "Alice"), per_sender=2)
        with self.assertRaises(QueueFull) as caught:
            await store.offline.queue("alice", message("b2", "BOB", "Alice"), per_sender=2)
        self.assertEqual((caught.exception.code, caught.exception.reason, caught.exception.limit),
                         ("queue_full", "sender", 2))
        self.assertIn("you have 2 messages waiting for Alice already", str(caught.exception))
        await store.offline.queue("alice", message("c0", "Carol", "Alice"), per_sender=2)
        await store.offline.queue("dave", message("b3", "Bob", "Dave"), per_sender=2)
        # Once delivered, they no longer count.
        await store.offline.remove("alice", [i for i, _ in await store.offline.peek("alice", 1)])
        await store.offline.queue("alice", message("b4", "Bob", "Alice"), per_sender=2)

    async def test_guests_together_may_have_from_guests_messages_waiting(self) -> None:
        store = await self.open()
        await store.offline.queue("alice", message("g0", "guest1", "Alice"), from_guests=2)
        await store.offline.queue("alice", message("g1", "guest2", "Alice"), from_guests=2)
        with self.assertRaises(QueueFull) as caught:
            await store.offline.queue("alice", message("g2", "guest3", "Alice"), from_guests=2)
        self.assertEqual(caught.exception.reason, "guests")
        self.assertIn("Alice has as many messages from guests waiting as allowed (2)", str(caught.exception))
        # A registered sender is neither counted nor refused.
        await store.offline.queue("alice", {**message("r0", "Bob", "Alice"), "registered": True}, from_guests=2)
        self.assertEqual(await store.offline.waiting("alice"), 3)

    async def test_the_total_limit_counts_every_message_waiting(self) -> None:
        store = await self.open()
        await store.offline.queue("alice", message("a0", "guest", "Alice"), limit=2)
        await store.offline.queue("alice", {**message("a1", "Bob", "Alice"), "registered": True}, limit=2)
        with self.assertRaises(QueueFull) as caught:
            await store.offline.queue("alice", {**message("a2", "Carol", "Alice"), "registered": True},
                                      limit=2, per_sender=100, from_guests=100)
        self.assertEqual((caught.exception.reason, caught.exception.limit), ("total", 2))
        self.assertIn("Alice has 2 messages waiting already", str(caught.exception))
        with self.assertRaises(ValueError):
            await store.offline.queue("alice", message("a3", "Bob", "Alice"), per_sender=-1)

    async def test_many_queues_at_once_never_pass_a_limit(self) -> None:
        store = await self.open()
        results = await DeferredList(
            [store.offline.queue("alice", message(f"q{i}", f"sender{i % 3}", "Alice"), limit=10, per_sender=4)
             for i in range(30)],
            consumeErrors=True,
        )
        self.assertEqual(sum(ok for ok, _ in results), 10)
        self.assertEqual(await store.offline.waiting("alice"), 10)

    async def test_the_per_sender_count_reads_the_sender_index(self) -> None:
        store = await self.open()
        for i in range(300):
            await store.db.run_write(_queue, f"user{i % 30}", f"sender{i % 7}",
                                     ("m%d" % i, "x", "y", "t", "private", 1.0, False), Limits())
        await store.db.run_write(lambda txn: txn.execute("ANALYZE"))
        plan = await store.db.run(self.explain, FROM_SENDER_SQL, ("user1", "sender1"))
        self.assertIn("offline_by_recipient_sender", plan)

    async def test_a_queue_limit_refuses_more(self) -> None:
        store = await self.open()
        for i in range(3):
            await store.offline.queue("alice", message(f"q{i}", "Bob", "Alice"), limit=3)
        with self.assertRaises(QueueFull) as caught:
            await store.offline.queue("alice", message("q3", "Bob", "Alice"), limit=3)
        self.assertEqual(caught.exception.code, "queue_full")
        self.assertEqual(await store.offline.waiting("alice"), 3)

    # contacts ----------------------------------------------------------------

    async def test_contacts_are_registered_accounts_listed_by_display_name(self) -> None:
        store = await self.open()
        for name in ("Alice", "Carol", "bob"):
            await store.accounts.create(name, "correct horse")
        self.assertTrue(await store.contacts.add("alice", "carol"))
        self.assertTrue(await store.contacts.add("alice", "bob"))
        self.assertFalse(await store.contacts.add("alice", "bob"))
        self.assertEqual(await store.contacts.list("alice"), ["bob", "Carol"])
        self.assertEqual(await store.contacts.list("bob"), [], "contacts are one-way")
        with self.assertRaises(NoSuchAccount) as caught:
            await store.contacts.add("alice", "dave")
        self.assertEqual(caught.exception.key, "dave")
        self.assertTrue(await store.contacts.remove("alice", "carol"))
        self.assertFalse(await store.contacts.remove("alice", "carol"))
        self.assertEqual(await store.contacts.list("alice"), ["bob"])

    async def test_memberships_are_kept_in_join_order_and_remember_no_room(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        self.assertIsNone(await store.memberships.rooms("alice"), "never chose any room")
        await store.memberships.join("alice", "#lobby", "#lobby", 1.0)
        await store.memberships.join("alice", "#dev", "#Dev", 2.0)
        await store.memberships.join("alice", "#dev", "#Dev", 3.0)
        self.assertEqual(await store.memberships.rooms("alice"), [("#lobby", "#lobby"), ("#dev", "#Dev")])
        await store.memberships.leave("alice", "#lobby")
        await store.memberships.leave("alice", "#dev")
        self.assertEqual(await store.memberships.rooms("alice"), [], "left every room: not the same as never")
        await store.memberships.join("alice", "#ops", "#ops", 4.0)
        self.assertEqual(await store.memberships.rooms("alice"), [("#ops", "#ops")])
        await store.accounts.delete("alice")
        self.assertIsNone(await store.memberships.rooms("alice"))

    async def test_kept_rooms_are_saved_whole_replaced_and_read_back_and_joins_remember_when(self) -> None:
        store = await self.open()
        self.assertEqual(await store.rooms.all(), [])
        await store.rooms.save("#club", "#Club", "alice", {"topic": "first", "ops": ["alice"]}, 1.0)
        await store.rooms.save("#club", "#Club", "alice", {"topic": "Ünïcode ✓", "ops": ["alice", "bob"]}, 2.0)
        await store.rooms.save("#a", "#a", None, {"topic": ""}, 3.0)
        self.assertEqual(
            await store.rooms.all(),
            [("#a", "#a", {"topic": ""}), ("#club", "#Club", {"topic": "Ünïcode ✓", "ops": ["alice", "bob"]})],
        )
        await store.rooms.delete("#a")
        self.assertEqual([key for key, _, _ in await store.rooms.all()], ["#club"])
        await store.accounts.create("Alice", "correct horse")
        self.assertIsNone(await store.memberships.joined("alice", "#club"))
        await store.memberships.join("alice", "#club", "#Club", 5.0)
        await store.memberships.join("alice", "#club", "#Club", 9.0)
        self.assertEqual(await store.memberships.joined("alice", "#club"), 5.0)

    async def test_contact_accounts_carry_last_seen(self) -> None:
        store = await self.open()
        for name in ("Alice", "Bob"):
            await store.accounts.create(name, "correct horse")
        await store.accounts.record_seen("bob", 1234.5)
        await store.contacts.add("alice", "bob")
        [bob] = await store.contacts.accounts("alice")
        self.assertEqual((bob.name, bob.last_seen), ("Bob", 1234.5))

    # the store as a whole -------------------------------------------------------

    async def test_close_waits_for_writes_in_flight_and_refuses_new_calls(self) -> None:
        store = await self.open()
        adds = [store.history.add(message(f"m{i}")) for i in range(10)]
        await store.close()
        self.assertTrue(all(d.called for d in adds))
        await gatherResults(adds)
        with self.assertRaises(StoreClosed):
            await store.history.room_history("#lobby")
        await store.close()  # twice is fine
        again = await self.open()
        self.assertEqual(len((await again.history.room_history("#lobby"))[0]), 10)

    async def test_everything_is_still_there_after_reopening(self) -> None:
        store = await self.open()
        await store.accounts.create("Alice", "correct horse")
        await store.history.add(message("m1"))
        await store.offline.queue("alice", message("q1", "Bob", "Alice"))
        await store.close()
        store = await self.open()
        self.assertTrue(await store.accounts.verify("alice", "correct horse"))
        self.assertEqual(len((await store.history.room_history("#lobby"))[0]), 1)
        self.assertEqual(len(await store.offline.peek("alice", 10)), 1)
        self.assertEqual(await store.schema_version(), latest_version(store.engine))

    async def test_a_version_1_database_is_upgraded_and_keeps_its_data(self) -> None:
        old = await self.open(schema_version=1)
        self.assertEqual(await old.schema_version(), 1)

        def fill_version_1(txn: Txn) -> None:
            # Written as tchat's schema version 1 had it: no last_seen, no contacts.
            txn.execute("INSERT INTO accounts (key, name, password_hash, created, last_login, last_address)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        ("alice", "Alice", CHEAP.hash("correct horse"), 10.0, 20.0, "192.0.2.1:1"))
            txn.execute("INSERT INTO accounts (key, name, password_hash, created) VALUES (?, ?, ?, ?)",
                        ("bob", "Bob", CHEAP.hash("battery staple"), 11.0))
            for i in range(3):
                txn.execute("INSERT INTO messages (msgid, conversation, sender, target, text, kind, ts)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)", (f"m{i}", "#lobby", "Alice", "#lobby", f"t{i}", "public", 30.0 + i))
            txn.execute("INSERT INTO offline (recipient, msgid, sender, target, text, kind, ts)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)", ("bob", "q1", "Alice", "Bob", "later", "private", 40.0))

        await old.db.run_write(fill_version_1)
        with self.assertRaises(Exception):
            await old.contacts.list("alice")
        await old.close()

        store = await self.open()
        self.assertEqual(await store.schema_version(), latest_version(store.engine))
        self.assertEqual(
            [row[:2] for row in self.outside(self.url, "SELECT version, name FROM schema_version ORDER BY version")],
            [(1, "initial"), (2, "contacts_and_seen"), (3, "memberships"), (4, "registered_senders"),
             (5, "kept_rooms_and_skeletons")],
        )
        alice = await store.accounts.get("alice")
        self.assertEqual((alice.name, alice.created, alice.last_login, alice.last_address, alice.last_seen),
                         ("Alice", 10.0, 20.0, "192.0.2.1:1", None))
        self.assertTrue(await store.accounts.verify("bob", "battery staple"))
        page, more = await store.history.room_history("#lobby", 2)
        self.assertEqual(([m["text"] for m in page], more), (["t1", "t2"], True))
        self.assertEqual(await store.history.count_since(["#lobby"], 30.5), {"#lobby": 2})
        self.assertEqual([m["text"] for _, m in await store.offline.peek("bob", 10)], ["later"])
        self.assertTrue(await store.contacts.add("alice", "bob"))
        self.assertEqual(await store.contacts.list("alice"), ["Bob"])
        self.assertTrue(await store.accounts.record_seen("alice", 50.0))
        await store.history.add(message("m3"))
        self.assertEqual([m["msgid"] for m in (await store.history.room_history("#lobby", 2))[0]], ["m2", "m3"])

    async def test_a_version_3_database_is_upgraded_and_its_messages_keep_no_mark(self) -> None:
        old = await self.open(schema_version=3)

        def fill_version_3(txn: Txn) -> None:
            txn.execute("INSERT INTO messages (msgid, conversation, sender, target, text, kind, ts)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)", ("m0", "#lobby", "Alice", "#lobby", "old", "public", 1.0))
            for i in range(3):
                txn.execute("INSERT INTO offline (recipient, msgid, sender, target, text, kind, ts)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)", ("bob", f"q{i}", "Alice", "Bob", f"old {i}", "private", 2.0))

        await old.db.run_write(fill_version_3)
        await old.close()
        store = await self.open()
        self.assertEqual(await store.schema_version(), latest_version(store.engine))
        self.assertEqual(await store.history.room_history("#lobby"),
                         ([{"msgid": "m0", "from": "Alice", "to": "#lobby", "text": "old", "kind": "public", "ts": 1.0}],
                          False))
        self.assertEqual([m for _, m in await store.offline.peek("bob", 10)],
                         [{"msgid": f"q{i}", "from": "Alice", "to": "Bob", "text": f"old {i}", "kind": "private",
                           "ts": 2.0} for i in range(3)])
        # Old rows have no sender key: they count toward the total only.
        await store.offline.queue("bob", message("q3", "Alice", "Bob"), limit=5, per_sender=1, from_guests=1)
        with self.assertRaises(QueueFull) as caught:
            await store.offline.queue("bob", message("q4", "Carol", "Bob"), limit=5, per_sender=1, from_guests=1)
        self.assertEqual(caught.exception.reason, "guests")
        await store.offline.queue("bob", {**message("q5", "Dave", "Bob"), "registered": True}, limit=5)
        with self.assertRaises(QueueFull) as caught:
            await store.offline.queue("bob", {**message("q6", "Erin", "Bob"), "registered": True}, limit=5)
        self.assertEqual(caught.exception.reason, "total")

    async def test_a_schema_newer_than_the_code_is_refused(self) -> None:
        store = await self.open()
        await store.db.run_write(lambda txn: txn.execute(
            "INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)", (99, "future", 0.0)))
        await store.close()
        with self.assertRaises(SchemaTooNew) as caught:
            await self.open()
        self.assertIn("version 99", str(caught.exception))


# -- the two engines --------------------------------------------------------------------


class SQLiteStoreTests(StoreTests, TestCase):
    engine = "sqlite"

    def new_url(self) -> str:
        directory = tempfile.TemporaryDirectory(prefix="tchat-store-")
        self.addCleanup(directory.cleanup)
        self.path = os.path.join(directory.name, "tchat.db")
        return f"sqlite:{self.path}"

    def outside(self, url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(parse_url(url).target)
        try:
            return connection.execute(sql, tuple(params)).fetchall()
        finally:
            connection.close()

    def explain(self, txn: Txn, sql: str, params: Sequence[Any]) -> str:
        return "\n".join(row[3] for row in txn.all("EXPLAIN QUERY PLAN " + sql, params))

    async def test_the_connection_is_wal_with_normal_sync_and_foreign_keys(self) -> None:
        store = await self.open()
        pragmas = await store.db.run(lambda txn: [txn.value(f"PRAGMA {p}") for p in
                                                  ("journal_mode", "synchronous", "foreign_keys")])
        self.assertEqual(pragmas, ["wal", 1, 1])  # synchronous 1 is NORMAL
        full = await self.open(self.new_url() + "?synchronous=full")
        self.assertEqual(await full.db.run(lambda txn: txn.value("PRAGMA synchronous")), 2)

    async def test_memory_is_a_working_throwaway_store(self) -> None:
        store = await self.open("memory")
        await store.accounts.create("Alice", "correct horse")
        await store.history.add(message("m1"))
        self.assertTrue(await store.accounts.verify("alice", "correct horse"))
        self.assertEqual(len((await store.history.room_history("#lobby"))[0]), 1)

    def test_a_committed_message_survives_kill_9_of_the_process(self) -> None:
        script = textwrap.dedent(f"""
            import os, signal, sys
            from twisted.internet import task
            from tchat.store import open_store
            async def main(reactor):
                store = await open_store({self.url!r}, reactor)
                await store.history.add({message("survivor")!r})
                print("committed", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            task.react(main)
        """)
        env = {**os.environ, "PYTHONPATH": SOURCE_ROOT}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual((done.returncode, done.stdout), (-signal.SIGKILL, "committed\n"), done.stderr)
        self.assertTrue(os.path.exists(self.path + "-wal"), "the row is in the WAL, not yet checkpointed")
        self.assertEqual(self.outside(self.url, "SELECT text FROM messages WHERE msgid = 'survivor'"),
                         [("text of survivor",)])


class PostgreSQLStoreTests(StoreTests, TestCase):
    engine = "postgresql"

    def new_url(self) -> str:
        return POSTGRES.new_schema()

    def outside(self, url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return POSTGRES.query(url, sql, params)

    async def test_a_queue_waits_for_another_nodes_queue_to_the_same_recipient(self) -> None:
        """Two nodes counting at once must not both pass a limit: the second waits for the first's lock."""
        import psycopg

        store = await self.open()
        other = psycopg.connect(self.url)
        self.addCleanup(other.close)
        _queue(Txn(other.cursor(), "postgresql"), "alice", "bob",
               ("q0", "Bob", "Alice", "t", "private", 1.0, False), Limits(total=1))
        queuing = store.offline.queue("alice", message("q1", "Carol", "Alice"), limit=1)
        await wait_until(
            lambda: self.outside(self.url, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'"
                                 " AND classid = 29795 AND NOT granted"
                                 " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
            == [(1,)],
            "the store's queue waiting for the other transaction",
        )
        other.commit()
        with self.assertRaises(QueueFull):
            await queuing
        self.assertEqual(await store.offline.waiting("alice"), 1)

    async def test_an_account_made_meanwhile_that_looks_alike_is_seen_before_inserting(self) -> None:
        """Another node registering a look-alike at once: the insert waits for its lock, then sees it."""
        import psycopg

        store = await self.open()
        other = psycopg.connect(self.url)
        self.addCleanup(other.close)
        other.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_CREATE_LOCK,))
        other.execute("INSERT INTO accounts (key, name, password_hash, created, skeleton) VALUES (%s, %s, %s, %s, %s)",
                      ("alice", "alice", CHEAP.hash("correct horse"), 1.0, skeleton("alice")))
        creating = store.accounts.create("\u0430lice", "another password")
        await wait_until(
            lambda: self.outside(self.url, "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                 " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
            == [(1,)],
            "the account's insert waiting for the other transaction",
        )
        other.commit()
        with self.assertRaises(NameConfusable):
            await creating
        self.assertEqual(self.outside(self.url, "SELECT key FROM accounts"), [("alice",)])

    def explain(self, txn: Txn, sql: str, params: Sequence[Any]) -> str:
        # On a table this small, reading a whole room and sorting it is
        # cheapest (at a million rows the planner picks the index by itself:
        # see docs/perf/store.rst); forbid that to see whether an index serves
        # the query in the right order.
        for plan in ("seqscan", "bitmapscan", "sort"):
            txn.execute(f"SET LOCAL enable_{plan} = off")
        return "\n".join(row[0] for row in txn.all("EXPLAIN " + sql, params))


# -- no database needed -------------------------------------------------------------------


class URLTests(TestCase):
    def test_the_url_forms(self) -> None:
        cases = {
            "sqlite:chat.db": ("sqlite", "chat.db", "sqlite:chat.db"),
            "sqlite:": ("sqlite", "tchat.db", "sqlite:tchat.db"),
            "sqlite:///var/lib/tchat/tchat.db": ("sqlite", "/var/lib/tchat/tchat.db", "sqlite:/var/lib/tchat/tchat.db"),
            "memory": ("sqlite", ":memory:", "memory"),
            "postgresql://tchat@db/tchat": ("postgresql", "postgresql://tchat@db/tchat", "postgresql://tchat@db/tchat"),
            "postgres://tchat:s3cret@db:5433/tchat": ("postgresql", "postgres://tchat:s3cret@db:5433/tchat",
                                                      "postgres://tchat:***@db:5433/tchat"),
        }
        for url, expected in cases.items():
            parsed = parse_url(url)
            self.assertEqual((parsed.engine, parsed.target, parsed.shown), expected)
        self.assertEqual(parse_url("sqlite:x.db?synchronous=FULL").synchronous, "full")

    def test_bad_urls_are_a_value_error_with_a_sentence_and_no_password(self) -> None:
        for url, words in (("mysql://u:s3cret@h/db", "unknown database URL"), ("tchat.db", "sqlite:PATH"),
                           ("postgresql://u:s3cret@h:port/db", "bad PostgreSQL URL"),
                           ("sqlite:x.db?mode=ro", "unknown option"), ("sqlite:x.db?synchronous=off", "normal or full")):
            with self.assertRaises(ValueError) as caught:
                parse_url(url)
            self.assertIn(words, str(caught.exception))
            self.assertNotIn("s3cret", str(caught.exception))
            self.assertNotIn("s3cret", repr(parse_url("postgresql://u:s3cret@h/db")))

    def test_open_store_refuses_a_bad_url_before_opening_anything(self) -> None:
        with self.assertRaises(ValueError):
            open_store("nonsense", reactor)

    def test_open_store_refuses_bad_timeouts_and_urls_libpq_cannot_read_at_once(self) -> None:
        for options in ({"timeout": 0}, {"timeout": -1.0}, {"retry_after": -1}):
            with self.assertRaises(ValueError):
                open_store("memory", reactor, **options)
        with self.assertRaises(ValueError) as caught:
            open_store("postgresql://u:s3cret@h/db?no_such_option=1", reactor)
        self.assertNotIn("s3cret", str(caught.exception))

    def test_a_url_says_where_its_data_is(self) -> None:
        self.assertEqual(parse_url("sqlite:/x/t.db").place, "/x/t.db")
        self.assertEqual(parse_url("postgresql://u:s3cret@db.example/tchat").place, "db.example:5432")
        self.assertEqual(parse_url("postgresql://u@[::1]:5433/tchat").place, "[::1]:5433")
        self.assertEqual(parse_url("postgresql:///tchat?host=/run/postgresql").place, "/run/postgresql")

    def test_placeholders_become_format_style_with_percent_escaped(self) -> None:
        self.assertEqual(to_format_style("SELECT '50%' WHERE a = ? AND b IN (?, ?)"),
                         "SELECT '50%%' WHERE a = %s AND b IN (%s, %s)")

    def test_upgrades_are_numbered_from_1_for_both_engines_alike(self) -> None:
        sqlite, postgresql = upgrades("sqlite"), upgrades("postgresql")
        self.assertEqual([(u.version, u.name) for u in sqlite], [(u.version, u.name) for u in postgresql])
        self.assertEqual([u.version for u in sqlite], list(range(1, len(sqlite) + 1)))
        self.assertGreaterEqual(len(sqlite), 2)

    def test_upgrade_files_split_into_statements(self) -> None:
        self.assertEqual(
            split_statements("-- a comment\nCREATE TABLE a (\n  x INT -- why\n);\n\nCREATE INDEX i ON a (x);\n"),
            ("CREATE TABLE a (\n  x INT\n)", "CREATE INDEX i ON a (x)"),
        )

    def test_store_errors_have_protocol_codes(self) -> None:
        self.assertEqual([e.code for e in (NameRegistered("a"), NoSuchAccount("a"), WeakPassword("x"))],
                         ["name_registered", "no_such_user", "weak_password"])
        self.assertTrue(issubclass(WeakPassword, StoreError))


class GroupCommitTests(TestCase):
    """The batching itself, with a fake transaction whose end the test decides."""

    def setUp(self) -> None:
        self.writes: list[tuple[list[str], Deferred[list[Exception | None]]]] = []
        self.group: GroupCommit[str] = GroupCommit(self.write, max_batch=3)

    def write(self, items: list[str]) -> Deferred[list[Exception | None]]:
        d: Deferred[list[Exception | None]] = Deferred()
        self.writes.append((items, d))
        return d

    def test_items_wait_for_the_running_write_then_go_together(self) -> None:
        first = self.group.submit("a")
        later = [self.group.submit(item) for item in "bcde"]
        self.assertEqual([items for items, _ in self.writes], [["a"]])
        self.assertFalse(first.called, "told before its commit")
        self.writes[0][1].callback([None])
        self.assertEqual(self.successResultOf(first), None)
        self.assertEqual([items for items, _ in self.writes], [["a"], ["b", "c", "d"]])
        self.assertFalse(any(d.called for d in later))
        self.writes[1][1].callback([None, DuplicateMessage("c"), None])
        self.successResultOf(later[0])
        self.failureResultOf(later[1], DuplicateMessage)
        self.successResultOf(later[2])
        self.assertFalse(later[3].called)
        self.assertEqual([items for items, _ in self.writes][2], ["e"])

    def test_a_failed_transaction_fails_each_of_its_callers_and_the_next_batch_goes_on(self) -> None:
        first = self.group.submit("a")
        second, third = self.group.submit("b"), self.group.submit("c")
        self.writes[0][1].callback([None])
        self.writes[1][1].errback(sqlite3.OperationalError("disk I/O error"))
        self.failureResultOf(second, sqlite3.OperationalError)
        self.failureResultOf(third, sqlite3.OperationalError)
        self.successResultOf(first)
        fourth = self.group.submit("d")
        self.assertEqual(self.writes[-1][0], ["d"])
        self.writes[-1][1].callback([None])
        self.successResultOf(fourth)
        self.assertEqual((self.group.batches, self.group.items), (3, 4))
