"""
Memberships: the rooms each registered user is in, kept across logins.

The hub records a join or a part of a registered user here, and on login
puts them back in the rooms listed (oldest join first). A user with no row
at all has never chosen: the hub puts them in ``#lobby``. Someone who left
every room, ``#lobby`` included, keeps one marker row with an empty room key,
so "in no room" stays apart from "never chose".
"""

from __future__ import annotations

import builtins
import time

from tchat.store.db import Database, UsesDatabase, operation
from tchat.store.txn import Txn


def _insert(txn: Txn, account: str, room_key: str, room_name: str, joined: float) -> None:
    txn.execute(
        "INSERT INTO memberships (account, room, name, joined) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (account, room) DO NOTHING",
        (account, room_key, room_name, joined),
    )


def _join(txn: Txn, account: str, room_key: str, room_name: str, joined: float) -> None:
    _insert(txn, account, room_key, room_name, joined)
    txn.execute("DELETE FROM memberships WHERE account = ? AND room = ''", (account,))


def _leave(txn: Txn, account: str, room_key: str) -> None:
    txn.execute("DELETE FROM memberships WHERE account = ? AND room = ?", (account, room_key))
    # Remember "in no room" apart from "never chose": an empty room key.
    if txn.one("SELECT 1 FROM memberships WHERE account = ?", (account,)) is None:
        _insert(txn, account, "", "", time.time())


def _rooms(txn: Txn, account: str) -> list[tuple[str, str]] | None:
    rows = txn.all("SELECT room, name FROM memberships WHERE account = ? ORDER BY joined, room", (account,))
    if not rows:
        return None
    return [(room, name) for room, name in rows if room]


class Memberships(UsesDatabase):
    """Each registered user's rooms. Every method returns a Deferred."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @operation
    async def join(self, account_key: str, room_key: str, room_name: str, joined: float) -> None:
        """Record that the account is in the room (no change if it was)."""
        await self.db.run_write(_join, account_key, room_key, room_name, joined)

    @operation
    async def leave(self, account_key: str, room_key: str) -> None:
        """Record that the account left the room."""
        await self.db.run_write(_leave, account_key, room_key)

    @operation
    async def rooms(self, account_key: str) -> builtins.list[tuple[str, str]] | None:
        """``[(room_key, room_name)]`` in join order; None if the account never joined or left any."""
        return await self.db.run(_rooms, account_key)

    @operation
    async def joined(self, account_key: str, room_key: str) -> float | None:
        """When the account joined the room (its first join it is still in), or None."""
        return await self.db.run(_joined, account_key, room_key)


def _joined(txn: Txn, account: str, room_key: str) -> float | None:
    row = txn.one("SELECT joined FROM memberships WHERE account = ? AND room = ?", (account, room_key))
    return None if row is None else float(row[0])
