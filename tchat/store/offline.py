"""
Offline messages: private messages kept for a registered user until they log in.

::

    bob is offline:  hub ─ history.add(m) ─ offline.queue("bob", m) ─ ok {"queued": true}
    bob logs in:     hub ─ offline.take("bob") ─► [m, …] oldest first
                           └─ delivered as message events with "delayed": true

``take`` reads and removes in one statement (``DELETE … RETURNING``) inside
one transaction: if the server dies before the commit, the messages are all
still queued; once it commits, they are all gone and handed to the hub. Two
takes at once (two nodes, or a double login) split nothing: one gets every
message, the other none. A message the hub failed to deliver after a take
(the connection dropped that instant) is not re-queued: the queue promises
"at most once", and the message is in the history anyway.
"""

from __future__ import annotations

from typing import Any, Mapping

from twisted.logger import Logger

from tchat.names import name_key
from tchat.store.db import Database, Txn, UsesDatabase, operation
from tchat.store.errors import QueueFull
from tchat.store.history import Message, message_dict, message_fields

log = Logger()


def _queue(txn: Txn, recipient_key: str, fields: tuple[Any, ...], limit: int | None) -> None:
    if limit is not None:
        waiting = txn.value("SELECT COUNT(*) FROM offline WHERE recipient = ?", (recipient_key,))
        if waiting >= limit:
            raise QueueFull(recipient_key, limit)
    txn.execute(
        "INSERT INTO offline (recipient, sender_key, msgid, sender, target, text, kind, ts, registered)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (recipient_key, name_key(fields[1]), *fields),
    )


def _take(txn: Txn, recipient_key: str) -> list[Message]:
    rows = txn.all(
        "DELETE FROM offline WHERE recipient = ? RETURNING id, msgid, sender, target, text, kind, ts, registered",
        (recipient_key,),
    )
    # RETURNING promises no order.
    rows.sort(key=lambda row: row[0])
    return [message_dict(row[1:]) for row in rows]


def _waiting(txn: Txn, recipient_key: str) -> int:
    return int(txn.value("SELECT COUNT(*) FROM offline WHERE recipient = ?", (recipient_key,)))


class Offline(UsesDatabase):
    """Messages waiting for their recipient. Every method returns a Deferred."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @operation
    async def queue(self, recipient_key: str, message: Mapping[str, Any], limit: int | None = None) -> None:
        """
        Keep ``message`` (a message dict) for ``recipient_key``. With
        ``limit``, raise L{QueueFull} if that many already wait.
        """
        await self.db.run_write(_queue, recipient_key, message_fields(message), limit)

    @operation
    async def take(self, recipient_key: str) -> list[Message]:
        """Every message waiting for ``recipient_key``, oldest first, removed in the same transaction."""
        return await self.db.run_write(_take, recipient_key)

    @operation
    async def waiting(self, recipient_key: str) -> int:
        """How many messages wait for ``recipient_key``."""
        return await self.db.run(_waiting, recipient_key)
