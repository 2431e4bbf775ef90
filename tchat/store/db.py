"""
The database connection: URLs, the adbapi pool, placeholders and transactions.

Flow of one store call::

    hub ──► Accounts.get(key)            (reactor thread; returns a Deferred)
              └─ Database.run(work, ...)  ─► adbapi ConnectionPool thread
                                              BEGIN
                                              work(Txn, ...)   ← plain blocking SQL
                                              COMMIT (ROLLBACK if work raised)
          ◄── Deferred fires with work's result, back in the reactor thread

So the reactor never waits on the disk: every SQL statement runs in the pool's
threads. Queries are written once, with ``?`` placeholders, and L{Txn} turns
them into psycopg's ``%s`` (escaping any literal ``%``) the first time each is
used.

Engines:

- **SQLite** (stdlib ``sqlite3``): ONE connection (``cp_min=cp_max=1``), so
  there is a single writer and no lock contention inside the process; WAL so
  that another process (``tchat-admin``) can read while the server writes;
  ``synchronous=NORMAL``, which in WAL mode makes a transaction durable against
  a crash of the process (``kill -9``) as soon as COMMIT returns, though not
  against a crash of the machine (``?synchronous=full`` gives that); foreign
  keys on. The connection runs in autocommit mode and L{Database.run} issues
  ``BEGIN`` (``BEGIN IMMEDIATE`` for writes) itself, so that DDL, reads and
  writes are all inside real transactions.
- **PostgreSQL** (psycopg 3): a small pool; psycopg opens a transaction on the
  first statement, adbapi commits or rolls back. Connections that die (server
  restart) are replaced on the next call.

L{Database.guard} is how the domain classes make their public calls: it
refuses calls once L{Database.close} has begun, and counts the calls in
flight so that closing waits for them (a message being written when the
server stops is written).
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Concatenate, Literal, ParamSpec, Sequence, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger

from tchat.store.errors import StoreClosed

log = Logger()

Engine = Literal["sqlite", "postgresql"]

DEFAULT_SQLITE_PATH = "tchat.db"
MEMORY = ":memory:"
# RETURNING (3.35) is used for atomic take and for group commit.
SQLITE_MINIMUM = (3, 35, 0)
_SYNCHRONOUS = ("normal", "full")

T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S", bound="UsesDatabase")

URL_HELP = (
    "use sqlite:PATH (default sqlite:tchat.db), memory,"
    " or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"
)


@dataclass(frozen=True)
class DatabaseURL:
    """
    A parsed ``--db`` URL.

    ``target`` is the SQLite path (or ``:memory:``) or the libpq conninfo URI.
    ``shown`` is the URL with any password replaced by ``***``: the only form
    that may appear in a log line or an error message.
    """

    engine: Engine
    target: str = field(repr=False)
    shown: str
    synchronous: str = "normal"

    def __str__(self) -> str:
        return self.shown


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_url(url: str) -> DatabaseURL:
    """
    Parse a database URL, or raise C{ValueError} with a sentence saying why.

    - ``sqlite:PATH``: a file (relative to the working directory; default
      ``tchat.db``); ``sqlite:///abs/path`` also works. ``?synchronous=full``
      makes commits survive power loss too, at a cost per commit.
    - ``memory``: a throwaway SQLite database that lives as long as the store.
    - ``postgresql://…`` or ``postgres://…``: a libpq URI, passed to psycopg.

    Safe to call from an options parser: it opens nothing.
    """
    url = url.strip()
    if url in ("memory", "sqlite::memory:"):
        return DatabaseURL("sqlite", MEMORY, "memory")
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:"):]
        synchronous = "normal"
        if "?" in rest:
            rest, query = rest.split("?", 1)
            options = parse_qs(query, keep_blank_values=True)
            unknown = set(options) - {"synchronous"}
            if unknown:
                raise ValueError(
                    f"unknown option {sorted(unknown)[0]!r} in database URL {url!r}:"
                    " the only SQLite option is synchronous=normal|full"
                )
            synchronous = options["synchronous"][-1].lower()
            if synchronous not in _SYNCHRONOUS:
                raise ValueError(f"synchronous must be normal or full in database URL {url!r}")
        if rest.startswith("//"):
            rest = rest[2:]
        path = rest or DEFAULT_SQLITE_PATH
        return DatabaseURL("sqlite", path, f"sqlite:{path}", synchronous)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            parts = urlsplit(url)
            parts.port  # raises ValueError on a bad port
        except ValueError:
            raise ValueError(f"bad PostgreSQL URL {_redact_loose(url)!r}; {URL_HELP}") from None
        return DatabaseURL("postgresql", url, _redact(url))
    raise ValueError(f"unknown database URL {_redact_loose(url)!r}; {URL_HELP}")


def _redact_loose(url: str) -> str:
    """Hide what may be a password in a URL too broken to parse."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


# -- placeholders ----------------------------------------------------------


@functools.lru_cache(maxsize=2048)
def to_format_style(sql: str) -> str:
    """
    Translate a ``?``-placeholder query into psycopg's ``%s`` style.

    A literal ``%`` (``LIKE 'a%'``) becomes ``%%``. Queries must not hold ``?``
    inside string literals; none of tchat's do. Cached, so each distinct query
    is translated once.
    """
    return sql.replace("%", "%%").replace("?", "%s")


def placeholders(count: int) -> str:
    """``?, ?, ?`` for an ``IN (…)`` list or a VALUES row of ``count`` items."""
    return ", ".join("?" * count)


