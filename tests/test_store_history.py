"""
The store's pages of history bounded by msgids and times (what IRC's
CHATHISTORY asks for), on SQLite and on PostgreSQL as in L{tests.test_store}.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tchat.store import Store, UnknownMessage, open_store
from tchat.store.history import PAGE_AFTER_SQL
from tchat.store.txn import Txn
from tests.test_store import CHEAP, POSTGRES, message

# Ten messages a second apart, each at a time with microseconds (a shown
# millisecond is its time cut, not rounded).
BASE = 1_700_000_000.0
TIMES = [BASE + i + 0.1234567 for i in range(10)]


def at_ms(i: int) -> float:
    """Message i's time as IRC's server-time shows it: cut to the millisecond."""
    return BASE + i + 0.123


class HistoryPageTests:
    engine: str

    def new_url(self) -> str:
        raise NotImplementedError

    async def filled(self) -> Store:
        store = await open_store(self.new_url(), reactor, hasher=CHEAP)
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        for i, ts in enumerate(TIMES):
            await store.history.add(message(f"m{i}", ts=ts))
            # Another room and a private conversation in between: never in the pages.
            await store.history.add(message(f"o{i}", to="#other", ts=ts))
            await store.history.add(message(f"p{i}", "Alice", "Bob", ts=ts))
        return store

    async def ids(self, store: Store, limit: int = 50, **page: Any) -> tuple[list[str], bool]:
        messages, more = await store.history.room_history("#lobby", limit, **page)
        return [m["msgid"] for m in messages], more

    def m(self, *numbers: int) -> list[str]:
        return [f"m{i}" for i in numbers]

    async def test_after_a_msgid_or_a_time_is_the_oldest_or_newest_page_after_it(self) -> None:
        store = await self.filled()
        self.assertEqual(await self.ids(store, after="m3", oldest=True), (self.m(*range(4, 10)), False))
        self.assertEqual(await self.ids(store, 3, after="m3", oldest=True), (self.m(4, 5, 6), True))
        self.assertEqual(await self.ids(store, 3, after="m3"), (self.m(7, 8, 9), True))
        # A time to the millisecond, as server-time shows message 3: message 3 is not after it.
        self.assertEqual(await self.ids(store, 3, after=at_ms(3), oldest=True), (self.m(4, 5, 6), True))
        self.assertEqual(await self.ids(store, after=at_ms(9)), ([], False))

    async def test_before_a_time_excludes_the_message_of_that_millisecond(self) -> None:
        store = await self.filled()
        self.assertEqual(await self.ids(store, before="m6"), (self.m(*range(6)), False))
        self.assertEqual(await self.ids(store, before=at_ms(6)), (self.m(*range(6)), False))
        self.assertEqual(await self.ids(store, 2, before=at_ms(6)), (self.m(4, 5), True))
        self.assertEqual(await self.ids(store, 2, before=at_ms(6), oldest=True), (self.m(0, 1), True))

    async def test_between_two_bounds_either_way_round_is_counted_from_the_first(self) -> None:
        store = await self.filled()
        inner = self.m(*range(1, 9))
        for first, last in [("m0", "m9"), (at_ms(0), at_ms(9)), ("m0", at_ms(9)), (at_ms(0), "m9")]:
            self.assertEqual(await self.ids(store, after=first, before=last, oldest=True), (inner, False), (first, last))
            self.assertEqual(await self.ids(store, 3, after=first, before=last, oldest=True), (self.m(1, 2, 3), True))
            # The other way round: from the later one back.
            self.assertEqual(await self.ids(store, after=last, before=first, oldest=True), (inner, False), (last, first))
            self.assertEqual(await self.ids(store, 3, after=last, before=first, oldest=True), (self.m(6, 7, 8), True))
        # The newest end of a range, and a range with nothing in it.
        self.assertEqual(await self.ids(store, 3, after="m0", before="m9"), (self.m(6, 7, 8), True))
        self.assertEqual(await self.ids(store, after="m4", before="m5", oldest=True), ([], False))

    async def test_around_a_message_is_half_before_and_the_rest_from_it(self) -> None:
        store = await self.filled()
        self.assertEqual(await self.ids(store, 1, around="m7"), (self.m(7), True))
        self.assertEqual(await self.ids(store, 3, around="m7"), (self.m(6, 7, 8), True))
        self.assertEqual(await self.ids(store, 4, around="m7"), (self.m(5, 6, 7, 8), True))
        # Near an end the other side has the room.
        self.assertEqual(await self.ids(store, 4, around="m9"), (self.m(7, 8, 9), True))
        self.assertEqual(await self.ids(store, 20, around="m0"), (self.m(*range(10)), False))
        self.assertEqual(await self.ids(store, 3, around=at_ms(7)), (self.m(6, 7, 8), True))
        # A time between two messages: the later one is the first "from it".
        self.assertEqual(await self.ids(store, 2, around=BASE + 7.5), (self.m(7, 8), True))

    async def test_since_still_bounds_every_page(self) -> None:
        store = await self.filled()
        since = TIMES[5]
        self.assertEqual(await self.ids(store, before="m8", since=since), (self.m(5, 6, 7), False))
        self.assertEqual(await self.ids(store, after="m1", oldest=True, since=since), (self.m(*range(5, 10)), False))
        self.assertEqual(await self.ids(store, 4, around="m5", since=since), (self.m(5, 6, 7, 8), True))
        self.assertEqual(await self.ids(store, after="m9", before="m0", oldest=True, since=since), (self.m(5, 6, 7, 8), False))

    async def test_private_pages_are_the_pairs_own(self) -> None:
        store = await self.filled()
        messages, more = await store.history.private_history("bob", "alice", 2, after="p3", oldest=True)
        self.assertEqual(([m["msgid"] for m in messages], more), (["p4", "p5"], True))
        messages, _ = await store.history.private_history("alice", "bob", 3, around=at_ms(4))
        self.assertEqual([m["msgid"] for m in messages], ["p3", "p4", "p5"])

    async def test_a_msgid_of_another_conversation_is_unknown_here(self) -> None:
        store = await self.filled()
        for page in ({"before": "p3"}, {"after": "o3"}, {"around": "p3"}, {"after": "m1", "before": "nope"}):
            with self.assertRaises(UnknownMessage, msg=repr(page)):  # type: ignore[attr-defined]
                await store.history.room_history("#lobby", 10, **page)
        with self.assertRaises(UnknownMessage):  # type: ignore[attr-defined]
            await store.history.private_history("alice", "carol", 10, before="p3")

    async def test_bounds_are_checked(self) -> None:
        store = await self.filled()
        for page in ({"around": "m1", "before": "m2"}, {"around": "m1", "after": 5.0}, {"before": True},
                     {"after": float("nan")}, {"around": float("inf")}, {"before": ["m1"]}):
            with self.assertRaises(ValueError, msg=repr(page)):  # type: ignore[attr-defined]
                await store.history.room_history("#lobby", 10, **page)

class SQLiteHistoryPageTests(HistoryPageTests, TestCase):
    engine = "sqlite"

    def new_url(self) -> str:
        directory = tempfile.TemporaryDirectory(prefix="tchat-pages-")
        self.addCleanup(directory.cleanup)
        return f"sqlite:{os.path.join(directory.name, 'tchat.db')}"

    async def test_the_first_page_after_a_message_reads_the_conversation_index(self) -> None:
        store = await self.filled()

        def explain(txn: Txn) -> str:
            return "\n".join(str(row[3]) for row in txn.all("EXPLAIN QUERY PLAN " + PAGE_AFTER_SQL, ("#lobby", 3, 11)))

        plan = await store.db.run(explain)
        self.assertIn("USING INDEX messages_by_conversation", plan)
        self.assertNotIn("TEMP B-TREE", plan)


class PostgreSQLHistoryPageTests(HistoryPageTests, TestCase):
    engine = "postgresql"

    def new_url(self) -> str:
        return POSTGRES.new_schema()
