"""
History: every message, public and private, and the pages of it people ask for.

A message is the dict of a tchat ``message`` event's fields::

    {"msgid": "9f3a-17", "from": "Alice", "to": "#lobby", "text": "hi",
     "kind": "public", "ts": 1700000000.25, "registered": True}

``registered`` is there, True, when the sender was logged in to a registered
account, and absent for a guest: the store keeps it and gives it back the
same way, so history shows the mark as live messages do.

It is stored under a *conversation key*: the room key (``name_key("#Lobby")``
is ``#lobby``) for a room, or for a private message the two user keys sorted
and joined by a space (L{conversation_key}), so both parties read the same
conversation. Pages run by the insertion order (an integer primary key),
newest first in the index, and come back oldest first; ``before`` is a msgid
whose row id bounds the page. The index ``(conversation, id)`` answers "the
last N of this conversation before id X" by reading just those N rows.

Writing, under load, uses group commit::

    add(m1) ──► batch [m1] ──► one transaction ──► m1's Deferred fires
    add(m2) ┐   (while that runs, calls wait)
    add(m3) ┼─► batch [m2, m3, m4] ─► one transaction ─► three Deferreds fire
    add(m4) ┘

A commit is the expensive part of a write (the WAL write, or PostgreSQL's WAL
flush), so a hundred messages arriving together cost about one commit, not a
hundred; and with no load a message is written at once, with no timer. Every
caller's Deferred fires only once its own row is committed. One bad message
(a msgid already stored) fails only its own caller; a failing transaction
fails every caller of that batch, none of whose rows were kept.

One batch is in flight at a time, on PostgreSQL too, so the id order of the
history is the order in which the hub called ``add``. (Up to three batches at
once on PostgreSQL measured 10-50 % faster under load, since it flushes
concurrent commits together, but let two batches take ids in either order.)
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from tchat.names import is_room, name_key
from tchat.store.db import Database, UsesDatabase, operation
from tchat.store.txn import Txn, placeholders
from tchat.store.errors import DuplicateMessage, UnknownMessage

log = Logger()

KINDS = ("public", "private", "action")
# Rows per INSERT: 8 parameters each stays far under SQLite's 32766.
MAX_BATCH = 500

Message = dict[str, Any]
# msgid, sender, target, text, kind, ts, registered
Fields = tuple[str, str, str, str, str, float, bool]
# msgid, conversation, sender, target, text, kind, ts, registered
Row = tuple[str, str, str, str, str, str, float, bool]
T = TypeVar("T")


def conversation_key(user_key_a: str, user_key_b: str) -> str:
    """The conversation key of the private messages between two user keys (either order)."""
    return " ".join(sorted((user_key_a, user_key_b)))


def conversation_of(message: Mapping[str, Any]) -> str:
    """Where ``message`` belongs: its room's key, or its two users' conversation key."""
    target = message["to"]
    if is_room(target):
        return name_key(target)
    return conversation_key(name_key(message["from"]), name_key(target))


def message_fields(message: Mapping[str, Any]) -> Fields:
    """
    The stored fields of a message dict, checked: ``msgid``, ``from``, ``to``,
    ``text``, ``kind``, ``ts``, and ``registered`` (True, or False when it is
    absent, None or False). Other keys (``delayed``, say) are ignored.
    Raises C{ValueError} if one is missing or of the wrong kind.
    """
    try:
        fields = (message["msgid"], message["from"], message["to"], message["text"], message["kind"], message["ts"])
    except KeyError as e:
        raise ValueError(f"a message needs the field {e.args[0]!r}") from None
    if not all(isinstance(value, str) for value in fields[:5]):
        raise ValueError("msgid, from, to, text and kind of a message are strings")
    if fields[4] not in KINDS:
        raise ValueError(f"a message's kind is one of {', '.join(KINDS)}")
    if not isinstance(fields[5], (int, float)) or isinstance(fields[5], bool):
        raise ValueError("a message's ts is a number (Unix time)")
    registered = message.get("registered")
    if registered is not None and not isinstance(registered, bool):
        raise ValueError("a message's registered is true, false or absent")
    return (*fields[:5], float(fields[5]), registered is True)


def message_dict(row: Sequence[Any]) -> Message:
    """A stored (msgid, sender, target, text, kind, ts, registered) back as a message dict."""
    msgid, sender, target, text, kind, ts, registered = row
    message: Message = {"msgid": msgid, "from": sender, "to": target, "text": text, "kind": kind, "ts": float(ts)}
    if registered:  # 1 on SQLite, True on PostgreSQL
        message["registered"] = True
    return message


# -- work functions (run in a pool thread) ------------------------------------

_PAGE = "SELECT id, msgid, sender, target, text, kind, ts, registered FROM messages WHERE conversation = ?"
# The two history queries, public so that tests and the benchmark can
# EXPLAIN exactly what the store runs.
LAST_PAGE_SQL = f"{_PAGE} ORDER BY id DESC LIMIT ?"
PAGE_BEFORE_SQL = f"{_PAGE} AND id < ? ORDER BY id DESC LIMIT ?"
# The same, for messages no older than a time (private history starts when
# both accounts existed).
LAST_PAGE_SINCE_SQL = f"{_PAGE} AND ts >= ? ORDER BY id DESC LIMIT ?"
PAGE_BEFORE_SINCE_SQL = f"{_PAGE} AND ts >= ? AND id < ? ORDER BY id DESC LIMIT ?"


def _insert_sql(rows: int) -> str:
    values = ", ".join([f"({placeholders(8)})"] * rows)
    return (
        "INSERT INTO messages (msgid, conversation, sender, target, text, kind, ts, registered)"
        f" VALUES {values} ON CONFLICT (msgid) DO NOTHING RETURNING msgid"
    )


def _insert_messages(txn: Txn, rows: Sequence[Row]) -> list[Exception | None]:
    """Insert ``rows``; return, per row, None or the error that refused it alone."""
    outcome: list[Exception | None] = [None] * len(rows)
    fresh: list[int] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if row[0] in seen:
            outcome[index] = DuplicateMessage(row[0])
        else:
            seen.add(row[0])
            fresh.append(index)
    inserted: set[str] = set()
    for start in range(0, len(fresh), MAX_BATCH):
        chunk = [rows[i] for i in fresh[start:start + MAX_BATCH]]
        params = [value for row in chunk for value in row]
        inserted.update(msgid for (msgid,) in txn.all(_insert_sql(len(chunk)), params))
    for index in fresh:
        if rows[index][0] not in inserted:
            outcome[index] = DuplicateMessage(rows[index][0])
    return outcome


def _page(
    txn: Txn, conversation: str, limit: int, before_msgid: str | None, since: float | None = None
) -> tuple[list[Message], bool]:
    before = None
    if before_msgid is not None:
        before = txn.value("SELECT id FROM messages WHERE msgid = ?", (before_msgid,))
        if before is None:
            raise UnknownMessage(before_msgid)
    if since is None:
        if before is None:
            rows = txn.all(LAST_PAGE_SQL, (conversation, limit + 1))
        else:
            rows = txn.all(PAGE_BEFORE_SQL, (conversation, before, limit + 1))
    elif before is None:
        rows = txn.all(LAST_PAGE_SINCE_SQL, (conversation, since, limit + 1))
    else:
        rows = txn.all(PAGE_BEFORE_SINCE_SQL, (conversation, since, before, limit + 1))
    more = len(rows) > limit
    page = [message_dict(row[1:]) for row in rows[:limit]]
    page.reverse()
    return page, more


def _count_since(txn: Txn, conversations: Sequence[str], ts: float) -> dict[str, int]:
    counts = dict.fromkeys(conversations, 0)
    for start in range(0, len(conversations), MAX_BATCH):
        chunk = conversations[start:start + MAX_BATCH]
        rows = txn.all(
            f"SELECT conversation, COUNT(*) FROM messages WHERE conversation IN ({placeholders(len(chunk))})"
            " AND ts > ? GROUP BY conversation",
            (*chunk, ts),
        )
        counts.update((conversation, int(count)) for conversation, count in rows)
    return counts


# -- group commit --------------------------------------------------------------


class GroupCommit(Generic[T]):
    """
    One write transaction at a time; items submitted while one runs go,
    together, into the next.

    ``write(items)`` stores a batch in one transaction and returns a Deferred
    of one outcome per item: None (stored) or the exception refusing that
    item alone. If the Deferred fails, every item of the batch fails with it.
    """

    def __init__(self, write: Callable[[list[T]], Deferred[list[Exception | None]]], max_batch: int = MAX_BATCH) -> None:
        self._write = write
        self.max_batch = max_batch
        self._waiting: list[tuple[T, Deferred[None]]] = []
        self._busy = False
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> Deferred[None]:
        """Write ``item``; the Deferred fires once it is committed."""
        d: Deferred[None] = Deferred()
        self._waiting.append((item, d))
        if not self._busy:
            self._next()
        return d

    def _next(self) -> None:
        batch = self._waiting[: self.max_batch]
        del self._waiting[: self.max_batch]
        self._busy = True
        self.batches += 1
        self.items += len(batch)
        maybeDeferred(self._write, [item for item, _ in batch]).addBoth(self._written, batch)

    def _written(self, outcome: list[Exception | None] | Failure, batch: list[tuple[T, Deferred[None]]]) -> None:
        self._busy = False
        # Start the next batch before firing callers, so what they add in
        # their callbacks queues behind it rather than racing it.
        if self._waiting:
            self._next()
        if isinstance(outcome, Failure):
            for _, d in batch:
                d.errback(outcome)
            return
        for (_, d), error in zip(batch, outcome):
            if error is None:
                d.callback(None)
            else:
                d.errback(error)


def _only_outcome(outcome: list[Exception | None]) -> None:
    (error,) = outcome
    if error is not None:
        raise error


# -- the domain class ------------------------------------------------------------


class History(UsesDatabase):
    """
    Every message, and pages of it. Every method returns a Deferred. No
    permission checks: the hub decides who may read what.
    """

    def __init__(self, db: Database, group_commit: bool = True) -> None:
        self.db = db
        self.group_commit = group_commit
        self.writer: GroupCommit[Row] = GroupCommit(lambda rows: self.db.run_write(_insert_messages, rows))

    def add(self, message: Mapping[str, Any]) -> Deferred[None]:
        """
        Store a message. Fires once it is committed. Fails with
        C{ValueError} for a malformed message, L{DuplicateMessage} for a
        msgid already stored.

        A public call like those made with L{operation} (refused once
        closing has begun, waited for by closing), but with no coroutine of
        its own: it runs once per message sent.
        """
        return self.db.guard(lambda: self._add(message), "history.add")

    def _add(self, message: Mapping[str, Any]) -> Deferred[None]:
        try:
            msgid, sender, target, text, kind, ts, registered = message_fields(message)
            row: Row = (msgid, conversation_of(message), sender, target, text, kind, ts, registered)
        except ValueError:
            return fail()
        if self.group_commit:
            return self.writer.submit(row)
        return self.db.run_write(_insert_messages, [row]).addCallback(_only_outcome)

    @operation
    async def room_history(
        self, room_key: str, limit: int = 50, before_msgid: str | None = None, since: float | None = None
    ) -> tuple[list[Message], bool]:
        """
        The last ``limit`` messages of the room ``room_key`` (before the
        message ``before_msgid``, if given; with ``since``, only those sent
        at or after it), oldest first, and whether older ones exist. Raises
        L{UnknownMessage} for an unknown ``before_msgid``.
        """
        _check_limit(limit)
        return await self.db.run(_page, room_key, limit, before_msgid, since)

    @operation
    async def private_history(
        self,
        user_key_a: str,
        user_key_b: str,
        limit: int = 50,
        before_msgid: str | None = None,
        since: float | None = None,
    ) -> tuple[list[Message], bool]:
        """
        Like L{room_history}, for the private messages between two users
        (either order); with ``since``, only messages sent at or after it.
        """
        _check_limit(limit)
        return await self.db.run(_page, conversation_key(user_key_a, user_key_b), limit, before_msgid, since)

    @operation
    async def count_since(self, room_keys: Sequence[str], ts: float) -> dict[str, int]:
        """
        How many messages each room (or conversation key) got after ``ts``:
        a dict with every key asked for, 0 for none.
        """
        keys = list(dict.fromkeys(room_keys))
        if not keys:
            return {}
        return await self.db.run(_count_since, keys, ts)


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise ValueError("limit is a whole number of messages, at least 1")