class Txn:
    """
    One transaction, as the work functions see it (in a pool thread).

    A thin layer over the adbapi cursor that takes ``?`` queries on both
    engines. Work functions must not commit or roll back: L{Database.run}
    does, by whether they return or raise.
    """

    def __init__(self, cursor: Any, engine: Engine) -> None:
        self._cursor = cursor
        self.engine = engine
        self._translate: Callable[[str], str] = to_format_style if engine == "postgresql" else _same

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        # Params are always passed, even empty, so psycopg always reads %% as %.
        self._cursor.execute(self._translate(sql), tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.execute(sql, params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(sql, params)
        return [tuple(row) for row in self._cursor.fetchall()]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


def _same(sql: str) -> str:
    return sql


# -- the pool --------------------------------------------------------------


def _prepare_sqlite(synchronous: str, connection: sqlite3.Connection) -> None:
    # Run once per connection, outside any transaction (PRAGMAs that change
    # the journal or foreign keys are ignored inside one).
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
    connection.execute("PRAGMA foreign_keys=ON")


def make_pool(url: DatabaseURL, reactor: Any, pool_size: int = 4, busy_timeout: float = 10.0) -> adbapi.ConnectionPool:
    """
    An adbapi pool for ``url``. It connects lazily, in its own thread, once the
    reactor runs.
    """
    if url.engine == "sqlite":
        if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            raise RuntimeError(
                f"tchat needs SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or newer;"
                f" this Python has {sqlite3.sqlite_version}"
            )
        return adbapi.ConnectionPool(
            "sqlite3",
            url.target,
            # adbapi opens the connection in its pool thread but closes it
            # from the reactor thread (ConnectionPool.close), which sqlite3's
            # same-thread check would refuse. It is only ever used by one
            # thread at a time.
            check_same_thread=False,
            isolation_level=None,
            timeout=busy_timeout,
            cp_min=1,
            cp_max=1,
            cp_noisy=False,
            cp_openfun=functools.partial(_prepare_sqlite, url.synchronous),
            cp_reactor=reactor,
        )
    return adbapi.ConnectionPool(
        "psycopg",
        url.target,
        connect_timeout=10,
        cp_min=1,
        cp_max=pool_size,
        cp_noisy=False,
        cp_reconnect=True,
        cp_good_sql="SELECT 1",
        cp_reactor=reactor,
    )


class Database:
    """
    The pool, plus transactions with the right BEGIN, plus orderly closing.

    Create with L{Database.open}; every store domain class holds one.
    """

    def __init__(self, pool: adbapi.ConnectionPool, url: DatabaseURL) -> None:
        self._pool = pool
        self.url = url
        self.engine: Engine = url.engine
        self._in_flight = 0
        self._closing = False
        self._closed = False
        self._drained: list[Deferred[None]] = []

    @classmethod
    def open(cls, url: DatabaseURL | str, reactor: Any, pool_size: int = 4) -> "Database":
        if isinstance(url, str):
            url = parse_url(url)
        return cls(make_pool(url, reactor, pool_size), url)

    def run(self, work: Callable[Concatenate[Txn, P], T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """
        Run ``work(txn, *args)`` in one read transaction in a pool thread.

        Its result is the Deferred's result; if it raises, the transaction is
        rolled back and the Deferred fails with that exception.
        """
        return self._run(False, work, *args, **kwargs)

    def run_write(self, work: Callable[Concatenate[Txn, P], T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Like L{run}, for a transaction that writes (SQLite takes the write lock at BEGIN)."""
        return self._run(True, work, *args, **kwargs)

    def _run(self, write: bool, work: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        if self._closed:
            return fail(StoreClosed())
        return self._pool.runInteraction(self._interaction, write, work, args, kwargs)

    def _interaction(
        self, transaction: adbapi.Transaction, write: bool, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        txn = Txn(transaction, self.engine)
        if self.engine == "sqlite":
            # IMMEDIATE takes the write lock now, so a write transaction never
            # fails half-way with SQLITE_BUSY when another process (tchat-admin)
            # writes too; it waits up to the busy timeout instead.
            txn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        return work(txn, *args, **kwargs)

    # -- calls in flight, and closing ----------------------------------------

    def guard(self, start: Callable[[], Deferred[T]]) -> Deferred[T]:
        """
        Start a public store call, unless closing has begun, and count it
        until it finishes so that L{close} waits for it.
        """
        if self._closing:
            return fail(StoreClosed())
        self._in_flight += 1
        try:
            d = start()
        except BaseException:
            self._finished()
            raise
        d.addBoth(self._finished_passing)
        return d

    def _finished_passing(self, result: T) -> T:
        self._finished()
        return result

    def _finished(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._closing:
            waiting, self._drained = self._drained, []
            for d in waiting:
                d.callback(None)

    @property
    def closing(self) -> bool:
        return self._closing

    async def close(self) -> None:
        """
        Refuse new calls, wait for the calls in flight, then close the pool.
        Closing twice is harmless.
        """
        self._closing = True
        if self._in_flight:
            d: Deferred[None] = Deferred()
            self._drained.append(d)
            await d
        if not self._closed:
            self._closed = True
            self._pool.close()
            log.info("closed the database {url}", url=self.url.shown)


class UsesDatabase:
    """A domain class of the store: it has a L{Database} as ``db``."""

    db: Database


def operation(method: Callable[Concatenate[S, P], Awaitable[T]]) -> Callable[Concatenate[S, P], Deferred[T]]:
    """
    Make an ``async def`` method of a store domain class a public call: it
    returns a Deferred, is refused once closing has begun, and closing waits
    for it.
    """

    @functools.wraps(method)
    def call(self: S, *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        return self.db.guard(lambda: Deferred.fromCoroutine(method(self, *args, **kwargs)))  # type: ignore[arg-type]

    return call
