"""
The database connection: URLs, the pool, placeholders, transactions, and what
happens when the database does not answer.

Flow of one store call::

    hub ──► Accounts.get(key)            (reactor thread; returns a Deferred)
              └─ Database.run(work, ...)  ─► Breaker: the database is down?  ─► fail at once
                                          ─► Pool thread (tchat.store.pool)
                                              BEGIN
                                              work(Txn, ...)   ← plain blocking SQL
                                              COMMIT (ROLLBACK if work raised)
          ◄── Deferred fires with work's result, back in the reactor thread,
              or fails with StoreUnavailable after ``timeout`` seconds

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
  writes are all inside real transactions. Its busy timeout (how long a
  write waits for another program's lock) is a little under the store
  timeout.
- **PostgreSQL** (psycopg 3): a small pool; psycopg opens a transaction on the
  first statement, the pool commits or rolls back. A broken connection is
  dropped and replaced on the next call. Each connection has a server-side
  ``statement_timeout`` and ``idle_in_transaction_session_timeout`` equal to
  the store timeout, and libpq's ``connect_timeout``, TCP keepalives and
  ``tcp_user_timeout``, so a frozen network ends in an error rather than a
  pool thread waiting for ever.

**Timeouts.** Every L{Database.run} / L{Database.run_write} fails with
L{StoreUnavailable} ("the database did not answer within 10 s") if it has not
finished within ``timeout`` seconds; driver errors that mean the database
cannot be used now become L{StoreUnavailable} too (L{tchat.store.outage}).
A call given up on before a pool thread reached it is never carried out; one
already running when it was given up on runs to its end, and its result is
dropped (so a write that timed out may have been written).

**The breaker** (L{tchat.store.breaker}): after a call fails with
L{StoreUnavailable}, calls fail at once for ``retry_after`` seconds, then one
goes through as a probe.

L{Database.guard} is how the domain classes make their public calls: it
refuses calls once L{Database.close} has begun, and counts the calls in
flight so that closing waits for them (a message being written when the
server stops is written), for at most ``timeout`` seconds.

Beside this module: L{tchat.store.url} (parsing ``--db``),
L{tchat.store.txn} (L{Txn} and the placeholders), L{tchat.store.connect}
(each engine's pool and connection settings), L{tchat.store.pool} (the
threads), L{tchat.store.breaker}, L{tchat.store.outage} (which errors mean
"unavailable").
"""

from __future__ import annotations

import functools
import time
from typing import Any, Awaitable, Callable, Concatenate, ParamSpec, TypeVar

from twisted.internet.defer import CancelledError, Deferred, TimeoutError, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from tchat.store.breaker import Breaker
from tchat.store.connect import DEFAULT_TIMEOUT, make_pool, probe_write
from tchat.store.errors import StoreClosed, StoreUnavailable
from tchat.store.outage import seconds, timed_out
from tchat.store.pool import Call, Pool
from tchat.store.txn import Txn
from tchat.store.url import MEMORY, DatabaseURL, Engine, parse_url

log = Logger()

DEFAULT_RETRY_AFTER = 2.0
# Upgrades at start-up may rebuild an index over a big table: they get a
# longer bound than a chat call.
UPGRADE_TIMEOUT = 600.0

T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S", bound="UsesDatabase")


