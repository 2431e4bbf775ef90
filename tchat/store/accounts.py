"""
Registered accounts: names, password hashes, and when each was last around.

An account is keyed by ``tchat.names.name_key(name)`` and keeps the name as
chosen for display. Passwords are hashed with argon2id (argon2-cffi's
L{PasswordHasher}); the hash carries its own parameters, so verifying works
whatever parameters made it.

Hashing costs tens of milliseconds of CPU and tens of MiB of memory on
purpose, so it never runs in the reactor thread: each hash or verify runs in
the reactor's thread pool, at most ``hash_concurrency`` at a time (a
L{DeferredSemaphore}), so a burst of logins queues instead of eating every
core and all memory.

Login::

    hub ─ verify(key, password)
            ├─ read the stored hash            (db thread)
            ├─ argon2 verify                   (hash thread, semaphore)
            └─ if it matched and the hasher's parameters changed since the
               hash was made: hash again and store it, only if the stored
               hash is still the one verified (a concurrent password change wins)

The password policy (L{check_password}) runs before any hashing. No password
or hash ever appears in a log line, an exception message or a repr.

Each account keeps the L{tchat.names.skeleton} of its name (schema version
5), so that a name which looks like a registered one is found with one
indexed query (L{Accounts.confusable}) and refused when an account is made.
Accounts made before version 5 get theirs when the store opens
(L{fill_skeletons}).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from twisted.internet.defer import DeferredSemaphore
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from tchat.names import name_key, skeleton
from tchat.store.db import Database, UsesDatabase, operation
from tchat.store.txn import Txn
from tchat.store.errors import NameConfusable, NameRegistered, NoSuchAccount, WeakPassword

log = Logger()

PASSWORD_MIN = 8
# Long enough for any passphrase; bounded so nobody makes us hash megabytes.
PASSWORD_MAX = 1024
# The schema version that gave accounts their skeleton column.
SKELETON_VERSION = 5
# How many old accounts get their skeleton per transaction at start-up.
SKELETON_BATCH = 500
# Any constant will do, the same in every tchat process: made accounts are
# compared by skeleton one at a time (PostgreSQL; SQLite's write lock already is).
_PG_CREATE_LOCK = 0x74636861742D61  # "tchat-a"


def check_password(name: str, password: str, policy: bool = True) -> None:
    """
    Raise L{WeakPassword} with a sentence if ``password`` is not good enough
    for the account ``name``: at least 8 characters, at most 1024, not the
    name itself (in any case), and not one character repeated. Without the
    ``policy`` (an operator's ``tchat-admin … --any-password``), only: not
    empty, at most 1024.
    """
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"a password may have at most {PASSWORD_MAX} characters")
    if not policy:
        if not password:
            raise WeakPassword("a password cannot be empty")
        return
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"a password needs at least {PASSWORD_MIN} characters")
    if name_key(password.strip()) == name_key(name):
        raise WeakPassword("a password must not be the user name")
    if len(set(password)) == 1:
        raise WeakPassword("a password must not be one character repeated")


@dataclass(frozen=True)
class Account:
    """What the store knows of a registered user (never the password hash)."""

    key: str
    name: str
    created: float
    last_login: float | None
    last_address: str | None
    last_seen: float | None


ACCOUNT_COLUMNS = "key, name, created, last_login, last_address, last_seen"


def _account(row: tuple[Any, ...]) -> Account:
    return Account(*row)


# -- work functions (run in a pool thread) ------------------------------------


def _get(txn: Txn, key: str) -> Account | None:
    row = txn.one(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (key,))
    return None if row is None else _account(row)


def _list(txn: Txn) -> list[Account]:
    return [_account(row) for row in txn.all(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY key")]


def _exists(txn: Txn, key: str) -> bool:
    return txn.one("SELECT 1 FROM accounts WHERE key = ?", (key,)) is not None


def _name_of(txn: Txn, key: str) -> str | None:
    return txn.value("SELECT name FROM accounts WHERE key = ?", (key,))


def _hash_of(txn: Txn, key: str) -> str | None:
    return txn.value("SELECT password_hash FROM accounts WHERE key = ?", (key,))


def _alike(txn: Txn, key: str, shape: str) -> Account | None:
    row = txn.one(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE skeleton = ? AND key <> ? ORDER BY key LIMIT 1", (shape, key)
    )
    return None if row is None else _account(row)


def _refusal(txn: Txn, key: str, name: str) -> NameRegistered | NameConfusable | None:
    """Why ``name`` cannot be registered now, if it cannot."""
    if _exists(txn, key):
        return NameRegistered(name)
    alike = _alike(txn, key, skeleton(name))
    return None if alike is None else NameConfusable(name, alike.name)


def _insert(txn: Txn, key: str, name: str, password_hash: str, created: float) -> NameRegistered | NameConfusable | None:
    if txn.engine == "postgresql":
        # Two names that look alike, registered at once, must not both get in.
        txn.execute("SELECT pg_advisory_xact_lock(?)", (_PG_CREATE_LOCK,))
    refusal = _refusal(txn, key, name)
    if refusal is not None:
        return refusal
    txn.execute(
        "INSERT INTO accounts (key, name, password_hash, created, skeleton) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (key) DO NOTHING",
        (key, name, password_hash, created, skeleton(name)),
    )
    return None if txn.rowcount == 1 else NameRegistered(name)


def _fill_skeletons(txn: Txn, limit: int) -> int:
    rows = txn.all("SELECT key, name FROM accounts WHERE skeleton IS NULL ORDER BY key LIMIT ?", (limit,))
    for key, name in rows:
        txn.execute("UPDATE accounts SET skeleton = ? WHERE key = ?", (skeleton(name), key))
    return len(rows)


async def fill_skeletons(db: Database, batch: int = SKELETON_BATCH) -> int:
    """
    Give every account that has none (made before schema version 5) the
    skeleton of its name, ``batch`` accounts per transaction; how many there
    were. The store calls it once it is open, before anyone uses it.
    """
    filled = 0
    while True:
        done = await db.run_write(_fill_skeletons, batch)
        filled += done
        if done < batch:
            break
    if filled:
        log.info("noted the skeletons of {n} account names made before schema version 5", n=filled)
    return filled


def _set_hash(txn: Txn, key: str, password_hash: str) -> bool:
    txn.execute("UPDATE accounts SET password_hash = ? WHERE key = ?", (password_hash, key))
    return txn.rowcount == 1


def _replace_hash(txn: Txn, key: str, old_hash: str, new_hash: str) -> bool:
    txn.execute(
        "UPDATE accounts SET password_hash = ? WHERE key = ? AND password_hash = ?",
        (new_hash, key, old_hash),
    )
    return txn.rowcount == 1


def _delete(txn: Txn, key: str) -> bool:
    # Messages waiting for the account go with it; its contact entries (both
    # ways) go by ON DELETE CASCADE. History stays: the others in those
    # conversations still have it.
    txn.execute("DELETE FROM offline WHERE recipient = ?", (key,))
    txn.execute("DELETE FROM accounts WHERE key = ?", (key,))
    return txn.rowcount == 1


def _record_login(txn: Txn, key: str, ts: float, address: str) -> bool:
    txn.execute("UPDATE accounts SET last_login = ?, last_address = ? WHERE key = ?", (ts, address, key))
    return txn.rowcount == 1


def _record_seen(txn: Txn, key: str, ts: float) -> bool:
    txn.execute("UPDATE accounts SET last_seen = ? WHERE key = ?", (ts, key))
    return txn.rowcount == 1


# -- the domain class ------------------------------------------------------------


class Accounts(UsesDatabase):
    """
    Registered accounts. Every method returns a Deferred.

    ``hasher`` makes new hashes and decides when an old one needs remaking;
    tests pass a cheap one. ``hash_concurrency`` caps the hashes and verifies
    running at once.
    """

    def __init__(
        self, db: Database, reactor: Any, hasher: PasswordHasher | None = None, hash_concurrency: int = 2
    ) -> None:
        self.db = db
        self.reactor = reactor
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self.hash_slots = DeferredSemaphore(hash_concurrency)

    # argon2 in threads, a few at a time.

    def _in_hash_thread(self, function: Any, *args: Any) -> Any:
        return self.hash_slots.run(deferToThreadPool, self.reactor, self.reactor.getThreadPool(), function, *args)

    async def _hash(self, password: str) -> str:
        return await self._in_hash_thread(self.hasher.hash, password)

    async def _matches(self, key: str, password_hash: str, password: str) -> bool:
        try:
            return await self._in_hash_thread(self.hasher.verify, password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            log.error("the stored password hash of {key} is unreadable; reset its password", key=key)
            return False

    # The calls.

    @operation
    async def create(self, name: str, password: str, policy: bool = True) -> Account:
        """
        Register ``name`` (display form) with ``password`` (checked against
        the password policy unless ``policy`` is false: L{check_password}).

        Raises L{WeakPassword} (before any hashing), L{NameRegistered}, or
        L{NameConfusable} if the name looks like another registered one (one
        L{tchat.names.skeleton}). The name's characters are not checked here
        (the hub and tchat-admin use L{tchat.names.check_name}).
        """
        check_password(name, password, policy)
        key = name_key(name)
        # A cheap look first, so a refused name costs no hashing; the insert
        # looks again, in the transaction that writes.
        refusal = await self.db.run(_refusal, key, name)
        if refusal is not None:
            raise refusal
        password_hash = await self._hash(password)
        created = self.reactor.seconds()
        refusal = await self.db.run_write(_insert, key, name, password_hash, created)
        if refusal is not None:
            raise refusal
        log.info("registered the account {name}", name=name)
        return Account(key, name, created, None, None, None)

    @operation
    async def verify(self, key: str, password: str) -> bool:
        """
        Whether ``password`` is the password of the account ``key``. False
        if there is no such account (at once: whether a name is registered
        is no secret in tchat, the hub tells it as ``password_required``).
        On success, re-hash with the current parameters if they differ from
        the stored hash's.
        """
        stored = await self.db.run(_hash_of, key)
        if stored is None:
            return False
        if not await self._matches(key, stored, password):
            return False
        if self.hasher.check_needs_rehash(stored):
            fresh = await self._hash(password)
            if await self.db.run_write(_replace_hash, key, stored, fresh):
                log.info("upgraded the password hash of {key} to the current parameters", key=key)
        return True

    @operation
    async def change_password(self, key: str, new_password: str, policy: bool = True) -> None:
        """
        Set a new password for ``key`` (the hub checks the old one with
        L{verify} first; tchat-admin's reset does not). Raises
        L{NoSuchAccount} or L{WeakPassword} (unless ``policy`` is false:
        L{check_password}).
        """
        name = await self.db.run(_name_of, key)
        if name is None:
            raise NoSuchAccount(key)
        check_password(name, new_password, policy)
        password_hash = await self._hash(new_password)
        if not await self.db.run_write(_set_hash, key, password_hash):
            raise NoSuchAccount(key)
        log.info("changed the password of {name}", name=name)

    @operation
    async def delete(self, key: str) -> None:
        """Delete the account, its waiting messages and its contact entries. Raises L{NoSuchAccount}."""
        if not await self.db.run_write(_delete, key):
            raise NoSuchAccount(key)
        log.info("deleted the account {key}", key=key)

    @operation
    async def get(self, key: str) -> Account | None:
        """The account ``key``, or None if the name is not registered."""
        return await self.db.run(_get, key)

    @operation
    async def confusable(self, name: str) -> Account | None:
        """
        A registered account whose name looks like ``name`` (one
        L{tchat.names.skeleton}) but is another name (another key), or None.
        """
        return await self.db.run(_alike, name_key(name), skeleton(name))

    @operation
    async def list(self) -> builtins.list[Account]:
        """Every account, by key."""
        return await self.db.run(_list)

    @operation
    async def record_login(self, key: str, ts: float, address: str) -> bool:
        """Note a successful login. False (and nothing stored) if ``key`` is not registered."""
        return await self.db.run_write(_record_login, key, ts, address)

    @operation
    async def record_seen(self, key: str, ts: float) -> bool:
        """Note that ``key`` was online until ``ts``. False if ``key`` is not registered."""
        return await self.db.run_write(_record_seen, key, ts)
