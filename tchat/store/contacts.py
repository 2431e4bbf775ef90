"""
Contacts: each registered user's list of other registered users.

Both ends must be registered accounts (foreign keys); deleting an account
removes it from every list and removes its own list. Adding a contact twice
is harmless. Lists come back by key, with names as the contacts chose them.
"""

from __future__ import annotations

import builtins

from twisted.logger import Logger

from tchat.store.accounts import ACCOUNT_COLUMNS, Account
from tchat.store.db import Database, UsesDatabase, operation
from tchat.store.txn import Txn
from tchat.store.errors import NoSuchAccount

log = Logger()


def _add(txn: Txn, owner_key: str, contact_key: str) -> bool:
    for key in (owner_key, contact_key):
        if txn.one("SELECT 1 FROM accounts WHERE key = ?", (key,)) is None:
            raise NoSuchAccount(key)
    txn.execute(
        "INSERT INTO contacts (owner, contact) VALUES (?, ?) ON CONFLICT (owner, contact) DO NOTHING",
        (owner_key, contact_key),
    )
    return txn.rowcount == 1


def _remove(txn: Txn, owner_key: str, contact_key: str) -> bool:
    txn.execute("DELETE FROM contacts WHERE owner = ? AND contact = ?", (owner_key, contact_key))
    return txn.rowcount == 1


def _names(txn: Txn, owner_key: str) -> list[str]:
    rows = txn.all(
        "SELECT a.name FROM contacts c JOIN accounts a ON a.key = c.contact WHERE c.owner = ? ORDER BY a.key",
        (owner_key,),
    )
    return [name for (name,) in rows]


_ACCOUNT_COLUMNS = ", ".join(f"a.{column.strip()}" for column in ACCOUNT_COLUMNS.split(","))


def _accounts(txn: Txn, owner_key: str) -> list[Account]:
    rows = txn.all(
        f"SELECT {_ACCOUNT_COLUMNS} FROM contacts c JOIN accounts a ON a.key = c.contact"
        " WHERE c.owner = ? ORDER BY a.key",
        (owner_key,),
    )
    return [Account(*row) for row in rows]


class Contacts(UsesDatabase):
    """Contact lists. Every method returns a Deferred."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @operation
    async def add(self, owner_key: str, contact_key: str) -> bool:
        """
        Put ``contact_key`` on ``owner_key``'s list; True if it was not there.
        Raises L{NoSuchAccount} if either is not a registered account.
        """
        return await self.db.run_write(_add, owner_key, contact_key)

    @operation
    async def remove(self, owner_key: str, contact_key: str) -> bool:
        """Take ``contact_key`` off the list; True if it was on it."""
        return await self.db.run_write(_remove, owner_key, contact_key)

    @operation
    async def list(self, owner_key: str) -> builtins.list[str]:
        """The display names on ``owner_key``'s list."""
        return await self.db.run(_names, owner_key)

    @operation
    async def accounts(self, owner_key: str) -> builtins.list[Account]:
        """The accounts on ``owner_key``'s list, with their last login and last seen (for ``/contacts``)."""
        return await self.db.run(_accounts, owner_key)