class Database:
    """
    The pool, plus transactions with the right BEGIN, timeouts, the breaker,
    and orderly, bounded closing.

    Create with L{Database.open}; every store domain class holds one.
    ``clock`` (default: the reactor) times the calls and the breaker.
    """

    def __init__(
        self,
        pool: Pool,
        url: DatabaseURL,
        clock: IReactorTime,
        timeout: float = DEFAULT_TIMEOUT,
        retry_after: float = DEFAULT_RETRY_AFTER,
    ) -> None:
        _check_seconds(timeout=timeout)
        self._pool = pool
        self.url = url
        self.engine: Engine = url.engine
        self.clock = clock
        self.timeout = timeout
        self.breaker = Breaker(clock, retry_after, f"the database {url.shown}")
        self._calls: dict[Call, Deferred[Any]] = {}
        self._in_flight = 0
        self._closing = False
        self._closed = False
        self._drained: list[Deferred[None]] = []

    @classmethod
    def open(
        cls,
        url: DatabaseURL | str,
        reactor: Any,
        pool_size: int = 4,
        timeout: float = DEFAULT_TIMEOUT,
        retry_after: float = DEFAULT_RETRY_AFTER,
        clock: IReactorTime | None = None,
    ) -> "Database":
        if isinstance(url, str):
            url = parse_url(url)
        # Checked before the pool exists, so a bad number leaves nothing open.
        _check_seconds(timeout=timeout)
        if retry_after < 0:
            raise ValueError("retry_after is a number of seconds, 0 or more")
        return cls(make_pool(url, reactor, pool_size, timeout), url, clock or reactor, timeout, retry_after)

    @property
    def available(self) -> bool:
        """Whether the database is believed usable: False from a L{StoreUnavailable} until a call succeeds."""
        return self.breaker.available

    def run(self, work: Callable[Concatenate[Txn, P], T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """
        Run ``work(txn, *args)`` in one read transaction in a pool thread.

        Its result is the Deferred's result; if it raises, the transaction is
        rolled back and the Deferred fails with that exception, or with
        L{StoreUnavailable} if the driver's error means the database cannot
        be used now. It also fails with L{StoreUnavailable} after ``timeout``
        seconds without an answer, and at once while the breaker is open.
        """
        return self._run(False, work, args, kwargs, self.timeout)

    def run_write(self, work: Callable[Concatenate[Txn, P], T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Like L{run}, for a transaction that writes (SQLite takes the write lock at BEGIN)."""
        return self._run(True, work, args, kwargs, self.timeout)

    def run_upgrade(self, work: Callable[Concatenate[Txn, P], T], *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        """Like L{run_write}, waiting up to L{UPGRADE_TIMEOUT} (for schema upgrades at start-up)."""
        return self._run(True, work, args, kwargs, max(self.timeout, UPGRADE_TIMEOUT))

    def check_writable(self) -> Deferred[None]:
        """
        Fail with L{StoreUnavailable} if the database cannot be written (a
        read-only SQLite file or folder), rather than at the first message.
        """
        if self.engine == "sqlite" and self.url.target != MEMORY:
            return self.run_write(probe_write)
        # PostgreSQL: the schema upgrade's first statement already writes.
        return succeed(None)

    def _run(
        self, write: bool, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float
    ) -> Deferred[T]:
        if self._closed:
            return fail(StoreClosed())
        refusal = self.breaker.refusal()
        if refusal is not None:
            return fail(refusal)
        call = Call()
        d = self._pool.submit(call, self._interaction, write, work, args, kwargs)
        self._calls[call] = d
        d.addTimeout(timeout, self.clock, onTimeoutCancel=_timed_out)
        d.addBoth(self._settled, call)
        return d

    def _settled(self, result: T | Failure, call: Call) -> T | Failure:
        # From here on a pool thread that has not started the call skips it.
        call.given_up = True
        del self._calls[call]
        if isinstance(result, Failure) and result.check(CancelledError):
            result = Failure(StoreUnavailable("the store was closed before the database answered"))
        self.breaker.record(result)
        return result

    def _interaction(
        self, cursor: Any, write: bool, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> T:
        txn = Txn(cursor, self.engine)
        if self.engine == "sqlite":
            # IMMEDIATE takes the write lock now, so a write transaction never
            # fails half-way with SQLITE_BUSY when another process (tchat-admin)
            # writes too; it waits up to the busy timeout instead.
            txn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        return work(txn, *args, **kwargs)

    # -- calls in flight, and closing ----------------------------------------

    # Told how long each public call took (its name, seconds), for metrics.
    observe: Callable[[str, float], None] | None = None

    def guard(self, start: Callable[[], Deferred[T]], name: str = "call") -> Deferred[T]:
        """
        Start a public store call, unless closing has begun, and count it
        until it finishes so that L{close} waits for it.
        """
        if self._closing:
            return fail(StoreClosed())
        self._in_flight += 1
        began = time.perf_counter()
        try:
            d = start()
        except BaseException:
            self._finished()
            raise
        # One callback per call (it runs once per message sent).
        d.addBoth(self._call_finished, name, began)
        return d

    def guard_then(
        self, start: Callable[[Callable[[Failure | None], None]], None], done: Callable[[Failure | None], None], name: str,
    ) -> None:
        """
        L{guard} for a call that reports its outcome (None, or the Failure)
        to a callable instead of through a Deferred: ``start(finished)``
        begins it, and ``done`` is told the outcome before it is counted as
        finished. Refused with L{StoreClosed} once closing has begun.
        """
        if self._closing:
            done(Failure(StoreClosed()))
            return
        self._in_flight += 1
        began = time.perf_counter()

        def finished(outcome: Failure | None) -> None:
            # Told first: closing, waiting for the last call, goes on only
            # once its caller knows how it ended.
            try:
                done(outcome)
            finally:
                self._call_finished(None, name, began)

        try:
            start(finished)
        except BaseException:
            self._finished()
            raise

    def _call_finished(self, result: T, name: str, began: float) -> T:
        self._finished()
        if self.observe is not None:
            self.observe(name, time.perf_counter() - began)
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
        Refuse new calls, wait for the calls in flight for at most
        ``timeout`` seconds, then close the pool. Calls the database has not
        answered by then fail with L{StoreUnavailable}; threads stuck in
        them are not waited for (they are daemon threads). Closing twice is
        harmless.
        """
        self._closing = True
        if self._in_flight:
            d: Deferred[None] = Deferred()
            self._drained.append(d)
            d.addTimeout(self.timeout, self.clock)
            try:
                await d
            except TimeoutError:
                pass  # said below, with the count
        if self._closed:
            return
        self._closed = True
        abandoned = self._pool.unfinished
        for waiting in list(self._calls.values()):
            waiting.cancel()
        self._pool.close()
        if abandoned:
            log.warn(
                "closed the database {url} without waiting for {count} call(s) it had not answered"
                " within {timeout}; an unfinished write is rolled back (PostgreSQL when the connection"
                " drops, SQLite at the next open)",
                url=self.url.shown, count=abandoned, timeout=seconds(self.timeout),
            )
        else:
            log.info("closed the database {url}", url=self.url.shown)


def _timed_out(result: object, timeout: float) -> Failure:
    return Failure(timed_out(timeout))


def _check_seconds(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"{name} is a number of seconds, more than 0")


class UsesDatabase:
    """A domain class of the store: it has a L{Database} as ``db``."""

    db: Database


def operation(method: Callable[Concatenate[S, P], Awaitable[T]]) -> Callable[Concatenate[S, P], Deferred[T]]:
    """
    Make an ``async def`` method of a store domain class a public call: it
    returns a Deferred, is refused once closing has begun, and closing waits
    for it.
    """

    name = f"{method.__qualname__.split('.')[0].lower()}.{method.__name__}"

    @functools.wraps(method)
    def call(self: S, *args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        return self.db.guard(lambda: Deferred.fromCoroutine(method(self, *args, **kwargs)), name)  # type: ignore[arg-type]

    return call
