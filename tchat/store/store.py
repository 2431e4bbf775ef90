"""
The store as one object: open it from a URL, use its four parts, close it.

::

    store = await open_store("sqlite:tchat.db", reactor)   # connects, upgrades the schema
    await store.accounts.verify(key, password)
    await store.history.add(message)
    await store.offline.take(key)
    await store.contacts.list(key)
    await store.close()                                    # waits for calls in flight

L{open_store} parses the URL at once (a bad one raises C{ValueError} before
anything is opened, so an options parser can call L{parse_url} or
L{open_store} and show the message), then connects and applies any missing
schema upgrades in the pool's thread; its Deferred fires with the ready
L{Store}, or fails (unreachable server, schema newer than this code) after
closing what it opened.
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from tchat.store.accounts import Accounts
from tchat.store.contacts import Contacts
from tchat.store.db import Database, DatabaseURL, Engine, parse_url
from tchat.store.history import History
from tchat.store.memberships import Memberships
from tchat.store.migrations import current_version, upgrade
from tchat.store.offline import Offline

log = Logger()


class Store:
    """
    Accounts, history, offline messages and contacts over one database.

    Every call of every part returns a Deferred (usable with ``await``).
    Build it with L{open_store}; the constructor does not touch the schema.
    """

    def __init__(
        self,
        db: Database,
        reactor: Any,
        hasher: PasswordHasher | None = None,
        hash_concurrency: int = 2,
        group_commit: bool = True,
    ) -> None:
        self.db = db
        self.accounts = Accounts(db, reactor, hasher, hash_concurrency)
        self.history = History(db, group_commit)
        self.offline = Offline(db)
        self.contacts = Contacts(db)
        self.memberships = Memberships(db)

    @property
    def engine(self) -> Engine:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.db.engine

    @property
    def url(self) -> DatabaseURL:
        """The database URL; ``str(store.url)`` is safe to log (no password)."""
        return self.db.url

    def schema_version(self) -> Deferred[int]:
        """The schema version of the database."""
        return self.db.guard(lambda: Deferred.fromCoroutine(current_version(self.db)))

    def close(self) -> Deferred[None]:
        """
        Refuse new calls (they fail with L{tchat.store.errors.StoreClosed}),
        let the calls in flight finish (queued messages get written), then
        close the pool. Safe to call twice.
        """
        return Deferred.fromCoroutine(self.db.close())


def open_store(
    url: str,
    reactor: Any,
    *,
    hasher: PasswordHasher | None = None,
    hash_concurrency: int = 2,
    group_commit: bool = True,
    pool_size: int = 4,
    schema_version: int | None = None,
) -> Deferred[Store]:
    """
    Open the database at ``url`` (see L{parse_url}) and bring its schema up
    to date.

    Raises C{ValueError} at once for a bad URL. The Deferred fires with a
    L{Store}. ``hasher`` (default argon2-cffi's RFC 9106 low-memory profile)
    makes new password hashes; ``hash_concurrency`` caps hashes at once;
    ``group_commit`` batches concurrent history writes; ``pool_size`` is the
    PostgreSQL pool's most connections (SQLite always has one).
    ``schema_version`` stops the upgrades at that version (for tests of the
    upgrade path only).
    """
    parsed = parse_url(url)
    return Deferred.fromCoroutine(
        _open(parsed, reactor, hasher, hash_concurrency, group_commit, pool_size, schema_version)
    )


async def _open(
    url: DatabaseURL,
    reactor: Any,
    hasher: PasswordHasher | None,
    hash_concurrency: int,
    group_commit: bool,
    pool_size: int,
    schema_version: int | None,
) -> Store:
    db = Database.open(url, reactor, pool_size)
    try:
        version = await upgrade(db, schema_version)
    except BaseException:
        await db.close()
        raise
    log.info("opened the database {url} (schema version {version})", url=url.shown, version=version)
    return Store(db, reactor, hasher, hash_concurrency, group_commit)
