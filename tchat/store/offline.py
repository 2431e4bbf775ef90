"""
Offline messages: private messages kept for a registered user until they have them.

::

    bob is offline:  hub ─ history.add(m)
                         ─ offline.queue("bob", m, limit=1000, per_sender=100, from_guests=100)
                             └─ QueueFull (reason "total", "sender" or "guests") past a limit
    bob logs in:     hub ─ offline.peek("bob", 50) ─► [(id, m), …] oldest first, still queued
                         ─ delivers them (message events with "delayed": true)
                         ─ once the connection has taken them: offline.remove("bob", [id, …])
                         ─ peek again, until nothing is left

A message leaves the queue only once the hub says it was delivered, so a
connection dropped half-way through a long queue ("too slow") loses
nothing: the rest waits for the next login. Delivery is therefore *at least
once*: a crash between delivering and removing delivers that batch again
next time (with the same msgids, so a client can tell), and two connections
of one account delivering at once may both deliver a batch; ``remove``
returns how many rows it removed itself (0 if another delivery got there
first).

The limits keep one recipient's queue, and so the database, from being
filled by anyone who knows the name: ``limit`` for all messages waiting for
the recipient, ``per_sender`` for those of one sender (by the ``name_key``
of ``from``), ``from_guests`` for those of all guests together (a message is
from a guest unless it carries ``"registered": True``). None means no limit
of that kind; the hub passes 1000, 100 and 100 (see docs/store.rst).
Counting and inserting are one transaction that no other queue for the same
recipient can interleave with (SQLite: ``BEGIN IMMEDIATE`` holds the write
lock; PostgreSQL: an advisory lock on the recipient), so two senders at once
cannot both pass a limit.

Messages queued before schema version 4 have no sender key: they count
toward the total only.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from twisted.logger import Logger

from tchat.names import name_key
from tchat.store.db import Database, UsesDatabase, operation
from tchat.store.txn import Txn, placeholders
from tchat.store.errors import QueueFull
from tchat.store.history import MAX_BATCH, Fields, Message, message_dict, message_fields

log = Logger()

# The first key of the two-key advisory locks that serialise queueing per
# recipient (the second is a hash of the recipient key). Only has to differ
# from other two-key locks tchat takes; the upgrade lock has one key.
_PG_QUEUE_LOCK = 0x7463  # "tc"

_COLUMNS = "msgid, sender, target, text, kind, ts, registered"
# Public so that tests can EXPLAIN exactly what the store runs.
PEEK_SQL = f"SELECT id, {_COLUMNS} FROM offline WHERE recipient = ? ORDER BY id LIMIT ?"
FROM_SENDER_SQL = "SELECT COUNT(*) FROM offline WHERE recipient = ? AND sender_key = ?"
FROM_GUESTS_SQL = "SELECT COUNT(*) FROM offline WHERE recipient = ? AND sender_key IS NOT NULL AND NOT registered"
WAITING_SQL = "SELECT COUNT(*) FROM offline WHERE recipient = ?"


@dataclass(frozen=True)
class Limits:
    """How many messages may wait for one recipient: in all, from one sender, from guests. None: no limit."""

    total: int | None = None
    per_sender: int | None = None
    from_guests: int | None = None

    def __post_init__(self) -> None:
        for name in ("total", "per_sender", "from_guests"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"the offline {name} limit is a whole number of messages, 0 or more, or None")


# -- work functions (run in a pool thread) ------------------------------------


def _lock_queue(txn: Txn, recipient_key: str) -> None:
    if txn.engine == "postgresql":
        # Held to the end of the transaction. SQLite's BEGIN IMMEDIATE holds
        # the database's write lock already.
        txn.execute(f"SELECT pg_advisory_xact_lock({_PG_QUEUE_LOCK}, hashtext(?))", (recipient_key,))


def _refusal(txn: Txn, recipient_key: str, sender_key: str, fields: Fields, limits: Limits) -> QueueFull | None:
    recipient, registered = fields[2], fields[6]

    def full(sql: str, params: Sequence[Any], limit: int | None) -> bool:
        return limit is not None and int(txn.value(sql, params)) >= limit

    # The limit a sender can do something about comes first.
    if full(FROM_SENDER_SQL, (recipient_key, sender_key), limits.per_sender):
        return QueueFull(recipient_key, limits.per_sender, "sender", recipient)  # type: ignore[arg-type]
    if not registered and full(FROM_GUESTS_SQL, (recipient_key,), limits.from_guests):
        return QueueFull(recipient_key, limits.from_guests, "guests", recipient)  # type: ignore[arg-type]
    if full(WAITING_SQL, (recipient_key,), limits.total):
        return QueueFull(recipient_key, limits.total, "total", recipient)  # type: ignore[arg-type]
    return None


def _queue(txn: Txn, recipient_key: str, sender_key: str, fields: Fields, limits: Limits) -> None:
    _lock_queue(txn, recipient_key)
    refusal = _refusal(txn, recipient_key, sender_key, fields, limits)
    if refusal is not None:
        raise refusal
    txn.execute(
        f"INSERT INTO offline (recipient, sender_key, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (recipient_key, sender_key, *fields),
    )


def _peek(txn: Txn, recipient_key: str, limit: int) -> list[tuple[int, Message]]:
    return [(int(row[0]), message_dict(row[1:])) for row in txn.all(PEEK_SQL, (recipient_key, limit))]


def _remove(txn: Txn, recipient_key: str, ids: Sequence[int]) -> int:
    removed = 0
    for start in range(0, len(ids), MAX_BATCH):
        chunk = ids[start:start + MAX_BATCH]
        txn.execute(
            f"DELETE FROM offline WHERE recipient = ? AND id IN ({placeholders(len(chunk))})", (recipient_key, *chunk)
        )
        removed += txn.rowcount
    return removed


def _waiting(txn: Txn, recipient_key: str) -> int:
    return int(txn.value(WAITING_SQL, (recipient_key,)))


# -- the domain class ------------------------------------------------------------


class Offline(UsesDatabase):
    """Messages waiting for their recipient. Every method returns a Deferred."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @operation
    async def queue(
        self,
        recipient_key: str,
        message: Mapping[str, Any],
        limit: int | None = None,
        per_sender: int | None = None,
        from_guests: int | None = None,
    ) -> None:
        """
        Keep ``message`` (a message dict) for ``recipient_key``.

        Raises L{QueueFull} if it would pass a limit: ``per_sender`` messages
        from this sender wait for the recipient already (``reason`` is
        ``"sender"``), ``from_guests`` from guests and this one is from a
        guest (``"guests"``), or ``limit`` in all (``"total"``). None: no
        such limit. C{ValueError} for a malformed message or limit.
        """
        limits = Limits(limit, per_sender, from_guests)
        fields = message_fields(message)
        await self.db.run_write(_queue, recipient_key, name_key(fields[1]), fields, limits)

    @operation
    async def peek(self, recipient_key: str, limit: int) -> builtins.list[tuple[int, Message]]:
        """
        The oldest ``limit`` messages waiting for ``recipient_key``, oldest
        first, each with its row id for L{remove}. They stay queued.
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError("limit is a whole number of messages, at least 1")
        return await self.db.run(_peek, recipient_key, limit)

    @operation
    async def remove(self, recipient_key: str, ids: Sequence[int]) -> int:
        """
        Remove the messages with these row ids (from L{peek}) from
        ``recipient_key``'s queue; return how many this call removed (ids
        already gone, or of another recipient, count nothing).
        """
        unique = list(dict.fromkeys(ids))
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in unique):
            raise ValueError("ids are the row ids peek gave")
        if not unique:
            return 0
        return await self.db.run_write(_remove, recipient_key, unique)

    @operation
    async def waiting(self, recipient_key: str) -> int:
        """How many messages wait for ``recipient_key``."""
        return await self.db.run(_waiting, recipient_key)
