"""
The store as one object: open it from a URL, use its four parts, close it.

::

    store = await open_store("sqlite:tchat.db", reactor)   # connects, upgrades the schema
    await store.accounts.verify(key, password)
    await store.history.add(message)
    await store.offline.peek(key, 50)
    await store.contacts.list(key)
    store.available                                        # False while the database is down
    await store.close()                                    # waits for calls in flight, 10 s at most

L{open_store} parses the URL at once (a bad one raises C{ValueError} before
anything is opened, so an options parser can call L{parse_url} or
L{open_store} and show the message), then connects and applies any missing
schema upgrades in the pool's thread; its Deferred fires with the ready
L{Store}, or fails (unreachable server, a read-only SQLite file, schema newer
than this code) after closing what it opened.

Every call of the store fails with L{tchat.store.errors.StoreUnavailable} if
the database does not answer within ``timeout`` seconds or cannot be used
(see L{tchat.store.db}); for ``retry_after`` seconds after such a failure,
calls fail at once, without trying (see L{tchat.store.breaker}).
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from tchat.store.accounts import SKELETON_VERSION, Accounts, fill_skeletons
from tchat.store.contacts import Contacts
from tchat.store.connect import DEFAULT_TIMEOUT
from tchat.store.db import DEFAULT_RETRY_AFTER, Database
from tchat.store.url import DatabaseURL, Engine, parse_url
from tchat.store.history import History
from tchat.store.memberships import Memberships
from tchat.store.migrations import current_version, upgrade
from tchat.store.offline import Offline
from tchat.store.rooms import KeptRooms

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
        self.rooms = KeptRooms(db)

    @property
    def engine(self) -> Engine:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.db.engine

    @property
    def url(self) -> DatabaseURL:
        """The database URL; ``str(store.url)`` is safe to log (no password)."""
        return self.db.url

    @property
    def available(self) -> bool:
        """
        Whether the database is believed usable: True until a call fails with
        L{tchat.store.errors.StoreUnavailable}, then False until a call gets
        an answer again (for a health check).
        """
        return self.db.available

    def schema_version(self) -> Deferred[int]:
        """The schema version of the database."""
        return self.db.guard(lambda: Deferred.fromCoroutine(current_version(self.db)))

    def close(self) -> Deferred[None]:
        """
        Refuse new calls (they fail with L{tchat.store.errors.StoreClosed}),
        let the calls in flight finish (queued messages get written) for at
        most the store's timeout, then close the pool without waiting for
        calls the database has not answered (they fail with
        L{tchat.store.errors.StoreUnavailable}). Always fires, within about
        the timeout. Safe to call twice.
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
    timeout: float = DEFAULT_TIMEOUT,
    retry_after: float = DEFAULT_RETRY_AFTER,
    clock: IReactorTime | None = None,
    schema_version: int | None = None,
) -> Deferred[Store]:
    """
    Open the database at ``url`` (see L{parse_url}) and bring its schema up
    to date.

    Raises C{ValueError} at once for a bad URL or timeout. The Deferred fires
    with a L{Store}, or fails with L{tchat.store.errors.StoreUnavailable} if
    the database cannot be reached or written. ``hasher`` (default argon2-cffi's RFC 9106 low-memory profile)
    makes new password hashes; ``hash_concurrency`` caps hashes at once;
    ``group_commit`` batches concurrent history writes; ``pool_size`` is the
    PostgreSQL pool's most connections (SQLite always has one); ``timeout``
    bounds every call, in seconds; ``retry_after`` is how long calls fail at
    once after one found the database unavailable; ``clock`` (default
    ``reactor``) times both. ``schema_version`` stops the upgrades at that version (for tests of the
    upgrade path only).
    """
    parsed = parse_url(url)
    db = Database.open(parsed, reactor, pool_size, timeout, retry_after, clock)
    return Deferred.fromCoroutine(_open(db, reactor, hasher, hash_concurrency, group_commit, schema_version))


async def _open(
    db: Database,
    reactor: Any,
    hasher: PasswordHasher | None,
    hash_concurrency: int,
    group_commit: bool,
    schema_version: int | None,
) -> Store:
    try:
        await db.check_writable()
        version = await upgrade(db, schema_version)
        if version >= SKELETON_VERSION:
            await fill_skeletons(db)
    except BaseException:
        await db.close()
        raise
    log.info("opened the database {url} (schema version {version})", url=db.url.shown, version=version)
    return Store(db, reactor, hasher, hash_concurrency, group_commit)
