"""
Kept rooms: the rooms registered users made, with what their operators
decided (owner, ops, topic, modes, bans, mutes), across restarts and empty
periods.

The settings are kept as one JSON text per room, written whole each time
they change (a room's settings are replaced whole in the chat too), and read
back through L{tchat.chat.roomsettings.RoomSettings.from_dict} by the rules,
which check every field.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from tchat.store.db import Database, UsesDatabase, operation
from tchat.store.txn import Txn


def _save(txn: Txn, key: str, name: str, owner: str | None, settings: str, updated: float) -> None:
    txn.execute(
        "INSERT INTO kept_rooms (key, name, owner, settings, updated) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET name = excluded.name, owner = excluded.owner,"
        " settings = excluded.settings, updated = excluded.updated",
        (key, name, owner, settings, updated),
    )


def _all(txn: Txn) -> list[tuple[str, str, str]]:
    return [(key, name, settings) for key, name, settings in txn.all("SELECT key, name, settings FROM kept_rooms ORDER BY key", ())]


def _delete(txn: Txn, key: str) -> None:
    txn.execute("DELETE FROM kept_rooms WHERE key = ?", (key,))


class KeptRooms(UsesDatabase):
    """Every method returns a Deferred."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @operation
    async def save(self, key: str, name: str, owner: str | None, settings: dict[str, Any], updated: float) -> None:
        """Keep the room ``key`` with these settings (replacing what was kept)."""
        text = json.dumps(settings, ensure_ascii=False, separators=(",", ":"))
        await self.db.run_write(_save, key, name, owner, text, updated)

    @operation
    async def all(self) -> builtins.list[tuple[str, str, Any]]:
        """``[(key, name, settings)]`` of every kept room; settings as parsed JSON (unchecked)."""
        rows = await self.db.run(_all)
        out = []
        for key, name, text in rows:
            try:
                settings = json.loads(text)
            except ValueError:
                settings = None
            out.append((key, name, settings))
        return out

    @operation
    async def delete(self, key: str) -> None:
        await self.db.run_write(_delete, key)
